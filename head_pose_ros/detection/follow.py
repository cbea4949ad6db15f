"""Following faces from frame to frame without the detector: boxes for the next frame from
the landmarks of this one."""

from __future__ import annotations

import numpy as np

from head_pose_ros.detection.base import FaceDetections
from head_pose_ros.detection.boxes import estimator_box_for_extent
from head_pose_ros.geometry import box_from_landmarks


class LandmarkFollower:
    """Boxes for frame t+1 from the landmarks predicted on frame t.

    The stored boxes are estimator boxes (:func:`estimator_box_for_extent` of the landmark
    extent: the estimator then crops 1.5 x the extent, centred on it). A followed face is dropped
    (and the detector must run again) when its landmark extent becomes smaller than
    ``min_size`` pixels, leaves the image, is not finite, or its score is below ``min_score``.
    """

    def __init__(self, min_size: float = 16.0, min_score: float = 0.0) -> None:
        self.min_size = float(min_size)
        self.min_score = float(min_score)
        self._boxes = np.zeros((0, 4))
        self._scores = np.zeros((0,))

    def reset(self) -> None:
        self._boxes = np.zeros((0, 4))
        self._scores = np.zeros((0,))

    def update(self, landmarks: list[np.ndarray] | np.ndarray, scores: np.ndarray | None,
               image_size: tuple[int, int]) -> None:
        """Store boxes from the landmarks ``(M, 68, 2)`` of the current frame (``(W, H)``)."""
        w, h = image_size
        lms = np.asarray(landmarks, np.float64).reshape(-1, 68, 2)
        sc = np.ones(len(lms)) if scores is None else np.asarray(scores, np.float64).reshape(-1)
        boxes, keep_scores = [], []
        for lm, s in zip(lms, sc, strict=True):
            if not np.all(np.isfinite(lm)) or s < self.min_score:
                continue
            ext = box_from_landmarks(lm)
            side = max(ext[2] - ext[0], ext[3] - ext[1])
            inside = ext[2] > 0 and ext[3] > 0 and ext[0] < w and ext[1] < h
            if side < self.min_size or not inside:
                continue
            boxes.append(estimator_box_for_extent(ext))
            keep_scores.append(s)
        self._boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        self._scores = np.asarray(keep_scores, np.float64)

    def detections(self) -> FaceDetections:
        return FaceDetections(self._boxes.copy(), self._scores.copy(), None)

    def __len__(self) -> int:
        return int(self._boxes.shape[0])
