"""Register the ARKit 1220 template onto the ICT face, once, and cache the correspondence.

Procedure (the facts in ``shared/data/README.md``):

1. ICT neutral mesh in the flipped frame (y and z negated, :mod:`.ict`).
2. Similarity transform ``Y = s R X + t`` from the template (``template_face_m.npy``, OpenCV-like
   head frame) to the ICT face, least squares (Umeyama) on the 51 inner 68-landmarks (jaw contour
   0-16 skipped): template landmark ids ``arkit1220/landmarks68.npy``, ICT landmark vertex ids
   ``landmarks68`` in ``ict_head.npz``.
3. Each aligned template vertex -> closest point on the ICT ``face`` region triangles (cKDTree over
   triangle centroids for candidates, exact point-triangle projection), stored as triangle id +
   barycentric coordinates.

Head frame decision: the head frame is the template's own frame after alignment, without the
scale: ``X_head = R.T @ (X_ict_flipped - t)``. So R = I looks into the camera exactly as the TRG
template does, and dense labels (points on the ICT surface) are ~``s`` x the template.

The correspondence is cached in :func:`.ict.cache_dir` as ``arkit_on_ict_<hash>.npz`` keyed by a
hash of all inputs and of ``ALGO_VERSION``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from .ict import ARKIT_DIR, ICTHead, cache_dir, default_data_root

ALGO_VERSION = "1"
INNER_LANDMARKS = np.arange(17, 68)


@dataclass
class Registration:
    """ARKit 1220 template registered onto the ICT face (see module docstring)."""

    scale: float
    rotation: np.ndarray  # (3, 3) template axes in the ICT flipped frame
    translation: np.ndarray  # (3,) template origin in the ICT flipped frame
    triangle_ids: np.ndarray  # (1220,) ICT triangle index of each dense vertex
    barycentric: np.ndarray  # (1220, 3) float64, sum 1
    surface_distance: np.ndarray  # (1220,) m, aligned template vertex -> ICT face surface
    landmark_residual: np.ndarray  # (51,) m, inner-landmark residuals of the similarity fit
    template_landmarks68: np.ndarray  # (68,) dense vertex ids of the 68 landmarks
    template_triangles: np.ndarray  # (2304, 3)

    def interpolate(self, vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
        """Dense (1220, 3) points on a posed ICT mesh (V, 3) with triangles (F, 3)."""
        corners = vertices[triangles[self.triangle_ids]]  # (1220, 3, 3)
        return np.einsum("nk,nkd->nd", self.barycentric, corners)

    def weight_matrix(self, num_vertices: int, triangles: np.ndarray):
        """Sparse (1220, V) matrix W with ``dense = W @ vertices`` (linear in the mesh)."""
        import scipy.sparse as sp

        cols = triangles[self.triangle_ids].ravel()
        rows = np.repeat(np.arange(self.triangle_ids.shape[0]), 3)
        return sp.csr_matrix(
            (self.barycentric.ravel(), (rows, cols)),
            shape=(self.triangle_ids.shape[0], num_vertices),
        )


def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity ``dst ≈ s R src + t`` (Umeyama 1991). Returns (s, R, t)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    cov = b.T @ a / src.shape[0]
    U, S, Vt = np.linalg.svd(cov)  # noqa: N806
    d = np.ones(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        d[2] = -1.0
    R = U @ np.diag(d) @ Vt  # noqa: N806
    var_s = (a**2).sum() / src.shape[0]
    s = float((S * d).sum() / var_s)
    t = mu_d - s * R @ mu_s
    return s, R, t


def closest_point_on_triangles(
    p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact closest points of points ``p`` (..., 3) on triangles (a, b, c) (..., 3).

    Returns (closest (..., 3), barycentric (..., 3)) following the region tests of Ericson,
    Real-Time Collision Detection §5.1.5, vectorised.
    """
    ab, ac, ap = b - a, c - a, p - a
    d1 = (ab * ap).sum(-1)
    d2 = (ac * ap).sum(-1)
    bp = p - b
    d3 = (ab * bp).sum(-1)
    d4 = (ac * bp).sum(-1)
    cp = p - c
    d5 = (ab * cp).sum(-1)
    d6 = (ac * cp).sum(-1)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    eps = 1e-30
    # interior
    denom = va + vb + vc
    v = vb / np.where(np.abs(denom) < eps, eps, denom)
    w = vc / np.where(np.abs(denom) < eps, eps, denom)
    bary = np.stack([1 - v - w, v, w], -1)

    def put(mask, val):
        bary[mask] = val[mask] if val.ndim == bary.ndim else val

    # edge regions (assign in reverse priority so that vertex regions win)
    m_bc = (va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0)
    wbc = (d4 - d3) / np.maximum((d4 - d3) + (d5 - d6), eps)
    put(m_bc, np.stack([np.zeros_like(wbc), 1 - wbc, wbc], -1))
    m_ac = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
    wac = d2 / np.maximum(d2 - d6, eps)
    put(m_ac, np.stack([1 - wac, np.zeros_like(wac), wac], -1))
    m_ab = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
    vab = d1 / np.maximum(d1 - d3, eps)
    put(m_ab, np.stack([1 - vab, vab, np.zeros_like(vab)], -1))
    put((d6 >= 0) & (d5 <= d6), np.array([0.0, 0.0, 1.0]))
    put((d3 >= 0) & (d4 <= d3), np.array([0.0, 1.0, 0.0]))
    put((d1 <= 0) & (d2 <= 0), np.array([1.0, 0.0, 0.0]))
    q = bary[..., :1] * a + bary[..., 1:2] * b + bary[..., 2:3] * c
    return q, bary


def _inputs_hash(ict: ICTHead, template: np.ndarray, lm_t: np.ndarray) -> str:
    h = hashlib.sha1(ALGO_VERSION.encode())
    for arr in (ict.neutral, ict.triangles, ict.region, ict.landmarks68, template, lm_t):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def compute_registration(
    ict: ICTHead,
    template: np.ndarray,
    landmarks_t: np.ndarray,
    triangles_t: np.ndarray,
    k: int = 24,
) -> Registration:
    """Run the registration without cache; ``ict`` in the flipped frame (:meth:`ICTHead.load`)."""
    neutral = ict.neutral.astype(np.float64)
    src = template[landmarks_t[INNER_LANDMARKS]].astype(np.float64)
    dst = neutral[ict.landmarks68[INNER_LANDMARKS]]
    s, R, t = umeyama(src, dst)  # noqa: N806
    residual = np.linalg.norm(s * src @ R.T + t - dst, axis=1)
    aligned = s * template.astype(np.float64) @ R.T + t

    tri_ids = ict.region_triangles("face")
    tris = neutral[ict.triangles[tri_ids]]  # (M, 3, 3)
    tree = cKDTree(tris.mean(axis=1))
    _, cand = tree.query(aligned, k=k)  # (1220, k)
    a, b, c = tris[cand, 0], tris[cand, 1], tris[cand, 2]
    q, bary = closest_point_on_triangles(aligned[:, None, :], a, b, c)
    dist = np.linalg.norm(q - aligned[:, None, :], axis=-1)
    best = dist.argmin(axis=1)
    rows = np.arange(aligned.shape[0])
    return Registration(
        scale=s,
        rotation=R,
        translation=t,
        triangle_ids=tri_ids[cand[rows, best]].astype(np.int64),
        barycentric=bary[rows, best],
        surface_distance=dist[rows, best],
        landmark_residual=residual,
        template_landmarks68=landmarks_t.astype(np.int64),
        template_triangles=triangles_t.astype(np.int64),
    )


def load_registration(
    ict: ICTHead,
    data_root: str | os.PathLike | None = None,
    cache: str | os.PathLike | None | bool = None,
) -> Registration:
    """Registration of ``<data_root>/face_model/arkit1220`` onto ``ict`` (flipped frame), cached.

    ``cache``: a directory, ``None`` for :func:`.ict.cache_dir`, or ``False`` to disable.
    """
    root = Path(data_root) if data_root is not None else default_data_root()
    adir = root / ARKIT_DIR
    template = np.load(adir / "template_face_m.npy").astype(np.float64)
    lm_t = np.load(adir / "landmarks68.npy").astype(np.int64)
    tri_t = np.load(adir / "triangles.npy").astype(np.int64)
    key = _inputs_hash(ict, template, lm_t)
    path = None
    if cache is not False:
        cdir = Path(cache) if cache not in (None, True) else cache_dir()
        path = cdir / f"arkit_on_ict_{key}.npz"
        if path.exists():
            try:
                with np.load(path) as d:
                    return Registration(
                        scale=float(d["scale"]),
                        rotation=d["rotation"],
                        translation=d["translation"],
                        triangle_ids=d["triangle_ids"],
                        barycentric=d["barycentric"],
                        surface_distance=d["surface_distance"],
                        landmark_residual=d["landmark_residual"],
                        template_landmarks68=lm_t,
                        template_triangles=tri_t,
                    )
            except (OSError, KeyError, ValueError):
                pass  # corrupt cache: recompute
    reg = compute_registration(ict, template, lm_t, tri_t)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(
                tmp,
                scale=reg.scale,
                rotation=reg.rotation,
                translation=reg.translation,
                triangle_ids=reg.triangle_ids,
                barycentric=reg.barycentric,
                surface_distance=reg.surface_distance,
                landmark_residual=reg.landmark_residual,
            )
            os.replace(tmp, path)
        except OSError:
            pass  # read-only home: keep the in-memory result
    return reg
