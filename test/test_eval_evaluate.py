"""head-pose-eval: scoring, failure accounting, BIWI through a detector, AFLW2000 protocol."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from head_pose_ros import geometry as geo
from head_pose_ros.train import evaluate as ev
from head_pose_ros.train import metrics as hm


def _pred(topo, n=4, seed=0):
    rng = np.random.default_rng(seed)
    R = np.stack([geo.euler_ypr_to_rotation(*rng.uniform(-0.5, 0.5, 3)) for _ in range(n)])
    T = np.c_[rng.uniform(-0.1, 0.1, (n, 2)), rng.uniform(0.4, 2.0, n)]
    V = np.repeat(topo.vertices[None].astype(np.float64), n, 0)
    return {"R": R.copy(), "T": T.copy(), "vertices": V.copy(), "gt_R": R, "gt_T": T,
            "gt_vertices": V, "gt_has_vertices": np.ones(n, bool)}


def test_score_perfect_and_failures(topo) -> None:
    p = _pred(topo)
    res = ev.score(p, triangles=topo.triangles, template=topo.vertices.astype(np.float64))
    for k in hm.SUMMARY_KEYS:
        assert res.summary[k] == pytest.approx(0.0, abs=1e-6), k
    assert res.summary["n"] == 4 and res.summary["n_failed"] == 0
    p = _pred(topo)
    p["R"][1] = np.nan  # a broken prediction is scored (fallback), not dropped
    res = ev.score(p, triangles=topo.triangles, template=topo.vertices.astype(np.float64))
    assert res.summary["n"] == 4 and res.summary["n_failed"] == 1
    assert res.errors["ge"][1] == pytest.approx(math.degrees(geo.geodesic_distance(
        np.eye(3), p["gt_R"][1])), abs=1e-6)
    assert res.errors["ge"][0] == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(res.errors["tz"][1], 1000 * abs(1.0 - p["gt_T"][1, 2]))


def test_biwi_misses_are_counted(tmp_path: Path, topo) -> None:
    import cv2

    from head_pose_ros.data.public import BIWIDataset

    root = tmp_path / "hpdb" / "01"
    root.mkdir(parents=True)
    (root / "rgb.cal").write_text("500 0 320\n0 500 240\n0 0 1\n\n0 0 0 0\n\n1 0 0\n0 1 0\n"
                                  "0 0 1\n\n0 0 0\n\n640 480\n")
    poses = [geo.euler_ypr_to_rotation(0.2, 0.1, 0.0), geo.euler_ypr_to_rotation(-0.3, 0, 0.1)]
    for k, R in enumerate(poses):
        body = "\n".join(" ".join(f"{x:.9f}" for x in r) for r in R)
        (root / f"frame_{k:05d}_pose.txt").write_text(body + f"\n\n10 20 {900 + k}\n")
        cv2.imwrite(str(root / f"frame_{k:05d}_rgb.png"), np.full((480, 640, 3), k, np.uint8))
    (tmp_path / "hpdb" / "01.obj").write_text("v 0 0 0\nv 50 0 0\nv 0 50 0\n")
    ds = BIWIDataset(tmp_path / "hpdb", topo)

    def detector(img):  # finds a face in frame 0 only (pixel value 0)
        return np.array([[300, 200, 360, 270, 0.9]]) if img.max() == 0 else np.zeros((0, 5))

    class PerfectEstimator:  # returns the ground truth of the frame it is given
        def predict(self, image, K, boxes):
            raw = ds.load(0)
            return [SimpleNamespace(R=raw.labels.R, T=raw.labels.T,
                                    vertices_head=topo.vertices.astype(np.float64))]

    res = ev.evaluate_biwi(PerfectEstimator(), ds, detector)
    s = res.summary
    assert s["n"] == 2 and s["n_missed"] == 1
    assert res.errors["ge"][0] == pytest.approx(0.0, abs=1e-2)  # 9-decimal text labels
    assert res.errors["add"][0] == pytest.approx(0.0, abs=1e-6)
    assert res.errors["ge"][1] > 10.0  # the miss is scored with R = I
    assert s["lmk_mean"] is None and s["add"] is not None


def test_eval_cli_aflw2000_protocol(tmp_path: Path, topo, shared_data: Path) -> None:
    from head_pose_ros.checkpoint import save_checkpoint
    from head_pose_ros.model.config import ModelConfig
    from head_pose_ros.model.trg import build_model
    data = shared_data / "real" / "aflw2000_subset64"
    if not data.is_dir():
        pytest.skip(f"{data} missing")
    cfg = ModelConfig(backbone="mobilenet", backbone_width=0.25, input_size=96,
                      feature_channels=16, point_mlp_hidden=(8, 8), grid_size=6,
                      regressor_hidden=32)
    w = save_checkpoint(tmp_path / "tiny.safetensors", build_model(cfg, topo))
    js = tmp_path / "aflw.json"
    assert ev.main(["--weights", str(w), "--data", str(data), "--format", "aflw2000",
                    "--json", str(js), "--device", "cpu"]) == 0
    r = json.loads(js.read_text())
    assert list(r)[:12] == list(hm.SUMMARY_KEYS)
    assert r["n"] == 61 and r["n_dropped_protocol"] == 3 and r["n_missed"] == 0
    assert r["mae_t"] is None and r["add"] is None and r["lmk_mean"] is None
    assert r["mae_r"] > 0 and r["nme2d"] > 0 and r["rotation_convention"] == "aflw"
    assert "68 labelled 2D landmarks" in r["box_source"]


def test_crop_size_must_match_model(topo) -> None:
    import torch

    from head_pose_ros.data.synthetic import ToyDataset
    from head_pose_ros.model.config import ModelConfig
    from head_pose_ros.model.trg import build_model

    cfg = ModelConfig(backbone="mobilenet", backbone_width=0.25, input_size=64,
                      feature_channels=16, point_mlp_hidden=(8, 8), grid_size=6,
                      regressor_hidden=32)
    model = build_model(cfg, topo)
    with pytest.raises(ValueError, match="expects 64 px"):
        ev.evaluate_dataset(model, ToyDataset(topo, length=2), device=torch.device("cpu"))
    res = ev.evaluate_dataset(model, ToyDataset(topo, length=2, out_size=64),
                              device=torch.device("cpu"))
    assert res.summary["n"] == 2
