"""Loaders of the public datasets on tiny fixtures written in their exact on-disk formats."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io as sio

from head_pose_ros import geometry as geo
from head_pose_ros.data import crop as hc
from head_pose_ros.data import public as hp
from head_pose_ros.data.flip import IBUG_MIRROR_68


def _blob(img: np.ndarray, p: np.ndarray, color=(255, 255, 255), sigma: float = 2.0) -> None:
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    g = np.exp(-((xx - p[0]) ** 2 + (yy - p[1]) ** 2) / (2 * sigma**2))
    img[:] = np.maximum(img, (g[..., None] * np.array(color)).astype(np.uint8))


def _centroid(img: np.ndarray, p: np.ndarray, r: int = 6) -> np.ndarray:
    i, j = int(round(p[0])), int(round(p[1]))
    win = img[j - r:j + r + 1, i - r:i + r + 1].astype(np.float64)
    yy, xx = np.mgrid[j - r:j + r + 1, i - r:i + r + 1]
    return np.array([(win * xx).sum() / win.sum(), (win * yy).sum() / win.sum()])


# ----------------------------------------------------------------------------- ARKitFace
def test_arkitface_loader(tmp_path: Path, topo) -> None:
    root = tmp_path / "ARKitFace"
    rng = np.random.default_rng(0)
    rows = []
    truth = []
    for k in range(2):
        subj, act, iid = f"10{k}", "03_Smile", f"16162{k}"
        # ground truth in the ARKit/OpenGL convention: face frame y up, z out of the face,
        # camera looking down -z with y up
        R_cv = geo.euler_ypr_to_rotation(*rng.uniform(-0.5, 0.5, 3))
        t_cv = np.array([rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05), 0.45])
        D = np.diag([1.0, -1.0, -1.0])
        verts_gl = topo.vertices.astype(np.float64) @ D  # the ARKit face frame
        R_gl, t_gl = D @ R_cv @ D, D @ t_cv
        R_t = np.eye(4)
        R_t[:3, :3] = R_gl.T
        R_t[3, :3] = t_gl
        info = root / "ARKitFace_info_train" / "info" / subj / act / f"{iid}_info.npz"
        info.parent.mkdir(parents=True)
        np.savez(info, verts=verts_gl.astype(np.float32), R_t=R_t.astype(np.float32))
        # the nose tip drawn with the OpenGL projection (independent of the loader's maths)
        nose = topo.landmarks68[30]
        Xg = R_gl @ verts_gl[nose] + t_gl
        uv = np.array([400 + 629.7748 * Xg[0] / -Xg[2], 400 - 629.7748 * Xg[1] / -Xg[2]])
        img = np.zeros((800, 800, 3), np.uint8)
        _blob(img, uv)
        ip = root / "ARKitFace_image_train" / "image" / subj / act / f"{iid}_ar.jpg"
        ip.parent.mkdir(parents=True)
        cv2.imwrite(str(ip), img, [cv2.IMWRITE_JPEG_QUALITY, 100])
        rows.append({"subject_id": subj, "facial_action": act, "img_id": iid})
        truth.append((R_cv, t_cv, uv))
    with open(root / "train_list.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["subject_id", "facial_action", "img_id"])
        w.writeheader()
        w.writerows(rows)
    ds = hp.ARKitFaceDataset(root, topo, split="train")
    assert len(ds) == 2
    for k in range(2):
        raw = ds.load(k)
        R_cv, t_cv, uv = truth[k]
        np.testing.assert_allclose(raw.labels.R, R_cv, atol=1e-6)
        np.testing.assert_allclose(raw.labels.T, t_cv, atol=1e-6)
        np.testing.assert_allclose(raw.labels.vertices, topo.vertices, atol=1e-6)
        np.testing.assert_allclose(raw.labels.K, [[629.7748, 0, 400], [0, 629.7748, 400],
                                                  [0, 0, 1]])
        lm = hc.landmarks_from_3d(raw.labels, topo.landmarks68)
        np.testing.assert_allclose(lm[30], uv, atol=1e-4)
        assert np.linalg.norm(_centroid(raw.image[..., 0], lm[30]) - lm[30]) < 0.2
        s = ds[k]
        assert set(s) == set(hc.SAMPLE_KEYS) and bool(s["has_3d"])
        assert s["vertices"].shape == (topo.num_vertices, 3)


# ----------------------------------------------------------------------------- 300W-LP
def test_w300lp_loader_and_flip_subset(tmp_path: Path, topo) -> None:
    root = tmp_path / "300W_LP"
    rng = np.random.default_rng(1)
    W, H = 450, 450
    base = np.stack([np.linspace(150, 300, 68), np.linspace(140, 320, 68)], axis=1)
    lm = base + rng.normal(0, 2, (68, 2))
    (root / "landmarks" / "AFW").mkdir(parents=True)
    sio.savemat(root / "landmarks" / "AFW" / "AFW_134212_1_0_pts.mat",
                {"pts_2d": lm + 1.0, "pts_3d": lm})
    img = np.zeros((H, W, 3), np.uint8)
    _blob(img, lm[36])
    for sub, im in (("AFW", img), ("AFW_Flip", img[:, ::-1].copy())):
        (root / sub).mkdir()
        cv2.imwrite(str(root / sub / "AFW_134212_1_0.jpg"), im, [cv2.IMWRITE_JPEG_QUALITY, 100])
        sio.savemat(root / sub / "AFW_134212_1_0.mat", {"Pose_Para": np.zeros((1, 7))})
    (root / "files.txt").write_text("AFW/AFW_134212_1_0\nAFW_Flip/AFW_134212_1_0\n")
    ds = hp.W300LPDataset(root, topo)
    assert len(ds) == 2 and not ds.has_3d
    a, b = ds.load(0), ds.load(1)
    np.testing.assert_allclose(a.labels.landmarks68, lm)  # pts_3d, not pts_2d
    assert a.labels.K[0, 0] == 5000.0 and a.labels.K[0, 2] == (W - 1) / 2
    # flipped: landmark 45 of the mirrored face is the mirror image of landmark 36
    np.testing.assert_allclose(b.labels.landmarks68[45], [W - 1 - lm[36, 0], lm[36, 1]])
    np.testing.assert_allclose(b.labels.landmarks68[IBUG_MIRROR_68][:, 0], W - 1 - lm[:, 0])
    assert np.linalg.norm(_centroid(b.image[..., 0], b.labels.landmarks68[45])
                          - b.labels.landmarks68[45]) < 0.2
    s = ds[1]
    assert set(s) == set(hc.SAMPLE_KEYS)
    assert not bool(s["has_3d"]) and bool(s["has_lmk2d"])
    assert float(s["vertices"].abs().sum()) == 0.0
    crop = hc.denormalise_image(s["image"])[..., 0]
    p = s["landmarks68_crop"][45].numpy().astype(np.float64)
    assert np.linalg.norm(_centroid(crop, p, 4) - p) < 0.3


# ----------------------------------------------------------------------------- BIWI
def test_biwi_loader(tmp_path: Path, topo) -> None:
    root = tmp_path / "hpdb"
    d = root / "01"
    d.mkdir(parents=True)
    K = np.array([[517.679, 0, 320.0], [0, 517.679, 240.5], [0, 0, 1]])
    R_ext = geo.rot_y(math.radians(2.0)) @ geo.rot_x(math.radians(-1.0))
    T_ext = np.array([-24.0, 1.5, 3.0])  # mm
    with open(d / "rgb.cal", "w") as f:
        for r in K:
            f.write(" ".join(f"{x:.6f}" for x in r) + " \n")
        f.write("\n0 0 0 0 \n\n")
        for r in R_ext:
            f.write(" ".join(f"{x:.9f}" for x in r) + " \n")
        f.write("\n" + " ".join(f"{x:.6f}" for x in T_ext) + " \n\n640 480\n")
    R_p = geo.euler_ypr_to_rotation(0.3, -0.1, 0.05)
    T_p = np.array([30.0, -20.0, 950.0])
    with open(d / "frame_00003_pose.txt", "w") as f:
        for r in R_p:
            f.write(" ".join(f"{x:.9f}" for x in r) + " \n")
        f.write("\n" + " ".join(f"{x:.6f}" for x in T_p) + " \n")
    cv2.imwrite(str(d / "frame_00003_rgb.png"), np.zeros((480, 640, 3), np.uint8))
    (root / "01.obj").write_text("v 1.0 2.0 3.0\nv -10 0 5\nf 1 2 2\n")
    ds = hp.BIWIDataset(root, topo)
    assert len(ds) == 1
    raw = ds.load(0)
    np.testing.assert_allclose(raw.labels.K, K)
    np.testing.assert_allclose(raw.labels.R, R_ext @ R_p, atol=1e-8)
    np.testing.assert_allclose(raw.labels.T, (R_ext @ T_p + T_ext) / 1000, atol=1e-8)
    np.testing.assert_allclose(raw.labels.vertices, [[0.001, 0.002, 0.003], [-0.01, 0, 0.005]])
    assert raw.image.shape == (480, 640, 3)
    cal = hp.read_biwi_calibration(d / "rgb.cal")
    assert tuple(cal["size"]) == (640, 480) and cal["dist"].shape == (4,)


# ----------------------------------------------------------------------------- AFLW2000
def test_aflw2000_fixture(tmp_path: Path, topo) -> None:
    root = tmp_path / "AFLW2000"
    root.mkdir()
    poses = {"image00002": (-0.4, 0.02, 0.09), "image00004": (0.1, 1.9, 0.0)}  # 2nd: 109 deg
    for name, (pitch, yaw, roll) in poses.items():
        pt3d = np.zeros((3, 68))
        pt3d[0] = np.linspace(100, 300, 68)
        pt3d[1] = np.linspace(120, 330, 68)
        sio.savemat(root / f"{name}.mat", {"Pose_Para": np.array([[pitch, yaw, roll, 1, 2, 3, 4e-3]]),
                                           "pt3d_68": pt3d, "pt2d": np.zeros((2, 21))})
        cv2.imwrite(str(root / f"{name}.jpg"), np.zeros((450, 450, 3), np.uint8))
    ds = hp.AFLW2000Dataset(root, topo)
    assert len(ds) == 1 and ds.dropped == ["image00004"]
    raw = ds.load(0)
    ypr = geo.rotation_to_euler_ypr(raw.labels.R, convention="aflw")
    np.testing.assert_allclose(ypr, [0.02, -0.4, 0.09], atol=1e-9)
    assert raw.box[2] == pytest.approx(1.5 * 210.0)
    s = ds[0]
    assert not bool(s["has_3d"])
    assert hp.AFLW2000Dataset(root, topo, max_abs_deg=None).__len__() == 2


def test_aflw2000_real_subset(shared_data: Path, topo) -> None:
    root = shared_data / "real" / "aflw2000_subset64"
    if not root.is_dir():
        pytest.skip(f"{root} missing")
    ds = hp.AFLW2000Dataset(root, topo)
    assert len(ds) == 61
    assert sorted(ds.dropped) == ["image00032", "image00088", "image00091"]
    raw = ds.load(0)
    assert raw.image.shape == (450, 450, 3)
    # the landmarks lie on the image and the label round-trips through our rotation
    lm = raw.labels.landmarks68
    assert (lm > 0).all() and (lm < 450).all()
    pitch, yaw, roll = ds.pose_deg(0)
    ypr = np.degrees(geo.rotation_to_euler_ypr(raw.labels.R, convention="aflw"))
    np.testing.assert_allclose(ypr, [yaw, pitch, roll], atol=1e-6)
