"""head-pose-eval: scoring, failure accounting, BIWI through a detector, AFLW2000 with the
protocol boxes and with the node's detector + estimator (``--boxes``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scripted import ScriptedDetector, ScriptedEstimator

from head_pose_ros import geometry as geo
from head_pose_ros import metrics as hm
from head_pose_ros.train import evaluate as ev


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


class GroundTruthEstimator(ScriptedEstimator):
    """A scripted estimate (pipeline contract) with R, T of ``truth(call)``; records what it
    was given."""

    def __init__(self, truth) -> None:
        super().__init__()
        self.truth = truth
        self.given: list[tuple[np.ndarray, np.ndarray, bool]] = []

    def predict(self, image, K, boxes, dist_coeffs=None, intrinsics_guessed=False):  # noqa: N803
        self.given.append((np.asarray(K).copy(), np.asarray(boxes).copy(), intrinsics_guessed))
        R, T = self.truth(self.calls)  # noqa: N806
        out = super().predict(image, K, boxes, dist_coeffs, intrinsics_guessed)
        for e in out:
            e.R, e.T, e.vertices_head = R, T, np.zeros((1220, 3))
        return out


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
    detector = ScriptedDetector([[[300, 200, 360, 270]], []])  # finds a face in frame 0 only
    est = GroundTruthEstimator(lambda call: (ds.load(0).labels.R, ds.load(0).labels.T))

    res = ev.evaluate_biwi(est, ds, detector)
    s = res.summary
    assert s["n"] == 2 and s["n_missed"] == 1 and s["missed"] == [ds.load(1).name]
    np.testing.assert_allclose(est.given[0][0], ds.load(0).labels.K)  # calibrated K
    assert est.given[0][2] is False
    assert res.errors["ge"][0] == pytest.approx(0.0, abs=1e-2)  # 9-decimal text labels
    assert res.errors["add"][0] == pytest.approx(0.0, abs=1e-6)
    assert res.errors["ge"][1] > 10.0  # the miss is scored with R = I
    assert s["lmk_mean"] is None and s["add"] is not None
    assert s["detected"]["n"] == 1 and s["detected"]["ge"] == pytest.approx(0.0, abs=1e-2)
    assert s["misses_as_zero"]["ge"] == pytest.approx(s["ge"])


def _aflw_fixture(root: Path, size=(300, 400)) -> list[str]:
    """AFLW2000-3D in its on-disk layout (``data/MAT``, ``data/JPEG``): 3 images of ``size``
    (H, W), the last beyond 99 deg (dropped by the protocol). Returns the kept names."""
    import cv2
    import scipy.io as sio

    poses = {"image00002": (-0.4, 0.02, 0.09), "image00003": (0.3, -0.5, -0.2),
             "image00004": (0.1, 1.9, 0.0)}
    for sub in ("MAT", "JPEG"):
        (root / "data" / sub).mkdir(parents=True)
    for name, (pitch, yaw, roll) in poses.items():
        pt3d = np.zeros((3, 68))
        pt3d[0] = np.linspace(120, 280, 68)
        pt3d[1] = np.linspace(80, 240, 68)
        sio.savemat(root / "data" / "MAT" / f"{name}.mat",
                    {"Pose_Para": np.array([[pitch, yaw, roll, 1, 2, 3, 4e-3]]),
                     "pt3d_68": pt3d, "pt2d": np.zeros((2, 21))})
        cv2.imwrite(str(root / "data" / "JPEG" / f"{name}.jpg"), np.full((*size, 3), 90, np.uint8))
    return ["image00002", "image00003"]


# the scripted detector: image00002 has a large and a small face, image00003 none
AFLW_BOXES = [[[10, 10, 60, 60], [100, 60, 300, 260]], []]


def test_aflw2000_detector_boxes_match_peer_protocol(tmp_path: Path, topo) -> None:
    from head_pose_ros.data.public import AFLW2000Dataset
    from head_pose_ros.peers.aflw2000 import evaluate_rotations, load_aflw2000

    kept = _aflw_fixture(tmp_path / "AFLW2000")
    ds = AFLW2000Dataset(tmp_path / "AFLW2000", topo)
    R_pred = geo.aflw_label_to_rotation(-0.3, 0.1, 0.2)  # noqa: N806
    est = GroundTruthEstimator(lambda call: (R_pred, np.array([0.0, 0.0, 1.0])))
    det = ScriptedDetector(AFLW_BOXES)
    res = ev.evaluate_with_detector(est, ds, det, convention="aflw", has_translation=False,
                                    guess_intrinsics=True)
    s = res.summary
    assert det.calls == [0, 1] and len(est.given) == 1  # the dropped image is never run
    K, boxes, guessed = est.given[0]  # noqa: N806
    np.testing.assert_allclose(K, geo.default_intrinsics(400, 300))
    assert guessed is True
    np.testing.assert_allclose(boxes[:, :4], [AFLW_BOXES[0][1]])  # the largest face only
    assert s["n"] == 2 and s["n_missed"] == 1 and s["n_detected"] == 1
    assert s["missed"] == [kept[1]] and s["box_source"].startswith("YuNet detector")
    assert s["mae_t"] is None and s["add"] is None and "add_note" not in s
    # same numbers and layout as the peers' scoring of the same predictions (miss = None)
    peer = evaluate_rotations(load_aflw2000(tmp_path / "AFLW2000"), [R_pred, None])
    assert peer["n"] == s["n"] and peer["missed"] == s["missed"]
    for part in ("detected", "misses_as_zero"):
        assert s[part] == pytest.approx(peer[part]), part
    assert s["misses_as_zero"]["ge"] != pytest.approx(s["detected"]["ge"])
    for k in ("mae_yaw", "mae_pitch", "mae_roll", "mae_r", "ge"):  # top level: misses counted
        assert s[k] == pytest.approx(s["misses_as_zero"][k]), k


def _tiny_checkpoint(path: Path, topo) -> Path:
    from head_pose_ros.checkpoint import save_checkpoint
    from head_pose_ros.model.config import ModelConfig
    from head_pose_ros.model.trg import build_model

    cfg = ModelConfig(backbone="mobilenet", backbone_width=0.25, input_size=96,
                      feature_channels=16, point_mlp_hidden=(8, 8), grid_size=6,
                      regressor_hidden=32)
    return save_checkpoint(path, build_model(cfg, topo))


def test_eval_cli_aflw2000_protocol(tmp_path: Path, topo, shared_data: Path) -> None:
    data = shared_data / "real" / "aflw2000_subset64"
    if not data.is_dir():
        pytest.skip(f"{data} missing")
    w = _tiny_checkpoint(tmp_path / "tiny.safetensors", topo)
    js = tmp_path / "aflw.json"
    assert ev.main(["--weights", str(w), "--data", str(data), "--format", "aflw2000",
                    "--json", str(js), "--device", "cpu"]) == 0
    r = json.loads(js.read_text())
    assert list(r)[:12] == list(hm.SUMMARY_KEYS)
    assert r["n"] == 61 and r["n_dropped_protocol"] == 3 and r["n_missed"] == 0
    assert r["mae_t"] is None and r["add"] is None and r["lmk_mean"] is None
    assert r["mae_r"] > 0 and r["nme2d"] > 0 and r["rotation_convention"] == "aflw"
    assert "68 labelled 2D landmarks" in r["box_source"] and r["boxes"] == "protocol"


def test_eval_cli_aflw2000_detector(tmp_path: Path, topo, monkeypatch) -> None:
    import head_pose_ros.detection as detection
    from head_pose_ros.topology import default_shared_data

    _aflw_fixture(tmp_path / "AFLW2000")
    made = []

    def scripted(kind, path, **kw):
        made.append((kind, path))
        return ScriptedDetector(AFLW_BOXES)

    monkeypatch.setattr(detection, "create_detector", scripted)
    w = _tiny_checkpoint(tmp_path / "tiny.safetensors", topo)
    js = tmp_path / "aflw_det.json"
    assert ev.main(["--weights", str(w), "--data", str(tmp_path / "AFLW2000"), "--format",
                    "aflw2000", "--boxes", "detector", "--json", str(js), "--device",
                    "cpu"]) == 0
    assert made == [("yunet", str(default_shared_data() / "detector" /
                                  "face_detection_yunet_2023mar.onnx"))]
    r = json.loads(js.read_text())
    assert list(r)[:12] == list(hm.SUMMARY_KEYS)
    assert r["n"] == 2 and r["n_missed"] == 1 and r["n_detected"] == 1
    assert r["n_dropped_protocol"] == 1 and r["missed"] == ["image00003"]
    assert r["boxes"] == "detector" and r["rotation_convention"] == "aflw"
    assert "default_intrinsics" in r["intrinsics"]
    assert r["box_source"] == "YuNet detector (largest face) + estimator"
    assert r["detected"]["n"] == 1 and r["misses_as_zero"]["n"] == 2
    assert r["mae_r"] == pytest.approx(r["misses_as_zero"]["mae_r"])


def test_eval_cli_aflw2000_real_yunet(tmp_path: Path, topo, shared_data: Path) -> None:
    data = shared_data / "real" / "aflw2000_subset64"
    onnx = shared_data / "detector" / "face_detection_yunet_2023mar.onnx"
    if not data.is_dir() or not onnx.is_file():
        pytest.skip("AFLW2000 subset or the YuNet model missing from the shared data")
    w = _tiny_checkpoint(tmp_path / "tiny.safetensors", topo)
    js = tmp_path / "aflw_yunet.json"
    assert ev.main(["--weights", str(w), "--data", str(data), "--format", "aflw2000",
                    "--boxes", "detector", "--detector", str(onnx), "--limit", "3",
                    "--json", str(js), "--device", "cpu"]) == 0
    r = json.loads(js.read_text())
    assert r["n"] == 3 and r["n_detected"] == 3 and r["detector"] == str(onnx)


@pytest.mark.parametrize(("fmt", "boxes", "message"), [
    ("synthetic", "detector", "not available for --format synthetic"),
    ("arkitface", "detector", "not available for --format arkitface"),
    ("biwi", "protocol", "biwi has no protocol boxes"),
])
def test_eval_cli_rejects_box_source(fmt: str, boxes: str, message: str, capsys) -> None:
    assert ev.main(["--weights", "unused.safetensors", "--data", "unused", "--format", fmt,
                    "--boxes", boxes]) == 2
    assert message in capsys.readouterr().err


def test_resolve_boxes_defaults() -> None:
    assert ev.resolve_boxes("biwi") == "detector"
    assert ev.resolve_boxes("aflw2000") == "protocol"
    assert ev.resolve_boxes("aflw2000", "detector") == "detector"
    assert ev.resolve_boxes("synth_stream", "protocol") == "protocol"


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
