"""TRG checkpoints: safetensors tensors + JSON metadata (no pickle).

File layout (one ``.safetensors`` file):

* tensors: the model's ``state_dict()`` (parameters, BN statistics and the topology / initial
  state buffers ``template``, ``triangles``, ``landmark_ids``, ``subsample_ids``, ``init_*``,
  ``grid``), so a checkpoint is self-contained;
* safetensors metadata (str -> str): ``format`` = ``"head_pose_ros.trg"``,
  ``format_version``, ``package_version``, ``topology_name``, ``dtype``, ``config`` (JSON of
  :class:`~head_pose_ros.model.config.ModelConfig`) and ``meta`` (JSON: anything the caller
  passes, e.g. ``training`` data summary, ``covariance`` calibration constants, metrics).

:func:`load_checkpoint` rebuilds the model from the stored config and topology and refuses a
file that is missing, not safetensors, not a TRG checkpoint, has missing / unexpected keys,
mismatched shapes or non-finite values, raising :class:`CheckpointError` with the reason.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from head_pose_ros import __version__
from head_pose_ros.model.config import ModelConfig
from head_pose_ros.model.trg import TRG
from head_pose_ros.topology import FaceTopology

FORMAT = "head_pose_ros.trg"
FORMAT_VERSION = "1"
# buffers kept in float32 when saving in fp16 (geometry must not lose precision)
_KEEP_FP32 = ("template", "init_rot6d", "init_correction", "grid")


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be used (message names the file and the problem)."""


def save_checkpoint(
    path: str | os.PathLike,
    model: TRG,
    meta: dict[str, Any] | None = None,
    fp16: bool = False,
) -> Path:
    """Write ``model`` (weights, topology, config) and ``meta`` to ``path`` (.safetensors).

    Args:
        meta: JSON-serialisable dict (e.g. ``{"training": {...}, "covariance": {...}}``).
        fp16: store floating parameters / statistics as float16 (topology buffers stay float32);
            :func:`load_checkpoint` returns a float32 model either way.
    Returns:
        The path written. Writes to a temporary file first, then renames (atomic).
    """
    from safetensors.torch import save_file

    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    for k, v in model.state_dict().items():
        t = v.detach().cpu()
        if fp16 and t.is_floating_point() and k not in _KEEP_FP32:
            t = t.half()
        tensors[k] = t.contiguous()
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "topology_name": model.topology_name,
        "dtype": "float16" if fp16 else "float32",
        "config": json.dumps(model.config.to_dict(), sort_keys=True),
        "meta": json.dumps(meta or {}, sort_keys=True),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, os.fspath(tmp), metadata=metadata)
    os.replace(tmp, path)
    return path


def read_checkpoint_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Header only (cheap): format info, ``config`` (dict), ``meta`` (dict)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with safe_open(os.fspath(path), framework="pt") as f:
            raw = f.metadata() or {}
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"checkpoint {path} is not a readable safetensors file: {e}") from e
    if raw.get("format") != FORMAT:
        raise CheckpointError(
            f"checkpoint {path} is not a head_pose_ros TRG checkpoint "
            f"(metadata format={raw.get('format')!r}, expected {FORMAT!r})"
        )
    if raw.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format_version {raw.get('format_version')!r}; this package "
            f"reads version {FORMAT_VERSION}"
        )
    try:
        config = json.loads(raw["config"])
        meta = json.loads(raw.get("meta", "{}"))
    except (KeyError, json.JSONDecodeError) as e:
        raise CheckpointError(f"checkpoint {path} has corrupt JSON metadata: {e}") from e
    return {
        "format": raw["format"],
        "format_version": raw["format_version"],
        "package_version": raw.get("package_version"),
        "topology_name": raw.get("topology_name", "unknown"),
        "dtype": raw.get("dtype", "float32"),
        "config": config,
        "meta": meta,
    }


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(os.fspath(path), device="cpu")
    except Exception as e:
        raise CheckpointError(f"checkpoint {path} is corrupt (cannot read tensors): {e}") from e


def _check_state(path: Path, model: TRG, tensors: dict[str, torch.Tensor],
                 missing_ok: tuple[str, ...] = ()) -> dict:
    own = model.state_dict()
    missing = sorted(k for k in set(own) - set(tensors) if not k.startswith(missing_ok))
    unexpected = sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {path} does not match the model built from its config: "
            f"missing keys {missing[:8]}{'...' if len(missing) > 8 else ''}, "
            f"unexpected keys {unexpected[:8]}{'...' if len(unexpected) > 8 else ''}"
        )
    bad = [
        f"{k}: file {tuple(tensors[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if k in tensors and tuple(tensors[k].shape) != tuple(v.shape)
    ]
    if bad:
        raise CheckpointError(f"checkpoint {path} has mismatched shapes: {bad[:8]}")
    nonfinite = [k for k, t in tensors.items() if t.is_floating_point() and
                 not bool(torch.isfinite(t).all())]
    if nonfinite:
        raise CheckpointError(f"checkpoint {path} has non-finite values in {nonfinite[:8]}")
    return {k: t.to(own[k].dtype) for k, t in tensors.items()}


def load_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[TRG, dict[str, Any]]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Returns:
        ``(model, info)``: the float32 model in eval mode on ``device`` (topology from the
        file), and ``info`` = :func:`read_checkpoint_metadata` output (``config``, ``meta`` with
        e.g. ``training`` / ``covariance``, versions).
    Raises:
        CheckpointError: missing, corrupt, foreign or mismatched file (message says which).
    """
    path = Path(path)
    info = read_checkpoint_metadata(path)
    try:
        config = ModelConfig.from_dict(info["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} has an invalid model config: {e}") from e
    tensors = _load_tensors(path)
    try:
        topology = FaceTopology.from_arrays(
            {
                "topology.vertices": tensors["template"],
                "topology.triangles": tensors["triangles"],
                "topology.landmarks68": tensors["landmark_ids"],
                "topology.subsample": tensors["subsample_ids"],
            },
            name=info["topology_name"],
        )
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} has no valid topology: {e}") from e
    model = TRG(config, topology)
    state = _check_state(path, model, tensors)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model.to(device), info


NEW_HEADS: tuple[str, ...] = ("uncertainty.",)
"""Modules a fine-tune may start without (they keep their initialisation): the rotation
uncertainty head, so a model without it can seed one with it."""


def load_weights_into(model: TRG, path: str | os.PathLike,
                      allow_new_heads: bool = False) -> dict[str, Any]:
    """Load a checkpoint's tensors into an existing model (same config and topology), e.g. to
    fine-tune. Refuses mismatches like :func:`load_checkpoint`; with ``allow_new_heads`` the
    modules of :data:`NEW_HEADS` may be absent from the file (fine-tuning a model that gains
    the uncertainty head). Returns the metadata."""
    path = Path(path)
    info = read_checkpoint_metadata(path)
    state = _check_state(path, model, _load_tensors(path),
                         missing_ok=NEW_HEADS if allow_new_heads else ())
    model.load_state_dict(state, strict=not allow_new_heads)
    return info
