"""``head-pose-eval``: the paper's metrics on a dataset, as a table, JSON and plots.

Usage::

    head-pose-eval --weights W.safetensors --data PATH
        [--format synthetic|synth_stream|arkitface|biwi|aflw2000|...] [--boxes protocol|detector]
        [--detector YUNET.onnx] [--json OUT] [--plots DIR] [--device cpu|cuda]
        [--batch-size 32] [--workers 2] [--limit N]
    head-pose-eval --weights W.safetensors --config RUN_DIR|TRAIN.yaml [--json OUT] ...

Datasets, their loaders and protocol facts (Euler convention, metric translation, box source,
guessed intrinsics) are the ones of training: :mod:`head_pose_ros.data.registry`. ``--config``
evaluates a training run's ``data.val`` sets as the trainer builds them (JSON ``{set: summary}``).

Box source (``--boxes``; stated in the JSON as ``boxes`` and ``box_source``):
- ``protocol`` (default; not for biwi): the model run directly on the dataset's own crop.
  ``synthetic`` (a ``head-pose-synth`` directory), ``synth_stream`` (``--data PRESET``, rendered
  on the fly with ``--count``/``--seed``) and ``arkitface`` (test split): the ground-truth 68
  landmarks projected from the dense mesh, x 1.5 (the training rule). ``aflw2000``: the
  dataset's 68 labelled 2D landmarks x 1.5, as the AFLW2000 protocol does.
- ``detector`` (``aflw2000``; ``biwi``, where it is the only one): the node's pipeline on the
  whole image (:func:`node_pipeline`: YuNet ``--detector``, the largest face,
  ``HeadPoseEstimator``, no tracking). BIWI uses its calibrated ``K``; AFLW2000 has no
  intrinsics, so the node's uncalibrated guess ``geometry.default_intrinsics(W, H)`` is used
  (JSON ``intrinsics``). An image where no face is found is **not dropped**: it is scored with
  the fallback prediction R = I (AFLW: (yaw, pitch, roll) = (0, 0, 0)), T = (0, 0, 1) m and
  counted in ``n_missed``.
A sample whose prediction is not finite is scored the same way and counted in ``n_failed``.
``aflw2000`` (either box source): only rotation applies (AFLW Euler convention; samples beyond
+-99 deg dropped and counted in ``n_dropped_protocol``, so both box sources score the same
images), plus the 2D NME with protocol boxes (translation is not metric).

JSON keys: ``mae_yaw mae_pitch mae_roll mae_r ge mae_tx mae_ty mae_tz mae_t add lmk_median
lmk_mean`` (degrees, mm; null where the labels do not allow; with ``--boxes detector`` misses
included) then ``n`` and extras. ``--boxes detector`` adds the layout of the peers' JSON
(:func:`head_pose_ros.peers.aflw2000.evaluate_rotations`): ``detected`` and
``misses_as_zero`` (``mae_yaw mae_pitch mae_roll mae_r ge n`` over the faces found / over every
image), ``n_detected`` and ``missed`` (image names).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from head_pose_ros import geometry as geo
from head_pose_ros import metrics as hm
from head_pose_ros.data import registry
from head_pose_ros.data.base import FaceDataset
from head_pose_ros.train.eval_plots import write_plots

FORMATS = registry.eval_formats()
"""``--format`` choices: every type of :data:`head_pose_ros.data.registry.REGISTRY` (+ aliases)."""
BOX_SOURCES = ("protocol", "detector")
DETECTOR_FORMATS = registry.detector_formats()
"""Formats that ``--boxes detector`` supports (biwi has no protocol boxes: only that one)."""
GT_MESH_BOXES = registry.GT_MESH_BOXES
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
        mesh = getattr(self.ds, "mesh_labels", True)
        has_v = mesh and lab.vertices is not None and len(lab.vertices) == self.nv
        lm = lab.landmarks68 if lab.landmarks68 is not None else (
            landmarks_from_3d(lab, self.ds.topology.landmarks68) if lab.has_3d and mesh
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
            if "rot_logvar" in out:
                rows["rot_logvar"] = out["rot_logvar"].double().cpu().numpy()
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
    summary["by_yaw"] = hm.yaw_bin_summary(errors, meta["gt_yaw_deg"])
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


@dataclass
class DetectorRun:
    """Predictions of the node's pipeline on whole images (see :func:`predict_with_detector`).

    ``pred`` holds ``R`` (N, 3, 3), ``T`` (N, 3) metres and ``vertices`` (N, V, 3) head frame
    (the fallback R = I, T = (0, 0, 1) m, template mesh where ``missed``) and the ground truth
    ``gt_R``, ``gt_T`` (NaN where the labels have none), ``gt_has_vertices`` (all False).
    ``gt_meshes`` are the labels' own meshes (BIWI: each subject's ``NN.obj``; None if absent).
    """

    pred: dict[str, np.ndarray]
    missed: np.ndarray
    names: list[str]
    gt_meshes: list[np.ndarray | None]
    seconds: float


def node_pipeline(estimator: Any, detector: Any) -> Any:
    """The node's :class:`~head_pose_ros.pipeline.HeadPosePipeline` set up for still images:
    the detector on every image (its boxes through ``detection.estimator_boxes``, faces below
    the node's ``min_face_size`` dropped), the largest face only, no tracking or filtering."""
    from head_pose_ros.pipeline import HeadPosePipeline, PipelineConfig

    return HeadPosePipeline(estimator, detector,
                            PipelineConfig(detect_every_n=1, max_faces=1, tracking=False))


def predict_with_detector(estimator: Any, ds: Any, detector: Any, *, limit: int = 0,
                          guess_intrinsics: bool = False, progress: bool = False
                          ) -> DetectorRun:
    """Run detector + estimator on every whole image of ``ds`` (``load(i)`` -> RGB image).

    ``guess_intrinsics``: use :func:`geometry.default_intrinsics` (the node's guess for an
    uncalibrated camera, ``intrinsics_guessed=True``) instead of the labels' ``K``; also used
    where the labels carry no ``K``. A face that is not found is kept with the fallback
    prediction and flagged in ``missed``.
    """
    n = len(ds) if not limit else min(limit, len(ds))
    template = ds.topology.vertices.astype(np.float64)
    pipe = node_pipeline(estimator, detector)
    rows: dict[str, list[Any]] = {k: [] for k in ("R", "T", "vertices", "gt_R", "gt_T")}
    missed, names, meshes = [], [], []
    rng: Any = range(n)
    if progress:
        from tqdm import tqdm

        rng = tqdm(rng, desc="detect+estimate", leave=False)
    t0 = time.perf_counter()
    for i in rng:
        raw = ds.load(i)
        bgr = np.ascontiguousarray(raw.image[..., ::-1])
        guess = guess_intrinsics or raw.labels.K is None
        K = geo.default_intrinsics(bgr.shape[1], bgr.shape[0]) if guess else raw.labels.K
        pipe.reset()
        people = pipe.process(bgr, K, stamp=float(i), intrinsics_guessed=guess).people
        est = people[0].est if people else None
        missed.append(est is None)
        rows["R"].append(np.eye(3) if est is None else est.R)
        rows["T"].append(FALLBACK_T if est is None else est.T)
        rows["vertices"].append(template if est is None else est.vertices_head)
        rows["gt_R"].append(raw.labels.R)
        rows["gt_T"].append(np.full(3, np.nan) if raw.labels.T is None else raw.labels.T)
        names.append(raw.name)
        meshes.append(raw.labels.vertices)
    pred = {k: np.array(v, np.float64) for k, v in rows.items()}
    pred["gt_has_vertices"] = np.zeros(n, bool)
    return DetectorRun(pred, np.array(missed, bool), names, meshes,
                       round(time.perf_counter() - t0, 2))


def detection_summary(errors: dict[str, np.ndarray], missed: np.ndarray,
                      names: list[str]) -> dict[str, Any]:
    """Rotation figures in the layout of the peers' JSON
    (:func:`head_pose_ros.peers.aflw2000.evaluate_rotations`): ``detected`` (faces found only)
    and ``misses_as_zero`` (every sample, a miss scored as R = I), each a
    :func:`~head_pose_ros.metrics.rotation_summary` (degrees; None when empty), then
    ``n_detected`` and ``missed`` (sample names)."""
    def subset(mask: np.ndarray) -> dict[str, Any]:
        return hm.rotation_summary({k: errors[k][mask] for k in hm.ROTATION_ERROR_KEYS})

    return {"detected": subset(~missed), "misses_as_zero": subset(np.ones_like(missed)),
            "n_detected": int((~missed).sum()),
            "missed": [nm for nm, m in zip(names, missed, strict=True) if m]}


def evaluate_with_detector(estimator: Any, ds: Any, detector: Any, *, convention: str = "trg",
                           has_translation: bool = True, guess_intrinsics: bool = False,
                           limit: int = 0, extras: dict | None = None,
                           progress: bool = False) -> EvalResult:
    """Whole images through the node's detector + estimator (largest face); misses scored
    with the fallback (R = I, T = (0, 0, 1) m), not dropped, and counted in ``n_missed``.

    The summary also has :func:`detection_summary`'s keys. With translation, ADD is computed
    on each sample's own ground-truth mesh when every sample has one (BIWI's subject meshes,
    another topology than ours), else ``add_note`` says why it is missing.
    """
    run = predict_with_detector(estimator, ds, detector, limit=limit,
                                guess_intrinsics=guess_intrinsics, progress=progress)
    kind = getattr(detector, "kind", "")
    name = {"yunet": "YuNet", "cascade": "Haar cascade"}.get(kind, kind or "face")
    ex: dict[str, Any] = {"box_source": f"{name} detector (largest face) + estimator",
                          "seconds": run.seconds}
    meshes_ok = bool(run.gt_meshes) and all(m is not None for m in run.gt_meshes)
    if has_translation and not meshes_ok:
        ex["add_note"] = "no ground-truth mesh for every sample (BIWI: NN.obj): ADD not computed"
    ex.update(extras or {})
    topo = ds.topology
    res = score(run.pred, triangles=topo.triangles, template=topo.vertices.astype(np.float64),
                convention=convention, has_translation=has_translation, missed=run.missed,
                extras=ex)
    if has_translation and meshes_ok:
        p = run.pred  # score() put the fallback into the missed rows
        res.errors["add"] = np.array([hm.add_mm(p["R"][i], p["T"][i], p["gt_R"][i],
                                                p["gt_T"][i], m)[0]
                                      for i, m in enumerate(run.gt_meshes)])
        res.summary["add"] = float(np.mean(res.errors["add"]))
    res.summary.update(detection_summary(res.errors, run.missed, run.names))
    return res


def evaluate_biwi(estimator: Any, ds: Any, detector: Any, *, limit: int = 0,
                  progress: bool = False) -> EvalResult:
    """BIWI through the node's detector + estimator (largest face, the calibrated ``K``);
    misses scored, not dropped; ADD on each subject's own mesh."""
    return evaluate_with_detector(estimator, ds, detector, limit=limit, progress=progress)


# ----------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="head-pose-eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", required=True, help="TRG checkpoint (.safetensors)")
    ap.add_argument("--data", default="",
                    help="dataset path (or a synth preset name with --format synth_stream); "
                         "required without --config")
    ap.add_argument("--format", default="synthetic", choices=FORMATS,
                    help="dataset type (head_pose_ros.data.registry; synthetic = synth_npz)")
    ap.add_argument("--config", default="",
                    help="instead of --data/--format: a training run directory (its "
                         "config.yaml) or a training config YAML; evaluates its data.val sets "
                         "with the trainer's loaders (--json: {set name: summary}; --plots: "
                         "one directory per set)")
    ap.add_argument("--json", default="", help="write the summary JSON here")
    ap.add_argument("--plots", default="", help="write PNG plots into this directory")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="evaluate the first N samples only")
    ap.add_argument("--split", default="test",
                    help="ARKitFace split (test); aflw_crops / biwi_crops: val (held out; "
                         "default), train, all")
    ap.add_argument("--labels", default="",
                    help="aflw_crops: the pseudo-label file (head_pose_ros.teacher.pseudolabel)")
    ap.add_argument("--count", type=int, default=256, help="synth_stream: number of samples")
    ap.add_argument("--seed", type=int, default=12345, help="synth_stream: seed")
    ap.add_argument("--boxes", default=None, choices=BOX_SOURCES,
                    help="protocol: the dataset's own crop rule (default; not for biwi); "
                         "detector: YuNet on the whole image + the node's estimator "
                         "(aflw2000, biwi; the default for biwi)")
    ap.add_argument("--detector", default="",
                    help="--boxes detector: YuNet ONNX path (default: shared data)")
    ap.add_argument("--progress", action="store_true")
    return ap


def _limit(ds: FaceDataset, n: int) -> FaceDataset:
    return _Limited(ds, n) if n and n < len(ds) else ds


class _Limited(FaceDataset):
    """The first ``n`` samples of a dataset (``--limit``)."""

    def __init__(self, ds: FaceDataset, n: int) -> None:
        self.__dict__.update(ds.__dict__)
        self._inner, self._n = ds, n
        self.mesh_labels, self.metric_translation = ds.mesh_labels, ds.metric_translation

    def __len__(self) -> int:
        return self._n

    def load(self, index: int):
        return self._inner.load(index)


def resolve_boxes(fmt: str, boxes: str | None = None) -> str:
    """The box source for ``--format fmt --boxes boxes`` (None = the format's default).

    Raises:
        ValueError: a combination that does not exist (the message says which do).
    """
    info = registry.lookup(fmt)
    boxes = boxes or info.default_boxes
    if boxes not in BOX_SOURCES:
        raise ValueError(f"--boxes {boxes!r}: use one of {', '.join(BOX_SOURCES)}")
    if boxes == "detector" and not info.detector_boxes:
        raise ValueError(f"--boxes detector is not available for --format {fmt} "
                         f"(only {', '.join(DETECTOR_FORMATS)})")
    if boxes == "protocol" and not info.protocol_boxes:
        raise ValueError(f"--format {fmt} has no protocol boxes: use --boxes detector (default)")
    return boxes


@dataclass
class _Session:
    """The checkpoint and the command-line options of every set evaluated."""

    args: argparse.Namespace
    model: torch.nn.Module
    info: Any
    device: torch.device


def evaluate_spec(sess: _Session, spec: Any, options: registry.LoadOptions, boxes: str,
                  extras: dict[str, Any]) -> EvalResult:
    """Build ``spec``'s dataset with the registry's loader and score it with its facts
    (Euler convention, metric translation, box source, guessed intrinsics)."""
    args, info = sess.args, registry.lookup(str(registry.spec_value(spec, "type")))
    ds = registry.load_dataset(spec, sess.model.topology(), None, options)
    extras.update(registry.describe(spec, ds, options))
    ds = _limit(ds, args.limit)
    kw = {"convention": info.convention, "has_translation": info.metric_translation,
          "extras": extras, "progress": args.progress}
    if boxes == "protocol":
        extras["box_source"] = info.protocol_boxes
        return evaluate_dataset(sess.model, ds, device=sess.device, batch_size=args.batch_size,
                                workers=args.workers, **kw)
    from head_pose_ros.detection import create_detector
    from head_pose_ros.estimator import HeadPoseEstimator
    from head_pose_ros.topology import default_shared_data

    onnx = args.detector or str(default_shared_data() / "detector" /
                                "face_detection_yunet_2023mar.onnx")
    extras["detector"] = onnx
    if info.guess_intrinsics:
        extras["intrinsics"] = ("none in the dataset: geometry.default_intrinsics(W, H), "
                                "f = W + H, principal point at the image centre (the "
                                "node's uncalibrated guess)")
    est = HeadPoseEstimator(sess.model, device=sess.device, metadata=sess.info)
    return evaluate_with_detector(est, ds, create_detector("yunet", onnx),
                                  guess_intrinsics=info.guess_intrinsics, **kw)


def _open(args: argparse.Namespace) -> _Session:
    from head_pose_ros.checkpoint import load_checkpoint

    device = resolve_device(args.device)
    model, info = load_checkpoint(args.weights, device=device)
    return _Session(args, model, info, device)


def _report(res: EvalResult, title: str, plots: str, plot_title: str) -> None:
    print(hm.format_table(res.summary, title=title))
    print("by |yaw|: " + "; ".join(f"{k} deg: MAE_r {v['mae_r']:.2f} (n={v['n']})"
                                   for k, v in res.summary["by_yaw"].items() if v["n"]))
    if plots:
        write_plots(res, plots, title=plot_title)


def _write_json(path: str, obj: dict[str, Any]) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(_jsonable(obj), indent=2) + "\n")


def run_eval(args: argparse.Namespace) -> dict[str, Any]:
    """One dataset (``--format --data``) -> its summary; with ``--config``: the run's val sets
    -> ``{set name: summary}`` (:func:`run_config_eval`)."""
    if getattr(args, "config", ""):
        return run_config_eval(args)
    fmt = args.format
    boxes = resolve_boxes(fmt, args.boxes)
    sess = _open(args)
    extras: dict[str, Any] = {"format": fmt, "data": str(args.data),
                              "weights": str(args.weights), "boxes": boxes}
    options = registry.LoadOptions(out_size=sess.model.config.input_size, scoring=True)
    spec = registry.single_spec(fmt, args.data, split=args.split, labels=args.labels,
                                length=args.count, seed=args.seed)
    res = evaluate_spec(sess, spec, options, boxes, extras)
    _report(res, f"{fmt} ({boxes} boxes): {args.data}", args.plots,
            f"{fmt} ({Path(str(args.data)).name})")
    _write_json(args.json, res.summary)
    return res.summary


def run_config_eval(args: argparse.Namespace) -> dict[str, Any]:
    """Every ``data.val`` set of a training config, built as the trainer builds it (its
    ``box_scale``, ``run.seed``, the registry's loaders) and scored with its type's facts."""
    from head_pose_ros.train.config import load_config, run_config_file, to_object

    path = run_config_file(args.config)
    cfg = to_object(load_config(path))
    if not cfg.data.val:
        raise ValueError(f"{path}: data.val is empty, nothing to evaluate")
    names = registry.set_names(cfg.data.val)
    boxes = [resolve_boxes(registry.trainable(s.type).name, args.boxes) for s in cfg.data.val]
    sess = _open(args)
    options = registry.LoadOptions(out_size=sess.model.config.input_size,
                                   box_scale=cfg.data.box_scale, seed=cfg.run.seed,
                                   scoring=True)
    out: dict[str, Any] = {}
    for name, spec, box in zip(names, cfg.data.val, boxes, strict=True):
        data = spec.preset if spec.type == "synth_stream" else spec.root
        extras: dict[str, Any] = {"set": name, "format": spec.type, "data": str(data),
                                  "config": str(path), "weights": str(args.weights),
                                  "boxes": box}
        res = evaluate_spec(sess, spec, options, box, extras)
        _report(res, f"{name}: {spec.type} ({box} boxes): {data}",
                str(Path(args.plots) / name) if args.plots else "", f"{name} ({spec.type})")
        out[name] = res.summary
    _write_json(args.json, out)
    return out


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    def conv(v: Any) -> Any:
        if isinstance(v, float) and math.isnan(v):
            return None
        if isinstance(v, np.generic):
            return conv(v.item())
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return {k: conv(v) for k, v in d.items()}


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if bool(args.config) == bool(args.data):
        ap.error("give --data (one dataset, with --format) or --config (a training run's "
                 "data.val sets), not both")
    try:
        run_eval(args)
    except (FileNotFoundError, KeyError, ValueError) as e:
        print(f"head-pose-eval: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
