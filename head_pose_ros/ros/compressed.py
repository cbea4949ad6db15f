"""sensor_msgs/CompressedImage (image_transport's ``compressed`` transport) -> BGR (no ROS import).

image_transport's ``compressed`` plugin publishes an image topic ``<image>`` also as
``<image>/compressed`` (:func:`compressed_topic`). Its ``format`` field is
``"<original encoding>; <jpeg|png> compressed <compressed encoding>"``, e.g.
``"rgb8; jpeg compressed bgr8"`` (colour images are converted to bgr8 before encoding),
``"mono8; jpeg compressed mono8"`` or ``"mono16; png compressed mono16"``; older publishers write
only ``"jpeg"`` or ``"png"``. The data is decoded with ``cv2.imdecode``; 16-bit PNGs are scaled
to 8 bit like raw mono16 images (``mono16_scaling``), an ``rgb``/``rgba`` compressed encoding is
swapped to BGR, alpha is dropped; a 16-bit colour PNG stays colour (one min/max or shift
for all channels); a ``bayer_*`` original encoding (the raw mosaic compressed as one grey
channel) is demosaicked (:data:`BAYER_CODES`, 8 or 16 bit). ``compressedDepth`` (a different
transport: depth PNG with a header) is refused. Every problem raises :class:`ImageEncodingError`
with a message that says what is wrong; the node logs it once per kind and skips the frame.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from head_pose_ros.image_encoding import ImageEncodingError, _as_byte_array, _scale16

__all__ = ["compressed_topic", "parse_compressed_format", "compressed_to_bgr",
           "compressed_msg_to_bgr", "bgr_to_compressed"]

CODECS = ("jpeg", "png")


def compressed_topic(image_topic: str) -> str:
    """The topic image_transport's ``compressed`` transport uses for ``image_topic``."""
    return image_topic.rstrip("/") + "/compressed"


def parse_compressed_format(fmt: str) -> tuple[str, str, str]:
    """``(original encoding, codec, compressed encoding)`` of a CompressedImage ``format``.

    Unknown parts are ``""``; the codec is ``"jpeg"`` or ``"png"`` when it can be told from the
    string, else ``""`` (the data's magic bytes decide then).
    """
    s = str(fmt or "").strip()
    low = s.lower()
    if "compresseddepth" in low:
        raise ImageEncodingError(
            f"CompressedImage format {fmt!r} is the compressedDepth transport (depth images): "
            "not supported, use the 'compressed' transport of a colour or mono camera")
    original, _, rest = s.partition(";")
    if not rest:  # "jpeg", "png", or "bgr8" alone
        word = original.strip().lower()
        return ("", word, "") if word in CODECS else (original.strip(), "", "")
    words = rest.strip().split()
    codec = words[0].lower() if words and words[0].lower() in CODECS else ""
    packed = words[-1] if len(words) >= 3 and words[-2].lower() == "compressed" else ""
    return original.strip(), codec, packed


def _codec_of(buf: np.ndarray) -> str:
    if buf.size >= 3 and buf[0] == 0xFF and buf[1] == 0xD8 and buf[2] == 0xFF:
        return "jpeg"
    if buf.size >= 8 and bytes(buf[:8]) == b"\x89PNG\r\n\x1a\n":
        return "png"
    return ""


def compressed_to_bgr(fmt: str, data: Any, mono16_scaling: str = "minmax") -> np.ndarray:
    """Decode CompressedImage ``format`` + ``data`` to a contiguous ``(H, W, 3) uint8`` BGR image.

    Raises:
        ImageEncodingError: empty or undecodable data, a codec other than jpeg/png, or the
            compressedDepth transport.
    """
    _original, codec, packed = parse_compressed_format(fmt)
    buf = _as_byte_array(data)
    if buf.size == 0:
        raise ImageEncodingError(f"compressed image data is empty (format {fmt!r})")
    magic = _codec_of(buf)
    if not magic:
        raise ImageEncodingError(
            f"compressed image data ({buf.size} B, format {fmt!r}) is neither JPEG nor PNG")
    if codec and codec != magic:
        raise ImageEncodingError(
            f"compressed image format {fmt!r} says {codec} but the data is {magic}")
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ImageEncodingError(
            f"cv2.imdecode cannot decode the {magic} data ({buf.size} B, format {fmt!r}): "
            "corrupt or truncated")
    bayer = _original.lower() if _original.lower().startswith("bayer_") else ""
    if bayer:
        return _demosaic(img, bayer, fmt, mono16_scaling)
    if img.dtype == np.uint16:
        if img.ndim == 3:  # 16-bit colour PNG: keep the colour (one scale for all channels)
            img = img[:, :, :3]
            if packed.lower().startswith("rgb"):
                img = img[:, :, ::-1]
            return np.ascontiguousarray(_scale16(img, mono16_scaling))
        return cv2.cvtColor(_scale16(img, mono16_scaling), cv2.COLOR_GRAY2BGR)
    if img.dtype != np.uint8:
        raise ImageEncodingError(f"decoded {magic} image has unsupported depth {img.dtype}")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        img = img[:, :, :3]
    # imdecode returns the channels in the file's order as BGR; a publisher that encoded an
    # rgb8 array without converting it says so in the compressed encoding
    if packed.lower().startswith("rgb"):
        img = img[:, :, ::-1]
    return np.ascontiguousarray(img)


# ROS bayer pattern -> OpenCV code (OpenCV names the pattern by its second row: cv_bridge's table)
BAYER_CODES = {"rggb": cv2.COLOR_BayerBG2BGR, "bggr": cv2.COLOR_BayerRG2BGR,
               "gbrg": cv2.COLOR_BayerGR2BGR, "grbg": cv2.COLOR_BayerGB2BGR}


def _demosaic(img: np.ndarray, bayer: str, fmt: str, mono16_scaling: str) -> np.ndarray:
    """A compressed ``bayer_<pattern>8/16`` stream is the raw mosaic as a one-channel JPEG/PNG:
    demosaic it (a JPEG mosaic is lossy: colours bleed, but the face is there)."""
    pattern = bayer[len("bayer_"):len("bayer_") + 4]
    code = BAYER_CODES.get(pattern)
    if code is None:
        raise ImageEncodingError(f"compressed image format {fmt!r}: unknown bayer pattern "
                                 f"{pattern!r} (rggb, bggr, gbrg, grbg)")
    if img.ndim != 2:
        raise ImageEncodingError(f"compressed image format {fmt!r} says bayer but the data has "
                                 f"{img.shape[2]} channels (a mosaic has one)")
    if img.shape[0] % 2 or img.shape[1] % 2:
        raise ImageEncodingError(f"compressed bayer image {img.shape[1]}x{img.shape[0]} has an "
                                 "odd size")
    out = cv2.cvtColor(img, code)
    if out.dtype == np.uint16:
        out = _scale16(out, mono16_scaling)
    return np.ascontiguousarray(out)


def compressed_msg_to_bgr(msg: Any, mono16_scaling: str = "minmax") -> np.ndarray:
    """:func:`compressed_to_bgr` of an object with CompressedImage fields (``format``, ``data``)."""
    return compressed_to_bgr(msg.format, msg.data, mono16_scaling)


def bgr_to_compressed(image: np.ndarray, codec: str = "jpeg", quality: int = 90,
                      original_encoding: str = "bgr8") -> tuple[str, bytes]:
    """``(format, data)`` as image_transport's compressed publisher writes them for a BGR image
    (tests, the benchmark and the demo source)."""
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
    params = ([cv2.IMWRITE_JPEG_QUALITY, int(quality)] if codec == "jpeg"
              else [cv2.IMWRITE_PNG_COMPRESSION, 1])
    ok, enc = cv2.imencode(".jpg" if codec == "jpeg" else ".png", image, params)
    if not ok:
        raise ImageEncodingError(f"cv2.imencode failed for {codec}")
    packed = "mono8" if image.ndim == 2 else "bgr8"
    return f"{original_encoding}; {codec} compressed {packed}", enc.tobytes()
