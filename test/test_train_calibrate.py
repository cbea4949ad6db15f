"""Covariance calibration: fitted scales are stored in the checkpoint and give the nominal
1-sigma coverage on the calibration set."""

from __future__ import annotations

import json

import numpy as np


def _tiny_set_and_model(shared_data, tmp_path, monkeypatch, count: int, seed: int,
                        preset: str, **model_kw):
    """A small rendered calibration set and a tiny random checkpoint -> (set dir, weights)."""
    from head_pose_ros.checkpoint import save_checkpoint
    from head_pose_ros.model.config import ModelConfig
    from head_pose_ros.model.trg import build_model
    from head_pose_ros.synth import cli as synth_cli
    from head_pose_ros.topology import load_arkit1220

    monkeypatch.setenv("HEAD_POSE_SHARED_DATA", str(shared_data))
    data = tmp_path / "calib"
    assert synth_cli.main(["--out", str(data), "--count", str(count), "--seed", str(seed),
                           "--preset", preset, "--image-size", "240", "180",
                           "--multi-person", "0"]) == 0
    cfg = ModelConfig(backbone="mobilenet", backbone_width=0.25, input_size=96,
                      feature_channels=16, point_mlp_hidden=(8, 8), grid_size=6,
                      regressor_hidden=32, **model_kw)
    return data, save_checkpoint(tmp_path / "tiny.safetensors",
                                 build_model(cfg, load_arkit1220(shared_data)))


def test_calibrate_writes_scales_and_hits_nominal_coverage(shared_data, tmp_path, monkeypatch):
    from head_pose_ros.checkpoint import read_checkpoint_metadata
    from head_pose_ros.estimator import HeadPoseEstimator
    from head_pose_ros.train import calibrate as cal

    data, weights = _tiny_set_and_model(shared_data, tmp_path, monkeypatch, 16, 3, "robot")
    out, js = tmp_path / "tiny_cal.safetensors", tmp_path / "coverage.json"
    assert cal.main(["--weights", str(weights), "--calib", str(data), "--out", str(out),
                     "--report", str(data), "--json", str(js)]) == 0

    meta = read_checkpoint_metadata(out)["meta"]["covariance"]
    assert meta["calibrated"] is True and all(s > 0 for s in meta["scale"])
    assert not np.allclose(meta["scale"], 1.0)
    est = HeadPoseEstimator.from_checkpoint(out)
    assert est.covariance.calibrated and np.allclose(est.covariance.scale, meta["scale"])

    report = json.loads(js.read_text())
    cov = report["sets"]["calib"]["coverage"]
    for axis, v in cov.items():  # 16 samples: the 68.3 % quantile lands on 11 or 12 of them
        assert 0.6 <= v["1sigma"] <= 0.8, (axis, v)
        assert v["2sigma"] >= v["1sigma"]


def test_calibrate_per_face_rotation_head_and_camera_axes(shared_data, tmp_path, monkeypatch):
    """With the uncertainty head: head-axis scales fit the head-frame errors, then camera-axis
    scales make every published rotation axis cover ~68 % of the calibration set; the report
    has head-axis, joint chi2 and sigma-by-yaw figures and the shipped covariance is per face."""
    from head_pose_ros.checkpoint import read_checkpoint_metadata
    from head_pose_ros.estimator import HeadPoseEstimator
    from head_pose_ros.train import calibrate as cal

    data, weights = _tiny_set_and_model(shared_data, tmp_path, monkeypatch, 24, 5, "wild",
                                        rotation_uncertainty=True, last_layer_gain=1.0)
    out, js = tmp_path / "tiny_cal.safetensors", tmp_path / "coverage.json"
    assert cal.main(["--weights", str(weights), "--calib", str(data), "--out", str(out),
                     "--report", str(data), "--json", str(js),
                     "--plot", str(tmp_path / "s.png")]) == 0
    meta = read_checkpoint_metadata(out)["meta"]["covariance"]
    assert not np.allclose(meta["rot_head_scale"], 1.0)
    report = json.loads(js.read_text())
    assert report["per_face_rotation"] is True
    rep = report["sets"]["calib"]
    assert rep["in_calibration"] is True
    for axis in ("rotX", "rotY", "rotZ"):  # 24 samples: the 68.3 % quantile is 16 or 17 of them
        assert 0.62 <= rep["coverage"][axis]["1sigma"] <= 0.75, (axis, rep["coverage"][axis])
    rot = rep["rotation"]
    assert set(rot["head_axes"]) == {"head_x", "head_y", "head_z"}
    assert 0.0 <= rot["joint_chi2_3dof"]["1sigma"] <= rot["joint_chi2_3dof"]["2sigma"] <= 1.0
    assert sum(b["n"] for b in rot["by_yaw"].values()) == 24
    assert (tmp_path / "s.png").stat().st_size > 0
    est = HeadPoseEstimator.from_checkpoint(out)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (180, 240, 3), dtype=np.uint8)
    K = np.array([[200.0, 0, 120], [0, 200, 90], [0, 0, 1]])
    a, b = est.predict(img, K, boxes=np.array([[60.0, 40, 140, 120], [10, 10, 60, 60]]))
    assert not np.allclose(a.covariance[3:, 3:], b.covariance[3:, 3:])
