"""YuNet face detector: ``cv2.FaceDetectorYN`` where OpenCV can run the 2023mar model,
else ONNX Runtime with our own decode (:mod:`head_pose_ros.yunet_ort`).
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from head_pose_ros import model_files
from head_pose_ros.detection.base import FaceDetections, _downscale, _visible_size

YUNET_URL = model_files.YUNET.url


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
