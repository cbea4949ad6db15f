"""Build datasets from config entries (the loaders of :mod:`.registry`) and mix them with
weights (DDP-aware sampler)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import ConcatDataset, Sampler

from head_pose_ros.data.base import FaceDataset
from head_pose_ros.data.crop import AugmentConfig
from head_pose_ros.data.registry import (
    LoadOptions,
    load_dataset,
    spec_value,
    trainable,
    training_types,
)
from head_pose_ros.topology import FaceTopology

DATASET_TYPES = training_types()
"""The types a training config may name (:mod:`head_pose_ros.data.registry`)."""


@dataclass
class DatasetSpec:
    """One training/validation data source.

    ``type``: ``synth_stream`` (on-the-fly engine: ``preset``, ``length``, ``seed``,
    ``overrides``), ``toy`` (OpenCV-drawn template, no renderer: ``length``, ``seed``; smoke
    tests), ``synth_npz`` (``root`` = a head-pose-synth directory), ``arkitface``
    (``root``, ``split``, optional ``csv``), ``w300lp`` (``root``), ``aflw_crops`` (``root`` =
    ``real/aflw_crops``, ``labels`` = the pseudo-label file of ``head_pose_ros.teacher
    .pseudolabel``, ``split`` train / val / all, optional ``loss_mask``: 6 per-term weights of
    its teacher-fitted samples, see ``data.aflw_crops``), ``biwi_crops`` (``root`` =
    ``real/biwi_crops``, ``split`` by sequence train / val / all; rotation labels only, see
    ``data.biwi_crops``). ``weight``: relative sampling weight
    of the source in the mix (per source, not per sample). The types, their loaders and facts:
    :mod:`head_pose_ros.data.registry` (``biwi`` and ``aflw2000`` are evaluation-only).
    """

    type: str = "synth_stream"
    root: str = ""
    preset: str = "wild"
    split: str = "train"
    csv: str = ""
    length: int = 10000
    seed: int = 0
    weight: float = 1.0
    labels: str = ""
    loss_mask: list[float] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)


def build_dataset(spec: Any, topology: FaceTopology, augment: AugmentConfig | None,
                  *, out_size: int = 192, box_scale: float = 1.5, seed: int = 0) -> FaceDataset:
    """Create the training or validation dataset that ``spec`` (a :class:`DatasetSpec` or a
    mapping) describes, with the registry's loader of its type.

    Raises:
        ValueError: an unknown type, a missing root, or an evaluation-only type (``biwi``,
            ``aflw2000``: evaluation data never trains or picks a checkpoint).
    """
    trainable(str(spec_value(spec, "type")))
    return load_dataset(spec, topology, augment,
                        LoadOptions(out_size=out_size, box_scale=box_scale, seed=seed))

class MixedDataset(ConcatDataset):
    """Concatenation of sources with per-source sampling weights."""

    def __init__(self, datasets: Sequence[FaceDataset], weights: Sequence[float]) -> None:
        super().__init__(datasets)
        if len(weights) != len(datasets) or any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError("need one non-negative weight per dataset, not all zero")
        self.weights = [float(w) for w in weights]

    def set_epoch(self, epoch: int) -> None:
        for d in self.datasets:
            if hasattr(d, "set_epoch"):
                d.set_epoch(epoch)

    def sample_weights(self) -> torch.Tensor:
        """Per-sample probability: source weight / source length (sums to 1)."""
        parts = [torch.full((len(d),), w / len(d), dtype=torch.float64)
                 for d, w in zip(self.datasets, self.weights, strict=True) if len(d)]
        p = torch.cat(parts)
        return p / p.sum()

    def summary(self) -> list[dict[str, Any]]:
        return [{"type": type(d).__name__, "len": len(d), "weight": w,
                 **({"preset": d.preset} if hasattr(d, "preset") else {}),
                 **({"root": str(d.root)} if hasattr(d, "root") else {})}
                for d, w in zip(self.datasets, self.weights, strict=True)]


class WeightedDistributedSampler(Sampler[int]):
    """Weighted sampling with replacement, sharded over DDP ranks, reproducible per epoch.

    Every rank draws the same ``num_samples`` indices from ``torch.Generator`` seeded with
    ``seed + epoch`` and keeps every ``world_size``-th one starting at ``rank``.
    """

    def __init__(self, weights: torch.Tensor, num_samples: int, *, rank: int = 0,
                 world_size: int = 1, seed: int = 0) -> None:
        self.weights = weights.double()
        self.num_samples = int(num_samples)
        self.rank, self.world_size, self.seed = int(rank), int(world_size), int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.world_size)

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed + 1_000_003 * self.epoch)
        n = len(self) * self.world_size
        idx = torch.multinomial(self.weights, n, replacement=True, generator=g)
        return iter(idx[self.rank::self.world_size].tolist())
