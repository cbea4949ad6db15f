"""Covariance calibration: fitted scales are stored in the checkpoint and give the nominal
1-sigma coverage on the calibration set."""

from __future__ import annotations

import json

import numpy as np


def test_calibrate_writes_scales_and_hits_nominal_coverage(shared_data, tmp_path, monkeypatch):
    from head_pose_ros.checkpoint import read_checkpoint_metadata, save_checkpoint
    from head_pose_ros.estimator import HeadPoseEstimator
    from head_pose_ros.model.config import ModelConfig
    from head_pose_ros.model.trg import build_model
    from head_pose_ros.synth import cli as synth_cli
    from head_pose_ros.topology import load_arkit1220
    from head_pose_ros.train import calibrate as cal

    monkeypatch.setenv("HEAD_POSE_SHARED_DATA", str(shared_data))
    data = tmp_path / "calib"
    assert synth_cli.main(["--out", str(data), "--count", "16", "--seed", "3", "--preset",
                           "robot", "--image-size", "240", "180", "--multi-person", "0"]) == 0
    cfg = ModelConfig(backbone="mobilenet", backbone_width=0.25, input_size=96,
                      feature_channels=16, point_mlp_hidden=(8, 8), grid_size=6,
                      regressor_hidden=32)
    weights = save_checkpoint(tmp_path / "tiny.safetensors",
                              build_model(cfg, load_arkit1220(shared_data)))
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
