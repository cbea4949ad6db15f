"""The one training configuration: OmegaConf structured configs (dataclasses) + YAML + CLI.

Resolution order (later wins): the dataclass defaults below -> the YAML file(s) (each may name a
``_base_`` YAML, path relative to itself, merged first; several files merge in order) ->
``key=value`` dotted command-line overrides (``run.epochs=2 model.num_iterations=1
data.train.0.preset=selfie``). Unknown keys and wrongly typed values are errors. The merged
result is written as ``config.yaml`` next to the checkpoints of every run and stored in each
checkpoint's metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from head_pose_ros.data.crop import AugmentConfig
from head_pose_ros.data.factory import DatasetSpec
from head_pose_ros.losses import LossWeights
from head_pose_ros.model.config import ModelConfig


def _default_train() -> list[DatasetSpec]:
    return [DatasetSpec(type="synth_stream", preset="wild", length=100_000)]


def _default_val() -> list[DatasetSpec]:
    return [DatasetSpec(type="synth_stream", preset="wild", length=512, seed=10_000_000)]


@dataclass
class DataConfig:
    """Training / validation data. ``val`` sets are evaluated without augmentation."""

    train: list[DatasetSpec] = field(default_factory=_default_train)
    val: list[DatasetSpec] = field(default_factory=_default_val)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    box_scale: float = 1.5
    """Crop side / larger side of the 68-landmark extent."""
    samples_per_epoch: int = 0
    """Samples drawn (weighted, with replacement) per epoch; 0 = total length of the sources."""
    topology: str = ""
    """Directory of the ARKit 1220 topology ("" = $HEAD_POSE_SHARED_DATA or ../shared/data)."""


@dataclass
class OptimConfig:
    """Adam; the learning rate drops by ``lr_gamma`` after ``lr_drop_fraction`` of the epochs."""

    lr: float = 1e-4
    weight_decay: float = 0.0
    lr_drop_fraction: float = 2.0 / 3.0
    lr_gamma: float = 0.1
    grad_clip: float = 0.0
    """Max gradient norm (0 = off)."""


@dataclass
class RunConfig:
    out_dir: str = "runs/default"
    seed: int = 0
    epochs: int = 30
    max_steps: int = 0
    """Stop after this many optimizer steps (0 = run all epochs)."""
    batch_size: int = 64
    """Per process (DDP: per GPU)."""
    workers: int = 4
    amp: str = "auto"
    """auto (bf16 on CUDA if supported, else fp16; off on CPU), bf16, fp16, off."""
    channels_last: bool = False
    """Model weights and input images in channels-last memory format (CPU: 1.17x and 1.27x
    steps/s in two runs on the stage-6 model, ``python -m head_pose_ros.bench.train_step``);
    the numbers are the same."""
    device: str = "auto"
    """auto (cuda if available), cuda, cuda:N, cpu."""
    log_every: int = 20
    image_every: int = 500
    val_every: int = 0
    """Validate every N steps (0 = at the end of each epoch only)."""
    ckpt_every: int = 1000
    resume: bool = True
    """Resume from ``out_dir/last.safetensors`` + ``last_state.pt`` when they exist."""
    init_weights: str = ""
    """Start from these TRG weights (fine-tuning; ignored when resuming)."""
    backbone_weights: str = ""
    """torchvision ``resnet18-f37072fd.pth`` (ImageNet) for the backbone, if available."""
    val_batches: int = 0
    """Limit validation batches per set (0 = all)."""
    progress: bool = True


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    run: RunConfig = field(default_factory=RunConfig)


def _load_yaml(path: Path, depth: int = 0) -> DictConfig:
    if depth > 8:
        raise ValueError(f"{path}: _base_ chain too deep")
    cfg = OmegaConf.load(path)
    if not isinstance(cfg, DictConfig):
        raise ValueError(f"{path}: top level must be a mapping")
    base = cfg.pop("_base_", None)
    if base:
        parent = _load_yaml((path.parent / str(base)).resolve(), depth + 1)
        cfg = OmegaConf.merge(parent, cfg)
    return cfg


def load_config(path: str | Path | Sequence[str | Path] | None = None,
                overrides: Sequence[str] = ()) -> DictConfig:
    """Defaults <- YAML file(s) (each with its ``_base_``, merged in the order given) <- dotted
    ``key=value`` overrides; validated. Lists (e.g. ``data.train``) are replaced, not merged.

    Returns the typed OmegaConf object (use :func:`to_object` for the dataclasses).
    """
    cfg = OmegaConf.structured(TrainConfig)
    paths = [path] if isinstance(path, (str, Path)) else list(path or [])
    for p in paths:
        cfg = OmegaConf.merge(cfg, _load_yaml(Path(p)))
    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise ValueError(f"overrides must be key=value, got {bad}")
    for o in overrides:
        key, value = o.split("=", 1)
        # OmegaConf.update understands list indices (data.train.0.preset=selfie)
        OmegaConf.update(cfg, key.strip(), yaml.safe_load(value) if value.strip() else "",
                         merge=True)
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ValueError(f"mandatory config values not set (???): {missing}")
    to_object(cfg)  # validates (ModelConfig.__post_init__ etc.)
    return cfg


def to_object(cfg: DictConfig) -> TrainConfig:
    obj = OmegaConf.to_object(cfg)
    assert isinstance(obj, TrainConfig)
    return obj


def save_config(cfg: DictConfig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, path)
    return path


def run_config_file(path: str | Path) -> Path:
    """A run directory -> the ``config.yaml`` the trainer wrote there; a YAML file -> itself."""
    p = Path(path)
    p = p / "config.yaml" if p.is_dir() else p
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no training config (a run directory holds config.yaml)")
    return p


def config_dict(cfg: DictConfig) -> dict[str, Any]:
    """Plain JSON-able dict of the config (for checkpoint metadata)."""
    d = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(d, dict)
    return d
