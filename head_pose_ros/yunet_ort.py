"""YuNet (``face_detection_yunet_2023mar.onnx``) in ONNX Runtime, with our own decode (no ROS).

Used by :class:`head_pose_ros.detection.YuNetDetector` where ``cv2.FaceDetectorYN`` cannot run
the 2023mar model: OpenCV 4.5 / 4.6 as shipped by Debian 12 and Ubuntu 22.04 / 24.04 (their
``FaceDetectorYN`` loads it, then fails on the first ``detect`` with "Layer with requested id=-1
not found"). The decode is the one of OpenCV >= 4.8 (``modules/objdetect/src/face_detect.cpp``):

- input: the BGR image as float32 NCHW, values 0..255, no mean or scaling, zero-padded on the
  right and bottom to the model's input size (640x640 for the fixed export; a multiple of 32 for
  a dynamic one);
- outputs per stride s in (8, 16, 32), one row per grid cell ``(row r, column c)`` of the
  ``(H/s) x (W/s)`` grid (the anchor-free "priors" of this model: one point per cell):
  ``cls_s`` and ``obj_s`` (N, 1), ``bbox_s`` (N, 4), ``kps_s`` (N, 10);
- score = sqrt(clip(cls, 0, 1) * clip(obj, 0, 1));
- box centre = ((c, r) + bbox[0:2]) * s, size = exp(bbox[2:4]) * s; keypoint k =
  ((c, r) + kps[2k:2k+2]) * s;
- greedy NMS on the scores above ``score_threshold``: the ``top_k`` best candidates, IoU above
  ``nms_threshold`` suppressed (as ``cv2.dnn.NMSBoxes``).

Rows are OpenCV's ``FaceDetectorYN.detect`` layout: x, y, w, h, 5 keypoints (x, y), score.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["STRIDES", "YuNetOnnxRuntime", "decode_yunet", "nms_xywh"]

STRIDES = (8, 16, 32)


def nms_xywh(boxes: np.ndarray, scores: np.ndarray, score_threshold: float,
             nms_threshold: float, top_k: int = 0) -> np.ndarray:
    """Greedy NMS like ``cv2.dnn.NMSBoxes``: indices kept, best score first.

    ``boxes`` (N, 4) x, y, w, h. Candidates are the scores >= ``score_threshold``, of which only
    the ``top_k`` best are considered (0 = all); a candidate is dropped when its IoU with a kept
    box exceeds ``nms_threshold``.
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    s = np.asarray(scores, np.float64).reshape(-1)
    order = np.flatnonzero(s >= score_threshold)
    order = order[np.argsort(-s[order], kind="stable")]
    if top_k > 0:
        order = order[:top_k]
    x0, y0 = b[:, 0], b[:, 1]
    x1, y1 = x0 + b[:, 2], y0 + b[:, 3]
    area = np.clip(b[:, 2], 0, None) * np.clip(b[:, 3], 0, None)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        iw = np.clip(np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]), 0, None)
        ih = np.clip(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]), 0, None)
        inter = iw * ih
        union = area[i] + area[rest] - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        order = rest[iou <= nms_threshold]
    return np.asarray(keep, np.int64)


def decode_yunet(outputs: dict[str, np.ndarray], input_size: tuple[int, int],
                 score_threshold: float = 0.6, nms_threshold: float = 0.3,
                 top_k: int = 5000) -> np.ndarray:
    """YuNet 2023mar outputs -> faces ``(M, 15)`` in input pixels (OpenCV's layout).

    Args:
        outputs: ``cls_8 ... kps_32`` by name, each ``(1, N, k)`` or ``(N, k)``.
        input_size: ``(W, H)`` of the network input (the padded image).
    """
    w_in, h_in = input_size
    rows = []
    for s in STRIDES:
        cols, nrows = w_in // s, h_in // s
        cls = np.asarray(outputs[f"cls_{s}"], np.float32).reshape(-1)
        obj = np.asarray(outputs[f"obj_{s}"], np.float32).reshape(-1)
        bbox = np.asarray(outputs[f"bbox_{s}"], np.float32).reshape(-1, 4)
        kps = np.asarray(outputs[f"kps_{s}"], np.float32).reshape(-1, 10)
        if cls.size != cols * nrows:
            raise ValueError(f"YuNet output cls_{s} has {cls.size} rows, expected "
                             f"{cols}x{nrows} for a {w_in}x{h_in} input")
        score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
        idx = np.flatnonzero(score >= score_threshold)
        if idx.size == 0:
            continue
        grid = np.stack([idx % cols, idx // cols], axis=1).astype(np.float32)  # (c, r)
        centre = (grid + bbox[idx, 0:2]) * s
        size = np.exp(bbox[idx, 2:4]) * s
        pts = (kps[idx].reshape(-1, 5, 2) + grid[:, None, :]) * s
        rows.append(np.concatenate([centre - size / 2, size, pts.reshape(-1, 10),
                                    score[idx, None]], axis=1))
    if not rows:
        return np.zeros((0, 15), np.float32)
    faces = np.concatenate(rows, axis=0)
    keep = nms_xywh(faces[:, 0:4], faces[:, 14], score_threshold, nms_threshold, top_k)
    return faces[keep]


class YuNetOnnxRuntime:
    """A YuNet 2023mar ``.onnx`` in an ONNX Runtime CPU session.

    ``detect(image)`` takes a BGR uint8 image no larger than :attr:`input_size` (the caller
    downscales) and returns ``(M, 15)`` faces in that image's pixels.

    Raises:
        ImportError: onnxruntime is not installed (the message says how to install it).
        RuntimeError: ONNX Runtime cannot load the file, or it is not a YuNet 2023mar model.
    """

    OUTPUTS = tuple(f"{k}_{s}" for k in ("cls", "obj", "bbox", "kps") for s in STRIDES)

    def __init__(self, model_path: str | os.PathLike, threads: int = 1) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ImportError(
                "YuNet needs onnxruntime where cv2.FaceDetectorYN cannot run it (OpenCV < 4.8): "
                "pip install onnxruntime (rosdep key python3-onnxruntime-pip)"
            ) from exc
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(0, int(threads))
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self._sess = ort.InferenceSession(str(Path(model_path)), sess_options=opts,
                                              providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise RuntimeError(f"ONNX Runtime cannot load the YuNet model '{model_path}': "
                               f"{exc}") from exc
        inp = self._sess.get_inputs()
        names = {o.name for o in self._sess.get_outputs()}
        if len(inp) != 1 or not set(self.OUTPUTS) <= names:
            raise RuntimeError(
                f"'{model_path}' is not a YuNet 2023mar model (outputs {sorted(names)}; expected "
                f"{list(self.OUTPUTS)}): use face_detection_yunet_2023mar.onnx")
        self._input = inp[0].name
        shape = list(inp[0].shape)
        fixed = len(shape) == 4 and all(isinstance(d, int) and d > 0 for d in shape[2:])
        #: (W, H) of a fixed-size export, else None (any multiple of 32)
        self.input_size: tuple[int, int] | None = (shape[3], shape[2]) if fixed else None

    def padded_size(self, w: int, h: int) -> tuple[int, int]:
        """Network input ``(W, H)`` for an image of ``w x h``."""
        if self.input_size is not None:
            return self.input_size
        return (-(-w // 32) * 32, -(-h // 32) * 32)

    def detect(self, image: np.ndarray, score_threshold: float = 0.6,
               nms_threshold: float = 0.3, top_k: int = 5000) -> np.ndarray:
        h, w = image.shape[:2]
        pw, ph = self.padded_size(w, h)
        if w > pw or h > ph:
            raise ValueError(f"image {w}x{h} is larger than the YuNet input {pw}x{ph}")
        blob = np.zeros((1, 3, ph, pw), np.float32)
        blob[0, :, :h, :w] = np.moveaxis(image[..., :3], 2, 0)
        out = self._sess.run(list(self.OUTPUTS), {self._input: blob})
        return decode_yunet(dict(zip(self.OUTPUTS, out, strict=True)), (pw, ph),
                            score_threshold, nms_threshold, top_k)
