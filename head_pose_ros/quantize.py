# ruff: noqa: N803, N806  (K, R, T: the notation of geometry.py)
"""Static int8 quantisation of the exported TRG graph (ONNX Runtime), and its accuracy cost.

``python -m head_pose_ros.quantize --weights weights/head_pose_trg.safetensors
--out /tmp/trg_int8.onnx --json docs/results/bench/int8.json``

- Calibration (``onnxruntime.quantization.quantize_static``, QDQ format, per-channel int8
  weights, uint8 activations, MinMax): the network inputs the estimator builds for TRAINING
  crops only — synthetic frames of the engine's training distribution (seed
  :data:`CALIB_SEED`) and the TRAINING sequences of ``real/biwi_crops`` (never AFLW2000, never
  BIWI's val sequences). Only Conv, MatMul and Gemm are quantised; the geometry (grid sampling,
  soft-argmax, Gram-Schmidt, Eq. 2) stays float.
- Accuracy, fp32 graph vs int8 graph in the same run, both through
  :class:`~head_pose_ros.estimator.HeadPoseEstimator` (same crops, same post-processing):
  synthetic held-out frames (seed :data:`EVAL_SEED`, exact labels: MAE_r and MAE_t) and the
  BIWI val sequences (rotation labels only: MAE_r). int8 is the default only if it costs at
  most :data:`MAX_COST_R` degrees of MAE_r and :data:`MAX_COST_T_MM` of MAE_t.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from head_pose_ros.detection import estimator_box_for_extent
from head_pose_ros.geometry import box_from_landmarks, detection_box_for_crop
from head_pose_ros.metrics import rotation_errors_deg, translation_errors_mm
from head_pose_ros.onnx_export import INPUT_NAMES

CALIB_SEED = 1801
EVAL_SEED = 1802
MAX_COST_R = 0.3
MAX_COST_T_MM = 1.0
QUANTIZED_OPS = ("Conv", "MatMul", "Gemm")


class RecordingModel:
    """Wraps the estimator's model: records the network inputs of every call (numpy)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.config = model.config
        self.feeds: list[dict[str, np.ndarray]] = []

    def __call__(self, *args: Any) -> Any:
        self.feeds.append({n: a.detach().cpu().float().contiguous().numpy()
                           for n, a in zip(INPUT_NAMES, args, strict=True)})
        return self.model(*args)


def synthetic_faces(n: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray,
                                                         dict[str, np.ndarray]]]:
    """(image BGR, K, estimator box (4,), label dict R/T) of ``n`` synthetic training-like
    frames (primary person), box from the exact landmarks (the follower's crop)."""
    from head_pose_ros.synth.sampler import SynthConfig, SyntheticFaceGenerator

    gen = SyntheticFaceGenerator(SynthConfig(seed=seed, max_persons=1))
    for i in range(n):
        s = gen.generate(i)
        box = estimator_box_for_extent(box_from_landmarks(s["landmarks68"]))
        yield s["image"], s["K"], box, {"R": s["R"], "T": s["T"]}


def biwi_faces(root: Path, split: str, n: int, seed: int) -> Iterator[
        tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]]:
    """(image BGR, K_approx, estimator box, {R}) of ``n`` random crops of a BIWI split."""
    from head_pose_ros.data.biwi_crops import crop_box

    with np.load(root / "labels.npz") as z:
        names, seqs, Rs, Ks = z["names"], z["seq"].astype(str), z["R"], z["K_approx"]
    from head_pose_ros.data.biwi_crops import VAL_SEQUENCES

    idx = np.flatnonzero(np.isin(seqs, VAL_SEQUENCES) == (split == "val"))
    rng = np.random.default_rng(seed)
    for i in rng.choice(idx, size=min(n, len(idx)), replace=False):
        img = cv2.imread(str(root / "images" / str(names[i])), cv2.IMREAD_COLOR)
        h, w = img.shape[:2]
        yield img, Ks[i].astype(np.float64), detection_box_for_crop(crop_box(w, h)), \
            {"R": Rs[i].astype(np.float64)}


def calibration_feeds(estimator: Any, faces: Iterator[Any]) -> list[dict[str, np.ndarray]]:
    """The network inputs the estimator builds for ``faces`` (one per face)."""
    rec = RecordingModel(estimator.model)
    estimator.model, orig = rec, estimator.model
    try:
        for img, K, box, _ in faces:
            estimator.predict(img, K, box[None])
    finally:
        estimator.model = orig
    return rec.feeds


def quantize_graph(fp32: Path, out: Path, feeds: list[dict[str, np.ndarray]]) -> Path:
    """Static QDQ int8 quantisation of ``fp32`` calibrated on ``feeds``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    out.parent.mkdir(parents=True, exist_ok=True)
    quantize_static(str(fp32), str(out), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, op_types_to_quantize=list(QUANTIZED_OPS))
    return out


def errors(estimator: Any, faces: list[Any]) -> dict[str, float]:
    """MAE_r (mean of yaw / pitch / roll, degrees) and, with T labels, MAE_t (mm)."""
    R, T, Rg, Tg = [], [], [], []
    for img, K, box, lab in faces:
        (e,) = estimator.predict(img, K, box[None])
        R.append(e.R)
        Rg.append(lab["R"])
        if "T" in lab:
            T.append(e.T)
            Tg.append(lab["T"])
    er = rotation_errors_deg(np.stack(R), np.stack(Rg))
    out = {"n": len(faces), "mae_r": float(np.mean([er["yaw"].mean(), er["pitch"].mean(),
                                                    er["roll"].mean()]))}
    if T:
        out["mae_t_mm"] = float(translation_errors_mm(np.stack(T), np.stack(Tg)).mean())
    return out


def main(argv: list[str] | None = None) -> int:
    import torch

    from head_pose_ros.backends import OrtTRGAdapter
    from head_pose_ros.estimator import HeadPoseEstimator
    from head_pose_ros.onnx_export import ort_session
    from head_pose_ros.topology import default_shared_data

    ap = argparse.ArgumentParser(prog="python -m head_pose_ros.quantize",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default="weights/head_pose_trg.safetensors")
    ap.add_argument("--out", required=True, help="the int8 .onnx to write")
    ap.add_argument("--calib-synthetic", type=int, default=150)
    ap.add_argument("--calib-biwi", type=int, default=150)
    ap.add_argument("--eval-synthetic", type=int, default=250)
    ap.add_argument("--eval-biwi", type=int, default=250)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--shared-data")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    shared = Path(args.shared_data) if args.shared_data else default_shared_data()
    biwi = shared / "real" / "biwi_crops"
    est = HeadPoseEstimator.from_checkpoint(args.weights, backend="onnxruntime",
                                            threads=args.threads)
    fp32_graph = est.model.graph.path
    t0 = time.perf_counter()
    feeds = calibration_feeds(est, synthetic_faces(args.calib_synthetic, CALIB_SEED))
    if biwi.is_dir():
        feeds += calibration_feeds(est, biwi_faces(biwi, "train", args.calib_biwi, CALIB_SEED))
    t1 = time.perf_counter()
    out = quantize_graph(Path(fp32_graph), Path(args.out), feeds)
    t2 = time.perf_counter()
    print(f"[quantize] {len(feeds)} calibration crops ({t1 - t0:.0f} s), quantised in "
          f"{t2 - t1:.0f} s -> {out}", file=sys.stderr, flush=True)
    int8 = HeadPoseEstimator.from_checkpoint(args.weights, backend="onnxruntime",
                                             threads=args.threads)
    int8.model = OrtTRGAdapter(ort_session(out, threads=args.threads, allow_spinning=False),
                               int8.model.config, None, args.threads)
    sets = {"synthetic_heldout": list(synthetic_faces(args.eval_synthetic, EVAL_SEED))}
    if biwi.is_dir():
        sets["biwi_val"] = list(biwi_faces(biwi, "val", args.eval_biwi, EVAL_SEED))
    rep: dict[str, Any] = {"weights": args.weights, "fp32_graph": str(fp32_graph),
                           "int8_graph": str(out), "calibration": {
                               "synthetic_seed": CALIB_SEED, "synthetic": args.calib_synthetic,
                               "biwi_train": args.calib_biwi if biwi.is_dir() else 0,
                               "ops": list(QUANTIZED_OPS)},
                           "max_cost": {"mae_r": MAX_COST_R, "mae_t_mm": MAX_COST_T_MM},
                           "sets": {}}
    for name, faces in sets.items():
        a, b = errors(est, faces), errors(int8, faces)
        rep["sets"][name] = {"fp32": a, "int8": b,
                             "cost_mae_r": b["mae_r"] - a["mae_r"],
                             **({"cost_mae_t_mm": b["mae_t_mm"] - a["mae_t_mm"]}
                                if "mae_t_mm" in a else {})}
    ok = all(s["cost_mae_r"] <= MAX_COST_R and s.get("cost_mae_t_mm", 0.0) <= MAX_COST_T_MM
             for s in rep["sets"].values())
    rep["default_ok"] = bool(ok)
    for name, s in rep["sets"].items():
        print(f"{name}: fp32 {s['fp32']}  int8 {s['int8']}  cost MAE_r "
              f"{s['cost_mae_r']:+.3f} deg" + (f", MAE_t {s['cost_mae_t_mm']:+.2f} mm"
                                               if "cost_mae_t_mm" in s else ""))
    print(f"int8 within the default's limits ({MAX_COST_R} deg, {MAX_COST_T_MM} mm): {ok}")
    if args.json:
        Path(args.json).write_text(json.dumps(rep, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
