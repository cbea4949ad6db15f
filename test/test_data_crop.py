"""Crop + augmentation: every augmentation keeps the labels exact.

The 3D labels are re-projected into each augmented crop and compared with (a) the image content
(Gaussian blobs drawn at landmark pixels of the full image, found again in the crop), and (b) the
2D-landmark path that 2D-only datasets use (image-space warp of the 68 landmarks).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from head_pose_ros import geometry as geo
from head_pose_ros.data import crop as hc
from head_pose_ros.data.flip import IBUG_MIRROR_68, mirror_permutation

BLOB_IDS = [0, 16, 8, 30, 36, 45, 39, 42, 48, 54]  # closed under the iBUG mirror


@pytest.fixture(scope="module")
def perm(topo):
    return mirror_permutation(topo.vertices, topo.landmarks68)


def test_mirror_permutation(topo, perm) -> None:
    n = topo.num_vertices
    assert sorted(perm.tolist()) == list(range(n))
    assert np.array_equal(perm[perm], np.arange(n))
    assert np.array_equal(perm[topo.landmarks68], topo.landmarks68[IBUG_MIRROR_68])
    assert np.array_equal(IBUG_MIRROR_68[IBUG_MIRROR_68], np.arange(68))
    # partners are mirror images: |x_i + x_perm(i)| and |y_i - y_perm(i)| small on average
    V = topo.vertices.astype(np.float64)
    off = 2 * V[:, 0].mean()
    err = np.linalg.norm(V[perm] - V * [-1, 1, 1] - [off, 0, 0], axis=1)
    assert np.median(err) < 0.003


def _scene(topo, fx=900.0, fy=900.0, cx=300.0, cy=260.0, W=640, H=480, seed=0):
    rng = np.random.default_rng(seed)
    K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
    R = geo.euler_ypr_to_rotation(*rng.uniform(-0.4, 0.4, 3))
    T = np.array([rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05), 0.55])
    V = topo.vertices.astype(np.float64) * rng.uniform(0.95, 1.05)
    labels = hc.FaceLabels(K=K, R=R, T=T, vertices=V)
    lm = hc.landmarks_from_3d(labels, topo.landmarks68)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    img = np.zeros((H, W), np.float64)
    for i in BLOB_IDS:
        img += np.exp(-((xx - lm[i, 0]) ** 2 + (yy - lm[i, 1]) ** 2) / (2 * 2.5**2))
    img = np.clip(img * 250, 0, 255).astype(np.uint8)
    return np.repeat(img[..., None], 3, axis=2), labels, lm


def _blob_centroid(crop: np.ndarray, p: np.ndarray, r: int = 5) -> np.ndarray:
    i, j = int(round(p[0])), int(round(p[1]))
    win = crop[j - r:j + r + 1, i - r:i + r + 1].astype(np.float64)
    win = np.clip(win - 0.1 * win.max(), 0, None)
    yy, xx = np.mgrid[j - r:j + r + 1, i - r:i + r + 1]
    return np.array([(win * xx).sum() / win.sum(), (win * yy).sum() / win.sum()])


AUGS = {
    "none": hc.AugmentParams(),
    "jitter_scale": hc.AugmentParams(shift=(0.06, -0.04), scale=1.12),
    "rotation": hc.AugmentParams(rotation=math.radians(25.0)),
    "flip": hc.AugmentParams(flip=True),
    "rot_flip_jitter": hc.AugmentParams(shift=(-0.05, 0.03), scale=0.92,
                                       rotation=math.radians(-17.0), flip=True),
}


@pytest.mark.parametrize("fxfy", [(900.0, 900.0), (880.0, 930.0)])
@pytest.mark.parametrize("name", list(AUGS))
def test_augmentations_reproject_exactly(topo, perm, name: str, fxfy) -> None:
    img, labels, lm_full = _scene(topo, fx=fxfy[0], fy=fxfy[1])
    p = AUGS[name]
    s = hc.build_sample(img, labels, landmark_ids=topo.landmarks68,
                       num_vertices=topo.num_vertices, params=p, flip_perm=perm)
    assert set(s) == set(hc.SAMPLE_KEYS)
    R, T, V = (s[k].double().numpy() for k in ("R", "T", "vertices"))
    K, Kc, box = (s[k].double().numpy() for k in ("K", "K_crop", "box"))
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-6)
    assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(Kc, geo.crop_intrinsics(K, box, 192), rtol=1e-5, atol=1e-3)
    assert Kc[0, 1] == 0.0 and Kc[1, 0] == 0.0
    np.testing.assert_allclose(
        geo.translation_from_correction(s["correction"].double().numpy(), K, box), T, atol=1e-6)
    np.testing.assert_allclose(s["bbox_info"].double().numpy(), geo.bbox_info(K, box), atol=1e-5)
    # (a) the re-projected 3D labels land on the image content of the crop
    crop = hc.denormalise_image(s["image"])[..., 0]
    lm_crop = geo.project_points(geo.transform_points(V[topo.landmarks68], R, T), Kc)
    np.testing.assert_allclose(lm_crop, s["landmarks68_crop"].double().numpy(), atol=1e-3)
    checked = 0
    for i in BLOB_IDS:
        sep = min(np.linalg.norm(lm_crop[j] - lm_crop[i]) for j in BLOB_IDS if j != i)
        if sep < 14.0 or not (lm_crop[i] >= 8).all() or not (lm_crop[i] < 184).all():
            continue  # overlapping blobs bias the centroid
        c = _blob_centroid(crop, lm_crop[i])
        assert np.linalg.norm(c - lm_crop[i]) < 0.1, (name, i, c, lm_crop[i])
        checked += 1
    assert checked >= 6
    # (b) the 2D-only path (image-space warp of the landmarks) agrees with the 3D labels
    labels2d = hc.FaceLabels(K=labels.K, landmarks68=lm_full)
    s2 = hc.build_sample(img, labels2d, landmark_ids=topo.landmarks68,
                        num_vertices=topo.num_vertices, params=p, flip_perm=perm)
    np.testing.assert_allclose(s2["landmarks68_crop"].double().numpy(), lm_crop, atol=2e-3)
    np.testing.assert_array_equal(s2["image"].numpy(), s["image"].numpy())
    assert not bool(s2["has_3d"]) and bool(s2["has_lmk2d"])


def test_rotation_is_camera_roll(topo) -> None:
    """With fx = fy an in-plane rotation changes only the roll of the pose."""
    img, labels, _ = _scene(topo)
    base = hc.build_sample(img, labels, landmark_ids=topo.landmarks68,
                          num_vertices=topo.num_vertices)
    rot = hc.build_sample(img, labels, landmark_ids=topo.landmarks68,
                         num_vertices=topo.num_vertices,
                         params=hc.AugmentParams(rotation=math.radians(20.0)))
    Rb, Rr = base["R"].double().numpy(), rot["R"].double().numpy()
    ang = math.degrees(geo.geodesic_distance(Rr, Rb))
    assert ang == pytest.approx(20.0, abs=1e-3)
    assert np.linalg.norm(rot["T"].numpy()) == pytest.approx(np.linalg.norm(base["T"].numpy()),
                                                              abs=1e-6)


def test_pixel_augmentations_and_sampling(topo, perm) -> None:
    img, labels, _ = _scene(topo)
    img = img.copy()
    img[..., 1] = 90
    rng = np.random.default_rng(3)
    cfg = hc.AugmentConfig(mask_prob=1.0, blur_prob=1.0, noise_prob=1.0, color_prob=1.0)
    p = hc.sample_augment(rng, cfg)
    assert p.masks and p.blur_sigma > 0 and p.noise_std > 0 and p.color is not None
    a = hc.build_sample(img, labels, landmark_ids=topo.landmarks68,
                       num_vertices=topo.num_vertices, params=p, flip_perm=perm)
    b = hc.build_sample(img, labels, landmark_ids=topo.landmarks68,
                       num_vertices=topo.num_vertices, params=p, flip_perm=perm)
    np.testing.assert_array_equal(a["image"].numpy(), b["image"].numpy())  # deterministic
    x0, y0, w, h, col = p.masks[0]
    cx, cy = int((x0 + w / 2) * 192), int((y0 + h / 2) * 192)
    # a mask patch replaces content (before blur/noise, so compare loosely)
    assert hc.denormalise_image(a["image"])[cy, cx].astype(int) == pytest.approx(
        np.array(col), abs=40)
    off = hc.sample_augment(rng, hc.AugmentConfig(enabled=False))
    assert off == hc.AugmentParams()
