"""Tests for head_pose_ros.geometry (pure numpy, no ROS)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from head_pose_ros import geometry as g

RNG = np.random.default_rng(0)


def random_rotations(n: int, seed: int = 0) -> np.ndarray:
    return Rotation.random(n, random_state=seed).as_matrix()


def make_K(fx, fy, cx, cy):  # noqa: N802
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def test_rot6d_round_trip():
    R = random_rotations(50)  # noqa: N806
    x6 = g.matrix_to_rot6d(R)
    assert x6.shape == (50, 6)
    np.testing.assert_allclose(g.rot6d_to_matrix(x6), R, atol=1e-12)
    # unnormalised / non-orthogonal input still gives a rotation whose first column is a1's dir.
    x = RNG.normal(size=(20, 6))
    M = g.rot6d_to_matrix(x)  # noqa: N806
    np.testing.assert_allclose(M @ np.swapaxes(M, -1, -2), np.broadcast_to(np.eye(3), M.shape),
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(M), 1.0, atol=1e-12)
    np.testing.assert_allclose(M[:, :, 0], x[:, :3] / np.linalg.norm(x[:, :3], axis=1)[:, None])


def test_quaternion_matches_scipy_and_round_trips():
    R = random_rotations(200, seed=1)  # noqa: N806
    # include near-180-degree rotations (the hard case for the trace formula)
    R = np.concatenate([R, Rotation.from_rotvec(np.array([[np.pi - 1e-9, 0, 0], [0, np.pi, 0],  # noqa: N806
                                                           [0, 0, np.pi], [0, 0, 0]])).as_matrix()])
    q = g.matrix_to_quaternion(R)
    ref = Rotation.from_matrix(R).as_quat()  # scipy is xyzw too
    ref[ref[:, 3] < 0] *= -1
    dots = np.abs(np.sum(q * ref, axis=1))
    np.testing.assert_allclose(dots, 1.0, atol=1e-9)
    np.testing.assert_allclose(g.quaternion_to_matrix(q), R, atol=1e-9)
    assert g.matrix_to_quaternion(np.eye(3)).tolist() == [0.0, 0.0, 0.0, 1.0]


def test_angle_wrap():
    assert g.angle_wrap(np.pi + 0.1) == pytest.approx(-np.pi + 0.1)
    assert g.angle_wrap(-np.pi - 0.1) == pytest.approx(np.pi - 0.1)
    np.testing.assert_allclose(g.angle_wrap(np.array([0.3, 2 * np.pi + 0.3, -4 * np.pi + 0.3])),
                               0.3, atol=1e-12)
    # an error across the +-180 boundary is small
    assert abs(g.angle_wrap(np.deg2rad(179.0) - np.deg2rad(-179.0))) == pytest.approx(
        np.deg2rad(2.0))


@pytest.mark.parametrize("convention", ["trg", "aflw"])
def test_euler_round_trip(convention):
    rng = np.random.default_rng(3)
    for _ in range(100):
        # the middle angle of each decomposition is limited to +-90 deg
        lim = [np.pi, 1.5, np.pi] if convention == "trg" else [1.5, np.pi, np.pi]
        ypr = rng.uniform(-np.array(lim), lim)
        R = g.euler_ypr_to_rotation(*ypr, convention=convention)  # noqa: N806
        np.testing.assert_allclose(g.rotation_to_euler_ypr(R, convention), ypr, atol=1e-9)
    assert np.allclose(g.rotation_to_euler_ypr(np.eye(3), convention), 0.0)


def test_trg_euler_is_scipy_extrinsic_yxz_of_the_column_matrix():
    """The authors' test.py transposes their row-vector R_t back to the column-vector R and
    calls util/metric.calc_rotation_mae: Rotation.from_matrix(R).as_euler('yxz')."""
    R = random_rotations(500, seed=7)  # noqa: N806
    ours = g.rotation_to_euler_ypr(R)
    ref = Rotation.from_matrix(R).as_euler("yxz")
    np.testing.assert_allclose(g.angle_wrap(ours - ref), 0.0, atol=1e-9)
    # ... which is NOT the intrinsic Ry Rx Rz decomposition (the previous implementation):
    # compound rotations give different angles
    R1 = g.rot_y(0.5) @ g.rot_x(0.4) @ g.rot_z(0.3)  # noqa: N806
    assert np.abs(g.rotation_to_euler_ypr(R1) - [0.5, 0.4, 0.3]).max() > 0.05


def test_trg_euler_reproduces_the_authors_arkit_pipeline():
    """Replay the authors' ARKitFace conversion (data/arkit_dataset.py): ARKit vertices (y up,
    nose +z) rotated by Rx(pi); ARKit pose in the OpenGL camera; ZYX angles (yaw, pitch, roll)
    of R -> Rz(-yaw) Ry(-pitch) Rx(roll); ty, tz negated; row-vector 4x4 R_t; test.py
    transposes it back; scipy 'yxz'. The same pose in our frames must give the same angles,
    and their camera-space vertices must equal ours."""
    D = np.diag([1.0, -1.0, -1.0])  # noqa: N806
    rng = np.random.default_rng(11)
    v_arkit = rng.normal(scale=0.05, size=(20, 3))
    for _ in range(50):
        R_gl = Rotation.from_rotvec(rng.normal(scale=0.6, size=3)).as_matrix()  # noqa: N806
        t_gl = np.array([rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1), -rng.uniform(0.3, 0.9)])
        # --- their pipeline (row vectors)
        rt = np.eye(4)
        rt[:3, :3], rt[3, :3] = R_gl.T, t_gl
        yaw = np.arctan2(R_gl[1, 0], R_gl[0, 0])  # models/op.rotation_matrix_to_euler_angles
        pitch = np.arctan2(-R_gl[2, 0], np.hypot(R_gl[2, 1], R_gl[2, 2]))
        roll = np.arctan2(R_gl[2, 1], R_gl[2, 2])
        rt[:3, :3] = (g.rot_z(-yaw) @ g.rot_y(-pitch) @ g.rot_x(roll)).T
        rt[3, 1], rt[3, 2] = -rt[3, 1], -rt[3, 2]
        roll180 = np.eye(4)
        roll180[:3, :3] = g.rot_x(np.pi).T
        vw = np.c_[v_arkit, np.ones(len(v_arkit))] @ roll180
        v_cam_theirs = (vw @ rt)[:, :3]
        their_ypr = Rotation.from_matrix(rt.T[:3, :3]).as_euler("yxz")
        # --- ours: head frame = D v_arkit, camera = OpenCV
        R = D @ R_gl @ D  # noqa: N806
        T = D @ t_gl  # noqa: N806
        np.testing.assert_allclose(g.transform_points(v_arkit @ D, R, T), v_cam_theirs, atol=1e-9)
        np.testing.assert_allclose(g.angle_wrap(g.rotation_to_euler_ypr(R) - their_ypr), 0.0,
                                   atol=1e-9)


def test_euler_sign_example_turning_to_their_left():
    """A person facing the camera turns to THEIR left: the nose (-z head) swings towards their
    left ear (+x head) = +x camera = image right. Yaw is NEGATIVE in both conventions (the
    authors' scipy 'yxz' gives the same number)."""
    R = g.rot_y(-0.3)  # noqa: N806
    nose = R @ np.array([0.0, 0.0, -1.0])
    assert nose[0] > 0.25  # towards image right / subject's left
    for conv in ("trg", "aflw"):
        ypr = g.rotation_to_euler_ypr(R, conv)
        assert ypr[0] == pytest.approx(-0.3)
        assert abs(ypr[1]) < 1e-12 and abs(ypr[2]) < 1e-12
    assert Rotation.from_matrix(R).as_euler("yxz")[0] == pytest.approx(-0.3)
    # looking down: nose towards +y (image down): trg pitch > 0, AFLW pitch < 0
    R = g.rot_x(0.2)  # noqa: N806
    assert (R @ [0.0, 0.0, -1.0])[1] > 0.15
    assert g.rotation_to_euler_ypr(R, "trg")[1] == pytest.approx(0.2)
    assert g.rotation_to_euler_ypr(R, "aflw")[1] == pytest.approx(-0.2)
    # top of the head (-y) towards image right: positive roll in both conventions
    R = g.rot_z(0.25)  # noqa: N806
    assert (R @ [0.0, -1.0, 0.0])[0] > 0.2
    for conv in ("trg", "aflw"):
        assert g.rotation_to_euler_ypr(R, conv)[2] == pytest.approx(0.25)


def test_aflw_yaw_sign_on_real_labels(shared_data):
    """On the AFLW2000 subset, faces whose nose lies right of the landmark-box centre (turned to
    the subject's left) have negative label yaw, i.e. our yaw sign."""
    sio = pytest.importorskip("scipy.io")
    mats = sorted((shared_data / "real" / "aflw2000_subset64" / "data" / "MAT").glob("*.mat"))
    if not mats:
        pytest.skip(f"AFLW2000 subset not found under {shared_data}")
    off, yaw = [], []
    for f in mats:
        m = sio.loadmat(str(f))
        lm = m["pt3d_68"][:2].T
        pitch, y, roll = m["Pose_Para"][0, :3]
        c = (lm.min(0) + lm.max(0)) / 2
        off.append((lm[30, 0] - c[0]) / np.ptp(lm[:, 0]))
        yaw.append(g.rotation_to_euler_ypr(g.aflw_label_to_rotation(pitch, y, roll), "trg")[0])
    assert np.corrcoef(off, yaw)[0, 1] < -0.9


def test_aflw_label_decomposition_matches_design_note():
    pitch, yaw, roll = 0.3, -0.5, 0.2
    R3 = (g.rot_z(roll) @ g.rot_y(yaw) @ g.rot_x(pitch)).T  # noqa: N806  label matrix (DESIGN §4)
    M = R3.T  # noqa: N806
    assert np.arctan2(M[2, 1], M[2, 2]) == pytest.approx(pitch)
    R = g.aflw_label_to_rotation(pitch, yaw, roll)  # noqa: N806
    D = np.diag([1.0, -1.0, -1.0])  # noqa: N806
    np.testing.assert_allclose(R, D @ R3 @ D, atol=1e-12)
    np.testing.assert_allclose(g.rotation_to_euler_ypr(R, "aflw"), [yaw, pitch, roll], atol=1e-12)


def test_frontal_face_is_identity_and_yaw_sign():
    # R = I: the face (-z of head frame) points at the camera; ypr all zero in both conventions
    for conv in ("trg", "aflw"):
        np.testing.assert_allclose(g.rotation_to_euler_ypr(np.eye(3), conv), 0.0)


def test_project_points_and_transform():
    K = make_K(600.0, 620.0, 300.0, 250.0)  # noqa: N806
    X = np.array([[0.1, -0.05, 1.0], [0.0, 0.0, 2.0]])  # noqa: N806
    uv = g.project_points(X, K)
    np.testing.assert_allclose(uv, [[360.0, 219.0], [300.0, 250.0]])
    R = random_rotations(1)[0]  # noqa: N806
    T = np.array([0.1, 0.2, 0.7])  # noqa: N806
    P = RNG.normal(size=(5, 3))  # noqa: N806
    np.testing.assert_allclose(g.transform_points(P, R, T), (R @ P.T).T + T)


@pytest.mark.parametrize("out_size", [192, 64, 257])
@pytest.mark.parametrize(
    "K",
    [make_K(500.0, 500.0, 319.5, 239.5), make_K(910.0, 870.0, 400.0, 180.0),
     make_K(1200.0, 1000.0, 100.0, 600.0)],
)
def test_translation_recovered_through_projection_crop_correction(K, out_size):  # noqa: N803
    rng = np.random.default_rng(5)
    for _ in range(50):
        T = np.array([rng.uniform(-0.4, 0.4), rng.uniform(-0.3, 0.3), rng.uniform(0.3, 3.0)])  # noqa: N806
        R = Rotation.random(random_state=rng.integers(1 << 30)).as_matrix()  # noqa: N806
        # landmarks of a face-sized point cloud -> crop box (any size, off-centre)
        pts = rng.normal(scale=0.05, size=(68, 3))
        lm = g.project_points(g.transform_points(pts, R, T), K)
        box = g.crop_box_from_landmarks(lm, scale=rng.uniform(1.1, 2.0))
        c = g.correction_from_translation(T, K, box)
        T2 = g.translation_from_correction(c, K, box)  # noqa: N806
        np.testing.assert_allclose(T2, T, atol=1e-6, rtol=0)
        c2 = g.correction_from_translation(T2, K, box)
        np.testing.assert_allclose(c2, c, atol=1e-9)
        # the head origin projects into the crop where c says it is: normalised offset from the
        # box centre, scaled by the box side, in crop coordinates (fx == fy cases are exact)
        Kc = g.crop_intrinsics(K, box, out_size)  # noqa: N806
        origin_crop = g.project_points(T, Kc)
        np.testing.assert_allclose(origin_crop, g.image_to_crop(g.project_points(T, K), box,
                                                                 out_size), atol=1e-6)


def test_eq2_reduces_to_paper_form():
    K = make_K(800.0, 800.0, 320.0, 240.0)  # noqa: N806  principal point at image centre
    box = np.array([400.0, 200.0, 150.0])
    s, tx, ty = 1.1, 0.05, -0.02
    T = g.translation_from_correction([s, tx, ty], K, box)  # noqa: N806
    b, f = 150.0, 800.0
    assert T[2] == pytest.approx(0.2 * s * f / b)
    assert T[0] == pytest.approx(0.2 * s / b * (400.0 - 320.0) + 0.2 * s * tx)
    assert T[1] == pytest.approx(0.2 * s / b * (200.0 - 240.0) + 0.2 * s * ty)


def test_bbox_info():
    K = make_K(900.0, 800.0, 300.0, 200.0)  # noqa: N806
    box = np.array([390.0, 120.0, 170.0])
    np.testing.assert_allclose(g.bbox_info(K, box),
                               [0.1, -0.1, 170.0 / np.sqrt(900.0 * 800.0)])
    np.testing.assert_allclose(g.bbox_info(K, box, scale=4.0)[:2], [0.4, -0.4])


def test_crop_intrinsics_and_warp_agree_with_cv2():
    """Draw a dot at a projected point in the full image, warp with crop_warp_matrix, and find it
    at the point projected with K_crop."""
    K = make_K(700.0, 650.0, 350.0, 260.0)  # noqa: N806
    box = np.array([412.3, 287.9, 133.7])
    out = 192
    X = np.array([0.031, 0.022, 0.9])  # noqa: N806
    uv = g.project_points(X, K)
    img = np.zeros((600, 800), np.float32)
    # a smooth blob centred exactly at uv (sub-pixel), pixel centres at integer coordinates
    yy, xx = np.mgrid[0:600, 0:800]
    img[:] = np.exp(-((xx - uv[0]) ** 2 + (yy - uv[1]) ** 2) / (2 * 4.0 ** 2))
    crop = cv2.warpAffine(img, g.crop_warp_matrix(box, out), (out, out), flags=cv2.INTER_LINEAR)
    yy, xx = np.mgrid[0:out, 0:out]
    w = crop / crop.sum()
    centroid = np.array([(w * xx).sum(), (w * yy).sum()])
    expected = g.project_points(X, g.crop_intrinsics(K, box, out))
    np.testing.assert_allclose(centroid, expected, atol=0.02)
    np.testing.assert_allclose(expected, g.image_to_crop(uv, box, out), atol=1e-9)
    np.testing.assert_allclose(g.crop_to_image(expected, box, out), uv, atol=1e-9)


def test_crop_conventions():
    box = np.array([100.0, 50.0, 40.0])
    # box centre -> crop centre; box edges -> crop edges (-0.5, out - 0.5)
    np.testing.assert_allclose(g.image_to_crop([100.0, 50.0], box, 192), [95.5, 95.5])
    np.testing.assert_allclose(g.image_to_crop([80.0, 30.0], box, 192), [-0.5, -0.5])
    np.testing.assert_allclose(g.image_to_crop([120.0, 70.0], box, 192), [191.5, 191.5])
    np.testing.assert_allclose(g.crop_to_grid_sample([[-0.5, 191.5]], 192), [[-1.0, 1.0]])
    lm = np.array([[10.0, 20.0], [30.0, 60.0]])
    np.testing.assert_allclose(g.crop_box_from_landmarks(lm, 1.5), [20.0, 40.0, 60.0])
    np.testing.assert_allclose(g.crop_box_from_detection([0, 0, 100, 80], 1.25, 0.0),
                               [50.0, 40.0, 125.0])
    # offset: the crop centre moves DOWN by offset x the larger box side
    np.testing.assert_allclose(g.crop_box_from_detection([0, 0, 80, 100], 1.2, 0.1),
                               [40.0, 60.0, 120.0])
    # detection_box_for_crop is the exact inverse
    for scale, off in ((g.DETECTION_CROP_SCALE, g.DETECTION_CROP_OFFSET_Y), (1.5, 0.0)):
        cb = np.array([312.5, 201.25, 180.0])
        np.testing.assert_allclose(
            g.crop_box_from_detection(g.detection_box_for_crop(cb, scale, off), scale, off), cb)


def test_geodesic_distance():
    R = random_rotations(1)[0]  # noqa: N806
    d = Rotation.from_rotvec([0.0, 0.3, 0.0]).as_matrix()
    assert g.geodesic_distance(R @ d, R) == pytest.approx(0.3)


def test_default_intrinsics():
    K = g.default_intrinsics(640, 480)  # noqa: N806
    assert K[0, 0] == K[1, 1] == 1120.0
    assert (K[0, 2], K[1, 2]) == (319.5, 239.5)


def test_image_centre_is_the_middle_pixel_centre():
    # pixel centres at integers: a 3-pixel row spans [-0.5, 2.5], its centre is pixel 1
    assert g.image_centre(3, 5) == (1.0, 2.0)
    assert g.image_centre(640, 480) == (319.5, 239.5)
    # the centre is where a centred crop's box centre lands: mirror pixels are equidistant
    cx, _ = g.image_centre(640, 480)
    assert cx - 0 == 639 - cx


def test_box_from_landmarks():
    lm = np.array([[10.0, 20.0], [30.0, 60.0], [15.0, 40.0]])
    np.testing.assert_array_equal(g.box_from_landmarks(lm), [10.0, 20.0, 30.0, 60.0])
    np.testing.assert_allclose(g.box_from_landmarks(lm, 2.0), [0.0, 0.0, 40.0, 80.0])
    # the training crop is built on the same extent
    x0, y0, x1, y1 = g.box_from_landmarks(lm)
    np.testing.assert_array_equal(g.crop_box_from_landmarks(lm, 1.5),
                                  [(x0 + x1) / 2, (y0 + y1) / 2, 1.5 * max(x1 - x0, y1 - y0)])


def test_matrix_to_quaternion_one_matrix_equals_the_batch():
    """The single-matrix fast path (the node's per-face calls) gives the batch's quaternions,
    180-degree rotations (pivot ties, w = 0) included."""
    rots = list(Rotation.random(500, random_state=7).as_matrix()) + [
        np.eye(3), np.diag([1.0, -1.0, -1.0]), np.diag([-1.0, 1.0, -1.0]),
        np.diag([-1.0, -1.0, 1.0]), Rotation.from_rotvec([0, np.pi - 1e-9, 0]).as_matrix(),
        Rotation.from_rotvec(np.array([1.0, 1.0, 0.0]) * np.pi / np.sqrt(2)).as_matrix()]
    batch = g.matrix_to_quaternion(np.array(rots))
    one = np.array([g.matrix_to_quaternion(r) for r in rots])
    np.testing.assert_allclose(one, batch, atol=1e-15)
    assert (one[:, 3] >= 0).all()
    np.testing.assert_allclose(g.quaternion_to_matrix(one), np.array(rots), atol=1e-12)
