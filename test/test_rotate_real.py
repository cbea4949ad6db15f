# ruff: noqa: N806  (R, T, K, V: the notation of geometry.py)
"""Out-of-plane re-renders of fitted real faces (issue 21 item 1), on a tiny label fixture.

No shared data: the topology comes from the shipped checkpoint, the "photo" is the template drawn
with OpenCV (coloured triangles) with a white dot on each of the 68 landmarks, over a blue
background, and the "fit" is that template at a known pose. A re-render at a new yaw must show
each labelled landmark (projected from R', T, vertices, K) on its white dot, and on the face.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from head_pose_ros import geometry as geo

pytest.importorskip("moderngl")
pytest.importorskip("scipy")

REPO = Path(__file__).resolve().parents[1]
SIZE = 240
K = np.array([[4.0 * SIZE, 0.0, (SIZE - 1) / 2], [0.0, 4.0 * SIZE, (SIZE - 1) / 2],
              [0.0, 0.0, 1.0]])  # the pseudo-labels' virtual camera (f = 4 x crop side)
T0 = np.array([0.004, 0.006, 1.35])
BLUE = (200, 60, 20)  # BGR background


@pytest.fixture(scope="module")
def topology():
    from head_pose_ros.ros.demo import topology_from_checkpoint

    return topology_from_checkpoint(REPO / "weights" / "head_pose_trg.safetensors")


@pytest.fixture(scope="module")
def parts(topology):
    from head_pose_ros.data.base import topology_mirror_permutation
    from head_pose_ros.synth.rotate_mesh import face_mesh_parts

    return face_mesh_parts(topology, topology_mirror_permutation(topology))


@pytest.fixture(scope="module")
def renderer():
    from head_pose_ros.synth.rotate_mesh import TexturedRenderer

    try:
        r = TexturedRenderer()
    except Exception as exc:  # no EGL / no GL driver on this machine
        pytest.skip(f"no headless OpenGL context: {exc}")
    yield r
    r.release()


def photo(topology, R: np.ndarray) -> np.ndarray:
    """BGR photo of the template at (R, T0): coloured triangles, a white dot on each landmark
    that faces the camera."""
    from head_pose_ros.model.toy import render_image
    from head_pose_ros.synth.rotate_mesh import vertex_normals

    img = render_image(topology, R, T0, K, SIZE, SIZE, background=0)
    img[np.all(img == 0, axis=2)] = BLUE
    X = geo.transform_points(topology.vertices.astype(np.float64), R, T0)
    n = vertex_normals(X, topology.triangles)
    n *= np.sign(n[np.argmin(topology.vertices[:, 2]), 2]) * -1  # outwards: nose towards camera
    ids = topology.landmarks68
    facing = -np.sum(n[ids] * X[ids], axis=1) / np.linalg.norm(X[ids], axis=1) > 0.2
    for u, v in geo.project_points(X[ids[facing]], K):
        cv2.circle(img, (int(round(u * 16)), int(round(v * 16))), 3 * 16, (255, 255, 255), -1,
                   cv2.LINE_AA, 4)
    return img


def ypr(yaw: float, pitch: float = 8.0, roll: float = 4.0) -> np.ndarray:
    return geo.euler_ypr_to_rotation(*np.radians([yaw, pitch, roll]), "trg")


def white(img_rgb: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Per point: the whitest pixel (min over channels) of its 3x3 neighbourhood."""
    out = []
    for u, v in np.round(uv).astype(int):
        p = img_rgb[max(v - 1, 0):v + 2, max(u - 1, 0):u + 2].reshape(-1, 3)
        out.append(p.min(axis=1).max() if len(p) else 0)
    return np.asarray(out)


def silhouette(parts, V: np.ndarray, R: np.ndarray) -> np.ndarray:
    """The closed mesh's projection rasterised by OpenCV (4 fractional bits)."""
    uv = geo.project_points(geo.transform_points(parts.with_hole_centres(V), R, T0), K)
    m = np.zeros((SIZE, SIZE), np.uint8)
    for t in np.round(uv[parts.triangles] * 16).astype(np.int32):
        cv2.fillConvexPoly(m, t, 1, cv2.LINE_8, 4)
    return m.astype(bool)


@pytest.mark.parametrize(("yaw0", "yaw1"), [(10.0, 60.0), (-20.0, 35.0), (0.0, -70.0),
                                             (55.0, -5.0)])
def test_rerendered_landmarks_land_on_the_rendered_face(topology, parts, renderer, yaw0, yaw1):
    from head_pose_ros.data.rotate_real import rotate_face

    R, R_new = ypr(yaw0), ypr(yaw1, pitch=-4.0)
    V = topology.vertices.astype(np.float64)
    img = photo(topology, R)
    r = rotate_face(renderer, parts, topology.landmarks68, img[..., ::-1].copy(), K, R, T0, V,
                    R_new)
    lm = r["landmarks68"]
    # the labels are the projection of the re-posed fit
    want = geo.project_points(geo.transform_points(V[topology.landmarks68], R_new, T0), K)
    assert np.allclose(lm, want)
    assert np.all((lm > 0) & (lm < SIZE - 1))
    # the rendered face is the projected mesh, and every landmark lies on it
    mask = r["face_mask"] > 0.5
    sil = silhouette(parts, V, R_new)
    iou = (mask & sil).sum() / (mask | sil).sum()
    assert iou > 0.97, iou
    centroid = [np.argwhere(m).mean(axis=0) for m in (mask, sil)]
    assert np.abs(centroid[0] - centroid[1]).max() < 0.25, centroid  # no pixel-convention shift
    near = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8))
    ij = np.round(lm).astype(int)
    assert near[ij[:, 1], ij[:, 0]].all()
    # each landmark the photo saw shows its own white dot where its label says
    out = r["image"]
    mix = r["mirror_mix"][topology.landmarks68]
    seen = r["landmarks68_visible"] & (mix < 0.05)
    w = white(out, lm[seen])
    assert seen.sum() >= 20 and np.mean(w > 200) >= 0.9, (seen.sum(), w)
    # ... and not where the fit had it (the test can tell a wrong pose apart)
    lm0 = geo.project_points(geo.transform_points(V[topology.landmarks68], R, T0), K)
    moved = np.linalg.norm(lm0 - lm, axis=1) > 6
    assert np.mean(white(out, lm0[seen & moved]) > 200) < 0.5
    # no background colour on the face
    blue = np.all(np.abs(out.astype(int) - BLUE[::-1]) < 40, axis=2)
    assert (blue & mask).sum() < 0.01 * mask.sum()


def test_mirror_fill_shows_the_other_half_where_the_photo_saw_nothing(topology, parts,
                                                                      renderer):
    """A profile (yaw 55) turned to frontal: the far jaw, unseen in the photo, gets the mirror
    vertices' texture, so its landmarks show the white dots of their mirror partners."""
    from head_pose_ros.data.rotate_real import rotate_face

    R, R_new = ypr(55.0), ypr(-5.0)
    V = topology.vertices.astype(np.float64)
    r = rotate_face(renderer, parts, topology.landmarks68, photo(topology, R)[..., ::-1].copy(),
                    K, R, T0, V, R_new)
    mix = r["mirror_mix"][topology.landmarks68]
    filled = r["landmarks68_visible"] & (mix > 0.95)
    assert filled.sum() >= 4, filled.sum()
    assert np.mean(white(r["image"], r["landmarks68"][filled]) > 200) >= 0.8


def make_crops(tmp: Path, topology, names: list[str], yaws: list[float]) -> Path:
    """A miniature ``aflw_crops`` + pseudo-label file (teacher fits of the template)."""
    (tmp / "crops" / "images").mkdir(parents=True)
    for n, y in zip(names, yaws, strict=True):
        cv2.imwrite(str(tmp / "crops" / "images" / n), photo(topology, ypr(y)))
    nv = topology.num_vertices
    lab = {"names": np.array(names), "status": np.ones(len(names), np.int64),
           "weight": np.ones(len(names)), "R": np.stack([ypr(y) for y in yaws]),
           "T": np.tile(T0, (len(names), 1)), "K": K, "coeffs": np.zeros((len(names), 1)),
           "basis_mean": topology.vertices.astype(np.float32),
           "basis_modes": np.zeros((1, nv, 3), np.float32)}
    np.savez(tmp / "pseudo.npz", **lab)
    return tmp / "pseudo.npz"


def _name(prefix: str, held: bool) -> str:
    from head_pose_ros.data.aflw_crops import is_held_out

    return next(f"{prefix}{i}.jpg" for i in range(1000) if is_held_out(f"{prefix}{i}.jpg") == held)


def test_only_the_training_split_is_rendered_and_loads_as_synth_npz(tmp_path, topology,
                                                                   renderer):
    from head_pose_ros.data import rotate_real
    from head_pose_ros.data.aflw_crops import TEACHER_LOSS_MASK, is_held_out
    from head_pose_ros.data.synthetic import SynthNpzDataset

    names = [_name("train", False), _name("held", True), _name("more", False)]
    labels = make_crops(tmp_path, topology, names, [5.0, -10.0, 30.0])
    out = tmp_path / "rotated"
    s = rotate_real.build(tmp_path / "crops", labels, out, per_face=2, topology=topology,
                          progress=False)
    assert s["sources"] == 2 and s["rendered"] == 4
    with np.load(out / "labels.npz") as z:
        L = {k: z[k] for k in z.files}
    assert not any(is_held_out(str(n)) for n in L["source"])
    assert set(L["source"]) == {names[0], names[2]}
    assert not list((out / "images").glob(Path(names[1]).stem + "*"))
    d = np.abs(L["yaw_delta_deg"])
    assert np.all((d >= 15) & (d <= 75))
    for i in range(4):  # R' = the fit's trg angles + the stored deltas
        y0, p0, r0 = geo.rotation_to_euler_ypr(L["R_source"][i])
        want = geo.euler_ypr_to_rotation(y0 + np.radians(L["yaw_delta_deg"][i]),
                                         p0 + np.radians(L["pitch_delta_deg"][i]), r0)
        assert np.allclose(L["R"][i], want, atol=1e-6)
    assert np.allclose(L["loss_mask"], TEACHER_LOSS_MASK) and np.all(L["loss_mask"][:, 1] == 0)
    ds = SynthNpzDataset(out, topology)
    raw = ds.load(0)
    assert np.allclose(raw.labels.loss_mask, TEACHER_LOSS_MASK)
    assert raw.image.shape == (SIZE, SIZE, 3)
    sample = ds[1]
    assert float(sample["loss_mask"][1]) == 0.0
    sheet = rotate_real.make_sheet(out, tmp_path / "crops", tmp_path / "sheet.jpg", count=4)
    assert cv2.imread(str(sheet)).shape[0] == 144


def test_target_rotations():
    from head_pose_ros.data.rotate_real import P_OUTWARD, sample_target

    rng = np.random.default_rng(0)
    for y in (-80.0, -40.0, 0.0, 40.0, 85.0):
        dys = []
        for _ in range(200):
            R_new, dy, dp = sample_target(rng, ypr(y))
            yaw1 = np.degrees(geo.rotation_to_euler_ypr(R_new)[0])
            assert 15 <= abs(dy) <= 75 and abs(dp) <= 15 + 1e-9
            assert abs(yaw1) <= 90 + 1e-6 and abs(yaw1 - (y + dy)) < 1e-6
            dys.append(dy)
        out = np.mean(np.sign(dys) == np.sign(y))
        if abs(y) == 40.0:
            assert abs(out - P_OUTWARD) < 0.1, out
        if abs(y) > 75:  # no room to turn further out
            assert out == 0
