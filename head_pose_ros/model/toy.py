"""Tiny synthetic samples for tests and smoke runs (no renderer needed).

A face is the topology template moved by a random pose, seen by a random pinhole camera; the
192x192 crop is drawn directly with OpenCV: triangles filled back to front with a fixed colour
per triangle (a pose-revealing texture) and the 68 landmarks as dots. The sample dict follows
the dataset contract of the team brief (torch float32 tensors, ImageNet-normalised RGB).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from head_pose_ros import geometry as g
from head_pose_ros.model.config import IMAGENET_MEAN, IMAGENET_STD
from head_pose_ros.topology import FaceTopology


def random_pose(rng: np.random.Generator, max_deg: tuple[float, float, float] = (40, 25, 20)):
    """Random (R, T): yaw/pitch/roll uniform within ``max_deg``, T in front of the camera."""
    ypr = np.deg2rad(rng.uniform(-1, 1, 3) * np.asarray(max_deg, dtype=np.float64))
    R = g.euler_ypr_to_rotation(*ypr)  # noqa: N806
    T = np.array([rng.uniform(-0.15, 0.15), rng.uniform(-0.1, 0.1), rng.uniform(0.5, 1.2)])  # noqa: N806
    return R, T


def random_intrinsics(rng: np.random.Generator, width: int = 640, height: int = 480):
    f = rng.uniform(500, 900)
    fy = f * rng.uniform(0.95, 1.05)
    return np.array([[f, 0, width / 2 + rng.uniform(-20, 20)],
                     [0, fy, height / 2 + rng.uniform(-20, 20)], [0, 0, 1.0]])


def render_crop(topology: FaceTopology, R, T, K_crop, size: int = 192) -> np.ndarray:  # noqa: N803
    """Draw the posed template into a ``size`` x ``size`` BGR uint8 crop seen with ``K_crop``."""
    return render_image(topology, R, T, K_crop, size, size)


def render_image(topology: FaceTopology, R, T, K, width: int, height: int,  # noqa: N803
                 background: int = 40) -> np.ndarray:
    """Draw the posed template into a ``width`` x ``height`` BGR uint8 image seen with ``K``."""
    v_cam = g.transform_points(topology.vertices.astype(np.float64), R, T)
    uv = g.project_points(v_cam, K)
    img = np.full((height, width, 3), background, np.uint8)
    tris = topology.triangles
    depth = v_cam[tris, 2].mean(axis=1)
    pal = np.random.default_rng(1234).integers(60, 255, size=(len(tris), 3))
    # back-face culling: keep triangles whose projected winding matches the majority
    p = uv[tris]
    area = (p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) - (
        p[:, 2, 0] - p[:, 0, 0]) * (p[:, 1, 1] - p[:, 0, 1])
    sign = np.sign(np.median(area)) or 1.0
    pts = np.round(p * 16).astype(np.int32)  # 4 fractional bits
    for i in np.argsort(-depth):
        if area[i] * sign > 0:
            cv2.fillConvexPoly(img, pts[i], tuple(int(c) for c in pal[i]), cv2.LINE_AA, 4)
    for u, v in uv[topology.landmarks68]:
        cv2.circle(img, (int(round(u * 16)), int(round(v * 16))), 16, (255, 255, 255), -1,
                   cv2.LINE_AA, 4)
    return img


def normalize_bgr(img_bgr: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 BGR -> (3, H, W) float32 normalised RGB."""
    rgb = img_bgr[:, :, ::-1].astype(np.float32) / 255.0
    rgb = (rgb - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))


def make_sample(topology: FaceTopology, rng: np.random.Generator, size: int = 192) -> dict:
    """One synthetic sample dict (numpy float32 / bool values)."""
    K = random_intrinsics(rng)  # noqa: N806
    R, T = random_pose(rng)  # noqa: N806
    v_cam = g.transform_points(topology.vertices.astype(np.float64), R, T)
    lm_img = g.project_points(v_cam[topology.landmarks68], K)
    box = g.crop_box_from_landmarks(lm_img, g.LANDMARK_CROP_SCALE)
    K_crop = g.crop_intrinsics(K, box, size)  # noqa: N806
    img = render_crop(topology, R, T, K_crop, size)
    f32 = np.float32
    return {
        "image": normalize_bgr(img),
        "image_bgr": img,
        "K_crop": K_crop.astype(f32),
        "K": K.astype(f32),
        "box": box.astype(f32),
        "bbox_info": g.bbox_info(K, box).astype(f32),
        "R": R.astype(f32),
        "T": T.astype(f32),
        "vertices": topology.vertices.astype(f32),
        "landmarks68_crop": g.image_to_crop(lm_img, box, size).astype(f32),
        "has_3d": np.bool_(True),
        "has_lmk2d": np.bool_(True),
        "correction": g.correction_from_translation(T, K, box).astype(f32),
    }


def make_batch(topology: FaceTopology, n: int, seed: int = 0, size: int = 192) -> dict:
    """``n`` samples collated into torch tensors (``image_bgr`` kept as a numpy stack)."""
    rng = np.random.default_rng(seed)
    samples = [make_sample(topology, rng, size) for _ in range(n)]
    out: dict = {}
    for k in samples[0]:
        arr = np.stack([s[k] for s in samples])
        out[k] = arr if k == "image_bgr" else torch.from_numpy(arr)
    return out
