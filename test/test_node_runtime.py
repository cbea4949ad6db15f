"""The node's ROS-free runtime pieces: time-windowed diagnostics (issue 13 item 7) and the
CameraInfo pairing that must not wait on every frame (item 5)."""

from __future__ import annotations

import math
import threading
import time
from types import SimpleNamespace

import pytest

from head_pose_ros.ros.camera import CameraInfoPairer
from head_pose_ros.ros.runtime import ERROR, OK, WARN, NodeStats


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


# ------------------------------------------------------------------ diagnostics
def test_output_rate_is_not_capped_by_a_buffer():
    """100 Hz for 5 s reads 100 Hz (the 200-entry deque read at most 200 / 5 s = 40 Hz)."""
    clock = Clock()
    st = NodeStats(window=5.0, clock=clock)
    for _ in range(1000):  # 10 s at 100 Hz
        clock.t += 0.01
        st.record_received()
        st.record_done(latency=0.02, compute=0.01, faces=1, detector_ran=True)
    s = st.snapshot(received=1000, dropped=0)
    assert s["output_rate_hz"] == pytest.approx(100.0, rel=0.01)
    assert s["input_rate_hz"] == pytest.approx(100.0, rel=0.01)
    assert s["processed"] == 1000 and s["processed_recent"] == pytest.approx(500, abs=1)
    assert s["latency_mean_ms"] == pytest.approx(20.0)
    assert st.level(s)[0] == OK


def test_rate_while_starting_and_after_the_stream_stops():
    clock = Clock()
    st = NodeStats(window=5.0, clock=clock)
    for _ in range(30):  # 1 s at 30 Hz, just started: not 30 / 5 = 6 Hz
        clock.t += 1 / 30
        st.record_done(0.01, 0.01, 1, True)
    assert st.snapshot()["output_rate_hz"] == pytest.approx(30.0, rel=0.05)
    clock.t += 6.0  # nothing for longer than the window
    s = st.snapshot()
    assert s["output_rate_hz"] == 0.0 and s["processed"] == 30
    assert st.level(s) == (WARN, "no image in the last 5 s")


def test_error_level_when_recent_frames_fail_and_recovery():
    clock = Clock()
    st = NodeStats(window=5.0, clock=clock)
    assert st.level(st.snapshot())[0] == WARN  # nothing yet
    for _ in range(50):  # every frame throws
        clock.t += 0.05
        st.record_failure("errors", "RuntimeError: boom")
    level, text = st.level(st.snapshot())
    assert level == ERROR and "50 of the last 50 frames failed" in text and "boom" in text
    for i in range(100):  # half of them fail: still ERROR
        clock.t += 0.05
        if i % 2:
            st.record_failure("skipped", "bad encoding")
        else:
            st.record_done(0.01, 0.01, 1, True)
    assert st.level(st.snapshot())[0] == ERROR
    for i in range(100):  # one in ten fails: WARN
        clock.t += 0.05
        if i % 10 == 0:
            st.record_failure("skipped", "bad encoding")
        else:
            st.record_done(0.01, 0.01, 1, True)
    assert st.level(st.snapshot())[0] == WARN
    for _ in range(120):  # healthy for longer than the window: OK again
        clock.t += 0.05
        st.record_done(0.01, 0.01, 2, True)
    s = st.snapshot()
    assert st.level(s) == (OK, "2 face(s)")
    assert s["errors"] == 50 and s["skipped"] == 60  # totals since start stay


# ------------------------------------------------------------------ CameraInfo pairing
def _info(stamp: float) -> SimpleNamespace:
    return SimpleNamespace(stamp=stamp)


def test_no_camera_info_waits_once_not_per_frame():
    p = CameraInfoPairer()
    t0 = time.monotonic()
    for i in range(20):
        info, how = p.pair(10.0 + i / 30, "cam", 0.02, wait=0.1)
        assert info is None and how == "none"
    took = time.monotonic() - t0
    assert p.waits == 1 and took < 0.1 + 0.5, (p.waits, took)  # the old code: 20 x 0.1 s


def test_slow_camera_info_is_used_without_waiting():
    """CameraInfo at 1 Hz, images at 30 Hz: the latest info, no wait per image."""
    p = CameraInfoPairer()
    p.add(10.0, "cam", _info(10.0))
    t0 = time.monotonic()
    got = []
    for i in range(1, 60):
        stamp = 10.0 + i / 30
        if i % 30 == 0:
            p.add(stamp + 0.001, "cam", _info(stamp + 0.001))  # not the image's own stamp
        got.append(p.pair(stamp, "cam", 0.0005, wait=0.1))
    took = time.monotonic() - t0
    assert all(info is not None and how == "latest" for info, how in got)
    assert p.waits <= 1 and took < 0.3, (p.waits, took)  # at most the first image


def test_slow_camera_info_with_matching_stamps_is_not_waited_for():
    """CameraInfo at 1 Hz with the stamp of every 30th image: no 0.1 s wait after each."""
    p = CameraInfoPairer()
    hows = []
    for i in range(90):
        stamp = 10.0 + i / 30
        if i % 30 == 0:
            p.add(stamp, "cam", _info(stamp))
        hows.append(p.pair(stamp, "cam", 0.001, wait=0.1)[1])
    assert hows.count("exact") == 3 and p.waits == 0, (hows, p.waits)


def test_per_frame_camera_info_arriving_late_is_waited_for():
    """A driver that publishes the CameraInfo just after the image: each image waits for its
    own (exact pairing), for as long as that keeps working."""
    p = CameraInfoPairer()
    p.add(9.0, "cam", _info(9.0))
    for i in range(5):
        stamp = 10.0 + i / 30
        threading.Timer(0.01, p.add, (stamp, "cam", _info(stamp))).start()
        info, how = p.pair(stamp, "cam", 0.001, wait=0.5)
        assert how == "exact" and info.stamp == stamp
    assert p.waits == 5 and p.wait_s < 5 * 0.2


def test_info_already_there_never_waits():
    p = CameraInfoPairer()
    for i in range(10):
        p.add(10.0 + i, "cam", _info(10.0 + i))
        assert p.pair(10.0 + i, "cam", 0.001, wait=1.0)[1] == "exact"
    assert p.waits == 0


def test_diagnostics_split_a_frame_into_its_stages():
    """Issue 18 item 3: /diagnostics carries the mean time of each stage of a node frame."""
    from head_pose_ros.ros.runtime import NODE_STAGES, NodeStats

    t = [100.0]
    st = NodeStats(window=5.0, clock=lambda: t[0])
    st.record_done(0.02, 0.018, 1, True)  # a frame without stage times (older callers)
    for infer in (0.010, 0.014):
        st.record_done(0.03, 0.025, 1, True, stages={
            "receive": 0.001, "convert": 0.002, "detect": 0.008, "crop": 0.001,
            "infer": infer, "post": 0.001, "publish": 0.003})
    s = st.snapshot()
    assert {f"stage_{n}_mean_ms" for n in NODE_STAGES} <= set(s)
    assert s["stage_infer_mean_ms"] == pytest.approx(12.0)
    assert s["stage_publish_mean_ms"] == pytest.approx(3.0)
    t[0] += 10.0  # the window moved past them: no stage figure
    assert math.isnan(NodeStats(window=5.0).snapshot()["stage_infer_mean_ms"])
    assert math.isnan(st.snapshot()["stage_detect_mean_ms"])
