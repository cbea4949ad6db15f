"""What every detector returns and is (no ROS): :class:`FaceDetections` and the
:class:`FaceDetector` protocol, plus the image helpers the detectors share.

Boxes are ``x0, y0, x1, y1`` in pixels of the input image (pixel-centre convention of
OpenCV: the top-left pixel covers [0, 1)).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import cv2
import numpy as np


@dataclass
class FaceDetections:
    """Faces found in one image. ``boxes`` x0,y0,x1,y1 pixels, ``scores`` in [0, 1]."""

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,)))
    keypoints: np.ndarray | None = None  # (M, 5, 2) or None

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def as_array(self) -> np.ndarray:
        """``(M, 5)`` array x0, y0, x1, y1, score."""
        return np.hstack([self.boxes.reshape(-1, 4), self.scores.reshape(-1, 1)])

    def select(self, idx: np.ndarray) -> FaceDetections:
        kp = None if self.keypoints is None else self.keypoints[idx]
        return FaceDetections(self.boxes[idx], self.scores[idx], kp)

    def limit(self, max_faces: int) -> FaceDetections:
        """Keep the ``max_faces`` largest faces (0 = no limit)."""
        if max_faces <= 0 or len(self) <= max_faces:
            return self
        area = (self.boxes[:, 2] - self.boxes[:, 0]) * (self.boxes[:, 3] - self.boxes[:, 1])
        return self.select(np.argsort(-area, kind="stable")[:max_faces])


def _visible_size(boxes: np.ndarray, w: int, h: int) -> np.ndarray:
    """``(M, 2)`` width and height of the part of each box inside a ``w x h`` image."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    vw = np.minimum(b[:, 2], w) - np.maximum(b[:, 0], 0)
    vh = np.minimum(b[:, 3], h) - np.maximum(b[:, 1], 0)
    return np.stack([vw, vh], axis=1)


@runtime_checkable
class FaceDetector(Protocol):
    """What the package's detectors are (:class:`YuNetDetector`, :class:`HaarCascadeDetector`):
    ``detect(image BGR uint8) -> FaceDetections`` and ``kind`` ('yunet', 'cascade', ...), which
    says how their boxes relate to the face (:data:`DETECTOR_BOX_GEOMETRY`)."""

    kind: str

    def detect(self, image: np.ndarray) -> FaceDetections: ...


def _downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Resize so that the longer side is <= max_side. Returns (image, scale = new / old)."""
    h, w = image.shape[:2]
    s = 1.0 if max_side <= 0 else min(1.0, max_side / float(max(h, w)))
    if s >= 1.0:
        return image, 1.0
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    return cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA), nw / float(w)
