"""docs/RESULTS.md is rendered from the JSON files of scripts/results.sh, figures unchanged."""

from __future__ import annotations

import json

from head_pose_ros.train import results_md


def test_render_reads_every_figure_from_the_json(tmp_path) -> None:
    keys = [k for k, _ in results_md.POSE_COLS]
    selfie = {k: 1.0 + i for i, k in enumerate(keys)} | {"n": 400, "lmk_mean": None}
    (tmp_path / "selfie_test.json").write_text(json.dumps(selfie))
    (tmp_path / "aflw2000.json").write_text(json.dumps(
        {"n": 61, "n_missed": 0, "mae_yaw": 7.25, "mae_pitch": 6.5, "mae_roll": 4.75,
         "mae_r": 6.17, "ge": 11.5}))
    (tmp_path / "coverage.json").write_text(json.dumps(
        {"n_calib": 400, "calibration_set": "/x/wild_calib", "scale": [1] * 6,
         "sets": {"robot_test": {"n": 400, "coverage": {
             a: {"1sigma": 0.683, "2sigma": 0.954}
             for a in ("x", "y", "z", "rotX", "rotY", "rotZ")}}}}))
    text = results_md.render(tmp_path)
    row = next(line for line in text.splitlines() if line.startswith("| selfie_test"))
    assert row == "| selfie_test | 400 | " + " | ".join(
        "–" if k == "lmk_mean" else f"{1.0 + i:.2f}" for i, k in enumerate(keys)) + " |"
    assert "| 61/61 | 7.25 | 6.50 | 4.75 | 6.17 | 11.50 | – | – |" in text
    assert "| robot_test | 400 | 68.3 / 95.4 |" in text and "robot_test.json" not in text
    assert "no coverage.json" not in text


def _rot_summary(mae_r: float, offset_x: float = 0.0) -> dict:
    return {"mae_yaw": mae_r, "mae_pitch": mae_r, "mae_roll": mae_r, "mae_r": mae_r,
            "ge": 2 * mae_r, "bias_pitch": -mae_r / 2, "frame_offset_x": offset_x,
            "frame_offset_y": 0.5, "frame_offset_z": -0.25, "n": 60}


def test_synthetic_peers_and_frame_offsets(tmp_path) -> None:
    (tmp_path / "aflw2000.json").write_text(json.dumps(
        {"n": 61, "n_missed": 0, **_rot_summary(4.0, offset_x=-7.0)}))
    peer = {"n": 61, "n_detected": 58, "detected": _rot_summary(2.0, offset_x=-0.5),
            "misses_as_zero": _rot_summary(4.0)}
    synth = {"n": 400, "n_detected": 300, "detected": _rot_summary(6.0, offset_x=3.25),
             "misses_as_zero": _rot_summary(8.0)}
    (tmp_path / "aflw2000_peers.json").write_text(json.dumps(
        {"peers": {"mp": peer}, "synthetic": {"selfie_test": {"peers": {"mp": synth}}}}))
    text = results_md.render(tmp_path)
    # AFLW rows carry the pitch bias
    assert "| mp (own detector) | 58/61 | 2.00 | 2.00 | 2.00 | 2.00 | 4.00 | -1.00 | 4.00 / 8.00 |" in text
    # the peer's rotation on our synthetic crops
    assert "| selfie_test | mp | 300/400 | 6.00 | 6.00 | 6.00 | 6.00 | 12.00 |" in text
    # offsets, and the bridge: AFLW offset - synthetic offset of the same peer
    assert "| head_pose_ros (protocol box) | AFLW2000 | -7.00 | +0.50 | -0.25 |" in text
    assert "| mp | selfie_test | +3.25 | +0.50 | -0.25 |" in text
    assert "-3.8 deg (mp, selfie_test)" in text


def test_detector_row_ablation_table_and_video_section(tmp_path) -> None:
    (tmp_path / "aflw2000_detector.json").write_text(json.dumps(
        {"n": 61, "n_detected": 60, "detected": _rot_summary(5.5),
         "misses_as_zero": _rot_summary(6.25)}))
    abl = tmp_path / "ablation"
    abl.mkdir()
    for exp, seed, v in (("selfie", 0, 10.0), ("selfie", 1, 12.0), ("ablation_direct_T", 0, 300.0)):
        for s in ("selfie_val", "robot_val"):
            (abl / f"{exp}_s{seed}.{s}.json").write_text(json.dumps(
                {"mae_r": v, "ge": v, "mae_t": v, "add": v}))
    stats = {k: {"median": 1.5, "mean": 2.0, "p95": 4.0, "n": 10}
             for k in ("rot_step_deg", "trans_step_mm", "rot_accel_deg", "trans_accel_mm")}
    person = {"frames_reported": 148, "first_frame": 2, "last_frame": 149, "gaps": 0,
              "mean_distance_m": 3.25, "raw": stats, "filtered": stats,
              "lag_rot_deg": stats["rot_step_deg"], "lag_trans_mm": stats["trans_step_mm"]}
    (tmp_path / "video.json").write_text(json.dumps(
        {"video": "two.mp4", "frames": 150, "width": 1920, "height": 1080, "fps": 29.97,
         "focal_px": 3000.0, "track_ids": [1, 2], "frames_with_n_estimates": {"2": 150},
         "frames_with_n_reported": {"0": 2, "2": 148}, "people": {"1": person}}))
    text = results_md.render(tmp_path)
    assert "| 60/61 | 5.50 | 5.50 | 5.50 | 5.50 | 11.00 | -2.75 | 6.25 / 12.50 |" in text
    assert "| head_pose_ros (YuNet) | AFLW2000 | +0.00 | +0.50 | -0.25 |" in text
    trg = next(line for line in text.splitlines() if line.startswith("| 3 iterations (TRG)"))
    assert trg.startswith("| 3 iterations (TRG) (2) | 11.00 (10.00/12.00) |")
    assert "| T predicted directly (1) | 300.00 |" in text
    assert "2 faces: 150" in text and "0: 2, 2: 148" in text
    assert "| id 1 | 2-149 (148) | 0 | 3.25 | 1.50 / 4.00 -> 1.50 / 4.00 |" in text
