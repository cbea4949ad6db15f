"""Write docs/RESULTS.md from the JSON files that ``scripts/results.sh`` produced.

``python -m head_pose_ros.train.results_md --results docs/results --out docs/RESULTS.md
--weights weights/head_pose_trg.safetensors``. Every figure in the page comes from those files;
nothing is typed in by hand. Every section's inputs are required: a missing file (or one that
records no checkpoint) stops the page with :class:`MissingResultError` (exit 1, the message names
the file and the command that writes it), never a quietly shorter page. Every section measured
with a model says on which checkpoint (:func:`measured_on`), and whether it is the shipped one
(``--weights``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from head_pose_ros.train import results_real, results_turned
from head_pose_ros.train.results_common import (
    RESULTS_CMD,
    MissingResultError,
    checkpoint_of,
    fmt,
    fmt_signed,
    is_shipped,
    measured_on,
    need,
    need_file,
)

POSE_COLS = [("mae_yaw", "yaw"), ("mae_pitch", "pitch"), ("mae_roll", "roll"), ("mae_r", "MAE_r"),
             ("ge", "GE"), ("mae_tx", "tx"), ("mae_ty", "ty"), ("mae_tz", "tz"),
             ("mae_t", "MAE_t"), ("add", "ADD"), ("lmk_median", "lmk med"),
             ("lmk_mean", "lmk mean")]


def pose_table(rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    head = "| set | n | " + " | ".join(c for _, c in POSE_COLS) + " |"
    out = [head, "|" + "---|" * (len(POSE_COLS) + 2)]
    for name, r in rows:
        out.append(f"| {name} | {r['n']} | " + " | ".join(fmt(r.get(k)) for k, _ in POSE_COLS)
                   + " |")
    return out


def aflw_table(ours: dict[str, Any], peers: dict[str, Any], ours_detector: dict[str, Any],
               shipped: Path) -> list[str]:
    out = ["| method | faces found | yaw | pitch | roll | MAE_r | GE | pitch bias "
           "| MAE_r / GE, misses as (0,0,0) |", "|---|---|---|---|---|---|---|---|---|"]
    keys = ("mae_yaw", "mae_pitch", "mae_roll", "mae_r", "ge")

    def cells(r: dict[str, Any]) -> str:
        return " | ".join([*(fmt(r.get(k)) for k in keys), fmt_signed(r.get("bias_pitch"))])

    def model(r: dict[str, Any], name: str) -> str:
        w = checkpoint_of(r, name)
        return "shipped model" if is_shipped(w, shipped) else f"checkpoint `{w}`"

    out.append(f"| head_pose_ros ({model(ours, 'aflw2000.json')}; box from the 68 labelled "
               f"landmarks) | {ours['n'] - ours.get('n_missed', 0)}/{ours['n']} | {cells(ours)} "
               "| – |")
    rows = [(f"head_pose_ros ({model(ours_detector, 'aflw2000_detector.json')}, YuNet detector, "
             "like the node)", ours_detector)]
    rows += [(f"{name} (own detector)", p) for name, p in peers["peers"].items()]
    for name, p in rows:
        d, z = p["detected"], p["misses_as_zero"]
        out.append(f"| {name} | {p['n_detected']}/{p['n']} | {cells(d)} | "
                   f"{fmt(z['mae_r'])} / {fmt(z['ge'])} |")
    return out


def synthetic_peer_table(peers: dict[str, Any]) -> list[str]:
    """The MediaPipe peers on our synthetic test crops (rotation only)."""
    synth = peers.get("synthetic")
    if not synth:
        raise MissingResultError("aflw2000_peers.json has no synthetic sets: run the peers "
                                 "with --synthetic (scripts/results.sh does)")
    keys = ("mae_yaw", "mae_pitch", "mae_roll", "mae_r", "ge")
    out = ["The MediaPipe peers on the same crops (their own face detection in the crop, "
           "solvePnP with the crop's exact intrinsics; rotation only, faces they find):", "",
           "| set | peer | faces found | yaw | pitch | roll | MAE_r | GE |",
           "|---|---|---|---|---|---|---|---|"]
    for name, res in synth.items():
        for peer, p in res["peers"].items():
            out.append(f"| {name} | {peer} | {p['n_detected']}/{p['n']} | "
                       + " | ".join(fmt(p["detected"].get(k)) for k in keys) + " |")
    return out


def _offsets(r: dict[str, Any] | None) -> tuple[float, float, float] | None:
    if r is None or r.get("frame_offset_x") is None:
        return None
    return tuple(float(r[f"frame_offset_{a}"]) for a in "xyz")  # type: ignore[return-value]


def frame_offset_section(res: dict[str, dict[str, Any]], shipped: Path) -> list[str]:
    """Mean head-frame offsets (``metrics.head_frame_offsets_deg``) of ours and the peers on
    the synthetic sets (our template's frame) and on AFLW2000 (its 3DMM frame); ``res`` holds
    the loaded result files by name (:data:`RESULT_FILES`)."""
    peers, det = res["aflw2000_peers"], res["aflw2000_detector"]
    rows = [("head_pose_ros", n, _offsets(res[n])) for n in ("selfie_test", "robot_test")]
    rows += [("head_pose_ros (protocol box)", "AFLW2000", _offsets(res["aflw2000"])),
             ("head_pose_ros (YuNet)", "AFLW2000", _offsets(det and det["detected"]))]
    peer_aflw = {n: _offsets(p["detected"]) for n, p in peers.get("peers", {}).items()}
    rows += [(n, "AFLW2000", o) for n, o in peer_aflw.items()]
    bridges: dict[str, list[str]] = {}  # per peer, in the order the peers first appear
    for set_name, synth in peers.get("synthetic", {}).items():
        for n, p in synth["peers"].items():
            o, a = _offsets(p["detected"]), peer_aflw.get(n)
            rows.append((n, set_name, o))
            if o is not None and a is not None:
                bridges.setdefault(n, []).append(f"{a[0] - o[0]:+.1f} deg ({n}, {set_name})")
    bridge = [b for per_peer in bridges.values() for b in per_peer]
    rows = [r for r in rows if r[2] is not None]
    if not rows:
        raise MissingResultError("no result file has head-frame offsets (frame_offset_x): "
                                 "re-run head-pose-eval (scripts/results.sh)")
    ours = [(f"{n}.json", res[n]) for n in ("selfie_test", "robot_test", "aflw2000",
                                             "aflw2000_detector")]
    out = ["## Head-frame offset: conventions vs model error", "",
           "Mean rotation between the predicted and the labelled head frame (rotation vector of "
           "`R_gt.T @ R_pred` about the head axes, degrees; `metrics.head_frame_offsets_deg`, "
           "no Euler convention involved). About x (ear to ear) it is a pitch offset: positive "
           "= the prediction looks further up than the label. On the synthetic sets the labels "
           "are in our frame (the ARKit template's); on AFLW2000 they are in its 3DMM's frame, "
           "and two face models need not agree on where \"straight ahead\" is. "
           f"head_pose_ros rows: {measured_on(ours, shipped)}", "",
           "| method | labels | about x | about y | about z |", "|---|---|---|---|---|"]
    out += [f"| {m} | {lab} | " + " | ".join(fmt_signed(v) for v in o) + " |"
            for m, lab, o in rows]
    if bridge:
        out += ["", "A peer that sees both label sets bridges the two frames: its offset on "
                "AFLW2000 minus its offset on our synthetic labels estimates the offset that a "
                "perfect predictor of our frame would show on AFLW2000 about x: "
                + ", ".join(bridge) + ". The rest of our AFLW2000 offset is the model's own "
                "error on real faces (the peers' estimates carry their own error on rendered "
                "faces)."]
    return out + [""]


def model_section(weights: Path) -> list[str]:
    """What the evaluated model is, from its checkpoint metadata."""
    from head_pose_ros.checkpoint import read_checkpoint_metadata

    info = read_checkpoint_metadata(weights)
    cfg, train = info["config"], info.get("meta", {}).get("training", {})
    data = train.get("data", {})
    sets = ", ".join(f"{d.get('type')} ({d.get('len')} samples, weight {d.get('weight', 1)})"
                     for d in data.get("train", []))
    cov = info.get("meta", {}).get("covariance", {})
    init = train.get("config", {}).get("run", {}).get("init_weights", "")
    start = (f"fine-tuned from `{Path(init).parent.name}/{Path(init).name}`" if init
             else "from scratch")
    return [
        "## Model", "",
        f"`{weights.name}` ({info.get('dtype', '')}): backbone `{cfg.get('backbone')}`, "
        f"{cfg.get('num_iterations')} iterations, translation `{cfg.get('translation_mode')}`, "
        f"sampling `{cfg.get('sampling')}`, {cfg.get('input_size')} px crops; {start}, "
        f"{train.get('step', '?')} steps ({train.get('epoch', '?')} epochs) of batch "
        f"{data.get('batch_size_per_process', '?')} x {data.get('world_size', 1)} on {sets}; "
        f"covariance: {cov.get('calibration_note', 'uncalibrated defaults')}.", ""] + (
        ["**Licence of these weights: research / non-commercial use only.** They were trained on "
         "AFLW photos (`real/aflw_crops`, AFLW licence: non-commercial research), and a model "
         "trained on them inherits that restriction.", ""]
        if any(d.get("type") == "AFLWCropsDataset" and d.get("weight", 1) > 0
               for d in data.get("train", [])) else [])


ABLATION_ROWS = [("ablation_iter1", "1 iteration"), ("ablation_iter2", "2 iterations"),
                 ("selfie", "3 iterations (TRG)"), ("ablation_direct_T", "T predicted directly"),
                 ("ablation_grid", "grid sampling")]
ABLATION_KEYS = [("mae_r", "MAE_r", 2), ("ge", "GE", 2), ("mae_t", "MAE_t", 1),
                 ("add", "ADD", 1)]


def ablation_table(folder: Path, shipped: Path) -> list[str]:
    """Tiny ablation runs (``scripts/ablation.sh``): files ``<config>_s<seed>.<set>.json``
    (sets selfie_val, robot_val); cells are ``mean (seed values)``; the last column names each
    row's checkpoints (their run folders). Every row needs the same seeds on both sets."""
    how = "run `bash scripts/ablation.sh`"
    sets = ("selfie_val", "robot_val")
    head = "| model (seeds) | " + " | ".join(
        f"{s.split('_')[0]} {name}" for s in sets for _, name, _ in ABLATION_KEYS) + \
        " | checkpoints |"
    out = [head, "|" + "---|" * (2 + len(sets) * len(ABLATION_KEYS))]
    roots: set[str] = set()
    every: list[str] = []
    for exp, label in ABLATION_ROWS:
        files = {s: sorted(folder.glob(f"{exp}_s*.{s}.json")) for s in sets}
        seeds = {s: [p.name.split(".")[0] for p in f] for s, f in files.items()}
        if not files[sets[0]] or seeds[sets[0]] != seeds[sets[1]]:
            raise MissingResultError(f"{folder}: {label} ({exp}_s<seed>.<set>.json) needs "
                                     f"results on both {sets} for the same seeds, found "
                                     f"{seeds}: {how}")
        runs = {s: [need(p, how) for p in f] for s, f in files.items()}
        ckpts = sorted({checkpoint_of(r, p.name) for s in sets
                        for p, r in zip(files[s], runs[s], strict=True)})
        roots |= {str(Path(w).parent.parent) for w in ckpts}
        every += ckpts
        cells = []
        for s in sets:
            for key, _, digits in ABLATION_KEYS:
                v = [float(r[key]) for r in runs[s]]
                mean = sum(v) / len(v) if v else None
                cells.append(fmt(mean, digits) + (" (" + "/".join(fmt(x, digits) for x in v)
                                                   + ")" if len(v) > 1 else ""))
        names = ", ".join(Path(w).parent.name for w in ckpts)
        out.append(f"| {label} ({len(runs[sets[0]])}) | " + " | ".join(cells)
                   + f" | {names} |")
    which = ("including the shipped model" if any(is_shipped(w, shipped) for w in every)
             else "not the shipped model")
    return [f"Measured on the ablation's own checkpoints, {which}: `<run>/model.safetensors` "
            f"under {', '.join(f'`{r}`' for r in sorted(roots))}, run folders in the last "
            "column.", "", *out]


def video_section(video: dict[str, Any], results: Path, shipped: Path) -> list[str]:
    """Tracking coverage and jitter on the real two-person video (``head-pose-video``)."""
    n = video["frames"]
    est, rep = video["frames_with_n_estimates"], video["frames_with_n_reported"]
    lines = [f"`{video['video']}`: {n} frames, {video['width']}x{video['height']} at "
             f"{video['fps']:.2f} fps, no intrinsics in the file: f = {video['focal_px']:.0f} px "
             "(the node's uncalibrated guess W + H; metric translations scale with this guess). "
             f"{measured_on([('video.json', video)], shipped)} Backend "
             f"{video.get('backend', '?')}, detector "
             f"{video.get('detector', '?')}, the node's default tracking and One-Euro filter "
             "parameters, frame stamps index / fps.", "",
             "- frames by number of faces estimated: "
             + ", ".join(f"{k} faces: {v}" for k, v in est.items())
             + "; reported (a track is reported from its 3rd hit): "
             + ", ".join(f"{k}: {v}" for k, v in rep.items()) + f". Track ids: "
             f"{', '.join(str(i) for i in video['track_ids'])}.", "",
             "Jitter = frame-to-frame change (step) and second difference (accel: near zero "
             "for smooth motion, so mostly noise). Median / 95th percentile; raw -> filtered.",
             "",
             "| person | frames | gaps | distance (m) | rot step (deg) | rot accel (deg) "
             "| trans step (mm) | trans accel (mm) | filtered vs raw |",
             "|---|---|---|---|---|---|---|---|---|"]

    def cell(p: dict[str, Any], key: str, digits: int) -> str:
        r, f = p["raw"][key], p["filtered"][key]
        return (f"{fmt(r['median'], digits)} / {fmt(r['p95'], digits)} -> "
                f"{fmt(f['median'], digits)} / {fmt(f['p95'], digits)}")

    for pid, p in video["people"].items():
        lines.append(
            f"| id {pid} | {p['first_frame']}-{p['last_frame']} ({p['frames_reported']}) | "
            f"{p['gaps']} | {p['mean_distance_m']:.2f} | {cell(p, 'rot_step_deg', 2)} | "
            f"{cell(p, 'rot_accel_deg', 2)} | {cell(p, 'trans_step_mm', 1)} | "
            f"{cell(p, 'trans_accel_mm', 1)} | {fmt(p['lag_rot_deg']['median'])} deg, "
            f"{fmt(p['lag_trans_mm']['median'], 1)} mm |")
    lines.append("")
    for name, title in (("video_sheet.jpg", "contact sheet of the overlay"),
                        ("video_poses.png", "poses over time, raw vs filtered")):
        need_file(results / name)
        lines += [f"![{title}](results/{name})", ""]
    return lines


#: the result files of ``scripts/results.sh`` that the page reads (``<name>.json``)
RESULT_FILES = ("selfie_test", "robot_test", "aflw2000", "aflw2000_detector", "aflw2000_peers",
                "coverage", "video")


def render(results: Path, weights: Path) -> str:
    """The page; :class:`MissingResultError` if any section's input is missing or stale."""
    need_file(weights, "the shipped model (--weights) is needed for the model section")
    how = {"aflw2000_peers": "run the MediaPipe peers (scripts/results.sh step 4)",
           "coverage": "run `bash scripts/results.sh CHECKPOINT` (calibration)"}
    res = {name: need(results / f"{name}.json", how.get(name, RESULTS_CMD))
           for name in RESULT_FILES}
    selfie, robot = res["selfie_test"], res["robot_test"]
    lines = ["# Results", "",
             "Produced by `bash scripts/results.sh [CHECKPOINT]` (held-out sets rendered with "
             "seeds never used in training; every number below is read from "
             "`docs/results/*.json`).",
             "Units: degrees (yaw, pitch, roll, MAE_r, GE) and millimetres (translations, ADD, "
             "dense landmarks). Euler angles as the paper reports them (`docs/CONVENTIONS.md`).",
             ""]
    lines += model_section(weights)
    rows = [("selfie_test", selfie), ("robot_test", robot)]
    lines += ["## Synthetic test sets (exact metric labels)", "",
              "`selfie`: ARKitFace-like phone views, 0.3-0.9 m. `robot`: BIWI-like robot views, "
              "0.7-2.5 m, 60-70 deg FOV. Crops from the ground-truth landmark box x 1.5 (the "
              "paper's protocol for ARKitFace). "
              + measured_on([(f"{n}.json", r) for n, r in rows], weights), ""]
    lines += pose_table(rows) + [""]
    lines += synthetic_peer_table(res["aflw2000_peers"]) + [""]
    for name, _ in rows:
        plots = sorted((results / f"plots_{name}").glob("*.png"))
        if not plots:
            raise MissingResultError(f"{results / f'plots_{name}'} has no plots: {RESULTS_CMD}")
        lines.append(f"Plots, {name}: " + ", ".join(
            f"[{q.stem.replace('_', ' ')}](results/plots_{name}/{q.name})" for q in plots))
    lines += [""]
    lines += ["## Real images: AFLW2000-3D subset (rotation only)", "",
              "`../shared/data/real/aflw2000_subset64`, HopeNet protocol (3 of 64 images beyond "
              "±99° dropped, 61 kept). Rows: ours on the protocol's crop (box from the labelled "
              "landmarks), ours on whole images as the node runs (YuNet, largest face, "
              "intrinsics guessed as f = W + H), and the peers in the same script on whole "
              "images with their own detector.", ""]
    lines += aflw_table(res["aflw2000"], res["aflw2000_peers"], res["aflw2000_detector"],
                        weights) + [""]
    lines += ["Pitch bias = mean signed pitch error (AFLW2000 angles); see the head-frame "
              "offset section.", ""]
    lines += frame_offset_section(res, weights)
    lines += results_real.render(results, weights)
    lines += results_turned.render(results, weights)
    lines += ["## Ablation: T directly vs correction parameters (selfie -> robot)", "",
              "Tiny CPU runs of `scripts/ablation.sh` (CPU-sized model, 640 `selfie` training "
              "images, 1200 steps, 2 seeds; evaluated on 160 held-out `selfie` and 160 `robot` "
              "images). Rotation in degrees, MAE_t / ADD in mm; `mean (seed 0/seed 1)`. "
              "Predicting T directly fails out of distribution (robot), as in the paper; "
              "details in [ABLATIONS.md](ABLATIONS.md).", ""]
    lines += ablation_table(results / "ablation", weights) + [""]
    lines += ["## Real video: two people, tracking and pose jitter", ""]
    lines += video_section(res["video"], results, weights)
    lines += ["## Not measured yet", "",
              "- A GPU-trained paper-size model (`config/train/synthetic_default.yaml`): no GPU "
              "was available to the project.",
              "- Metric translation on real faces: no real data set with metric labels (BIWI, "
              "ARKitFace) is available here; `head-pose-eval --format biwi|arkitface` runs "
              "them where they are.", ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="docs/results")
    ap.add_argument("--out", default="docs/RESULTS.md")
    ap.add_argument("--weights", required=True,
                    help="the shipped checkpoint (model section; sections measured on another "
                         "checkpoint say so)")
    args = ap.parse_args(argv)
    try:
        text = render(Path(args.results), Path(args.weights))
    except (MissingResultError, KeyError) as e:
        what = f"missing key {e}" if isinstance(e, KeyError) else str(e)
        print(f"[results_md] error: {what}; {args.out} not written", file=sys.stderr)
        return 1
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
