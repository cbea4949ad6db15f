# ruff: noqa: N803, N806  (K, K_crop, R, T: the notation of geometry.py)
"""Export of the TRG network to ONNX, and ONNX Runtime sessions of the exported graph (no ROS).

Used by the estimator's onnxruntime backend (:mod:`head_pose_ros.backends`), the
``head-pose-export`` command (:mod:`head_pose_ros.cli.export`) and ``head-pose-bench``.

Inputs (float32; ``B`` dynamic unless ``--batch N``)::

    image      (B, 3, S, S)  normalised RGB crop (ImageNet mean/std), S = config.input_size
    K_crop     (B, 3, 3)     crop intrinsics (geometry.crop_intrinsics)
    bbox_info  (B, 3)        geometry.bbox_info(K, box), scale 1
    box        (B, 3)        crop box (cx, cy, side), full-image pixels
    K          (B, 3, 3)     full-image intrinsics

Outputs (the last regressor iteration, flattened from the model's dict)::

    R (B, 3, 3), T (B, 3) metres, correction (B, 3), vertices (B, V, 3) head frame metres,
    vertices_img (B, V, 2) crop pixels, landmarks68 (B, 68, 2) crop pixels (heatmaps)
    [rot_logvar (B, 3): only with config.rotation_uncertainty, see output_names()]

Uses the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``): it needs no extra
package, exports TRG (grid_sample, soft-argmax, Gram-Schmidt) at opset >= 16 in about a second,
and ONNX Runtime reproduces PyTorch to ~1e-5 (test/test_export.py). The ``dynamo=True``
exporter needs ``onnxscript``, which is not a dependency.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from head_pose_ros.checkpoint import load_checkpoint
from head_pose_ros.model import ModelConfig, build_model
from head_pose_ros.model import geometry_torch as gt

INPUT_NAMES: tuple[str, ...] = ("image", "K_crop", "bbox_info", "box", "K")
OUTPUT_NAMES: tuple[str, ...] = ("R", "T", "correction", "vertices", "vertices_img", "landmarks68")
UNCERTAINTY_OUTPUT = "rot_logvar"
"""Extra output of a model with ``config.rotation_uncertainty``: (B, 3) log-variances."""


def output_names(config: Any) -> tuple[str, ...]:
    """The graph's outputs for a model with ``config``: :data:`OUTPUT_NAMES`, then
    ``rot_logvar`` when the model has the rotation-uncertainty head."""
    extra = (UNCERTAINTY_OUTPUT,) if getattr(config, "rotation_uncertainty", False) else ()
    return (*OUTPUT_NAMES, *extra)

MIN_OPSET = 16  # GridSample

#: max abs difference accepted between an fp32 re-implementation (ONNX Runtime, channels-last,
#: torch.compile) and the PyTorch eval outputs: R and correction unitless, T and vertices metres
#: (0.1 mm), vertices_img and landmarks68 crop pixels. Measured: ~1e-7 and ~1e-3 px.
ATOL: dict[str, float] = {"R": 1e-4, "T": 1e-4, "correction": 1e-4, "vertices": 1e-4,
                          "vertices_img": 0.05, "landmarks68": 0.01, "rot_logvar": 1e-3}


class ExportWrapper(nn.Module):
    """TRG with tuple outputs (last iteration): the graph that is exported / benchmarked."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor, K_crop: torch.Tensor, bbox_info: torch.Tensor,
                box: torch.Tensor, K: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(image, K_crop, bbox_info, box, K)
        extra = (out["rot_logvar"],) if "rot_logvar" in out else ()
        return (out["R"][-1], out["T"][-1], out["correction"][-1], out["vertices"][-1],
                out["vertices_img"][-1], out["landmarks68"], *extra)


def example_inputs(batch: int, input_size: int = 192, seed: int = 0,
                   dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
    """Plausible random inputs: a normalised noise crop and a face box in a 640x480 camera.

    Box centres, sizes and focal lengths vary per sample so that the geometric inputs matter.
    """
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, 3, input_size, input_size, generator=g)
    f = 500.0 + 200.0 * torch.rand(batch, generator=g)
    K = torch.zeros(batch, 3, 3)
    K[:, 0, 0], K[:, 1, 1], K[:, 2, 2] = f, f * 1.01, 1.0
    K[:, 0, 2], K[:, 1, 2] = 320.0, 240.0
    box = torch.stack([
        200.0 + 240.0 * torch.rand(batch, generator=g),
        160.0 + 160.0 * torch.rand(batch, generator=g),
        100.0 + 150.0 * torch.rand(batch, generator=g),
    ], dim=-1)
    K_crop = gt.crop_intrinsics(K, box, input_size)
    info = gt.bbox_info(K, box)
    return tuple(x.to(dtype).contiguous() for x in (image, K_crop, info, box, K))


def load_model(weights: str | None, random_init: bool = False, backbone: str | None = None,
               seed: int = 0, config_overrides: dict[str, Any] | None = None) -> nn.Module:
    """The TRG to export/benchmark, in eval mode on the CPU.

    ``weights``: a checkpoint (:mod:`head_pose_ros.checkpoint`). Without it ``random_init`` must
    be set: a seeded random model with the default :class:`ModelConfig` (``backbone`` and
    ``config_overrides`` change it) — for tests and speed measurements only.
    """
    if weights:
        model = load_checkpoint(weights, device="cpu")[0]
    elif random_init:
        kw: dict[str, Any] = dict(config_overrides or {})
        if backbone:
            kw["backbone"] = backbone
        torch.manual_seed(seed)
        model = build_model(ModelConfig(**kw))
    else:
        raise ValueError("give --weights (a trained checkpoint) or --random-init")
    return model.eval()


def export_onnx(model: nn.Module, path: str | Path, opset: int = 17, dynamic_batch: bool = True,
                batch: int = 1) -> Path:
    """Export ``model`` (a TRG) to ``path`` and run ``onnx.checker`` on it."""
    import onnx

    if opset < MIN_OPSET:
        raise ValueError(f"opset {opset} < {MIN_OPSET} (GridSample needs opset 16)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = int(model.config.input_size)
    wrapper = ExportWrapper(model).eval()
    args = example_inputs(2 if dynamic_batch else batch, size)
    outs = output_names(model.config)
    axes = {n: {0: "batch"} for n in (*INPUT_NAMES, *outs)} if dynamic_batch else None
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", category=DeprecationWarning)  # legacy exporter notice
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            wrapper, args, str(path), dynamo=False, opset_version=opset,
            input_names=list(INPUT_NAMES), output_names=list(outs),
            dynamic_axes=axes, do_constant_folding=True,
        )
    onnx.checker.check_model(str(path))
    return path


def ort_session(path: str | Path, threads: int = 0, optimize: bool = True,
                allow_spinning: bool = True) -> Any:
    """An ONNX Runtime CPU session (all graph optimisations; ``threads`` 0 = ORT default).

    ``allow_spinning=False`` stops idle intra-op threads from busy-waiting after a run (they
    would steal the cores from whatever runs next, e.g. PyTorch in the same process).
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    if not allow_spinning:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                   else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    if threads > 0:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def compare_onnx(model: nn.Module, session: Any, batch: int, seed: int = 1
                 ) -> dict[str, float]:
    """Max |ONNX Runtime - PyTorch eval| per output on random inputs of ``batch`` samples."""
    args = example_inputs(batch, int(model.config.input_size), seed)
    with torch.no_grad():
        ref = ExportWrapper(model).eval()(*args)
    outs = output_names(model.config)
    got = session.run(list(outs), {n: a.numpy() for n, a in zip(INPUT_NAMES, args, strict=True)})
    diffs = {}
    for n, g, r in zip(outs, got, ref, strict=True):
        if g.shape != tuple(r.shape):
            raise AssertionError(f"{n}: ONNX shape {g.shape} != PyTorch {tuple(r.shape)}")
        diffs[n] = float(np.abs(g - r.numpy()).max())
    return diffs
