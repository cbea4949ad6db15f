"""docs/RESULTS.md is rendered from the JSON files of scripts/results.sh, figures unchanged; a
missing input fails loudly; sections say which checkpoint they were measured on."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from head_pose_ros.train import results_md, results_real

REPO = Path(__file__).resolve().parents[1]
SHIPPED_SCALE = [1.5, 1.25, 2.0, 1.0, 1.125, 0.75]
HEAD_SCALE = [0.875, 1.25, 0.5]


def _by_yaw(mae_r: float) -> dict:
    return {"by_yaw": {"0-30": {"n": 40, "mae_r": mae_r}, "30-60": {"n": 15, "mae_r": 2 * mae_r},
                       "60-90": {"n": 5, "mae_r": 3 * mae_r}, "90-180": {"n": 0, "mae_r": None}}}


def _rot_summary(mae_r: float, offset_x: float = 0.0) -> dict:
    return {"mae_yaw": mae_r, "mae_pitch": mae_r, "mae_roll": mae_r, "mae_r": mae_r,
            "ge": 2 * mae_r, "bias_pitch": -mae_r / 2, "frame_offset_x": offset_x,
            "frame_offset_y": 0.5, "frame_offset_z": -0.25, "n": 60}


def _write(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _checkpoint(path: Path, scale: list[float]) -> Path:
    """A header-only checkpoint (metadata is all the page reads)."""
    import torch
    from safetensors.torch import save_file

    from head_pose_ros import checkpoint

    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"covariance": {"scale": scale, "rot_head_scale": HEAD_SCALE,
                           "calibration_note": "fitted on 4 samples"},
            "training": {"step": 7, "epoch": 1}}
    save_file({"x": torch.zeros(1)}, str(path), metadata={
        "format": checkpoint.FORMAT, "format_version": checkpoint.FORMAT_VERSION,
        "config": json.dumps({"backbone": "mobilenet", "num_iterations": 3}),
        "meta": json.dumps(meta)})
    return path


def _complete(root: Path) -> tuple[Path, Path]:
    """Every input of the page (results folder, shipped checkpoint), minimal but valid."""
    res = root / "results"
    weights = _checkpoint(root / "weights" / "head_pose_trg.safetensors", SHIPPED_SCALE)
    shipped = {"weights": str(weights)}
    keys = [k for k, _ in results_md.POSE_COLS]
    for name in ("selfie_test", "robot_test"):
        _write(res / f"{name}.json", {**{k: 1.0 for k in keys}, **_rot_summary(1.0), "n": 400,
                                      **shipped})
        (res / f"plots_{name}").mkdir(parents=True)
        (res / f"plots_{name}" / "cumulative_errors.png").write_bytes(b"png")
    _write(res / "aflw2000.json", {"n": 61, "n_missed": 0, **_rot_summary(4.0), **shipped,
                                   **_by_yaw(4.0)})
    _write(res / "aflw2000_detector.json", {"n": 61, "n_detected": 60, **shipped,
                                            "detected": _rot_summary(5.5),
                                            "misses_as_zero": _rot_summary(6.25),
                                            **_by_yaw(5.5)})
    _write(res / "biwi_crops_val.json", {**_rot_summary(2.5), "n": 2481, **shipped,
                                         **_by_yaw(2.5)})
    peer = {"n": 61, "n_detected": 58, "detected": _rot_summary(2.0),
            "misses_as_zero": _rot_summary(4.0)}
    _write(res / "aflw2000_peers.json", {"peers": {"mp": peer},
                                         "synthetic": {"selfie_test": {"peers": {"mp": peer}}}})
    cover = {"1sigma": 0.683, "2sigma": 0.954}
    rot = {"joint_chi2_3dof": cover, "head_axes": {a: cover for a in ("head_x", "head_y",
                                                                      "head_z")},
           "sigma_error_corr": 0.5, "sigma_ratio_60_vs_30": 2.0,
           "by_yaw": {"0-30": {"n": 10, "mean_sigma_deg": 3.0, "rms_error_deg": 3.5}}}
    _write(res / "coverage.json", {
        "weights": "runs/stage6/model.safetensors", "scale": SHIPPED_SCALE,
        "rot_head_scale": HEAD_SCALE,
        "calibration": {"translation": {"set": "wild_calib", "n": 400},
                        "rotation": {"sets": [{"set": "wild_calib", "n": 400},
                                              {"set": "aflw_crops_val", "n": 700}]}},
        "sets": {"robot_test": {"n": 400, "in_calibration": False, "rotation": rot,
                                "coverage": {a: cover for a in ("x", "y", "z", "rotX", "rotY",
                                                                "rotZ")}}}})
    (res / "sigma_vs_yaw.png").write_bytes(b"png")
    _write(res / "biwi_convention.json", {
        "weights": "outputs/stage5_head_pose_trg.safetensors", "n": 329, "best": "stored R",
        "median_geodesic_deg": {"stored R": 7.25, "R^T": 68.75}})
    cond = {c: {"mean_sigma_deg": 4.0, "mean_error_deg": 5.0, "sigma_ratio": 1.5,
                "error_ratio": 2.0} for c in ("clean", "blur", "occlusion", "small", "noise")}
    _write(res / "sigma_probe.json", {**shipped, "sets": {"selfie_test": {"n": 400, **cond}}})
    _write(res / "stage6_curve.json", {
        "history": "runs/stage6/val_history.jsonl", "steps": [500, 1000],
        "flat_rule": "last 3 validations within 0.1 deg",
        "sets": {"biwi_crops": {"mae_r": [3.0, 2.9], "by_yaw": {}, "flat": False}}})
    (res / "stage6_curve.png").write_bytes(b"png")
    _write(res / "train_step.json", {"batch_size": 32, "data_ms_per_batch": 300.0, "rows": [
        {"variant": "trainer as run", "ms_per_step": 800.0, "steps_per_s": 1.25,
         "ratio_to_trainer": 1.0}]})
    from head_pose_ros.train import results_turned

    for arm, _ in results_turned.ARMS:
        for s in ("biwi_crops_val", "aflw_crops_val", "aflw2000", "aflw2000_detector",
                  "selfie_test", "robot_test"):
            _write(res / "stage6_ablation" / f"{arm}.{s}.json",
                   {**_rot_summary(3.0), **_by_yaw(3.0),
                    "weights": f"runs/abl_{arm}/model.safetensors"})
    stats = {k: {"median": 1.5, "mean": 2.0, "p95": 4.0, "n": 10}
             for k in ("rot_step_deg", "trans_step_mm", "rot_accel_deg", "trans_accel_mm")}
    person = {"frames_reported": 148, "first_frame": 2, "last_frame": 149, "gaps": 0,
              "mean_distance_m": 3.25, "raw": stats, "filtered": stats,
              "lag_rot_deg": stats["rot_step_deg"], "lag_trans_mm": stats["trans_step_mm"]}
    _write(res / "video.json", {
        "video": "two.mp4", "frames": 150, "width": 1920, "height": 1080, "fps": 29.97,
        "focal_px": 3000.0, "track_ids": [1, 2], "frames_with_n_estimates": {"2": 150},
        "frames_with_n_reported": {"0": 2, "2": 148}, "people": {"1": person},
        "weights": "head_pose_trg.safetensors", "backend": "onnxruntime"})
    (res / "video_sheet.jpg").write_bytes(b"jpg")
    (res / "video_poses.png").write_bytes(b"png")
    _write(res / "pseudolabels.json", {
        "crops": 100, "teacher_found": 90, "kept_teacher_fit": 80, "kept_human_only": 10,
        "rejected": 10, "rejected_by_reason": {"r": 10}, "reject_rules": {"r": "rule r"},
        "median_res_human": 0.04, "median_res_teacher": 0.02, "teacher_vs_fit_deg_median": 3.5,
        "align_angle_deg": 2.5, "align_scale": 0.95, "align_anchor_residual_mm_mean": 6.0,
        "align_surface_points": 462, "align_surface_distance_mm_median": 1.0})
    _write(res / "teacher_validation.json", {
        "data": "/x/wild_val", "crops": 400, "teacher_found": 250, "fit_kept": 130,
        "fit_vs_gt": _rot_summary(5.0), "teacher_transform_vs_gt": _rot_summary(11.0)})
    st = {"n": 2976, "median": 1.25, "iqr": [1.125, 1.375]}
    _write(res / "detector_geometry.json", {
        "split": "train", "crops_used": 3000, "max_yaw_deg": 45.0,
        **{k: st for k in ("crop_scale", "crop_offset_y", "yunet_ratio", "yunet_dy",
                           "cascade_ratio", "cascade_dy")}})
    _write(res / "aflw_crops_val.json", {**_rot_summary(3.5), "n": 716, **shipped,
                                         **_by_yaw(3.5)})
    for arm, _ in results_real.ABLATION_ARMS:
        for s, _ in results_real.ABLATION_SETS:
            r = {**_rot_summary(3.0), "weights": f"runs/real_ablation/{arm}/model.safetensors"}
            _write(res / "real_ablation" / f"{arm}.{s}.json",
                   {**r, "detected": _rot_summary(3.25)} if "detector" in s else r)
    for exp, _ in results_md.ABLATION_ROWS:
        for seed in (0, 1):
            for s in ("selfie_val", "robot_val"):
                run = exp if seed == 0 else f"{exp}_s1"
                _write(res / "ablation" / f"{exp}_s{seed}.{s}.json",
                       {"mae_r": 10.0 + seed, "ge": 20.0, "mae_t": 30.0, "add": 40.0,
                        "weights": f"/tmp/abl/runs/{run}/model.safetensors"})
    return res, weights


@pytest.fixture()
def complete(tmp_path):
    return _complete(tmp_path)


def test_render_reads_every_figure_from_the_json(complete) -> None:
    res, weights = complete
    keys = [k for k, _ in results_md.POSE_COLS]
    selfie = {k: 1.0 + i for i, k in enumerate(keys)} | {"n": 400, "lmk_mean": None,
                                                          "weights": str(weights)}
    _write(res / "selfie_test.json", selfie)
    _write(res / "aflw2000.json", {"n": 61, "n_missed": 0, "mae_yaw": 7.25, "mae_pitch": 6.5,
                                   "mae_roll": 4.75, "mae_r": 6.17, "ge": 11.5,
                                   "weights": str(weights), **_by_yaw(6.0)})
    text = results_md.render(res, weights)
    row = next(line for line in text.splitlines() if line.startswith("| selfie_test |"))
    assert row == "| selfie_test | 400 | " + " | ".join(
        "–" if k == "lmk_mean" else f"{1.0 + i:.2f}" for i, k in enumerate(keys)) + " |"
    assert "| 61/61 | 7.25 | 6.50 | 4.75 | 6.17 | 11.50 | – | – |" in text
    assert "| robot_test | 400 | 68.3 / 95.4 |" in text


def test_synthetic_peers_and_frame_offsets(complete) -> None:
    res, weights = complete
    _write(res / "aflw2000.json", {"n": 61, "n_missed": 0, **_rot_summary(4.0, offset_x=-7.0),
                                   "weights": str(weights), **_by_yaw(4.0)})
    peer = {"n": 61, "n_detected": 58, "detected": _rot_summary(2.0, offset_x=-0.5),
            "misses_as_zero": _rot_summary(4.0)}
    synth = {"n": 400, "n_detected": 300, "detected": _rot_summary(6.0, offset_x=3.25),
             "misses_as_zero": _rot_summary(8.0)}
    _write(res / "aflw2000_peers.json",
           {"peers": {"mp": peer}, "synthetic": {"selfie_test": {"peers": {"mp": synth}}}})
    text = results_md.render(res, weights)
    # AFLW rows carry the pitch bias
    assert "| mp (own detector) | 58/61 | 2.00 | 2.00 | 2.00 | 2.00 | 4.00 | -1.00 | 4.00 / 8.00 |" in text
    # the peer's rotation on our synthetic crops
    assert "| selfie_test | mp | 300/400 | 6.00 | 6.00 | 6.00 | 6.00 | 12.00 |" in text
    # offsets, and the bridge: AFLW offset - synthetic offset of the same peer
    assert "| head_pose_ros (protocol box) | AFLW2000 | -7.00 | +0.50 | -0.25 |" in text
    assert "| mp | selfie_test | +3.25 | +0.50 | -0.25 |" in text
    assert "-3.8 deg (mp, selfie_test)" in text


def test_detector_row_ablation_table_and_video_section(complete) -> None:
    res, weights = complete
    abl = res / "ablation"
    for exp, seed, v in (("selfie", 0, 10.0), ("selfie", 1, 12.0), ("ablation_direct_T", 0, 300.0),
                         ("ablation_direct_T", 1, 300.0)):
        for s in ("selfie_val", "robot_val"):
            _write(abl / f"{exp}_s{seed}.{s}.json", {"mae_r": v, "ge": v, "mae_t": v, "add": v,
                                                     "weights": f"/tmp/abl/{exp}{seed}/m.pt"})
    text = results_md.render(res, weights)
    assert "| 60/61 | 5.50 | 5.50 | 5.50 | 5.50 | 11.00 | -2.75 | 6.25 / 12.50 |" in text
    assert "| head_pose_ros (YuNet) | AFLW2000 | +0.00 | +0.50 | -0.25 |" in text
    trg = next(line for line in text.splitlines() if line.startswith("| 3 iterations (TRG)"))
    assert trg.startswith("| 3 iterations (TRG) (2) | 11.00 (10.00/12.00) |")
    assert trg.endswith("| selfie0, selfie1 |")
    assert "| T predicted directly (2) | 300.00 (300.00/300.00) |" in text
    assert "2 faces: 150" in text and "0: 2, 2: 148" in text
    assert "| id 1 | 2-149 (148) | 0 | 3.25 | 1.50 / 4.00 -> 1.50 / 4.00 |" in text


def _inputs(res: Path) -> list[Path]:
    return sorted(p for p in res.rglob("*") if p.is_file())


def test_every_missing_input_fails_loudly(complete, tmp_path, capsys) -> None:
    """No section is left out quietly: without any one input file (or the shipped checkpoint)
    render raises MissingResultError naming it, and the command exits 1 with that message and
    writes no page. (Before, a missing file dropped its section or printed a placeholder.)"""
    res, weights = complete
    results_md.render(res, weights)  # the complete set renders
    out = tmp_path / "RESULTS.md"
    for p in [*_inputs(res), weights]:
        data = p.read_bytes()
        p.unlink()
        try:
            with pytest.raises(results_md.MissingResultError) as exc:
                results_md.render(res, weights)
            msg = str(exc.value)
            named = p.parent.name if "plots_" in str(p) else p.name
            assert named in msg or p.name.split(".")[0] in msg, (p, msg)
            assert results_md.main(["--results", str(res), "--out", str(out),
                                    "--weights", str(weights)]) == 1
            assert "[results_md] error" in capsys.readouterr().err and not out.exists()
        finally:
            p.write_bytes(data)
    # a tiny-ablation row with a seed on one set only is incomplete, too
    (res / "ablation" / "selfie_s1.robot_val.json").unlink()
    with pytest.raises(results_md.MissingResultError, match="same seeds"):
        results_md.render(res, weights)


def test_sections_say_which_checkpoint_they_were_measured_on(complete) -> None:
    """Results of the shipped model say so; a section measured on another checkpoint names it
    (ablations: a checkpoint column); a result file that records no checkpoint, or a coverage
    report of another calibration than the shipped one, stops the page."""
    res, weights = complete
    text = results_md.render(res, weights)
    assert text.count("Measured on the shipped model (`weights/head_pose_trg.safetensors`)") >= 4
    real = next(line for line in text.splitlines() if line.startswith("| synthetic only |"))
    assert real.endswith("| `runs/real_ablation/synth_only/model.safetensors` |")
    assert "Measured on the ablation's own checkpoints, not the shipped model" in text
    assert "| 1 iteration (2) |" in text and "ablation_iter1, ablation_iter1_s1 |" in text
    # the held-out crops measured on another model: named, not passed off as the shipped one
    _write(res / "aflw_crops_val.json", {**_rot_summary(3.5), "n": 716, **_by_yaw(3.5),
                                         "weights": "runs/other/model.safetensors"})
    _write(res / "aflw2000.json", {"n": 61, "n_missed": 0, **_rot_summary(4.0), **_by_yaw(4.0),
                                   "weights": "runs/other/model.safetensors"})
    text = results_md.render(res, weights)
    assert "Measured on `runs/other/model.safetensors` (not the shipped model)." in text
    assert "| head_pose_ros (checkpoint `runs/other/model.safetensors`; box from" in text
    # no checkpoint recorded
    _write(res / "aflw_crops_val.json", {**_rot_summary(3.5), "n": 716, **_by_yaw(3.5)})
    with pytest.raises(results_md.MissingResultError, match="records no checkpoint"):
        results_md.render(res, weights)
    _write(res / "aflw_crops_val.json", {**_rot_summary(3.5), "n": 716, **_by_yaw(3.5),
                                         "weights": str(weights)})
    # coverage of another calibration
    cov = json.loads((res / "coverage.json").read_text())
    _write(res / "coverage.json", {**cov, "scale": [1.0] * 6})
    with pytest.raises(results_md.MissingResultError, match="another checkpoint"):
        results_md.render(res, weights)
    # the detector constants' measurement must be the training-split one
    _write(res / "coverage.json", cov)
    geo = json.loads((res / "detector_geometry.json").read_text())
    _write(res / "detector_geometry.json", {k: v for k, v in geo.items() if k != "split"})
    with pytest.raises(results_md.MissingResultError, match="training split"):
        results_md.render(res, weights)


def test_results_sh_never_skips_a_section_quietly() -> None:
    """Every file test in scripts/results.sh either exits non-zero with a message or is the
    render cache (return 0 when the set exists); no `if [ -f ...]; else echo` branch."""
    text = (REPO / "scripts" / "results.sh").read_text()
    code = "\n".join(line.split("#")[0] for line in text.splitlines())
    assert not re.search(r"^\s*else\b", code, re.M), "an else branch skips something"
    for m in re.finditer(r"\[ -[fxd] [^\]]+\]", code):
        rest = code[m.end():m.end() + 300]
        stmt = rest[:rest.find("}") + 1] if rest.lstrip().startswith(("||", "&&")) else ""
        assert "exit 1" in stmt or stmt.lstrip().startswith("&& return 0"), m.group(0)
    assert "results_md" in code and "NOT written" in code


def test_turned_heads_uncertainty_and_stage6_sections(complete) -> None:
    """The issue-21 sections read their figures from the JSON: error by |yaw| with the 60-90 /
    0-30 ratio, head-axis and joint coverage, sigma by |yaw|, the curve, the step bench and
    the same-steps ablation (each arm on its own checkpoint); a coverage report with other
    rotation scales than the shipped checkpoint's is refused."""
    res, weights = complete
    text = results_md.render(res, weights)
    row = next(line for line in text.splitlines()
               if line.startswith("| held-out BIWI sequences"))
    assert row == ("| held-out BIWI sequences (true labels) | 2481 | 2.50 | 2.50 (40) | 5.00 (15) "
                   "| 7.50 (5) | 3.00 |")
    cov = next(line for line in text.splitlines() if line.startswith("| robot_test | 400 | 68"))
    assert cov.endswith("| 68.3 / 95.4 | 68.3 / 95.4 | 2.00 | 0.50 |")
    assert "| robot_test | 3.00 / 3.50 (10) | – | – |" in text
    assert "| biwi_crops | 3.00 | 2.90 | no |" in text
    assert "| trainer as run | 800 | 1.25 | 1.00 |" in text
    assert "median geodesic error stored R 7.2, R^T 68.8 deg; best: stored R" in text
    assert "| selfie_test (n=400) | 4.00 / 5.00 (x1.50 / x2.00) |" in text
    abl = next(line for line in text.splitlines() if line.startswith("| without BIWI |"))
    assert abl.startswith("| without BIWI | 3.00 / 6.00 / 9.00 | 3.00 |")
    assert abl.endswith("| `runs/abl_no_biwi/model.safetensors` |")
    c = json.loads((res / "coverage.json").read_text())
    _write(res / "coverage.json", {**c, "rot_head_scale": [1.0, 1.0, 1.0]})
    with pytest.raises(results_md.MissingResultError, match="rot_head_scale"):
        results_md.render(res, weights)
