"""``head-pose-eval``: the paper's metrics on a dataset, as a table, JSON and plots.

Usage::

    head-pose-eval --weights W.safetensors --data PATH
        [--format synthetic|synth_stream|arkitface|biwi|aflw2000] [--json OUT] [--plots DIR]
        [--device cpu|cuda] [--batch-size 32] [--workers 2] [--limit N]

Box source (stated in the JSON as ``box_source``):
- ``synthetic`` (a ``head-pose-synth`` directory), ``synth_stream`` (``--data PRESET``, rendered
  on the fly with ``--count``/``--seed``) and ``arkitface`` (test split): the crop box from the
  ground-truth 68 landmarks projected from the dense mesh, x 1.5 (the training rule), and the
  model run directly on that crop.
- ``aflw2000``: the dataset's 68 labelled 2D landmarks x 1.5, as the AFLW2000 protocol does;
  only rotation (AFLW Euler convention, samples beyond +-99 deg dropped and counted in
  ``n_dropped_protocol``) and the 2D NME apply (translation is not metric).
- ``biwi``: the estimator's own pipeline with the YuNet detector (largest face); a frame where
  no face is found is **not dropped**: it is scored with the fallback prediction R = I,
  T = (0, 0, 1) m and counted in ``n_missed``.
A sample whose prediction is not finite is scored the same way and counted in ``n_failed``.

JSON keys: ``mae_yaw mae_pitch mae_roll mae_r ge mae_tx mae_ty mae_tz mae_t add lmk_median
lmk_mean`` (degrees, mm; null where the labels do not allow) then ``n`` and extras.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from head_pose_ros import geometry as geo
from head_pose_ros.data.base import FaceDataset
from head_pose_ros.train import metrics as hm

FORMATS = ("synthetic", "synth_stream", "arkitface", "biwi", "aflw2000")
FALLBACK_T = np.array([0.0, 0.0, 1.0])


class EvalView(Dataset):
    """A :class:`FaceDataset` without augmentation + the ground truth the metrics need."""

    def __init__(self, ds: FaceDataset) -> None:
        self.ds = ds
        self.nv = ds.topology.num_vertices

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> dict[str, Any]:
        from head_pose_ros.data.crop import landmarks_from_3d

        raw = self.ds.load(i)
        s = self.ds.make_sample(raw, None)
        lab = raw.labels
        nan3 = np.full(3, np.nan)
        has_v = lab.vertices is not None and len(lab.vertices) == self.nv
        lm = lab.landmarks68 if lab.landmarks68 is not None else (
            landmarks_from_3d(lab, self.ds.topology.landmarks68) if lab.has_3d
            else np.full((68, 2), np.nan))
        s["gt_R"] = torch.as_tensor(lab.R if lab.R is not None else np.eye(3)).double()
        s["gt_T"] = torch.as_tensor(lab.T if lab.T is not None else nan3).double()
        s["gt_vertices"] = torch.as_tensor(lab.vertices if has_v else np.zeros((self.nv, 3))
                                           ).double()
        s["gt_has_vertices"] = torch.tensor(bool(has_v))
        s["gt_lm68"] = torch.as_tensor(np.asarray(lm, np.float64))
        s["index"] = torch.tensor(i)
        return s


@dataclass
class EvalResult:
    summary: dict[str, Any]
    errors: dict[str, np.ndarray]
    meta: dict[str, np.ndarray] = field(default_factory=dict)


def resolve_device(device: str) -> torch.device:
    if device in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def model_inputs(batch: dict, device: torch.device) -> tuple[torch.Tensor, ...]:
    keys = ("image", "K_crop", "bbox_info", "box", "K")
    return tuple(batch[k].to(device, non_blocking=True).float() for k in keys)


@torch.no_grad()
def predict_dataset(model: torch.nn.Module, view: EvalView, *, device: torch.device,
                    batch_size: int = 32, workers: int = 0, max_batches: int = 0,
                    progress: bool = False) -> dict[str, np.ndarray]:
    """Run the model on every crop of ``view``; returns predictions and ground truth (numpy)."""
    loader = DataLoader(view, batch_size=batch_size, shuffle=False, num_workers=workers,
                        pin_memory=device.type == "cuda")
    was_training = model.training
    model.eval()
    keep: dict[str, list[np.ndarray]] = {}
    it = loader
    if progress:
        from tqdm import tqdm

        it = tqdm(loader, desc="eval", leave=False)
    try:
        for bi, batch in enumerate(it):
            if max_batches and bi >= max_batches:
                break
            out = model(*model_inputs(batch, device))
            box = batch["box"].double().numpy()
            lm_ids = out["landmark_ids"].cpu().numpy()
            v_img = out["vertices_img"][-1].double().cpu().numpy()[:, lm_ids]
            lm_img = np.stack([geo.crop_to_image(v_img[j], box[j], view.ds.out_size)
                               for j in range(len(box))])
            rows = {
                "R": out["R"][-1].double().cpu().numpy(),
                "T": out["T"][-1].double().cpu().numpy(),
                "vertices": out["vertices"][-1].double().cpu().numpy(),
                "lm68": lm_img,
                "gt_R": batch["gt_R"].numpy(), "gt_T": batch["gt_T"].numpy(),
                "gt_vertices": batch["gt_vertices"].numpy(),
                "gt_has_vertices": batch["gt_has_vertices"].numpy(),
                "gt_lm68": batch["gt_lm68"].numpy(), "index": batch["index"].numpy(),
                "K": batch["K"].double().numpy(), "box": box,
            }
            for k, v in rows.items():
                keep.setdefault(k, []).append(v)
    finally:
        model.train(was_training)
    return {k: np.concatenate(v) for k, v in keep.items()}


def _apply_fallback(pred: dict[str, np.ndarray], bad: np.ndarray,
                    template: np.ndarray) -> None:
    pred["R"][bad] = np.eye(3)
    pred["T"][bad] = FALLBACK_T
    pred["vertices"][bad] = template


def score(pred: dict[str, np.ndarray], *, triangles: np.ndarray, template: np.ndarray,
          convention: str = "trg", has_translation: bool = True, extras: dict | None = None,
          missed: np.ndarray | None = None) -> EvalResult:
    """Per-sample errors + summary. Non-finite predictions count as failures (fallback)."""
    n = len(pred["R"])
    finite = np.isfinite(pred["R"].reshape(n, -1)).all(1) & np.isfinite(pred["T"]).all(1) & \
        np.isfinite(pred["vertices"].reshape(n, -1)).all(1)
    missed = np.zeros(n, bool) if missed is None else missed
    failed = ~finite & ~missed
    _apply_fallback(pred, ~finite | missed, template)
    has_v = bool(np.all(pred.get("gt_has_vertices", False)))
    gt = {"R": pred["gt_R"], "T": pred["gt_T"], "vertices": pred["gt_vertices"] if has_v else None}
    p = {"R": pred["R"], "T": pred["T"], "vertices": pred["vertices"],
         "landmarks68": pred.get("lm68")}
    if "gt_lm68" in pred and np.isfinite(pred["gt_lm68"]).all() and pred.get("lm68") is not None:
        gt["landmarks68"] = pred["gt_lm68"]
    errors = hm.per_sample_errors(p, gt, has_translation=has_translation, has_vertices=has_v,
                                  triangles=triangles, convention=convention)
    ex = {"n_failed": int(failed.sum()), "n_missed": int(missed.sum()),
          "rotation_convention": convention}
    ex.update(extras or {})
    summary = hm.summarise(errors, extras=ex)
    meta = {"gt_distance_m": np.linalg.norm(pred["gt_T"], axis=1),
            "gt_yaw_deg": hm.euler_ypr_deg(pred["gt_R"], convention)[:, 0]}
    return EvalResult(summary, errors, meta)


def evaluate_dataset(model: torch.nn.Module, ds: FaceDataset, *, device: torch.device,
                     batch_size: int = 32, workers: int = 0, max_batches: int = 0,
                     convention: str = "trg", has_translation: bool = True,
                     extras: dict | None = None, progress: bool = False) -> EvalResult:
    """Model-direct evaluation on the crops of ``ds`` (box source: the dataset's rule)."""
    size = getattr(getattr(model, "config", None), "input_size", ds.out_size)
    if ds.out_size != size:
        raise ValueError(f"dataset crops are {ds.out_size} px but the model expects {size} px")
    t0 = time.perf_counter()
    pred = predict_dataset(model, EvalView(ds), device=device, batch_size=batch_size,
                           workers=workers, max_batches=max_batches, progress=progress)
    topo = ds.topology
    ex = {"seconds": round(time.perf_counter() - t0, 2)}
    ex.update(extras or {})
    return score(pred, triangles=topo.triangles, template=topo.vertices.astype(np.float64),
                 convention=convention, has_translation=has_translation, extras=ex)


def evaluate_biwi(estimator: Any, ds: Any, detector: Callable, *, limit: int = 0,
                  progress: bool = False) -> EvalResult:
    """BIWI through the estimator + detector (largest face); misses scored, not dropped."""
    n = len(ds) if not limit else min(limit, len(ds))
    topo = ds.topology
    R, T, V, gR, gT, meshes, missed = [], [], [], [], [], [], []
    rng = range(n)
    if progress:
        from tqdm import tqdm

        rng = tqdm(rng, desc="biwi", leave=False)
    for i in rng:
        raw = ds.load(i)
        bgr = np.ascontiguousarray(raw.image[..., ::-1])
        dets = detector(bgr)
        boxes = dets.as_array() if hasattr(dets, "as_array") else np.asarray(dets)
        est = None
        if len(boxes):
            area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            res = estimator.predict(bgr, raw.labels.K, boxes=boxes[[int(np.argmax(area))]])
            est = res[0] if res else None
        missed.append(est is None)
        R.append(np.eye(3) if est is None else est.R)
        T.append(FALLBACK_T if est is None else est.T)
        V.append(topo.vertices if est is None else est.vertices_head)
        gR.append(raw.labels.R)
        gT.append(raw.labels.T)
        meshes.append(raw.labels.vertices)
    pred = {"R": np.array(R, np.float64), "T": np.array(T, np.float64),
            "vertices": np.array(V, np.float64), "gt_R": np.array(gR), "gt_T": np.array(gT),
            "gt_has_vertices": np.zeros(n, bool)}
    extras: dict[str, Any] = {"box_source": "YuNet detector (largest face) + estimator"}
    if all(m is not None for m in meshes) and meshes:
        res = score(pred, triangles=topo.triangles, template=topo.vertices.astype(np.float64),
                    missed=np.array(missed), extras=extras)
        # ADD on each subject's own neutral mesh (different topology per subject)
        res.errors["add"] = np.array([
            hm.add_mm(pred["R"][i], pred["T"][i], pred["gt_R"][i], pred["gt_T"][i],
                      meshes[i])[0] for i in range(n)])
        res.summary["add"] = float(np.mean(res.errors["add"]))
        return res
    extras["add_note"] = "no subject meshes (NN.obj): ADD not computed"
    return score(pred, triangles=topo.triangles, template=topo.vertices.astype(np.float64),
                 missed=np.array(missed), extras=extras)


# ----------------------------------------------------------------------------- plots
def write_plots(res: EvalResult, out_dir: str | Path, title: str = "") -> list[Path]:
    """Error vs distance, error vs yaw, cumulative error curves (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    e, m = res.errors, res.meta
    paths = []
    series = [("ge", "GE (deg)")]
    for k, lab in (("add", "ADD (mm)"), ("tz", "tz error (mm)")):
        if k in e:
            series.append((k, lab))

    def binned(ax, x, y, label, bins=10):
        ok = np.isfinite(x) & np.isfinite(y)
        x, y = x[ok], y[ok]
        ax.scatter(x, y, s=4, alpha=0.3)
        if len(x) > 1:
            edges = np.linspace(x.min(), x.max() + 1e-9, bins + 1)
            idx = np.digitize(x, edges) - 1
            cx = [(edges[b] + edges[b + 1]) / 2 for b in range(bins) if np.any(idx == b)]
            my = [np.median(y[idx == b]) for b in range(bins) if np.any(idx == b)]
            ax.plot(cx, my, "r-o", ms=3, label="median")
            ax.legend()
        ax.set_ylabel(label)

    for xkey, xlabel, fname in (("gt_distance_m", "GT distance (m)", "error_vs_distance.png"),
                                ("gt_yaw_deg", "GT yaw (deg)", "error_vs_yaw.png")):
        x = m.get(xkey)
        if x is None or not np.isfinite(x).any():
            continue
        fig, axes = plt.subplots(len(series), 1, figsize=(6, 2.6 * len(series)), squeeze=False)
        for ax, (k, lab) in zip(axes[:, 0], series, strict=True):
            binned(ax, x, e[k], lab)
        axes[-1, 0].set_xlabel(xlabel)
        fig.suptitle(title)
        fig.tight_layout()
        p = out / fname
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.4), squeeze=False)
    for ax, (k, lab) in zip(axes[0], series, strict=True):
        v = np.sort(e[k][np.isfinite(e[k])])
        ax.plot(v, np.arange(1, len(v) + 1) / max(len(v), 1))
        ax.set_xlabel(lab)
        ax.set_ylabel("fraction of samples")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    p = out / "cumulative_errors.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)
    return paths


# ----------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="head-pose-eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", required=True, help="TRG checkpoint (.safetensors)")
    ap.add_argument("--data", required=True,
                    help="dataset path (or a synth preset name with --format synth_stream)")
    ap.add_argument("--format", default="synthetic", choices=FORMATS)
    ap.add_argument("--json", default="", help="write the summary JSON here")
    ap.add_argument("--plots", default="", help="write PNG plots into this directory")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="evaluate the first N samples only")
    ap.add_argument("--split", default="test", help="ARKitFace split (test)")
    ap.add_argument("--count", type=int, default=256, help="synth_stream: number of samples")
    ap.add_argument("--seed", type=int, default=12345, help="synth_stream: seed")
    ap.add_argument("--detector", default="", help="biwi: YuNet ONNX path (default: shared)")
    ap.add_argument("--progress", action="store_true")
    return ap


def _limit(ds: FaceDataset, n: int) -> FaceDataset:
    return _Limited(ds, n) if n and n < len(ds) else ds


class _Limited(FaceDataset):
    """The first ``n`` samples of a dataset (``--limit``)."""

    def __init__(self, ds: FaceDataset, n: int) -> None:
        self.__dict__.update(ds.__dict__)
        self._inner, self._n = ds, n

    def __len__(self) -> int:
        return self._n

    def load(self, index: int):
        return self._inner.load(index)


def run_eval(args: argparse.Namespace) -> dict[str, Any]:
    from head_pose_ros.checkpoint import load_checkpoint

    device = resolve_device(args.device)
    model, info = load_checkpoint(args.weights, device=device)
    topo = model.topology()
    size = {"out_size": model.config.input_size}
    fmt = args.format
    extras: dict[str, Any] = {"format": fmt, "data": str(args.data),
                              "weights": str(args.weights)}
    if fmt == "biwi":
        from head_pose_ros.data.public import BIWIDataset
        from head_pose_ros.detection import YuNetDetector
        from head_pose_ros.estimator import HeadPoseEstimator
        from head_pose_ros.topology import default_shared_data

        ds = BIWIDataset(args.data, topo, **size)
        onnx = args.detector or str(default_shared_data() / "detector" /
                                    "face_detection_yunet_2023mar.onnx")
        est = HeadPoseEstimator(model, device=device, metadata=info)
        res = evaluate_biwi(est, ds, YuNetDetector(onnx), limit=args.limit,
                            progress=args.progress)
        res.summary.update(extras)
    else:
        has_t, conv = True, "trg"
        if fmt == "synthetic":
            from head_pose_ros.data.synthetic import SynthNpzDataset

            ds = SynthNpzDataset(args.data, topo, **size)
            extras["box_source"] = "GT 68 landmarks projected from the dense mesh x 1.5"
        elif fmt == "synth_stream":
            from head_pose_ros.data.synthetic import SynthStreamDataset

            ds = SynthStreamDataset(str(args.data), topo, seed=args.seed, length=args.count,
                                    **size)
            extras["box_source"] = "GT 68 landmarks projected from the dense mesh x 1.5"
            extras["seed"] = args.seed
        elif fmt == "arkitface":
            from head_pose_ros.data.public import ARKitFaceDataset

            ds = ARKitFaceDataset(args.data, topo, split=args.split, **size)
            extras["box_source"] = "GT 68 landmarks projected from the dense mesh x 1.5"
        else:  # aflw2000
            from head_pose_ros.data.public import AFLW2000Dataset

            ds = AFLW2000Dataset(args.data, topo, **size)
            has_t, conv = False, "aflw"
            extras["box_source"] = "the dataset's 68 labelled 2D landmarks x 1.5 (protocol)"
            extras["n_dropped_protocol"] = len(ds.dropped)
            extras["dropped_protocol"] = ds.dropped
        ds = _limit(ds, args.limit)
        res = evaluate_dataset(model, ds, device=device, batch_size=args.batch_size,
                               workers=args.workers, convention=conv, has_translation=has_t,
                               extras=extras, progress=args.progress)
    print(hm.format_table(res.summary, title=f"{fmt}: {args.data}"))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(_jsonable(res.summary), indent=2) + "\n")
    if args.plots:
        write_plots(res, args.plots, title=f"{fmt} ({Path(str(args.data)).name})")
    return res.summary


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    def conv(v: Any) -> Any:
        if isinstance(v, float) and math.isnan(v):
            return None
        if isinstance(v, np.generic):
            return conv(v.item())
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        return v

    return {k: conv(v) for k, v in d.items()}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run_eval(args)
    except (FileNotFoundError, KeyError, ValueError) as e:
        print(f"head-pose-eval: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
