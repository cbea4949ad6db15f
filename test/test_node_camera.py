"""CameraInfo -> intrinsics rules and stamp pairing (no ROS process, no rclpy)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from head_pose_ros.ros.camera import (
    CameraInfoBuffer,
    CameraInfoError,
    intrinsics_from_camera_info,
)

K = np.array([[500.0, 0, 320.0], [0, 505.0, 240.0], [0, 0, 1]])
P = np.array([[480.0, 0, 318.0, 0], [0, 482.0, 241.0, 0], [0, 0, 1, 0]])
D = [-0.2, 0.05, 0.001, -0.001, 0.0]


def info(**kw):
    base = {"width": 640, "height": 480, "distortion_model": "plumb_bob", "d": list(D),
            "k": K.reshape(-1).tolist(), "p": P.reshape(-1).tolist(), "binning_x": 0,
            "binning_y": 0, "roi": SimpleNamespace(x_offset=0, y_offset=0, width=0, height=0)}
    base.update(kw)
    return SimpleNamespace(**base)


def test_raw_image_uses_k_and_d():
    intr = intrinsics_from_camera_info(info(), 640, 480, "false")
    np.testing.assert_allclose(intr.K, K)
    np.testing.assert_allclose(intr.dist, D)
    assert intr.calibrated and not intr.rectified and intr.warnings == []


def test_rectified_image_uses_p():
    intr = intrinsics_from_camera_info(info(), 640, 480, "true")
    np.testing.assert_allclose(intr.K, P[:, :3])
    assert intr.dist is None and intr.rectified


def test_auto_mode():
    # non-zero D, topic without 'rect' -> raw
    assert not intrinsics_from_camera_info(info(), 640, 480, "auto", "/cam/image_raw").rectified
    # topic name says rect -> rectified, P
    r = intrinsics_from_camera_info(info(), 640, 480, "auto", "/cam/image_rect")
    assert r.rectified and r.dist is None
    # all-zero D -> rectified (P)
    r = intrinsics_from_camera_info(info(d=[0.0] * 5), 640, 480, "auto", "/cam/image_raw")
    assert r.rectified
    np.testing.assert_allclose(r.K, P[:, :3])


def test_rational_polynomial_kept_and_unknown_model_warns():
    d8 = [0.1, -0.02, 0, 0, 0.001, 0.05, 0.0, 0.0]
    r = intrinsics_from_camera_info(info(distortion_model="rational_polynomial", d=d8), 640, 480,
                                    "false")
    np.testing.assert_allclose(r.dist, d8)
    r = intrinsics_from_camera_info(info(distortion_model="equidistant", d=[0.1, 0.0, 0.0, 0.0]),
                                    640, 480, "false")
    assert r.dist is None
    assert r.warnings and "equidistant" in r.warnings[0][1] and "undistorted" in r.warnings[0][1]


def test_zero_k_is_uncalibrated_guess():
    r = intrinsics_from_camera_info(info(k=[0.0] * 9, p=[0.0] * 12, d=[]), 640, 480, "auto")
    assert not r.calibrated
    assert r.K[0, 0] == r.K[1, 1] == 640 + 480
    assert r.K[0, 2] == pytest.approx(319.5) and r.K[1, 2] == pytest.approx(239.5)
    assert r.warnings[0][0] == "uncalibrated" and "W + H" in r.warnings[0][1]


@pytest.mark.parametrize("field", ["k", "p", "d"])
def test_nan_or_inf_is_refused(field):
    bad = {"k": K.reshape(-1).tolist(), "p": P.reshape(-1).tolist(), "d": list(D)}[field]
    bad[0] = float("nan") if field != "d" else float("inf")
    with pytest.raises(CameraInfoError, match="NaN or inf"):
        intrinsics_from_camera_info(info(**{field: bad}), 640, 480, "false")


def test_pure_resize_scales_k_and_other_sizes_are_refused():
    r = intrinsics_from_camera_info(info(), 320, 240, "false")
    assert r.K[0, 0] == pytest.approx(250.0) and r.K[1, 1] == pytest.approx(252.5)
    # pixel-centre convention: c' = (c + 0.5) * s - 0.5
    assert r.K[0, 2] == pytest.approx((320 + 0.5) * 0.5 - 0.5)
    assert r.warnings[0][0] == "resized"
    with pytest.raises(CameraInfoError, match="aspect ratio differs"):
        intrinsics_from_camera_info(info(), 640, 360, "false")


def test_binning_and_roi():
    r = intrinsics_from_camera_info(info(binning_x=2, binning_y=2), 320, 240, "false")
    assert r.K[0, 0] == pytest.approx(250.0) and r.K[0, 2] == pytest.approx(160.0)
    roi = SimpleNamespace(x_offset=100, y_offset=50, width=200, height=150)
    r = intrinsics_from_camera_info(info(roi=roi), 200, 150, "false")
    assert r.K[0, 2] == pytest.approx(220.0) and r.K[1, 2] == pytest.approx(190.0)


def test_missing_size_in_info_trusts_k():
    r = intrinsics_from_camera_info(info(width=0, height=0), 1280, 720, "false")
    np.testing.assert_allclose(r.K, K)


def test_buffer_pairing():
    buf = CameraInfoBuffer(maxlen=4)
    assert buf.match(1.0, "cam", 0.01) == (None, "none")
    for i in range(6):
        buf.add(10.0 + i * 0.1, "cam", f"info{i}")
    assert len(buf) == 4  # bounded
    assert buf.match(10.3, "cam", 0.01) == ("info3", "exact")
    assert buf.match(10.405, "cam", 0.01) == ("info4", "nearest")
    assert buf.match(12.0, "cam", 0.01) == ("info5", "latest")
    assert buf.match(10.2, "cam", 0.01)[1] == "exact"
    # another frame's info is used only when none with the image's frame exists
    buf.add(10.3, "other", "other_info")
    assert buf.match(10.3, "cam", 0.01) == ("info3", "exact")
    assert buf.match(10.3, "nothing", 0.01)[1] == "exact"
