"""Detector boxes -> the boxes the estimator gets, and box overlap (pure functions).

Boxes are ``x0, y0, x1, y1`` pixels; an "extent" is the axis-aligned box of the 68
landmarks (:func:`head_pose_ros.geometry.box_from_landmarks`).
"""

from __future__ import annotations

import numpy as np

from head_pose_ros.geometry import LANDMARK_CROP_SCALE, detection_box_for_crop

#: Detector box -> 68-landmark extent: (larger box side / larger extent side, (box centre y -
#: extent centre y) / extent side). Medians fitted on TRAINING data, the train split of
#: ``real/aflw_crops`` (never on the AFLW2000 evaluation images; ``python -m
#: head_pose_ros.train.detector_geometry``, see ``geometry.DETECTION_CROP_SCALE``), as in
#: ``docs/results/detector_geometry.json`` (``test/test_detector_geometry.py`` compares): YuNet
#: 1.19x, centre 0.10 side above the landmark centre (2977 faces); the Haar cascade 1.16x, 0.15
#: above (2478 faces); IQRs in the file. (Formerly 1.29 /
#: -0.17 and 1.23 / -0.18, measured on the AFLW2000 subset itself.)
DETECTOR_BOX_GEOMETRY: dict[str, tuple[float, float]] = {
    "yunet": (1.19, -0.10),
    "cascade": (1.16, -0.15),
}


def landmark_extent_from_detection(boxes: np.ndarray, kind: str) -> np.ndarray:
    """Square boxes ``(M, 4)`` estimating the 68-landmark extent from detector boxes."""
    ratio, dy = DETECTOR_BOX_GEOMETRY[kind]
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    side = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) / ratio
    cx = (b[:, 0] + b[:, 2]) / 2.0
    cy = (b[:, 1] + b[:, 3]) / 2.0 - dy * side
    half = side / 2.0
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)


def estimator_box_for_extent(extent: np.ndarray) -> np.ndarray:
    """The box to hand ``HeadPoseEstimator.predict`` so that its crop
    (``geometry.crop_box_from_detection``, calibrated for YuNet boxes) is the training crop:
    LANDMARK_CROP_SCALE (1.5) x the 68-landmark ``extent`` (x0, y0, x1, y1), centred on it."""
    e = np.asarray(extent, np.float64).reshape(4)
    c = (e[:2] + e[2:]) / 2.0
    side = float(np.max(e[2:] - e[:2])) * LANDMARK_CROP_SCALE
    return detection_box_for_crop(np.array([c[0], c[1], side]))


def estimator_boxes(boxes: np.ndarray, kind: str) -> np.ndarray:
    """Detector boxes -> the boxes the estimator gets.

    YuNet boxes go as they are (the estimator's crop is calibrated for them); other detectors'
    boxes are turned into their estimated landmark extent and then into the YuNet-like box
    whose crop is 1.5 x that extent (:func:`estimator_box_for_extent`).
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    if kind == "yunet":
        return b.copy()
    ext = landmark_extent_from_detection(b, kind)
    return np.array([estimator_box_for_extent(e) for e in ext]).reshape(-1, 4)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``(len(a), len(b))`` of x0,y0,x1,y1 boxes."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
