"""``head-pose-export``: export the TRG network to ONNX (the command line of
:mod:`head_pose_ros.onnx_export`, which documents the graph's inputs and outputs)."""

from __future__ import annotations

import argparse
import sys
import time

from head_pose_ros.onnx_export import ATOL, compare_onnx, export_onnx, load_model, ort_session


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="head-pose-export",
                                 description="Export the TRG network to ONNX.")
    ap.add_argument("--weights", help="trained checkpoint (safetensors) to export")
    ap.add_argument("--random-init", action="store_true",
                    help="export an UNTRAINED random model (tests only)")
    ap.add_argument("--backbone", choices=("resnet18", "mobilenet"), default=None,
                    help="with --random-init: backbone of the random model")
    ap.add_argument("--onnx", required=True, help="output .onnx path")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--batch", default="dynamic", help="'dynamic' (default) or a fixed batch size")
    ap.add_argument("--no-check", action="store_true",
                    help="skip the ONNX Runtime vs PyTorch comparison")
    args = ap.parse_args(argv)
    if bool(args.weights) == bool(args.random_init):
        ap.error("give exactly one of --weights or --random-init")
    if args.backbone and not args.random_init:
        ap.error("--backbone only applies to --random-init (a checkpoint carries its config)")
    dynamic = args.batch == "dynamic"
    if not dynamic and not args.batch.isdigit():
        ap.error("--batch must be 'dynamic' or a positive integer")
    fixed = 1 if dynamic else int(args.batch)
    if args.random_init:
        print("=" * 72 + "\nWARNING: exporting a RANDOMLY INITIALISED, UNTRAINED model "
              "(--random-init).\nIts outputs are meaningless; use it for tests and timing only.\n"
              + "=" * 72, file=sys.stderr)
    try:
        model = load_model(args.weights, args.random_init, args.backbone)
    except (OSError, ValueError, RuntimeError) as exc:  # CheckpointError is a RuntimeError
        print(f"error: cannot load the model: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    path = export_onnx(model, args.onnx, args.opset, dynamic, fixed)
    mb = path.stat().st_size / 2**20
    print(f"exported {path} ({mb:.1f} MiB, opset {args.opset}, batch "
          f"{'dynamic' if dynamic else fixed}) in {time.perf_counter() - t0:.1f} s; "
          "onnx.checker ok")
    if not args.no_check:
        sess = ort_session(path)
        for b in ((1, 3) if dynamic else (fixed,)):
            diffs = compare_onnx(model, sess, b)
            print(f"ONNX Runtime vs PyTorch, batch {b}: max abs diff "
                  + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
            bad = [k for k, v in diffs.items() if not v <= ATOL[k]]
            if bad:
                print(f"error: ONNX Runtime differs from PyTorch beyond {ATOL} in {bad}",
                      file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
