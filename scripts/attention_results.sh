#!/usr/bin/env bash
# scripts/attention_results.sh [CHECKPOINT] -- calibrate and report the attention probability
# (issue 17, docs/HRI.md). Renders the two synthetic attention sets when missing (2000 wild faces
# each, seeds 9317 = calibration, 9318 = report; ~1 min each on one core), runs the checkpoint on
# them and on the held-out sets of scripts/results.sh (selfie_test, robot_test, wild_calib,
# wild_val, BIWI val sequences, aflw_crops val against the pseudo-labels), fits cov_scale on
# wild_attn_calib ONLY and writes docs/results/attention*.json and the reliability diagram.
# Then set head_pose_ros.attention.DEFAULT_COV_SCALE to the printed cov_scale (a test checks
# that they agree). Needs `source env.sh`.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
W="${1:-weights/head_pose_trg.safetensors}"
SHARED="${HEAD_POSE_SHARED_DATA:-$REPO/../shared/data}"
DATA="$REPO/outputs/results_data"
ADATA="$REPO/outputs/attention_data"
OUT="$REPO/outputs/attention"
PSEUDO="$REPO/outputs/train_data/aflw_pseudo.npz"
for s in "wild 9317 wild_attn_calib" "wild 9318 wild_attn_test"; do
  set -- $s
  [ -f "$ADATA/$3/labels.npz" ] || python -m head_pose_ros.data.cache --out "$ADATA/$3" \
    --preset "$1" --count 2000 --seed "$2" --crop-size 176 --crop-scale 2.0 --workers 1
done
sets=(--set "synthetic:$ADATA/wild_attn_calib" --set "synthetic:$ADATA/wild_attn_test")
for d in selfie_test robot_test wild_calib wild_val; do
  [ -f "$DATA/$d/labels.npz" ] && sets+=(--set "synthetic:$DATA/$d")
done
[ -d "$SHARED/real/biwi_crops" ] && sets+=(--set "biwi_crops:$SHARED/real/biwi_crops")
[ -f "$PSEUDO" ] && sets+=(--set "aflw_crops:$SHARED/real/aflw_crops:$PSEUDO")
rm -rf "$OUT"
python -m head_pose_ros.train.attention_calib dump --weights "$W" --out "$OUT" "${sets[@]}"
python -m head_pose_ros.train.attention_calib report --dir "$OUT" --calib wild_attn_calib \
  --json docs/results/attention.json --plot docs/results/attention_reliability.png
# other cones with the SAME constant (what the node does when attention_cone_deg is changed)
S="$(python -c 'import json; print(json.load(open("docs/results/attention.json"))["cov_scale"])')"
for c in 10 20 30; do
  python -m head_pose_ros.train.attention_calib report --dir "$OUT" --calib wild_attn_calib \
    --cone "$c" --cov-scale "$S" --json "docs/results/attention_cone$c.json"
done
