# ruff: noqa: N806  (R, T, K: the notation of geometry.py)
"""Real in-the-wild faces: ``real/aflw_crops`` with the teacher pseudo-labels.

``ROOT/images/<name>`` (120x120 crops) + ``ROOT/labels.npz`` (AFLW's 21 hand landmarks) and the
label file of :mod:`head_pose_ros.teacher.pseudolabel` (``labels`` path). Each crop is the full
image of its sample, seen by the label file's VIRTUAL camera ``K`` (its real intrinsics are
unknown). What a sample supervises (``loss_mask`` in ``data.crop.LOSS_TERMS`` order):

* ``status`` 1 (teacher fit): R, the fitted dense mesh and its projection are pseudo labels:
  ``TEACHER_LOSS_MASK`` x the fit's quality weight. ``cam`` is OFF: the camera is virtual, so
  metric translation is not a label here (the image-space term still ties the pose to the
  crop through the box-relative translation).
* ``status`` 2 (hand landmarks only, mostly profiles the teacher missed): only the 2D terms,
  the sparse landmarks at the iBUG points AFLW shares (visible ones) and the auxiliary term.
* every kept sample: the visible hand landmarks as ``aux2d`` points on their topology vertices
  (:mod:`head_pose_ros.data.aflw21`), ear lobes down-weighted.

The label file's per-sample quality weight ``q`` (``weight``: the teacher fit's agreement with
the hand landmarks, 1 for hand-only fits) multiplies the sample's ``loss_mask``. It acts per
sample through the loss's weighted masked means; the aux2d term takes its per-sample weight
from the ``lmk2d`` column (:func:`head_pose_ros.losses.aux2d_loss`). The aux2d point weights
carry only the per-point weights (the loss normalises them within a sample, so a ``q`` there
would cancel).
Rejected crops (``status`` 0) are not in the dataset; ``kinds=(1,)`` keeps only teacher fits
(evaluation against the pseudo-labels: ``head-pose-eval --format aflw_crops``).

Split: ``split="train"`` / ``"val"`` / ``"all"``; a crop is held out (``val``) when
``crc32(name) % VAL_MODULUS == 0`` (5 %, independent of the label file's order). The held-out
crops are never trained on; they serve as pseudo-labelled real validation data.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np

from head_pose_ros.data.base import FaceDataset, RawSample, read_rgb
from head_pose_ros.data.crop import AugmentConfig, AuxPoints, FaceLabels
from head_pose_ros.data.aflw21 import (
    AFLW21_MIRROR,
    AFLW21_VERTEX,
    AFLW21_WEIGHT,
    aflw_to_ibug68,
)
from head_pose_ros.topology import FaceTopology

VAL_MODULUS = 20
TEACHER_LOSS_MASK = (0.5, 0.0, 1.0, 1.0, 1.0, 1.0)
"""head (fitted shape: a regularised guess, half weight), cam OFF, img, rot, edge, lmk2d."""
HUMAN_ONLY_LOSS_MASK = (0.0, 0.0, 0.0, 0.0, 0.0, 1.0)


def is_held_out(name: str) -> bool:
    return zlib.crc32(name.encode()) % VAL_MODULUS == 0


class AFLWCropsDataset(FaceDataset):
    """``real/aflw_crops`` + pseudo-labels (see module doc)."""

    metric_translation = False

    def __init__(self, root: str | Path, labels: str | Path, topology: FaceTopology, *,
                 split: str = "train", augment: AugmentConfig | None = None,
                 loss_mask: list[float] | None = None, kinds: tuple[int, ...] = (1, 2),
                 **kw: Any) -> None:
        super().__init__(topology, augment, **kw)
        if split not in ("train", "val", "all"):
            raise ValueError(f"split must be train, val or all, got {split!r}")
        self.root = Path(root)
        self.labels_path = Path(labels)
        if not self.labels_path.is_file():
            raise FileNotFoundError(
                f"no pseudo-label file {self.labels_path}; build it with "
                "`python -m head_pose_ros.teacher.pseudolabel --out <file>`")
        with np.load(self.labels_path) as z:
            lab = {k: z[k] for k in ("names", "status", "R", "T", "coeffs", "lm68", "weight",
                                     "pts21", "visible21", "K", "basis_mean", "basis_modes")}
        if topology.num_vertices != lab["basis_mean"].shape[0]:
            raise ValueError("pseudo-labels were fitted on another topology")
        names = [str(s) for s in lab["names"]]
        keep = np.isin(lab["status"], [k for k in kinds if k > 0])
        if split != "all":
            held = np.array([is_held_out(n) for n in names])
            keep &= held if split == "val" else ~held
        self.index = np.nonzero(keep)[0]
        if not len(self.index):
            raise ValueError(f"no usable {split} crops in {self.labels_path}")
        self.lab = lab
        self.names = names
        self.split = split
        self.teacher_mask = np.asarray(loss_mask if loss_mask else TEACHER_LOSS_MASK, np.float64)
        if self.teacher_mask.shape != (6,):
            raise ValueError(f"loss_mask needs 6 values, got {list(self.teacher_mask)}")

    def __len__(self) -> int:
        return len(self.index)

    def name(self, index: int) -> str:
        return self.names[int(self.index[index])]

    def load(self, index: int) -> RawSample:
        i = int(self.index[index])
        lab = self.lab
        img = read_rgb(str(self.root / "images" / self.names[i]))
        K = np.asarray(lab["K"], np.float64)
        vis = lab["visible21"][i].astype(bool)
        q = float(lab["weight"][i])
        aux = AuxPoints(points=lab["pts21"][i].astype(np.float64), vertex_ids=AFLW21_VERTEX,
                        weight=AFLW21_WEIGHT * vis, mirror=AFLW21_MIRROR)
        if int(lab["status"][i]) == 1:
            V = lab["basis_mean"] + np.tensordot(lab["coeffs"][i], lab["basis_modes"], axes=1)
            labels = FaceLabels(K=K, R=lab["R"][i].astype(np.float64),
                                T=lab["T"][i].astype(np.float64), vertices=V.astype(np.float64),
                                loss_mask=self.teacher_mask * q, aux=aux)
        else:
            lm68 = lab["lm68"][i].astype(np.float64).copy()
            human, mask = aflw_to_ibug68(lab["pts21"][i], vis)
            lm68[mask] = human[mask]
            labels = FaceLabels(K=K, landmarks68=lm68, landmarks68_weight=mask.astype(float),
                                loss_mask=np.asarray(HUMAN_ONLY_LOSS_MASK) * q, aux=aux)
        return RawSample(img, labels, name=self.names[i])
