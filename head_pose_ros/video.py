"""Offline tracking of a video with the node's pipeline, and pose-jitter statistics (no ROS).

``head-pose-video --video clip.mp4 --yunet face_detection_yunet_2023mar.onnx --json out.json
[--sheet sheet.png] [--plot poses.png] [--overlay out.mp4]`` runs
:class:`head_pose_ros.pipeline.HeadPosePipeline` (detector -> TRG -> tracker -> One-Euro SE(3)
filter, the node's default parameters) over every frame, with frame stamps ``index / fps``.

Intrinsics: a video file carries none. ``--fov`` (horizontal, degrees) sets
``f = (W / 2) / tan(fov / 2)``; without it the node's uncalibrated guess ``f = W + H`` is used
(:func:`head_pose_ros.geometry.default_intrinsics`). Rotations do not depend much on f; metric
translations scale roughly with it, so translation jitter is "mm for this f".

Jitter, per person over consecutive frames in which the person was reported (raw = the
estimator's output, filtered = what the node publishes):

- ``rot_step_deg``: geodesic angle between consecutive rotations, ``angle(R_t^T R_t+1)``;
- ``trans_step_mm``: ``|T_t+1 - T_t|``;
- ``rot_accel_deg`` / ``trans_accel_mm``: second differences (``|log(dR_t+1) - log(dR_t)|``,
  ``|T_t+1 - 2 T_t + T_t-1|``): near zero for smooth motion, so they isolate noise better than
  steps, which also contain real head motion;
- ``lag_rot_deg`` / ``lag_trans_mm``: filtered vs raw in the same frame (what filtering costs).
Each is summarised by median, mean and 95th percentile.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from head_pose_ros import geometry as g
from head_pose_ros.pipeline import HeadPosePipeline, PipelineConfig

__all__ = ["FrameRecord", "VideoTrackResult", "read_frames", "intrinsics_for_video",
           "track_video", "jitter_stats", "summarise", "sheet_indices", "people_region",
           "contact_sheet",
           "plot_poses", "main"]


@dataclass
class FrameRecord:
    """One frame: per reported person ``id -> {R, T, R_raw, T_raw, box, score}``."""

    index: int
    stamp: float
    n_estimates: int
    people: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)


@dataclass
class VideoTrackResult:
    path: str
    width: int
    height: int
    fps: float
    K: np.ndarray
    frames: list[FrameRecord]
    sheet_frames: dict[int, np.ndarray] = field(default_factory=dict)  # index -> overlay


def read_frames(path: str | Path, max_frames: int | None = None
                ) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, BGR frame)``; raises FileNotFoundError / RuntimeError (unreadable)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video not found: {path}")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise RuntimeError(f"OpenCV cannot open the video {path} (codec / container?)")
    try:
        i = 0
        while max_frames is None or i < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            yield i, frame
            i += 1
    finally:
        cap.release()


def video_properties(path: str | Path) -> tuple[int, int, float, int]:
    """``(width, height, fps, frame_count)`` as the container reports them."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise RuntimeError(f"OpenCV cannot open the video {path}")
        return (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                float(cap.get(cv2.CAP_PROP_FPS)), int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
    finally:
        cap.release()


def intrinsics_for_video(width: int, height: int, fov_deg: float | None = None) -> np.ndarray:
    """K for an uncalibrated video: horizontal field of view ``fov_deg`` if given, else the
    node's guess ``f = W + H``; principal point at the image centre ((W-1)/2, (H-1)/2)."""
    K = g.default_intrinsics(width, height)  # noqa: N806
    if fov_deg is not None:
        if not 1.0 < fov_deg < 179.0:
            raise ValueError(f"fov must be in (1, 179) degrees, got {fov_deg}")
        K[0, 0] = K[1, 1] = (width / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
    return K


def track_video(path: str | Path, estimator: Any, detector: Any,
                cfg: PipelineConfig | None = None, fov_deg: float | None = None,
                max_frames: int | None = None, sheet_indices: set[int] | None = None,
                overlay_writer: Any = None) -> VideoTrackResult:
    """Run the pipeline over the video. Frames in ``sheet_indices`` keep their overlay image;
    ``overlay_writer`` (a ``cv2.VideoWriter``) gets every overlay frame."""
    from head_pose_ros.overlay import draw_people

    w, h, fps, _ = video_properties(path)
    if not fps or not math.isfinite(fps) or fps <= 0:
        fps = 30.0
    K = intrinsics_for_video(w, h, fov_deg)  # noqa: N806
    pipe = HeadPosePipeline(estimator, detector, cfg)
    lm_ids = getattr(pipe.topology, "landmarks68", None)
    res = VideoTrackResult(str(path), w, h, fps, K, [])
    for i, frame in read_frames(path, max_frames):
        stamp = i / fps
        out = pipe.process(frame, K, stamp, intrinsics_guessed=fov_deg is None)
        rec = FrameRecord(i, stamp, out.n_estimates)
        for p in out.people:
            rec.people[p.person_id] = {
                "R": p.rot, "T": p.trans, "R_raw": np.asarray(p.est.R, np.float64),
                "T_raw": np.asarray(p.est.T, np.float64).reshape(3),
                "box": np.asarray(p.est.box, np.float64).reshape(4), "score": float(p.est.score)}
        res.frames.append(rec)
        want_sheet = sheet_indices is not None and i in sheet_indices
        if want_sheet or overlay_writer is not None:
            img = draw_people(frame, out.people, K, None, lm_ids)
            if want_sheet:
                res.sheet_frames[i] = img
            if overlay_writer is not None:
                overlay_writer.write(img)
    if not res.frames:
        raise RuntimeError(f"no frame could be decoded from {path}")
    return res


# --------------------------------------------------------------------------- statistics
def _summary(x: np.ndarray) -> dict[str, float]:
    x = np.asarray(x, np.float64)
    if x.size == 0:
        return {"median": float("nan"), "mean": float("nan"), "p95": float("nan"), "n": 0}
    return {"median": float(np.median(x)), "mean": float(x.mean()),
            "p95": float(np.percentile(x, 95)), "n": int(x.size)}


def _runs(indices: list[int]) -> list[list[int]]:
    """Split sorted frame indices into runs of consecutive frames."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _person_series(frames: list[FrameRecord], pid: int, key_r: str, key_t: str
                   ) -> list[tuple[np.ndarray, np.ndarray]]:
    idx = [f.index for f in frames if pid in f.people]
    by_index = {f.index: f for f in frames}
    out = []
    for run in _runs(idx):
        out.append((np.stack([by_index[i].people[pid][key_r] for i in run]),
                    np.stack([by_index[i].people[pid][key_t] for i in run])))
    return out


def jitter_stats(series: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, dict[str, float]]:
    """Step and second-difference statistics (degrees / mm, see the module docstring) over
    runs of consecutive frames ``[(rotations (N, 3, 3), translations (N, 3) m), ...]``; steps
    never bridge a gap between runs."""
    rv_steps, t_steps, rv_acc, t_acc = [], [], [], []
    for rots, trans in series:
        if len(rots) < 2:
            continue
        rel = np.einsum("nji,njk->nik", rots[:-1], rots[1:])
        rv = Rotation.from_matrix(rel).as_rotvec()
        dt = np.diff(trans, axis=0)
        rv_steps.append(np.degrees(np.linalg.norm(rv, axis=1)))
        t_steps.append(1e3 * np.linalg.norm(dt, axis=1))
        rv_acc.append(np.degrees(np.linalg.norm(np.diff(rv, axis=0), axis=1)))
        t_acc.append(1e3 * np.linalg.norm(np.diff(dt, axis=0), axis=1))

    def cat(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0)

    return {"rot_step_deg": _summary(cat(rv_steps)), "trans_step_mm": _summary(cat(t_steps)),
            "rot_accel_deg": _summary(cat(rv_acc)), "trans_accel_mm": _summary(cat(t_acc))}


def summarise(res: VideoTrackResult) -> dict[str, Any]:
    """Tracking coverage and jitter (raw vs filtered) per person, as a JSON-able dict."""
    n = len(res.frames)
    ids = sorted({pid for f in res.frames for pid in f.people})
    people = {}
    for pid in ids:
        frames_in = [f.index for f in res.frames if pid in f.people]
        lag_r, lag_t = [], []
        for f in res.frames:
            p = f.people.get(pid)
            if p is not None:
                lag_r.append(float(np.degrees(g.geodesic_distance(p["R"], p["R_raw"]))))
                lag_t.append(1e3 * float(np.linalg.norm(p["T"] - p["T_raw"])))
        t_raw = np.stack([res.frames[i].people[pid]["T_raw"] for i in frames_in])
        ypr = np.degrees(np.stack([g.rotation_to_euler_ypr(res.frames[i].people[pid]["R_raw"])
                                   for i in frames_in]))
        people[str(pid)] = {
            "frames_reported": len(frames_in),
            "first_frame": frames_in[0],
            "last_frame": frames_in[-1],
            "gaps": len(_runs(frames_in)) - 1,
            "mean_distance_m": float(np.linalg.norm(t_raw, axis=1).mean()),
            "yaw_range_deg": [float(ypr[:, 0].min()), float(ypr[:, 0].max())],
            "raw": jitter_stats(_person_series(res.frames, pid, "R_raw", "T_raw")),
            "filtered": jitter_stats(_person_series(res.frames, pid, "R", "T")),
            "lag_rot_deg": _summary(np.asarray(lag_r)),
            "lag_trans_mm": _summary(np.asarray(lag_t)),
        }
    counts = np.array([len(f.people) for f in res.frames])
    est = np.array([f.n_estimates for f in res.frames])
    return {
        "video": Path(res.path).name,
        "frames": n,
        "width": res.width, "height": res.height, "fps": res.fps,
        "focal_px": float(res.K[0, 0]),
        "track_ids": ids,
        "frames_with_n_estimates": {str(k): int((est == k).sum()) for k in sorted(set(est))},
        "frames_with_n_reported": {str(k): int((counts == k).sum()) for k in sorted(set(counts))},
        "people": people,
    }


# --------------------------------------------------------------------------- pictures
def sheet_indices(n_frames: int, count: int) -> list[int]:
    """``count`` frame indices spread evenly over ``[0, n_frames)`` (first and last included)."""
    count = max(1, min(count, n_frames))
    return sorted({int(round(x)) for x in np.linspace(0, n_frames - 1, count)})


def people_region(res: VideoTrackResult, margin: float = 1.0) -> tuple[int, int, int, int]:
    """The union of every reported face box, grown by ``margin`` x the mean box side on each
    side and clipped to the frame: ``x0, y0, x1, y1`` (whole frame if nobody was reported)."""
    boxes = np.array([p["box"] for f in res.frames for p in f.people.values()])
    if boxes.size == 0:
        return 0, 0, res.width, res.height
    side = float(np.mean(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])))
    x0, y0 = boxes[:, :2].min(axis=0) - margin * side
    x1, y1 = boxes[:, 2:].max(axis=0) + margin * side
    return (max(0, int(x0)), max(0, int(y0)), min(res.width, int(math.ceil(x1))),
            min(res.height, int(math.ceil(y1))))


def contact_sheet(images: dict[int, np.ndarray], cols: int = 3, width: int = 640,
                  region: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Tile overlay frames (sorted by index), cut to ``region`` (x0, y0, x1, y1) if given,
    into one BGR image; each tile ``width`` px wide and labelled with its frame index."""
    if not images:
        raise ValueError("no frame for the contact sheet")
    tiles = []
    for i in sorted(images):
        im = images[i]
        if region is not None:
            x0, y0, x1, y1 = region
            im = im[y0:y1, x0:x1]
        s = width / im.shape[1]
        t = cv2.resize(im, (width, int(round(im.shape[0] * s))), interpolation=cv2.INTER_AREA)
        cv2.putText(t, f"frame {i}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255),
                    2, cv2.LINE_AA)
        tiles.append(t)
    th = max(t.shape[0] for t in tiles)
    rows = math.ceil(len(tiles) / cols)
    sheet = np.zeros((rows * th, cols * width, 3), np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, cols)
        sheet[r * th:r * th + t.shape[0], c * width:(c + 1) * width] = t
    return sheet


def plot_poses(res: VideoTrackResult, out: str | Path) -> None:
    """Yaw / pitch / roll (deg) and x / y / z (m) over time per person, raw vs filtered."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from head_pose_ros.overlay import person_rgb

    ids = sorted({pid for f in res.frames for pid in f.people})
    fig, axes = plt.subplots(2, 3, figsize=(14, 6.5), sharex=True)
    names = [("yaw", "pitch", "roll"), ("x", "y", "z")]
    for pid in ids:
        fr = [f for f in res.frames if pid in f.people]
        t = np.array([f.index for f in fr])
        colour = person_rgb(pid)
        for kind, style, lw in (("raw", ":", 1.0), ("filtered", "-", 1.6)):
            kr, kt = ("R_raw", "T_raw") if kind == "raw" else ("R", "T")
            ypr = np.degrees(np.stack([g.rotation_to_euler_ypr(f.people[pid][kr]) for f in fr]))
            xyz = np.stack([f.people[pid][kt] for f in fr])
            for j in range(3):
                axes[0, j].plot(t, ypr[:, j], style, color=colour, lw=lw,
                                label=f"id {pid} {kind}")
                axes[1, j].plot(t, xyz[:, j], style, color=colour, lw=lw)
    for j in range(3):
        axes[0, j].set_title(f"{names[0][j]} (deg)")
        axes[1, j].set_title(f"{names[1][j]} (m, camera frame, f = {res.K[0, 0]:.0f} px)")
        axes[1, j].set_xlabel("frame")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{Path(res.path).name}: raw (dotted) vs One-Euro filtered (solid)")
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)


# --------------------------------------------------------------------------- CLI
def _default_weights() -> str:
    repo = Path(__file__).resolve().parents[1] / "weights" / "head_pose_trg.safetensors"
    return str(repo)


def main(argv: list[str] | None = None) -> int:
    from head_pose_ros.backends import BACKENDS

    ap = argparse.ArgumentParser(prog="head-pose-video", description=__doc__.split("\n")[0])
    ap.add_argument("--video", required=True, help="video file (anything OpenCV decodes)")
    ap.add_argument("--weights", default=_default_weights(), help="TRG checkpoint")
    ap.add_argument("--yunet", default="", help="face_detection_yunet_2023mar.onnx "
                    "(default: the Haar cascade, frontal faces only)")
    ap.add_argument("--fov", type=float, default=None,
                    help="horizontal field of view (deg); default f = W + H (the node's guess)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--backend", default="auto", choices=BACKENDS,
                    help="inference backend (head_pose_ros.backends)")
    ap.add_argument("--max-frames", type=int, default=None)
    ap.add_argument("--json", default="", help="write the summary here")
    ap.add_argument("--sheet", default="", help="write a contact sheet of overlay frames (PNG)")
    ap.add_argument("--sheet-frames", type=int, default=12)
    ap.add_argument("--plot", default="", help="write pose-over-time plots (PNG)")
    ap.add_argument("--overlay", default="", help="write the overlay video (.mp4 / .avi)")
    args = ap.parse_args(argv)

    from head_pose_ros.checkpoint import CheckpointError
    from head_pose_ros.detection import create_detector
    from head_pose_ros.estimator import HeadPoseEstimator

    try:
        w, h, fps, count = video_properties(args.video)
        detector = create_detector("yunet" if args.yunet else "cascade", args.yunet)
        estimator = HeadPoseEstimator.from_checkpoint(args.weights, device=args.device,
                                                      backend=args.backend)
    except (FileNotFoundError, RuntimeError, ValueError, CheckpointError) as exc:
        print(f"head-pose-video: {exc}", file=sys.stderr)
        return 2
    writer = None
    if args.overlay:
        Path(args.overlay).parent.mkdir(parents=True, exist_ok=True)
        fourcc = cv2.VideoWriter_fourcc(*("mp4v" if args.overlay.endswith(".mp4") else "MJPG"))
        writer = cv2.VideoWriter(args.overlay, fourcc, fps or 30.0, (w, h))
        if not writer.isOpened():
            print(f"head-pose-video: cannot write {args.overlay}", file=sys.stderr)
            return 2
    n = min(count, args.max_frames) if args.max_frames else count
    want = set(sheet_indices(n, args.sheet_frames)) if args.sheet else None
    try:
        res = track_video(args.video, estimator, detector, fov_deg=args.fov,
                          max_frames=args.max_frames, sheet_indices=want, overlay_writer=writer)
    finally:
        if writer is not None:
            writer.release()
    summary = summarise(res)
    summary["weights"] = Path(args.weights).name
    summary["detector"] = type(detector).__name__
    summary["backend"] = getattr(estimator, "backend", "torch")
    _print_summary(summary)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    if args.sheet:
        Path(args.sheet).parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(args.sheet, contact_sheet(res.sheet_frames, region=people_region(res)),
                           [cv2.IMWRITE_JPEG_QUALITY, 85]):
            print(f"head-pose-video: cannot write {args.sheet}", file=sys.stderr)
            return 2
    if args.plot:
        plot_poses(res, args.plot)
    return 0


def _print_summary(s: dict[str, Any]) -> None:
    print(f"{s['video']}: {s['frames']} frames {s['width']}x{s['height']} @ {s['fps']:.2f} fps, "
          f"f = {s['focal_px']:.0f} px; track ids {s['track_ids']}")
    print(f"  frames by number of faces estimated: {s['frames_with_n_estimates']}, "
          f"reported: {s['frames_with_n_reported']}")
    for pid, p in s["people"].items():
        r, f = p["raw"], p["filtered"]
        print(f"  id {pid}: frames {p['first_frame']}-{p['last_frame']} "
              f"({p['frames_reported']} reported, {p['gaps']} gaps), "
              f"{p['mean_distance_m']:.2f} m")
        for key, unit in (("rot_step_deg", "deg"), ("trans_step_mm", "mm"),
                          ("rot_accel_deg", "deg"), ("trans_accel_mm", "mm")):
            print(f"    {key:15s} median raw {r[key]['median']:7.2f} -> filtered "
                  f"{f[key]['median']:7.2f} {unit} (p95 {r[key]['p95']:.2f} -> "
                  f"{f[key]['p95']:.2f})")
        print(f"    filtered vs raw: {p['lag_rot_deg']['median']:.2f} deg, "
              f"{p['lag_trans_mm']['median']:.1f} mm (median)")


if __name__ == "__main__":
    sys.exit(main())
