"""The built-in demo keeps one id per person (issue 13 item 8).

The demo's person turns +-35 degrees; the Haar cascade (the detector on a fresh machine without
YuNet) loses the turned face for a few frames and returns nested duplicate boxes of one face.
Before: 4 ids in 10 s (3 in the first 20 s of this test). Checked here offline, with the node's
own pipeline, the demo's renderer and poses, the shipped model and the node settings that
scripts/demo.sh passes.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from scripted import ScriptedDetector, ScriptedEstimator

from head_pose_ros.pipeline import HeadPosePipeline, PipelineConfig
from head_pose_ros.tracking import FaceTracker

REPO = Path(__file__).resolve().parents[1]
K = np.array([[600.0, 0, 319.5], [0, 600.0, 239.5], [0, 0, 1]])
IMAGE = np.zeros((480, 640, 3), np.uint8)


def _box(cx, cy, s=80.0):
    return np.array([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2])


def test_nested_duplicate_boxes_of_one_face_are_one_person():
    """Haar returns a face twice (nested boxes); both crops find the same face: one estimate,
    one id (before: the duplicate started a second track that took the person's id over)."""
    frames = [np.stack([_box(320, 240), _box(322, 243, 72)]) if i % 3 == 1 else
              _box(320 + i, 240)[None] for i in range(30)]
    # the duplicates come from the detector: run it on every frame
    pipe = HeadPosePipeline(ScriptedEstimator(), ScriptedDetector(frames),
                            PipelineConfig(detect_every_n=1))
    ids = set()
    for i in range(30):
        res = pipe.process(IMAGE, K, stamp=i / 15)
        assert res.n_estimates == 1
        ids |= {p.person_id for p in res.people}
    assert ids == {1}


def test_a_tentative_track_cannot_take_a_persons_detection():
    tr = FaceTracker(min_hits=3, max_misses=5)
    for i in range(5):
        assert tr.update(_box(300 + i, 240)[None]).ids == [1 if i >= 2 else None]
    # a spurious detection next to the person starts a tentative track ...
    tr.update(np.stack([_box(305, 240), _box(345, 240)]))
    # ... and the person's next detection lies between the two: it stays the person's
    upd = tr.update(_box(330, 240)[None])
    assert upd.ids == [1]


def test_id_survives_a_long_miss_after_jittery_boxes():
    """The track's box velocity comes from jittery boxes (a turning face); extrapolated over 10
    missed frames it put the prediction 100+ px away and the reappearing face got a new id."""
    tr = FaceTracker(min_hits=1, max_misses=15)
    for dx in (0, 0, 12, 24):  # the box jumps right for a few frames (extent jitter)
        assert tr.update(_box(300 + dx, 240)[None]).ids == [1]
    for _ in range(10):
        tr.update(np.zeros((0, 4)))
    assert tr.update(_box(318, 240)[None]).ids == [1]


def _demo_settings() -> dict[str, int]:
    """The node parameters scripts/demo.sh passes (`-p name:=value`)."""
    text = (REPO / "scripts" / "demo.sh").read_text()
    got = dict(re.findall(r"-p (detect_every_n|tracker_max_misses|tracker_min_hits):=(\d+)",
                          text))
    assert "tracker_max_misses" in got, got
    return {k: int(v) for k, v in got.items()}


@pytest.mark.slow
def test_demo_person_keeps_one_id_with_landmarks_on_the_face():
    from head_pose_ros import geometry as g
    from head_pose_ros.detection import HaarCascadeDetector
    from head_pose_ros.ros.demo import (
        DEMO_K,
        TemplateFaceRenderer,
        demo_poses,
        topology_from_checkpoint,
    )
    from head_pose_ros.ros.params import default_weights_path

    weights = default_weights_path()
    if not weights:
        pytest.skip("no trained model installed (share/head_pose_ros/weights): a random-init "
                    "network cannot follow a face")
    from head_pose_ros.estimator import HeadPoseEstimator

    topo = topology_from_checkpoint(weights)
    renderer = TemplateFaceRenderer(topo)
    est = HeadPoseEstimator.from_checkpoint(weights, backend="auto")
    pipe = HeadPosePipeline(est, HaarCascadeDetector(), PipelineConfig(**_demo_settings()))
    fps, seconds = 15.0, 20.0  # the demo's rate and scripts/demo.sh's default run time
    ids: dict[int, int] = {}
    lm_err = []
    n = int(fps * seconds)
    for i in range(n):
        t = i / fps
        poses = demo_poses(t)
        res = pipe.process(renderer.render(poses, DEMO_K), DEMO_K, t)
        for p in res.people:
            ids[p.person_id] = ids.get(p.person_id, 0) + 1
            rot, trans = poses[0]
            gt = g.project_points(g.transform_points(topo.vertices[topo.landmarks68], rot,
                                                     trans), DEMO_K)
            lm_err.append(float(np.linalg.norm(p.est.landmarks68 - gt, axis=1).mean()))
    p95 = float(np.percentile(lm_err, 95))
    print(f"\ndemo, {seconds:.0f} s at {fps:.0f} Hz: ids {ids}, landmark error "
          f"{np.median(lm_err):.1f} px median, {p95:.1f} px p95, {np.max(lm_err):.1f} px max")
    assert len(ids) == 1, ids
    assert sum(ids.values()) >= 0.9 * n  # reported in (almost) every frame
    # on the face (about 110 px wide); the worst frames are the Haar crops at +-35 degrees yaw
    assert np.median(lm_err) < 8.0 and p95 < 20.0, (np.median(lm_err), p95)


def test_monitor_prints_the_id_count():
    from head_pose_ros.ros.monitor import format_id_count

    assert format_id_count({1: 300}) == "ids seen: 1 (id 1: 300 messages)"
    assert format_id_count({}) == "ids seen: 0"
    assert "head_pose_ros.ros.monitor" in (REPO / "scripts" / "demo.sh").read_text()
