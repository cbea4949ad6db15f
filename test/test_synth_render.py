"""Synthetic renders against their labels (headless OpenGL on CPU: Mesa llvmpipe over EGL)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from head_pose_ros.geometry import crop_intrinsics, euler_ypr_to_rotation, project_points

pytest.importorskip("moderngl")


@pytest.fixture(scope="module")
def head(shared_data):
    from head_pose_ros.synth.head import HeadModel

    return HeadModel(shared_data)


@pytest.fixture(scope="module")
def renderer(head):
    from head_pose_ros.synth.render import Renderer

    try:
        r = Renderer(head)
    except Exception as exc:  # no EGL / no GL driver on this machine
        pytest.skip(f"no headless OpenGL context: {exc}")
    yield r
    r.release()


def _clean_config(**kw):
    from head_pose_ros.synth.sampler import preset

    base = dict(image_sizes=[(256, 256)], hfov=(50.0, 60.0), occlusion=0.0, multi_person=0.0,
                effects=0.0, yaw=(-25.0, 25.0), pitch=(-15.0, 15.0), roll=(-20.0, 20.0),
                distance=(0.4, 0.8), pp_offset=0.05)
    base.update(kw)
    return preset("wild", **base)


def _bilinear(img, u, v):
    x0, y0 = int(np.floor(u)), int(np.floor(v))
    fx, fy = u - x0, v - y0
    p = img[y0:y0 + 2, x0:x0 + 2]
    return (p[0, 0] * (1 - fx) * (1 - fy) + p[0, 1] * fx * (1 - fy) + p[1, 0] * (1 - fx) * fy
            + p[1, 1] * fx * fy)


def test_projection_matches_opencv(renderer, head):
    """A rendered head's silhouette matches the labels: nose depth, landmarks on face pixels."""
    from head_pose_ros.synth.head import PersonShape
    from head_pose_ros.synth.render import Lighting, RenderPerson

    K = np.array([[300.0, 0, 100.3], [0, 305.0, 90.7], [0, 0, 1]])  # off-centre, fx != fy
    R = euler_ypr_to_rotation(0.5, -0.1, 0.15)
    T = np.array([0.01, -0.005, 0.5])
    v, hf, dense = head.build(PersonShape(np.zeros(100), np.zeros(53)))
    _, depth, cov = renderer.render(K, 200, 180, [RenderPerson(v, hf, R, T)], Lighting(), None)
    nose = dense[head.landmark_ids[30]] @ R.T + T
    u, vv = project_points(nose, K)
    assert abs(_bilinear(depth, u, vv) - nose[2]) < 1e-3
    # sub-pixel exactness: rendered depth sampled at the projected dense vertices equals their
    # label depth (median 0.04 mm here); half a pixel of principal-point error costs ~0.6 mm
    from scipy.ndimage import map_coordinates

    cam = dense @ R.T + T

    def median_depth_error(K_used):
        uv = project_points(cam, K_used)
        d = map_coordinates(depth.astype(np.float64), [uv[:, 1], uv[:, 0]], order=1,
                            mode="nearest")
        err = np.abs(d - cam[:, 2])
        return np.median(err[np.isfinite(err) & (err < 0.01)])

    assert median_depth_error(K) < 0.15e-3
    K_shift = K.copy()
    K_shift[0, 2] += 0.5
    assert median_depth_error(K_shift) > 0.3e-3
    lm = project_points(dense[head.landmark_ids] @ R.T + T, K)
    inner = np.arange(27, 68)  # nose, eyes, mouth (brows may touch the silhouette)
    px = np.round(lm[inner]).astype(int)
    assert (cov[px[:, 1], px[:, 0]] > 0.99).all()


def test_nose_depth_and_visible_landmarks_on_face(shared_data):
    from head_pose_ros.synth.sampler import SyntheticFaceGenerator

    gen = SyntheticFaceGenerator(_clean_config(seed=5), shared_data)
    for i in range(4):
        s = gen.generate(i, return_depth=True)
        depth, K = s["depth"], s["K"]
        nose_cam = s["vertices"][gen.head.landmark_ids[30]] @ s["R"].T + s["T"]
        u, v = project_points(nose_cam, K)
        assert abs(_bilinear(depth, u, v) - nose_cam[2]) < 1e-3, i
        np.testing.assert_allclose(project_points(nose_cam, K), s["landmarks68"][30], atol=1e-6)
        vis = s["landmarks68_visible"]
        assert vis[17:].mean() > 0.8  # near-frontal: most inner landmarks visible
        px = np.round(s["landmarks68"][vis]).astype(int)
        h, w = depth.shape
        for x, y in px:  # every visible landmark lies on rendered face pixels
            assert np.isfinite(depth[max(0, y - 1):min(h, y + 2), max(0, x - 1):min(w, x + 2)]).any()
        # the box is the extent of the projected dense face
        dense_uv = project_points(s["vertices"] @ s["R"].T + s["T"], K)
        np.testing.assert_allclose(s["bbox"], [*dense_uv.min(0), *dense_uv.max(0)], atol=1e-6)


@pytest.mark.parametrize("yaw_deg", [80.0, -80.0])
def test_profile_self_occlusion(renderer, head, yaw_deg):
    from head_pose_ros.synth.head import PersonShape
    from head_pose_ros.synth.render import Lighting, RenderPerson
    from head_pose_ros.synth.sampler import landmark_visibility

    K = np.array([[600.0, 0, 239.5], [0, 600.0, 239.5], [0, 0, 1]])
    R = euler_ypr_to_rotation(np.radians(yaw_deg), 0.0, 0.0)
    T = np.array([0.0, 0.0, 0.7])
    v, hf, dense = head.build(PersonShape(np.zeros(100), np.zeros(53)))
    _, depth, _ = renderer.render(K, 480, 480, [RenderPerson(v, hf, R, T)], Lighting(), None)
    cam = dense[head.landmark_ids] @ R.T + T
    vis = landmark_visibility(project_points(cam, K), cam[:, 2], depth, 600.0)
    # the camera sits on the side of the head where head-frame x has the sign of -R^T T
    near_left = (-R.T @ T)[0] > 0  # subject's left side (+x) faces the camera
    jaw_near, jaw_far = (np.arange(9, 17), np.arange(0, 8)) if near_left else (
        np.arange(0, 8), np.arange(9, 17))
    eye_near, eye_far = (np.arange(42, 48), np.arange(36, 42)) if near_left else (
        np.arange(36, 42), np.arange(42, 48))
    assert not vis[jaw_far].any() and not vis[eye_far].any()
    assert vis[jaw_near].all()
    assert vis[eye_near].sum() >= 5


def test_determinism_and_crop_mode(shared_data):
    from head_pose_ros.synth.sampler import SyntheticFaceGenerator

    cfg = _clean_config(seed=11, effects=1.0, occlusion=0.5, multi_person=0.5)
    a = SyntheticFaceGenerator(cfg, shared_data).generate(3)
    b = SyntheticFaceGenerator(cfg, shared_data).generate(3)
    c = SyntheticFaceGenerator(cfg, shared_data).generate(4)
    np.testing.assert_array_equal(a["image"], b["image"])
    for k in ("K", "R", "T", "vertices", "landmarks68", "landmarks68_visible", "bbox"):
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["R"], c["R"])
    assert a["image"].dtype == np.uint8 and a["image"].shape[2] == 3
    assert a["vertices"].shape == (1220, 3) and a["landmarks68"].shape == (68, 2)

    # the GPU geometry path (compute shaders; auto-enabled on real GPUs) gives the same frame
    g = SyntheticFaceGenerator(dataclasses.replace(cfg, gpu_geometry=True), shared_data)
    if g.renderer.gpu_geometry:
        d = g.generate(3)
        for k in ("K", "R", "T", "landmarks68_visible"):
            np.testing.assert_array_equal(d[k], a[k])
        np.testing.assert_allclose(d["vertices"], a["vertices"], atol=1e-6)
        assert np.mean(np.abs(d["image"].astype(int) - a["image"])) < 0.5

    crop_cfg = dataclasses.replace(cfg, crop_mode=True)
    crop_gen = SyntheticFaceGenerator(crop_cfg, shared_data)
    s = crop_gen.generate(3)
    full = SyntheticFaceGenerator(dataclasses.replace(cfg, effects=0.0), shared_data).generate(3)
    # same scene: crop mode changes only what is rendered, not the labels
    for k in ("K", "R", "T", "vertices", "landmarks68"):
        np.testing.assert_array_equal(s[k], full[k])
    assert s["image"].shape == (192, 192, 3)
    np.testing.assert_allclose(s["K_crop"], crop_intrinsics(s["K"], s["box"], 192))
    lm_cam = s["vertices"][crop_gen.head.landmark_ids]
    np.testing.assert_allclose(
        s["landmarks68_crop"], project_points(lm_cam @ s["R"].T + s["T"], s["K_crop"]), atol=1e-6)


def test_gpu_geometry_path_matches_numpy(head):
    """The compute-shader mesh (used on GPUs) equals the numpy mesh; checked here on llvmpipe."""
    from head_pose_ros.synth.head import HairStyle, PersonShape
    from head_pose_ros.synth.render import Appearance, Lighting, Renderer, RenderPerson

    try:
        r = Renderer(head, gpu_geometry=True)
    except RuntimeError as exc:
        pytest.skip(f"no GL 4.3 compute shaders: {exc}")
    try:
        assert r.gpu_check_error < 1e-5
        rng = np.random.default_rng(3)
        ps = PersonShape(rng.standard_normal(100), np.clip(rng.random(53) - 0.7, 0, 1),
                         scale=1.05, gaze=(0.1, 0.2), hair=HairStyle(thickness=0.015, bald=0.04))
        v, hf, dense = head.build(ps)
        dense_gpu, params = head.build_labels(ps)
        np.testing.assert_allclose(dense_gpu, dense, atol=1e-7)
        ex = np.concatenate([head.torso(np.eye(3), 1.0), head.long_hair(0.2, 0.01, 1.0)])
        K = np.array([[250.0, 0, 96], [0, 250.0, 96], [0, 0, 1]])
        R = euler_ypr_to_rotation(0.4, 0.1, 0.0)
        T = np.array([0.0, 0.0, 0.6])
        a = r.render(K, 192, 192, [RenderPerson(v, hf, R, T, Appearance(), ex)], Lighting(), None)
        b = r.render(K, 192, 192, [RenderPerson(None, None, R, T, Appearance(), ex, gpu=params)],
                     Lighting(), None)
        assert np.abs(a[0].astype(int) - b[0]).max() <= 2
        fin = np.isfinite(a[1])
        np.testing.assert_array_equal(fin, np.isfinite(b[1]))
        assert np.abs(a[1][fin] - b[1][fin]).max() < 1e-5
    finally:
        r.release()
