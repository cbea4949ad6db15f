# ruff: noqa: N806  (R: the notation of geometry.py)
"""AFLW2000-3D rotation protocol (docs/CONVENTIONS.md), shared by the peers and usable for any
model.

Labels: ``Pose_Para[0, :3] = (pitch, yaw, roll)`` radians. The label rotation
``R3 = (Rz(roll) @ Ry(yaw) @ Rx(pitch)).T`` maps the 3DMM face frame (x to the subject's left,
y up, z out of the face) to a camera with x right, y UP, z towards the viewer. Our pose (OpenCV
optical camera frame, head frame x to the left ear, y to the chin, z into the head) is
``R = D @ R3 @ D`` with ``D = diag(1, -1, -1)``
(:func:`head_pose_ros.geometry.aflw_label_to_rotation`), and a predicted ``R`` is decomposed back
to (yaw, pitch, roll) with the HopeNet/6DRepNet atan2 formulas
(:func:`head_pose_ros.geometry.rotation_to_euler_ypr` with ``convention="aflw"``).

Protocol: drop samples with any ``|angle| > 99`` degrees; report MAE per angle (differences
wrapped to +-180), their mean ``MAE_r`` and the geodesic error ``GE``, in degrees. A face that a
method misses is an error, not a dropped sample: it is scored as the prediction
``(yaw, pitch, roll) = (0, 0, 0)``, i.e. ``R = I``. Both the "detected faces only" and the
"misses as (0,0,0)" figures are reported.

This is a torch-free label reader on purpose (the peers run in a venv with mediapipe and without
torch); the training/evaluation code reads the same files with
``head_pose_ros.data.public.AFLW2000Dataset`` (torch), and ``test/test_peers.py`` checks that both
keep the same samples with the same rotations. Conventions and metrics are the shared ones
(``geometry.aflw_label_to_rotation``, ``train.metrics.rotation_errors_deg``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from head_pose_ros.geometry import aflw_label_to_rotation, rotation_to_euler_ypr
from head_pose_ros.metrics import rotation_errors_deg, rotation_summary

MAX_ABS_ANGLE_DEG = 99.0
"""HopeNet/6DRepNet filter: samples with any label angle beyond this are dropped."""


@dataclass(frozen=True)
class AflwSample:
    """One AFLW2000-3D image with its pose label (radians) and our rotation ``R`` (3, 3)."""

    name: str
    image_path: Path
    pitch: float
    yaw: float
    roll: float
    R: np.ndarray  # noqa: N815

    @property
    def ypr_deg(self) -> np.ndarray:
        """Label (yaw, pitch, roll) in degrees."""
        return np.degrees([self.yaw, self.pitch, self.roll])


def _data_dir(root: Path) -> Path:
    root = Path(root)
    for cand in (root, root / "data"):
        if (cand / "MAT").is_dir() and (cand / "JPEG").is_dir():
            return cand
    raise FileNotFoundError(f"no AFLW2000 MAT/ and JPEG/ folders under {root}")


def load_aflw2000(root: str | Path, keep_all: bool = False) -> list[AflwSample]:
    """Load the labels of an AFLW2000-3D folder (``<root>[/data]/{JPEG,MAT}``), sorted by name.

    With ``keep_all=False`` (default) the protocol's ``|angle| > 99`` deg samples are dropped.
    """
    from scipy.io import loadmat

    d = _data_dir(Path(root))
    out: list[AflwSample] = []
    for mat in sorted((d / "MAT").glob("*.mat")):
        img = d / "JPEG" / (mat.stem + ".jpg")
        if not img.is_file():
            continue
        pitch, yaw, roll = (float(v) for v in loadmat(str(mat))["Pose_Para"][0, :3])
        if not keep_all and max(abs(np.degrees([pitch, yaw, roll]))) > MAX_ABS_ANGLE_DEG:
            continue
        out.append(AflwSample(mat.stem, img, pitch, yaw, roll,
                              aflw_label_to_rotation(pitch, yaw, roll)))
    if not out:
        raise FileNotFoundError(f"no AFLW2000 samples found under {d}")
    return out


def label_round_trip_error(samples: Sequence[AflwSample]) -> float:
    """Max |decompose(R) - label| in radians over ``samples`` (protocol self-check, ~1e-15)."""
    R = np.stack([s.R for s in samples])
    ypr = rotation_to_euler_ypr(R, convention="aflw")
    lab = np.array([[s.yaw, s.pitch, s.roll] for s in samples])
    return float(np.abs(ypr - lab).max())


def evaluate_rotations(
    samples: Sequence[AflwSample], R_pred: Sequence[np.ndarray | None]
) -> dict[str, Any]:
    """Score predicted rotations (our convention; ``None`` = missed face) against the AFLW2000
    labels with the protocol's Euler angles (:func:`score_rotations`, ``convention="aflw"``)."""
    if len(samples) != len(R_pred):
        raise ValueError("samples and predictions differ in length")
    return score_rotations(np.stack([s.R for s in samples]), R_pred,
                           [s.name for s in samples], convention="aflw")


def score_rotations(
    R_gt: np.ndarray, R_pred: Sequence[np.ndarray | None], names: Sequence[str],
    convention: str = "aflw",
) -> dict[str, Any]:
    """Score predicted rotations (``None`` = missed face) against ground-truth rotations (N, 3, 3),
    Euler angles of ``convention`` (:func:`head_pose_ros.geometry.rotation_to_euler_ypr`).

    Returns ``{"detected": {...}, "misses_as_zero": {...}, "n": N, "n_detected": M,
    "missed": [names]}``; each inner dict is a
    :func:`head_pose_ros.metrics.rotation_summary`: ``mae_yaw, mae_pitch, mae_roll, mae_r,
    ge``, the mean signed errors ``bias_*`` and head-frame offsets ``frame_offset_*`` in
    degrees, and ``n``.
    """
    if not len(R_gt) == len(R_pred) == len(names):
        raise ValueError("ground truth, predictions and names differ in length")
    R_gt = np.asarray(R_gt, np.float64).reshape(-1, 3, 3)
    hit = np.array([r is not None for r in R_pred])
    R_all = np.stack([np.eye(3) if r is None else np.asarray(r, np.float64) for r in R_pred])

    def summary(mask: np.ndarray) -> dict[str, Any]:
        return rotation_summary(rotation_errors_deg(R_all[mask], R_gt[mask], convention)
                                if mask.any() else None)

    return {
        "detected": summary(hit),
        "misses_as_zero": summary(np.ones_like(hit)),
        "n": len(R_gt),
        "n_detected": int(hit.sum()),
        "missed": [n for n, h in zip(names, hit, strict=True) if not h],
    }
