#!/usr/bin/env bash
# scripts/train_cpu_default.sh [DIR] — reproduce the shipped CPU model (about 3 h on 2 cores):
# render 8000 + 16000 + 24000 + 48000 synthetic `wild` crops (seeds 101, 102, 103, 104), train
# stage 1 from scratch (config/train/cpu_default.yaml), fine-tune stages 2, 3 and 4
# (cpu_default_stage2.yaml, cpu_default_stage3.yaml, cpu_default_stage4.yaml). Then
#   bash scripts/results.sh DIR/run_stage4/model.safetensors
# calibrates the covariance, writes weights/head_pose_trg.safetensors and docs/RESULTS.md.
# DIR defaults to outputs/cpu_train. Finished stages are skipped (a run is resumed if stopped).
set -euo pipefail
# shellcheck source=scripts/env_preamble.sh
. "$(dirname "${BASH_SOURCE[0]}")/env_preamble.sh"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
D="$(realpath -m "${1:-$REPO/outputs/cpu_train}")"
mkdir -p "$D"

render() {  # name count seed
  [ -f "$D/$1/labels.npz" ] && return 0
  python -m head_pose_ros.data.cache --out "$D/$1" --preset wild --count "$2" --seed "$3" \
    --crop-size 176 --crop-scale 2.0 --workers 2
}
train() {  # run_name config-overrides...
  local run="$D/$1"
  shift
  [ -f "$run/model.safetensors" ] && return 0
  head-pose-train --config config/train/cpu_default.yaml "$@" "run.out_dir=$run"
}
render wild_train 8000 101
render wild_train2 16000 102
render wild_train3 24000 103
render wild_train4 48000 104
train run_cpu_default "data.train.0.root=$D/wild_train"
train run_stage2 --config config/train/cpu_default_stage2.yaml \
  "run.init_weights=$D/run_cpu_default/model.safetensors" \
  "data.train.0.root=$D/wild_train" "data.train.1.root=$D/wild_train2"
train run_stage3 --config config/train/cpu_default_stage3.yaml \
  "run.init_weights=$D/run_stage2/model.safetensors" \
  "data.train.0.root=$D/wild_train" "data.train.1.root=$D/wild_train2" \
  "data.train.2.root=$D/wild_train3"
# (the shipped stage 4 started from the fp16 copy of the stage-3 model that was shipped before,
# weights/head_pose_trg.safetensors of commit 5ce5c95, instead of its fp32 original)
train run_stage4 --config config/train/cpu_default_stage4.yaml \
  "run.init_weights=$D/run_stage3/model.safetensors" "data.train.0.root=$D/wild_train4"
echo "[train] done: bash scripts/results.sh $D/run_stage4/model.safetensors"
