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
from head_pose_ros.bench.pipeline import memory_section, pipeline_section, plot_faces
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


def cuda_unavailable_message() -> str:
    """The one line ``--device cuda`` exits with on a machine without a usable CUDA device."""
    built = torch.version.cuda or "none (a CPU-only torch build)"
    return (f"error: --device cuda: CUDA is not available here (torch {torch.__version__}, "
            f"CUDA build {built}, {torch.cuda.device_count()} devices); run on a GPU machine "
            "(scripts/gpu_check.sh) or use --device cpu")


def pipeline_estimator(args: argparse.Namespace, device: str, checkpoint: Path,
                       xdg_cache: Path | None, threads: int) -> Any:
    """The node's estimator for the pipeline sections: ONNX Runtime on the CPU (unless
    ``--skip onnxruntime``), torch on CUDA."""
    from head_pose_ros.estimator import HeadPoseEstimator

    backend = "torch" if device != "cpu" or "onnxruntime" in set(args.skip or []) else "auto"
    return HeadPoseEstimator.from_checkpoint(checkpoint, device=device, backend=backend,
                                             threads=threads,
                                             onnx_cache_dir=onnx_cache_dir(xdg_cache))


def pipeline_sections(args: argparse.Namespace, device: str, checkpoint: Path,
                      xdg_cache: Path | None, shared: Path, warmup: int, repeats: int,
                      quick: bool, threads: int) -> dict[str, Any]:
    """``{"pipeline": ..., "memory": ...}`` (each ``{"skipped": reason}`` when it cannot run)."""
    from head_pose_ros.bench.frames import FACE_PHOTO, yunet_model
    from head_pose_ros.detection import YuNetDetector

    n_mem = args.memory_frames if args.memory_frames is not None else (200 if quick else 10000)
    yunet = yunet_model(args.yunet, shared)
    why = ("--no-pipeline" if args.no_pipeline else
           f"no face photo under {shared / FACE_PHOTO}" if not (shared / FACE_PHOTO).is_dir()
           else f"YuNet model not found at {yunet}" if not yunet.is_file() else "")
    if why:
        return {"pipeline": {"skipped": why}, "memory": {"skipped": why}}
    est = pipeline_estimator(args, device, checkpoint, xdg_cache, threads)
    det = YuNetDetector(yunet, threads=threads)
    every = int(args.detect_every_n)
    e_warm, e_rep = (1, 3) if quick else (max(2, warmup // 2), max(10, repeats // 2))
    out: dict[str, Any] = {"pipeline": pipeline_section(est, det, shared, every, e_warm, e_rep,
                                                        quick)}
    if args.plot:
        out["pipeline"]["plot"] = str(plot_faces(out["pipeline"], args.plot))
    out["memory"] = (memory_section(est, det, shared, n_mem, every) if n_mem > 0
                     else {"skipped": "--memory-frames 0"})
    return out


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    """The full report of one run (see :mod:`head_pose_ros.bench`)."""
    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit(cuda_unavailable_message())
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
        if "onnxruntime" not in skip:
            try:  # the graph the estimator's onnxruntime backend (section 2, the node) loads too
                # (on CUDA: the graph of the ORT CUDA execution provider row)
                graph = cached_onnx_graph(model, checkpoint, onnx_cache_dir(xdg_cache))
                onnx_path = graph.path
                rep["onnx_graph"] = {"path": str(graph.path), "export_s": graph.export_s}
            except Exception as exc:  # reported in the table
                rep.setdefault("notes", []).append(f"ONNX export failed: {exc}")
        rep["model_only"] = model_section(spec, model, device, threads, onnx_path, batches,
                                          warmup, repeats, skip, args.compile_timeout)
        rep["end_to_end"] = end_to_end_section(args, model, device, checkpoint, xdg_cache,
                                               shared, warmup, repeats, quick, threads)
        rep.update(pipeline_sections(args, device, checkpoint, xdg_cache, shared, warmup,
                                     repeats, quick, threads))
        if getattr(args, "ort_options", False) and onnx_path is not None:
            from head_pose_ros.bench.ort_options import ort_options_section

            rep["ort_options"] = ort_options_section(onnx_path, batches, warmup, repeats,
                                                     getattr(args, "int8", None),
                                                     model.config.input_size)
        rep["node"] = node_section(args, model, shared, quick, checkpoint, xdg_cache)
    with contextlib.suppress(OSError):
        rep["machine"]["load_avg_at_end"] = list(os.getloadavg())
    rep["targets"] = target_checks(rep)
    return rep
