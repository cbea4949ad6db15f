"""Tests for head_pose_ros.estimator on synthetic images with known poses (CPU)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from conftest import small_config

from head_pose_ros import geometry as g
from head_pose_ros.checkpoint import save_checkpoint
from head_pose_ros.covariance import CovarianceParams
from head_pose_ros.estimator import FaceEstimate, HeadPoseEstimator
from head_pose_ros.model import TRG
from head_pose_ros.model.toy import render_image

W, H = 640, 480
K = np.array([[620.0, 0, 300.0], [0, 600.0, 260.0], [0, 0, 1]])  # off-centre, fx != fy
DIST = np.array([-0.25, 0.08, 0.001, -0.001, 0.0])


@pytest.fixture(scope="module")
def zero_model(topology):
    """A model whose regressors output zero residuals: it returns the template, R = I and
    c0 = (1, 0, 0) whatever the image, so the estimator's geometry can be checked exactly."""
    torch.manual_seed(0)
    m = TRG(small_config(), topology)
    for r in m.regressors:
        torch.nn.init.zeros_(r.out.weight)
        torch.nn.init.zeros_(r.out.bias)
    return m.eval()


@pytest.fixture(scope="module")
def random_model(topology):
    torch.manual_seed(1)
    return TRG(small_config(), topology).eval()


def yunet_like_box(lm: np.ndarray) -> np.ndarray:
    """A YuNet-shaped box for 68 landmarks whose crop (geometry.DETECTION_CROP_SCALE /
    OFFSET_Y) is the training crop: height 1.5 / DETECTION_CROP_SCALE x the larger
    landmark-extent side, width 0.74 x the height, centre DETECTION_CROP_OFFSET_Y x the height
    above the landmark-box centre."""
    c = (lm.min(0) + lm.max(0)) / 2
    h = (lm.max(0) - lm.min(0)).max() * 1.5 / g.DETECTION_CROP_SCALE
    w = 0.74 * h
    cy = c[1] - g.DETECTION_CROP_OFFSET_Y * h
    return np.array([c[0] - w / 2, cy - h / 2, c[0] + w / 2, cy + h / 2])


def scene(topology, R, T):  # noqa: N803
    """Full image with one face, and a YuNet-like box."""
    img = render_image(topology, R, T, K, W, H)
    lm = g.project_points(g.transform_points(topology.vertices[topology.landmarks68], R, T), K)
    return img, yunet_like_box(lm)


POSES = [(g.euler_ypr_to_rotation(0.3, -0.1, 0.05), np.array([0.12, -0.05, 0.8])),
         (g.euler_ypr_to_rotation(-0.2, 0.2, -0.1), np.array([-0.2, 0.1, 1.3]))]


def test_structure_and_known_pose_geometry(topology, zero_model):
    est = HeadPoseEstimator(zero_model, device="cpu")
    for R, T in POSES:  # noqa: N806
        img, box = scene(topology, R, T)
        (f,) = est.predict(img, K, box[None])
        assert isinstance(f, FaceEstimate)
        V = topology.num_vertices  # noqa: N806
        shapes = dict(R=(3, 3), T=(3,), quaternion=(4,), vertices_head=(V, 3),
                      vertices_cam=(V, 3), landmarks68=(68, 2), correction=(3,),
                      covariance=(6, 6), box=(4,), crop_box=(3,))
        for k, s in shapes.items():
            assert getattr(f, k).shape == s, k
            assert getattr(f, k).dtype == np.float64, k
        assert f.score == 1.0
        cb = g.crop_box_from_detection(box)
        np.testing.assert_allclose(f.crop_box, cb)
        # ... which is the training crop: 1.5 x the landmark extent, centred on it
        lm = g.project_points(g.transform_points(topology.vertices[topology.landmarks68], R, T), K)
        np.testing.assert_allclose(cb, g.crop_box_from_landmarks(lm, 1.5), rtol=1e-9)
        # zero residuals: template, identity, c0 -> T from paper Eq. 2 on the crop box
        np.testing.assert_allclose(f.R, np.eye(3), atol=1e-6)
        np.testing.assert_allclose(f.quaternion, [0, 0, 0, 1], atol=1e-6)
        np.testing.assert_allclose(f.correction, [1, 0, 0], atol=1e-6)
        np.testing.assert_allclose(f.T, g.translation_from_correction([1, 0, 0], K, cb), rtol=1e-9)
        np.testing.assert_allclose(f.vertices_cam, f.vertices_head + f.T, atol=1e-9)
        # ... and that initial guess is already a sane metric pose: depth within 30 %, direction
        # of the head within 3 degrees of the truth
        assert abs(f.T[2] / T[2] - 1) < 0.3
        cosang = f.T @ T / np.linalg.norm(f.T) / np.linalg.norm(T)
        assert np.degrees(np.arccos(min(1.0, cosang))) < 3.0
        # covariance: symmetric positive definite
        assert np.allclose(f.covariance, f.covariance.T)
        assert np.linalg.eigvalsh(f.covariance).min() > 0
        # landmarks are in image pixels, inside the crop square
        lo, hi = cb[:2] - cb[2] / 2, cb[:2] + cb[2] / 2
        assert np.all(f.landmarks68 >= lo) and np.all(f.landmarks68 <= hi)


def test_batched_equals_single_and_order(topology, random_model):
    est = HeadPoseEstimator(random_model)
    img1, box1 = scene(topology, *POSES[0])
    img2, box2 = scene(topology, *POSES[1])
    img = np.maximum(img1, img2)
    boxes = np.stack([np.r_[box1, 0.9], np.r_[box2, 0.8]])
    both = est.predict(img, K, boxes)
    assert [f.score for f in both] == pytest.approx([0.9, 0.8])
    assert set(est.last_timings) == {"crop", "infer", "post"}
    assert all(v > 0.0 for v in est.last_timings.values())
    for i in range(2):
        (single,) = est.predict(img, K, boxes[i:i + 1])
        np.testing.assert_allclose(single.T, both[i].T, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(single.vertices_cam, both[i].vertices_cam, atol=1e-5)
        np.testing.assert_allclose(single.landmarks68, both[i].landmarks68, atol=1e-3)
        np.testing.assert_allclose(both[i].R @ both[i].R.T, np.eye(3), atol=1e-9)
    assert est.predict(img, K, np.zeros((0, 4))) == []


def test_detector_callable_and_errors(topology, random_model):
    img, box = scene(topology, *POSES[0])
    calls = []

    def detector(image):
        calls.append(image.shape)
        return np.array([[*box, 0.75]])

    est = HeadPoseEstimator(random_model, detector=detector)
    (f,) = est.predict(img, K)
    assert calls == [img.shape] and f.score == 0.75
    np.testing.assert_allclose(f.box, box)
    with pytest.raises(RuntimeError, match="no detector"):
        HeadPoseEstimator(random_model).predict(img, K)
    with pytest.raises(ValueError, match="intrinsics"):
        est.predict(img, np.zeros((3, 3)), box[None])
    with pytest.raises(ValueError, match="uint8"):
        est.predict(img.astype(np.float32), K, box[None])
    with pytest.raises(ValueError, match="distortion"):
        est.predict(img, K, box[None], dist_coeffs=np.zeros(3))
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    assert len(est.predict(grey, K, box[None])) == 1


def distort_image(ideal: np.ndarray) -> np.ndarray:
    """Raw (distorted) image of the same scene: each raw pixel looks up its ideal position."""
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    pts = np.stack([u.ravel(), v.ravel()], 1).reshape(-1, 1, 2)
    und = cv2.undistortPointsIter(pts, K, DIST, None, K,
                                  (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-6))
    und = und.reshape(H, W, 2).astype(np.float32)
    return cv2.remap(ideal, und[..., 0], und[..., 1], cv2.INTER_LINEAR)


def test_distorted_input_gives_ideal_pinhole_crop(topology, zero_model):
    R, T = POSES[0]  # noqa: N806
    ideal, box = scene(topology, R, T)
    raw = distort_image(ideal)
    est = HeadPoseEstimator(zero_model)
    cb = g.crop_box_from_detection(box)
    crop_ideal = est._crop(ideal, cb, K, None)
    crop_raw = est._crop(raw, cb, K, DIST)
    crop_naive = est._crop(raw, cb, K, None)
    err = np.abs(crop_raw.astype(float) - crop_ideal).mean()
    err_naive = np.abs(crop_naive.astype(float) - crop_ideal).mean()
    assert err < 0.4 * err_naive and err < 6.0
    # the box detected in the raw image is undistorted before cropping: same pose as ideal
    raw_pts = cv2.projectPoints(
        np.array([[box[0], box[1], 1.0], [box[2], box[3], 1.0]]) @ np.linalg.inv(K).T,
        np.zeros(3), np.zeros(3), K, DIST)[0].reshape(-1, 2)
    (f_raw,) = est.predict(raw, K, raw_pts.reshape(1, 4), dist_coeffs=DIST)
    (f_ideal,) = est.predict(ideal, K, box[None])
    np.testing.assert_allclose(f_raw.T, f_ideal.T, rtol=0.03)
    # landmarks are returned in raw-image pixels
    lm_ideal_dist = cv2.projectPoints(
        np.c_[f_ideal.landmarks68, np.ones(68)] @ np.linalg.inv(K).T, np.zeros(3), np.zeros(3),
        K, DIST)[0].reshape(-1, 2)
    assert np.abs(f_raw.landmarks68 - lm_ideal_dist).max() < 4.0


def test_from_checkpoint_uses_stored_covariance(tmp_path, topology, zero_model):
    cal = CovarianceParams(depth_rel=0.02, calibrated=True, calibration_note="test")
    p = save_checkpoint(tmp_path / "m.safetensors", zero_model, {"covariance": cal.to_dict()})
    est = HeadPoseEstimator.from_checkpoint(p, device="cpu")
    assert est.covariance == cal
    assert est.topology.num_vertices == topology.num_vertices
    img, box = scene(topology, *POSES[0])
    (f,) = est.predict(img, K, box[None])
    assert np.sqrt(f.covariance[2, 2]) == pytest.approx(0.02 * f.T[2])
    (g_,) = est.predict(img, K, box[None], intrinsics_guessed=True)
    assert g_.covariance[2, 2] > 10 * f.covariance[2, 2]


def test_crop_scale_and_offset_are_configurable(topology, zero_model):
    """Boxes already centred on the landmark extent (e.g. the node's estimator boxes) use
    crop_offset_y=0; detection_box_for_crop builds detector-convention boxes for a wanted crop."""
    img, box = scene(topology, *POSES[0])
    (f,) = HeadPoseEstimator(zero_model, crop_scale=1.5, crop_offset_y=0.0).predict(img, K, box)
    np.testing.assert_allclose(f.crop_box[:2], (box[:2] + box[2:]) / 2)
    assert f.crop_box[2] == pytest.approx(1.5 * (box[3] - box[1]))
    want = np.array([300.0, 250.0, 150.0])
    (f,) = HeadPoseEstimator(zero_model).predict(img, K, g.detection_box_for_crop(want))
    np.testing.assert_allclose(f.crop_box, want, atol=1e-9)


def test_network_inputs_are_the_models_normalisation(topology, random_model):
    """The estimator's numpy pre-processing equals TRG's own torch normalisation (BGR -> RGB,
    ImageNet mean / std) and keeps the crops' order."""
    from head_pose_ros.model.trg import normalize_image_tensor

    est = HeadPoseEstimator(random_model)
    rng = np.random.default_rng(4)
    crops = [rng.integers(0, 256, (est.input_size, est.input_size, 3), np.uint8)
             for _ in range(2)]
    K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])  # noqa: N806
    x, kc, info, box, k_rep = est.network_inputs(crops, np.stack([K, K]), np.ones((2, 3)),
                                                 np.ones((2, 3)), K)
    rgb = torch.from_numpy(np.stack(crops)[..., ::-1].copy()).permute(0, 3, 1, 2)
    np.testing.assert_allclose(x, normalize_image_tensor(rgb).numpy(), atol=1e-5)
    assert x.dtype == np.float32 and x.flags["C_CONTIGUOUS"] and x.shape == (2, 3, *crops[0].shape[:2])
    assert k_rep.shape == (2, 3, 3) and np.array_equal(k_rep[1], K.astype(np.float32))
    assert all(a.dtype == np.float32 for a in (kc, info, box, k_rep))
