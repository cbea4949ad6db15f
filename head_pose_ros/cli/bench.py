"""``head-pose-bench``: speed of the TRG model, the estimator pipeline and the node, in one run.

The command line only; the sections live in :mod:`head_pose_ros.bench` (model, end_to_end,
node, targets, report). See docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from head_pose_ros.bench.node import DDS_PROFILE_NAME
from head_pose_ros.bench.pipeline import DEFAULT_DETECT_EVERY_N
from head_pose_ros.bench.report import format_markdown, format_report
from head_pose_ros.bench.runner import run_bench


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="head-pose-bench",
        description="Benchmark the TRG model, the estimator pipeline and the node in one run.")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--json", help="write the full report (JSON) here")
    ap.add_argument("--markdown", help="write the tables as Markdown here")
    ap.add_argument("--weights", help="checkpoint; default: a random-init model (speed only)")
    ap.add_argument("--backbone", choices=("resnet18", "mobilenet"),
                    help="backbone of the random-init model (without --weights)")
    ap.add_argument("--model-config",
                    help="YAML with a 'model:' section (e.g. config/train/cpu_default.yaml): "
                         "the random-init model's config (without --weights)")
    ap.add_argument("--quick", action="store_true",
                    help="tiny run (batches 1,4; few repeats; 640x480 only): for tests")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch / ONNX Runtime intra-op threads (default: usable cores)")
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--batches", help="comma-separated batch sizes (default 1,8,32)")
    ap.add_argument("--yunet", help="YuNet .onnx (default: <shared data>/detector/...)")
    ap.add_argument("--shared-data", help="shared data root (default $HEAD_POSE_SHARED_DATA or "
                                           "<repo>/../shared/data)")
    ap.add_argument("--skip", action="append",
                    choices=("inference_mode", "channels_last", "compile", "onnxruntime",
                             "onnxruntime_int8", "fp16_autocast", "bf16_autocast",
                             "cuda_graph_fp16"),
                    help="skip a variant (repeatable)")
    ap.add_argument("--compile-timeout", type=float, default=600.0,
                    help="time box (s) of the torch.compile variant, compile + timing")
    ap.add_argument("--no-e2e", action="store_true", help="skip the end-to-end section")
    ap.add_argument("--no-node", action="store_true", help="skip the node (DDS) section")
    ap.add_argument("--no-pipeline", action="store_true",
                    help="skip the pipeline section (detector every frame vs following)")
    ap.add_argument("--detect-every-n", type=int, default=DEFAULT_DETECT_EVERY_N,
                    help="detect_every_n of the following runs (pipeline section, the node)")
    ap.add_argument("--memory-frames", type=int, default=None,
                    help="frames of the memory section (default 10000, --quick 200; 0 skips)")
    ap.add_argument("--plot", help="write the pipeline's cost-vs-faces plot (PNG) here")
    ap.add_argument("--ort-options", action="store_true",
                    help="measure ONNX Runtime session options (threads, graph optimisation)")
    ap.add_argument("--int8", help="int8 ONNX model (head_pose_ros.quantize) to time as a "
                                   "model-only row next to the fp32 graph")
    ap.add_argument("--dds-profile", help="node section: Fast DDS profile XML (default: the "
                    f"package's config/{DDS_PROFILE_NAME}, 32 MB shared-memory segment)")
    ap.add_argument("--dds-default-transport", action="store_true",
                    help="node section: keep Fast DDS's built-in transports (large images are "
                         "mostly lost between processes with them)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.weights and (args.backbone or args.model_config):
        build_parser().error("--backbone / --model-config only apply without --weights")
    if not args.weights:
        print("=" * 72 + "\nWARNING: no --weights: benchmarking a RANDOMLY INITIALISED, "
              "UNTRAINED model.\nTimings are representative; its poses are meaningless.\n"
              + "=" * 72, file=sys.stderr)
    rep = run_bench(args)
    print(format_report(rep))
    for path, write in ((args.json, lambda: json.dumps(rep, indent=2) + "\n"),
                        (args.markdown, lambda: format_markdown(rep))):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(write())
            print(f"wrote {path}")
    bad = [k for k, r in rep["model_only"].items()
           if "skipped" not in r and r["equivalent"] is False]
    if bad:
        print(f"NOT EQUIVALENT to the baseline: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
