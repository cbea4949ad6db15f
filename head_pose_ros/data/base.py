"""Base dataset: every dataset loads (image, labels) and goes through :mod:`.crop`.

Randomness is index-based and worker-safe: the augmentation of sample ``i`` in epoch ``e`` is
drawn from ``np.random.default_rng((seed, e, i))``, so results do not depend on the number of
DataLoader workers or on their order. Call :meth:`FaceDataset.set_epoch` each epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from head_pose_ros.data.crop import AugmentConfig, FaceLabels, build_sample, sample_augment
from head_pose_ros.data.flip import mirror_permutation
from head_pose_ros.topology import FaceTopology


@lru_cache(maxsize=4)
def _perm_cached(key: bytes, lm_key: bytes) -> np.ndarray:
    v = np.frombuffer(key, dtype=np.float32).reshape(-1, 3)
    lm = np.frombuffer(lm_key, dtype=np.int64)
    return mirror_permutation(v, lm)


def topology_mirror_permutation(topology: FaceTopology) -> np.ndarray:
    """Mirror permutation of ``topology`` (computed once per process)."""
    return _perm_cached(topology.vertices.astype(np.float32).tobytes(),
                        topology.landmarks68.astype(np.int64).tobytes())


def read_rgb(path: str) -> np.ndarray:
    """Read an image file as uint8 RGB (H, W, 3); raises FileNotFoundError if unreadable."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@dataclass
class RawSample:
    """What a dataset loads before cropping: the full image, the labels, extra info."""

    image: np.ndarray
    """(H, W, 3) uint8 RGB."""
    labels: FaceLabels
    name: str = ""
    box: np.ndarray | None = None
    """Crop box (cx, cy, side) to use instead of the one from the 68 landmarks, or None."""


class FaceDataset(Dataset):
    """Map-style dataset producing the sample dict of :mod:`head_pose_ros.data.crop`.

    Subclasses implement ``__len__`` and :meth:`load`.
    """

    #: whether samples carry metric 3D labels (R, T, dense mesh)
    has_3d: bool = True
    #: whether the mesh / landmark labels are real labels (False: a placeholder mesh that the
    #: loss mask switches off, e.g. rotation-only BIWI; evaluation then skips mesh metrics)
    mesh_labels: bool = True
    #: whether ``T`` is a metric label (False: a virtual camera or an approximate one; metric
    #: translation metrics are skipped in evaluation)
    metric_translation: bool = True

    def __init__(
        self,
        topology: FaceTopology,
        augment: AugmentConfig | None = None,
        *,
        out_size: int = 192,
        box_scale: float = 1.5,
        seed: int = 0,
    ) -> None:
        self.topology = topology
        self.augment = augment if augment is not None else AugmentConfig(enabled=False)
        self.out_size = int(out_size)
        self.box_scale = float(box_scale)
        self.seed = int(seed)
        self.epoch = 0
        self._perm: np.ndarray | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    @property
    def flip_perm(self) -> np.ndarray:
        if self._perm is None:
            self._perm = topology_mirror_permutation(self.topology)
        return self._perm

    def load(self, index: int) -> RawSample:  # pragma: no cover - abstract
        raise NotImplementedError

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def make_sample(self, raw: RawSample, rng: np.random.Generator | None) -> dict:
        params = sample_augment(rng, self.augment) if rng is not None else None
        need_perm = params is not None and params.flip and raw.labels.has_3d
        perm = self.flip_perm if need_perm else None
        return build_sample(
            raw.image, raw.labels, landmark_ids=self.topology.landmarks68,
            num_vertices=self.topology.num_vertices, params=params, flip_perm=perm,
            box=raw.box, out_size=self.out_size, box_scale=self.box_scale,
        )

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if index < 0:
            index += len(self)
        raw = self.load(index)
        rng = np.random.default_rng((self.seed, self.epoch, index)) if self.augment.enabled \
            else None
        return self.make_sample(raw, rng)
