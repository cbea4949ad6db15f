#!/usr/bin/env bash
# scripts/train_real_mix.sh [STEPS] — stage 5 of the shipped CPU model (issue 12): fine-tune the
# stage-4 model on synthetic + real (aflw_crops, teacher pseudo-labels), config/train/cpu_real_mix.yaml.
# Builds what it needs outside the repo (HEAD_POSE_TRAIN_DATA, default outputs/train_data):
#   1. 12000 synthetic wild crops (seed 105);
#   2. the pseudo-label file of real/aflw_crops (MediaPipe teacher in .venv-peers, made by
#      scripts/setup_env.sh, + the 1220 fit);
# then trains in resumable stages: rerun the same command after an interruption, it resumes from
# runs/cpu_real_mix/last.safetensors. STEPS (default 0 = the whole schedule) stops early;
# OUTDIR and REAL_WEIGHT (sampling weight of the real source, default 0.5) are for the ablation
# (scripts/real_ablation.sh).
set -euo pipefail
# shellcheck source=scripts/env_preamble.sh
. "$(dirname "${BASH_SOURCE[0]}")/env_preamble.sh"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
SHARED="${HEAD_POSE_SHARED_DATA:-$REPO/../shared/data}"
DATA="${HEAD_POSE_TRAIN_DATA:-$REPO/outputs/train_data}"
STEPS="${1:-0}"
mkdir -p "$DATA"
. scripts/stage4_init.sh
[ -f "$DATA/wild_train5/labels.npz" ] || python -m head_pose_ros.data.cache --out "$DATA/wild_train5" \
  --preset wild --count 12000 --seed 105 --crop-size 176 --crop-scale 2.0 --workers 2
[ -f "$DATA/aflw_pseudo.npz" ] || python -m head_pose_ros.teacher.pseudolabel \
  --crops "$SHARED/real/aflw_crops" --out "$DATA/aflw_pseudo.npz" --json "$DATA/aflw_pseudo.json"
OUTDIR="${OUTDIR:-runs/cpu_real_mix}"
head-pose-train --config config/train/cpu_default.yaml --config config/train/cpu_real_mix.yaml \
  data.train.0.root="$DATA/wild_train5" data.train.1.root="$SHARED/real/aflw_crops" \
  data.train.1.labels="$DATA/aflw_pseudo.npz" data.train.1.weight="${REAL_WEIGHT:-0.5}" \
  run.init_weights="$INIT" run.out_dir="$OUTDIR" run.max_steps="$STEPS"
