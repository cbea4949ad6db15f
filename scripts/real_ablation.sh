#!/usr/bin/env bash
# scripts/real_ablation.sh [STEPS] — the "synthetic only vs synthetic + real" ablation of
# docs/RESULTS.md (issue 12): both arms fine-tune the same starting model (INIT, default the
# stage-4 model) with config/train/cpu_real_mix.yaml for STEPS steps (default 1000, constant
# learning rate 1e-4 over that range), differing only in the real source's sampling weight
# (0 vs 0.5); then both are evaluated on AFLW2000 (protocol and YuNet boxes), on the held-out
# real crops of aflw_crops (val split, against their pseudo-labels) and on the held-out
# synthetic selfie_test / robot_test (rendered by scripts/results.sh).
# Writes docs/results/real_ablation/<synth_only|real_mix>.<set>.json. An arm whose
# runs/real_ablation/<arm>/model.safetensors exists is not retrained; ARMS="real_mix" runs one.
set -euo pipefail
# shellcheck source=scripts/env_preamble.sh
. "$(dirname "${BASH_SOURCE[0]}")/env_preamble.sh"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
SHARED="${HEAD_POSE_SHARED_DATA:-$REPO/../shared/data}"
RDATA="${HEAD_POSE_RESULTS_DATA:-$REPO/outputs/results_data}"
STEPS="${1:-1000}"
OUT="$REPO/docs/results/real_ablation"
mkdir -p "$OUT"
for arm in ${ARMS:-synth_only real_mix}; do
  run="runs/real_ablation/$arm"
  if [ ! -f "$run/model.safetensors" ]; then
    w=0.5; [ "$arm" = synth_only ] && w=0.0
    OUTDIR="$run" REAL_WEIGHT="$w" bash scripts/train_real_mix.sh "$STEPS"
  fi
  W="$run/model.safetensors"
  head-pose-eval --weights "$W" --data "$SHARED/real/aflw2000_subset64" --format aflw2000 \
    --json "$OUT/$arm.aflw2000.json"
  head-pose-eval --weights "$W" --data "$SHARED/real/aflw2000_subset64" --format aflw2000 \
    --boxes detector --detector "$SHARED/detector/face_detection_yunet_2023mar.onnx" \
    --json "$OUT/$arm.aflw2000_detector.json"
  head-pose-eval --weights "$W" --format aflw_crops --data "$SHARED/real/aflw_crops" \
    --labels "${HEAD_POSE_TRAIN_DATA:-$REPO/outputs/train_data}/aflw_pseudo.npz" \
    --json "$OUT/$arm.aflw_crops_val.json"
  for set in selfie_test robot_test; do
    [ -f "$RDATA/$set/labels.npz" ] || { echo "[real_ablation] $RDATA/$set missing: run scripts/results.sh first" >&2; continue; }
    head-pose-eval --weights "$W" --data "$RDATA/$set" --format synthetic --json "$OUT/$arm.$set.json"
  done
done
echo "[real_ablation] wrote $OUT"
