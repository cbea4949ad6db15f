"""Face detection for the node (no ROS import).

Detectors return :class:`FaceDetections`: boxes ``(M, 4)`` as ``x0, y0, x1, y1`` in pixels of
the input image (pixel-centre convention of OpenCV: the top-left pixel covers [0, 1)), scores
``(M,)`` and, for YuNet, 5 keypoints ``(M, 5, 2)`` (right eye, left eye, nose tip, right and
left mouth corner, in the image's left-to-right order of OpenCV's YuNet sample). Every detector
has ``detect(image)`` and ``kind`` (:class:`FaceDetector`).

- :class:`YuNetDetector`: the ONNX model given by path (``face_detection_yunet_2023mar.onnx``,
  fetched into the user cache by ``head-pose-fetch-models``, :mod:`head_pose_ros.model_files`),
  run by ``cv2.FaceDetectorYN`` where that works (OpenCV >= 4.8) and otherwise by ONNX Runtime
  with our own decode (:mod:`head_pose_ros.yunet_ort`; OpenCV 4.5 / 4.6 from Debian / Ubuntu
  apt load the model but fail on the first frame). The image is downscaled so that its longer
  side is at most ``max_side`` (speed) and boxes are mapped back. The 2023mar file is a "fixed
  640x640" export: OpenCV >= 4.8 re-shapes its input to the image, ONNX Runtime gets the image
  zero-padded (right and bottom) to 640x640, which changes nothing inside the image.
- :class:`HaarCascadeDetector`: OpenCV's frontal-face Haar cascade, found in
  ``cv2.data.haarcascades`` (pip's ``opencv-python(-headless) < 5``) or in the system cascade
  folders (:data:`HAAR_DIRS`, Debian / Ubuntu ``opencv-data``): weaker (frontal only), boxes are
  squares that are somewhat larger than YuNet's.
- :func:`resolve_detector`: the node's choice (``detector`` = auto / yunet / cascade): YuNet from
  ``yunet_model``, else from the user cache, else the Haar cascade; when nothing is there the
  error is one line that names the fetch command.
- :class:`LandmarkFollower`: boxes for the next frame from the previous frame's predicted 68
  landmarks (the node uses the model's 3D landmarks projected into the image), so the detector
  only runs every N frames (:class:`DetectionScheduler`).
"""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from head_pose_ros import model_files
from head_pose_ros.geometry import (
    LANDMARK_CROP_SCALE,
    box_from_landmarks,
    detection_box_for_crop,
)

__all__ = [
    "FaceDetections",
    "FaceDetector",
    "YuNetDetector",
    "HaarCascadeDetector",
    "DetectorChoice",
    "HAAR_DIRS",
    "find_haar_cascade",
    "resolve_detector",
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

YUNET_URL = model_files.YUNET.url


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


class YuNetDetector:
    """YuNet through ``cv2.FaceDetectorYN``, or through ONNX Runtime where OpenCV cannot run it.

    Args:
        model_path: the ``.onnx`` file (``face_detection_yunet_2023mar.onnx``).
        score_threshold, nms_threshold, top_k: as ``cv2.FaceDetectorYN`` (``top_k``: the best
            candidates kept before non-maximum suppression).
        max_side: the image is downscaled to this longer side before detection (0 = never).
        backend: ``"auto"`` (OpenCV when its ``FaceDetectorYN`` runs the model, else ONNX
            Runtime), ``"opencv"`` or ``"onnxruntime"``. The choice is :attr:`backend`.
        threads: ONNX Runtime intra-op threads (0 = ONNX Runtime's default, one per core).

    Raises:
        FileNotFoundError: the model file does not exist (the message names the fetch command).
        RuntimeError: neither backend can run the model (the message says why for each).
    """

    FIXED_SIZE = (640, 640)
    kind = "yunet"
    BACKENDS = ("auto", "opencv", "onnxruntime")

    def __init__(
        self,
        model_path: str | Path,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        top_k: int = 50,
        max_side: int = 640,
        backend: str = "auto",
        threads: int = 1,
    ) -> None:
        path = Path(model_path).expanduser()
        if not str(model_path) or not path.is_file():
            raise FileNotFoundError(
                f"YuNet model not found at '{model_path}': run {model_files.FETCH_COMMAND} "
                f"(downloads it into {model_files.model_dir()}, found there without a "
                "parameter), or set the parameter 'yunet_model' to the path of "
                "face_detection_yunet_2023mar.onnx"
            )
        backend = str(backend).strip().lower()
        if backend not in self.BACKENDS:
            raise ValueError(f"unknown YuNet backend {backend!r}: use one of {self.BACKENDS}")
        self.model_path = str(path)
        self.max_side = int(max_side)
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.top_k = int(top_k)
        self._det = None  # cv2.FaceDetectorYN
        self._ort = None  # yunet_ort.YuNetOnnxRuntime
        self._size: tuple[int, int] | None = None
        #: (W, H) the network input is padded to, or None (any size)
        self.fixed_size: tuple[int, int] | None = None
        why_not_opencv = ""
        if backend == "auto" and _opencv_version() < (4, 8):
            # 4.5 / 4.6 (Debian 12, Ubuntu 22.04 / 24.04) load the 2023mar model and then fail on
            # the first detect, after printing a page of [ERROR] lines: not tried
            why_not_opencv = "OpenCV < 4.8 cannot run the 2023mar model"
        elif backend in ("auto", "opencv"):
            why_not_opencv = self._try_opencv()
            if self._det is None and backend == "opencv":
                raise RuntimeError(f"OpenCV {cv2.__version__} cannot run the YuNet model "
                                   f"'{path}': {why_not_opencv}")
        if self._det is None:
            from head_pose_ros.yunet_ort import YuNetOnnxRuntime

            try:
                self._ort = YuNetOnnxRuntime(path, threads=threads)
            except (ImportError, RuntimeError) as exc:
                pre = (f"OpenCV {cv2.__version__} cannot run it ({why_not_opencv}) and "
                       if why_not_opencv else "")
                raise RuntimeError(f"YuNet '{path}': {pre}{exc}") from exc
            self.fixed_size = self._ort.input_size
        #: "opencv" or "onnxruntime"
        self.backend = "opencv" if self._det is not None else "onnxruntime"
        #: why OpenCV is not used ("" when it is or was not tried)
        self.opencv_problem = why_not_opencv if self._ort is not None else ""

    @property
    def letterbox(self) -> bool:
        """The image is zero-padded to :attr:`fixed_size` (a fixed-size network input)."""
        return self.fixed_size is not None

    @letterbox.setter
    def letterbox(self, value: bool) -> None:
        if self._ort is not None:
            if not value and self._ort.input_size is not None:
                raise ValueError("this YuNet model has a fixed input size: it must be padded")
            self.fixed_size = (self._ort.input_size or self.FIXED_SIZE) if value else None
        else:
            self.fixed_size = self.FIXED_SIZE if value else None

    def _try_opencv(self) -> str:
        """Set up ``cv2.FaceDetectorYN``; returns "" or why it cannot run the model."""
        if not hasattr(cv2, "FaceDetectorYN"):
            return "this OpenCV has no FaceDetectorYN (needs >= 4.5.4)"
        try:
            det = cv2.FaceDetectorYN.create(
                self.model_path, "", self.FIXED_SIZE, self.score_threshold,
                self.nms_threshold, self.top_k)
        except cv2.error as exc:
            return _one_line(exc)
        # OpenCV >= 4.8 re-shapes the input; older versions load the 2023mar model and then
        # fail on the first detect (4.5 / 4.6: "Layer with requested id=-1 not found")
        problem = ""
        for size, fixed in (((320, 240), None), (self.FIXED_SIZE, self.FIXED_SIZE)):
            try:
                det.setInputSize(size)
                det.detect(np.zeros((size[1], size[0], 3), np.uint8))
            except cv2.error as exc:
                problem = _one_line(exc)
                continue
            self._det, self._size, self.fixed_size = det, size, fixed
            return ""
        return problem

    def _set_size(self, size: tuple[int, int]) -> None:
        if size != self._size:
            self._det.setInputSize(size)
            self._size = size

    def detect(self, image: np.ndarray) -> FaceDetections:
        """Detect faces in a BGR uint8 image ``(H, W, 3)``."""
        h, w = image.shape[:2]
        small, _ = _downscale(image, self.max_side)
        if self.fixed_size is not None:
            small, _ = _fit(small, self.fixed_size)
        sx, sy = small.shape[1] / w, small.shape[0] / h
        small = np.ascontiguousarray(small)
        if self._ort is not None:
            faces = self._ort.detect(small, self.score_threshold, self.nms_threshold, self.top_k)
        else:
            if self.fixed_size is not None:
                fw, fh = self.fixed_size
                canvas = np.zeros((fh, fw, 3), np.uint8)
                canvas[: small.shape[0], : small.shape[1]] = small
                small = canvas
            self._set_size((small.shape[1], small.shape[0]))
            _, faces = self._det.detect(small)
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

    def describe(self) -> str:
        how = ("cv2.FaceDetectorYN" if self.backend == "opencv"
               else f"ONNX Runtime (OpenCV {cv2.__version__}: {self.opencv_problem})"
               if self.opencv_problem else "ONNX Runtime")
        return f"YuNet {self.model_path} via {how}"


def _opencv_version() -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", getattr(cv2, "__version__", ""))
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _one_line(exc: BaseException) -> str:
    """The useful part of an OpenCV error, on one line ("Layer with requested id=-1 ...")."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    text = lines[-1] if lines else type(exc).__name__
    m = re.search(r"error: \(-?\d+:[^)]*\)\s*(.+)", text)
    return m.group(1) if m else text


def _fit(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Downscale (never up) so that the image fits into ``size`` (W, H)."""
    h, w = image.shape[:2]
    s = min(1.0, size[0] / w, size[1] / h)
    if s >= 1.0:
        return image, 1.0
    nw, nh = min(size[0], max(1, round(w * s))), min(size[1], max(1, round(h * s)))
    return cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA), nw / float(w)


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


_YUNET_ONLY = ("nms_threshold", "top_k", "backend", "threads")
_CASCADE_ONLY = ("cascade_path", "min_size", "scale_factor", "min_neighbors")


def create_detector(kind: str, yunet_model: str = "", **kw) -> YuNetDetector | HaarCascadeDetector:
    """Build the detector named ``kind`` ('yunet', 'cascade' or 'auto': see
    :func:`resolve_detector`, which also says why it chose what it chose)."""
    return resolve_detector(kind, yunet_model, **kw).detector


@dataclass
class DetectorChoice:
    """What :func:`resolve_detector` chose: the detector, a line saying why, and a warning
    (or "") when it fell back."""

    detector: YuNetDetector | HaarCascadeDetector
    reason: str
    warning: str = ""


def resolve_detector(kind: str = "auto", yunet_model: str | os.PathLike = "",
                     model_dir: str | os.PathLike | None = None, **kw) -> DetectorChoice:
    """The node's detector choice.

    - ``'yunet'``: ``yunet_model`` when given, else the user cache
      (:func:`head_pose_ros.model_files.cached_model`); missing = error.
    - ``'cascade'``: the Haar cascade (:func:`find_haar_cascade`); missing = error.
    - ``'auto'``: YuNet as above when ``yunet_model`` is given (a missing file is an error: it
      was asked for) or the cache holds it; else the Haar cascade. When YuNet from the cache
      cannot run (e.g. no onnxruntime on an old OpenCV) the Haar cascade is used with a warning.

    ``kw`` go to the detector (YuNet-only / cascade-only ones are dropped for the other).
    Raises:
        FileNotFoundError, RuntimeError: one line naming what is missing and the fetch command.
        ValueError: unknown ``kind``.
    """
    kind = str(kind).strip().lower()
    if kind not in ("auto", "yunet", "cascade"):
        raise ValueError(f"unknown detector {kind!r}: use 'auto', 'yunet' or 'cascade'")
    ykw = {k: v for k, v in kw.items() if k not in _CASCADE_ONLY}
    ckw = {k: v for k, v in kw.items() if k not in _YUNET_ONLY}
    given = str(yunet_model or "")
    if kind == "cascade":
        return DetectorChoice(HaarCascadeDetector(**ckw), "detector 'cascade': Haar cascade")
    if given:
        det = YuNetDetector(given, **ykw)
        return DetectorChoice(det, f"detector '{kind}': {det.describe()} (yunet_model)")
    cached = model_files.cached_model("yunet", model_dir)
    where = Path(model_dir or model_files.model_dir()) / model_files.YUNET.filename
    if kind == "yunet":
        if cached is None:
            raise FileNotFoundError(
                f"YuNet model not found: 'yunet_model' is empty and {where} is missing or "
                f"damaged; run {model_files.FETCH_COMMAND}, or set 'yunet_model'")
        det = YuNetDetector(cached, **ykw)
        return DetectorChoice(det, f"detector 'yunet': {det.describe()} (user cache)")
    warning = ""
    if cached is not None:
        try:
            det = YuNetDetector(cached, **ykw)
            return DetectorChoice(det, f"detector 'auto': {det.describe()} (user cache)")
        except RuntimeError as exc:
            warning = f"detector 'auto': cannot use YuNet from the cache ({exc}); using Haar"
    cascade = find_haar_cascade()
    if cascade is None or not hasattr(cv2, "CascadeClassifier"):
        raise FileNotFoundError(
            f"no face detector: no YuNet model ({where} missing; 'yunet_model' empty) and no "
            f"Haar cascade (OpenCV {cv2.__version__}: none in "
            f"{', '.join(haar_search_dirs())}); run {model_files.FETCH_COMMAND}")
    det = HaarCascadeDetector(cascade, **ckw)
    why = ("" if warning else
           f"; no YuNet model in {where}: run {model_files.FETCH_COMMAND} for YuNet")
    return DetectorChoice(det, f"detector 'auto': {det.describe()}{why}", warning)


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
