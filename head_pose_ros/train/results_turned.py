"""docs/RESULTS.md sections on turned heads and the per-face rotation uncertainty (issue 21).

Files (``docs/results/``), every one required (:class:`.results_common.MissingResultError` names the
missing one and its command):

* ``biwi_convention.json`` (:mod:`head_pose_ros.train.biwi_box` ``--convention``);
* ``biwi_crops_val.json``, ``aflw_crops_val.json``, ``aflw2000.json``,
  ``aflw2000_detector.json``: ``head-pose-eval`` outputs with their ``by_yaw`` bins;
* ``coverage.json``: :mod:`head_pose_ros.train.calibrate` (per-axis, head-axis and joint
  chi-square coverage, sigma by |yaw|) and ``sigma_vs_yaw.png``; ``sigma_probe.json``
  (:mod:`head_pose_ros.train.sigma_probe`);
* ``stage6_curve.json`` / ``.png``: :mod:`head_pose_ros.train.curve` of the stage-6 run;
* ``train_step.json``: :mod:`head_pose_ros.bench.train_step`;
* ``stage6_ablation/<arm>.<set>.json``: ``scripts/stage6_ablation.sh``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from head_pose_ros.train.results_common import (
    MissingResultError,
    checkpoint_of,
    is_shipped,
    measured_on,
    need,
    need_file,
)
from head_pose_ros.train.results_common import fmt as _f

BINS = ("0-30", "30-60", "60-90")
PROBE = ("clean", "blur", "occlusion", "small", "noise")
YAW_SETS = (("biwi_crops_val", "held-out BIWI sequences (true labels)"),
            ("aflw_crops_val", "held-out aflw_crops (vs teacher pseudo-labels)"),
            ("aflw2000", "AFLW2000 subset, protocol box"),
            ("aflw2000_detector", "AFLW2000 subset, YuNet (misses scored as R = I)"))
ARMS = (("full", "full mix (synthetic + aflw_crops + BIWI + rotated real, NLL head)"),
        ("no_rotated", "without the rotated real faces"),
        ("no_nll", "without the NLL uncertainty head"),
        ("no_biwi", "without BIWI"))
ABLATION_CMD = "run `bash scripts/stage6_ablation.sh` (FULL_CKPT=the main run's step checkpoint)"
CURVE_CMD = ("run `python -m head_pose_ros.train.curve --history runs/stage6/val_history.jsonl "
             "--plot docs/results/stage6_curve.png --json docs/results/stage6_curve.json`")
BENCH_CMD = ("run `python -m head_pose_ros.bench.train_step --config config/train/cpu_default.yaml "
             "--config config/train/cpu_stage6.yaml ... --json docs/results/train_step.json`")


def _bins(r: dict[str, Any]) -> dict[str, Any]:
    """The ``by_yaw`` of an eval (for a detector run: every sample, misses as R = I)."""
    b = r.get("by_yaw")
    if b is None:
        raise MissingResultError("an evaluation has no by_yaw bins: re-run head-pose-eval")
    return b


def _cell(b: dict[str, Any], k: str) -> str:
    v = b.get(k, {})
    return f"{_f(v.get('mae_r'))} ({v.get('n', 0)})" if v.get("n") else "–"


def yaw_section(results: Path, shipped: Path) -> list[str]:
    named = [(n, need(results / f"{n}.json")) for n, _ in YAW_SETS]
    conv = need(results / "biwi_convention.json")
    med = ", ".join(f"{k} {_f(v, 1)}" for k, v in conv["median_geodesic_deg"].items())
    out = ["## Turned heads: rotation error by |yaw|", "",
           "MAE_r in degrees (faces in the bin) by ground-truth |yaw|; ratio = 60-90 / 0-30. "
           "BIWI crops are framed as the node frames a YuNet box (`data/biwi_crops.py`). The "
           f"labels' rotation convention, checked on {conv['n']} training crops with "
           f"`{checkpoint_of(conv, 'biwi_convention.json')}` (a model that never saw BIWI): "
           f"median geodesic error {med} deg; best: {conv['best']}. "
           + measured_on([(f"{n}.json", r) for n, r in named], shipped), "",
           "| set | n | all | " + " | ".join(f"\\|yaw\\| {b}" for b in BINS) + " | ratio |",
           "|---|---|---|" + "---|" * len(BINS) + "---|"]
    for (_, label), (_, r) in zip(YAW_SETS, named, strict=True):
        b = _bins(r)
        lo, hi = b.get("0-30", {}).get("mae_r"), b.get("60-90", {}).get("mae_r")
        ratio = _f(hi / lo) if lo and hi else "–"
        out.append(f"| {label} | {r['n']} | {_f(r.get('mae_r'))} | "
                   + " | ".join(_cell(b, k) for k in BINS) + f" | {ratio} |")
    return out + [""]


def uncertainty_section(results: Path, shipped: Path) -> list[str]:
    """Coverage of the shipped calibration; refused when coverage.json holds other scales."""
    from head_pose_ros.checkpoint import read_checkpoint_metadata

    cov = need(results / "coverage.json", "run `bash scripts/results.sh CHECKPOINT` "
                "(calibration)")
    need_file(results / "sigma_vs_yaw.png")
    stored = read_checkpoint_metadata(shipped).get("meta", {}).get("covariance", {})
    for key in ("scale", "rot_head_scale"):
        a = [float(x) for x in cov.get(key, [])]
        b = [float(x) for x in stored.get(key, [])]
        if len(a) != len(b) or any(abs(x - y) > 1e-6 * max(1.0, abs(x))
                                   for x, y in zip(a, b, strict=True)):
            raise MissingResultError(f"coverage.json's {key} {a} are not those of {shipped} "
                                     f"({b}): it was measured on another checkpoint; run "
                                     "`bash scripts/results.sh CHECKPOINT`")
    cal = cov["calibration"]
    rot_sets = " + ".join(f"{s['n']} `{s['set']}`" for s in cal["rotation"]["sets"])
    out = ["## Per-face rotation uncertainty and covariance calibration", "",
           f"Measured on the shipped model (its stored scales are these; calibrated from "
           f"`{cov['weights']}`). Translation scales fitted on {cal['translation']['n']} "
           f"`{cal['translation']['set']}` faces; per-face rotation sigmas (head axes) scaled on "
           f"{rot_sets} (head scales {', '.join(_f(k, 3) for k in cov['rot_head_scale'])}). "
           "Fraction of errors inside the 1-sigma / 2-sigma bounds (nominal 68.3 / 95.4 %); "
           "joint = the rotation block's chi-square (3 dof) bounds; sets marked * were used in "
           "the calibration:", "",
           "| set | n | x | y | z | rot X | rot Y | rot Z | head x | head y | head z | joint "
           "| sigma ratio \\|yaw\\|>60 / <30 | corr(sigma, error) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def pair(c: dict[str, Any] | None) -> str:
        return "–" if not c else f"{100 * c['1sigma']:.1f} / {100 * c['2sigma']:.1f}"

    for name, s in cov["sets"].items():
        c, rot = s["coverage"], s["rotation"]
        head = rot.get("head_axes", {})
        out.append(f"| {name}{' *' if s.get('in_calibration') else ''} | {s['n']} | "
                   + " | ".join(pair(c.get(a)) for a in ("x", "y", "z", "rotX", "rotY", "rotZ"))
                   + " | " + " | ".join(pair(head.get(a)) for a in ("head_x", "head_y",
                                                                        "head_z"))
                   + f" | {pair(rot['joint_chi2_3dof'])} | {_f(rot.get('sigma_ratio_60_vs_30'))}"
                   f" | {_f(rot.get('sigma_error_corr'))} |")
    out += ["", "Predicted rotation sigma (sqrt of the trace of the rotation block, deg) against "
            "the actual error, by ground-truth |yaw|:", "",
            "| set | " + " | ".join(f"\\|yaw\\| {b}: sigma / RMS error (n)" for b in BINS) + " |",
            "|---|" + "---|" * len(BINS)]
    for name, s in cov["sets"].items():
        by = s["rotation"]["by_yaw"]
        out.append(f"| {name} | " + " | ".join(
            f"{_f(by[b]['mean_sigma_deg'])} / {_f(by[b]['rms_error_deg'])} ({by[b]['n']})"
            if b in by else "–" for b in BINS) + " |")
    out += ["", "![sigma vs yaw](results/sigma_vs_yaw.png)", ""]
    probe = need(results / "sigma_probe.json")
    out += ["The same sigma on degraded crops (`python -m head_pose_ros.train.sigma_probe`: "
            "blur 2.5 % of the crop side, the lower-left quarter occluded, the crop through "
            "24 px, pixel noise): mean sigma / mean geodesic error in degrees, and both as "
            "ratios to the clean crops. " + measured_on([("sigma_probe.json", probe)], shipped),
            "", "| set | " + " | ".join(PROBE) + " |", "|---|" + "---|" * len(PROBE)]
    for name, r in probe["sets"].items():
        out.append(f"| {name} (n={r['n']}) | " + " | ".join(
            f"{_f(r[c]['mean_sigma_deg'])} / {_f(r[c]['mean_error_deg'])} "
            f"(x{_f(r[c]['sigma_ratio'])} / x{_f(r[c]['error_ratio'])})" for c in PROBE) + " |")
    return out + [""]


def training_section(results: Path) -> list[str]:
    c = need(results / "stage6_curve.json", CURVE_CMD)
    need_file(results / "stage6_curve.png", CURVE_CMD)
    b = need(results / "train_step.json", BENCH_CMD)
    every = c["steps"][1] - c["steps"][0] if len(c["steps"]) > 1 else "?"
    out = ["## Stage 6 training: validation curve and step throughput", "",
           f"Validation MAE_r (deg) of `{c['history']}` every {every} steps ({c['flat_rule']}: "
           "flat or not), never AFLW2000:", "",
           "| set | " + " | ".join(str(s) for s in c["steps"]) + " | flat |",
           "|---|" + "---|" * (len(c["steps"]) + 1)]
    for name, s in c["sets"].items():
        out.append(f"| {name} | " + " | ".join(_f(m) for m in s["mae_r"])
                   + f" | {'yes' if s['flat'] else 'no'} |")
    out += ["", "![stage-6 curve](results/stage6_curve.png)", "",
            f"One training step (batch {b['batch_size']}, forward + losses + backward + Adam) on "
            f"this 2-core machine, one run (`python -m head_pose_ros.bench.train_step`); "
            f"building one batch in one process takes {_f(b['data_ms_per_batch'], 0)} ms (the "
            "trainer's worker builds the next batch during the step):", "",
            "| variant | ms/step | steps/s | vs before |", "|---|---|---|---|"]
    for r in b["rows"]:
        out.append(f"| {r['variant']} | {_f(r['ms_per_step'], 0)} | {_f(r['steps_per_s'])} | "
                   f"{_f(r['ratio_to_trainer'])} |")
    return out + [""]


def ablation_section(results: Path, shipped: Path) -> list[str]:
    folder = results / "stage6_ablation"
    sets = ("biwi_crops_val", "aflw_crops_val", "aflw2000", "aflw2000_detector", "selfie_test",
            "robot_test")
    out = ["## Stage 6 ablation (same steps, same schedule)", "",
           "MAE_r in degrees; BIWI and aflw_crops by |yaw| bin (0-30 / 30-60 / 60-90) and all. "
           "Measured on each arm's own checkpoint, not the shipped model. The NLL head's inputs "
           "are detached, so it cannot change the pose except through the random streams (one seed "
           "per arm: its difference to the full arm shows the run-to-run noise). The YuNet column "
           "was measured with `DETECTION_CROP_OFFSET_Y` = 0.085, before its re-fit to 0.084.", "",
           "| arm | BIWI val bins | BIWI all | aflw val bins | aflw all | AFLW2000 | AFLW2000 "
           "YuNet | selfie | robot | checkpoint |", "|---|---|---|---|---|---|---|---|---|---|"]
    for arm, label in ARMS:
        r = {s: need(folder / f"{arm}.{s}.json", ABLATION_CMD) for s in sets}
        w = checkpoint_of(r["biwi_crops_val"], f"{arm}.biwi_crops_val.json")
        if is_shipped(w, shipped):
            raise MissingResultError(f"ablation arm {arm} was measured on the shipped model")

        def bins(x: dict[str, Any]) -> str:
            b = _bins(x)
            return " / ".join(_f(b.get(k, {}).get("mae_r")) for k in BINS)

        det = r["aflw2000_detector"].get("detected", r["aflw2000_detector"])
        out.append(f"| {label} | {bins(r['biwi_crops_val'])} | {_f(r['biwi_crops_val']['mae_r'])}"
                   f" | {bins(r['aflw_crops_val'])} | {_f(r['aflw_crops_val']['mae_r'])} | "
                   f"{_f(r['aflw2000']['mae_r'])} | {_f(det.get('mae_r'))} | "
                   f"{_f(r['selfie_test']['mae_r'])} | {_f(r['robot_test']['mae_r'])} | `{w}` |")
    return out + [""]


def render(results: Path, shipped: Path) -> list[str]:
    return (yaw_section(results, shipped) + uncertainty_section(results, shipped)
            + training_section(results) + ablation_section(results, shipped))
