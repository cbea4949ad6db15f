"""Pose covariance for TRG estimates (translation from geometry, rotation from the model).

The covariance is derived from the geometry of paper Eq. 2 and scaled by constants calibrated on
held-out data (stored in the checkpoint metadata under ``meta["covariance"]``).

Layout: 6x6, row-major order ``(x, y, z, rotX, rotY, rotZ)`` in the CAMERA frame, as
``geometry_msgs/PoseWithCovariance`` expects; rotation errors are small rotations about the
camera's fixed X, Y, Z axes: ``R_est = exp([d]x) @ R_true``, ``d = (rotX, rotY, rotZ)``.

Translation model. Write ``T = z * (a, b, 1)`` with ``a = (u_h - cx)/fx``, ``b = (v_h - cy)/fy``
the normalised image position of the head centre and z the depth. Independent errors:

* depth: ``sigma_z = depth_rel * z`` (``Tz = 0.2 s f / b``: a relative error of the scale s, i.e.
  of the face size, is the same relative error of the depth, so it grows with distance);
* head-centre image position: ``sigma_u = center_rel * b_px`` pixels (errors are roughly
  constant in crop pixels, i.e. proportional to the box side ``b_px`` in image pixels), so
  ``sigma_a = sigma_u / fx``, ``sigma_b = sigma_u / fy``.

``Sigma_T = J diag(sigma_z^2, sigma_a^2, sigma_b^2) J^T`` with ``J = d T / d(z, a, b) =
[[a, z, 0], [b, 0, z], [1, 0, 0]]`` (``det J = z^2 > 0``: positive definite). For guessed
intrinsics (no calibration: f = W + H) ``focal_rel_uncalibrated`` is added in quadrature to
``depth_rel`` (a focal error scales the depth). Finally a per-axis calibration scale
``S = diag(scale)``: ``Sigma = S Sigma0 S`` (keeps symmetry and definiteness).

Rotation block. With a model that predicts its rotation uncertainty (``rot_logvar``: log
variances ``s`` of the error about the HEAD frame's x, y, z axes, ``R_est = R_true exp([d_h]x)``;
:class:`head_pose_ros.model.trg.RotationUncertainty`), it is per face:
``Sigma_rot = S_r R diag(k_i^2 exp(s_i)) R^T S_r`` (:func:`rotation_covariance`): the
head-frame covariance carried into camera axes (``d = R d_h``), with per-head-axis calibration
scales ``k = rot_head_scale`` (they fit the shape: which of the face's axes is uncertain) and
then per-camera-axis scales ``S_r = diag(scale[3:])`` (they fit each published axis' coverage).
Without that output (older checkpoints) it is the constant ``diag(rot_std^2)`` scaled by
``scale[3:]``.

DEFAULTS ARE UNCALIBRATED (``calibrated = False``): rough, deliberately conservative guesses
(5 % depth, 1.5 % of the box for the centre, 4 / 4 / 3 degrees). Run :func:`calibrate` on
held-out errors and store the result with the checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import numpy as np

ONE_SIGMA_COVERAGE = 0.6826894921370859
"""P(|N(0,1)| <= 1)."""


@dataclass
class CovarianceParams:
    """Constants of the covariance model (see module doc)."""

    depth_rel: float = 0.05
    center_rel: float = 0.015
    rot_std: tuple[float, float, float] = field(
        default=(float(np.deg2rad(4.0)), float(np.deg2rad(4.0)), float(np.deg2rad(3.0)))
    )
    focal_rel_uncalibrated: float = 0.3
    scale: tuple[float, float, float, float, float, float] = field(default=(1.0,) * 6)
    rot_head_scale: tuple[float, float, float] = field(default=(1.0, 1.0, 1.0))
    """Calibration scales of the predicted per-face rotation sigmas (head x, y, z axes)."""
    calibrated: bool = False
    calibration_note: str = "uncalibrated defaults"

    def __post_init__(self) -> None:
        self.rot_std = tuple(float(x) for x in self.rot_std)  # type: ignore[assignment]
        self.scale = tuple(float(x) for x in self.scale)  # type: ignore[assignment]
        self.rot_head_scale = tuple(float(x) for x in self.rot_head_scale)  # type: ignore
        if len(self.rot_std) != 3 or len(self.scale) != 6 or len(self.rot_head_scale) != 3:
            raise ValueError("rot_std and rot_head_scale need 3 values, scale 6 values")
        vals = (self.depth_rel, self.center_rel, self.focal_rel_uncalibrated, *self.rot_std,
                *self.scale, *self.rot_head_scale)
        if not all(np.isfinite(v) and v > 0 for v in vals):
            raise ValueError(f"covariance constants must be finite and > 0: {self}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["rot_std"] = list(self.rot_std)
        d["scale"] = list(self.scale)
        d["rot_head_scale"] = list(self.rot_head_scale)
        return d

    @classmethod
    def from_dict(cls, d: dict | None) -> CovarianceParams:
        """From checkpoint metadata; None / {} gives the uncalibrated defaults; unknown keys are
        refused."""
        if not d:
            return cls()
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown covariance keys {sorted(unknown)}")
        return cls(**d)


def rotation_covariance(R: np.ndarray, rot_logvar: np.ndarray,  # noqa: N803
                        head_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """(..., 3, 3) camera-axis rotation covariance ``R diag(k^2 exp(s)) R^T`` from the predicted
    head-frame log variances ``s`` (..., 3) (radians^2) and the calibration scales ``k``."""
    R = np.asarray(R, np.float64)  # noqa: N806
    var = np.exp(np.asarray(rot_logvar, np.float64)) * np.square(np.asarray(head_scale))
    return np.einsum("...ij,...j,...kj->...ik", R, var, R)


def rotation_block(R: np.ndarray, rot_logvar: np.ndarray,  # noqa: N803
                   params: CovarianceParams) -> np.ndarray:
    """The published per-face rotation block (..., 3, 3): :func:`rotation_covariance` with the
    head-axis scales, then the camera-axis scales ``scale[3:]`` (``S_r Sigma S_r``)."""
    sr = np.asarray(params.scale[3:])
    return rotation_covariance(R, rot_logvar, params.rot_head_scale) * np.outer(sr, sr)


def head_frame_errors(R_est: np.ndarray, R_true: np.ndarray) -> np.ndarray:  # noqa: N803
    """Rotation vector d_h (..., 3) with ``R_est = R_true exp([d_h]x)`` (head-frame axes)."""
    from scipy.spatial.transform import Rotation

    rel = np.swapaxes(np.asarray(R_true), -1, -2) @ np.asarray(R_est)
    return Rotation.from_matrix(rel.reshape(-1, 3, 3)).as_rotvec().reshape(*rel.shape[:-2], 3)


def calibrate_rotation_scale(errors_head: np.ndarray, rot_logvar: np.ndarray,
                             target: float = ONE_SIGMA_COVERAGE) -> tuple[float, float, float]:
    """Per-head-axis scales k with ``quantile(|d_h,i| / sigma_i, target) = k_i``: the 1-sigma
    coverage of each head axis is ``target`` on these (held-out) samples."""
    e = np.abs(np.asarray(errors_head, np.float64))
    sd = np.exp(0.5 * np.asarray(rot_logvar, np.float64))
    if e.ndim != 2 or e.shape[1] != 3 or sd.shape != e.shape or len(e) < 10:
        raise ValueError(f"need (N >= 10, 3) errors and log variances, got {e.shape}, {sd.shape}")
    k = np.maximum(np.quantile(e / sd, target, axis=0), 1e-6)
    return (float(k[0]), float(k[1]), float(k[2]))


def pose_covariance(
    T: np.ndarray,  # noqa: N803
    K: np.ndarray,  # noqa: N803
    box_side: float,
    params: CovarianceParams | None = None,
    intrinsics_guessed: bool = False,
    R: np.ndarray | None = None,  # noqa: N803
    rot_logvar: np.ndarray | None = None,
) -> np.ndarray:
    """6x6 covariance of one head pose (camera frame, ``(x, y, z, rotX, rotY, rotZ)``).

    Args:
        T: (3,) estimated translation (m), ``T[2] > 0``.
        K: (3, 3) intrinsics the estimate was made with.
        box_side: crop box side ``b`` in image pixels.
        intrinsics_guessed: True when K is a guess (uncalibrated camera): inflate translation.
        R, rot_logvar: the estimated rotation and the model's predicted head-frame log
            variances (3,); given together, the rotation block is per face
            (:func:`rotation_covariance`), else the constant ``rot_std``.
    Returns:
        (6, 6) symmetric positive definite float64 matrix.
    """
    p = params if params is not None else CovarianceParams()
    T = np.asarray(T, dtype=np.float64)  # noqa: N806
    K = np.asarray(K, dtype=np.float64)  # noqa: N806
    z = max(float(T[2]), 1e-3)
    a, b = float(T[0]) / z, float(T[1]) / z
    depth_rel = p.depth_rel
    if intrinsics_guessed:
        depth_rel = float(np.hypot(depth_rel, p.focal_rel_uncalibrated))
    sigma_u = p.center_rel * float(box_side)
    var = np.array([(depth_rel * z) ** 2, (sigma_u / K[0, 0]) ** 2, (sigma_u / K[1, 1]) ** 2])
    J = np.array([[a, z, 0.0], [b, 0.0, z], [1.0, 0.0, 0.0]])  # noqa: N806
    cov = np.zeros((6, 6))
    cov[:3, :3] = J @ np.diag(var) @ J.T
    cov[3:, 3:] = np.diag(np.square(p.rot_std))
    s = np.asarray(p.scale)
    cov = cov * np.outer(s, s)
    if R is not None and rot_logvar is not None:
        cov[3:, 3:] = rotation_block(R, rot_logvar, p)
    return 0.5 * (cov + cov.T)


def rotation_error_vector(R_est: np.ndarray, R_true: np.ndarray) -> np.ndarray:  # noqa: N803
    """Rotation vector d (..., 3) with ``R_est = exp([d]x) @ R_true`` (camera-frame axes)."""
    from scipy.spatial.transform import Rotation

    rel = np.asarray(R_est) @ np.swapaxes(np.asarray(R_true), -1, -2)
    return Rotation.from_matrix(rel.reshape(-1, 3, 3)).as_rotvec().reshape(*rel.shape[:-2], 3)


def pose_errors(R_est, T_est, R_true, T_true) -> np.ndarray:  # noqa: N803
    """(N, 6) errors ``(T_est - T_true, rotation_error_vector(R_est, R_true))``."""
    dt = np.asarray(T_est, dtype=np.float64) - np.asarray(T_true, dtype=np.float64)
    return np.concatenate([dt, rotation_error_vector(R_est, R_true)], axis=-1)


def coverage(errors: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Per-axis fraction of ``|e_i| <= sqrt(cov_ii)`` for (N, 6) errors and (N, 6, 6) covs."""
    e = np.asarray(errors, dtype=np.float64)
    sd = np.sqrt(np.diagonal(np.asarray(cov, dtype=np.float64), axis1=-2, axis2=-1))
    return np.mean(np.abs(e) <= sd, axis=0)


def calibrate(
    errors: np.ndarray,
    predicted_cov: np.ndarray,
    params: CovarianceParams | None = None,
    target: float = ONE_SIGMA_COVERAGE,
    note: str = "",
) -> CovarianceParams:
    """Fit the per-axis scales so that the 1-sigma coverage of each axis equals ``target``.

    Args:
        errors: (N, 6) actual errors (:func:`pose_errors`) on held-out data.
        predicted_cov: (N, 6, 6) covariances predicted for those samples with ``params``.
        params: the constants used to predict them (default: uncalibrated defaults).
    Returns:
        New params with ``scale_i *= quantile(|e_i| / sigma_i, target)`` and
        ``calibrated = True``. With these, ``coverage(errors, new_cov)`` ~= ``target`` per axis.
    """
    p = params if params is not None else CovarianceParams()
    e = np.asarray(errors, dtype=np.float64)
    cov = np.asarray(predicted_cov, dtype=np.float64)
    if e.ndim != 2 or e.shape[1] != 6 or cov.shape != (e.shape[0], 6, 6):
        raise ValueError(f"calibrate: need (N, 6) errors and (N, 6, 6) covs, got {e.shape}, "
                         f"{cov.shape}")
    if e.shape[0] < 10:
        raise ValueError("calibrate: need at least 10 samples")
    sd = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    z = np.abs(e) / sd
    k = np.quantile(z, target, axis=0)
    k = np.maximum(k, 1e-6)
    d = p.to_dict()
    d["scale"] = [float(s * ki) for s, ki in zip(p.scale, k, strict=True)]
    d["calibrated"] = True
    d["calibration_note"] = note or f"fitted on {e.shape[0]} samples, 1-sigma target {target:.4f}"
    return CovarianceParams.from_dict(d)


def sanitize_covariance(cov: np.ndarray, floor: float = 1e-12) -> np.ndarray:
    """Symmetric positive-definite 6x6: symmetrise, clip eigenvalues to ``floor``; NaN -> large
    (1e6 on the diagonal: "unknown")."""
    c = np.asarray(cov, np.float64).reshape(6, 6)
    if not np.all(np.isfinite(c)):
        return np.eye(6) * 1e6
    c = 0.5 * (c + c.T)
    w, v = np.linalg.eigh(c)
    if w.min() > floor:
        return c
    w = np.maximum(w, max(floor, 1e-9 * max(float(w.max()), floor)))
    c = (v * w) @ v.T
    return 0.5 * (c + c.T)
