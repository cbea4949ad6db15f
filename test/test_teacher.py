# ruff: noqa: N806
"""Real-face pseudo-labels: the AFLW-21 vertex table, the 1220 model fit, the label command, and
the aflw_crops dataset built on them (issue 12)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import in_ci

from head_pose_ros import geometry as geo
from head_pose_ros.data import aflw21

REPO = Path(__file__).resolve().parents[1]
PEERS_PY = REPO / ".venv-peers" / "bin" / "python"


@pytest.fixture(scope="module")
def basis(shared_data):
    from head_pose_ros.teacher.fit import load_face_basis

    return load_face_basis(data_root=str(shared_data))


def test_aflw21_table_matches_ibug_and_mirrors(topology):
    """Vertices of AFLW points that are iBUG points are exactly the topology's landmarks; the
    mirror table pairs image-left with image-right points at mirrored template x."""
    sel = aflw21.AFLW21_IBUG >= 0
    assert np.array_equal(aflw21.AFLW21_VERTEX[sel], topology.landmarks68[aflw21.AFLW21_IBUG[sel]])
    m = aflw21.AFLW21_MIRROR
    assert np.array_equal(m[m], np.arange(21))
    v = topology.vertices[aflw21.AFLW21_VERTEX]
    # image-left of a frontal face = the subject's right = negative head x
    for i, name in enumerate(aflw21.AFLW21_NAMES):
        if "left" in name:
            assert v[i, 0] < -0.01 and v[m[i], 0] > 0.01, name
            assert abs(v[i, 0] + v[m[i], 0]) < 0.01 and abs(v[i, 1] - v[m[i], 1]) < 0.01, name
    # vertical order on the face: brows above eyes above nose tip above mouth above chin
    y = dict(zip(aflw21.AFLW21_NAMES, v[:, 1], strict=True))
    assert y["brow_left_centre"] < y["eye_left_centre"] < y["nose_tip"] < y["mouth_centre"] \
        < y["chin"]
    assert v[aflw21.AFLW21_NAMES.index("nose_tip"), 2] == v[:, 2].min()  # nearest the camera


def test_aflw_to_ibug68_scatters_visible_points():
    pts = np.arange(42, dtype=float).reshape(21, 2)
    vis = np.ones(21, bool)
    vis[0] = False
    lm, mask = aflw21.aflw_to_ibug68(pts, vis)
    assert mask.sum() == 15 and not mask[17] and mask[8]
    assert np.allclose(lm[8], pts[20]) and np.allclose(lm[30], pts[14])


def _synthetic_face(basis, rng, K):
    c = np.zeros(basis.num_coeffs)
    c[: basis.n_identity] = rng.normal(0, 1, basis.n_identity)
    R = geo.euler_ypr_to_rotation(*np.radians(rng.uniform([-40, -20, -15], [40, 20, 15])))
    T = np.array([0.01, -0.02, 1.0])
    return c, R, T


def test_fit_recovers_pose_and_shape_of_a_known_face(basis):
    """Exact observations of model points (teacher-like dense set + the 21 points): for the mean
    face the fit recovers the rotation to < 0.3 deg; for a random identity (N(0, 1) modes) the
    2D-only shape/pose ambiguity under this near-orthographic camera leaves < 3 deg (measured
    0.5-1.6 deg), with sub-pixel residuals and plausible (prior-bounded) identity coefficients. The shape
    itself is only weakly observable from 2D points (not asserted)."""
    from head_pose_ros.teacher.fit import fit_pose_shape

    rng = np.random.default_rng(0)
    K = np.array([[480.0, 0, 59.5], [0, 480.0, 59.5], [0, 0, 1]])
    ids = np.r_[np.arange(0, 1220, 5), aflw21.AFLW21_VERTEX]
    for k in range(4):
        c, R, T = _synthetic_face(basis, rng, K)
        if k == 0:
            c[:] = 0.0
        V = basis.vertices(c)
        uv = geo.project_points(geo.transform_points(V[ids], R, T), K)
        r = fit_pose_shape(uv, np.ones(len(ids)), basis.mean[ids], basis.basis[:, ids], K,
                           basis.prior_sigma, expression_slice=slice(basis.n_identity, None),
                           iterations=4)
        assert r.ok
        assert np.degrees(geo.geodesic_distance(r.R, R)) < (0.3 if k == 0 else 3.0)
        assert np.median(r.residual_px) < 0.5
        # identity is only weakly observable in 2D: the prior keeps it plausible
        assert np.all(np.abs(r.coeffs[: basis.n_identity]) < 4.0)


def test_fit_shape_step_is_as_robust_as_the_pose_step(basis):
    """A fifth of the observations off by (15, -12) px (e.g. a teacher's mislocated contour):
    the Huber pose step discounts them, and the shape step now uses the same Huber weights, so
    they do not deform the face either. Measured on these faces: inlier median residual
    1.0-1.3 px, mean vertex error 3-7 mm; with an unweighted shape step 1.9-2.2 px and 7-15 mm
    (the outliers pulled the shape, and the shape the pose)."""
    from head_pose_ros.teacher.fit import fit_pose_shape, huber_weights

    # the weights least_squares' Huber loss applies to f^2: 1 inside f_scale, f_scale / |f| out
    np.testing.assert_allclose(huber_weights(np.array([-1.0, 3.0, -6.0, 30.0]), 3.0),
                               [1.0, 1.0, 0.5, 0.1])
    rng = np.random.default_rng(0)
    K = np.array([[480.0, 0, 59.5], [0, 480.0, 59.5], [0, 0, 1]])
    ids = np.r_[np.arange(0, 1220, 5), aflw21.AFLW21_VERTEX]
    for k in range(3):
        c, R, T = _synthetic_face(basis, rng, K)
        if k == 0:
            c[:] = 0.0
        V = basis.vertices(c)
        uv = geo.project_points(geo.transform_points(V[ids], R, T), K)
        bad = rng.choice(len(ids), len(ids) // 5, replace=False)
        uv[bad] += np.array([15.0, -12.0])
        good = np.setdiff1d(np.arange(len(ids)), bad)
        r = fit_pose_shape(uv, np.ones(len(ids)), basis.mean[ids], basis.basis[:, ids], K,
                           basis.prior_sigma, expression_slice=slice(basis.n_identity, None),
                           iterations=4)
        Vf = basis.vertices(r.coeffs)
        v_err = np.linalg.norm((Vf - Vf.mean(0)) - (V - V.mean(0)), axis=1).mean()
        assert r.ok
        assert np.median(r.residual_px[good]) < 1.5, k
        assert v_err < 0.008, k


def test_mediapipe_alignment_is_small_and_dense(basis, shared_data):
    """The canonical mesh aligns to our mean face with a few-degree rotation and most of its
    vertices tied to the 1220 surface within 6 mm (the measured frame alignment)."""
    from head_pose_ros.peers.mediapipe_peer import canonical_to_head_matrix, load_canonical_mesh
    from head_pose_ros.teacher.fit import register_mediapipe

    can = load_canonical_mesh(shared_data / "baselines" / "mediapipe_canonical_face.npz")
    al = register_mediapipe(can, canonical_to_head_matrix(can), basis)
    assert al.angle_deg < 6.0
    assert 0.85 < al.scale < 1.15
    assert len(al.surface.source_ids) > 350
    assert np.median(al.surface.distance) < 0.002


def test_pseudolabel_command_on_a_few_crops(tmp_path, shared_data):
    """The one command writes a label file for a few real crops: kept / rejected counts add up,
    kept fits land their 68 landmarks inside the crop and their hand-landmark residual is small.
    Uses the real MediaPipe teacher (peers venv); skipped where it is not installed, except
    under CI, where scripts/setup_env.sh must have built it."""
    if not (PEERS_PY.is_file() and (PEERS_PY.parents[1] / ".stamp").is_file()):
        why = "no complete .venv-peers (scripts/setup_env.sh builds it); the teacher cannot run"
        if in_ci():
            pytest.fail(f"CI is set, refusing to skip: {why}", pytrace=False)
        pytest.skip(why)
    out = tmp_path / "pseudo.npz"
    cmd = [sys.executable, "-m", "head_pose_ros.teacher.pseudolabel", "--out", str(out),
           "--crops", str(shared_data / "real" / "aflw_crops"), "--limit", "12",
           "--peers-python", str(PEERS_PY), "--json", str(tmp_path / "s.json")]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    with np.load(out) as z:
        st, lm, res = z["status"], z["lm68"], z["res_h"]
        assert len(st) == 12 and (st == 1).sum() >= 6
        keep = st == 1
        assert np.all((lm[keep] > -10) & (lm[keep] < 130))
        assert np.nanmedian(res[keep]) < 0.06
        assert z["basis_modes"].shape[1:] == (1220, 3)
        R = z["R"][keep]
        assert np.allclose(np.einsum("nij,nkj->nik", R, R), np.eye(3), atol=1e-6)


@pytest.fixture(scope="module")
def pseudo_file(tmp_path_factory, basis, shared_data):
    """A label file for the first 40 crops, fitted to their HAND landmarks only (no teacher)
    plus, for every other crop, a teacher made of exact projections of the hand-only fit's
    face: exercises both label kinds without MediaPipe."""
    from head_pose_ros.teacher import pseudolabel as pl

    crops = shared_data / "real" / "aflw_crops"
    with np.load(crops / "labels.npz") as z:
        names = [str(s) for s in z["names"][:40]]
    al = pl.Fitter.from_files(shared_data / "baselines" / "mediapipe_canonical_face.npz",
                              data_root=str(shared_data)).align
    first = pl.build_labels(crops, {"names": np.array(names), "found": np.zeros(40, bool),
                                    "lm478": np.zeros((40, 478, 3)),
                                    "transform": np.full((40, 4, 4), np.nan)},
                            canonical=shared_data / "baselines" / "mediapipe_canonical_face.npz",
                            limit=40, progress=False)
    lm478 = np.zeros((40, 478, 3))
    found = np.zeros(40, bool)
    for i in range(0, 40, 2):
        if first["status"][i] == 0:
            continue
        V = basis.vertices(first["coeffs"][i])
        P = al.surface.points(V)
        uv = geo.project_points(geo.transform_points(P, first["R"][i], first["T"][i]),
                                first["K"])
        lm478[i, al.surface.source_ids, :2] = uv
        found[i] = True
    lab = pl.build_labels(crops, {"names": np.array(names), "found": found, "lm478": lm478,
                                  "transform": np.full((40, 4, 4), np.nan)},
                          canonical=shared_data / "baselines" / "mediapipe_canonical_face.npz",
                          limit=40, progress=False)
    path = tmp_path_factory.mktemp("pl") / "pseudo.npz"
    np.savez(path, **lab)
    return path, lab


def test_label_file_statuses_and_reasons(pseudo_file):
    _, lab = pseudo_file
    st = lab["status"]
    assert set(np.unique(st)) <= {0, 1, 2}
    assert (st == 1).sum() >= 10 and (st == 2).sum() >= 5
    assert np.all((lab["reason"] == "") == (st > 0))
    assert np.all(lab["weight"][st == 0] == 0) and np.all(lab["weight"][st > 0] > 0)


def test_dataset_samples_follow_the_loss_mask_and_land_on_the_face(pseudo_file, topology,
                                                                    shared_data):
    """Teacher-fitted samples carry 3D pseudo labels with cam OFF; hand-only ones only the 2D
    terms; the hand landmarks (aux2d) land on the projected fitted vertices, also after the
    flip / rotation augmentation."""
    import torch

    from head_pose_ros.data.aflw_crops import AFLWCropsDataset
    from head_pose_ros.data.crop import LOSS_TERMS, SAMPLE_KEYS, AugmentParams, build_sample

    path, lab = pseudo_file
    ds = AFLWCropsDataset(shared_data / "real" / "aflw_crops", path, topology, split="all",
                          out_size=128)
    assert len(ds) == int((lab["status"] > 0).sum())
    cam = LOSS_TERMS.index("cam")
    seen = {1: 0, 2: 0}
    for j in range(len(ds)):
        raw = ds.load(j)
        st = int(lab["status"][ds.index[j]])
        seen[st] += 1
        for params in (None, AugmentParams(flip=True, rotation=0.3)):
            s = build_sample(raw.image, raw.labels, landmark_ids=topology.landmarks68,
                             num_vertices=topology.num_vertices, params=params,
                             flip_perm=ds.flip_perm, out_size=128)
            assert set(s) == set(SAMPLE_KEYS)
            assert float(s["loss_mask"][cam]) == 0.0
            if st == 2:
                assert not bool(s["has_3d"]) and float(s["loss_mask"][:5].sum()) == 0.0
                assert 0 < float(s["landmarks68_weight"].sum()) <= 16
                continue
            assert bool(s["has_3d"]) and float(s["loss_mask"][LOSS_TERMS.index("rot")]) > 0
            X = s["vertices"][s["aux2d_ids"]] @ s["R"].T + s["T"]
            uv = X @ s["K_crop"].T
            uv = uv[:, :2] / uv[:, 2:]
            w = s["aux2d_weight"] > 0
            err = (uv - s["aux2d_crop"])[w].norm(dim=1)
            assert torch.median(err) < 6.0  # crop px at 128 (hand labels vs fitted face)
    assert seen[1] and seen[2]


def test_held_out_split_is_disjoint(pseudo_file, topology, shared_data):
    from head_pose_ros.data.aflw_crops import AFLWCropsDataset, is_held_out

    path, lab = pseudo_file
    names = [str(s) for s in lab["names"]]
    if not any(is_held_out(n) for n in names):
        pytest.skip("no held-out crop among the first 40")
    tr = AFLWCropsDataset(shared_data / "real" / "aflw_crops", path, topology, split="train")
    va = AFLWCropsDataset(shared_data / "real" / "aflw_crops", path, topology, split="val")
    assert not set(tr.index) & set(va.index)
    assert all(is_held_out(va.name(i)) for i in range(len(va)))


def test_eval_view_of_held_out_crops_uses_the_pseudo_rotation(pseudo_file, topology, shared_data):
    """``head-pose-eval --format aflw_crops`` scores against the teacher fits only (kinds=(1,)):
    every item's ground truth is its fitted rotation, hand-only crops are left out."""
    from head_pose_ros.data.aflw_crops import AFLWCropsDataset
    from head_pose_ros.train.evaluate import EvalView

    path, lab = pseudo_file
    ds = AFLWCropsDataset(shared_data / "real" / "aflw_crops", path, topology, split="all",
                          kinds=(1,), out_size=128)
    assert len(ds) == int((lab["status"] == 1).sum())
    view = EvalView(ds)
    for j in range(len(ds)):
        item = view[j]
        assert np.allclose(item["gt_R"].numpy(), lab["R"][ds.index[j]], atol=1e-6)
