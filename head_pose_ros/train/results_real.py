"""docs/RESULTS.md sections on real faces in training (issue 12), from JSON files only.

Files (``docs/results/``): ``pseudolabels.json`` (:mod:`head_pose_ros.teacher.pseudolabel`
summary), ``teacher_validation.json`` (:mod:`head_pose_ros.teacher.validate`),
``detector_geometry.json`` (:mod:`head_pose_ros.train.detector_geometry`) and
``real_ablation/<arm>.<set>.json`` (``head-pose-eval`` of the two arms of
``scripts/real_ablation.sh``). Every file is required (:class:`.results_common.MissingResultError`
names the missing one and its command); sections measured with a model name the checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from head_pose_ros.train.results_common import MissingResultError, checkpoint_of, measured_on, need
from head_pose_ros.train.results_common import fmt as _f

PSEUDO_CMD = ("run `bash scripts/results.sh` with the pseudo-label file (scripts/train_real_mix.sh "
              "builds it)")

ABLATION_ARMS = (("synth_only", "synthetic only"), ("real_mix", "synthetic + real (aflw_crops)"))
ABLATION_SETS = (("aflw2000", "AFLW2000 MAE_r (protocol box)"),
                 ("aflw2000_detector", "AFLW2000 MAE_r (YuNet)"),
                 ("aflw_crops_val", "held-out real crops MAE_r (vs pseudo-labels)"),
                 ("selfie_test", "selfie MAE_r"), ("robot_test", "robot MAE_r"))


def _rot(r: dict[str, Any]) -> dict[str, Any]:
    """The detected-faces block of an AFLW2000 eval with boxes from a detector, else ``r``."""
    return r.get("detected", r)


def pseudolabel_section(s: dict[str, Any], v: dict[str, Any]) -> list[str]:
    out = [f"{s['crops']} crops of `real/aflw_crops`: the teacher (MediaPipe Face Landmarker) "
           f"found {s['teacher_found']}; kept **{s['kept_teacher_fit']} teacher fits** (3D "
           f"pseudo labels) and **{s['kept_human_only']} hand-landmark-only fits** (2D terms "
           f"only), rejected {s['rejected']}:", "",
           "| rejected because | crops |", "|---|---|"]
    for k, n in s["rejected_by_reason"].items():
        out.append(f"| {s['reject_rules'][k]} | {n} |")
    out += ["", f"Median residuals (x face size): hand landmarks {_f(s['median_res_human'], 3)}, "
            f"teacher landmarks {_f(s['median_res_teacher'], 3)}; teacher transform vs fit "
            f"rotation, median {_f(s['teacher_vs_fit_deg_median'])} deg.",
            f"Teacher frame -> ours: MediaPipe's canonical mesh, axes flipped to ours, aligned to "
            f"our mean face by a similarity (8 anatomical points, then ICP): rotation "
            f"**{_f(s['align_angle_deg'])} deg**, scale {_f(s['align_scale'], 3)}, anchor residual "
            f"{_f(s['align_anchor_residual_mm_mean'])} mm; {s['align_surface_points']} of its 468 "
            f"vertices tied to our surface (median {_f(s['align_surface_distance_mm_median'])} "
            f"mm away).", ""]
    if not v.get("fit_vs_gt"):
        raise MissingResultError("teacher_validation.json has no kept fits (fit_vs_gt): "
                                 "re-run `python -m head_pose_ros.teacher.validate`")
    f, t = v["fit_vs_gt"], v["teacher_transform_vs_gt"]
    out += ["The same pipeline on rendered faces with exact labels "
            f"(`{Path(v['data']).name}`, {v['crops']} crops, our exact intrinsics, no hand "
            f"landmarks; teacher found {v['teacher_found']}, fits kept {v['fit_kept']}):", "",
            "| rotation vs truth | n | yaw | pitch | roll | MAE_r | GE | head-frame offset "
            "x / y / z (deg) |", "|---|---|---|---|---|---|---|---|"]
    for name, r in (("fit (pseudo label)", f), ("teacher transform, aligned", t)):
        off = " / ".join(f"{r[f'frame_offset_{a}']:+.1f}" for a in "xyz")
        out.append(f"| {name} | {r['n']} | {_f(r['mae_yaw'])} | {_f(r['mae_pitch'])} | "
                   f"{_f(r['mae_roll'])} | {_f(r['mae_r'])} | {_f(r['ge'])} | {off} |")
    out += ["", "Offset = mean rotation vector of R_true^T R about our head axes (x: "
            "ear to ear). On rendered faces the teacher is itself off-distribution (it "
            "misses a third of them), so this bounds the label quality from below rather "
            "than measuring it on real faces.", ""]
    return out


def detector_section(d: dict[str, Any]) -> list[str]:
    if d.get("split") != "train":
        raise MissingResultError("detector_geometry.json was not measured on the training split "
                                 "only: re-run `python -m head_pose_ros.train.detector_geometry`"
                                 " (scripts/results.sh)")
    rows = [("crop side / YuNet box side (DETECTION_CROP_SCALE)", d["crop_scale"]),
            ("crop centre below YuNet centre / side (DETECTION_CROP_OFFSET_Y)",
             d["crop_offset_y"]),
            ("YuNet side / 68-extent side", d["yunet_ratio"]),
            ("YuNet centre - extent centre (y) / extent side", d["yunet_dy"]),
            ("Haar side / 68-extent side", d["cascade_ratio"]),
            ("Haar centre - extent centre (y) / extent side", d["cascade_dy"])]
    out = ["Detector-box constants, fitted on training data (the train split of "
           f"`real/aflw_crops`, {d['crops_used']} teacher-fitted crops with |yaw| <= "
           f"{d['max_yaw_deg']:.0f} deg, protocol box from the fitted 68 landmarks), never on the "
           "held-out crops or AFLW2000 (`python -m head_pose_ros.train.detector_geometry`; "
           "the constants in the code are these medians, test/test_detector_geometry.py):", "",
           "| quantity | n | median | IQR |", "|---|---|---|---|"]
    for name, st in rows:
        if not st.get("n"):
            out.append(f"| {name} | 0 | – | – |")
            continue
        out.append(f"| {name} | {st['n']} | {_f(st['median'], 3)} | "
                   f"{_f(st['iqr'][0], 3)}-{_f(st['iqr'][1], 3)} |")
    return out + [""]


def ablation_section(folder: Path) -> list[str]:
    """The two arms of ``scripts/real_ablation.sh`` on every set; the checkpoint of each arm."""
    how = "run `bash scripts/real_ablation.sh`"
    res = {(a, s): need(folder / f"{a}.{s}.json", how) for a, _ in ABLATION_ARMS
           for s, _ in ABLATION_SETS}
    out = ["| training mix | " + " | ".join(n for _, n in ABLATION_SETS)
           + " | AFLW2000 pitch bias (protocol) | checkpoint |",
           "|---|" + "---|" * (len(ABLATION_SETS) + 2)]
    for a, name in ABLATION_ARMS:
        cells = [_f(_rot(res[(a, s)]).get("mae_r")) for s, _ in ABLATION_SETS]
        bias = res[(a, "aflw2000")].get("bias_pitch")
        ckpts = sorted({checkpoint_of(res[(a, s)], f"{a}.{s}.json") for s, _ in ABLATION_SETS})
        out.append(f"| {name} | " + " | ".join(cells) + f" | {_f(bias)} | "
                   + ", ".join(f"`{w}`" for w in ckpts) + " |")
    return out + [""]


def render(results: Path, shipped: Path) -> list[str]:
    """The "Real faces in training" section (``shipped``: the shipped checkpoint)."""
    lines = ["## Real faces in training: pseudo-labelled `aflw_crops`", ""]
    lines += pseudolabel_section(need(results / "pseudolabels.json", PSEUDO_CMD),
                                 need(results / "teacher_validation.json"))
    lines += detector_section(need(results / "detector_geometry.json", PSEUDO_CMD))
    val = need(results / "aflw_crops_val.json", PSEUDO_CMD)
    lines += ["Held-out real crops (`aflw_crops` val split, "
              f"{val['n']} teacher-fitted crops never trained on; errors against their "
              "pseudo-labels, so they include the labels' own error; `head-pose-eval "
              f"--format aflw_crops`). {measured_on([('aflw_crops_val.json', val)], shipped)}",
              "",
              "| yaw | pitch | roll | MAE_r | GE | pitch bias |", "|---|---|---|---|---|---|",
              f"| {_f(val['mae_yaw'])} | {_f(val['mae_pitch'])} | {_f(val['mae_roll'])} | "
              f"{_f(val['mae_r'])} | {_f(val['ge'])} | {_f(val.get('bias_pitch'))} |", ""]
    lines += ["### Ablation: synthetic only vs synthetic + real, same steps", "",
              "Both arms fine-tune the stage-4 model with config/train/cpu_real_mix.yaml for the "
              "same number of steps (`bash scripts/real_ablation.sh`, 1000 by default, at the "
              "constant learning rate 1e-4 of that range) from the same start; the only "
              "difference is the sampling weight of the real source (0 vs 0.5). Uncalibrated "
              "fp32 checkpoints of their own (last column), not the shipped model, which is the "
              "real arm continued to 2500 steps; rotation MAE_r in degrees.", ""]
    lines += ablation_section(results / "real_ablation")
    return lines
