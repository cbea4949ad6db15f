"""Is this person looking at the target? A probability from the pose and its covariance (no ROS).

Question answered per face: the probability that the angle between the head's forward ray and
the direction from the face to a target is below a cone half-angle ``cone``::

    P = Pr( angle(x_face, p_target - t_face) < cone )

- ``x_face``: the x axis of the REP-155 face frame (out of the face) in the camera frame, i.e.
  ``rot[:, 0]`` of the published pose; TRG estimates head pose, not eye gaze, so this is a HEAD
  direction.
- ``t_face``: the face-frame origin (between the eyes) in the camera frame, metres.
- ``p_target``: the target in the camera frame (the camera itself, ``(0, 0, 0)``, by default).
- the pose is uncertain: ``cov`` is the published 6x6 covariance over (x, y, z, rotX, rotY, rotZ)
  about the camera axes (:mod:`head_pose_ros.covariance`; ``R_est = exp([d]x) R_true``). The
  probability integrates over BOTH blocks and their cross terms: a wide rotation block (profile,
  blur, small face: the per-face rotation head) and a wide translation block (far or badly
  calibrated camera) both give a less certain answer.

Integration: a fixed set of ``N_POINTS`` scrambled-Sobol quasi-Monte-Carlo standard normals in
6-D (seeded, drawn once), mapped through the Cholesky factor of ``cov_scale**2 * cov``; each point
is one pose hypothesis (rotation ``exp([d]x) R``, position ``t + dt``), its angle to the target is
computed exactly (no linearisation), and ``P`` is the mean of a smoothed indicator
``Phi((cone - angle) / SMOOTH)`` (``SMOOTH`` = 0.5 deg keeps ``P`` continuous in the inputs).
About 40 us per face.

Calibration: ``cov_scale`` (the one constant) is fitted by
:mod:`head_pose_ros.train.attention_calib` on
a held-out synthetic set (``wild_calib``) by minimising the log loss of ``P`` against the true
"within the cone" label, and reported on other sets (docs/HRI.md); its value for the shipped
model is :data:`DEFAULT_COV_SCALE`. ``cone`` is the user's choice (parameter
``attention_cone_deg``, default :data:`DEFAULT_CONE_DEG`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

__all__ = ["DEFAULT_CONE_DEG", "DEFAULT_COV_SCALE", "N_POINTS", "SMOOTH_DEG", "Attention",
           "attention", "attention_batch", "angle_to_target", "normal_points"]

DEFAULT_CONE_DEG = 15.0
"""Default cone half-angle (deg): the head points at the target within 15 deg."""
DEFAULT_COV_SCALE = 1.0718
"""Covariance scale fitted on wild_calib for the shipped model (docs/HRI.md)."""
N_POINTS = 256
SMOOTH_DEG = 0.5

_POINTS: np.ndarray | None = None


def normal_points(n: int = N_POINTS, seed: int = 17) -> np.ndarray:
    """``(n, 6)`` scrambled-Sobol standard normal points (fixed seed: deterministic output)."""
    global _POINTS
    if n == N_POINTS and seed == 17 and _POINTS is not None:
        return _POINTS
    from scipy.special import ndtri
    from scipy.stats import qmc

    u = qmc.Sobol(d=6, scramble=True, seed=seed).random(n)
    pts = ndtri(np.clip(u, 1e-9, 1 - 1e-9))
    pts = (pts - pts.mean(0)) / pts.std(0)  # exact zero mean, unit variance per axis
    if n == N_POINTS and seed == 17:
        _POINTS = pts
    return pts


@dataclass
class Attention:
    """Attention of one face towards one target.

    Attributes:
        probability: P(angle < cone) over the pose uncertainty, in [0, 1].
        angle: angle (rad) between the estimated head direction and the target direction.
        angle_std: standard deviation (rad) of that angle over the pose uncertainty.
        distance: distance (m) from the face origin to the target.
    """

    probability: float
    angle: float
    angle_std: float
    distance: float


def angle_to_target(rot: np.ndarray, trans: np.ndarray, target: np.ndarray) -> float:
    """Angle (rad) between the face x axis ``rot[:, 0]`` and ``target - trans``."""
    g = np.asarray(rot, np.float64)[:, 0]
    u = np.asarray(target, np.float64) - np.asarray(trans, np.float64)
    n = float(np.linalg.norm(u))
    if n < 1e-9:
        return 0.0
    return float(np.arccos(np.clip(g @ u / n, -1.0, 1.0)))


def _chol(cov: np.ndarray) -> np.ndarray:
    """Cholesky factor(s) of symmetric PSD ``(..., 6, 6)`` matrices (eigen-clipped fallback)."""
    c = 0.5 * (cov + np.swapaxes(cov, -1, -2))
    try:
        return np.linalg.cholesky(c + np.eye(6) * 1e-15)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(c)
        return v * np.sqrt(np.clip(w, 0.0, None))[..., None, :]


def _rotate(d: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``exp([d]x) v`` for rotation vectors ``d (..., 3)`` and vectors ``v (..., 3)``."""
    th = np.linalg.norm(d, axis=-1, keepdims=True)
    k = d / np.maximum(th, 1e-12)
    c, s = np.cos(th), np.sin(th)
    kv = np.sum(k * v, axis=-1, keepdims=True)
    return v * c + np.cross(k, v) * s + k * kv * (1.0 - c)


def attention_batch(gaze: np.ndarray, trans: np.ndarray, cov: np.ndarray,
                    target: np.ndarray | None = None, cone: float = np.deg2rad(DEFAULT_CONE_DEG),
                    cov_scale: float = DEFAULT_COV_SCALE,
                    points: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Vectorised :func:`attention` for ``N`` faces.

    Args:
        gaze: (N, 3) head directions (the face frame's x axis, camera frame).
        trans: (N, 3) face origins (m, camera frame).
        cov: (N, 6, 6) pose covariances (x, y, z, rotX, rotY, rotZ; camera axes).
        target: (3,) or (N, 3) target in the camera frame (default: the camera origin).
        cone: cone half-angle (rad).
        cov_scale: calibration scale of the covariance (standard deviations times this).
        points: (M, 6) standard normal points (default :func:`normal_points`).
    Returns:
        ``probability``, ``angle``, ``angle_std``, ``distance``: (N,) arrays.
    """
    g = np.asarray(gaze, np.float64).reshape(-1, 3)
    t = np.asarray(trans, np.float64).reshape(-1, 3)
    n = len(g)
    p = np.zeros((n, 3)) if target is None else np.broadcast_to(
        np.asarray(target, np.float64), (n, 3))
    z = normal_points() if points is None else np.asarray(points, np.float64)
    L = _chol(np.asarray(cov, np.float64).reshape(n, 6, 6)) * float(cov_scale)  # noqa: N806
    e = np.einsum("nij,mj->nmi", L, z)  # (N, M, 6) pose errors
    gk = _rotate(e[..., 3:], np.broadcast_to(g[:, None], e[..., 3:].shape))
    uk = p[:, None] - (t[:, None] + e[..., :3])
    un = np.linalg.norm(uk, axis=-1)
    cos = np.sum(gk * uk, axis=-1) / np.maximum(un, 1e-9)
    ang = np.arccos(np.clip(cos, -1.0, 1.0))  # (N, M)
    prob = ndtr((cone - ang) / np.deg2rad(SMOOTH_DEG)).mean(axis=1)
    u0 = p - t
    d0 = np.linalg.norm(u0, axis=1)
    a0 = np.arccos(np.clip(np.sum(g * u0, 1) / np.maximum(d0, 1e-9), -1.0, 1.0))
    return {"probability": np.clip(prob, 0.0, 1.0), "angle": a0, "angle_std": ang.std(axis=1),
            "distance": d0}


def attention(rot: np.ndarray, trans: np.ndarray, cov: np.ndarray,
              target: np.ndarray | None = None, cone: float = np.deg2rad(DEFAULT_CONE_DEG),
              cov_scale: float = DEFAULT_COV_SCALE) -> Attention:
    """Attention of one face: ``rot``, ``trans`` the published face-frame pose (REP-155, camera
    frame), ``cov`` its 6x6 covariance, ``target`` in the camera frame (default the camera)."""
    r = attention_batch(np.asarray(rot, np.float64)[:, 0][None], np.asarray(trans)[None],
                        np.asarray(cov)[None], target, cone, cov_scale)
    return Attention(float(r["probability"][0]), float(r["angle"][0]),
                     float(r["angle_std"][0]), float(r["distance"][0]))
