"""Throughput of the synthetic data engine: ``python -m head_pose_ros.synth.bench``.

Measures frames per second of :meth:`SyntheticFaceGenerator.generate` in ONE process with one
OpenGL context (Mesa llvmpipe limited to one thread unless ``LP_NUM_THREADS`` is set, numpy/BLAS
single-threaded), i.e. per CPU core, for 192x192 training crops (``crop_mode``) and for full
frames, and prints the time split: scene (sampling, mesh, labels, background), render (GL
draw + read-back, incl. normals), post (visibility, occluders, camera effects). The per-core
figure is images per CPU-second of the process (all its threads), which stays meaningful on a
machine shared with other jobs; the wall-clock rate is printed too.
"""

from __future__ import annotations

import os

os.environ.setdefault("LP_NUM_THREADS", "1")  # before Mesa is loaded: one core per process
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from .sampler import PRESETS, SyntheticFaceGenerator, preset  # noqa: E402


def benchmark(preset_name: str = "wild", crop_mode: bool = True, count: int = 40,
              warmup: int = 3, seed: int = 0, data_root=None, **overrides) -> dict:
    """Generate ``count`` samples after ``warmup``; returns rates and mean stage times (s)."""
    cfg = preset(preset_name, seed=seed, crop_mode=crop_mode, **overrides)
    gen = SyntheticFaceGenerator(cfg, data_root)
    for i in range(warmup):
        gen.generate(10_000_000 + i)
    stages = {"scene": [], "render": [], "post": [], "scene_cpu": [], "post_cpu": []}
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(count):
        gen.generate(i)
        for k in stages:
            stages[k].append(gen.last_timings[k])
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0  # all threads of this process: robust to a busy machine
    return {
        "preset": preset_name,
        "mode": "crop192" if crop_mode else "full",
        "count": count,
        "images_per_s": count / dt,
        "images_per_cpu_s": count / cpu,
        "ms_per_image": 1e3 * dt / count,
        "cpu_ms_per_image": 1e3 * cpu / count,
        "stage_ms": {k: 1e3 * float(np.mean(v)) for k, v in stages.items()},
        # CPU work outside the GL calls: what remains per image when a GPU renders
        "outside_gl_ms": 1e3 * float(np.mean(stages["scene_cpu"]) + np.mean(stages["post_cpu"])),
        "gpu_geometry": gen.renderer.gpu_geometry,
        "gl_renderer": gen.renderer.gl_renderer,
        "lp_num_threads": os.environ.get("LP_NUM_THREADS"),
        "config": {k: v for k, v in dataclasses.asdict(cfg).items() if k in (
            "samples", "crop_size", "effects", "occlusion", "multi_person")},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="wild", choices=sorted(PRESETS))
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--modes", default="crop,full", help="comma list of crop, full")
    ap.add_argument("--samples", type=int, default=None, help="MSAA samples override")
    ap.add_argument("--gpu-geometry", choices=["auto", "on", "off"], default="auto",
                    help="mesh + normals in compute shaders (auto: on for hardware GPUs)")
    ap.add_argument("--json", action="store_true", help="print JSON lines")
    args = ap.parse_args(argv)
    over = {} if args.samples is None else {"samples": args.samples}
    over["gpu_geometry"] = {"auto": None, "on": True, "off": False}[args.gpu_geometry]
    for mode in args.modes.split(","):
        r = benchmark(args.preset, crop_mode=mode.strip() == "crop", count=args.count, **over)
        if args.json:
            print(json.dumps(r))
        else:
            st = ", ".join(f"{k} {v:.1f} ms" for k, v in r["stage_ms"].items()
                           if not k.endswith("_cpu"))
            print(f"{r['mode']:8s} {r['preset']:6s}: {r['images_per_cpu_s']:6.1f} images per "
                  f"CPU-second ({r['cpu_ms_per_image']:.1f} CPU-ms/image); wall "
                  f"{r['images_per_s']:.1f} images/s ({st}) on {r['gl_renderer']}, "
                  f"LP_NUM_THREADS={r['lp_num_threads']}, gpu_geometry={r['gpu_geometry']}; "
                  f"CPU outside GL {r['outside_gl_ms']:.1f} CPU-ms/image")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
