"""Synthetic data: the on-disk format of ``head-pose-synth`` and the on-the-fly generator.

On-disk format (``DIR/images/`` + ``DIR/labels.npz``; one row per face, several rows may share
an image): ``files (N,)`` image file names (relative to ``DIR/images`` or ``DIR``),
``image_size (N,2)`` (W,H), ``K (N,3,3)``, ``R (N,3,3)``, ``T (N,3)`` metres,
``vertices (N,V,3)`` head frame metres, ``landmarks68 (N,68,2)`` pixels,
``landmarks68_visible (N,68)``, ``bbox (N,4)`` x0,y0,x1,y1 pixels. Optional: ``loss_mask (N,6)``
per-sample loss-term weights in ``data.crop.LOSS_TERMS`` order (e.g. ``cam`` 0 where the camera
is virtual, :mod:`head_pose_ros.data.rotate_real`); absent = all terms 1.

Crop box source: the 68 landmarks **projected from the dense mesh** (``vertices[landmarks68]``
with K, R, T) x 1.5, the same rule as for ARKitFace, so every 3D dataset is cropped alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from head_pose_ros.data.base import FaceDataset, RawSample, read_rgb
from head_pose_ros.data.crop import AugmentConfig, FaceLabels
from head_pose_ros.topology import FaceTopology

LABEL_KEYS = ("files", "image_size", "K", "R", "T", "vertices", "landmarks68",
              "landmarks68_visible", "bbox")


class SynthNpzDataset(FaceDataset):
    """``DIR/labels.npz`` + ``DIR/images`` (the format written by ``head-pose-synth``)."""

    def __init__(self, root: str | Path, topology: FaceTopology,
                 augment: AugmentConfig | None = None, **kw: Any) -> None:
        super().__init__(topology, augment, **kw)
        self.root = Path(root)
        path = self.root / "labels.npz"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found (expected a head-pose-synth directory)")
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("files", "K", "R", "T", "vertices") if k not in z]
            if missing:
                raise KeyError(f"{path} lacks keys {missing}")
            self.labels = {k: z[k] for k in z.files}
        nv = self.labels["vertices"].shape[1]
        if nv != topology.num_vertices:
            raise ValueError(f"{path}: {nv} vertices per face, topology has "
                             f"{topology.num_vertices}")

    def __len__(self) -> int:
        return len(self.labels["files"])

    def image_path(self, index: int) -> Path:
        name = str(self.labels["files"][index])
        for cand in (self.root / "images" / name, self.root / name):
            if cand.is_file():
                return cand
        return self.root / "images" / name

    def load(self, index: int) -> RawSample:
        L = self.labels
        mask = L["loss_mask"][index].astype(np.float64) if "loss_mask" in L else None
        labels = FaceLabels(K=L["K"][index].astype(np.float64), R=L["R"][index].astype(np.float64),
                            T=L["T"][index].astype(np.float64),
                            vertices=L["vertices"][index].astype(np.float64), loss_mask=mask)
        return RawSample(read_rgb(str(self.image_path(index))), labels,
                         name=str(L["files"][index]))


def make_generator(preset: str, seed: int, overrides: dict[str, Any] | None = None):
    """The synth engine's on-the-fly generator (``generate(index) -> dict``, BGR image)."""
    from head_pose_ros.synth.sampler import SyntheticFaceGenerator
    from head_pose_ros.synth.sampler import preset as synth_preset

    ov = {k: (tuple(v) if isinstance(v, list) else v) for k, v in (overrides or {}).items()}
    return SyntheticFaceGenerator(synth_preset(preset, seed=int(seed), **ov))


class SynthStreamDataset(FaceDataset):
    """Synthetic faces rendered on the fly (map-style, index-based seeds, worker-safe).

    Item ``i`` of epoch ``e`` renders generator index ``e * length + i`` with the dataset's seed,
    so every epoch sees new people and the stream is reproducible. The renderer is created lazily
    in each DataLoader worker (OpenGL contexts cannot cross ``fork``). ``overrides`` are
    :class:`head_pose_ros.synth.sampler.SynthConfig` fields. With ``crop_mode: true`` the engine
    renders only a square around the face (faster); that crop is used as the "full image" with
    its own intrinsics ``K_crop``: the network inputs (K_crop, bbox_info, correction) are
    invariant to that similarity transform of the pixel frame, so labels stay exact (use a
    ``crop_scale`` of ~1.9 so that jitter/rotation stay inside the rendered area).
    """

    def __init__(self, preset: str, topology: FaceTopology, *, seed: int = 0, length: int = 10000,
                 augment: AugmentConfig | None = None, overrides: dict[str, Any] | None = None,
                 **kw: Any) -> None:
        super().__init__(topology, augment, seed=seed, **kw)
        self.preset = preset
        self.length = int(length)
        self.overrides = dict(overrides or {})
        self._gen = None

    def __len__(self) -> int:
        return self.length

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_gen"] = None
        return state

    @property
    def generator(self):
        if self._gen is None:
            self._gen = make_generator(self.preset, self.seed, self.overrides)
        return self._gen

    def load(self, index: int) -> RawSample:
        d = self.generator.generate(self.epoch * self.length + index)
        K = d["K_crop"] if "K_crop" in d else d["K"]
        labels = FaceLabels(K=np.asarray(K, np.float64), R=np.asarray(d["R"], np.float64),
                            T=np.asarray(d["T"], np.float64),
                            vertices=np.asarray(d["vertices"], np.float64))
        img = np.ascontiguousarray(np.asarray(d["image"])[..., ::-1])  # engine gives BGR
        return RawSample(img, labels, name=f"{self.preset}:{self.seed}:{index}")


class ToyDataset(FaceDataset):
    """CPU-cheap stand-in for the renderer (smoke tests, CI): the posed template drawn with
    OpenCV (:func:`head_pose_ros.model.toy.render_image`) into a ``width`` x ``height`` image
    with random intrinsics and pose. Index-based seeds like :class:`SynthStreamDataset`."""

    def __init__(self, topology: FaceTopology, *, seed: int = 0, length: int = 1000,
                 width: int = 320, height: int = 240, augment: AugmentConfig | None = None,
                 **kw: Any) -> None:
        super().__init__(topology, augment, seed=seed, **kw)
        self.length, self.width, self.height = int(length), int(width), int(height)
        self.preset = "toy"

    def __len__(self) -> int:
        return self.length

    def load(self, index: int) -> RawSample:
        from head_pose_ros.model.toy import random_intrinsics, random_pose, render_image

        rng = np.random.default_rng((self.seed, 7, self.epoch * self.length + index))
        K = random_intrinsics(rng, self.width, self.height)
        R, T = random_pose(rng)
        T = T * np.array([0.3, 0.3, 1.0]) + np.array([0.0, 0.0, 0.2])  # keep the face in view
        img = render_image(self.topology, R, T, K, self.width, self.height)[..., ::-1].copy()
        V = self.topology.vertices.astype(np.float64)
        return RawSample(img, FaceLabels(K=K, R=R, T=T, vertices=V), name=f"toy:{index}")
