"""CompressedImage decoding as image_transport's ``compressed`` transport publishes it (issue 13,
item 5); the node process with ``image_transport: compressed`` is in test_node_process.py."""

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
