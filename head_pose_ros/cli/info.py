"""``head-pose-info``: configuration, parameter counts and topology of a TRG model.

Usage: ``head-pose-info [--weights W.safetensors] [--json] [--topology-dir DIR]
[--backbone resnet18|mobilenet]``. Without ``--weights`` a randomly initialised default model is
described (topology from ``--topology-dir``, else ``$HEAD_POSE_SHARED_DATA`` / ``../shared/data``).
"""

from __future__ import annotations

import argparse
import json
import sys

from head_pose_ros import __version__


def collect(weights: str | None, topology_dir: str | None, backbone: str | None) -> dict:
    """Everything the command prints, as a dict."""
    from head_pose_ros.covariance import CovarianceParams
    from head_pose_ros.model import TRG, ModelConfig

    info: dict = {"package_version": __version__}
    if weights:
        from head_pose_ros.checkpoint import load_checkpoint

        model, ck = load_checkpoint(weights)
        info["weights"] = str(weights)
        info["checkpoint"] = {k: ck[k] for k in ("format_version", "package_version", "dtype")}
        meta = ck.get("meta", {})
        info["training"] = meta.get("training")
        info["covariance"] = CovarianceParams.from_dict(meta.get("covariance")).to_dict()
        extra = {k: v for k, v in meta.items() if k not in ("training", "covariance")}
        if extra:
            info["meta"] = extra
    else:
        from head_pose_ros.topology import load_arkit1220

        topo = load_arkit1220(topology_dir)
        cfg = ModelConfig(backbone=backbone) if backbone else ModelConfig()
        model = TRG(cfg, topo)
        info["weights"] = None
        info["note"] = "random initialisation (no --weights given)"
        info["covariance"] = CovarianceParams().to_dict()
    info["config"] = model.config.to_dict()
    info["parameters"] = model.parameter_counts()
    info["topology"] = model.topology().summary()
    return info


def _print_text(info: dict) -> None:
    print(f"head_pose_ros {info['package_version']}")
    print(f"weights: {info['weights'] or info.get('note')}")
    if info.get("checkpoint"):
        print(f"checkpoint: {info['checkpoint']}")
    print("config:")
    for k, v in info["config"].items():
        print(f"  {k}: {v}")
    print("parameters:")
    for k, v in info["parameters"].items():
        print(f"  {k:<12} {v:>12,d}  ({v / 1e6:.2f} M)")
    print("topology:")
    for k, v in info["topology"].items():
        print(f"  {k}: {v}")
    print("covariance:")
    for k, v in info["covariance"].items():
        print(f"  {k}: {v}")
    if info.get("training") is not None:
        print(f"training: {json.dumps(info['training'])}")
    if info.get("meta"):
        print(f"meta: {json.dumps(info['meta'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="head-pose-info", description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="TRG checkpoint (.safetensors)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--topology-dir", help="ARKit 1220 topology directory (random init only)")
    parser.add_argument("--backbone", choices=("resnet18", "mobilenet"),
                        help="backbone of the random-init model (ignored with --weights)")
    args = parser.parse_args(argv)
    try:
        info = collect(args.weights, args.topology_dir, args.backbone)
    except (FileNotFoundError, RuntimeError, ValueError) as e:
        print(f"head-pose-info: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        _print_text(info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
