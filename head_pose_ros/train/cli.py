"""``head-pose-train --config CONFIG [key=value ...]`` (also ``python -m head_pose_ros.train``).

Multi-GPU: ``torchrun --nproc_per_node=N -m head_pose_ros.train --config CONFIG ...``
(DistributedDataParallel; ``run.batch_size`` is per process). See
:mod:`head_pose_ros.train.config` for the configuration system and
:mod:`head_pose_ros.train.trainer` for the run directory layout.
"""

from __future__ import annotations

import argparse
import json
import sys

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from yaml import YAMLError


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="head-pose-train",
        description="Train TRG (config file + dotted key=value overrides).",
        epilog="example: head-pose-train --config config/train/smoke.yaml run.epochs=2 "
               "model.num_iterations=1 run.out_dir=runs/x",
    )
    ap.add_argument("--config", action="append", default=[],
                    help="YAML config (config/train/*.yaml); repeat to merge several in order")
    ap.add_argument("--print-config", action="store_true",
                    help="print the merged config and exit")
    ap.add_argument("overrides", nargs="*", help="key=value overrides (OmegaConf dotlist)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from head_pose_ros.train.config import load_config

    try:
        cfg = load_config(args.config, args.overrides)
    except (OmegaConfBaseException, ValueError, TypeError, OSError, YAMLError) as e:
        print(f"head-pose-train: invalid configuration: {e}", file=sys.stderr)
        return 2
    if args.print_config:
        print(OmegaConf.to_yaml(cfg))
        return 0
    from head_pose_ros.train.trainer import train

    summary = train(cfg)
    print(json.dumps({k: v for k, v in summary.items() if k != "val"}, indent=None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
