"""CompressedImage decoding as image_transport's ``compressed`` transport publishes it (issue 13,
item 5); the node process with ``image_transport: compressed`` is in test_node_robustness.py."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from head_pose_ros.image_encoding import ImageEncodingError
from head_pose_ros.ros.compressed import (
    bgr_to_compressed,
    compressed_to_bgr,
    compressed_topic,
    parse_compressed_format,
)


def _image() -> np.ndarray:
    img = np.zeros((48, 64, 3), np.uint8)
    img[:, :, 0] = 200  # blue
    img[:16, :, 2] = 220  # red band at the top
    return img


def test_topic_and_format_strings():
    assert compressed_topic("/camera/image_raw") == "/camera/image_raw/compressed"
    assert parse_compressed_format("rgb8; jpeg compressed bgr8") == ("rgb8", "jpeg", "bgr8")
    assert parse_compressed_format("mono16; png compressed mono16") == ("mono16", "png", "mono16")
    assert parse_compressed_format("jpeg") == ("", "jpeg", "")
    assert parse_compressed_format("") == ("", "", "")
    with pytest.raises(ImageEncodingError, match="compressedDepth"):
        parse_compressed_format("16UC1; compressedDepth png")


@pytest.mark.parametrize("fmt", ["rgb8; jpeg compressed bgr8", "bgr8; jpeg compressed bgr8",
                                 "jpeg", ""])
def test_jpeg_colour(fmt):
    img = _image()
    ok, enc = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    out = compressed_to_bgr(fmt, enc.tobytes())
    assert out.shape == img.shape and out.dtype == np.uint8 and out.flags.c_contiguous
    assert np.abs(out.astype(int) - img).mean() < 4  # colours kept: BGR in, BGR out


def test_png_rgb_compressed_encoding_is_swapped_and_mono_png16():
    img = _image()
    ok, enc = cv2.imencode(".png", img[:, :, ::-1])  # a publisher that packed rgb8 as is
    out = compressed_to_bgr("rgb8; png compressed rgb8", enc.tobytes())
    np.testing.assert_array_equal(out, img)
    mono16 = (np.arange(48 * 64, dtype=np.uint16).reshape(48, 64) * 20)
    ok, enc = cv2.imencode(".png", mono16)
    out = compressed_to_bgr("mono16; png compressed mono16", enc.tobytes(), "minmax")
    assert out.shape == (48, 64, 3) and out[0, 0, 0] == 0 and out[-1, -1, 0] == 255
    ok, enc = cv2.imencode(".png", img[:, :, 0])
    out = compressed_to_bgr("mono8; png compressed mono8", enc.tobytes())
    np.testing.assert_array_equal(out[:, :, 1], img[:, :, 0])


def test_round_trip_helper():
    fmt, data = bgr_to_compressed(_image(), "png")
    assert fmt == "bgr8; png compressed bgr8"
    np.testing.assert_array_equal(compressed_to_bgr(fmt, data), _image())


@pytest.mark.parametrize(("fmt", "data", "needle"), [
    ("jpeg", b"", "empty"),
    ("jpeg", b"hello world, not an image", "neither JPEG nor PNG"),
    ("png", cv2.imencode(".jpg", _image())[1].tobytes(), "says png but the data is jpeg"),
    ("jpeg", cv2.imencode(".jpg", _image())[1].tobytes()[:40], "cannot decode"),
])
def test_bad_data_raises_a_clear_error(fmt, data, needle):
    with pytest.raises(ImageEncodingError, match=needle):
        compressed_to_bgr(fmt, data)


# ------------------------------------------------------------------ issue 17 item 5
def _mosaic(bgr: np.ndarray, pattern: str) -> np.ndarray:
    """The raw sensor mosaic of a BGR image for a ROS bayer pattern (row-major 2x2 cell)."""
    ch = {"r": 2, "g": 1, "b": 0}
    out = np.zeros(bgr.shape[:2], bgr.dtype)
    for k, c in enumerate(pattern):
        i, j = divmod(k, 2)
        out[i::2, j::2] = bgr[i::2, j::2, ch[c]]
    return out


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_bayer_stream_is_demosaicked_not_grey(pattern):
    """Issue 17: a compressed bayer_* stream was accepted as a grey mosaic. Flat colour patches
    must come back in colour, for every pattern."""
    img = np.zeros((48, 64, 3), np.uint8)
    img[:, :32] = (30, 60, 200)   # red-ish (BGR)
    img[:, 32:] = (200, 90, 20)   # blue-ish
    ok, enc = cv2.imencode(".png", _mosaic(img, pattern))
    out = compressed_to_bgr(f"bayer_{pattern}8; png compressed mono8", enc.tobytes())
    assert out.shape == img.shape
    inner = (slice(4, -4), slice(4, 28)), (slice(4, -4), slice(36, -4))
    for sl, want in zip(inner, ((30, 60, 200), (200, 90, 20)), strict=True):
        np.testing.assert_allclose(out[sl].reshape(-1, 3).mean(0), want, atol=6)


def test_bad_bayer_is_refused_with_a_reason():
    ok, enc = cv2.imencode(".png", np.zeros((8, 8), np.uint8))
    with pytest.raises(ImageEncodingError, match="unknown bayer pattern"):
        compressed_to_bgr("bayer_xxxx8; png compressed mono8", enc.tobytes())
    ok, enc = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ImageEncodingError, match="mosaic has one"):
        compressed_to_bgr("bayer_rggb8; png compressed bgr8", enc.tobytes())


def test_png16_colour_stays_colour():
    """Issue 17: a 16-bit colour PNG turned grey."""
    img16 = np.zeros((16, 16, 3), np.uint16)
    img16[..., 2] = 60000  # red
    img16[..., 0] = 1000
    ok, enc = cv2.imencode(".png", img16)
    out = compressed_to_bgr("bgr16; png compressed bgr16", enc.tobytes(), "shift")
    assert out.shape == (16, 16, 3)
    assert out[0, 0, 2] == 60000 >> 8 and out[0, 0, 0] == 1000 >> 8 and out[0, 0, 1] == 0
    rgb = compressed_to_bgr("rgb16; png compressed rgb16", enc.tobytes(), "shift")
    assert rgb[0, 0, 0] == 60000 >> 8  # rgb16 packed as is: swapped to BGR
