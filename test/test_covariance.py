"""Tests for head_pose_ros.covariance."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from head_pose_ros import covariance as cv

K = np.array([[600.0, 0, 320.0], [0, 580.0, 240.0], [0, 0, 1]])


def is_spd(m: np.ndarray) -> bool:
    return np.allclose(m, m.T) and np.linalg.eigvalsh(m).min() > 0


@pytest.mark.parametrize("T", [[0.0, 0.0, 0.5], [0.3, -0.2, 1.0], [-1.0, 0.5, 3.0]])
def test_spd_and_layout(T):  # noqa: N803
    c = cv.pose_covariance(np.array(T), K, 150.0)
    assert c.shape == (6, 6) and is_spd(c)
    assert np.all(c[:3, 3:] == 0)
    np.testing.assert_allclose(np.sqrt(np.diag(c)[3:]), np.deg2rad([4.0, 4.0, 3.0]))
    assert is_spd(cv.pose_covariance(np.array(T), K, 150.0, intrinsics_guessed=True))


def test_depth_std_grows_with_distance_and_uncalibrated_inflates():
    p = cv.CovarianceParams()
    sd = [np.sqrt(cv.pose_covariance([0, 0, z], K, 200.0 / z, p)[2, 2]) for z in (0.5, 1.0, 2.0)]
    np.testing.assert_allclose(sd, [0.05 * 0.5, 0.05 * 1.0, 0.05 * 2.0])
    c0 = cv.pose_covariance([0.1, 0, 1.0], K, 100.0, p)
    c1 = cv.pose_covariance([0.1, 0, 1.0], K, 100.0, p, intrinsics_guessed=True)
    assert c1[2, 2] / c0[2, 2] == pytest.approx((0.05**2 + 0.3**2) / 0.05**2)
    # x is correlated with z off-axis (x = z a)
    assert c0[0, 2] > 0
    # centre term: on the optical axis, sigma_x = z * center_rel * b / fx
    c = cv.pose_covariance([0, 0, 1.0], K, 100.0, p)
    assert np.sqrt(c[0, 0]) == pytest.approx(1.0 * 0.015 * 100.0 / 600.0)


def test_params_dict_round_trip_and_validation():
    p = cv.CovarianceParams(depth_rel=0.02)
    assert cv.CovarianceParams.from_dict(p.to_dict()) == p
    assert cv.CovarianceParams.from_dict(None) == cv.CovarianceParams()
    with pytest.raises(ValueError):
        cv.CovarianceParams(depth_rel=-1.0)
    with pytest.raises(ValueError, match="unknown"):
        cv.CovarianceParams.from_dict({"bogus": 1})


def test_calibrate_reaches_one_sigma_coverage():
    rng = np.random.default_rng(0)
    n = 4000
    p0 = cv.CovarianceParams()
    Ts = np.stack([rng.uniform(-0.3, 0.3, n), rng.uniform(-0.2, 0.2, n), rng.uniform(0.4, 2.5, n)],
                  axis=1)
    sides = 120.0 / Ts[:, 2]
    covs = np.stack([cv.pose_covariance(t, K, s, p0) for t, s in zip(Ts, sides, strict=True)])
    # true errors: 3x the predicted spread in translation, 0.5x in rotation
    true_scale = np.array([3.0, 3.0, 3.0, 0.5, 0.5, 0.5])
    L = np.linalg.cholesky(covs * np.outer(true_scale, true_scale))  # noqa: N806
    errors = np.einsum("nij,nj->ni", L, rng.normal(size=(n, 6)))
    cov_before = cv.coverage(errors, covs)
    assert np.all(cov_before[:3] < 0.35) and np.all(cov_before[3:] > 0.9)
    p1 = cv.calibrate(errors, covs, p0)
    assert p1.calibrated
    np.testing.assert_allclose(p1.scale, true_scale, rtol=0.08)
    covs1 = np.stack([cv.pose_covariance(t, K, s, p1) for t, s in zip(Ts, sides, strict=True)])
    np.testing.assert_allclose(cv.coverage(errors, covs1), cv.ONE_SIGMA_COVERAGE, atol=0.01)
    assert all(is_spd(c) for c in covs1[:20])
    with pytest.raises(ValueError):
        cv.calibrate(errors[:5], covs[:5])


def test_pose_errors_rotation_vector():
    R_true = Rotation.random(random_state=1).as_matrix()  # noqa: N806
    d = np.array([0.01, -0.02, 0.03])
    R_est = Rotation.from_rotvec(d).as_matrix() @ R_true  # noqa: N806
    e = cv.pose_errors(R_est[None], np.array([[0.1, 0, 1]]), R_true[None], np.array([[0, 0, 1.0]]))
    np.testing.assert_allclose(e[0], [0.1, 0, 0, *d], atol=1e-12)
