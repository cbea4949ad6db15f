"""sensor_msgs/Image field conversion (ROS-free): encodings, padding, endianness, bad data."""

from __future__ import annotations

import array

import cv2
import numpy as np
import pytest

from head_pose_ros.image_encoding import (
    ImageEncodingError,
    bgr_to_image_fields,
    encoding_info,
    image_fields_to_bgr,
)


@pytest.fixture
def bgr() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(7, 5, 3), dtype=np.uint8)


def _decode(fields: dict, **kw) -> np.ndarray:
    return image_fields_to_bgr(
        fields["height"], fields["width"], fields["encoding"], fields["is_bigendian"],
        fields["step"], fields["data"], **kw,
    )


@pytest.mark.parametrize("enc", ["bgr8", "rgb8", "bgra8", "rgba8", "8UC3", "8UC4"])
@pytest.mark.parametrize("padding", [0, 3, 16])
def test_colour_round_trip_with_padding(bgr, enc, padding):
    f = bgr_to_image_fields(bgr, enc, padding=padding)
    assert f["step"] == bgr.shape[1] * encoding_info(enc).bytes_per_pixel + padding
    out = _decode(f)
    assert out.shape == bgr.shape and out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, bgr)


def test_rgb_really_swaps_channels():
    img = np.zeros((2, 2, 3), np.uint8)
    img[..., 2] = 200  # red in BGR
    f = bgr_to_image_fields(img, "rgb8")
    raw = np.frombuffer(f["data"], np.uint8).reshape(2, 2, 3)
    assert (raw[..., 0] == 200).all()  # red first in rgb8
    # hand-made rgba8 buffer: pure red, alpha 10
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., 0] = 250
    rgba[..., 3] = 10
    out = image_fields_to_bgr(3, 4, "rgba8", 0, 16, rgba.tobytes())
    assert (out[..., 2] == 250).all() and (out[..., :2] == 0).all()


@pytest.mark.parametrize("enc", ["mono8", "8UC1"])
@pytest.mark.parametrize("padding", [0, 5])
def test_mono8(enc, padding):
    gray = np.arange(35, dtype=np.uint8).reshape(7, 5) * 7
    out = _decode(bgr_to_image_fields(gray, enc, padding=padding))
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)


@pytest.mark.parametrize("enc", ["mono16", "16UC1"])
@pytest.mark.parametrize("bigendian", [False, True])
@pytest.mark.parametrize("padding", [0, 2, 6])
def test_mono16_endianness_and_padding(enc, bigendian, padding):
    gray = (np.arange(35, dtype=np.uint8).reshape(7, 5) * 7).astype(np.uint8)
    f = bgr_to_image_fields(gray, enc, padding=padding, bigendian=bigendian)
    assert f["is_bigendian"] == int(bigendian)
    out = _decode(f, mono16_scaling="shift")
    np.testing.assert_array_equal(out[..., 0], gray)  # (v*257)>>8 == v
    # min-max stretch: the darkest pixel becomes 0 and the brightest 255, order preserved
    mm = _decode(f)[..., 0].astype(int)
    assert mm.min() == 0 and mm.max() == 255
    assert np.all(np.diff(mm.reshape(-1)) >= 0)


def test_mono16_twelve_bit_sensor_is_visible():
    """A 12-bit sensor in a 16-bit container must not come out nearly black."""
    raw = np.linspace(0, 4095, 64 * 48).reshape(48, 64).astype("<u2")
    out = image_fields_to_bgr(48, 64, "mono16", 0, 128, raw.tobytes())
    assert out[..., 0].max() == 255 and out[..., 0].mean() > 100


def test_big_endian_bytes_are_swapped():
    val = np.array([[0x0102, 0xFF00]], dtype=">u2")
    out = image_fields_to_bgr(1, 2, "mono16", 1, 4, val.tobytes(), mono16_scaling="shift")
    assert out[0, 0, 0] == 0x01 and out[0, 1, 0] == 0xFF
    # the same bytes read as little-endian give a different image
    out_le = image_fields_to_bgr(1, 2, "mono16", 0, 4, val.tobytes(), mono16_scaling="shift")
    assert out_le[0, 0, 0] == 0x02 and out_le[0, 1, 0] == 0x00


def test_rclpy_style_array_data_and_missing_last_row_pad(bgr):
    f = bgr_to_image_fields(bgr, "bgr8", padding=4)
    data = array.array("B", f["data"][:-4])  # the last row's pad is absent
    out = image_fields_to_bgr(f["height"], f["width"], "bgr8", 0, f["step"], data)
    np.testing.assert_array_equal(out, bgr)


def test_output_does_not_alias_the_message_buffer(bgr):
    f = bgr_to_image_fields(bgr, "bgr8")
    buf = bytearray(f["data"])
    out = image_fields_to_bgr(f["height"], f["width"], "bgr8", 0, f["step"], buf)
    buf[:] = b"\x00" * len(buf)
    np.testing.assert_array_equal(out, bgr)


def test_yuv422_decodes_grey_level():
    h, w = 4, 6
    uyvy = np.empty((h, w * 2), np.uint8)
    uyvy[:, 0::2] = 128  # U and V neutral
    uyvy[:, 1::2] = 120  # Y
    out = image_fields_to_bgr(h, w, "yuv422", 0, w * 2, uyvy.tobytes())
    ref = cv2.cvtColor(uyvy.reshape(h, w, 2), cv2.COLOR_YUV2BGR_UYVY)
    np.testing.assert_array_equal(out, ref)
    assert abs(int(out.mean()) - 120) < 15


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"encoding": "bayer_rggb8"}, "unsupported image encoding 'bayer_rggb8'"),
        ({"encoding": "32FC1"}, "unsupported"),
        ({"data": b""}, "empty"),
        ({"data": b"\x00" * 50}, "truncated: 50 B"),
        ({"step": 10}, "step 10 is smaller than one row"),
        ({"height": 0}, "no pixels"),
        ({"width": -3}, "no pixels"),
    ],
)
def test_errors_say_what_is_wrong(kwargs, needle):
    base = {"height": 7, "width": 5, "encoding": "bgr8", "is_bigendian": 0, "step": 15,
            "data": b"\x00" * 105}
    base.update(kwargs)
    with pytest.raises(ImageEncodingError, match=needle.replace("(", r"\(")):
        image_fields_to_bgr(**base)


def test_odd_step_for_16_bit_is_rejected():
    with pytest.raises(ImageEncodingError, match="multiple of the 2-byte"):
        image_fields_to_bgr(2, 2, "mono16", 0, 5, b"\x00" * 10)


def test_large_image_is_fast():
    import time

    img = np.zeros((1080, 1920, 3), np.uint8)
    f = bgr_to_image_fields(img, "rgb8", padding=64)
    t = time.perf_counter()
    for _ in range(5):
        _decode(f)
    assert (time.perf_counter() - t) / 5 < 0.1  # vectorised: a few ms per 1080p frame
