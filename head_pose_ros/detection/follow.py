"""Following faces from frame to frame without the detector: boxes for the next frame from
the landmarks of this one, moved by the face's motion (pure numpy, no ROS).

Conventions: boxes ``x0, y0, x1, y1`` and landmarks in pixels of the image; a landmark
"extent" is :func:`head_pose_ros.geometry.box_from_landmarks` of the 68 landmarks.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from head_pose_ros.detection.base import FaceDetections
from head_pose_ros.detection.boxes import estimator_box_for_extent
from head_pose_ros.geometry import box_from_landmarks

#: landmark fit above which a followed face counts as lost (:func:`landmark_fit`): the median
#: distance between the model's two sets of 68 landmarks, as a fraction of the extent's larger
#: side. Chosen from the distributions ``python -m head_pose_ros.bench.following`` records on
#: the rendered sequences (synthetic, training-like; docs/results/bench/following.json): faces
#: p50 0.029, p99 0.046; face-sized crops of the background p1 0.083, p5 0.101, p50 0.156. At
#: 0.10, 95 % of background crops are dropped and 0.3 % of face frames cost one early detector
#: run.
DEFAULT_MAX_FIT = 0.10


def landmark_fit(heatmap: np.ndarray, model: np.ndarray) -> float:
    """How well the model's two landmark outputs agree on one face: median over the 68
    landmarks of ``|heatmap_i - model_i|`` divided by the larger side of ``model``'s extent.

    ``heatmap``: (68, 2) pixels from the heatmaps (``FaceEstimate.landmarks68``); ``model``:
    (68, 2) pixels of the 3D landmarks projected with the camera. Both agree on a face (a few
    percent of its size) and drift apart on a crop with no face in it. ``inf`` if not finite.
    """
    a = np.asarray(heatmap, np.float64).reshape(-1, 2)
    b = np.asarray(model, np.float64).reshape(-1, 2)
    if a.shape != b.shape or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return float("inf")
    ext = box_from_landmarks(b)
    side = max(float(ext[2] - ext[0]), float(ext[3] - ext[1]), 1e-9)
    return float(np.median(np.linalg.norm(a - b, axis=1)) / side)


def predict_extent(extent: np.ndarray, previous: np.ndarray | None, gain: float = 1.0
                   ) -> np.ndarray:
    """The landmark extent expected in the next frame: ``extent`` moved on by ``gain`` x its
    motion since ``previous`` (constant velocity of the centre, constant ratio of the side;
    ``previous`` None: no motion). Boxes x0, y0, x1, y1 in pixels."""
    e = np.asarray(extent, np.float64).reshape(4)
    if previous is None or gain == 0.0:
        return e.copy()
    p = np.asarray(previous, np.float64).reshape(4)
    c, cp = (e[:2] + e[2:]) / 2.0, (p[:2] + p[2:]) / 2.0
    s, sp = float(np.max(e[2:] - e[:2])), float(np.max(p[2:] - p[:2]))
    ratio = (s / sp) ** gain if sp > 0 and s > 0 else 1.0
    ratio = float(np.clip(ratio, 0.8, 1.25))
    c2 = c + gain * (c - cp)
    half = (e[2:] - e[:2]) / 2.0 * ratio
    return np.concatenate([c2 - half, c2 + half])


class LandmarkFollower:
    """Boxes for frame t+1 from the landmarks predicted on frame t.

    The stored boxes are estimator boxes (:func:`estimator_box_for_extent` of the landmark
    extent, moved on by the face's motion when the face has the same ``key``, e.g. its track
    id, as in the frame before: :func:`predict_extent`); the estimator then crops 1.5 x the
    extent, centred on it. A followed face is dropped (:attr:`lost` counts them; the scheduler
    then runs the detector on the next frame) when its landmark extent becomes smaller than
    ``min_size`` pixels, leaves the image, is not finite, its score is below ``min_score``, or
    its landmark fit (:func:`landmark_fit`, given to :meth:`update`) exceeds ``max_fit``.

    Args:
        motion_gain: fraction of the last frame-to-frame motion added (0: the box of the last
            landmarks as they are).
    """

    def __init__(self, min_size: float = 16.0, min_score: float = 0.0,
                 max_fit: float = DEFAULT_MAX_FIT, motion_gain: float = 1.0) -> None:
        self.min_size = float(min_size)
        self.min_score = float(min_score)
        self.max_fit = float(max_fit)
        self.motion_gain = float(motion_gain)
        #: faces dropped by the last :meth:`update` (not counting faces that left the image)
        self.lost = 0
        self._boxes = np.zeros((0, 4))
        self._scores = np.zeros((0,))
        self._extents: dict[Hashable, np.ndarray] = {}

    def reset(self) -> None:
        self._boxes = np.zeros((0, 4))
        self._scores = np.zeros((0,))
        self._extents = {}
        self.lost = 0

    def update(self, landmarks: list[np.ndarray] | np.ndarray, scores: np.ndarray | None,
               image_size: tuple[int, int], fits: Sequence[float] | None = None,
               keys: Sequence[Hashable | None] | None = None) -> None:
        """Store boxes from the landmarks ``(M, 68, 2)`` of the current frame (``(W, H)``),
        with each face's landmark fit and key (None: not known, no motion used)."""
        w, h = image_size
        lms = np.asarray(landmarks, np.float64).reshape(-1, 68, 2)
        n = len(lms)
        sc = np.ones(n) if scores is None else np.asarray(scores, np.float64).reshape(-1)
        fit = np.zeros(n) if fits is None else np.asarray(fits, np.float64).reshape(-1)
        key = [None] * n if keys is None else list(keys)
        boxes, keep_scores, extents = [], [], {}
        self.lost = 0
        for lm, s, f, k in zip(lms, sc, fit, key, strict=True):
            if not np.all(np.isfinite(lm)) or s < self.min_score or not f <= self.max_fit:
                self.lost += 1
                continue
            ext = box_from_landmarks(lm)
            side = max(ext[2] - ext[0], ext[3] - ext[1])
            inside = ext[2] > 0 and ext[3] > 0 and ext[0] < w and ext[1] < h
            if side < self.min_size or not inside:
                self.lost += int(inside)
                continue
            nxt = predict_extent(ext, self._extents.get(k) if k is not None else None,
                                 self.motion_gain)
            if k is not None:
                extents[k] = ext
            boxes.append(estimator_box_for_extent(nxt))
            keep_scores.append(s)
        self._boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        self._scores = np.asarray(keep_scores, np.float64)
        self._extents = extents

    def detections(self) -> FaceDetections:
        return FaceDetections(self._boxes.copy(), self._scores.copy(), None)

    def __len__(self) -> int:
        return int(self._boxes.shape[0])
