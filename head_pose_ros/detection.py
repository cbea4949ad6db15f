"""Face detection for the node (no ROS import).

Detectors return :class:`FaceDetections`: boxes ``(M, 4)`` as ``x0, y0, x1, y1`` in pixels of
the input image (pixel-centre convention of OpenCV: the top-left pixel covers [0, 1)), scores
``(M,)`` and, for YuNet, 5 keypoints ``(M, 5, 2)`` (right eye, left eye, nose tip, right and
left mouth corner, in the image's left-to-right order of OpenCV's YuNet sample).

- :class:`YuNetDetector`: ``cv2.FaceDetectorYN`` on the ONNX model given by path. The image is
  downscaled so that its longer side is at most ``max_side`` before detection (speed) and boxes
  are mapped back. The shared ``face_detection_yunet_2023mar.onnx`` is a "fixed 640x640" export,
  but OpenCV >= 4.8 re-shapes its input on ``setInputSize``; the detector probes that once at
  construction and, if the model refuses another size, letterboxes every frame into 640x640.
- :class:`HaarCascadeDetector`: OpenCV's frontal-face Haar cascade shipped inside
  ``opencv-python(-headless) < 5`` (``cv2.data.haarcascades``): no download, weaker (frontal
  only), boxes are squares that are somewhat larger than YuNet's.
- :class:`LandmarkFollower`: boxes for the next frame from the previous frame's predicted 68
  landmarks (the node uses the model's 3D landmarks projected into the image), so the detector
  only runs every N frames (:class:`DetectionScheduler`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from head_pose_ros.geometry import (
    LANDMARK_CROP_SCALE,
    box_from_landmarks,
    detection_box_for_crop,
)

__all__ = [
    "FaceDetections",
    "YuNetDetector",
    "HaarCascadeDetector",
    "LandmarkFollower",
    "DetectionScheduler",
    "box_from_landmarks",
    "box_iou",
    "create_detector",
    "landmark_extent_from_detection",
    "estimator_boxes",
    "estimator_box_for_extent",
    "DETECTOR_BOX_GEOMETRY",
    "YUNET_URL",
]

YUNET_URL = (
    "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
    "face_detection_yunet_2023mar.onnx"
)


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


def _downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Resize so that the longer side is <= max_side. Returns (image, scale = new / old)."""
    h, w = image.shape[:2]
    s = 1.0 if max_side <= 0 else min(1.0, max_side / float(max(h, w)))
    if s >= 1.0:
        return image, 1.0
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    return cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA), nw / float(w)


#: Detector box -> 68-landmark extent: (larger box side / larger extent side, (box centre y -
#: extent centre y) / extent side). Medians fitted on TRAINING data, ``real/aflw_crops`` (never
#: on the AFLW2000 evaluation images; ``python -m head_pose_ros.teacher.detector_geometry``,
#: see ``geometry.DETECTION_CROP_SCALE``): YuNet 1.19x, centre 0.10 side above the landmark
#: centre (IQR 1.14-1.24 / 0.08-0.12, 2975 faces); the Haar cascade 1.16x, 0.15 above (IQR
#: 1.09-1.23 / 0.13-0.18, 2479 faces). (Formerly 1.29 / -0.17 and 1.23 / -0.18, measured on
#: the AFLW2000 subset itself.)
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


class YuNetDetector:
    """YuNet through ``cv2.FaceDetectorYN``.

    Args:
        model_path: the ``.onnx`` file (e.g. ``face_detection_yunet_2023mar.onnx``).
        score_threshold, nms_threshold, top_k: passed to OpenCV.
        max_side: the image is downscaled to this longer side before detection (0 = never).

    Raises:
        FileNotFoundError: the model file does not exist (the message says where to get it).
        RuntimeError: OpenCV cannot load the model.
    """

    FIXED_SIZE = (640, 640)
    kind = "yunet"

    def __init__(
        self,
        model_path: str | Path,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        top_k: int = 50,
        max_side: int = 640,
    ) -> None:
        path = Path(model_path).expanduser()
        if not str(model_path) or not path.is_file():
            raise FileNotFoundError(
                f"YuNet model not found at '{model_path}'. Download "
                f"face_detection_yunet_2023mar.onnx from {YUNET_URL} and set the parameter "
                "'yunet_model' to its path, or use detector:=cascade (no download needed)."
            )
        self.model_path = str(path)
        self.max_side = int(max_side)
        try:
            self._det = cv2.FaceDetectorYN.create(
                self.model_path, "", self.FIXED_SIZE, float(score_threshold),
                float(nms_threshold), int(top_k),
            )
        except cv2.error as exc:
            raise RuntimeError(f"OpenCV cannot load the YuNet model '{path}': {exc}") from exc
        self._size: tuple[int, int] | None = None
        self.letterbox = not self._accepts_any_size()

    def _accepts_any_size(self) -> bool:
        try:
            self._det.setInputSize((320, 240))
            self._det.detect(np.zeros((240, 320, 3), np.uint8))
            self._size = (320, 240)
            return True
        except cv2.error:
            self._det.setInputSize(self.FIXED_SIZE)
            self._size = self.FIXED_SIZE
            return False

    def _set_size(self, size: tuple[int, int]) -> None:
        if size != self._size:
            self._det.setInputSize(size)
            self._size = size

    def detect(self, image: np.ndarray) -> FaceDetections:
        """Detect faces in a BGR uint8 image ``(H, W, 3)``."""
        h, w = image.shape[:2]
        if self.letterbox:
            fw, fh = self.FIXED_SIZE
            s = min(fw / w, fh / h)
            nw, nh = max(1, round(w * s)), max(1, round(h * s))
            canvas = np.zeros((fh, fw, 3), np.uint8)
            canvas[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
            small, sx, sy = canvas, nw / w, nh / h
        else:
            small, s = _downscale(image, self.max_side)
            sx, sy = small.shape[1] / w, small.shape[0] / h
        self._set_size((small.shape[1], small.shape[0]))
        _, faces = self._det.detect(np.ascontiguousarray(small))
        if faces is None or len(faces) == 0:
            return FaceDetections(np.zeros((0, 4)), np.zeros((0,)), np.zeros((0, 5, 2)))
        faces = np.asarray(faces, np.float64)
        scale = np.array([sx, sy])
        xy = faces[:, 0:2] / scale
        wh = faces[:, 2:4] / scale
        # NOT clipped to the image: the crop (and with it the depth, Eq. 2) of a face partly out
        # of frame is built from its whole box; only drawing clips (overlay.draw_people)
        boxes = np.hstack([xy, xy + wh])
        kps = faces[:, 4:14].reshape(-1, 5, 2) / scale
        vis = _visible_size(boxes, w, h)
        keep = (vis[:, 0] > 1) & (vis[:, 1] > 1)
        return FaceDetections(boxes[keep], faces[keep, 14], kps[keep])


class HaarCascadeDetector:
    """OpenCV frontal-face Haar cascade (bundled with opencv-python < 5, no download).

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
                "this OpenCV build has no CascadeClassifier (OpenCV 5 removed it); install "
                "opencv-python-headless<5 or use detector:=yunet"
            )
        if cascade_path is None or str(cascade_path) == "":
            base = getattr(getattr(cv2, "data", None), "haarcascades", "")
            cascade_path = Path(base) / "haarcascade_frontalface_default.xml"
        path = Path(cascade_path)
        if not path.is_file():
            raise FileNotFoundError(
                f"Haar cascade not found at '{path}' (opencv-python-headless<5 ships it in "
                "cv2.data.haarcascades)"
            )
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


def create_detector(kind: str, yunet_model: str = "", **kw) -> YuNetDetector | HaarCascadeDetector:
    """Build the detector named ``kind`` ('yunet' or 'cascade')."""
    if kind == "yunet":
        return YuNetDetector(yunet_model, **kw)
    if kind == "cascade":
        kw.pop("nms_threshold", None)
        kw.pop("top_k", None)
        return HaarCascadeDetector(**kw)
    raise ValueError(f"unknown detector {kind!r}: use 'yunet' or 'cascade'")


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


class DetectionScheduler:
    """Decides per frame whether to run the detector or to follow the landmarks.

    The detector runs on frame 0, every ``detect_every_n`` frames after it, and whenever the
    follower has no face (so a new person is found within ``detect_every_n`` frames, and a lost
    one immediately). ``detect_every_n = 1`` runs the detector on every frame.
    """

    def __init__(self, detect_every_n: int = 1) -> None:
        if detect_every_n < 1:
            raise ValueError(f"detect_every_n must be >= 1, got {detect_every_n}")
        self.n = int(detect_every_n)
        self._since = math.inf

    def should_detect(self, follower: LandmarkFollower) -> bool:
        if self.n == 1 or len(follower) == 0 or self._since + 1 >= self.n:
            self._since = 0
            return True
        self._since += 1
        return False
