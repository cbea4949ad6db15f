# ruff: noqa: N803, N806  (K, R, T: the notation of geometry.py)
"""Accuracy cost of following faces instead of detecting them on every frame.

``python -m head_pose_ros.bench.following --weights weights/head_pose_trg.safetensors
--json docs/results/bench/following.json --markdown docs/results/bench/following.md``

Runs :class:`head_pose_ros.pipeline.HeadPosePipeline` (the node's pipeline, YuNet, the ONNX
Runtime backend, the node's tracking and filter defaults) twice over the same frames: with the
detector on every frame (``detect_every_n = 1``) and following (``detect_every_n = N``,
``--every``). Sets:

- the rendered sequences of :mod:`head_pose_ros.bench.sequences` (exact labels): per sequence
  MAE_r (mean of the yaw / pitch / roll absolute errors, degrees), MAE_t (mean of the x / y / z
  absolute errors, mm) of the published (filtered) pose and of the raw estimate, jitter (the
  frame-to-frame change of the error: geodesic angle between consecutive error rotations
  ``R_gt^T R``, degrees, and ``|e_t - e_t-1|`` of the translation error, mm), id switches (a
  labelled person reported under another id than in its previous reported frame), recall
  (labelled faces with >= 34 of 68 landmarks visible that were reported), false reports
  (reported people that match no labelled face) and detector runs;
- the real video ``real/two_faces_1080p.mp4`` (no labels): jitter (second differences of the
  published pose, :func:`head_pose_ros.video.summarise`), ids and frames reported.

It also records the landmark fit (:func:`head_pose_ros.detection.follow.landmark_fit`) of the
estimates on labelled faces and on crops of the background with no face, the distributions
``DEFAULT_MAX_FIT`` is chosen from.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from head_pose_ros.bench import sequences as seq
from head_pose_ros.detection import box_iou
from head_pose_ros.detection.follow import landmark_fit
from head_pose_ros.geometry import box_from_landmarks
from head_pose_ros.metrics import rotation_errors_deg, translation_errors_mm
from head_pose_ros.pipeline import HeadPosePipeline, PipelineConfig

MIN_VISIBLE = 34  # a labelled face counts for recall with at least half its landmarks visible
MATCH_IOU = 0.3


def _angle_deg(Ra: np.ndarray, Rb: np.ndarray) -> float:
    c = (np.trace(Ra.T @ Rb) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def match(gt_extents: list[np.ndarray], est_extents: list[np.ndarray],
          iou: float = MATCH_IOU) -> dict[int, int]:
    """Greedy by IoU: labelled person index -> reported person index (IoU > ``iou``)."""
    if not gt_extents or not est_extents:
        return {}
    ov = box_iou(np.array(gt_extents), np.array(est_extents))
    out: dict[int, int] = {}
    used: set[int] = set()
    for flat in np.argsort(-ov, axis=None, kind="stable"):
        i, j = divmod(int(flat), ov.shape[1])
        if ov[i, j] <= iou:
            break
        if i not in out and j not in used:
            out[i] = j
            used.add(j)
    return out


def _projected_landmarks(est: Any, K: np.ndarray, lm_ids: np.ndarray) -> np.ndarray:
    p = np.asarray(est.vertices_cam, np.float64)[lm_ids]
    return p[:, :2] / p[:, 2:3] @ K[:2, :2].T + K[:2, 2]


def run_sequence(frames: list[seq.SequenceFrame], K: np.ndarray, estimator: Any, detector: Any,
                 cfg: PipelineConfig) -> dict[str, Any]:
    """Pipeline over ``frames``; the errors of every matched labelled face and the counts."""
    pipe = HeadPosePipeline(estimator, detector, cfg)
    lm_ids = np.asarray(estimator.topology.landmarks68)
    rows: list[dict[str, Any]] = []
    last_id: dict[int, int] = {}
    switches = want = got = false = ran = 0
    fits: list[float] = []
    ms: list[float] = []
    for i, fr in enumerate(frames):
        t0 = time.perf_counter()
        res = pipe.process(fr.image, K, i / seq.FPS)
        ms.append((time.perf_counter() - t0) * 1e3)
        ran += int(res.detector_ran)
        ext = [box_from_landmarks(np.asarray(p.est.landmarks68)) for p in res.people]
        gts = [p["extent"] for p in fr.persons]
        m = match(gts, ext)
        false += len(res.people) - len(m)
        for gi, person in enumerate(fr.persons):
            counts = person["visible"] >= MIN_VISIBLE
            want += int(counts)
            if gi not in m:
                continue
            got += int(counts)
            p = res.people[m[gi]]
            if gi in last_id and last_id[gi] != p.person_id:
                switches += 1
            last_id[gi] = p.person_id
            fits.append(landmark_fit(p.est.landmarks68, _projected_landmarks(p.est, K, lm_ids)))
            rows.append(dict(frame=i, person=gi, R=p.rot, T=p.trans, R_gt=person["R"],
                             T_gt=person["T"], R_raw=np.asarray(p.est.R),
                             T_raw=np.asarray(p.est.T).reshape(3)))
    return dict(rows=rows, switches=switches, want=want, got=got, false=false, ran=ran,
                fits=fits, frame_ms=ms)


def summarise_rows(run: dict[str, Any]) -> dict[str, Any]:
    """MAE_r / MAE_t (published and raw), jitter, id switches, recall of one run."""
    rows = run["rows"]
    out: dict[str, Any] = {"faces_evaluated": len(rows), "id_switches": run["switches"],
                           "recall": run["got"] / max(run["want"], 1),
                           "false_reports": run["false"], "detector_runs": run["ran"],
                           "frame_ms_median": float(np.median(run["frame_ms"]))}
    if not rows:
        return out
    for tag, kr, kt in (("", "R", "T"), ("raw_", "R_raw", "T_raw")):
        R = np.stack([r[kr] for r in rows])
        T = np.stack([r[kt] for r in rows])
        Rg = np.stack([r["R_gt"] for r in rows])
        Tg = np.stack([r["T_gt"] for r in rows])
        e = rotation_errors_deg(R, Rg)
        out[f"{tag}mae_r"] = float(np.mean([e["yaw"].mean(), e["pitch"].mean(),
                                            e["roll"].mean()]))
        out[f"{tag}mae_t_mm"] = float(translation_errors_mm(T, Tg).mean())
    jr, jt = [], []
    by_key = {(r["person"], r["frame"]): r for r in rows}
    for (pi, fi), r in by_key.items():
        prev = by_key.get((pi, fi - 1))
        if prev is None:
            continue
        jr.append(_angle_deg(prev["R_gt"].T @ prev["R"], r["R_gt"].T @ r["R"]))
        jt.append(1e3 * float(np.linalg.norm((r["T"] - r["T_gt"]) - (prev["T"] - prev["T_gt"]))))
    out["jitter_r_deg"] = float(np.mean(jr)) if jr else None
    out["jitter_t_mm"] = float(np.mean(jt)) if jt else None
    return out


def background_fits(frames: list[seq.SequenceFrame], K: np.ndarray, estimator: Any,
                    n: int = 60, seed: int = 0) -> list[float]:
    """Landmark fit of estimates on face-sized crops of the background (no face in them)."""
    rng = np.random.default_rng(seed)
    lm_ids = np.asarray(estimator.topology.landmarks68)
    out: list[float] = []
    w, h = seq.SIZE
    tries = 0
    while len(out) < n and tries < 20 * n:
        tries += 1
        fr = frames[int(rng.integers(len(frames)))]
        side = float(rng.uniform(50, 160))
        x0, y0 = rng.uniform(0, w - side), rng.uniform(0, h - side)
        box = np.array([x0, y0, x0 + side, y0 + side])
        if any(box_iou(box[None], p["extent"][None])[0, 0] > 0.0 for p in fr.persons):
            continue
        (est,) = estimator.predict(fr.image, K, box[None])
        out.append(landmark_fit(est.landmarks68, _projected_landmarks(est, K, lm_ids)))
    return out


def _quantiles(x: list[float]) -> dict[str, float]:
    a = np.asarray(x, np.float64)
    if a.size == 0:
        return {}
    return {"n": int(a.size), **{f"p{q}": float(np.percentile(a, q)) for q in (1, 5, 50, 95, 99)}}


def video_section(estimator: Any, detector: Any, shared: Path, every: int) -> dict[str, Any]:
    """The real two-person video, detector every frame vs following (no labels)."""
    from head_pose_ros.video import summarise, track_video

    path = shared / "real" / "two_faces_1080p.mp4"
    if not path.is_file():
        return {"skipped": f"no {path}"}
    out: dict[str, Any] = {"video": path.name}
    for mode, n in (("detect_every_frame", 1), ("following", every)):
        t0 = time.perf_counter()
        res = track_video(path, estimator, detector, PipelineConfig(detect_every_n=n))
        s = summarise(res)
        out[mode] = {
            "seconds": time.perf_counter() - t0, "track_ids": s["track_ids"],
            "frames_with_n_reported": s["frames_with_n_reported"],
            "rot_accel_deg_median": {k: v["filtered"]["rot_accel_deg"]["median"]
                                     for k, v in s["people"].items()},
            "trans_accel_mm_median": {k: v["filtered"]["trans_accel_mm"]["median"]
                                      for k, v in s["people"].items()},
        }
    return out


def format_markdown(rep: dict[str, Any]) -> str:
    """The table of the docs (one row per sequence and mode)."""
    lines = [f"Following every {rep['every']} frames vs. the detector on every frame "
             f"({rep['frames']} frames per sequence, 640x480, 30 fps; weights "
             f"`{rep['weights']}`, backend {rep['backend']}; following with "
             f"{'learnt' if rep.get('learn_crop') else 'uncorrected'} crops).", "",
             "| sequence | mode | MAE_r (deg) | MAE_t (mm) | raw MAE_r | raw MAE_t | jitter_r "
             "(deg) | jitter_t (mm) | id switches | recall | false | detector runs |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def f(v: Any, d: int = 2) -> str:
        return "-" if v is None else f"{v:.{d}f}"

    for name, modes in rep["sequences"].items():
        for mode, s in modes.items():
            lines.append(
                f"| {name} | {mode} | {f(s.get('mae_r'))} | {f(s.get('mae_t_mm'), 1)} | "
                f"{f(s.get('raw_mae_r'))} | {f(s.get('raw_mae_t_mm'), 1)} | "
                f"{f(s.get('jitter_r_deg'))} | {f(s.get('jitter_t_mm'), 1)} | "
                f"{s['id_switches']} | {s['recall']:.3f} | {s['false_reports']} | "
                f"{s['detector_runs']} |")
    lines += ["", "Cost of following (following minus every frame, all sequences pooled): "
              f"MAE_r {rep['cost']['mae_r']:+.2f} deg, MAE_t {rep['cost']['mae_t_mm']:+.1f} mm, "
              f"id switches {rep['cost']['id_switches']:+d}.", ""]
    fit = rep["landmark_fit"]
    lines.append(f"Landmark fit (median |heatmap - 3D| / face side): faces p50 "
                 f"{fit['faces'].get('p50', float('nan')):.3f}, p99 "
                 f"{fit['faces'].get('p99', float('nan')):.3f}; background crops p1 "
                 f"{fit['background'].get('p1', float('nan')):.3f}, p5 "
                 f"{fit['background'].get('p5', float('nan')):.3f}, p50 "
                 f"{fit['background'].get('p50', float('nan')):.3f}; max_fit "
                 f"{rep['max_fit']:.3f}: faces above it {fit['faces_above_max_fit']:.3f}, "
                 f"background crops kept {fit['background_kept']:.3f}.")
    v = rep.get("video", {})
    if "following" in v:
        lines += ["", f"Real video `{v['video']}` (no labels), published pose, median second "
                  "difference per person:", "",
                  "| mode | ids | frames with n reported | rot accel (deg) | trans accel (mm) |",
                  "|---|---|---|---|---|"]
        for mode in ("detect_every_frame", "following"):
            m = v[mode]
            lines.append(f"| {mode} | {m['track_ids']} | {m['frames_with_n_reported']} | "
                         + ", ".join(f"{x:.2f}" for x in m["rot_accel_deg_median"].values())
                         + " | " + ", ".join(f"{x:.1f}" for x in
                                             m["trans_accel_mm_median"].values()) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from head_pose_ros.detection import YuNetDetector
    from head_pose_ros.detection.follow import DEFAULT_MAX_FIT
    from head_pose_ros.estimator import HeadPoseEstimator
    from head_pose_ros.topology import default_shared_data

    ap = argparse.ArgumentParser(prog="python -m head_pose_ros.bench.following",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default="weights/head_pose_trg.safetensors")
    ap.add_argument("--every", type=int, default=10, help="detect_every_n when following")
    ap.add_argument("--frames", type=int, default=90, help="frames per rendered sequence")
    ap.add_argument("--sequences", default=",".join(seq.SEQUENCES))
    ap.add_argument("--backend", default="onnxruntime")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-video", action="store_true")
    ap.add_argument("--learn-crop", action=argparse.BooleanOptionalAction, default=None,
                    help="following: learn each face's crop correction on detector frames "
                    "(HeadPosePipeline.learn_crop; default: the pipeline's default)")
    ap.add_argument("--shared-data")
    ap.add_argument("--json")
    ap.add_argument("--markdown")
    args = ap.parse_args(argv)
    if args.learn_crop is not None:
        HeadPosePipeline.learn_crop = bool(args.learn_crop)
    shared = Path(args.shared_data) if args.shared_data else default_shared_data()
    est = HeadPoseEstimator.from_checkpoint(args.weights, backend=args.backend,
                                            threads=args.threads)
    det = YuNetDetector(shared / "detector" / "face_detection_yunet_2023mar.onnx")
    K = seq.camera()
    rep: dict[str, Any] = {"weights": args.weights, "backend": est.backend, "every": args.every,
                           "frames": args.frames, "max_fit": DEFAULT_MAX_FIT,
                           "learn_crop": HeadPosePipeline.learn_crop, "sequences": {}}
    face_fits: list[float] = []
    bg_fits: list[float] = []
    pooled: dict[str, list[dict[str, Any]]] = {"detect_every_frame": [], "following": []}
    for name in args.sequences.split(","):
        t0 = time.perf_counter()
        frames = list(seq.render_sequence(name, args.frames))
        print(f"[following] {name}: rendered {len(frames)} frames in "
              f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        rep["sequences"][name] = {}
        for mode, n in (("detect_every_frame", 1), ("following", args.every)):
            run = run_sequence(frames, K, est, det, PipelineConfig(detect_every_n=n))
            for r in run["rows"]:
                r["person"] = (name, r["person"])
            rep["sequences"][name][mode] = summarise_rows(run)
            pooled[mode].append(run)
            if mode == "following":
                face_fits += run["fits"]
        bg_fits += background_fits(frames, K, est, n=40)
    merged = {m: summarise_rows({k: (sum((r[k] for r in runs), []) if isinstance(runs[0][k],
                                                                                  list)
                                     else sum(r[k] for r in runs)) for k in runs[0]})
              for m, runs in pooled.items()}
    rep["pooled"] = merged
    rep["cost"] = {"mae_r": merged["following"]["mae_r"] - merged["detect_every_frame"]["mae_r"],
                   "mae_t_mm": merged["following"]["mae_t_mm"]
                   - merged["detect_every_frame"]["mae_t_mm"],
                   "id_switches": merged["following"]["id_switches"]
                   - merged["detect_every_frame"]["id_switches"]}
    rep["landmark_fit"] = {
        "faces": _quantiles(face_fits), "background": _quantiles(bg_fits),
        "faces_above_max_fit": float(np.mean(np.asarray(face_fits) > DEFAULT_MAX_FIT))
        if face_fits else None,
        "background_kept": float(np.mean(np.asarray(bg_fits) <= DEFAULT_MAX_FIT))
        if bg_fits else None}
    if not args.no_video:
        rep["video"] = video_section(est, det, shared, args.every)
    md = format_markdown(rep)
    print(md)
    if args.json:
        Path(args.json).write_text(json.dumps(rep, indent=2) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
