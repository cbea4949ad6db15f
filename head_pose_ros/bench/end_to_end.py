"""End-to-end section: one frame = decode a JPEG, detect faces (YuNet, ``--yunet``; given boxes
when the model file is missing, reported), then ``HeadPoseEstimator.predict`` (crop, inference
of all faces of the frame in one batch, post-processing) — 1, 2 and 4 faces at 640x480 and
1920x1080 (:mod:`head_pose_ros.bench.frames`).

Variants (interleaved frame by frame): ``eager_fp32`` = the shipped estimator (baseline),
``per_face_loop`` = the same called once per face (what batching buys), ``onnxruntime`` (CPU) =
the node's backend path, ``HeadPoseEstimator.from_checkpoint(..., backend="onnxruntime")``,
``fp16_autocast`` (CUDA) = the estimator with that model swapped in. The estimates of each
variant are compared with the baseline's.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from head_pose_ros.backends import BackendError
from head_pose_ros.bench.frames import (
    FACE_LAYOUTS,
    FACE_PHOTO,
    FRAME_SIZES,
    encode_jpeg,
    face_photo,
    frame_sizes,
    make_frame,
    yunet_model,
)
from head_pose_ros.bench.model import onnx_cache_dir
from head_pose_ros.bench.timing import BASELINE, latency_stats, sync, timed_cases
from head_pose_ros.detection import YuNetDetector
from head_pose_ros.estimator import HeadPoseEstimator
from head_pose_ros.geometry import default_intrinsics


def run_end_to_end(estimators: dict[str, Any], detector: Any, shared_data: Path, warmup: int,
                   repeats: int, device: str, sizes: Sequence[str], faces: Sequence[int]
                   ) -> dict[str, dict[str, Any]]:
    """Per-frame latency (decode + detect + estimate) for each frame size and face count.

    Returns ``{variant: {"<size>_<n>face": stats}}``; frames are interleaved round-robin over
    the estimator variants (fair under load from other processes).
    """
    patch, lm = face_photo(shared_data)
    out: dict[str, dict[str, Any]] = {name: {} for name in estimators}
    for size_name in sizes:
        w, h = FRAME_SIZES[size_name]
        K = default_intrinsics(w, h)
        for n in faces:
            frame, given = make_frame(patch, lm, (w, h), n)
            buf = encode_jpeg(frame)
            rec = {name: {"total": [], "decode": [], "detect": [], "estimate": [], "found": []}
                   for name in estimators}

            def one_frame(est: Any, r: dict[str, list] | None, buf: np.ndarray = buf,
                          given: np.ndarray = given, K: np.ndarray = K) -> None:
                t0 = time.perf_counter()
                img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
                t1 = time.perf_counter()
                boxes = detector.detect(img).boxes if detector is not None else given
                t2 = time.perf_counter()
                res = est.predict(img, K, boxes)
                sync(device)
                t3 = time.perf_counter()
                if r is not None:
                    for k, v in (("total", t3 - t0), ("decode", t1 - t0), ("detect", t2 - t1),
                                 ("estimate", t3 - t2)):
                        r[k].append(v * 1e3)
                    r["found"].append(len(res))

            for est in estimators.values():
                for _ in range(warmup):
                    one_frame(est, None)
            for _ in range(repeats):
                for name, est in estimators.items():
                    one_frame(est, rec[name])
            for name, r in rec.items():
                stats = latency_stats(r["total"])
                out[name][f"{size_name}_{n}face"] = {
                    **stats, "fps": 1e3 / stats["median_ms"],
                    "stages_median_ms": {k: float(np.median(r[k]))
                                         for k in ("decode", "detect", "estimate")},
                    "faces_expected": n, "faces_found_min": int(min(r["found"])),
                    "faces_found_max": int(max(r["found"]))}
    return out


class AutocastModel:
    """Duck-typed TRG for ``HeadPoseEstimator``: the model under CUDA autocast (fp16/bf16),
    outputs cast back to float32, NHWC input."""

    def __init__(self, model: torch.nn.Module, dtype: torch.dtype) -> None:
        self.model = model
        self.config = model.config
        self.dtype = dtype

    def __call__(self, image: torch.Tensor, *rest: torch.Tensor) -> dict[str, Any]:
        with torch.autocast("cuda", dtype=self.dtype):
            out = self.model(image.contiguous(memory_format=torch.channels_last), *rest)
        return {k: [t.float() for t in v] if isinstance(v, list) else v.float()
                if v.is_floating_point() else v for k, v in out.items()}


class PerFaceLoop:
    """The baseline estimator called once per face (no batching): shows what batching buys."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def predict(self, image: np.ndarray, K: np.ndarray, boxes: np.ndarray) -> list[Any]:
        out: list[Any] = []
        for b in np.asarray(boxes).reshape(-1, np.asarray(boxes).shape[-1]):
            out += self.estimator.predict(image, K, b[None])
        return out


def estimator_variants(model: torch.nn.Module, device: str, checkpoint: Path | None = None,
                       threads: int | None = None, onnx_cache_dir: Path | None = None
                       ) -> dict[str, Any]:
    """The shipped estimator (baseline: eager fp32, all faces of a frame in one batch; its crops
    are already NHWC in memory, so a channels-last model changes nothing there), the same
    estimator called per face, and on the CPU with a ``checkpoint`` (the file ``model`` was
    loaded from) the node's ONNX Runtime backend: ``HeadPoseEstimator.from_checkpoint(...,
    backend="onnxruntime")``, graph from the cache (:mod:`head_pose_ros.backends`)."""
    base = HeadPoseEstimator(model, device=device)
    out: dict[str, Any] = {BASELINE: base, "per_face_loop": PerFaceLoop(base)}
    if device == "cpu" and checkpoint is not None:
        out["onnxruntime"] = HeadPoseEstimator.from_checkpoint(
            checkpoint, device="cpu", backend="onnxruntime", threads=threads,
            onnx_cache_dir=onnx_cache_dir)
    if device == "cuda":
        half = HeadPoseEstimator(model, device=device)
        half.model = AutocastModel(copy.deepcopy(model).to(memory_format=torch.channels_last)
                                   .to(device).eval(), torch.float16)
        out["fp16_autocast"] = half
    return out


def estimator_equivalence(estimators: dict[str, Any], shared_data: Path) -> dict[str, Any]:
    """Max abs difference of the estimates (R, T m, vertices_cam m, landmarks68 px) on the
    4-face 640x480 frame, against the baseline estimator."""
    patch, lm = face_photo(shared_data)
    frame, boxes = make_frame(patch, lm, (640, 480), 4)
    K = default_intrinsics(640, 480)
    ref = estimators[BASELINE].predict(frame, K, boxes)
    res = {}
    for name, est in estimators.items():
        got = est.predict(frame, K, boxes)
        res[name] = {k: float(max(np.abs(getattr(a, k) - getattr(b, k)).max()
                                  for a, b in zip(got, ref, strict=True)))
                     for k in ("R", "T", "vertices_cam", "landmarks68")}
    return res


def end_to_end_section(args: argparse.Namespace, model: torch.nn.Module, device: str,
                       checkpoint: Path | None, xdg_cache: Path | None, shared: Path,
                       warmup: int, repeats: int, quick: bool, threads: int | None = None
                       ) -> dict[str, Any]:
    """The end-to-end section of the report (``{"skipped": reason}`` without the face photo)."""
    if args.no_e2e:
        return {"skipped": "--no-e2e"}
    if not (shared / FACE_PHOTO).is_dir():
        return {"skipped": f"no face photo under {shared / FACE_PHOTO}"}
    yunet = yunet_model(args.yunet, shared)
    if yunet.is_file():
        detector, det_note = YuNetDetector(yunet), "yunet"
    else:
        detector, det_note = None, f"given boxes (YuNet model not found at {yunet})"
    out: dict[str, Any] = {"detector": det_note, "variants": {}}
    want_ort = "onnxruntime" not in set(args.skip or [])
    try:
        ests = estimator_variants(model, device, checkpoint if want_ort else None, threads,
                                  onnx_cache_dir(xdg_cache))
    except BackendError as exc:  # reported, the other variants still run
        out["onnxruntime_backend"] = {"skipped": str(exc)}
        ests = estimator_variants(model, device)
    ests = {k: v for k, v in ests.items() if k not in set(args.skip or [])}
    if "onnxruntime" in ests:
        graph = ests["onnxruntime"].model.graph
        out["onnxruntime_backend"] = {"backend": ests["onnxruntime"].backend,
                                      "graph": str(graph.path), "export_s": graph.export_s}
    sizes = frame_sizes(quick)
    faces = [1, 4] if quick else list(FACE_LAYOUTS)
    e_warm, e_rep = (1, 3) if quick else (max(2, warmup // 2), max(10, repeats // 2))
    print(f"[bench] end-to-end: {', '.join(ests)} (interleaved) ...", file=sys.stderr,
          flush=True)
    out["variants"] = run_end_to_end(ests, detector, shared, e_warm, e_rep, device, sizes, faces)
    base = out["variants"][BASELINE]
    for v in out["variants"].values():
        for case, r in timed_cases(v):
            r["speedup"] = base[case]["median_ms"] / r["median_ms"]
    out["equivalence"] = estimator_equivalence(ests, shared)
    return out

