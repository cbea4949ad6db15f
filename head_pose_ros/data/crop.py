"""The one crop + augmentation path every dataset uses: (image, K, labels) -> sample dict.

Sample dict (team brief; torch float32 tensors unless stated):
  ``image`` (3,S,S) RGB normalised with the ImageNet mean/std, ``K_crop`` (3,3), ``K`` (3,3),
  ``box`` (3,) = (cx, cy, side) in full-image pixels, ``bbox_info`` (3,) =
  ``geometry.bbox_info(K, box)`` (scale 1), ``R`` (3,3), ``T`` (3,) metres, ``vertices`` (V,3)
  head frame metres, ``landmarks68_crop`` (68,2) crop pixels, ``has_3d`` (bool), ``has_lmk2d``
  (bool), ``correction`` (3,) = ``geometry.correction_from_translation(T, K, box)``,
  ``landmarks68_weight`` (68,) per-landmark weight of the sparse 2D term (1 = labelled),
  ``loss_mask`` (6,) per-sample weight of the loss terms in ``LOSS_TERMS`` order (1 for fully
  labelled data; real pseudo-labelled faces switch off what their labels cannot support),
  ``aux2d_crop`` (AUX_POINTS, 2) extra 2D points in crop pixels, ``aux2d_ids`` (AUX_POINTS,)
  int64 their topology vertex ids, ``aux2d_weight`` (AUX_POINTS,) (0 = absent; e.g. AFLW's 21
  hand landmarks).

Invariants (tested): ``K_crop == geometry.crop_intrinsics(K, box, S)``, ``T ==
translation_from_correction(correction, K, box)`` and, for 3D labels, projecting ``R V + T`` with
``K_crop`` lands on the image content of the crop. After a rotation or flip augmentation ``K``
is the intrinsics of the *virtual* full image of the augmented camera (same fx, fy; moved
principal point), so the invariants keep holding exactly.

Augmentations (all label-exact):
- crop jitter / scale: move and resize the square box (labels follow through ``K_crop``);
- in-plane rotation by theta: a rotation ``Rz(theta)`` of the camera about its optical axis.
  With ``K_c`` the crop intrinsics, the crop is warped by ``H = K_c' Rz K_c^-1`` where ``K_c'``
  equals ``K_c`` except for its principal point, chosen so that ``H`` fixes the crop centre.
  For fx = fy, ``H`` is exactly the image rotation about the crop centre; for fx != fy it is
  the (slightly anisotropic) affine map that keeps ``K_c'`` a valid pinhole. Labels:
  ``R' = Rz R``, ``T' = Rz T``, vertices unchanged;
- horizontal flip: mirror the camera, ``F = diag(-1,1,1)``: ``R' = F R F``, ``T' = F T``,
  vertices ``V'[i] = F V[perm[i]]`` (:mod:`head_pose_ros.data.flip`), crop principal point
  ``u' = S - 1 - u``, 2D landmarks mirrored and re-indexed with the iBUG partners;
- colour jitter (brightness, contrast, saturation, hue), random mask patches, Gaussian blur,
  Gaussian noise: pixels only.
The geometric parts are composed into ONE affine warp of the full image (single interpolation).
Pixel convention: geometry.py's (pixel centres at integers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from head_pose_ros import geometry as geo
from head_pose_ros.data.flip import FLIP, IBUG_MIRROR_68

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

SAMPLE_KEYS = (
    "image", "K_crop", "K", "box", "bbox_info", "R", "T", "vertices", "landmarks68_crop",
    "has_3d", "has_lmk2d", "correction", "landmarks68_weight", "loss_mask", "aux2d_crop",
    "aux2d_ids", "aux2d_weight",
)

LOSS_TERMS = ("head", "cam", "img", "rot", "edge", "lmk2d")
"""Order of ``loss_mask`` (the terms of :mod:`head_pose_ros.losses`)."""

AUX_POINTS = 21
"""Fixed number of auxiliary 2D points per sample (collation needs one size)."""


@dataclass
class AuxPoints:
    """Extra 2D labels of a face in full-image pixels, tied to topology vertices."""

    points: np.ndarray
    """(N <= AUX_POINTS, 2) full-image pixels."""
    vertex_ids: np.ndarray
    """(N,) topology vertex of each point."""
    weight: np.ndarray
    """(N,) >= 0 (0 = not visible)."""
    mirror: np.ndarray
    """(N,) index of each point's mirror partner (for the flip augmentation)."""


@dataclass
class AugmentConfig:
    """Training augmentation ranges (``enabled=False``: plain crop, for evaluation)."""

    enabled: bool = True
    jitter: float = 0.08
    """Box centre shift, uniform in +-jitter x side, per axis."""
    scale_min: float = 0.9
    scale_max: float = 1.15
    """Box side multiplier range."""
    rotation_prob: float = 0.3
    rotation_deg: float = 30.0
    flip_prob: float = 0.5
    color_prob: float = 0.8
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.2
    hue: float = 0.02
    """Hue shift as a fraction of the full circle."""
    mask_prob: float = 0.15
    mask_max_count: int = 2
    mask_min_frac: float = 0.1
    mask_max_frac: float = 0.35
    blur_prob: float = 0.1
    blur_sigma_max: float = 1.5
    noise_prob: float = 0.15
    noise_std_max: float = 8.0
    """Gaussian pixel noise std in 0..255 units."""


@dataclass
class AugmentParams:
    """One draw of the augmentation (explicit, so tests can force each one)."""

    shift: tuple[float, float] = (0.0, 0.0)
    """Box centre shift in units of the box side."""
    scale: float = 1.0
    rotation: float = 0.0
    """Camera rotation about its optical axis, radians."""
    flip: bool = False
    color: tuple[float, float, float, float] | None = None
    """(brightness, contrast, saturation, hue) factors/shift, or None."""
    masks: list[tuple[float, float, float, float, tuple[int, int, int]]] = field(
        default_factory=list
    )
    """Rectangles (x0, y0, w, h) in crop-size fractions, with a fill colour."""
    blur_sigma: float = 0.0
    noise_std: float = 0.0
    seed: int = 0
    """Seed of the noise pattern."""


def sample_augment(rng: np.random.Generator, cfg: AugmentConfig) -> AugmentParams:
    """Draw augmentation parameters from ``cfg`` (identity when ``cfg.enabled`` is False)."""
    if not cfg.enabled:
        return AugmentParams()
    p = AugmentParams()
    p.shift = (float(rng.uniform(-cfg.jitter, cfg.jitter)),
               float(rng.uniform(-cfg.jitter, cfg.jitter)))
    p.scale = float(rng.uniform(cfg.scale_min, cfg.scale_max))
    if rng.random() < cfg.rotation_prob:
        p.rotation = math.radians(float(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg)))
    p.flip = bool(rng.random() < cfg.flip_prob)
    if rng.random() < cfg.color_prob:
        p.color = (
            float(rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)),
            float(rng.uniform(1 - cfg.contrast, 1 + cfg.contrast)),
            float(rng.uniform(1 - cfg.saturation, 1 + cfg.saturation)),
            float(rng.uniform(-cfg.hue, cfg.hue)),
        )
    if rng.random() < cfg.mask_prob:
        for _ in range(int(rng.integers(1, cfg.mask_max_count + 1))):
            w = float(rng.uniform(cfg.mask_min_frac, cfg.mask_max_frac))
            h = float(rng.uniform(cfg.mask_min_frac, cfg.mask_max_frac))
            x0, y0 = float(rng.uniform(0, 1 - w)), float(rng.uniform(0, 1 - h))
            col = tuple(int(c) for c in rng.integers(0, 256, 3))
            p.masks.append((x0, y0, w, h, col))  # type: ignore[arg-type]
    if rng.random() < cfg.blur_prob:
        p.blur_sigma = float(rng.uniform(0.3, cfg.blur_sigma_max))
    if rng.random() < cfg.noise_prob:
        p.noise_std = float(rng.uniform(1.0, cfg.noise_std_max))
    p.seed = int(rng.integers(0, 2**31 - 1))
    return p


@dataclass
class FaceLabels:
    """Labels of one face in a full image (metres, pixels; OpenCV camera)."""

    K: np.ndarray
    R: np.ndarray | None = None
    T: np.ndarray | None = None
    vertices: np.ndarray | None = None
    """(V,3) head frame, metres."""
    landmarks68: np.ndarray | None = None
    """(68,2) full-image pixels (2D-only data; for 3D data they are derived from the mesh)."""
    landmarks68_weight: np.ndarray | None = None
    """(68,) weight of each 2D landmark (None = all 1)."""
    loss_mask: np.ndarray | None = None
    """(6,) per-term weights in ``LOSS_TERMS`` order (None = all 1)."""
    aux: AuxPoints | None = None

    @property
    def has_3d(self) -> bool:
        return self.R is not None and self.T is not None and self.vertices is not None


def rotation_z(theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def landmarks_from_3d(labels: FaceLabels, landmark_ids: np.ndarray) -> np.ndarray:
    """68 full-image landmarks projected from the 3D labels, (68,2)."""
    X = geo.transform_points(labels.vertices[landmark_ids], labels.R, labels.T)
    return geo.project_points(X, labels.K)


def base_box(labels: FaceLabels, landmark_ids: np.ndarray, scale: float = 1.5) -> np.ndarray:
    """Crop box (cx, cy, side) from the 68 landmarks (projected from 3D labels when present)."""
    lm = landmarks_from_3d(labels, landmark_ids) if labels.has_3d else labels.landmarks68
    return geo.crop_box_from_landmarks(np.asarray(lm, np.float64), scale=scale)


def _color(img: np.ndarray, b: float, c: float, s: float, h: float) -> np.ndarray:
    x = img.astype(np.float32) * b
    mean = x.mean()
    x = (x - mean) * c + mean
    grey = x @ np.array([0.299, 0.587, 0.114], np.float32)
    x = (x - grey[..., None]) * s + grey[..., None]
    x = np.clip(x, 0, 255).astype(np.uint8)
    if abs(h) > 1e-6:
        hsv = cv2.cvtColor(x, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + int(round(h * 180))) % 180).astype(np.uint8)
        x = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return x


def _pixel_augment(crop: np.ndarray, p: AugmentParams) -> np.ndarray:
    out = crop
    if p.color is not None:
        out = _color(out, *p.color)
    size = out.shape[0]
    if p.masks:
        out = out.copy()
        for x0, y0, w, h, col in p.masks:
            i0, j0 = int(x0 * size), int(y0 * size)
            out[j0:j0 + max(1, int(h * size)), i0:i0 + max(1, int(w * size))] = col
    if p.blur_sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), p.blur_sigma)
    if p.noise_std > 0:
        noise = np.random.default_rng(p.seed).normal(0.0, p.noise_std, out.shape)
        out = np.clip(out.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return out


def normalise_image(crop_rgb: np.ndarray) -> torch.Tensor:
    """uint8 RGB (S,S,3) -> float32 (3,S,S) normalised with the ImageNet mean/std."""
    x = (crop_rgb.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def denormalise_image(image: torch.Tensor) -> np.ndarray:
    """Inverse of :func:`normalise_image` -> uint8 RGB (S,S,3) (for drawing)."""
    x = image.detach().cpu().float().numpy().transpose(1, 2, 0) * IMAGENET_STD + IMAGENET_MEAN
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


def build_sample(
    image_rgb: np.ndarray,
    labels: FaceLabels,
    *,
    landmark_ids: np.ndarray,
    num_vertices: int,
    params: AugmentParams | None = None,
    flip_perm: np.ndarray | None = None,
    box: np.ndarray | None = None,
    out_size: int = 192,
    box_scale: float = 1.5,
) -> dict[str, torch.Tensor]:
    """Crop, augment and package one face (see module doc).

    Args:
        image_rgb: (H,W,3) uint8 RGB full image.
        labels: the face's labels; 3D labels need K, R, T, vertices; 2D-only ones K and
            landmarks68.
        landmark_ids: (68,) vertex ids of the topology's 68 landmarks.
        num_vertices: V of the topology (zeros are returned for 2D-only samples).
        params: augmentation draw (None: no augmentation).
        flip_perm: mirror permutation of the topology (required when ``params.flip``).
        box: crop box (cx, cy, side) to use before jitter; default from the 68 landmarks x
            ``box_scale``.
    """
    p = params or AugmentParams()
    K = np.asarray(labels.K, np.float64)
    has_3d = labels.has_3d
    if box is None:
        box = base_box(labels, landmark_ids, box_scale)
    box = np.asarray(box, np.float64).copy()
    box[0] += p.shift[0] * box[2]
    box[1] += p.shift[1] * box[2]
    box[2] *= p.scale
    S = int(out_size)
    A = geo.crop_affine(box, S)
    Kc = A @ K
    W = np.eye(3)  # extra crop-space warp (rotation, flip)
    if has_3d:
        R = np.asarray(labels.R, np.float64)
        T = np.asarray(labels.T, np.float64).reshape(3)
        V = np.asarray(labels.vertices, np.float64)
    lm2d = None
    if not has_3d:
        lm2d = geo.image_to_crop(np.asarray(labels.landmarks68, np.float64), box, S)

    if p.rotation != 0.0:
        Rz = rotation_z(p.rotation)
        c0 = (S - 1) / 2.0
        q = np.linalg.solve(Kc, np.array([c0, c0, 1.0]))
        rq = Rz @ q
        Kc2 = Kc.copy()
        Kc2[0, 2] = c0 - Kc[0, 0] * rq[0] / rq[2]
        Kc2[1, 2] = c0 - Kc[1, 1] * rq[1] / rq[2]
        H = Kc2 @ Rz @ np.linalg.inv(Kc)
        H /= H[2, 2]
        W = H @ W
        Kc = Kc2
        if has_3d:
            R, T = Rz @ R, Rz @ T
    if p.flip:
        G = np.array([[-1.0, 0.0, S - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        W = G @ W
        Kc = G @ Kc @ FLIP
        if has_3d:
            if flip_perm is None:
                raise ValueError("flip augmentation of 3D labels needs the mirror permutation")
            R, T = FLIP @ R @ FLIP, FLIP @ T
            V = V[flip_perm] * np.array([-1.0, 1.0, 1.0])
    if lm2d is not None and not np.allclose(W, np.eye(3)):
        lm2d = (np.c_[lm2d, np.ones(len(lm2d))] @ W.T)[:, :2]
        if p.flip:
            lm2d = lm2d[IBUG_MIRROR_68]
    lm_w = (np.ones(68) if labels.landmarks68_weight is None
            else np.asarray(labels.landmarks68_weight, np.float64).reshape(68))
    if p.flip:
        lm_w = lm_w[IBUG_MIRROR_68]
    aux_xy, aux_ids, aux_w = np.zeros((AUX_POINTS, 2)), np.zeros(AUX_POINTS), np.zeros(AUX_POINTS)
    if labels.aux is not None:
        a = labels.aux
        n = len(a.points)
        if n > AUX_POINTS:
            raise ValueError(f"at most {AUX_POINTS} auxiliary points, got {n}")
        q = geo.image_to_crop(np.asarray(a.points, np.float64), box, S)
        q = (np.c_[q, np.ones(n)] @ W.T)[:, :2]
        ids, wts = np.asarray(a.vertex_ids), np.asarray(a.weight, np.float64)
        if p.flip:
            q, wts = q[a.mirror], wts[a.mirror]
        aux_xy[:n], aux_ids[:n], aux_w[:n] = q, ids, wts

    M = W @ A
    crop = cv2.warpAffine(image_rgb, M[:2], (S, S), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    crop = _pixel_augment(crop, p)

    # virtual full-image intrinsics of the (augmented) camera: K_crop = A @ K_full
    K_full = K if np.allclose(W, np.eye(3)) else np.linalg.solve(A, Kc)
    if has_3d:
        lm_crop = geo.project_points(geo.transform_points(V[landmark_ids], R, T), Kc)
        corr = geo.correction_from_translation(T, K_full, box)
    else:
        lm_crop = lm2d
        R, T = np.eye(3), np.zeros(3)
        V = np.zeros((num_vertices, 3))
        corr = np.zeros(3)

    def f32(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))

    return {
        "image": normalise_image(crop),
        "K_crop": f32(Kc),
        "K": f32(K_full),
        "box": f32(box),
        "bbox_info": f32(geo.bbox_info(K_full, box)),
        "R": f32(R),
        "T": f32(T),
        "vertices": f32(V),
        "landmarks68_crop": f32(lm_crop),
        "has_3d": torch.tensor(bool(has_3d)),
        "has_lmk2d": torch.tensor(True),
        "correction": f32(corr),
        "landmarks68_weight": f32(lm_w),
        "loss_mask": f32(np.ones(len(LOSS_TERMS)) if labels.loss_mask is None
                         else labels.loss_mask),
        "aux2d_crop": f32(aux_xy),
        "aux2d_ids": torch.from_numpy(aux_ids.astype(np.int64)),
        "aux2d_weight": f32(aux_w),
    }
