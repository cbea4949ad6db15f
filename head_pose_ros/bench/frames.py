"""Benchmark input: frames built by tiling a real face photo (the LFPW image of the shared data)
on a plain background, and the paths of the shared data the sections need."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from head_pose_ros.geometry import box_from_landmarks

FRAME_SIZES: dict[str, tuple[int, int]] = {"640x480": (640, 480), "1920x1080": (1920, 1080)}
#: faces per end-to-end frame -> (columns, rows) of the tiling
FACE_LAYOUTS: dict[int, tuple[int, int]] = {1: (1, 1), 2: (2, 1), 4: (2, 2), 8: (4, 2)}
#: the face photo, relative to the shared data root
FACE_PHOTO = Path("real") / "lfpw_image_0010"
#: the default YuNet model, relative to the shared data root
YUNET_MODEL = Path("detector") / "face_detection_yunet_2023mar.onnx"


def frame_sizes(quick: bool) -> list[str]:
    """The frame sizes a run measures: 640x480 only in a ``--quick`` run."""
    return ["640x480"] if quick else list(FRAME_SIZES)


def yunet_model(yunet: str | None, shared_data: Path) -> Path:
    """``--yunet`` if given, else the YuNet model of the shared data."""
    return Path(yunet) if yunet else shared_data / YUNET_MODEL


def face_photo(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """The LFPW photo cropped to a square around its face, and the 68 landmarks in that crop."""
    d = shared_data / FACE_PHOTO
    img = cv2.imread(str(d / "image_0010.png"), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(d / "image_0010.png")
    lm = np.loadtxt(d / "image_0010.pts", skiprows=3, max_rows=68)
    c = (lm.min(0) + lm.max(0)) / 2
    side = 1.8 * float((lm.max(0) - lm.min(0)).max())
    x0, y0 = (c - side / 2).astype(int)
    s = int(side)
    h, w = img.shape[:2]
    x0, y0 = max(0, min(x0, w - s)), max(0, min(y0, h - s))
    return img[y0:y0 + s, x0:x0 + s].copy(), lm - [x0, y0]


def make_frame(patch: np.ndarray, lm: np.ndarray, size: tuple[int, int], n_faces: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Tile ``n_faces`` (1, 2 side by side, 4 in a 2x2 grid, 8 in a 4x2 grid) copies of a face
    patch on a grey gradient.

    Returns the BGR frame and the faces' landmark boxes (M, 4) x0,y0,x1,y1.
    """
    w, h = size
    if n_faces not in FACE_LAYOUTS:
        raise ValueError(f"n_faces must be one of {sorted(FACE_LAYOUTS)}")
    cols, rows = FACE_LAYOUTS[n_faces]
    yy, xx = np.mgrid[0:h, 0:w]
    frame = (90 + 60 * xx / w + 30 * yy / h).astype(np.uint8)[..., None].repeat(3, axis=2)
    tw, th = w // cols, h // rows
    side = int(0.9 * min(tw, th))
    face = cv2.resize(patch, (side, side), interpolation=cv2.INTER_AREA)
    k = side / patch.shape[0]
    boxes = []
    for r in range(rows):
        for c in range(cols):
            x0 = c * tw + (tw - side) // 2
            y0 = r * th + (th - side) // 2
            frame[y0:y0 + side, x0:x0 + side] = face
            p = lm * k + [x0, y0]
            boxes.append(box_from_landmarks(p))
    return frame, np.asarray(boxes, dtype=np.float64)


def encode_jpeg(frame: np.ndarray) -> np.ndarray:
    """``frame`` as JPEG (quality 90) bytes in a uint8 array, what the benches decode per frame
    (a camera's compressed stream)."""
    ok, jpg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return np.frombuffer(jpg.tobytes(), np.uint8)
