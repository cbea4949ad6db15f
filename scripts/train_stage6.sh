#!/usr/bin/env bash
# scripts/train_stage6.sh [STEPS] — stage 6 of the shipped CPU model (issue 21): turned heads and a
# per-face rotation uncertainty, config/train/cpu_stage6.yaml. Builds what it needs outside the
# repo (HEAD_POSE_TRAIN_DATA, default outputs/train_data):
#   1. 12000 synthetic wild crops (seed 106) and the synthetic validation set wild_val (seed 9100);
#   2. the pseudo-label file of real/aflw_crops (MediaPipe teacher in .venv-peers + the 1220 fit);
#   3. the rotated real faces (head_pose_ros.data.rotate_real, training split only);
# then trains from the stage-5 model (commit fa6c674; INIT overrides) in resumable stages: rerun
# the same command after an interruption, it resumes from $OUTDIR/last.safetensors. STEPS (default
# 0 = the whole schedule) stops early. OUTDIR and EXTRA (more key=value overrides) serve the
# ablation arms.
set -euo pipefail
# shellcheck source=scripts/env_preamble.sh
. "$(dirname "${BASH_SOURCE[0]}")/env_preamble.sh"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
SHARED="${HEAD_POSE_SHARED_DATA:-$REPO/../shared/data}"
DATA="${HEAD_POSE_TRAIN_DATA:-$REPO/outputs/train_data}"
VAL="${HEAD_POSE_RESULTS_DATA:-$REPO/outputs/results_data}/wild_val"
STEPS="${1:-0}"
mkdir -p "$DATA"
if [ -z "${INIT:-}" ]; then  # the stage-5 model as shipped (weights/ keeps one model)
  INIT="$REPO/outputs/stage5_head_pose_trg.safetensors"
  [ -f "$INIT" ] || { git -C "$REPO" show fa6c674:weights/head_pose_trg.safetensors > "$INIT.tmp" \
    && mv "$INIT.tmp" "$INIT"; }
fi
[ -f "$DATA/wild_train6/labels.npz" ] || python -m head_pose_ros.data.cache --out "$DATA/wild_train6" \
  --preset wild --count 12000 --seed 106 --crop-size 176 --crop-scale 2.0 --workers 2
[ -f "$VAL/labels.npz" ] || python -m head_pose_ros.data.cache --out "$VAL" --preset wild \
  --count 400 --seed 9100 --crop-size 176 --crop-scale 2.0 --workers 2
[ -f "$DATA/aflw_pseudo.npz" ] || python -m head_pose_ros.teacher.pseudolabel \
  --crops "$SHARED/real/aflw_crops" --out "$DATA/aflw_pseudo.npz" --json "$DATA/aflw_pseudo.json"
[ -f "$DATA/aflw_rotated/labels.npz" ] || python -m head_pose_ros.data.rotate_real \
  --crops "$SHARED/real/aflw_crops" --labels "$DATA/aflw_pseudo.npz" --out "$DATA/aflw_rotated"
OUTDIR="${OUTDIR:-runs/stage6}"
# shellcheck disable=SC2086
head-pose-train --config config/train/cpu_default.yaml --config config/train/cpu_stage6.yaml \
  data.train.0.root="$DATA/wild_train6" data.train.1.labels="$DATA/aflw_pseudo.npz" \
  data.train.3.root="$DATA/aflw_rotated" data.val.1.labels="$DATA/aflw_pseudo.npz" \
  data.val.2.root="$VAL" run.init_weights="$INIT" run.out_dir="$OUTDIR" run.max_steps="$STEPS" \
  ${EXTRA:-}
