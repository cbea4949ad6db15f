"""Issue 18 finding: are the followed crops the size of the detector's crops, and what does
correcting them change?

On rendered frames (``head_pose_ros.bench.sequences``, ``--seed`` 5 by default: NOT the frames
of the following benchmark, which uses seed 0) with YuNet on every frame, compare for each
estimate the YuNet box's crop side with the side of the crop the follower would use in the next
frame (1.5 x the extent of the model's 3D landmarks projected with K). Then run the three
sequences of that seed with: the detector on every frame; following every 10 frames with
uncorrected crops (``HeadPosePipeline.learn_crop = False``); following with every crop scaled by
the median ratio; and following with the per-face correction learnt at each detector frame
(``HeadPosePipeline.learn_crop``, off by default; the detector's crop on detector frames), size
and centre, or size only.

    python scripts/follow_crop_scale.py [--weights weights/head_pose_trg.safetensors] [--seed 5]

Prints the ratio's median and p10/p90, then per sequence and mode MAE_r (deg), MAE_t (mm),
jitter_r (deg) and id switches, and the same pooled over the sequences.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

import head_pose_ros.detection.follow as follow_mod
import head_pose_ros.pipeline as pipeline_mod
from head_pose_ros.bench import sequences as seq
from head_pose_ros.bench.following import run_sequence, summarise_rows
from head_pose_ros.detection import YuNetDetector
from head_pose_ros.detection.boxes import estimator_box_for_extent
from head_pose_ros.estimator import HeadPoseEstimator
from head_pose_ros.geometry import box_from_landmarks
from head_pose_ros.pipeline import HeadPosePipeline, PipelineConfig
from head_pose_ros.topology import default_shared_data


def crop_ratios(est: Any, det: Any, K: np.ndarray, frames: dict[str, list[Any]]  # noqa: N803
                ) -> np.ndarray:
    """YuNet crop side / followed crop side (same estimate), over rendered frames."""
    pipe = HeadPosePipeline(est, det)
    out = []
    for name in seq.SEQUENCES:
        for fr in frames[name]:
            boxes = det.detect(fr.image).boxes
            if not len(boxes):
                continue
            for b, e in zip(boxes, est.predict(fr.image, K, boxes), strict=True):
                fb = estimator_box_for_extent(box_from_landmarks(pipe._follow_points(e, K, None)))
                out.append(max(b[2] - b[0], b[3] - b[1]) / (fb[2] - fb[0]))
    return np.asarray(out)


@contextmanager
def variant(learn: bool, refine_iou: float | None = 0.3,
            box_fn: Callable[[np.ndarray], np.ndarray] | None = None,
            size_only: bool = False) -> Iterator[None]:
    """The pipeline's class settings (and the follower's box function) for one mode."""
    saved = (HeadPosePipeline.learn_crop, HeadPosePipeline.refine_iou,
             follow_mod.estimator_box_for_extent, pipeline_mod.crop_correction)
    HeadPosePipeline.learn_crop, HeadPosePipeline.refine_iou = learn, refine_iou
    if box_fn is not None:
        follow_mod.estimator_box_for_extent = box_fn
    if size_only:
        plain = saved[3]

        def no_shift(d: np.ndarray, f: np.ndarray) -> np.ndarray:
            return np.array([plain(d, f)[0], 0.0, 0.0])

        pipeline_mod.crop_correction = no_shift
    try:
        yield
    finally:
        (HeadPosePipeline.learn_crop, HeadPosePipeline.refine_iou,
         follow_mod.estimator_box_for_extent, pipeline_mod.crop_correction) = saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default="weights/head_pose_trg.safetensors")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--frames", type=int, default=90)
    args = ap.parse_args()
    est = HeadPoseEstimator.from_checkpoint(args.weights, backend="onnxruntime", threads=1)
    det = YuNetDetector(default_shared_data() / "detector" / "face_detection_yunet_2023mar.onnx")
    K = seq.camera()
    frames = {n: list(seq.render_sequence(n, args.frames, seed=args.seed))
              for n in seq.SEQUENCES}
    r = crop_ratios(est, det, K, {n: f[::2] for n, f in frames.items()})
    ratio = float(np.median(r))
    print(f"detector crop / followed crop (seed {args.seed}, n={len(r)}): median {ratio:.3f}, "
          f"p10 {np.percentile(r, 10):.3f}, p90 {np.percentile(r, 90):.3f}", flush=True)
    plain = follow_mod.estimator_box_for_extent

    def scaled(ext: np.ndarray) -> np.ndarray:
        b = plain(ext)
        c, half = (b[:2] + b[2:]) / 2.0, (b[2:] - b[:2]) / 2.0 * ratio
        return np.concatenate([c - half, c + half])

    modes: dict[str, tuple[int, dict[str, Any]]] = {
        "every frame": (1, dict(learn=False)),
        "following, uncorrected": (10, dict(learn=False)),
        f"following, all crops x {ratio:.3f}": (10, dict(learn=False, box_fn=scaled)),
        "following, learnt": (10, dict(learn=True)),
        "following, learnt size only": (10, dict(learn=True, size_only=True)),
    }
    pooled: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    print("| sequence | mode | MAE_r (deg) | MAE_t (mm) | jitter_r (deg) | id switches |")
    print("|---|---|---|---|---|---|")

    def line(name: str, mode: str, s: dict[str, Any]) -> str:
        return (f"| {name} | {mode} | {s['mae_r']:.2f} | {s['mae_t_mm']:.1f} | "
                f"{s['jitter_r_deg']:.2f} | {s['id_switches']} |")

    for name in seq.SEQUENCES:
        for mode, (n, opts) in modes.items():
            with variant(**opts):
                run = run_sequence(frames[name], K, est, det, PipelineConfig(detect_every_n=n))
            for row in run["rows"]:
                row["person"] = (name, row["person"])
            pooled[mode].append(run)
            print(line(name, mode, summarise_rows(run)), flush=True)
    for mode, runs in pooled.items():
        merged = {k: (sum((r[k] for r in runs), []) if isinstance(runs[0][k], list)
                      else sum(r[k] for r in runs)) for k in runs[0]}
        print(line("pooled", mode, summarise_rows(merged)))


if __name__ == "__main__":
    main()
