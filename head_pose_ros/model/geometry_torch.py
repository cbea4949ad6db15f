"""Batched torch twins of :mod:`head_pose_ros.geometry` (same conventions, differentiable).

Column vectors, ``X_cam = R @ X_head + T``, OpenCV optical frame, metres; pixel centres at
integer coordinates; crop map ``u_crop = a (u - cx_box) + out/2 - 0.5`` with ``a = out/side``;
``grid_sample(..., align_corners=False)`` coordinates ``(u_crop + 0.5) / out * 2 - 1``;
``f = sqrt(fx fy)`` in paper Eq. 2. See the numpy module for the full description.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812

from head_pose_ros.geometry import FACE_BOX_SIZE_M

_EPS = 1e-8


def rot6d_to_matrix(x6: torch.Tensor) -> torch.Tensor:
    """(..., 6) first two COLUMNS of R (unnormalised) -> (..., 3, 3) via Gram-Schmidt."""
    a1, a2 = x6[..., 0:3], x6[..., 3:6]
    b1 = F.normalize(a1, dim=-1, eps=_EPS)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1, eps=_EPS)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_rot6d(R: torch.Tensor) -> torch.Tensor:  # noqa: N803
    """(..., 3, 3) -> (..., 6) = first column then second column."""
    return torch.cat([R[..., :, 0], R[..., :, 1]], dim=-1)


def mean_focal(K: torch.Tensor) -> torch.Tensor:  # noqa: N803
    """(B, 3, 3) -> (B,) ``sqrt(fx fy)``."""
    return torch.sqrt(K[..., 0, 0] * K[..., 1, 1])


def translation_from_correction(
    c: torch.Tensor, K: torch.Tensor, box: torch.Tensor  # noqa: N803
) -> torch.Tensor:
    """Paper Eq. 2 (principal point, fx/fy): c (B, 3) = (s, tx, ty), K (B, 3, 3),
    box (B, 3) = (cx_box, cy_box, side) -> T (B, 3)."""
    s, tx, ty = c[..., 0], c[..., 1], c[..., 2]
    tz = FACE_BOX_SIZE_M * s * mean_focal(K) / box[..., 2]
    x = tz * (box[..., 0] - K[..., 0, 2]) / K[..., 0, 0] + FACE_BOX_SIZE_M * s * tx
    y = tz * (box[..., 1] - K[..., 1, 2]) / K[..., 1, 1] + FACE_BOX_SIZE_M * s * ty
    return torch.stack([x, y, tz], dim=-1)


def correction_from_translation(
    T: torch.Tensor, K: torch.Tensor, box: torch.Tensor  # noqa: N803
) -> torch.Tensor:
    """Exact inverse of :func:`translation_from_correction` (requires Tz > 0)."""
    tz = T[..., 2]
    s = tz * box[..., 2] / (FACE_BOX_SIZE_M * mean_focal(K))
    tx = (T[..., 0] - tz * (box[..., 0] - K[..., 0, 2]) / K[..., 0, 0]) / (FACE_BOX_SIZE_M * s)
    ty = (T[..., 1] - tz * (box[..., 1] - K[..., 1, 2]) / K[..., 1, 1]) / (FACE_BOX_SIZE_M * s)
    return torch.stack([s, tx, ty], dim=-1)


def bbox_info(K: torch.Tensor, box: torch.Tensor, scale: float = 1.0) -> torch.Tensor:  # noqa: N803
    """(B, 3, 3), (B, 3) -> (B, 3) ``((cx_box-cx)/fx*scale, (cy_box-cy)/fy*scale, side/f)``."""
    return torch.stack(
        [
            (box[..., 0] - K[..., 0, 2]) / K[..., 0, 0] * scale,
            (box[..., 1] - K[..., 1, 2]) / K[..., 1, 1] * scale,
            box[..., 2] / mean_focal(K),
        ],
        dim=-1,
    )


def crop_intrinsics(K: torch.Tensor, box: torch.Tensor, out_size: int = 192) -> torch.Tensor:  # noqa: N803
    """(B, 3, 3), (B, 3) -> K_crop (B, 3, 3) = crop affine @ K."""
    a = out_size / box[..., 2]
    off = out_size / 2.0 - 0.5
    A = torch.zeros(K.shape, dtype=K.dtype, device=K.device)  # noqa: N806
    A[..., 0, 0] = a
    A[..., 1, 1] = a
    A[..., 0, 2] = off - a * box[..., 0]
    A[..., 1, 2] = off - a * box[..., 1]
    A[..., 2, 2] = 1.0
    return A @ K


def transform_points(X: torch.Tensor, R: torch.Tensor, T: torch.Tensor) -> torch.Tensor:  # noqa: N803
    """(B, N, 3) head points -> camera points ``R X + T``."""
    return X @ R.transpose(-1, -2) + T.unsqueeze(-2)


def project_points(X: torch.Tensor, K: torch.Tensor, min_depth: float = 1e-3) -> torch.Tensor:  # noqa: N803
    """(B, N, 3) camera points, (B, 3, 3) K -> (B, N, 2) pixels; depth clamped at ``min_depth``
    (points behind the camera cannot produce NaN/inf)."""
    p = X @ K.transpose(-1, -2)
    return p[..., :2] / p[..., 2:3].clamp(min=min_depth)


def pixels_to_grid(points: torch.Tensor, out_size: int = 192) -> torch.Tensor:
    """Crop pixels -> normalised ``grid_sample`` coordinates (align_corners=False)."""
    return (points + 0.5) / out_size * 2.0 - 1.0


def sample_features(feat: torch.Tensor, points: torch.Tensor, out_size: int = 192) -> torch.Tensor:
    """Bilinear features at crop-pixel points.

    Args:
        feat: (B, C, h, w) feature map covering the whole crop (any resolution).
        points: (B, N, 2) crop pixels (u, v).
    Returns:
        (B, N, C); points outside the crop get zeros.
    """
    grid = pixels_to_grid(points, out_size).unsqueeze(2)  # (B, N, 1, 2)
    out = F.grid_sample(feat, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.squeeze(-1).transpose(1, 2)


def grid_points(n: int, out_size: int = 192) -> torch.Tensor:
    """(n*n, 2) cell centres of an n x n grid over the crop, in crop pixels, row-major (v, u)."""
    c = (torch.arange(n, dtype=torch.float32) + 0.5) * (out_size / n) - 0.5
    v, u = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([u.reshape(-1), v.reshape(-1)], dim=-1)


def soft_argmax_2d(heatmaps: torch.Tensor, out_size: int = 192) -> torch.Tensor:
    """(B, L, h, w) logits -> (B, L, 2) expected positions in crop pixels.

    Heatmap pixel (i, j) has its centre at crop pixel ``((j + 0.5) * out/w - 0.5,
    (i + 0.5) * out/h - 0.5)`` (same convention as grid_sample align_corners=False).
    """
    b, n, h, w = heatmaps.shape
    prob = torch.softmax(heatmaps.reshape(b, n, h * w).float(), dim=-1).reshape(b, n, h, w)
    xs = (torch.arange(w, device=heatmaps.device, dtype=prob.dtype) + 0.5) * (out_size / w) - 0.5
    ys = (torch.arange(h, device=heatmaps.device, dtype=prob.dtype) + 0.5) * (out_size / h) - 0.5
    u = (prob.sum(dim=2) * xs).sum(-1)
    v = (prob.sum(dim=3) * ys).sum(-1)
    return torch.stack([u, v], dim=-1)


def rotation_log(M: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:  # noqa: N803
    """Rotation vector (..., 3) of rotation matrices (..., 3, 3): ``M = exp([d]x)``, |d| = the
    angle in radians (in [0, pi]). Near pi the axis is ill-conditioned; the angle is clamped
    just below it (the result stays finite)."""
    w = torch.stack([M[..., 2, 1] - M[..., 1, 2], M[..., 0, 2] - M[..., 2, 0],
                     M[..., 1, 0] - M[..., 0, 1]], dim=-1)
    cos = ((M[..., 0, 0] + M[..., 1, 1] + M[..., 2, 2] - 1.0) / 2.0).clamp(-1.0 + 1e-6, 1.0)
    theta = torch.acos(cos)
    sin = torch.sin(theta)
    factor = torch.where(sin > eps, theta / (2.0 * sin).clamp(min=eps),
                         0.5 + theta.square() / 12.0)
    return w * factor[..., None]
