"""Pipeline section: one frame = JPEG decode + :meth:`HeadPosePipeline.process` (the node's
per-frame work without ROS: detect or follow, crop, one batched inference for all faces,
post-processing, tracking, filtering), with the detector on every frame
(``detect_every_n = 1``) and following (``detect_every_n = N``, ``--detect-every-n``), frames
interleaved between the two; 1, 2, 4 and 8 faces at 640x480 and 1920x1080.

Per case: median / p90 ms per frame, frames/s, the median seconds per stage (``decode`` and the
pipeline's :attr:`FrameResult.timings`: ``detect``, ``crop``, ``infer``, ``post``; a stage's
median is over all frames, so ``detect`` of the following run is mostly 0), and the speed-up of
following. The frames are still (the tiled face photo of :mod:`.frames`): the follower
re-crops the same faces every frame; what following costs in accuracy on moving heads is
:mod:`.following`. :func:`memory_section` runs the pipeline over many frames and reports the
resident memory at the start, middle and end.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from head_pose_ros.bench.frames import (
    FACE_LAYOUTS,
    FRAME_SIZES,
    encode_jpeg,
    face_photo,
    make_frame,
)
from head_pose_ros.bench.timing import latency_stats
from head_pose_ros.geometry import default_intrinsics
from head_pose_ros.pipeline import STAGES, HeadPosePipeline, PipelineConfig

MODES = ("detect_every_frame", "following")
#: ``detect_every_n`` of the following runs unless ``--detect-every-n`` says otherwise (the
#: default the issue-18 measurements use: a new person is found within 1/3 s at 30 Hz)
DEFAULT_DETECT_EVERY_N = 10


def run_pipeline_cases(estimator: Any, detector: Any, shared_data: Path, every: int,
                       warmup: int, repeats: int, sizes: Sequence[str], faces: Sequence[int]
                       ) -> dict[str, dict[str, Any]]:
    """``{mode: {"<size>_<n>face": stats}}`` for the two modes of :data:`MODES`."""
    patch, lm = face_photo(shared_data)
    out: dict[str, dict[str, Any]] = {m: {} for m in MODES}
    for size_name in sizes:
        w, h = FRAME_SIZES[size_name]
        K = default_intrinsics(w, h)
        for n in faces:
            frame, _ = make_frame(patch, lm, (w, h), n)
            buf = encode_jpeg(frame)
            pipes = {m: HeadPosePipeline(estimator, detector,
                                         PipelineConfig(detect_every_n=1 if m == MODES[0]
                                                        else every))
                     for m in MODES}
            rec: dict[str, dict[str, list[float]]] = {
                m: {k: [] for k in ("total", "decode", *STAGES, "found", "ran")} for m in MODES}
            for i in range(warmup + repeats):
                for m, pipe in pipes.items():
                    t0 = time.perf_counter()
                    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
                    t1 = time.perf_counter()
                    res = pipe.process(img, K, i / 30.0)
                    t2 = time.perf_counter()
                    if i < warmup:
                        continue
                    r = rec[m]
                    r["total"].append((t2 - t0) * 1e3)
                    r["decode"].append((t1 - t0) * 1e3)
                    for k in STAGES:
                        r[k].append(res.timings[k] * 1e3)
                    r["found"].append(res.n_estimates)
                    r["ran"].append(float(res.detector_ran))
            for m, r in rec.items():
                st = latency_stats(r["total"])
                out[m][f"{size_name}_{n}face"] = {
                    **st, "fps": 1e3 / st["median_ms"],
                    "stages_median_ms": {k: float(np.median(r[k])) for k in ("decode", *STAGES)},
                    "stages_mean_ms": {k: float(np.mean(r[k])) for k in ("decode", *STAGES)},
                    "detector_share": float(np.mean(r["ran"])), "faces_expected": n,
                    "faces_found_min": int(min(r["found"])),
                    "faces_found_max": int(max(r["found"]))}
    for case, r in out[MODES[1]].items():
        r["speedup"] = out[MODES[0]][case]["median_ms"] / r["median_ms"]
    return out


def plot_faces(rep: dict[str, Any], path: str | Path) -> Path:
    """ms per frame vs number of faces, per size and mode (a PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for mode, cases in rep["modes"].items():
        for size in FRAME_SIZES:
            pts = sorted((r["faces_expected"], r["median_ms"]) for c, r in cases.items()
                         if c.startswith(size + "_"))
            if pts:
                x, y = zip(*pts, strict=True)
                ax.plot(x, y, "o-" if mode == MODES[1] else "s--", label=f"{size}, {mode}")
    ax.set_xlabel("faces in the frame")
    ax.set_ylabel("ms per frame (median)")
    ax.set_xticks(sorted(FACE_LAYOUTS))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(rep.get("title", "pipeline: cost vs faces"), fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def pipeline_section(estimator: Any, detector: Any, shared: Path, every: int, warmup: int,
                     repeats: int, quick: bool) -> dict[str, Any]:
    sizes = ["640x480"] if quick else list(FRAME_SIZES)
    faces = [1, 4] if quick else sorted(FACE_LAYOUTS)
    print(f"[bench] pipeline: detector every frame vs following every {every} (interleaved) "
          "...", file=sys.stderr, flush=True)
    return {"detect_every_n": every, "backend": getattr(estimator, "backend", "?"),
            "modes": run_pipeline_cases(estimator, detector, shared, every, warmup, repeats,
                                        sizes, faces)}


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def memory_section(estimator: Any, detector: Any, shared: Path, frames: int, every: int
                   ) -> dict[str, Any]:
    """RSS (MiB) at the start, middle and end of ``frames`` pipeline frames (640x480, 1 face,
    following on, the real estimator), plus every tenth of the run."""
    patch, lm = face_photo(shared)
    frame, _ = make_frame(patch, lm, (640, 480), 1)
    buf = encode_jpeg(frame)
    K = default_intrinsics(640, 480)
    pipe = HeadPosePipeline(estimator, detector, PipelineConfig(detect_every_n=every))
    marks = {0, frames // 2, frames - 1} | {frames * k // 10 for k in range(10)}
    samples: dict[int, float] = {}
    print(f"[bench] memory: {frames} frames ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    for i in range(frames):
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        pipe.process(img, K, i / 30.0)
        if i in marks:
            gc.collect()
            samples[i] = rss_mb()
    rss = [samples[k] for k in sorted(samples)]
    return {"frames": frames, "detect_every_n": every, "seconds": time.perf_counter() - t0,
            "rss_mb": {str(k): v for k, v in sorted(samples.items())},
            "start_mb": samples[0], "middle_mb": samples[frames // 2],
            "end_mb": samples[frames - 1],
            "growth_second_half_mb": samples[frames - 1] - samples[frames // 2],
            "max_minus_min_mb": max(rss) - min(rss)}


def format_pipeline(rep: dict[str, Any]) -> list[str]:
    """Markdown lines of the pipeline and memory sections (plain text reads them too)."""
    p = rep.get("pipeline", {})
    out: list[str] = []
    if "skipped" in p:
        out.append(f"Pipeline: skipped ({p['skipped']}).")
    elif p:
        out += [f"Pipeline per frame (JPEG decode + `HeadPosePipeline.process`, backend "
                f"{p['backend']}): detector every frame vs following (`detect_every_n = "
                f"{p['detect_every_n']}`), interleaved; median / p90 ms, frames/s, speed-up of "
                "following, mean ms per stage (detect / crop / infer / post), share of frames "
                "on which the detector ran.", "",
                "| mode | frame | median ms | p90 ms | frames/s | x | decode | detect | crop | "
                "infer | post | detector share | faces |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for mode, cases in p["modes"].items():
            for case, r in cases.items():
                sm = r["stages_mean_ms"]
                out.append(
                    f"| {mode} | {case} | {r['median_ms']:.1f} | {r['p90_ms']:.1f} | "
                    f"{r['fps']:.1f} | {r.get('speedup', 1.0):.2f} | {sm['decode']:.1f} | "
                    f"{sm['detect']:.1f} | {sm['crop']:.1f} | {sm['infer']:.1f} | "
                    f"{sm['post']:.1f} | {r['detector_share']:.2f} | {r['faces_found_min']}-"
                    f"{r['faces_found_max']} of {r['faces_expected']} |")
        if p.get("plot"):
            out += ["", f"Plot: `{p['plot']}`."]
    mem = rep.get("memory", {})
    if "skipped" in mem:
        out += ["", f"Memory: skipped ({mem['skipped']})."]
    elif mem:
        out += ["", f"Memory over {mem['frames']} pipeline frames (640x480, 1 face, "
                f"detect_every_n = {mem['detect_every_n']}, the real estimator, "
                f"{mem['seconds']:.0f} s): RSS start {mem['start_mb']:.1f} MiB, middle "
                f"{mem['middle_mb']:.1f}, end {mem['end_mb']:.1f} (second half "
                f"{mem['growth_second_half_mb']:+.1f} MiB; max - min "
                f"{mem['max_minus_min_mb']:.1f} MiB)."]
    return out
