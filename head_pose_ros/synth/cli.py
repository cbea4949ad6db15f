"""``head-pose-synth``: write a labelled synthetic data set (images + labels.npz).

Output: ``DIR/images/%08d.jpg`` (or .png) and ``DIR/labels.npz`` with one row per person
(a multi-person frame gives several rows with the same file name), primary person first:

=====================  ==============  =======  ============================================
key                    shape           dtype    meaning
=====================  ==============  =======  ============================================
files                  (N,)            str      image path relative to DIR
image_size             (N, 2)          int32    (W, H) pixels
K                      (N, 3, 3)       float64  intrinsics (pixel centres at integers)
R                      (N, 3, 3)       float64  rotation, X_cam = R @ X_head + T
T                      (N, 3)          float64  translation, metres
vertices               (N, 1220, 3)    float32  ARKit 1220 dense face, head frame, metres
landmarks68            (N, 68, 2)      float32  image pixels (iBUG order)
landmarks68_visible    (N, 68)         bool     not occluded (self, other head, occluder)
bbox                   (N, 4)          float32  x0, y0, x1, y1 of the projected dense face
=====================  ==============  =======  ============================================

and ``DIR/synth.json``: the :class:`SynthConfig`, and per row ``frame`` (frame index; rows of
one image share it) and ``person`` (0 = primary person of the frame).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from .sampler import PRESETS, SynthConfig, SyntheticFaceGenerator, preset

_GEN: SyntheticFaceGenerator | None = None


def _init(cfg: SynthConfig, data_root) -> None:
    global _GEN
    _GEN = SyntheticFaceGenerator(cfg, data_root)


def _work(job: tuple[int, str, str]) -> tuple:
    index, out_dir, ext = job
    assert _GEN is not None
    s = _GEN.generate(index)
    rel = f"images/{index:08d}.{ext}"
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext == "jpg" else []
    cv2.imwrite(os.path.join(out_dir, rel), s["image"], params)
    return index, rel, s["persons"], (int(s["image_size"][0]), int(s["image_size"][1])), s["K"]


def _pair(v):
    return None if v is None else (float(v[0]), float(v[1]))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="head-pose-synth", description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--count", type=int, required=True, help="number of frames")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", type=int, default=0, help="first frame index (to extend a set)")
    ap.add_argument("--preset", default="wild", choices=sorted(PRESETS))
    ap.add_argument("--distance", type=float, nargs=2, metavar=("MIN", "MAX"), help="metres")
    ap.add_argument("--focal", type=float, nargs=2, metavar=("MIN", "MAX"),
                    help="fx range in pixels (replaces the preset's field-of-view range)")
    ap.add_argument("--hfov", type=float, nargs=2, metavar=("MIN", "MAX"), help="degrees")
    ap.add_argument("--pp-offset", type=float, help="principal point offset, +- fraction of W/H")
    ap.add_argument("--image-size", type=int, nargs=2, action="append", metavar=("W", "H"),
                    help="image size; repeat for a random choice among several")
    ap.add_argument("--yaw", type=float, nargs=2, metavar=("MIN", "MAX"), help="degrees")
    ap.add_argument("--pitch", type=float, nargs=2, metavar=("MIN", "MAX"), help="degrees")
    ap.add_argument("--roll", type=float, nargs=2, metavar=("MIN", "MAX"), help="degrees")
    ap.add_argument("--expression", type=float, help="max expression weight (0..1)")
    ap.add_argument("--occlusion", type=float, help="probability of a 2D occluder")
    ap.add_argument("--multi-person", type=float, help="probability of several persons")
    ap.add_argument("--effects", type=float, help="blur/noise strength (0 = clean images)")
    ap.add_argument("--png", action="store_true", help="write PNG instead of JPEG (q95)")
    ap.add_argument("--workers", type=int, default=1, help="processes (one GL context each)")
    ap.add_argument("--data-root", default=None, help="shared data root (HEAD_POSE_SHARED_DATA)")
    return ap


def config_from_args(args: argparse.Namespace) -> SynthConfig:
    return preset(
        args.preset, seed=args.seed, distance=_pair(args.distance), focal=_pair(args.focal),
        hfov=_pair(args.hfov), pp_offset=args.pp_offset,
        image_sizes=[tuple(s) for s in args.image_size] if args.image_size else None,
        yaw=_pair(args.yaw), pitch=_pair(args.pitch), roll=_pair(args.roll),
        expression=args.expression, occlusion=args.occlusion, multi_person=args.multi_person,
        effects=args.effects,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)
    out = Path(args.out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    ext = "png" if args.png else "jpg"
    jobs = [(i, str(out), ext) for i in range(args.start, args.start + args.count)]
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        def tqdm(x, **_):
            return x
    results = []
    if args.workers > 1:
        ctx = mp.get_context("fork")
        with ctx.Pool(args.workers, initializer=_init, initargs=(cfg, args.data_root)) as pool:
            it = pool.imap_unordered(_work, jobs, chunksize=4)
            results = list(tqdm(it, total=len(jobs), desc="synth", unit="img"))
    else:
        _init(cfg, args.data_root)
        results = [_work(j) for j in tqdm(jobs, desc="synth", unit="img")]
    results.sort(key=lambda r: r[0])
    rows: dict[str, list] = {k: [] for k in (
        "files", "image_size", "K", "R", "T", "vertices", "landmarks68", "landmarks68_visible",
        "bbox", "frame", "person")}
    for index, rel, persons, size, K in results:  # noqa: N806
        for j, p in enumerate(persons):
            rows["files"].append(rel)
            rows["image_size"].append(size)
            rows["K"].append(K)
            rows["R"].append(p["R"])
            rows["T"].append(p["T"])
            rows["vertices"].append(p["vertices"])
            rows["landmarks68"].append(p["landmarks68"])
            rows["landmarks68_visible"].append(p["landmarks68_visible"])
            rows["bbox"].append(p["bbox"])
            rows["frame"].append(index)
            rows["person"].append(j)
    np.savez(
        out / "labels.npz",
        files=np.array(rows["files"], dtype=str),
        image_size=np.array(rows["image_size"], np.int32).reshape(-1, 2),
        K=np.array(rows["K"], np.float64).reshape(-1, 3, 3),
        R=np.array(rows["R"], np.float64).reshape(-1, 3, 3),
        T=np.array(rows["T"], np.float64).reshape(-1, 3),
        vertices=np.array(rows["vertices"], np.float32).reshape(-1, 1220, 3),
        landmarks68=np.array(rows["landmarks68"], np.float32).reshape(-1, 68, 2),
        landmarks68_visible=np.array(rows["landmarks68_visible"], bool).reshape(-1, 68),
        bbox=np.array(rows["bbox"], np.float32).reshape(-1, 4),
    )
    meta = {"config": cfg.to_dict(), "frame": rows["frame"], "person": rows["person"],
            "images": len(results), "rows": len(rows["files"])}
    (out / "synth.json").write_text(json.dumps(meta, indent=1))
    n_rows = len(rows["files"])
    print(f"wrote {len(results)} images, {n_rows} person rows to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
