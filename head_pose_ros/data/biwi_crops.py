# ruff: noqa: N806  (R, T, K: the notation of geometry.py)
"""Real faces with true 3D rotation labels: ``real/biwi_crops`` (BIWI Kinect Head Pose).

``ROOT/images/<seq>_frame_NNNNN.jpg`` (dlib face boxes cut from 640x480 frames, 109-144 px) +
``ROOT/labels.npz`` (``names``, ``seq``, ``R``, ``K_approx``, ``head_centre_mm``, ...; see the
folder's README). What a sample supervises: **rotation only** (``ROTATION_ONLY_LOSS_MASK``): the
labels have no face mesh, no landmarks and no usable metric translation (``head_centre_mm`` is
not the head-frame origin and ``K_approx`` is derived from it). ``R`` is stored in the package's
convention (``x_cam = R x_head + T``, OpenCV camera frame, identity = facing the camera); that
convention was re-checked here against the shipped model (``head-pose-eval --format biwi_crops``
prints the median geodesic error; see docs/RESULTS.md).

Crop box. Each image is the whole dlib box. :data:`DLIB_BOX_GEOMETRY` maps it onto the crop the
node would take of the same face (YuNet box -> ``geometry.crop_box_from_detection``):
``side = ratio x W``, centre shifted by ``(dx, dy) x W``. The constants were measured by
:mod:`head_pose_ros.train.biwi_box` on the TRAINING sequences only (written to
``docs/results/biwi_box.json``, which a test compares them with). Parts of that box outside the
image are black, as in every training crop that leaves its image.

Split by sequence (:data:`VAL_SEQUENCES`), people recorded twice on one side
(:data:`SAME_PERSON`): ``split="train"`` / ``"val"`` / ``"all"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from head_pose_ros.data.base import FaceDataset, RawSample, read_rgb
from head_pose_ros.data.crop import AugmentConfig, FaceLabels
from head_pose_ros.topology import FaceTopology

VAL_SEQUENCES: tuple[str, ...] = ("10", "14", "20", "23")
"""Held-out sequences (4 of 18, 2481 crops): chosen once, before any result, to span the yaw
range (10: mean |yaw| 28 deg, 14: 36, 20: 16, 23: 21) and to keep 20 + 23 (one person)
together."""
SAME_PERSON: tuple[tuple[str, ...], ...] = (("07", "22"), ("20", "23"))
"""Sequences that look like the same person (the folder's README): kept on one side."""
ROTATION_ONLY_LOSS_MASK = (0.0, 0.0, 0.0, 1.0, 0.0, 0.0)
"""head, cam, img OFF (no mesh, no metric label), rot ON, edge, lmk2d OFF."""
DLIB_BOX_GEOMETRY: dict[str, float] = {"ratio": 1.068, "dx": 0.0374, "dy": 0.0753}
"""dlib box (the crop image, side W) -> the node's crop box: side ``ratio x W``, centre
``(W-1)/2 + (dx, dy) x W``; medians measured by ``python -m head_pose_ros.train.biwi_box``
(YuNet on 2000 crops of the training sequences; docs/results/biwi_box.json; measured with
``geometry.DETECTION_CROP_OFFSET_Y`` = 0.085, the value before its re-fit to 0.084: 0.001 of a
box side, below a pixel here, so stage 6 was trained with these and they are kept)."""


def check_split(val: tuple[str, ...] = VAL_SEQUENCES) -> None:
    """Raise ValueError if a person's sequences fall on both sides of the split."""
    for group in SAME_PERSON:
        sides = {s in val for s in group}
        if len(sides) > 1:
            raise ValueError(f"sequences {group} are one person: keep them on one side")


def crop_box(width: int, height: int, geometry: dict[str, float] | None = None) -> np.ndarray:
    """Training crop box ``(cx, cy, side)`` (crop pixels) of a dlib crop of ``width x height``."""
    g = DLIB_BOX_GEOMETRY if geometry is None else geometry
    w = float(max(width, height))
    return np.array([(width - 1) / 2.0 + g["dx"] * w, (height - 1) / 2.0 + g["dy"] * w,
                     g["ratio"] * w])


class BIWICropsDataset(FaceDataset):
    """``real/biwi_crops`` (see module doc): rotation labels, one crop per sample."""

    mesh_labels = False
    metric_translation = False

    def __init__(self, root: str | Path, topology: FaceTopology, *, split: str = "train",
                 augment: AugmentConfig | None = None, loss_mask: list[float] | None = None,
                 box_geometry: dict[str, float] | None = None, **kw: Any) -> None:
        super().__init__(topology, augment, **kw)
        if split not in ("train", "val", "all"):
            raise ValueError(f"split must be train, val or all, got {split!r}")
        check_split()
        self.root = Path(root)
        path = self.root / "labels.npz"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found (expected real/biwi_crops)")
        with np.load(path) as z:
            self.lab = {k: z[k] for k in ("names", "seq", "R", "K_approx", "head_centre_mm",
                                          "crop_size", "pitch_yaw_roll_deg")}
        seq = self.lab["seq"].astype(str)
        keep = np.ones(len(seq), bool) if split == "all" else (
            np.isin(seq, VAL_SEQUENCES) == (split == "val"))
        self.index = np.nonzero(keep)[0]
        if not len(self.index):
            raise ValueError(f"no {split} crops in {path}")
        self.split = split
        self.mask = np.asarray(loss_mask if loss_mask else ROTATION_ONLY_LOSS_MASK, np.float64)
        if self.mask.shape != (6,):
            raise ValueError(f"loss_mask needs 6 values, got {list(self.mask)}")
        self.box_geometry = box_geometry

    def __len__(self) -> int:
        return len(self.index)

    def name(self, index: int) -> str:
        return str(self.lab["names"][int(self.index[index])])

    def sequence(self, index: int) -> str:
        return str(self.lab["seq"][int(self.index[index])])

    def load(self, index: int) -> RawSample:
        i = int(self.index[index])
        lab = self.lab
        name = str(lab["names"][i])
        img = read_rgb(str(self.root / "images" / name))
        h, w = img.shape[:2]
        # T: the labelled head centre (metres). Only the box-relative bookkeeping of the crop
        # uses it; no loss term does (the mask turns every translation term off).
        labels = FaceLabels(K=lab["K_approx"][i].astype(np.float64),
                            R=lab["R"][i].astype(np.float64),
                            T=lab["head_centre_mm"][i].astype(np.float64) / 1000.0,
                            vertices=self.topology.vertices.astype(np.float64),
                            loss_mask=self.mask.copy())
        return RawSample(img, labels, name=name, box=crop_box(w, h, self.box_geometry))
