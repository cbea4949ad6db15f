"""Runs the sections of ``head-pose-bench`` in order (model only, end to end, node over DDS)
and assembles the report; :mod:`head_pose_ros.cli.bench` parses the command line."""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from head_pose_ros.backends import cached_onnx_graph
from head_pose_ros.bench.end_to_end import end_to_end_section
from head_pose_ros.bench.model import (
    CHECK_BATCH,
    RANDOM_INIT_OVERRIDES,
    ModelSpec,
    bench_checkpoint,
    model_section,
    onnx_cache_dir,
)
from head_pose_ros.bench.node import node_section
from head_pose_ros.bench.report import machine_info, usable_cores
from head_pose_ros.bench.targets import target_checks
from head_pose_ros.topology import default_shared_data


def model_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """ModelConfig fields for the random-init model from ``--model-config`` (a YAML file with a
    ``model:`` mapping, e.g. a training config); ``--backbone`` is applied by :class:`ModelSpec`.
    """
    out: dict[str, Any] = {}
    if args.model_config:
        import yaml

        data = yaml.safe_load(Path(args.model_config).read_text()) or {}
        out.update(data.get("model", data) if isinstance(data, dict) else {})
    return out


def describe_model(args: argparse.Namespace, spec: ModelSpec, model: torch.nn.Module) -> str:
    """One line: where the model comes from and its size."""
    cfg = model.config
    n_params = sum(p.numel() for p in model.parameters())
    desc = (f"checkpoint {args.weights}" if args.weights else
            f"RANDOM-INIT (untrained, seed 0, {spec.overrides}"
            + (f" from {args.model_config}" if args.model_config else "") + ")")
    return desc + (f", backbone {cfg.backbone} x{cfg.backbone_width}, {cfg.input_size} px, "
                   f"{cfg.feature_channels} feature channels, {cfg.num_iterations} iterations, "
                   f"{n_params / 1e6:.1f} M parameters")


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    """The full report of one run (see :mod:`head_pose_ros.bench`)."""
    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda but CUDA is not available")
    threads = args.threads or usable_cores()
    torch.set_num_threads(threads)
    quick = args.quick
    warmup = args.warmup if args.warmup is not None else (1 if quick else 5)
    repeats = args.repeats if args.repeats is not None else (3 if quick else 30)
    batches = [int(b) for b in args.batches.split(",")] if args.batches else (
        [1, 4] if quick else [1, 8, 32])
    shared = Path(args.shared_data) if args.shared_data else default_shared_data()
    skip = set(args.skip or [])

    spec = ModelSpec(args.weights, args.backbone, 0,
                     {} if args.weights else {**model_overrides(args), **RANDOM_INIT_OVERRIDES})
    model = spec.build()
    rep: dict[str, Any] = {
        "machine": machine_info(device, threads),
        "model": {"description": describe_model(args, spec, model), "weights": args.weights,
                  "random_init": not args.weights, "config": model.config.to_dict(),
                  "parameters": sum(p.numel() for p in model.parameters())},
        "settings": {"warmup": warmup, "repeats": repeats, "batches": batches, "quick": quick,
                     "threads": threads, "check_batch": CHECK_BATCH},
    }

    with tempfile.TemporaryDirectory(prefix="head_pose_bench_") as tmp:
        checkpoint, xdg_cache = bench_checkpoint(args.weights, model, Path(tmp))
        onnx_path: Path | None = None
        if device == "cpu" and "onnxruntime" not in skip:
            try:  # the graph the estimator's onnxruntime backend (section 2, the node) loads too
                graph = cached_onnx_graph(model, checkpoint, onnx_cache_dir(xdg_cache))
                onnx_path = graph.path
                rep["onnx_graph"] = {"path": str(graph.path), "export_s": graph.export_s}
            except Exception as exc:  # reported in the table
                rep.setdefault("notes", []).append(f"ONNX export failed: {exc}")
        rep["model_only"] = model_section(spec, model, device, threads, onnx_path, batches,
                                          warmup, repeats, skip, args.compile_timeout)
        rep["end_to_end"] = end_to_end_section(args, model, device, checkpoint, xdg_cache,
                                               shared, warmup, repeats, quick, threads)
        rep["node"] = node_section(args, model, shared, quick, checkpoint, xdg_cache)
    with contextlib.suppress(OSError):
        rep["machine"]["load_avg_at_end"] = list(os.getloadavg())
    rep["targets"] = target_checks(rep)
    return rep
