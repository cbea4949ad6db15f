"""OpenCV's frontal-face Haar cascade: where to find the file, and the detector."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np

from head_pose_ros import model_files
from head_pose_ros.detection.base import FaceDetections, _downscale

#: where :func:`find_haar_cascade` looks after ``cv2.data`` (Debian / Ubuntu ``opencv-data``,
#: older packages, source builds, conda-like prefixes)
HAAR_DIRS: tuple[str, ...] = (
    "/usr/share/opencv4/haarcascades",
    "/usr/share/opencv/haarcascades",
    "/usr/local/share/opencv4/haarcascades",
    "/usr/local/share/opencv/haarcascades",
    os.path.join(sys.prefix, "share", "opencv4", "haarcascades"),
    os.path.join(sys.prefix, "share", "opencv", "haarcascades"),
)
HAAR_FILE = "haarcascade_frontalface_default.xml"


def haar_search_dirs() -> list[str]:
    """``cv2.data.haarcascades`` (when this OpenCV has it), then :data:`HAAR_DIRS`."""
    base = getattr(getattr(cv2, "data", None), "haarcascades", "")
    dirs = [base] if base else []
    for d in HAAR_DIRS:
        if d not in dirs:
            dirs.append(d)
    return dirs


def find_haar_cascade(name: str = HAAR_FILE) -> Path | None:
    """The first of :func:`haar_search_dirs` that holds ``name``, or None."""
    for d in haar_search_dirs():
        p = Path(d) / name
        if p.is_file():
            return p
    return None


class HaarCascadeDetector:
    """OpenCV frontal-face Haar cascade (no download where OpenCV ships it).

    ``cascade_path`` None: :func:`find_haar_cascade` (``cv2.data``, then the system folders).
    Scores are a logistic squashing of the cascade's level weight (not calibrated probabilities;
    ``score_threshold`` applies to them).
    """

    kind = "cascade"

    def __init__(
        self,
        cascade_path: str | Path | None = None,
        score_threshold: float = 0.5,
        min_size: int = 24,
        scale_factor: float = 1.1,
        min_neighbors: int = 3,
        max_side: int = 640,
    ) -> None:
        if not hasattr(cv2, "CascadeClassifier"):
            raise RuntimeError(
                "this OpenCV build has no CascadeClassifier (OpenCV 5 removed it): run "
                f"{model_files.FETCH_COMMAND} to use YuNet instead"
            )
        if cascade_path is None or str(cascade_path) == "":
            found = find_haar_cascade()
            if found is None:
                raise FileNotFoundError(
                    f"no Haar cascade {HAAR_FILE} in {', '.join(haar_search_dirs())}"
                )
            cascade_path = found
        path = Path(cascade_path)
        if not path.is_file():
            raise FileNotFoundError(f"Haar cascade not found at '{path}'")
        self.cascade_path = str(path)
        self._cc = cv2.CascadeClassifier(str(path))
        if self._cc.empty():
            raise RuntimeError(f"OpenCV cannot load the Haar cascade '{path}'")
        self.score_threshold = float(score_threshold)
        self.min_size = int(min_size)
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.max_side = int(max_side)

    def detect(self, image: np.ndarray) -> FaceDetections:
        small, s = _downscale(image, self.max_side)
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        min_px = max(8, round(self.min_size * s))
        rects, _, weights = self._cc.detectMultiScale3(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(min_px, min_px), outputRejectLevels=True,
        )
        if len(rects) == 0:
            return FaceDetections(np.zeros((0, 4)), np.zeros((0,)), None)
        r = np.asarray(rects, np.float64).reshape(-1, 4) / s
        boxes = np.hstack([r[:, :2], r[:, :2] + r[:, 2:]])  # not clipped (see YuNetDetector)
        scores = 1.0 / (1.0 + np.exp(-np.asarray(weights, np.float64).reshape(-1)))
        keep = scores >= self.score_threshold
        return FaceDetections(boxes[keep], scores[keep], None)

    def describe(self) -> str:
        return f"Haar cascade {self.cascade_path} (frontal faces only)"
