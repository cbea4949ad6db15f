"""The rotation-uncertainty head: per-face log variances, trained by a Gaussian NLL that never
moves the pose, exported to ONNX, calibrated, and carried into the published covariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import small_config
from scipy.spatial.transform import Rotation

from head_pose_ros import covariance as cv
from head_pose_ros.losses import LossWeights, rotation_nll_loss, trg_loss
from head_pose_ros.model import build_model
from head_pose_ros.model import geometry_torch as gt
from head_pose_ros.onnx_export import example_inputs


@pytest.fixture(scope="module")
def model(topology):
    torch.manual_seed(0)
    m = build_model(small_config(rotation_uncertainty=True, input_size=128), topology)
    return m.eval()


def test_rotation_log_matches_scipy() -> None:
    R = Rotation.random(50, random_state=1).as_matrix()
    np.testing.assert_allclose(gt.rotation_log(torch.tensor(R)).numpy(),
                               Rotation.from_matrix(R).as_rotvec(), atol=1e-9)
    np.testing.assert_allclose(gt.rotation_log(torch.eye(3)[None]).numpy(), 0.0, atol=1e-12)


def test_head_outputs_per_face_logvar(model) -> None:
    x = example_inputs(3, 128, seed=2)
    out = model(*x)
    assert out["rot_logvar"].shape == (3, 3)
    assert torch.isfinite(out["rot_logvar"]).all()
    sigma = torch.exp(0.5 * out["rot_logvar"])
    assert torch.allclose(sigma, torch.full_like(sigma, np.radians(5.0)), rtol=0.2)


def test_nll_trains_only_the_head(model) -> None:
    model.train()
    x = example_inputs(2, 128, seed=3)
    out = model(*x)
    batch = {"R": torch.eye(3).expand(2, 3, 3), "has_3d": torch.ones(2)}
    loss = rotation_nll_loss(out, batch)
    model.zero_grad()
    loss.backward()
    model.eval()
    for name, p in model.named_parameters():
        has = p.grad is not None and bool(p.grad.abs().sum() > 0)
        assert has == name.startswith("uncertainty."), name


def test_nll_minimum_is_the_error_variance() -> None:
    # the NLL of fixed errors d is minimal where exp(s) = d^2 (per axis)
    d = torch.tensor([[0.02, 0.1, 0.05]])
    R_gt = torch.eye(3)[None]
    R_pred = torch.tensor(Rotation.from_rotvec(d.numpy()[0]).as_matrix())[None].float()
    best = torch.log(d.square())

    def nll(s: torch.Tensor) -> float:
        return float(rotation_nll_loss({"R": [R_pred], "rot_logvar": s}, {"R": R_gt}).detach())

    assert nll(best) < nll(best + 0.5) and nll(best) < nll(best - 0.5)


def test_nll_masked_like_rotation_and_in_total(model) -> None:
    out = model(*example_inputs(2, 128, seed=4))
    batch = {"R": torch.eye(3).expand(2, 3, 3), "has_3d": torch.ones(2),
             "loss_mask": torch.tensor([[1.0, 1, 1, 0, 1, 1], [1.0, 1, 1, 0, 1, 1]])}
    assert float(rotation_nll_loss(out, batch).detach()) == 0.0
    assert float(rotation_nll_loss({"R": out["R"]}, batch).detach()) == 0.0  # no head: 0
    full = {"R": torch.eye(3).expand(2, 3, 3), "has_3d": torch.ones(2)}
    w = LossWeights(head=0, cam=0, img=0, rot=0, edge=0, lmk2d=0, rot_nll=1.0)
    total, terms = trg_loss(out, full, w)
    assert "rot_nll" in terms
    assert float(total.detach()) == pytest.approx(float(terms["rot_nll"]))


def test_init_from_a_model_without_the_head(tmp_path, topology) -> None:
    from head_pose_ros.checkpoint import CheckpointError, load_weights_into, save_checkpoint

    plain = build_model(small_config(input_size=128), topology)
    path = tmp_path / "plain.safetensors"
    save_checkpoint(path, plain, {})
    with_head = build_model(small_config(rotation_uncertainty=True, input_size=128), topology)
    with pytest.raises(CheckpointError, match="missing keys"):
        load_weights_into(with_head, path)
    load_weights_into(with_head, path, allow_new_heads=True)
    torch.testing.assert_close(with_head.regressors[0].out.weight, plain.regressors[0].out.weight)


def test_onnx_graph_has_the_uncertainty_output(model, tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    from head_pose_ros.onnx_export import compare_onnx, export_onnx, ort_session, output_names

    path = export_onnx(model, tmp_path / "m.onnx")
    sess = ort_session(path, threads=1)
    assert [o.name for o in sess.get_outputs()] == list(output_names(model.config))
    assert output_names(model.config)[-1] == "rot_logvar"
    diffs = compare_onnx(model, sess, 2)
    assert diffs["rot_logvar"] < 1e-3


def test_rotation_covariance_is_the_head_frame_variance_in_camera_axes() -> None:
    R = Rotation.from_euler("y", 70, degrees=True).as_matrix()
    s = np.log(np.radians([2.0, 10.0, 3.0]) ** 2)
    c = cv.rotation_covariance(R, s)
    np.testing.assert_allclose(c, c.T, atol=1e-15)
    # the variance about the head's own y axis (yaw) stays on the camera's y axis for a yaw turn
    assert np.sqrt(c[1, 1]) == pytest.approx(np.radians(10.0))
    np.testing.assert_allclose(np.linalg.eigvalsh(c), np.sort(np.radians([2.0, 3.0, 10.0]) ** 2))
    full = cv.pose_covariance(np.array([0, 0, 1.0]), np.diag([500, 500, 1.0]), 100.0, R=R,
                              rot_logvar=s)
    np.testing.assert_allclose(full[3:, 3:], c)
    const = cv.pose_covariance(np.array([0, 0, 1.0]), np.diag([500, 500, 1.0]), 100.0)
    np.testing.assert_allclose(full[:3, :3], const[:3, :3])


def test_calibrated_rotation_scale_hits_the_target_coverage() -> None:
    rng = np.random.default_rng(0)
    sd = np.radians(rng.uniform(1, 10, size=(2000, 3)))
    d = rng.normal(size=sd.shape) * sd * np.array([2.0, 0.5, 1.0])  # mis-scaled sigmas
    k = cv.calibrate_rotation_scale(d, np.log(sd ** 2))
    np.testing.assert_allclose(k, [2.0, 0.5, 1.0], rtol=0.1)
    cover = np.mean(np.abs(d) <= sd * np.array(k), axis=0)
    np.testing.assert_allclose(cover, cv.ONE_SIGMA_COVERAGE, atol=0.01)


def test_head_frame_errors_definition() -> None:
    R_true = Rotation.random(5, random_state=3).as_matrix()
    dh = np.radians([[1.0, -2.0, 0.5]] * 5)
    R_est = R_true @ Rotation.from_rotvec(dh).as_matrix()
    np.testing.assert_allclose(cv.head_frame_errors(R_est, R_true), dh, atol=1e-12)


def test_estimator_publishes_the_per_face_rotation_block(model) -> None:
    from head_pose_ros.estimator import HeadPoseEstimator

    est = HeadPoseEstimator(model)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    K = np.array([[300.0, 0, 160], [0, 300, 120], [0, 0, 1]])
    faces = est.predict(img, K, boxes=np.array([[100.0, 60, 200, 160], [20, 20, 80, 80]]))
    for f in faces:
        rot = f.covariance[3:, 3:]
        assert np.all(np.linalg.eigvalsh(rot) > 0)
    assert not np.allclose(faces[0].covariance[3:, 3:], faces[1].covariance[3:, 3:])
