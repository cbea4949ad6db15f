"""The node's per-frame pipeline without ROS (detector -> estimator -> tracker -> filter), with
a scripted detector and estimator."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from scripted import ScriptedDetector, ScriptedEstimator

from head_pose_ros.pipeline import HeadPosePipeline, PipelineConfig
from head_pose_ros.ros.params import PARAMS

K = np.array([[600.0, 0, 319.5], [0, 600.0, 239.5], [0, 0, 1]])


def _box(cx, cy, s=80.0):
    return np.array([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2])


IMAGE = np.zeros((480, 640, 3), np.uint8)


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(Rotation.from_matrix(a.T @ b).as_rotvec()))


def test_defaults_are_the_node_parameter_defaults():
    specs = {p.name: p.default for p in PARAMS}
    for name, value in vars(PipelineConfig()).items():
        assert specs[name] == value, name


def test_two_people_get_stable_ids_after_min_hits():
    frames = [np.stack([_box(150 + 2 * i, 200), _box(450 - 2 * i, 220)]) for i in range(10)]
    pipe = HeadPosePipeline(ScriptedEstimator(), ScriptedDetector(frames), PipelineConfig(detect_every_n=1))
    reported = []
    for i in range(10):
        res = pipe.process(IMAGE, K, stamp=i / 30)
        assert res.n_estimates == 2 and res.detector_ran
        reported.append(sorted(p.person_id for p in res.people))
    assert reported[:2] == [[], []]  # tentative for tracker_min_hits - 1 frames
    assert all(r == [1, 2] for r in reported[2:])
    left = next(p for p in res.people if p.est.box[0] < 320)
    assert left.frames_seen == 10  # hits, the tentative ones included


def test_filter_smooths_rotation_and_keeps_the_raw_estimate():
    rng = np.random.default_rng(0)
    noise = Rotation.from_rotvec(rng.normal(0, np.radians(3), (40, 3))).as_matrix()
    frames = [_box(320, 240)[None]] * 40
    pipe = HeadPosePipeline(ScriptedEstimator(lambda c, f: noise[c]), ScriptedDetector(frames))
    raw, filt = [], []
    for i in range(40):
        for p in pipe.process(IMAGE, K, stamp=i / 30).people:
            raw.append(p.est.R)
            filt.append(p.rot)
    step_raw = np.mean([_angle(a, b) for a, b in zip(raw[:-1], raw[1:], strict=True)])
    step_f = np.mean([_angle(a, b) for a, b in zip(filt[:-1], filt[1:], strict=True)])
    assert step_f < 0.5 * step_raw
    np.testing.assert_allclose(raw[-1], noise[39])  # est keeps the unfiltered pose


def test_filter_none_publishes_the_raw_pose():
    rot = Rotation.from_euler("y", 20, degrees=True).as_matrix()
    pipe = HeadPosePipeline(ScriptedEstimator(lambda c, f: rot), ScriptedDetector([_box(320, 240)]),
                            PipelineConfig(filter="none", tracker_min_hits=1))
    p = pipe.process(IMAGE, K, stamp=0.0).people[0]
    np.testing.assert_allclose(p.rot, rot)
    np.testing.assert_allclose(p.trans, p.est.T)


def test_detect_every_n_follows_faces_between_detections():
    frames = [_box(320 + i, 240)[None] for i in range(9)]
    det = ScriptedDetector(frames)
    pipe = HeadPosePipeline(ScriptedEstimator(), det, PipelineConfig(detect_every_n=3))
    ran = [pipe.process(IMAGE, K, stamp=i / 30).detector_ran for i in range(9)]
    assert ran == [True, False, False] * 3
    assert len(det.calls) == 3


def test_small_faces_and_max_faces_are_dropped():
    boxes = np.stack([_box(100, 100, 10), _box(300, 200, 100), _box(500, 200, 60),
                      _box(200, 400, 40)])
    pipe = HeadPosePipeline(ScriptedEstimator(), ScriptedDetector([boxes]),
                            PipelineConfig(min_face_size=24, max_faces=2, tracking=False))
    res = pipe.process(IMAGE, K, stamp=0.0)
    sides = sorted(round(p.est.box[2] - p.est.box[0]) for p in res.people)
    assert res.n_estimates == 2 and len(sides) == 2 and min(sides) >= 60 * 0.9
    assert [p.person_id for p in res.people] == [0, 0]


def test_reset_forgets_tracks():
    frames = [_box(320, 240)[None]] * 6
    pipe = HeadPosePipeline(ScriptedEstimator(), ScriptedDetector(frames),
                            PipelineConfig(tracker_min_hits=1))
    assert [p.person_id for p in pipe.process(IMAGE, K, 0.0).people] == [1]
    assert pipe.reset() == [1]
    assert [p.person_id for p in pipe.process(IMAGE, K, 0.1).people] == [2]


def test_configure_changes_settings_between_frames_and_keeps_the_tracks():
    """Issue 19 item 1 (run-time parameters): the tracks stay, the new rhythm / tracker /
    filter apply from the next frame (the filters restart), tracking itself cannot change."""
    import dataclasses

    frames = [_box(320, 240)[None]] * 12
    det = ScriptedDetector(frames)
    est = ScriptedEstimator()
    est.topology = SimpleNamespace(landmarks68=np.arange(68))
    cfg = PipelineConfig(tracker_min_hits=1, detect_every_n=1)
    pipe = HeadPosePipeline(est, det, cfg)
    pipe._follow_points = lambda e, K, dist: e.landmarks68  # followed on its landmarks
    for i in range(3):
        assert [p.person_id for p in pipe.process(IMAGE, K, i / 30).people] == [1]
    assert all("filter" in t.data for t in pipe.tracker.tracks)
    pipe.configure(dataclasses.replace(cfg, detect_every_n=4, tracker_max_misses=9,
                                       filter_beta_r=2.0))
    assert pipe.tracker.max_misses == 9 and pipe.scheduler.n == 4
    assert not any("filter" in t.data for t in pipe.tracker.tracks)  # restart, new settings
    res = [pipe.process(IMAGE, K, i / 30) for i in range(3, 11)]
    assert [p.person_id for p in res[0].people] == [1]  # the same track, followed
    assert "filter" in pipe.tracker.tracks[0].data  # a new filter from the next estimate
    assert [r.detector_ran for r in res] == [False, False, False, True] * 2  # every 4th
    with pytest.raises(ValueError, match="tracking"):
        pipe.configure(dataclasses.replace(cfg, tracking=False))


@pytest.mark.parametrize("bad", [np.full((6, 6), np.nan), -np.eye(6)])
def test_covariance_is_sanitised(bad):
    est = ScriptedEstimator()
    orig = est.predict

    def predict(*a, **k):
        out = orig(*a, **k)
        for e in out:
            e.covariance = bad
        return out

    est.predict = predict
    pipe = HeadPosePipeline(est, ScriptedDetector([_box(320, 240)]),
                            PipelineConfig(tracker_min_hits=1))
    cov = pipe.process(IMAGE, K, 0.0).people[0].cov
    assert np.all(np.isfinite(cov)) and np.all(np.linalg.eigvalsh(cov) > 0)


def test_timings_name_every_stage_and_detect_is_zero_when_following():
    frames = [_box(320 + i, 240)[None] for i in range(4)]
    pipe = HeadPosePipeline(ScriptedEstimator(), ScriptedDetector(frames),
                            PipelineConfig(detect_every_n=2))
    res = [pipe.process(IMAGE, K, stamp=i / 30) for i in range(4)]
    for r in res:
        assert set(r.timings) == {"detect", "crop", "infer", "post"}
        assert all(v >= 0.0 for v in r.timings.values())
        assert r.timings["infer"] > 0.0 and r.timings["post"] > 0.0
    assert [r.detector_ran for r in res] == [True, False, True, False]
    assert res[0].timings["detect"] > 0.0 and res[1].timings["detect"] == 0.0


def test_prefer_followed_keeps_new_detections_and_drops_unconfirmed_faces():
    from head_pose_ros.pipeline import prefer_followed

    det = np.stack([_box(100, 100), _box(400, 300)])
    fol = np.stack([_box(104, 102), _box(600, 50)])
    out = prefer_followed(det, fol, 0.3)
    np.testing.assert_allclose(out[0], fol[0])  # confirmed: the followed box
    np.testing.assert_allclose(out[1], det[1])  # new face: the detector's box
    assert len(out) == 2  # the followed face with no detection is not kept
    np.testing.assert_allclose(prefer_followed(det, np.zeros((0, 4))), det)


def test_following_uses_the_detector_only_every_n_frames_and_after_a_loss():
    frames = [_box(320 + 2 * i, 240)[None] for i in range(12)]
    det = ScriptedDetector(frames)
    est = ScriptedEstimator()
    orig = est.predict
    bad = {5}  # on this call the heatmap landmarks disagree with the model landmarks

    def predict(*a, **k):
        out = orig(*a, **k)
        if est.calls - 1 in bad:
            for e in out:
                e.landmarks68 = e.landmarks68 + 40.0
        return out

    est.predict = predict
    est.topology = SimpleNamespace(landmarks68=np.arange(68))
    pipe = HeadPosePipeline(est, det, PipelineConfig(detect_every_n=4))
    pipe._follow_points = lambda e, K, dist: e.landmarks68 - (  # "3D" ones stay on the face
        40.0 if est.calls - 1 in bad else 0.0)
    ran = [pipe.process(IMAGE, K, stamp=i / 30).detector_ran for i in range(12)]
    assert ran == [True, False, False, False, True, False, True, False, False, False, True,
                   False]


class ScaledLandmarks(ScriptedEstimator):
    """ScriptedEstimator whose 68 landmarks span ``frac(call)`` of the given box's side (the
    scripted one's span 0.8 of it), centred on the box."""

    def __init__(self, frac) -> None:
        super().__init__()
        self.frac = frac

    def predict(self, image, K, boxes, dist_coeffs=None, intrinsics_guessed=False):  # noqa: N803
        call = self.calls
        out = super().predict(image, K, boxes, dist_coeffs, intrinsics_guessed)
        for e in out:
            c = (e.box[:2] + e.box[2:]) / 2
            e.landmarks68 = c + (e.landmarks68 - c) * self.frac(call) / 0.8
        return out


def _frac_for_ratio(ratio: float) -> float:
    """Landmark span (fraction of the box side) whose followed box is the box / ``ratio``."""
    from head_pose_ros.geometry import DETECTION_CROP_SCALE, LANDMARK_CROP_SCALE

    return DETECTION_CROP_SCALE / (LANDMARK_CROP_SCALE * ratio)


def _given_boxes(learn: bool, frac, n_frames: int = 8, every: int = 5) -> list[np.ndarray]:
    """The box the estimator got on each frame, one static face, YuNet-like detector."""
    est = ScaledLandmarks(frac)
    pipe = HeadPosePipeline(est, ScriptedDetector([_box(320, 240, 100)[None]]),
                            PipelineConfig(detect_every_n=every, tracker_min_hits=1))
    pipe.learn_crop = learn
    pipe.follower.motion_gain = 0.0  # the boxes of the last landmarks, no motion added
    out = []
    for i in range(n_frames):
        res = pipe.process(IMAGE, K, stamp=i / 30)
        assert res.detector_ran == (i % every == 0) and len(res.people) == 1
        out.append(np.asarray(res.people[0].est.box, float))
    return out


def test_followed_crop_takes_the_ratio_learnt_on_the_detector_frame():
    """The detector's crop is 10 % bigger than the crop of the face's landmarks: the next
    followed crop is 10 % bigger than without learning, i.e. the detector's crop (centre
    included), and so are the followed crops until the next detector frame (without learning
    they shrink by 1.1 a frame: the crop of the landmarks of the crop before)."""
    from head_pose_ros.geometry import crop_box_from_detection

    frac = _frac_for_ratio(1.1)
    learnt = _given_boxes(True, lambda call: frac)
    plain = _given_boxes(False, lambda call: frac)
    assert (learnt[1][2] - learnt[1][0]) / (plain[1][2] - plain[1][0]) == pytest.approx(1.1)
    assert plain[1][2] - plain[1][0] == pytest.approx(100 / 1.1)
    assert plain[4][2] - plain[4][0] == pytest.approx(100 / 1.1 ** 4)
    det = _box(320, 240, 100)
    for i in range(1, 5):
        np.testing.assert_allclose(crop_box_from_detection(learnt[i]),
                                   crop_box_from_detection(det), atol=1e-9)
        np.testing.assert_allclose(crop_box_from_detection(learnt[i], 1.4, 0.0),
                                   crop_box_from_detection(det, 1.4, 0.0), atol=1e-9)


def test_the_crop_correction_is_learnt_again_on_each_detector_frame():
    """From the 2nd detector frame (call 5) on the landmarks span less of the face: the ratio
    learnt there (1.2) replaces the first (1.1) and the followed crop is the detector's again."""
    f1, f2 = _frac_for_ratio(1.1), _frac_for_ratio(1.2)
    boxes = _given_boxes(True, lambda call: f1 if call < 5 else f2)
    assert boxes[6][2] - boxes[6][0] == pytest.approx(100.0)  # 1.1 kept: 100 / 1.2 * 1.1
    plain = _given_boxes(False, lambda call: f1 if call < 5 else f2)
    assert (plain[6][2] - plain[6][0]) / (plain[5][2] - plain[5][0]) == pytest.approx(1 / 1.2)


def test_no_crop_learning_with_the_detector_on_every_frame():
    pipe = HeadPosePipeline(ScriptedEstimator(), ScriptedDetector([_box(320, 240)[None]]),
                            PipelineConfig(detect_every_n=1, tracker_min_hits=1))
    pipe.learn_crop = True
    for i in range(3):
        pipe.process(IMAGE, K, stamp=i / 30)
    assert pipe.follower.correction(pipe.tracker.tracks[0].uid) is None
