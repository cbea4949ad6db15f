#!/usr/bin/env bash
# The whole GPU check of issue 18 in one run (< 10 minutes): per-frame latency for 1, 2 and 8
# faces at 1080p (end-to-end and pipeline sections), faces/s batched (model only: torch fp16
# autocast, CUDA graphs, ORT's CUDA execution provider when installed), the node on CUDA (serial
# and a 30 Hz stream), and the table file.
#
# Usage: bash scripts/gpu_check.sh [OUT_DIR]     (default: $OUT, else docs/results/bench/gpu)
# Needs: a CUDA build of torch in the environment (source env.sh first), an NVIDIA GPU, the
# shared data (../shared/data) and weights/head_pose_trg.safetensors. Writes
# OUT_DIR/gpu_bench.{json,md,log} and OUT_DIR/gpu_faces.png; exits non-zero with one line
# when there is no usable GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${1:-${OUT:-docs/results/bench/gpu}}"
mkdir -p "$OUT_DIR"
[ -f env.sh ] && { set +u; . ./env.sh; set -u; }
python - <<'PY' || exit 2
import sys
import torch
if not torch.cuda.is_available():
    sys.exit(f"gpu_check: no usable CUDA device (torch {torch.__version__}, CUDA build "
             f"{torch.version.cuda or 'none'})")
print(f"gpu_check: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, "
      f"CUDA {torch.version.cuda}")
PY
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
# one bench run: model only at batch 1..128, end to end and pipeline (1, 2, 4, 8 faces at
# 640x480 and 1920x1080), the node (torch on CUDA; 30 Hz input stream); no memory run
timeout 540 head-pose-bench --device cuda --weights weights/head_pose_trg.safetensors \
    --skip compile --batches 1,8,32,128 --repeats 30 --detect-every-n 10 --memory-frames 0 \
    --plot "$OUT_DIR/gpu_faces.png" --json "$OUT_DIR/gpu_bench.json" \
    --markdown "$OUT_DIR/gpu_bench.md" 2>&1 | tee "$OUT_DIR/gpu_bench.log"
echo "gpu_check: table in $OUT_DIR/gpu_bench.md"
grep -E "^- (end to end|model only|pipeline|node)" "$OUT_DIR/gpu_bench.md" || true
