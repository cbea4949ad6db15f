"""What the node publishes for a person, without ROS (issue 13, item 6): one orientation
convention (the REP-155 face frame) for head_pose / HeadPose.pose / TF, its covariance, the
covariance propagated through the pose filter, and crops from unclipped detector boxes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from scripted import ScriptedDetector, ScriptedEstimator

from head_pose_ros import geometry as g
from head_pose_ros.frames import (
    FACE_FROM_HEAD,
    face_covariance,
    head_to_face_points,
    rep155_frames,
)
from head_pose_ros.pipeline import HeadPosePipeline, PipelineConfig
from head_pose_ros.tracking import PoseFilter

K = np.array([[600.0, 0, 319.5], [0, 600.0, 239.5], [0, 0, 1]])
IMAGE = np.zeros((480, 640, 3), np.uint8)


def _random_cov(rng: np.random.Generator) -> np.ndarray:
    a = rng.normal(size=(6, 6)) * np.array([0.01, 0.01, 0.03, 0.05, 0.05, 0.04])
    return a @ a.T + np.eye(6) * 1e-6


# ------------------------------------------------------------------ face frame
def test_face_frame_pose_reproduces_the_head_points():
    rng = np.random.default_rng(0)
    rot = Rotation.random(random_state=1).as_matrix()
    trans = np.array([0.1, -0.05, 0.8])
    origin = np.array([0.0, -0.03, -0.05])  # eye midpoint, head frame
    pts = rng.normal(size=(50, 3)) * 0.05
    r_f, t_f = rep155_frames(rot, trans, origin)["face"]
    np.testing.assert_allclose(r_f, rot @ FACE_FROM_HEAD)
    pf = head_to_face_points(pts, origin)
    np.testing.assert_allclose(pf @ r_f.T + t_f, pts @ rot.T + trans, atol=1e-12)
    # face frame axes in head coordinates: x out of the face (-z_head), z up (-y_head)
    np.testing.assert_allclose(FACE_FROM_HEAD[:, 0], [0, 0, -1])
    np.testing.assert_allclose(FACE_FROM_HEAD[:, 2], [0, -1, 0])


def test_face_covariance_matches_sampled_errors():
    """Sample head-pose errors from cov_head, move them to the face frame, compare."""
    rng = np.random.default_rng(2)
    cov_head = _random_cov(rng)
    rot = Rotation.random(random_state=3).as_matrix()
    trans = np.array([0.05, 0.02, 0.7])
    origin = np.array([0.004, -0.035, -0.06])
    r_f, t_f = rep155_frames(rot, trans, origin)["face"]
    errs = rng.multivariate_normal(np.zeros(6), cov_head, size=20000) * 0.1  # small angles
    out = []
    for e in errs:
        r_e = Rotation.from_rotvec(e[3:]).as_matrix() @ rot  # camera-axis error
        rf_e, tf_e = rep155_frames(r_e, trans + e[:3], origin)["face"]
        out.append(np.concatenate([tf_e - t_f,
                                   Rotation.from_matrix(rf_e @ r_f.T).as_rotvec()]))
    emp = np.cov(np.array(out).T)
    want = face_covariance(cov_head * 0.01, rot, origin)
    np.testing.assert_allclose(emp, want, atol=0.03 * np.abs(want).max())
    assert np.linalg.eigvalsh(want).min() > 0


# ------------------------------------------------------------------ covariance through the filter
def test_filter_covariance_follows_the_filter_not_the_raw_estimate():
    """Issue 13 item 6: the filtered pose was published with the raw estimate's covariance.
    A constant raw covariance stays (errors of one face are correlated over frames: filtering
    does not shrink them); when it changes, the published one follows with the filter's
    weights; filter 'none' publishes the raw one."""
    pf = PoseFilter("one_euro", min_cutoff_t=0.5, beta_t=0.0, min_cutoff_r=0.5, beta_r=0.0,
                    reset_after=1.0)
    near = np.diag([1e-4, 1e-4, 4e-4, 1e-3, 1e-3, 1e-3])
    far = near * 9.0  # the person stepped back: 3x the standard deviations
    rot, trans = np.eye(3), np.array([0.0, 0.0, 1.0])
    covs = [pf.step(i / 30, rot, trans, near)[2] for i in range(30)]
    for c in covs:
        np.testing.assert_allclose(c, near, rtol=1e-12)
    a = pf._t.alpha
    assert 0 < a < 0.2  # 0.5 Hz cutoff at 30 Hz
    c1 = pf.step(30 / 30, rot, trans, far)[2]
    np.testing.assert_allclose(c1, a * far + (1 - a) * near, rtol=1e-9)
    assert not np.allclose(c1, far)  # not the raw covariance
    for i in range(31, 200):
        c = pf.step(i / 30, rot, trans, far)[2]
    np.testing.assert_allclose(c, far, rtol=1e-3)
    raw = PoseFilter("none").step(0.0, rot, trans, far)[2]
    np.testing.assert_allclose(raw, far)


def test_filter_covariance_stays_symmetric_positive_definite():
    rng = np.random.default_rng(4)
    pf = PoseFilter("one_euro", beta_t=10.0, beta_r=0.5)
    for i in range(100):
        rot = Rotation.from_rotvec(rng.normal(0, 0.2, 3)).as_matrix()
        _, _, c = pf.step(i / 30, rot, rng.normal(0, 0.05, 3) + [0, 0, 1], _random_cov(rng))
        np.testing.assert_allclose(c, c.T)
        assert np.linalg.eigvalsh(c).min() > 0


def test_pipeline_reports_the_filtered_covariance():
    covs = [np.eye(6) * 1e-4] * 10 + [np.eye(6) * 9e-4] * 5
    est = ScriptedEstimator()
    orig = est.predict

    def predict(*a, **k):
        out = orig(*a, **k)
        for e in out:
            e.covariance = covs[est.calls - 1]
        return out

    est.predict = predict
    box = np.array([280.0, 200.0, 360.0, 280.0])
    pipe = HeadPosePipeline(est, ScriptedDetector([box[None]] * 15),
                            PipelineConfig(tracker_min_hits=1))
    got = [pipe.process(IMAGE, K, stamp=i / 30).people[0].cov for i in range(15)]
    np.testing.assert_allclose(got[9], np.eye(6) * 1e-4)
    assert 1e-4 < got[10][0, 0] < 9e-4 and got[14][0, 0] < 9e-4  # lags like the pose


# ------------------------------------------------------------------ unclipped detector boxes
class _FakeYuNet:
    """Stands in for cv2.FaceDetectorYN: one face whose raw box starts left of and above the
    image (as YuNet regresses it for a face partly out of frame)."""

    def __init__(self, face_row: np.ndarray) -> None:
        self.row = face_row
        self.size = None

    def setInputSize(self, size):  # noqa: N802 (OpenCV's name)
        self.size = size

    def detect(self, image):
        return 1, self.row[None].copy()


def test_partly_out_of_frame_face_is_cropped_from_its_whole_box(monkeypatch, tmp_path):
    """Issue 13 item 6: boxes were clipped to the image before cropping, which moved the crop
    and biased the depth (Eq. 2 uses the box size) for people partly out of frame. The crop of a
    face cut by the image border must be the crop of its unclipped box."""
    import cv2

    from head_pose_ros.detection import YuNetDetector

    raw = np.array([-40.0, -25.0, 120.0, 170.0])  # x, y, x1, y1: 40 px left, 25 px above
    row = np.zeros(15)
    row[:4] = [raw[0], raw[1], raw[2] - raw[0], raw[3] - raw[1]]
    row[4:14] = np.tile([40.0, 60.0], 5)
    row[14] = 0.9
    fake = _FakeYuNet(row)
    monkeypatch.setattr(cv2.FaceDetectorYN, "create", lambda *a, **k: fake, raising=False)
    model = tmp_path / "yunet.onnx"
    model.write_bytes(b"stand-in: cv2.FaceDetectorYN.create is replaced")
    try:
        det = YuNetDetector(model, max_side=0)
    except Exception as exc:  # a YuNet that does not go through cv2.FaceDetectorYN
        pytest.skip(f"YuNetDetector does not use cv2.FaceDetectorYN here: {exc}")
    if getattr(det, "_det", fake) is not fake or getattr(det, "_ort", None) is not None:
        pytest.skip("YuNetDetector does not use cv2.FaceDetectorYN here")
    image = np.zeros((240, 320, 3), np.uint8)
    boxes = det.detect(image).boxes
    np.testing.assert_allclose(boxes, raw[None], atol=1e-9)  # not clipped to [0, W] x [0, H]

    # through the pipeline: the estimator gets the unclipped box, and its crop is the crop of
    # that box, the same as for the whole face in a larger image
    seen = []
    est = ScriptedEstimator()
    orig = est.predict

    def predict(img, k, b, **kw):
        seen.append(np.asarray(b, np.float64)[:, :4].copy())
        return orig(img, k, b, **kw)

    est.predict = predict
    pipe = HeadPosePipeline(est, det, PipelineConfig(tracker_min_hits=1))
    pipe.process(image, K, 0.0)
    np.testing.assert_allclose(seen[0][0], raw)
    crop = g.crop_box_from_detection(seen[0][0])
    pad = 100.0
    crop_inside = g.crop_box_from_detection(raw + pad)  # same face, wholly inside
    np.testing.assert_allclose(crop[:2] + pad, crop_inside[:2])
    np.testing.assert_allclose(crop[2], crop_inside[2])


# ------------------------------------------------------------------ head_pose_ros.person (core)
def test_published_person_is_the_face_frame_of_the_dense_face(topology):
    """Issue 19 item 5: the face-frame pose, width, area, camera-frame vertices and landmark
    confidences of one person come from the core (the node only fills messages)."""
    from types import SimpleNamespace

    from head_pose_ros.frames import face_origin
    from head_pose_ros.person import published_person
    from head_pose_ros.pipeline import TrackedHead

    vh = np.asarray(topology.vertices, np.float64)
    rot = Rotation.from_rotvec([0, np.radians(50), 0]).as_matrix()  # turned 50 deg
    trans = np.array([0.05, 0.0, 0.9])
    est = SimpleNamespace(vertices_head=vh, box=np.zeros(4), score=1.0)
    p = TrackedHead(1, 3, rot, trans, np.eye(6) * 1e-4, est)
    pub = published_person(p, topology)
    origin = face_origin(vh, topology.landmarks68)
    r_f, t_f = rep155_frames(rot, trans, origin)["face"]
    np.testing.assert_allclose(pub.rot, r_f)
    np.testing.assert_allclose(pub.trans, t_f)
    np.testing.assert_allclose(pub.cov, face_covariance(p.cov, rot, origin))
    np.testing.assert_allclose(pub.vertices_face(), head_to_face_points(vh, origin))
    np.testing.assert_allclose(pub.vertices_cam(), g.transform_points(vh, rot, trans))
    lm = topology.landmarks68
    assert 0.10 < pub.face_width < 0.18  # an adult face, metres
    assert pub.face_width == pytest.approx(np.linalg.norm(vh[lm[0]] - vh[lm[16]]))
    assert pub.face_area == pytest.approx(topology.face_area(vh))
    conf, vis = pub.landmark_confidence(topology)
    assert conf.shape == (68,) and vis.shape == (len(vh),)
    assert conf.min() < 0.2 and conf.max() > 0.9  # turned: the far side is hidden
    bare = published_person(p, None)  # no topology: no width / area, pose-only confidence
    assert np.isnan(bare.face_width) and np.isnan(bare.face_area)
    conf0, vis0 = bare.landmark_confidence(None)
    assert conf0.shape == (68,) and vis0 is None
