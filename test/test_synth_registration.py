"""ARKit-template registration onto the ICT head, head-frame convention of the synthetic labels."""

from __future__ import annotations

import numpy as np
import pytest

from head_pose_ros.synth.ict import ICTHead
from head_pose_ros.synth.registration import closest_point_on_triangles, load_registration


@pytest.fixture(scope="module")
def ict(shared_data):
    return ICTHead.load(shared_data)


def test_registration_figures(ict, shared_data, tmp_path):
    reg = load_registration(ict, shared_data, cache=tmp_path)
    # README facts: scale ~1.04, inner-landmark residual mean 4.4 mm, template within
    # 2.3 mm (median) / 9 mm (max) of the nearest ICT vertex (less to the surface)
    assert 1.02 < reg.scale < 1.06
    assert 3.5e-3 < reg.landmark_residual.mean() < 5.5e-3
    assert np.median(reg.surface_distance) < 2.5e-3
    assert reg.surface_distance.max() < 10e-3
    assert reg.triangle_ids.shape == (1220,) and reg.barycentric.shape == (1220, 3)
    np.testing.assert_allclose(reg.barycentric.sum(1), 1.0, atol=1e-9)
    assert reg.barycentric.min() >= -1e-9
    # all correspondences on the ICT face region
    face = ict.region_mask("face")
    assert face[ict.triangles[reg.triangle_ids]].all()
    # cached copy is identical
    again = load_registration(ict, shared_data, cache=tmp_path)
    assert list(tmp_path.glob("arkit_on_ict_*.npz"))
    np.testing.assert_array_equal(again.triangle_ids, reg.triangle_ids)
    np.testing.assert_allclose(again.barycentric, reg.barycentric)


def test_closest_point_on_triangle_regions():
    a, b, c = np.array([0.0, 0, 0]), np.array([1.0, 0, 0]), np.array([0.0, 1, 0])
    pts = np.array([[0.2, 0.2, 1.0], [-1, -1, 0], [2, -0.5, 0], [0.5, -1, 0], [1, 1, 0]])
    q, bary = closest_point_on_triangles(pts, *(np.broadcast_to(x, pts.shape) for x in (a, b, c)))
    np.testing.assert_allclose(q, [[0.2, 0.2, 0], [0, 0, 0], [1, 0, 0], [0.5, 0, 0], [0.5, 0.5, 0]])
    np.testing.assert_allclose(bary.sum(1), 1.0)


def test_head_frame_convention(shared_data):
    from head_pose_ros.synth.head import HeadModel, PersonShape

    head = HeadModel(shared_data)
    _, _, dense = head.build(PersonShape(np.zeros(100), np.zeros(53)))
    lm = dense[head.landmark_ids]
    nose, chin = lm[30], lm[8]
    right_eye, left_eye = lm[36:42].mean(0), lm[42:48].mean(0)
    assert nose[2] < 0 and nose[2] == pytest.approx(lm[:, 2].min(), abs=2e-3)  # nose tip in -z
    assert chin[1] > nose[1] > right_eye[1]  # y towards the chin
    assert left_eye[0] > 0 > right_eye[0]  # x towards the subject's left
    # the dense labels are the ~1.04-scaled template in the same frame
    tmpl = np.load(shared_data / "face_model/arkit1220/template_face_m.npy")
    err = np.linalg.norm(dense - head.registration.scale * tmpl, axis=1)
    assert np.median(err) < 3e-3
