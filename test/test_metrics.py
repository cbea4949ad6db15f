"""Tests of head_pose_ros.metrics (pure numpy)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from head_pose_ros import metrics as hm


def _rot(axis: str, deg: float) -> np.ndarray:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def test_wrap_deg() -> None:
    np.testing.assert_allclose(hm.wrap_deg(np.array([190.0, -190.0, 360.0, 180.0, -180.0])),
                               [-170.0, 170.0, 0.0, 180.0, 180.0])


def test_geodesic_known_angles() -> None:
    Rg = np.stack([np.eye(3), _rot("y", 30.0), _rot("x", 10.0)])
    Rp = np.stack([_rot("z", 5.0), _rot("y", 30.0) @ _rot("x", 12.0), _rot("x", -170.0)])
    np.testing.assert_allclose(hm.geodesic_deg(Rp, Rg), [5.0, 12.0, 180.0], atol=1e-6)


def test_aflw_labels_round_trip_and_wraparound() -> None:
    from head_pose_ros.geometry import aflw_label_to_rotation

    rng = np.random.default_rng(0)
    for _ in range(20):
        pitch, yaw, roll = rng.uniform(-1.5, 1.5, 3)
        R = aflw_label_to_rotation(pitch, yaw, roll)
        ypr = np.radians(hm.euler_ypr_deg(R[None], "aflw")[0])
        np.testing.assert_allclose(ypr, [yaw, pitch, roll], atol=1e-9)
    # roll of +179 vs -179 deg is a 2 deg error, not 358
    Ra = aflw_label_to_rotation(0.0, 0.1, math.radians(179.0))
    Rb = aflw_label_to_rotation(0.0, 0.1, math.radians(-179.0))
    e = hm.rotation_errors_deg(Ra[None], Rb[None], convention="aflw")
    assert e["roll"][0] == pytest.approx(2.0, abs=1e-6)
    assert e["yaw"][0] == pytest.approx(0.0, abs=1e-6)
    assert e["ge"][0] == pytest.approx(2.0, abs=1e-6)


def test_trg_convention_single_axis() -> None:
    """Single-axis rotations show up in one angle only: yaw about camera y, roll about z."""
    e = hm.rotation_errors_deg(_rot("y", 20.0)[None], np.eye(3)[None])
    assert e["yaw"][0] == pytest.approx(20.0) and e["pitch"][0] < 1e-9 and e["roll"][0] < 1e-9
    e = hm.rotation_errors_deg(_rot("z", -15.0)[None], np.eye(3)[None])
    assert e["roll"][0] == pytest.approx(15.0) and e["yaw"][0] < 1e-9
    e = hm.rotation_errors_deg(_rot("x", 7.0)[None], np.eye(3)[None])
    assert e["pitch"][0] == pytest.approx(7.0) and e["yaw"][0] < 1e-9


def test_signed_errors_and_bias() -> None:
    """A constant pitch offset is all bias; errors of both signs average out in the bias only."""
    gt = np.stack([_rot("x", a) for a in (-30.0, -5.0, 0.0, 12.0, 40.0)])
    pred = np.stack([_rot("x", a + 5.0) for a in (-30.0, -5.0, 0.0, 12.0, 40.0)])
    e = hm.rotation_errors_deg(pred, gt)
    np.testing.assert_allclose(e["pitch_signed"], 5.0, atol=1e-9)
    np.testing.assert_allclose(np.abs(e["pitch_signed"]), e["pitch"])
    s = hm.summarise(e)
    assert s["bias_pitch"] == pytest.approx(5.0) and s["mae_pitch"] == pytest.approx(5.0)
    assert abs(s["bias_yaw"]) < 1e-9 and abs(s["bias_roll"]) < 1e-9
    # +3 and -3 deg of yaw: MAE 3, bias 0
    e = hm.rotation_errors_deg(np.stack([_rot("y", 3.0), _rot("y", -3.0)]), np.stack([np.eye(3)] * 2))
    s = hm.summarise(e)
    assert s["mae_yaw"] == pytest.approx(3.0) and abs(s["bias_yaw"]) < 1e-9
    # a head frame pitched by 5 deg shows as offset_x = 5 whatever the head pose, while the
    # Euler pitch error of a turned head is not 5
    rng = np.random.default_rng(3)
    gt = np.stack([_rot("y", a) @ _rot("x", b) for a, b in rng.uniform(-70, 70, (20, 2))])
    pred = gt @ _rot("x", 5.0)
    e = hm.rotation_errors_deg(pred, gt)
    np.testing.assert_allclose(e["offset_x"], 5.0, atol=1e-9)
    np.testing.assert_allclose(e["offset_y"], 0.0, atol=1e-9)
    np.testing.assert_allclose(e["offset_z"], 0.0, atol=1e-9)
    assert np.abs(e["pitch_signed"] - 5.0).max() > 0.5
    s = hm.summarise(e)
    assert s["frame_offset_x"] == pytest.approx(5.0) and abs(s["frame_offset_z"]) < 1e-9
    # positive offset_x: the chin (head +y) moves away from the camera (head +z)
    chin = _rot("x", 5.0) @ np.array([0.0, 1.0, 0.0])
    assert chin[2] > 0
    # wrap-around: +179 vs -179 is +2 (or -2), never 358
    d = hm.euler_signed_errors_deg(_rot("z", 179.0)[None], _rot("z", -179.0)[None])
    assert abs(d[0, 2]) == pytest.approx(2.0, abs=1e-6)


def test_translation_add_and_landmarks() -> None:
    rng = np.random.default_rng(1)
    V = rng.normal(scale=0.05, size=(2, 100, 3))
    Rg = np.stack([np.eye(3), _rot("y", 20)])
    Tg = np.array([[0.0, 0.0, 0.5], [0.1, -0.05, 1.0]])
    Tp = Tg + np.array([[0.001, -0.002, 0.003], [0.0, 0.0, -0.010]])
    t = hm.translation_errors_mm(Tp, Tg)
    np.testing.assert_allclose(t, [[1, 2, 3], [0, 0, 10]], atol=1e-9)
    # same rotation -> ADD = |dT|
    add = hm.add_mm(Rg, Tp, Rg, Tg, V)
    np.testing.assert_allclose(add, [math.sqrt(14.0), 10.0], atol=1e-9)
    # pure rotation error about the head origin: ADD = mean |(Rp - Rg) v|
    Rp = np.stack([_rot("z", 90.0), Rg[1]])
    add2 = hm.add_mm(Rp, Tg, Rg, Tg, V[0])
    expect = 1000 * np.linalg.norm(np.einsum("ij,vj->vi", Rp[0] - Rg[0], V[0]), axis=1).mean()
    assert add2[0] == pytest.approx(expect)
    assert add2[1] == pytest.approx(0.0)
    d = hm.dense_landmark_error_mm(V + np.array([0.0, 0.003, 0.004]), V)
    np.testing.assert_allclose(d, [5.0, 5.0], atol=1e-9)


def test_face_size() -> None:
    V = np.array([[0, 0, 0], [0.01, 0, 0], [0, 0.01, 0], [0.01, 0.01, 0]], dtype=float)
    tri = np.array([[0, 1, 2], [1, 3, 2]])
    assert hm.face_size_mm2(V, tri) == pytest.approx(100.0)
    assert hm.face_size_mm2(np.stack([V, 2 * V]), tri)[1] == pytest.approx(400.0)


def test_nme_2d() -> None:
    g = np.zeros((1, 68, 2))
    g[0, :, 0] = np.linspace(0, 100, 68)
    g[0, :, 1] = np.linspace(0, 25, 68)
    p = g + np.array([3.0, 4.0])
    assert hm.nme_2d_percent(p, g)[0] == pytest.approx(100 * 5.0 / 50.0)


def test_summarise_keys_and_none() -> None:
    rng = np.random.default_rng(2)
    n = 5
    R = np.stack([_rot("y", a) for a in rng.uniform(-40, 40, n)])
    gt = {"R": R, "T": rng.normal(size=(n, 3)), "vertices": rng.normal(size=(n, 50, 3)) * 0.05}
    pred = {"R": np.stack([r @ _rot("x", 1.0) for r in R]), "T": gt["T"] + 0.001,
            "vertices": gt["vertices"] + np.array([0.0, 0.0, 0.002])}
    err = hm.per_sample_errors(pred, gt, triangles=np.array([[0, 1, 2]]))
    s = hm.summarise(err, extras={"n_missed": 0})
    assert list(s)[: len(hm.SUMMARY_KEYS)] == list(hm.SUMMARY_KEYS)
    assert s["n"] == n and s["n_missed"] == 0
    assert s["mae_t"] == pytest.approx(1.0)
    # ADD = |dT| = sqrt(3) mm up to the displacement of a 1 deg rotation error of the mesh
    d = 1000 * np.linalg.norm(gt["vertices"], axis=-1).max() * 2 * math.sin(math.radians(0.5))
    assert math.sqrt(3.0) - d <= s["add"] <= math.sqrt(3.0) + d
    assert s["lmk_median"] == pytest.approx(2.0) and s["lmk_mean"] == pytest.approx(2.0)
    assert s["ge"] == pytest.approx(1.0, abs=1e-6)
    assert s["mae_r"] == pytest.approx((s["mae_yaw"] + s["mae_pitch"] + s["mae_roll"]) / 3)
    # rotation-only labels: translation/ADD/landmark keys exist and are None
    err2 = hm.per_sample_errors(pred, gt, has_translation=False, has_vertices=False,
                               convention="aflw")
    s2 = hm.summarise(err2)
    for k in ("mae_tx", "mae_t", "add", "lmk_median", "lmk_mean"):
        assert k in s2 and s2[k] is None
    assert "deg" in hm.format_table(s2)


def test_wraparound_trg() -> None:
    e = hm.rotation_errors_deg(_rot("z", 179.0)[None], _rot("z", -179.0)[None])
    assert e["ge"][0] == pytest.approx(2.0, abs=1e-6)
    assert e["roll"][0] == pytest.approx(2.0, abs=1e-6)
