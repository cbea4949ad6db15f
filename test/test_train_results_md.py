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
    assert "| 61/61 | 7.25 | 6.50 | 4.75 | 6.17 | 11.50 |" in text
    assert "| robot_test | 400 | 68.3 / 95.4 |" in text and "robot_test.json" not in text
    assert "no coverage.json" not in text
