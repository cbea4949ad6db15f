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

#: bounds of a learnt crop correction (:func:`crop_correction`): the size ratio and the centre
#: shift in box sides. Safety bounds against one bad estimate, not fitted: the measured ratio
#: YuNet / followed lies in 1.00-1.14 for 80 % of faces (scripts/follow_crop_scale.py).
CORRECTION_RATIO_BOUNDS = (0.8, 1.25)
CORRECTION_SHIFT_BOUND = 0.25


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


def crop_correction(detector_box: np.ndarray, followed_box: np.ndarray) -> np.ndarray:
    """How the detector path's estimator box of a face differs from the box following would
    give the same face: ``(ratio, dx, dy)``, ratio = larger side of ``detector_box`` / larger side
    of ``followed_box``, ``dx, dy`` = centre of ``detector_box`` - centre of ``followed_box`` in
    larger sides of ``followed_box``; bounded by :data:`CORRECTION_RATIO_BOUNDS` and
    :data:`CORRECTION_SHIFT_BOUND`; ``(1, 0, 0)`` (no change) for a degenerate box.

    The estimator's crop (``geometry.crop_box_from_detection``: side ``scale x`` the larger box
    side, centre the box centre moved down by ``offset_y x`` that side) is linear in the box, so
    :func:`apply_crop_correction` of this to ``followed_box`` gives the crop of
    ``detector_box`` for any ``crop_scale`` / ``crop_offset_y`` of the estimator.
    """
    d = np.asarray(detector_box, np.float64).reshape(-1)[:4]
    f = np.asarray(followed_box, np.float64).reshape(-1)[:4]
    sd, sf = float(np.max(d[2:] - d[:2])), float(np.max(f[2:] - f[:2]))
    if not (np.isfinite(sd) and np.isfinite(sf) and sd > 0 and sf > 0):
        return np.array([1.0, 0.0, 0.0])
    shift = ((d[:2] + d[2:]) - (f[:2] + f[2:])) / 2.0 / sf
    lo, hi = CORRECTION_RATIO_BOUNDS
    b = CORRECTION_SHIFT_BOUND
    return np.array([float(np.clip(sd / sf, lo, hi)), *np.clip(shift, -b, b)])


def apply_crop_correction(box: np.ndarray, correction: np.ndarray | None) -> np.ndarray:
    """``box`` (x0, y0, x1, y1) changed by a :func:`crop_correction`: the larger side times the
    ratio (the box made square, as the estimator's crop is), the centre moved by the shift in
    larger sides. ``correction`` None: ``box`` as it is."""
    b = np.asarray(box, np.float64).reshape(4)
    if correction is None:
        return b.copy()
    ratio, dx, dy = (float(v) for v in np.asarray(correction, np.float64).reshape(3))
    side = float(np.max(b[2:] - b[:2]))
    c = (b[:2] + b[2:]) / 2.0 + np.array([dx, dy]) * side
    half = side * ratio / 2.0
    return np.concatenate([c - half, c + half])


class LandmarkFollower:
    """Boxes for frame t+1 from the landmarks predicted on frame t.

    The stored boxes are estimator boxes (:func:`estimator_box_for_extent` of the landmark
    extent, moved on by the face's motion when the face has the same ``key``, e.g. its track
    id, as in the frame before: :func:`predict_extent`); the estimator then crops 1.5 x the
    extent, centred on it. A followed face is dropped (:attr:`lost` counts them; the scheduler
    then runs the detector on the next frame) when its landmark extent becomes smaller than
    ``min_size`` pixels, leaves the image, is not finite, its score is below ``min_score``, or
    its landmark fit (:func:`landmark_fit`, given to :meth:`update`) exceeds ``max_fit``.

    A face can carry a crop correction (:func:`crop_correction`, given to :meth:`update` on a
    detector frame: how the detector's box of the face differs from the box of its landmarks);
    it is kept under the face's ``key`` and applied to that face's boxes
    (:func:`apply_crop_correction`) until a new one comes or the face is no longer followed
    (its key absent from an update: the track ended, or the face was dropped). A face without
    a key is followed uncorrected.

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
        self._corrections: dict[Hashable, np.ndarray] = {}

    def reset(self) -> None:
        self._boxes = np.zeros((0, 4))
        self._scores = np.zeros((0,))
        self._extents = {}
        self._corrections = {}
        self.lost = 0

    def correction(self, key: Hashable) -> np.ndarray | None:
        """The crop correction the face ``key`` is followed with (None: none)."""
        c = self._corrections.get(key)
        return None if c is None else c.copy()

    def update(self, landmarks: list[np.ndarray] | np.ndarray, scores: np.ndarray | None,
               image_size: tuple[int, int], fits: Sequence[float] | None = None,
               keys: Sequence[Hashable | None] | None = None,
               corrections: Sequence[np.ndarray | None] | None = None) -> None:
        """Store boxes from the landmarks ``(M, 68, 2)`` of the current frame (``(W, H)``),
        with each face's landmark fit, key (None: not known, no motion used) and new crop
        correction (None: the one its key has, if any)."""
        w, h = image_size
        lms = np.asarray(landmarks, np.float64).reshape(-1, 68, 2)
        n = len(lms)
        sc = np.ones(n) if scores is None else np.asarray(scores, np.float64).reshape(-1)
        fit = np.zeros(n) if fits is None else np.asarray(fits, np.float64).reshape(-1)
        key = [None] * n if keys is None else list(keys)
        new = [None] * n if corrections is None else list(corrections)
        boxes, keep_scores, extents = [], [], {}
        kept_corr: dict[Hashable, np.ndarray] = {}
        self.lost = 0
        for lm, s, f, k, c in zip(lms, sc, fit, key, new, strict=True):
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
            box = estimator_box_for_extent(nxt)
            if k is not None:
                extents[k] = ext
                corr = self._corrections.get(k) if c is None else np.asarray(c, np.float64)
                if corr is not None:
                    kept_corr[k] = corr
                    box = apply_crop_correction(box, corr)
            boxes.append(box)
            keep_scores.append(s)
        self._boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        self._scores = np.asarray(keep_scores, np.float64)
        self._extents = extents
        self._corrections = kept_corr

    def detections(self) -> FaceDetections:
        return FaceDetections(self._boxes.copy(), self._scores.copy(), None)

    def __len__(self) -> int:
        return int(self._boxes.shape[0])
