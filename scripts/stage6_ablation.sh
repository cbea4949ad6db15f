#!/usr/bin/env bash
# scripts/stage6_ablation.sh [STEPS] — same-steps ablations of stage 6 (issue 21): the full mix vs
# without the rotated real faces, without the NLL uncertainty head, and without BIWI; every arm
# is scripts/train_stage6.sh with one change, for STEPS (default 1000) steps of the same schedule,
# then evaluated on the held-out real crops (BIWI val sequences, aflw_crops val), the AFLW2000
# subset (protocol and YuNet boxes) and the synthetic test sets, into
# docs/results/stage6_ablation/<arm>.<set>.json. FULL_CKPT=<file> uses that checkpoint as the
# full arm instead of training it (the main stage-6 run's step-STEPS checkpoint is the same
# configuration: same config, seed and schedule up to that step). ARMS selects arms.
set -euo pipefail
# shellcheck source=scripts/env_preamble.sh
. "$(dirname "${BASH_SOURCE[0]}")/env_preamble.sh"
STEPS="${1:-1000}"
SHARED="${HEAD_POSE_SHARED_DATA:-$REPO/../shared/data}"
DATA="${HEAD_POSE_TRAIN_DATA:-$REPO/outputs/train_data}"
RES="${HEAD_POSE_RESULTS_DATA:-$REPO/outputs/results_data}"
OUT="$REPO/docs/results/stage6_ablation"
YUNET="$SHARED/detector/face_detection_yunet_2023mar.onnx"
mkdir -p "$OUT"
declare -A EXTRA_OF=([full]="" [no_rotated]="data.train.3.weight=0"
  [no_nll]="model.rotation_uncertainty=false" [no_biwi]="data.train.2.weight=0")
for arm in ${ARMS:-full no_rotated no_nll no_biwi}; do
  if [ "$arm" = full ] && [ -n "${FULL_CKPT:-}" ]; then
    W="$FULL_CKPT"
  else
    W="runs/abl_$arm/model.safetensors"  # a finished arm is not trained again
    [ -f "$W" ] || OUTDIR="runs/abl_$arm" EXTRA="${EXTRA_OF[$arm]}" \
      bash scripts/train_stage6.sh "$STEPS"
  fi
  head-pose-eval --weights "$W" --format biwi_crops --data "$SHARED/real/biwi_crops" \
    --json "$OUT/$arm.biwi_crops_val.json"
  head-pose-eval --weights "$W" --format aflw_crops --data "$SHARED/real/aflw_crops" \
    --labels "$DATA/aflw_pseudo.npz" --json "$OUT/$arm.aflw_crops_val.json"
  head-pose-eval --weights "$W" --format aflw2000 --data "$SHARED/real/aflw2000_subset64" \
    --json "$OUT/$arm.aflw2000.json"
  head-pose-eval --weights "$W" --format aflw2000 --data "$SHARED/real/aflw2000_subset64" \
    --boxes detector --detector "$YUNET" --json "$OUT/$arm.aflw2000_detector.json"
  for set in selfie_test robot_test; do
    head-pose-eval --weights "$W" --format synthetic --data "$RES/$set" --json "$OUT/$arm.$set.json"
  done
done
echo "[stage6_ablation] wrote $OUT"
