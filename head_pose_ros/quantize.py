# ruff: noqa: N803, N806  (K, R, T: the notation of geometry.py)
"""int8 versions of the exported TRG graph (ONNX Runtime) and their accuracy cost.

``python -m head_pose_ros.quantize --weights weights/head_pose_trg.safetensors
--static-out /tmp/trg_int8_static.onnx --json docs/results/bench/int8.json``

Two int8 graphs, measured against the float graph in one run:

- **dynamic** (the ``onnxruntime_int8`` backend, :func:`head_pose_ros.backends.int8_graph`):
  only the face regressors' and the uncertainty head's linear layers, per-channel int8
  weights, activations quantised per call with their own range (no calibration data).
- **static** (``--static-out``; ``onnxruntime.quantization.quantize_static``, QDQ format,
  per-channel int8 weights, uint8 activations, MinMax): Conv, MatMul and Gemm, calibrated on
  the network inputs the estimator builds for TRAINING crops only — synthetic frames of the
  engine's training distribution (seed :data:`CALIB_SEED`) and the TRAINING sequences of
  ``real/biwi_crops`` (never AFLW2000, never BIWI's val sequences).

Accuracy, all through :class:`~head_pose_ros.estimator.HeadPoseEstimator` (same crops, same
post-processing): synthetic held-out frames (seed :data:`EVAL_SEED`, exact labels: MAE_r and
MAE_t) and the BIWI val sequences (rotation labels only: MAE_r); the network's median time per
face on those crops, interleaved. An int8 graph may be the default only if it costs at most
:data:`MAX_COST_R` degrees of MAE_r and :data:`MAX_COST_T_MM` of MAE_t on every set.
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


def errors(estimators: dict[str, Any], faces: list[Any]) -> dict[str, dict[str, float]]:
    """Per estimator: MAE_r (mean of yaw / pitch / roll, degrees), with T labels MAE_t (mm),
    and the median network time per face (``last_timings["infer"]``, ms); the estimators run
    one after the other on each face (interleaved)."""
    got: dict[str, dict[str, list[Any]]] = {n: {"R": [], "T": [], "ms": []} for n in estimators}
    for img, K, box, _ in faces:
        for name, est in estimators.items():
            (e,) = est.predict(img, K, box[None])
            got[name]["R"].append(e.R)
            got[name]["T"].append(e.T)
            got[name]["ms"].append(est.last_timings["infer"] * 1e3)
    Rg = np.stack([lab["R"] for *_, lab in faces])
    has_t = all("T" in lab for *_, lab in faces)
    out = {}
    for name, g in got.items():
        er = rotation_errors_deg(np.stack(g["R"]), Rg)
        out[name] = {"n": len(faces), "mae_r": float(np.mean([er["yaw"].mean(),
                                                              er["pitch"].mean(),
                                                              er["roll"].mean()])),
                     "infer_ms_median": float(np.median(g["ms"]))}
        if has_t:
            Tg = np.stack([lab["T"] for *_, lab in faces])
            out[name]["mae_t_mm"] = float(translation_errors_mm(np.stack(g["T"]), Tg).mean())
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
    ap.add_argument("--static-out", help="also make the static int8 graph, written here, and "
                    "measure it")
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

    def load(backend: str) -> Any:
        return HeadPoseEstimator.from_checkpoint(args.weights, backend=backend,
                                                 threads=args.threads)

    ests = {"fp32": load("onnxruntime"), "int8_dynamic": load("onnxruntime_int8")}
    rep: dict[str, Any] = {"weights": args.weights,
                           "graphs": {n: str(e.model.graph.path) for n, e in ests.items()},
                           "max_cost": {"mae_r": MAX_COST_R, "mae_t_mm": MAX_COST_T_MM},
                           "sets": {}}
    if args.static_out:
        t0 = time.perf_counter()
        est = ests["fp32"]
        feeds = calibration_feeds(est, synthetic_faces(args.calib_synthetic, CALIB_SEED))
        if biwi.is_dir():
            feeds += calibration_feeds(est, biwi_faces(biwi, "train", args.calib_biwi,
                                                       CALIB_SEED))
        t1 = time.perf_counter()
        out = quantize_graph(Path(est.model.graph.path), Path(args.static_out), feeds)
        print(f"[quantize] static: {len(feeds)} calibration crops ({t1 - t0:.0f} s), "
              f"quantised in {time.perf_counter() - t1:.0f} s -> {out}", file=sys.stderr,
              flush=True)
        static = load("onnxruntime")
        static.model = OrtTRGAdapter(ort_session(out, threads=args.threads,
                                                 allow_spinning=False),
                                     static.model.config, None, args.threads)
        ests["int8_static"] = static
        rep["graphs"]["int8_static"] = str(out)
        rep["calibration"] = {"synthetic_seed": CALIB_SEED, "synthetic": args.calib_synthetic,
                              "biwi_train": args.calib_biwi if biwi.is_dir() else 0,
                              "ops": list(QUANTIZED_OPS)}
    sets = {"synthetic_heldout": list(synthetic_faces(args.eval_synthetic, EVAL_SEED))}
    if biwi.is_dir():
        sets["biwi_val"] = list(biwi_faces(biwi, "val", args.eval_biwi, EVAL_SEED))
    for name, faces in sets.items():
        res = errors(ests, faces)
        ref = res["fp32"]
        rep["sets"][name] = {**res, "cost": {
            v: {"mae_r": res[v]["mae_r"] - ref["mae_r"],
                **({"mae_t_mm": res[v]["mae_t_mm"] - ref["mae_t_mm"]}
                   if "mae_t_mm" in ref else {})}
            for v in res if v != "fp32"}}
    rep["default_ok"] = {v: all(s["cost"][v]["mae_r"] <= MAX_COST_R
                                and s["cost"][v].get("mae_t_mm", 0.0) <= MAX_COST_T_MM
                                for s in rep["sets"].values())
                         for v in ests if v != "fp32"}
    for name, s in rep["sets"].items():
        for v, c in s["cost"].items():
            print(f"{name} {v}: MAE_r {s['fp32']['mae_r']:.3f} -> {s[v]['mae_r']:.3f} "
                  f"({c['mae_r']:+.3f} deg)" + (
                      f", MAE_t {s['fp32']['mae_t_mm']:.2f} -> {s[v]['mae_t_mm']:.2f} "
                      f"({c['mae_t_mm']:+.2f} mm)" if "mae_t_mm" in c else "")
                  + f"; network {s['fp32']['infer_ms_median']:.2f} -> "
                  f"{s[v]['infer_ms_median']:.2f} ms per face")
    for v, ok in rep["default_ok"].items():
        print(f"{v} within the default's limits ({MAX_COST_R} deg, {MAX_COST_T_MM} mm): {ok}")
    if args.json:
        Path(args.json).write_text(json.dumps(rep, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
