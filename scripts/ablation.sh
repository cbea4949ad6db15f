#!/usr/bin/env bash
# scripts/ablation.sh — the tiny CPU ablations of docs/ABLATIONS.md (about 50 min per seed on
# 2 cores): train each config of the table on 640 rendered `selfie` images (1200 steps) and
# evaluate on 160 held-out `selfie` and 160 `robot` images. Writes
# docs/results/ablation/<config>_s<seed>.<selfie_val|robot_val>.json, which
# scripts/results.sh turns into the ablation table of docs/RESULTS.md.
#   SEEDS="0 1" (default) · CONFIGS="selfie ablation_direct_T" to run a subset
#   HEAD_POSE_ABLATION_DATA=DIR  scratch directory for data and runs (default outputs/ablation)
set -euo pipefail
# shellcheck source=scripts/env_preamble.sh
. "$(dirname "${BASH_SOURCE[0]}")/env_preamble.sh"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

D="${HEAD_POSE_ABLATION_DATA:-$REPO/outputs/ablation}"
OUT="$REPO/docs/results/ablation"
SEEDS="${SEEDS:-0 1}"
CONFIGS="${CONFIGS:-selfie ablation_iter1 ablation_iter2 ablation_direct_T ablation_grid}"
mkdir -p "$D/runs" "$OUT"

render() {  # preset count seed name
  [ -f "$D/$4/labels.npz" ] && return 0
  python -m head_pose_ros.data.cache --preset "$1" --count "$2" --seed "$3" --out "$D/$4" \
    --crop-size 128 --workers 2
}
render selfie 640 1 selfie_train
render selfie 160 2 selfie_val
render robot 160 3 robot_val

for seed in $SEEDS; do
  for exp in $CONFIGS; do
    run="$D/runs/${exp}_s$seed"
    head-pose-train --config "config/train/$exp.yaml" --config config/train/tiny_cpu.yaml \
      "data.train.0.root=$D/selfie_train" "data.val.0.root=$D/selfie_val" \
      "data.val.1.root=$D/robot_val" optim.lr=1e-3 run.epochs=30 "run.seed=$seed" \
      "run.out_dir=$run"
    for set in selfie_val robot_val; do
      head-pose-eval --weights "$run/model.safetensors" --data "$D/$set" --format synthetic \
        --device cpu --json "$OUT/${exp}_s$seed.$set.json"
    done
  done
done
echo "[ablation] wrote $OUT; run scripts/results.sh to update docs/RESULTS.md"
