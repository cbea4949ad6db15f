"""Conversion between sensor_msgs/Image fields and numpy BGR images (no ROS import).

The node never uses cv_bridge (PyPI's ``cv-bridge`` is an old ROS 1 port that is broken with
NumPy 2: ``tostring`` removed, a 16-bit typo, no row padding). This module reads the raw message
fields (``height``, ``width``, ``encoding``, ``is_bigendian``, ``step``, ``data``) and returns
a contiguous ``(H, W, 3) uint8`` BGR image, the format the detector and the estimator take.
Everything is vectorised numpy / OpenCV; no per-pixel Python loops.

Supported encodings (ROS ``sensor_msgs/image_encodings`` names):
``bgr8``, ``rgb8``, ``bgra8``, ``rgba8``, ``mono8``, ``mono16``, the OpenCV aliases ``8UC1``
(= mono8), ``8UC3`` (= bgr8), ``8UC4`` (= bgra8), ``16UC1`` (= mono16), and the packed YUV 4:2:2
formats ``yuv422`` / ``uyvy`` and ``yuv422_yuy2`` / ``yuyv``.

16-bit images are scaled to 8 bit with ``mono16_scaling``:
- ``"minmax"`` (default): linear stretch of the frame's [min, max] to [0, 255]. Works for 10/12/16
  bit sensors and for depth-like data alike (a constant image maps to 0).
- ``"shift"``: ``value >> 8``, a fixed mapping for full-range 16-bit sensors (no flicker).

Row padding (``step > width * bytes_per_pixel``) is honoured, big-endian 16-bit data is
byte-swapped, and every inconsistency raises :class:`ImageEncodingError` whose message says what
is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

__all__ = [
    "ImageEncodingError",
    "SUPPORTED_ENCODINGS",
    "EncodingInfo",
    "encoding_info",
    "image_fields_to_bgr",
    "image_msg_to_bgr",
    "bgr_to_image_fields",
]


class ImageEncodingError(ValueError):
    """The image message cannot be converted; the message says why."""


@dataclass(frozen=True)
class EncodingInfo:
    """Layout of one encoding: element dtype size, channels per pixel and colour order."""

    name: str
    bytes_per_element: int  # 1 or 2
    channels: int  # elements per pixel (YUV 4:2:2: 2 bytes per pixel, channels=2)
    order: str  # "bgr", "rgb", "bgra", "rgba", "mono", "uyvy", "yuyv"

    @property
    def bytes_per_pixel(self) -> int:
        return self.bytes_per_element * self.channels


_ENCODINGS: dict[str, EncodingInfo] = {
    "bgr8": EncodingInfo("bgr8", 1, 3, "bgr"),
    "rgb8": EncodingInfo("rgb8", 1, 3, "rgb"),
    "bgra8": EncodingInfo("bgra8", 1, 4, "bgra"),
    "rgba8": EncodingInfo("rgba8", 1, 4, "rgba"),
    "mono8": EncodingInfo("mono8", 1, 1, "mono"),
    "mono16": EncodingInfo("mono16", 2, 1, "mono"),
    "yuv422": EncodingInfo("yuv422", 1, 2, "uyvy"),
    "yuv422_yuy2": EncodingInfo("yuv422_yuy2", 1, 2, "yuyv"),
}
_ALIASES: dict[str, str] = {
    "8uc1": "mono8",
    "8uc3": "bgr8",
    "8uc4": "bgra8",
    "16uc1": "mono16",
    "uyvy": "yuv422",
    "yuyv": "yuv422_yuy2",
}

SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_ENCODINGS) + tuple(
    k.upper() if k[0].isdigit() else k for k in _ALIASES
)

MONO16_SCALINGS = ("minmax", "shift")


def encoding_info(encoding: str) -> EncodingInfo:
    """Return the layout of ``encoding`` (case-insensitive, aliases resolved).

    Raises:
        ImageEncodingError: the encoding is not supported (the message lists what is).
    """
    key = str(encoding).strip().lower()
    key = _ALIASES.get(key, key)
    info = _ENCODINGS.get(key)
    if info is None:
        raise ImageEncodingError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}"
        )
    return info


def _as_byte_array(data: Any) -> np.ndarray:
    """View ``data`` (bytes, bytearray, memoryview, array.array('B'), list, ndarray) as uint8."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8) if data.dtype != np.uint8 else data.reshape(-1)
    if isinstance(data, list | tuple):
        return np.asarray(data, dtype=np.uint8)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError as exc:
        kind = type(data).__name__
        raise ImageEncodingError(f"image data of type {kind} is not a byte buffer") from exc


def _scale16(mono: np.ndarray, mode: str) -> np.ndarray:
    if mode == "shift":
        return (mono >> 8).astype(np.uint8)
    if mode != "minmax":
        raise ImageEncodingError(f"mono16_scaling must be one of {MONO16_SCALINGS}, got {mode!r}")
    lo = int(mono.min())
    hi = int(mono.max())
    if hi <= lo:
        return np.zeros(mono.shape, np.uint8)
    out = (mono.astype(np.float32) - lo) * (255.0 / (hi - lo))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def image_fields_to_bgr(
    height: int,
    width: int,
    encoding: str,
    is_bigendian: int | bool,
    step: int,
    data: Any,
    mono16_scaling: str = "minmax",
) -> np.ndarray:
    """Convert raw sensor_msgs/Image fields to a contiguous ``(H, W, 3) uint8`` BGR image.

    Rows are read at a stride of ``step`` bytes; only the first ``width * bytes_per_pixel``
    bytes of each row are pixels. The data must hold at least ``step * (height - 1) +
    width * bytes_per_pixel`` bytes (a missing pad after the last row is tolerated); extra
    trailing bytes are ignored.

    Raises:
        ImageEncodingError: unsupported encoding, zero/negative size, ``step`` smaller than a row
            or not a multiple of the element size, or truncated/empty data.
    """
    info = encoding_info(encoding)
    h, w, step = int(height), int(width), int(step)
    if h <= 0 or w <= 0:
        raise ImageEncodingError(f"image has no pixels: height={h}, width={w}")
    row_bytes = w * info.bytes_per_pixel
    if step < row_bytes:
        raise ImageEncodingError(
            f"step {step} is smaller than one row of {w} px x {info.bytes_per_pixel} B "
            f"({row_bytes} B) for encoding {info.name!r}"
        )
    if step % info.bytes_per_element:
        raise ImageEncodingError(
            f"step {step} is not a multiple of the {info.bytes_per_element}-byte element size "
            f"of encoding {info.name!r}"
        )
    if info.order in ("uyvy", "yuyv") and w % 2:
        raise ImageEncodingError(f"{info.name} needs an even width, got {w}")
    buf = _as_byte_array(data)
    needed = step * (h - 1) + row_bytes
    if buf.size < needed:
        what = "empty" if buf.size == 0 else f"truncated: {buf.size} B"
        raise ImageEncodingError(
            f"image data is {what}, need at least {needed} B for {h} rows of step {step} "
            f"({w}x{h} {info.name})"
        )
    rows = np.lib.stride_tricks.as_strided(buf, shape=(h, row_bytes), strides=(step, 1))
    rows = rows.copy()  # always copy: the message buffer may be reused by the caller

    if info.bytes_per_element == 2:
        dt = np.dtype(">u2" if is_bigendian else "<u2")
        mono = rows.view(dt).reshape(h, w).astype(np.uint16)
        gray = _scale16(mono, mono16_scaling)
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)

    px = rows.reshape(h, w, info.channels)
    if info.order == "bgr":
        return px
    if info.order == "rgb":
        return np.ascontiguousarray(px[:, :, ::-1])
    if info.order == "bgra":
        return np.ascontiguousarray(px[:, :, :3])
    if info.order == "rgba":
        return np.ascontiguousarray(px[:, :, 2::-1])
    if info.order == "mono":
        return cv2.cvtColor(px[:, :, 0], cv2.COLOR_GRAY2BGR)
    if info.order == "uyvy":
        return cv2.cvtColor(px, cv2.COLOR_YUV2BGR_UYVY)
    return cv2.cvtColor(px, cv2.COLOR_YUV2BGR_YUY2)


def image_msg_to_bgr(msg: Any, mono16_scaling: str = "minmax") -> np.ndarray:
    """Convert any object with sensor_msgs/Image fields (e.g. the rclpy message) to BGR uint8."""
    return image_fields_to_bgr(
        msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step, msg.data, mono16_scaling
    )


def bgr_to_image_fields(
    image: np.ndarray, encoding: str = "bgr8", padding: int = 0, bigendian: bool = False
) -> dict[str, Any]:
    """Encode a BGR uint8 image (or a single-channel image for mono encodings) as Image fields.

    Returns a dict with ``height, width, encoding, is_bigendian, step, data`` (``data`` is
    ``bytes``). ``padding`` appends that many zero bytes to every row (tests of row padding);
    16-bit outputs map 8-bit values v to ``v * 257`` (full range) and honour ``bigendian``.
    YUV 4:2:2 encodings are not produced.
    """
    info = encoding_info(encoding)
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ImageEncodingError(f"expected a uint8 image, got {img.dtype}")
    if img.ndim == 2:
        gray = img
        bgr = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.ndim == 3 and img.shape[2] == 3:
        bgr = img
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    else:
        raise ImageEncodingError(f"expected (H,W) or (H,W,3) image, got shape {img.shape}")
    h, w = gray.shape
    if info.order == "bgr":
        px = bgr
    elif info.order == "rgb":
        px = bgr[:, :, ::-1]
    elif info.order == "bgra":
        px = np.dstack([bgr, np.full((h, w), 255, np.uint8)])
    elif info.order == "rgba":
        px = np.dstack([bgr[:, :, ::-1], np.full((h, w), 255, np.uint8)])
    elif info.order == "mono":
        px = gray
    else:
        raise ImageEncodingError(f"encoding {info.name!r} is decode-only here")
    if info.bytes_per_element == 2:
        px = px.astype(np.uint16) * 257
        px = px.astype(">u2" if bigendian else "<u2")
    rows = np.ascontiguousarray(px).reshape(h, -1).view(np.uint8)
    if padding:
        rows = np.hstack([rows, np.zeros((h, int(padding)), np.uint8)])
    return {
        "height": h,
        "width": w,
        "encoding": encoding,
        "is_bigendian": int(bool(bigendian) and info.bytes_per_element == 2),
        "step": rows.shape[1],
        "data": rows.tobytes(),
    }
