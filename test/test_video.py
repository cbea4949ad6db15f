"""Offline video tracking and jitter statistics (head_pose_ros.video), on a small generated
video with a scripted detector/estimator, plus the statistics on exact sequences."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from scripted import ScriptedDetector, ScriptedEstimator

from head_pose_ros.pipeline import PipelineConfig
from head_pose_ros.video import (
    contact_sheet,
    intrinsics_for_video,
    jitter_stats,
    main,
    people_region,
    read_frames,
    sheet_indices,
    summarise,
    track_video,
)


def _write_video(path: Path, n: int, size=(160, 120), fps=10.0) -> Path:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert w.isOpened()
    for i in range(n):
        frame = np.full((size[1], size[0], 3), 40 + 10 * i, np.uint8)
        w.write(frame)
    w.release()
    return path


def test_constant_velocity_has_constant_steps_and_no_acceleration():
    n = 20
    rots = Rotation.from_rotvec(np.outer(np.arange(n), [0, np.radians(2.0), 0])).as_matrix()
    trans = np.outer(np.arange(n), [0.01, 0, 0]) + [0, 0, 1.0]
    s = jitter_stats([(rots, trans)])
    assert s["rot_step_deg"]["median"] == pytest.approx(2.0, abs=1e-6)
    assert s["trans_step_mm"]["median"] == pytest.approx(10.0, abs=1e-6)
    assert s["rot_accel_deg"]["p95"] == pytest.approx(0.0, abs=1e-6)
    assert s["trans_accel_mm"]["p95"] == pytest.approx(0.0, abs=1e-6)
    assert s["rot_step_deg"]["n"] == n - 1 and s["rot_accel_deg"]["n"] == n - 2


def test_steps_never_bridge_a_gap():
    a = (np.stack([np.eye(3)] * 3), np.zeros((3, 3)))
    far = Rotation.from_euler("y", 90, degrees=True).as_matrix()
    b = (np.stack([far] * 3), np.ones((3, 3)))
    s = jitter_stats([a, b])
    assert s["rot_step_deg"]["n"] == 4 and s["rot_step_deg"]["p95"] == pytest.approx(0, abs=1e-9)
    assert s["trans_step_mm"]["p95"] == pytest.approx(0, abs=1e-9)
    assert jitter_stats([(np.eye(3)[None], np.zeros((1, 3)))])["rot_step_deg"]["n"] == 0


def test_intrinsics_for_video():
    K = intrinsics_for_video(1920, 1080)  # noqa: N806
    assert K[0, 0] == K[1, 1] == 3000 and K[0, 2] == 959.5 and K[1, 2] == 539.5
    assert intrinsics_for_video(1920, 1080, fov_deg=90.0)[0, 0] == pytest.approx(960.0)
    with pytest.raises(ValueError):
        intrinsics_for_video(640, 480, fov_deg=0.0)


def test_sheet_indices_cover_first_and_last():
    assert sheet_indices(150, 12)[0] == 0 and sheet_indices(150, 12)[-1] == 149
    assert len(sheet_indices(150, 12)) == 12
    assert sheet_indices(3, 12) == [0, 1, 2]


def test_track_video_counts_people_gaps_and_writes_a_sheet(tmp_path):
    video = _write_video(tmp_path / "clip.avi", 12)
    # person A in every frame; person B missing in frames 6-8 (its track coasts, then resumes)
    frames = []
    for i in range(12):
        boxes = [[20 + i, 30, 60 + i, 70]]
        if not 6 <= i <= 8:
            boxes.append([100, 40, 140, 80])
        frames.append(np.array(boxes, float))
    res = track_video(video, ScriptedEstimator(), ScriptedDetector(frames),
                      sheet_indices={0, 5, 11}, cfg=PipelineConfig(detect_every_n=1))
    s = summarise(res)
    assert s["frames"] == 12 and (s["width"], s["height"]) == (160, 120)
    assert s["frames_with_n_estimates"] == {"1": 3, "2": 9}
    assert s["track_ids"] == [1, 2]
    a, b = s["people"]["1"], s["people"]["2"]
    assert (a["first_frame"], a["last_frame"], a["frames_reported"], a["gaps"]) == (2, 11, 10, 0)
    assert (b["frames_reported"], b["gaps"]) == (7, 1)
    assert a["raw"]["trans_step_mm"]["n"] == 9
    assert sorted(res.sheet_frames) == [0, 5, 11]
    decoded = dict(read_frames(video))
    assert np.array_equal(res.sheet_frames[0], decoded[0])  # nobody reported yet
    assert (res.sheet_frames[5] != decoded[5]).any(axis=2).sum() > 100  # boxes, landmarks
    x0, y0, x1, y1 = people_region(res)
    assert 0 <= x0 < x1 <= 160 and 0 <= y0 < y1 <= 120
    sheet = contact_sheet(res.sheet_frames, cols=2, width=100, region=(x0, y0, x1, y1))
    assert sheet.shape[1] == 200 and sheet.shape[0] == 2 * round((y1 - y0) * 100 / (x1 - x0))


def test_cli_reports_a_missing_video(tmp_path, capsys):
    assert main(["--video", str(tmp_path / "nope.mp4"), "--weights", "x"]) == 2
    assert "nope.mp4" in capsys.readouterr().err


def test_cli_reports_an_undecodable_video(tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    assert main(["--video", str(bad), "--weights", "x"]) == 2
    assert "bad.mp4" in capsys.readouterr().err
