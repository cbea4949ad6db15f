# ruff: noqa: N803, N806  (R, T, K: the notation of geometry.py)
"""Fit the 1220-vertex face model to 2D landmarks under a stated pinhole camera (pure numpy).

Face model: the synthetic engine's ICT head carried onto the 1220 ARKit topology
(:class:`head_pose_ros.synth.head.HeadModel`, ``dense_weights``): ``V(c) = mean + sum_k c_k B_k``
with the first ``n_identity`` ICT identity modes (coefficients ~N(0, 1)) and the 53 ARKit
expression blendshapes (weights in [0, 1]), in OUR head frame (x to the subject's left ear,
y to the chin, z into the head; metres). So a fitted real face lives in exactly the frame and
shape space of the synthetic labels.

Teacher frame alignment (:func:`register_mediapipe`): MediaPipe's canonical mesh (cm; x to the
subject's left, y up, z out of the face) is flipped into our axes (``diag(1, -1, -1)``, see
``peers.mediapipe_peer.canonical_to_head_matrix``), then aligned to the model's mean face by a
similarity transform (``X_ours = s Ra X_flipped + ta``): first on 8 anatomical points (eye
corners, nose tip, mouth corners, chin), then by ICP against the 1220 surface. Each canonical
vertex within ``MAX_CORRESPONDENCE_M`` of the surface is tied to its closest surface point
(triangle + barycentric). A teacher rotation in our frame is ``R_teacher @ Ra.T``;
``Ra``'s angle is the measured frame offset between the two template conventions.

Fit (:func:`fit_pose_shape`): minimise ``sum_i w_i rho(|pi(K, R X_i(c) + T) - u_i|)``
(``rho`` Huber, 3 px, on each pixel coordinate) + ``sum_k lambda_k c_k^2`` by alternating (a)
the pose with ``scipy.optimize.least_squares`` and (b) the shape coefficients in closed form (the
projection equations multiplied by depth are linear in ``c``; ridge prior), from an SQPnP
start. Both steps use the same robust weights: (b) is one iteratively reweighted least-squares
step with the Huber weights (:func:`huber_weights`, the ones ``least_squares`` applies) of the
residuals at the pose just fitted, so an outlier that the pose step discounts does not pull
the shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import least_squares

from head_pose_ros.geometry import project_points
from head_pose_ros.synth.registration import closest_point_on_triangles, umeyama

MAX_CORRESPONDENCE_M = 0.006
"""Canonical vertices farther than this from the 1220 surface after alignment are unused."""

# MediaPipe canonical vertex -> iBUG-68 index of the same anatomical point (initial alignment)
MP_ANCHORS = {1: 30, 152: 8, 33: 36, 133: 39, 362: 42, 263: 45, 61: 48, 291: 54}

FIT_PRIOR_PX = 1.5
"""Assumed landmark noise (pixels) that sets the ridge weight of the shape prior."""


@dataclass
class FaceBasis:
    """Linear 1220-vertex face model in the head frame (see module doc)."""

    mean: np.ndarray  # (1220, 3)
    basis: np.ndarray  # (K, 1220, 3)
    n_identity: int
    prior_sigma: np.ndarray  # (K,) prior std of each coefficient
    triangles: np.ndarray  # (F, 3)
    landmarks68: np.ndarray  # (68,)

    @property
    def num_coeffs(self) -> int:
        return int(self.basis.shape[0])

    def vertices(self, coeffs: np.ndarray) -> np.ndarray:
        """(1220, 3) (or (N, 1220, 3) for (N, K) coefficients)."""
        c = np.asarray(coeffs, np.float64)
        return self.mean + np.tensordot(c, self.basis, axes=1)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"basis_mean": self.mean.astype(np.float32),
                "basis_modes": self.basis.astype(np.float32),
                "basis_n_identity": np.int64(self.n_identity),
                "basis_prior_sigma": self.prior_sigma.astype(np.float32)}


def load_face_basis(n_identity: int = 30, data_root: str | None = None) -> FaceBasis:
    """The synthetic engine's head model on the 1220 topology (ICT identity + expressions)."""
    from head_pose_ros.synth.head import HeadModel

    hm = HeadModel(data_root)
    W = hm.dense_weights
    mean = np.asarray(W @ hm.neutral.astype(np.float64))
    modes = [np.asarray(W @ m.astype(np.float64)) for m in hm.ict.identity[:n_identity]]
    modes += [np.asarray(W @ e.astype(np.float64)) for e in hm.ict.expression]
    sigma = np.r_[np.ones(n_identity), np.full(len(hm.ict.expression), 0.5)]
    return FaceBasis(mean, np.stack(modes), n_identity, sigma,
                     np.asarray(hm.dense_triangles, np.int64), np.asarray(hm.landmark_ids))


@dataclass
class SurfaceMap:
    """Points tied to the 1220 surface: ``P = bary-weighted triangle corners`` (linear)."""

    source_ids: np.ndarray  # (M,) ids in the source point set (e.g. MediaPipe vertex ids)
    corners: np.ndarray  # (M, 3) 1220 vertex ids of the triangle of each point
    bary: np.ndarray  # (M, 3)
    distance: np.ndarray  # (M,) m, source point -> surface after alignment

    def points(self, V: np.ndarray) -> np.ndarray:
        """(M, 3) points on a mesh V (1220, 3) (or (K, M, 3) for bases (K, 1220, 3))."""
        return np.einsum("mk,...mkd->...md", self.bary, V[..., self.corners, :])


@dataclass
class TeacherAlignment:
    """MediaPipe canonical frame -> our head frame (see module doc)."""

    scale: float
    rotation: np.ndarray  # Ra (3, 3)
    translation: np.ndarray  # ta (3,) m
    surface: SurfaceMap
    anchor_residual_m: np.ndarray  # (8,) after the final alignment

    @property
    def angle_deg(self) -> float:
        return float(np.degrees(np.linalg.norm(cv2.Rodrigues(self.rotation)[0])))

    def rotation_in_our_frame(self, R_teacher_flipped: np.ndarray) -> np.ndarray:
        """Teacher head->camera rotation (for its axis-flipped canonical frame) -> ours."""
        return np.asarray(R_teacher_flipped) @ self.rotation.T


def _closest(points: np.ndarray, V: np.ndarray, tris: np.ndarray, k: int = 16):
    from scipy.spatial import cKDTree

    tv = V[tris]
    _, cand = cKDTree(tv.mean(1)).query(points, k=k)
    q, bary = closest_point_on_triangles(points[:, None, :], tv[cand, 0], tv[cand, 1],
                                         tv[cand, 2])
    d = np.linalg.norm(q - points[:, None, :], axis=-1)
    best = d.argmin(1)
    rows = np.arange(len(points))
    return q[rows, best], tris[cand[rows, best]], bary[rows, best], d[rows, best]


def register_mediapipe(canonical_cm: np.ndarray, C: np.ndarray, basis: FaceBasis,
                       iterations: int = 15) -> TeacherAlignment:
    """Align MediaPipe's canonical mesh (468, 3) cm to ``basis.mean`` (see module doc).

    ``C``: canonical -> our axes (``peers.mediapipe_peer.canonical_to_head_matrix``).
    """
    X = (np.asarray(canonical_cm, np.float64) / 100.0) @ np.asarray(C, np.float64).T
    V, tris, lm = basis.mean, basis.triangles, basis.landmarks68
    a_src = X[list(MP_ANCHORS)]
    a_dst = V[lm[list(MP_ANCHORS.values())]]
    s, Ra, ta = umeyama(a_src, a_dst)
    for _ in range(iterations):
        Y = s * X @ Ra.T + ta
        q, _, _, d = _closest(Y, V, tris)
        keep = d < 2.0 * MAX_CORRESPONDENCE_M
        s, Ra, ta = umeyama(X[keep], q[keep])
    Y = s * X @ Ra.T + ta
    _, corners, bary, d = _closest(Y, V, tris)
    keep = np.nonzero(d < MAX_CORRESPONDENCE_M)[0]
    surf = SurfaceMap(keep, corners[keep], bary[keep], d[keep])
    res = np.linalg.norm(s * a_src @ Ra.T + ta - a_dst, axis=1)
    return TeacherAlignment(float(s), Ra, ta, surf, res)


def huber_weights(residuals: np.ndarray, scale: float) -> np.ndarray:
    """IRLS weights of the Huber loss of ``least_squares(loss="huber", f_scale=scale)``:
    ``rho'(f^2 / scale^2) = min(1, scale / |f|)`` per residual component (multiplies f^2)."""
    a = np.abs(np.asarray(residuals, np.float64))
    return np.where(a <= scale, 1.0, scale / np.maximum(a, 1e-300))


@dataclass
class FitResult:
    R: np.ndarray
    T: np.ndarray
    coeffs: np.ndarray
    residual_px: np.ndarray  # (N,) per observation, after the fit
    ok: bool


def fit_pose_shape(
    uv: np.ndarray,
    weights: np.ndarray,
    mean_pts: np.ndarray,
    basis_pts: np.ndarray,
    K: np.ndarray,
    prior_sigma: np.ndarray,
    *,
    fit_shape: bool = True,
    iterations: int = 3,
    huber_px: float = 3.0,
    expression_slice: slice | None = None,
) -> FitResult:
    """Weighted pose (+ shape) fit of model points to 2D observations (see module doc).

    Args:
        uv: (N, 2) observed pixels; weights: (N,) >= 0.
        mean_pts: (N, 3) the observations' model points on the mean face (head frame, m).
        basis_pts: (K, N, 3) the same points' basis displacements.
        K: (3, 3) pinhole intrinsics of the (virtual) camera, pixel centres at integers.
        prior_sigma: (K,) prior std of the coefficients.
        fit_shape: False keeps the mean face (few observations).
        expression_slice: coefficients clipped to [0, 1] (expression weights).
    """
    uv = np.asarray(uv, np.float64)
    w = np.asarray(weights, np.float64)
    K = np.asarray(K, np.float64)
    nc = basis_pts.shape[0]
    c = np.zeros(nc)
    ok, rvec, tvec = cv2.solvePnP(mean_pts.astype(np.float64), uv, K, None,
                                  flags=cv2.SOLVEPNP_SQPNP)
    if not ok or tvec[2, 0] <= 0:
        return FitResult(np.eye(3), np.zeros(3), c, np.full(len(uv), np.inf), False)
    x = np.r_[rvec.ravel(), tvec.ravel()]
    sw = np.sqrt(w)
    lam = (FIT_PRIOR_PX / np.asarray(prior_sigma, np.float64)) ** 2
    for it in range(iterations):
        P = mean_pts + np.tensordot(c, basis_pts, axes=1)

        def resid(p: np.ndarray, P: np.ndarray = P) -> np.ndarray:
            R = cv2.Rodrigues(p[:3])[0]
            X = P @ R.T + p[3:]
            return ((project_points(X, K) - uv) * sw[:, None]).ravel()

        x = least_squares(resid, x, loss="huber", f_scale=huber_px, method="trf",
                          max_nfev=60).x
        if not fit_shape or it == iterations - 1:
            continue
        R = cv2.Rodrigues(x[:3])[0]
        T = x[3:]
        # the pose step's robust weights at its solution, per (u, v) residual component
        hw = np.sqrt(huber_weights(resid(x).reshape(-1, 2), huber_px))
        Xm = mean_pts @ R.T + T  # (N, 3)
        XB = basis_pts @ R.T  # (K, N, 3)
        z = np.maximum(Xm[:, 2] + XB[..., 2].T @ c, 1e-6)
        rows, rhs = [], []
        for a, ccol, f in ((0, K[0, 2], K[0, 0]), (1, K[1, 2], K[1, 1])):
            du = ccol - uv[:, a]
            rw = sw * hw[:, a]
            rows.append(((f * XB[..., a] + du * XB[..., 2]) / z).T * rw[:, None])
            rhs.append(-(f * Xm[:, a] + du * Xm[:, 2]) / z * rw)
        A = np.concatenate(rows)
        b = np.concatenate(rhs)
        c = np.linalg.solve(A.T @ A + np.diag(lam), A.T @ b)
        if expression_slice is not None:
            c[expression_slice] = np.clip(c[expression_slice], 0.0, 1.0)
    R = cv2.Rodrigues(x[:3])[0]
    T = x[3:]
    P = mean_pts + np.tensordot(c, basis_pts, axes=1)
    r = np.linalg.norm(project_points(P @ R.T + T, K) - uv, axis=1)
    return FitResult(R, T, c, r, bool(np.all(np.isfinite(r)) and T[2] > 0))
