"""Calibrate the pose covariance of a checkpoint on held-out data and report its coverage.

TRG has no uncertainty output: :func:`head_pose_ros.covariance.pose_covariance` derives a 6x6
covariance from the geometry of Eq. 2 (depth error grows with distance) with per-axis scales.
This command fits those scales on a calibration set so that the 1-sigma coverage of every axis
is the nominal 68.27 %, writes them into a copy of the checkpoint (``meta["covariance"]``, read
by :class:`head_pose_ros.estimator.HeadPoseEstimator`), and prints the 1-sigma / 2-sigma coverage
on report sets (which must not overlap the calibration set)::

    python -m head_pose_ros.train.calibrate --weights W --calib DIR --out W_CAL \\
        [--report DIR ...] [--json OUT]

Data: ``labels.npz`` synthetic sets (``head-pose-synth`` or ``python -m head_pose_ros.data.cache``),
cropped by the evaluation rule (ground-truth landmark box x 1.5) with the model's own crop size.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from head_pose_ros.covariance import (
    CovarianceParams,
    calibrate,
    coverage,
    pose_covariance,
    pose_errors,
)

AXES = ("x", "y", "z", "rotX", "rotY", "rotZ")


def predictions_with_covariance(model: Any, data_dir: str, params: CovarianceParams,
                                device: Any) -> tuple[np.ndarray, np.ndarray]:
    """(N, 6) pose errors and (N, 6, 6) predicted covariances of ``model`` on a synthetic set."""
    from head_pose_ros.data.synthetic import SynthNpzDataset
    from head_pose_ros.train.evaluate import EvalView, predict_dataset

    ds = SynthNpzDataset(data_dir, model.topology(), out_size=model.config.input_size)
    pred = predict_dataset(model, EvalView(ds), device=device)
    errors = pose_errors(pred["R"], pred["T"], pred["gt_R"], pred["gt_T"])
    covs = np.stack([
        pose_covariance(pred["T"][i], pred["K"][i], float(pred["box"][i][2]), params)
        for i in range(len(pred["R"]))
    ])
    return errors, covs


def coverage_report(errors: np.ndarray, covs: np.ndarray) -> dict[str, dict[str, float]]:
    """Per-axis fraction of errors inside the 1-sigma and 2-sigma bounds."""
    one, two = coverage(errors, covs), coverage(errors, 4.0 * covs)
    return {a: {"1sigma": float(one[i]), "2sigma": float(two[i])} for i, a in enumerate(AXES)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True, help="checkpoint to calibrate")
    ap.add_argument("--calib", required=True, help="held-out calibration set (labels.npz dir)")
    ap.add_argument("--out", required=True, help="calibrated checkpoint to write")
    ap.add_argument("--report", action="append", default=[], help="test set(s) for coverage")
    ap.add_argument("--json", default="", help="write the coverage report here")
    ap.add_argument("--fp16", action="store_true", help="store the weights as float16")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)

    import torch

    from head_pose_ros.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

    device = torch.device(args.device)
    try:
        model, info = load_checkpoint(args.weights, device=device)
    except CheckpointError as exc:
        print(f"calibrate: {exc}", file=sys.stderr)
        return 2
    meta = dict(info.get("meta", {}))
    before = CovarianceParams.from_dict(meta.get("covariance"))
    uncal = CovarianceParams.from_dict({**before.to_dict(), "scale": (1.0,) * 6,
                                        "calibrated": False})
    errors, covs = predictions_with_covariance(model, args.calib, uncal, device)
    fitted = calibrate(errors, covs, uncal,
                       note=f"fitted on {len(errors)} samples of {Path(args.calib).name}")
    meta["covariance"] = fitted.to_dict()
    save_checkpoint(args.out, model, meta, fp16=args.fp16)
    report: dict[str, Any] = {"calibration_set": str(args.calib), "n_calib": int(len(errors)),
                              "scale": fitted.scale, "sets": {}}
    print(f"calibrated on {len(errors)} samples; per-axis scales "
          + ", ".join(f"{a} {s:.3g}" for a, s in zip(AXES, fitted.scale, strict=True)))
    for d in args.report:
        e, c = predictions_with_covariance(model, d, fitted, device)
        rep = coverage_report(e, c)
        report["sets"][Path(d).name] = {"n": int(len(e)), "coverage": rep}
        print(f"{Path(d).name} (n={len(e)}): coverage 1-sigma / 2-sigma (nominal 68.3 / 95.4 %): "
              + ", ".join(f"{a} {100 * v['1sigma']:.1f}/{100 * v['2sigma']:.1f}"
                          for a, v in rep.items()))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
