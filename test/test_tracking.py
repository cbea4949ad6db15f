"""Face tracker id stability and the SE(3) One-Euro pose filter (ROS-free)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from head_pose_ros.tracking import FaceTracker, OneEuroFilter, PoseFilter, smoothing_alpha


def _box(cx, cy, s=60.0):
    return np.array([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2])


def test_confirmation_after_min_hits_and_removal_after_max_misses():
    tr = FaceTracker(min_hits=3, max_misses=2)
    b = _box(100, 100)
    assert tr.update([b]).ids == [None]
    assert tr.update([b]).ids == [None]
    assert tr.update([b]).ids == [1]
    for _ in range(2):  # coasting, still alive
        up = tr.update(np.zeros((0, 4)))
        assert up.removed == [] and 1 in up.tracks
    up = tr.update(np.zeros((0, 4)))
    assert up.removed == [1] and up.tracks == {}
    # a flicker of one frame never gets an id
    tr.update([_box(400, 100)])
    tr.update([])
    tr.update([_box(400, 100)])
    assert tr.update([]).removed == [] and tr.confirmed_tracks() == {}


def test_ids_stable_through_crossing_and_dropout():
    """Two faces move towards each other, cross (overlap), one drops out for 3 frames."""
    tr = FaceTracker(min_hits=2, max_misses=5)
    rng = np.random.default_rng(0)
    n = 60
    xa = np.linspace(100, 500, n)  # A moves right
    xb = np.linspace(500, 100, n)  # B moves left, crossing A at frame ~30
    ya, yb = 200.0, 230.0
    seen_a, seen_b = set(), set()
    for i in range(n):
        boxes = []
        order = []
        if not (40 <= i < 43):  # A drops out right after the crossing
            boxes.append(_box(xa[i], ya) + rng.normal(0, 1.5, 4))
            order.append("a")
        boxes.append(_box(xb[i], yb) + rng.normal(0, 1.5, 4))
        order.append("b")
        if i % 2:  # detector output order must not matter
            boxes, order = boxes[::-1], order[::-1]
        up = tr.update(np.array(boxes))
        for who, tid in zip(order, up.ids, strict=True):
            if i >= 2:
                (seen_a if who == "a" else seen_b).add(tid)
        assert up.removed == []
    assert len(seen_a) == 1 and len(seen_b) == 1 and seen_a != seen_b, (seen_a, seen_b)
    assert None not in seen_a | seen_b


def test_new_person_gets_new_id_and_ids_are_not_reused():
    tr = FaceTracker(min_hits=1, max_misses=0)
    assert tr.update([_box(100, 100)]).ids == [1]
    up = tr.update([_box(600, 100)])  # far away: not the same person
    assert up.ids == [2] and up.removed == [1]
    assert tr.update([_box(100, 100)]).ids == [3]


def test_one_euro_scalar_behaviour():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    assert f(np.array([1.0]), 0.1)[0] == 1.0  # first sample passes through
    y = f(np.array([2.0]), 0.1)[0]
    a = smoothing_alpha(1.0, 0.1)
    assert y == pytest.approx(1 + a)
    with pytest.raises(ValueError):
        PoseFilter(mode="kalman")


SIGMA_R = np.radians(1.0)
SETTINGS = {"min_cutoff_t": 0.5, "beta_t": 10.0, "min_cutoff_r": 0.5, "beta_r": 0.5}


def _rotvec(m):
    return Rotation.from_matrix(m).as_rotvec()


def test_pose_filter_cuts_jitter_at_rest():
    """3 mm / 1 deg white noise on a static pose at 30 fps: std drops by more than 3x."""
    rng = np.random.default_rng(3)
    r0 = Rotation.from_euler("yxz", [0.3, -0.1, 0.05]).as_matrix()
    t0 = np.array([0.05, -0.02, 0.8])
    pf = PoseFilter(**SETTINGS)
    raw_t, f_t, raw_r, f_r = [], [], [], []
    for i in range(300):
        rot = r0 @ Rotation.from_rotvec(rng.normal(0, SIGMA_R, 3)).as_matrix()
        trans = t0 + rng.normal(0, 0.003, 3)
        rot_f, trans_f = pf(i / 30.0, rot, trans)
        assert abs(np.linalg.det(rot_f) - 1) < 1e-9
        if i < 60:  # let it settle
            continue
        raw_t.append(trans - t0)
        f_t.append(trans_f - t0)
        raw_r.append(_rotvec(r0.T @ rot))
        f_r.append(_rotvec(r0.T @ rot_f))
    jt = np.std(raw_t, axis=0).mean() / np.std(f_t, axis=0).mean()
    jr = np.std(raw_r, axis=0).mean() / np.std(f_r, axis=0).mean()
    assert jt > 3 and jr > 3, (jt, jr)


def _ramp_lag(pf, fps=30.0, n=60):
    """Mean lag in frames behind a 90 deg/s yaw ramp and a 20 cm/s slide (after 0.5 s)."""
    w = np.radians(90.0)
    v = np.array([0.2, 0.0, 0.0])
    lag_r, lag_t = [], []
    for i in range(n):
        t = i / fps
        rot = Rotation.from_euler("y", w * t).as_matrix()
        trans = np.array([0.0, 0.0, 1.0]) + v * t
        rot_f, trans_f = pf(t, rot, trans)
        if i >= 15:
            lag_r.append(np.linalg.norm(_rotvec(rot.T @ rot_f)) / (w / fps))
            lag_t.append(np.linalg.norm(trans_f - trans) / (np.linalg.norm(v) / fps))
    return float(np.mean(lag_r)), float(np.mean(lag_t))


def test_pose_filter_follows_fast_turn_with_little_lag():
    lag_r, lag_t = _ramp_lag(PoseFilter(**SETTINGS))
    assert lag_r < 2.0 and lag_t < 2.0, (lag_r, lag_t)
    # without the speed term (a plain low-pass at the rest cutoff) the lag is far larger:
    slow_r, slow_t = _ramp_lag(PoseFilter(**{**SETTINGS, "beta_t": 0.0, "beta_r": 0.0}))
    assert slow_r > 2 * lag_r and slow_t > 2 * lag_t, (slow_r, slow_t)


def test_pose_filter_step_converges_and_resets_on_gap():
    pf = PoseFilter(**SETTINGS, reset_after=0.5)
    r1 = Rotation.from_euler("y", 0.8).as_matrix()
    t1 = np.array([0.3, 0.0, 1.2])
    pf(0.0, np.eye(3), np.array([0.0, 0.0, 1.0]))
    for i in range(1, 10):  # a step: within 9 frames (0.3 s) 90 % of it is followed
        rot_f, trans_f = pf(i / 30, r1, t1)
    assert np.linalg.norm(_rotvec(r1.T @ rot_f)) < 0.1 * 0.8
    assert np.linalg.norm(trans_f - t1) < 0.1 * np.linalg.norm(t1 - [0, 0, 1])
    # the same stamp twice keeps the state
    again_r, again_t = pf(9 / 30, np.eye(3), np.zeros(3))
    np.testing.assert_allclose(again_r, rot_f)
    np.testing.assert_allclose(again_t, trans_f)
    # a gap resets: the new measurement passes through exactly
    rot_f, trans_f = pf(5.0, np.eye(3), np.zeros(3))
    np.testing.assert_allclose(rot_f, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(trans_f, 0, atol=1e-12)
    # 'none' passes through
    rot, trans = PoseFilter(mode="none")(0.0, r1, t1)
    np.testing.assert_allclose(rot, r1)
    np.testing.assert_allclose(trans, t1)
