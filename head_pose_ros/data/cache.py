"""Render synthetic faces once and store them in the ``labels.npz`` format (crop mode).

``python -m head_pose_ros.data.cache --preset selfie --count 2000 --seed 1 --out DIR
[--crop-size 256] [--crop-scale 2.0] [--workers N]``

The engine renders only a square around each face (``crop_mode``: ``crop-scale`` x the
68-landmark extent, ``crop-size`` pixels), ~4x faster than full frames. Each stored image *is*
that square, and ``K`` in ``labels.npz`` is its own intrinsics (the engine's ``K_crop``), so the
set is an ordinary ``synth_npz`` dataset: the crop code re-crops it at 1.5x with augmentation,
and every network input (K_crop, bbox_info, correction) is exact because those quantities are
invariant to a scale + shift of the pixel frame. Use it when on-the-fly rendering would starve
the GPU, or to train several models (ablations) on the same data.
"""

from __future__ import annotations

import argparse
import sys
import time
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import cv2
import numpy as np

_GEN: Any = None


def _init(preset: str, seed: int, overrides: dict) -> None:
    global _GEN
    from head_pose_ros.data.synthetic import make_generator

    _GEN = make_generator(preset, seed, overrides)


def _render(args: tuple[int, str, int]) -> dict:
    index, out_dir, quality = args
    d = _GEN.generate(index)
    name = f"{index:07d}.jpg"
    cv2.imwrite(str(Path(out_dir) / "images" / name), d["image"],
                [cv2.IMWRITE_JPEG_QUALITY, quality])
    lm = np.asarray(d["landmarks68_crop"], np.float64)
    h, w = d["image"].shape[:2]
    return {"files": name, "image_size": np.array([w, h]), "K": d["K_crop"], "R": d["R"],
            "T": d["T"], "vertices": d["vertices"], "landmarks68": lm,
            "landmarks68_visible": d["landmarks68_visible"],
            "bbox": np.array([*lm.min(axis=0), *lm.max(axis=0)])}


def cache_synthetic(out: str | Path, preset: str, count: int, seed: int = 0, *,
                    crop_size: int = 256, crop_scale: float = 2.0, workers: int = 1,
                    quality: int = 95, start: int = 0) -> Path:
    """Render ``count`` frames (indices ``start..start+count-1``) into ``out``; returns it."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    ov = {"crop_mode": True, "crop_size": int(crop_size),
          "crop_scale": (float(crop_scale), float(crop_scale))}
    jobs = [(i, str(out), quality) for i in range(start, start + count)]
    if workers > 1:
        with get_context("fork").Pool(workers, initializer=_init,
                                      initargs=(preset, seed, ov)) as pool:
            rows = pool.map(_render, jobs, chunksize=8)
    else:
        _init(preset, seed, ov)
        rows = [_render(j) for j in jobs]
    arrays = {k: np.stack([np.asarray(r[k]) for r in rows]) for k in rows[0]}
    arrays["files"] = np.array([r["files"] for r in rows])
    np.savez(out / "labels.npz", **arrays)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m head_pose_ros.data.cache",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--preset", default="wild")
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--crop-size", type=int, default=256)
    ap.add_argument("--crop-scale", type=float, default=2.0)
    ap.add_argument("--workers", type=int, default=1)
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    cache_synthetic(a.out, a.preset, a.count, a.seed, crop_size=a.crop_size,
                    crop_scale=a.crop_scale, workers=a.workers, start=a.start)
    dt = time.perf_counter() - t0
    print(f"wrote {a.count} {a.preset} samples to {a.out} in {dt:.1f} s "
          f"({a.count / dt:.1f}/s with {a.workers} worker(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
