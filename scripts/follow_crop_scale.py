"""Issue 18 finding: are the followed crops the size of the detector's crops?

On rendered frames (``head_pose_ros.bench.sequences``, seed 5: NOT the frames of the
following benchmark, which uses seed 0) with YuNet on every frame, compare for each estimate the
YuNet box's crop side with the side of the crop the follower would use in the next frame (1.5 x
the extent of the model's 3D landmarks projected with K). Then run the following benchmark's
three sequences (seed 0) with the follower's boxes scaled by that median ratio, to show what
matching the detector's crop size would change.

    python scripts/follow_crop_scale.py [--weights weights/head_pose_trg.safetensors]

Prints the ratio's median and p10/p90, then per sequence MAE_r (deg), MAE_t (mm) and id
switches of: the detector on every frame, following every 10 frames, following with scaled crops.
"""

from __future__ import annotations

import argparse

import numpy as np

import head_pose_ros.detection.follow as follow_mod
from head_pose_ros.bench import sequences as seq
from head_pose_ros.bench.following import run_sequence, summarise_rows
from head_pose_ros.detection import YuNetDetector
from head_pose_ros.detection.boxes import estimator_box_for_extent
from head_pose_ros.estimator import HeadPoseEstimator
from head_pose_ros.geometry import box_from_landmarks
from head_pose_ros.pipeline import HeadPosePipeline, PipelineConfig
from head_pose_ros.topology import default_shared_data


def crop_ratios(est, det, K, frames_per_sequence: int = 45, seed: int = 5) -> np.ndarray:
    """YuNet crop side / followed crop side (same estimate), over rendered frames."""
    pipe = HeadPosePipeline(est, det)
    out = []
    for name in seq.SEQUENCES:
        for fr in seq.render_sequence(name, frames_per_sequence, seed=seed):
            boxes = det.detect(fr.image).boxes
            if not len(boxes):
                continue
            for b, e in zip(boxes, est.predict(fr.image, K, boxes), strict=True):
                fb = estimator_box_for_extent(box_from_landmarks(pipe._follow_points(e, K, None)))
                out.append(max(b[2] - b[0], b[3] - b[1]) / (fb[2] - fb[0]))
    return np.asarray(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default="weights/head_pose_trg.safetensors")
    args = ap.parse_args()
    est = HeadPoseEstimator.from_checkpoint(args.weights, backend="onnxruntime", threads=1)
    det = YuNetDetector(default_shared_data() / "detector" / "face_detection_yunet_2023mar.onnx")
    K = seq.camera()
    r = crop_ratios(est, det, K)
    ratio = float(np.median(r))
    print(f"detector crop / followed crop (seed 5, n={len(r)}): median {ratio:.3f}, "
          f"p10 {np.percentile(r, 10):.3f}, p90 {np.percentile(r, 90):.3f}")
    plain = follow_mod.estimator_box_for_extent

    def scaled(ext: np.ndarray) -> np.ndarray:
        b = plain(ext)
        c, half = (b[:2] + b[2:]) / 2.0, (b[2:] - b[:2]) / 2.0 * ratio
        return np.concatenate([c - half, c + half])

    for name in seq.SEQUENCES:
        frames = list(seq.render_sequence(name, 90))
        row = {}
        for mode, n, box_fn in (("every frame", 1, plain), ("following", 10, plain),
                                ("following, scaled crops", 10, scaled)):
            follow_mod.estimator_box_for_extent = box_fn
            s = summarise_rows(run_sequence(frames, K, est, det, PipelineConfig(detect_every_n=n)))
            row[mode] = f"{s['mae_r']:.2f} deg / {s['mae_t_mm']:.1f} mm / {s['id_switches']} sw"
        follow_mod.estimator_box_for_extent = plain
        print(name, row)


if __name__ == "__main__":
    main()
