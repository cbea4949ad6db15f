# ruff: noqa: N803, N806  (K, R, T: the notation of geometry.py)
"""``head-pose-bench``: speed of the TRG model, the estimator pipeline and the node, in one run.

Sections (each timed with warm-up, then the median and 90th percentile over repeats):

1. **model**: model-only latency at batch 1 and throughput at batch 8 and 32 (faces/s) for the
   unoptimised baseline and the optimised variants, each with its speed-up against the baseline
   measured in the same run and its max abs output difference against the baseline (R, T m,
   correction, vertices m, vertices_img px, landmarks68 px) on a fixed check batch.

   - ``eager_fp32`` (baseline): ``model.eval()`` under ``torch.no_grad()``, NCHW, the training
     forward with all iteration outputs;
   - ``inference_mode``: ``torch.inference_mode()``;
   - ``channels_last``: NHWC weights and input + inference mode;
   - ``compile``: ``torch.compile`` (inductor) of the channels-last model, run in a child process
     under a time box (``--compile-timeout``), skipped with the reason if it fails or overruns;
   - ``onnxruntime``: the ``head-pose-export`` graph in ONNX Runtime's CPU EP, all graph
     optimisations, intra-op threads = ``--threads``; the graph is the one the estimator's
     onnxruntime backend caches (:mod:`head_pose_ros.backends`; with ``--weights`` in the user's
     cache, for the random-init model in a temporary one);
   - CUDA only (``--device cuda``): ``fp16_autocast`` / ``bf16_autocast`` (channels-last) and
     ``cuda_graph_fp16`` (a CUDA graph of the fp16 channels-last forward per batch size).

2. **end_to_end**: one frame = decode a JPEG, detect faces (YuNet, ``--yunet``; given boxes when
   the model file is missing, reported), then ``HeadPoseEstimator.predict`` (crop, inference of
   all faces of the frame in one batch, post-processing) — 1, 2 and 4 faces at 640x480 and
   1920x1080. Frames are built by tiling a real face photo (the LFPW image of the shared data) on
   a plain background. Variants (interleaved frame by frame): ``eager_fp32`` = the shipped
   estimator (baseline), ``per_face_loop`` = the same called once per face (what batching buys),
   ``onnxruntime`` (CPU) = the node's backend path, ``HeadPoseEstimator.from_checkpoint(...,
   backend="onnxruntime")``, ``fp16_autocast`` (CUDA) = the estimator with that model swapped in.
   The estimates of each variant are compared with the baseline's.

3. **node**: image-in to pose-out latency through DDS: starts the node executable (if the ROS
   workspace is built and sourced) with YuNet, ``detect_every_n:=1`` and an explicit ``backend``
   (on the CPU once with ``onnxruntime`` and once with ``torch``; the backend the node logged at
   start is recorded), publishes a 1-face image
   + camera info, waits for the ``heads`` message with that stamp, repeats. Both sides use the
   package's Fast DDS profile ``config/fastdds_large_images.xml`` (32 MB shared-memory segment;
   with the built-in transports most 0.9 MB best-effort images were lost here);
   ``--dds-default-transport`` keeps the built-in one.
   Skipped with the reason when ROS is not available.

Without ``--weights`` a seeded random-init model is used (printed loudly): fine for speed, not
for accuracy. Outputs of a random model stay near the template with the default small output
gain, so the random model is built with ``last_layer_gain=1`` to make the equivalence checks
exercise every stage (speed is unaffected).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import multiprocessing as mp
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from head_pose_ros.cli.export import (
    ATOL,
    OUTPUT_NAMES,
    ExportWrapper,
    example_inputs,
    load_model,
    ort_session,
)

BASELINE = "eager_fp32"
RANDOM_INIT_OVERRIDES: dict[str, Any] = {"last_layer_gain": 1.0}

#: max abs difference allowed against the fp32 baseline, per output (R and correction unitless,
#: T and vertices metres, vertices_img and landmarks68 crop pixels).
TOL_FP32: dict[str, float] = dict(ATOL)
#: reduced precision (fp16 / bf16 on GPU): 1e-2 rad-ish on R, 5 mm, 1 px.
TOL_HALF: dict[str, float] = {"R": 2e-2, "T": 5e-3, "correction": 2e-2, "vertices": 5e-3,
                              "vertices_img": 1.0, "landmarks68": 1.0}

FRAME_SIZES: dict[str, tuple[int, int]] = {"640x480": (640, 480), "1920x1080": (1920, 1080)}
#: faces per end-to-end frame -> (columns, rows) of the tiling
FACE_LAYOUTS: dict[int, tuple[int, int]] = {1: (1, 1), 2: (2, 1), 4: (2, 2)}


# --------------------------------------------------------------------------- timing helpers
def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_calls(fn: Callable[[], Any], warmup: int, repeats: int, device: str = "cpu"
               ) -> dict[str, float]:
    """Call ``fn`` ``warmup`` times, then time ``repeats`` calls -> median/p90/mean/min in ms."""
    for _ in range(warmup):
        fn()
    _sync(device)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        ts.append((time.perf_counter() - t0) * 1e3)
    a = np.asarray(ts)
    return {"median_ms": float(np.median(a)), "p90_ms": float(np.percentile(a, 90)),
            "mean_ms": float(a.mean()), "min_ms": float(a.min()), "n": int(a.size)}


def _to_numpy(outs: Sequence[Any]) -> list[np.ndarray]:
    res = []
    for o in outs:
        if isinstance(o, torch.Tensor):
            o = o.detach().float().cpu().numpy()
        res.append(np.asarray(o, dtype=np.float64))
    return res


def max_abs_diffs(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> dict[str, float]:
    """Per-output max |a - b| (same shapes required)."""
    out = {}
    for name, x, y in zip(OUTPUT_NAMES, a, b, strict=True):
        if x.shape != y.shape:
            raise ValueError(f"{name}: shape {x.shape} != {y.shape}")
        out[name] = float(np.abs(x - y).max())
    return out


def within(diffs: dict[str, float], tol: dict[str, float]) -> bool:
    return all(diffs[k] <= tol[k] for k in diffs)


# --------------------------------------------------------------------------- model variants
@dataclass
class Variant:
    """A way to run the model. ``make(batch_inputs)`` returns a zero-argument runner."""

    name: str
    make: Callable[[tuple[torch.Tensor, ...]], Callable[[], Sequence[Any]]]
    tol: dict[str, float]
    note: str = ""


def _last_outputs(out: dict[str, Any]) -> tuple[torch.Tensor, ...]:
    return (out["R"][-1], out["T"][-1], out["correction"][-1], out["vertices"][-1],
            out["vertices_img"][-1], out["landmarks68"])


def _to_device(args: tuple[torch.Tensor, ...], device: str) -> tuple[torch.Tensor, ...]:
    return tuple(a.to(device) for a in args)


def cpu_variants(model: torch.nn.Module, device: str, threads: int, onnx_path: Path | None,
                 ) -> list[Variant]:
    """Baseline + in-process optimised variants for ``device`` (compile runs separately)."""
    base = model.to(device).eval()
    cl = copy.deepcopy(base).to(memory_format=torch.channels_last)
    cl_wrap = ExportWrapper(cl).eval()

    def eager(args: tuple[torch.Tensor, ...]) -> Callable[[], Sequence[Any]]:
        a = _to_device(args, device)

        def run() -> Sequence[Any]:
            with torch.no_grad():
                return _last_outputs(base(*a))
        return run

    def inference(args: tuple[torch.Tensor, ...]) -> Callable[[], Sequence[Any]]:
        a = _to_device(args, device)

        def run() -> Sequence[Any]:
            with torch.inference_mode():
                return _last_outputs(base(*a))
        return run

    def channels_last(args: tuple[torch.Tensor, ...]) -> Callable[[], Sequence[Any]]:
        a = _to_device(args, device)

        def run() -> Sequence[Any]:
            with torch.inference_mode():
                img = a[0].contiguous(memory_format=torch.channels_last)
                return cl_wrap(img, *a[1:])
        return run

    out = [
        Variant(BASELINE, eager, TOL_FP32, "no_grad, NCHW, all iteration outputs"),
        Variant("inference_mode", inference, TOL_FP32, "torch.inference_mode"),
        Variant("channels_last", channels_last, TOL_FP32, "NHWC + inference_mode"),
    ]
    if device == "cpu" and onnx_path is not None:
        sess = ort_session(onnx_path, threads=threads, allow_spinning=False)

        def onnxrt(args: tuple[torch.Tensor, ...]) -> Callable[[], Sequence[Any]]:
            feeds = {n: a.numpy() for n, a in zip(("image", "K_crop", "bbox_info", "box", "K"),
                                                  args, strict=True)}
            return lambda: sess.run(list(OUTPUT_NAMES), feeds)

        out.append(Variant("onnxruntime", onnxrt, TOL_FP32,
                           f"CPU EP, ORT_ENABLE_ALL, {threads} intra-op threads, no spinning"))
    if device == "cuda":
        out += _cuda_variants(cl_wrap)
    return out


def _cuda_variants(cl_wrap: torch.nn.Module) -> list[Variant]:
    def autocast(dtype: torch.dtype) -> Callable[..., Callable[[], Sequence[Any]]]:
        def make(args: tuple[torch.Tensor, ...]) -> Callable[[], Sequence[Any]]:
            a = _to_device(args, "cuda")

            def run() -> Sequence[Any]:
                with torch.inference_mode(), torch.autocast("cuda", dtype=dtype):
                    img = a[0].contiguous(memory_format=torch.channels_last)
                    return cl_wrap(img, *a[1:])
            return run
        return make

    def cuda_graph(args: tuple[torch.Tensor, ...]) -> Callable[[], Sequence[Any]]:
        static = [x.to("cuda").clone() for x in args]
        static[0] = static[0].contiguous(memory_format=torch.channels_last)

        def fwd() -> Sequence[torch.Tensor]:
            with torch.autocast("cuda", dtype=torch.float16):
                return cl_wrap(*static)

        with torch.inference_mode():
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    fwd()
            torch.cuda.current_stream().wait_stream(s)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                outs = fwd()

        def run() -> Sequence[Any]:
            # a real caller copies its new inputs into ``static`` first: include that copy
            with torch.inference_mode():
                for dst, src in zip(static, args, strict=True):
                    dst.copy_(src, non_blocking=True)
            graph.replay()
            return outs
        return run

    return [
        Variant("fp16_autocast", autocast(torch.float16), TOL_HALF, "NHWC + autocast fp16"),
        Variant("bf16_autocast", autocast(torch.bfloat16), TOL_HALF, "NHWC + autocast bf16"),
        Variant("cuda_graph_fp16", cuda_graph, TOL_HALF,
                "CUDA graph of NHWC fp16 autocast, input copy included"),
    ]


@dataclass
class ModelSpec:
    """How to rebuild the same model in a child process (picklable)."""

    weights: str | None
    backbone: str | None
    seed: int
    overrides: dict[str, Any]

    def build(self) -> torch.nn.Module:
        return load_model(self.weights, random_init=self.weights is None, backbone=self.backbone,
                          seed=self.seed, config_overrides=None if self.weights else
                          self.overrides)


def repeats_for(batch: int, repeats: int) -> int:
    """Timed repeats at ``batch``: ``repeats`` up to batch 4, fewer (>= 10) for big batches."""
    return repeats if batch <= 4 else min(repeats, max(10, round(repeats * 4 / batch)))


def measure_variants(variants: Sequence[Variant], batches: Sequence[int],
                     check_args: tuple[torch.Tensor, ...], warmup: int, repeats: int,
                     device: str, input_size: int) -> dict[str, dict[str, Any]]:
    """Timings per batch size and outputs on ``check_args`` of in-process variants.

    Repeats are interleaved round-robin over the variants, so load from other processes on a
    shared machine hits all variants alike; a variant that raises is reported as skipped.
    """
    res: dict[str, dict[str, Any]] = {v.name: {"note": v.note} for v in variants}
    live = list(variants)
    for b in batches:
        print(f"[bench]   batch {b}", file=sys.stderr, flush=True)
        inputs = example_inputs(b, input_size, seed=100 + b)
        runners: dict[str, Callable[[], Sequence[Any]]] = {}
        for v in list(live):
            try:
                runners[v.name] = v.make(inputs)
                for _ in range(warmup):
                    runners[v.name]()
                _sync(device)
            except Exception as exc:  # one broken variant must not hide the others
                res[v.name] = {"skipped": f"{type(exc).__name__}: {exc}"}
                live.remove(v)
                runners.pop(v.name, None)
        times: dict[str, list[float]] = {n: [] for n in runners}
        for _ in range(repeats_for(b, repeats)):
            for n, run in runners.items():
                t0 = time.perf_counter()
                run()
                _sync(device)
                times[n].append((time.perf_counter() - t0) * 1e3)
        for n, ts in times.items():
            a = np.asarray(ts)
            res[n][f"batch_{b}"] = {
                "median_ms": float(np.median(a)), "p90_ms": float(np.percentile(a, 90)),
                "mean_ms": float(a.mean()), "min_ms": float(a.min()), "n": int(a.size),
                "faces_per_s": b * 1e3 / float(np.median(a))}
    for v in live:
        res[v.name]["_check_outputs"] = _to_numpy(v.make(check_args)())
        res[v.name]["_tol"] = v.tol
    return res


def _compile_worker(conn: Any, spec: ModelSpec, batches: list[int], warmup: int, repeats: int,
                    threads: int, device: str, check_batch: int) -> None:
    """Child process: ``torch.compile`` the channels-last model and time it (see main)."""
    try:
        torch.set_num_threads(threads)
        model = spec.build().to(device).to(memory_format=torch.channels_last)
        size = int(model.config.input_size)
        wrap = ExportWrapper(model).eval()
        compiled = torch.compile(wrap, dynamic=False)
        res: dict[str, Any] = {"note": "torch.compile(inductor) of NHWC model, per-shape"}
        t0 = time.perf_counter()

        def make(args: tuple[torch.Tensor, ...]) -> Callable[[], Sequence[Any]]:
            a = _to_device(args, device)

            def run() -> Sequence[Any]:
                with torch.inference_mode():
                    return compiled(a[0].contiguous(memory_format=torch.channels_last), *a[1:])
            return run

        for b in batches:
            run = make(example_inputs(b, size, seed=100 + b))
            tc = time.perf_counter()
            run()  # compiles this shape
            res.setdefault("compile_s", {})[f"batch_{b}"] = time.perf_counter() - tc
            t = time_calls(run, warmup, repeats_for(b, repeats), device)
            t["faces_per_s"] = b * 1e3 / t["median_ms"]
            res[f"batch_{b}"] = t
        check = make(example_inputs(check_batch, size, seed=1))
        res["_check_outputs"] = _to_numpy(check())
        res["total_s"] = time.perf_counter() - t0
        conn.send(("ok", res))
    except Exception as exc:  # reported, not raised: the bench goes on without this variant
        conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"))
    finally:
        conn.close()


@contextlib.contextmanager
def _spawn_safe_main() -> Any:
    """Let ``spawn`` children start from a console script: a child re-runs ``__main__`` from its
    path unless ``__main__.__spec__`` names a module; the ``head-pose-bench`` script's
    ``__main__`` has no spec (and calls ``main()`` again). Point it at this module meanwhile."""
    import importlib.util

    main_mod = sys.modules["__main__"]
    if getattr(main_mod, "__spec__", None) is not None:
        yield
        return
    main_mod.__spec__ = importlib.util.find_spec(__name__)
    try:
        yield
    finally:
        main_mod.__spec__ = None


def run_compile_variant(spec: ModelSpec, batches: list[int], warmup: int, repeats: int,
                        threads: int, device: str, check_batch: int, timeout_s: float
                        ) -> dict[str, Any]:
    """Run :func:`_compile_worker` in a spawned child; skip it if it fails or overruns."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    old = os.environ.get("TORCHINDUCTOR_COMPILE_THREADS")
    os.environ["TORCHINDUCTOR_COMPILE_THREADS"] = "1"  # no compile pool that could outlive us
    try:
        proc = ctx.Process(target=_compile_worker, args=(child, spec, batches, warmup, repeats,
                                                         threads, device, check_batch))
        with _spawn_safe_main():
            proc.start()
    finally:
        if old is None:
            os.environ.pop("TORCHINDUCTOR_COMPILE_THREADS", None)
        else:
            os.environ["TORCHINDUCTOR_COMPILE_THREADS"] = old
    child.close()
    try:
        if not parent.poll(timeout_s):
            return {"skipped": f"torch.compile did not finish within {timeout_s:.0f} s"}
        status, payload = parent.recv()
    except EOFError:
        return {"skipped": f"compile worker died (exit code {proc.exitcode})"}
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(10)
    if status != "ok":
        return {"skipped": f"torch.compile failed: {payload.splitlines()[0]}"}
    return payload


# --------------------------------------------------------------------------- end-to-end
def face_photo(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """The LFPW photo cropped to a square around its face, and the 68 landmarks in that crop."""
    import cv2

    d = shared_data / "real" / "lfpw_image_0010"
    img = cv2.imread(str(d / "image_0010.png"), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(d / "image_0010.png")
    lm = np.loadtxt(d / "image_0010.pts", skiprows=3, max_rows=68)
    c = (lm.min(0) + lm.max(0)) / 2
    side = 1.8 * float((lm.max(0) - lm.min(0)).max())
    x0, y0 = (c - side / 2).astype(int)
    s = int(side)
    h, w = img.shape[:2]
    x0, y0 = max(0, min(x0, w - s)), max(0, min(y0, h - s))
    return img[y0:y0 + s, x0:x0 + s].copy(), lm - [x0, y0]


def make_frame(patch: np.ndarray, lm: np.ndarray, size: tuple[int, int], n_faces: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Tile ``n_faces`` (1, 2 side by side, or 4 in a 2x2 grid) copies of a face patch on a
    grey gradient.

    Returns the BGR frame and the faces' landmark boxes (M, 4) x0,y0,x1,y1.
    """
    import cv2

    w, h = size
    if n_faces not in FACE_LAYOUTS:
        raise ValueError(f"n_faces must be one of {sorted(FACE_LAYOUTS)}")
    cols, rows = FACE_LAYOUTS[n_faces]
    yy, xx = np.mgrid[0:h, 0:w]
    frame = (90 + 60 * xx / w + 30 * yy / h).astype(np.uint8)[..., None].repeat(3, axis=2)
    tw, th = w // cols, h // rows
    side = int(0.9 * min(tw, th))
    face = cv2.resize(patch, (side, side), interpolation=cv2.INTER_AREA)
    k = side / patch.shape[0]
    boxes = []
    for r in range(rows):
        for c in range(cols):
            x0 = c * tw + (tw - side) // 2
            y0 = r * th + (th - side) // 2
            frame[y0:y0 + side, x0:x0 + side] = face
            p = lm * k + [x0, y0]
            boxes.append([*p.min(0), *p.max(0)])
    return frame, np.asarray(boxes, dtype=np.float64)


def run_end_to_end(estimators: dict[str, Any], detector: Any, shared_data: Path, warmup: int,
                   repeats: int, device: str, sizes: Sequence[str], faces: Sequence[int]
                   ) -> dict[str, dict[str, Any]]:
    """Per-frame latency (decode + detect + estimate) for each frame size and face count.

    Returns ``{variant: {"<size>_<n>face": stats}}``; frames are interleaved round-robin over
    the estimator variants (fair under load from other processes).
    """
    import cv2

    from head_pose_ros.geometry import default_intrinsics

    patch, lm = face_photo(shared_data)
    out: dict[str, dict[str, Any]] = {name: {} for name in estimators}
    for size_name in sizes:
        w, h = FRAME_SIZES[size_name]
        K = default_intrinsics(w, h)
        for n in faces:
            frame, given = make_frame(patch, lm, (w, h), n)
            ok, jpg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
            if not ok:
                raise RuntimeError("JPEG encoding failed")
            buf = np.frombuffer(jpg.tobytes(), np.uint8)
            rec = {name: {"total": [], "decode": [], "detect": [], "estimate": [], "found": []}
                   for name in estimators}

            def one_frame(est: Any, r: dict[str, list] | None, buf: np.ndarray = buf,
                          given: np.ndarray = given, K: np.ndarray = K) -> None:
                t0 = time.perf_counter()
                img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
                t1 = time.perf_counter()
                boxes = detector.detect(img).boxes if detector is not None else given
                t2 = time.perf_counter()
                res = est.predict(img, K, boxes)
                _sync(device)
                t3 = time.perf_counter()
                if r is not None:
                    for k, v in (("total", t3 - t0), ("decode", t1 - t0), ("detect", t2 - t1),
                                 ("estimate", t3 - t2)):
                        r[k].append(v * 1e3)
                    r["found"].append(len(res))

            for est in estimators.values():
                for _ in range(warmup):
                    one_frame(est, None)
            for _ in range(repeats):
                for name, est in estimators.items():
                    one_frame(est, rec[name])
            for name, r in rec.items():
                a = np.asarray(r["total"])
                out[name][f"{size_name}_{n}face"] = {
                    "median_ms": float(np.median(a)), "p90_ms": float(np.percentile(a, 90)),
                    "fps": float(1e3 / np.median(a)),
                    "stages_median_ms": {k: float(np.median(r[k]))
                                         for k in ("decode", "detect", "estimate")},
                    "faces_expected": n, "faces_found_min": int(min(r["found"])),
                    "faces_found_max": int(max(r["found"])), "n": len(a),
                }
    return out


class AutocastModel:
    """Duck-typed TRG for ``HeadPoseEstimator``: the model under CUDA autocast (fp16/bf16),
    outputs cast back to float32, NHWC input."""

    def __init__(self, model: torch.nn.Module, dtype: torch.dtype) -> None:
        self.model = model
        self.config = model.config
        self.dtype = dtype

    def __call__(self, image: torch.Tensor, *rest: torch.Tensor) -> dict[str, Any]:
        with torch.autocast("cuda", dtype=self.dtype):
            out = self.model(image.contiguous(memory_format=torch.channels_last), *rest)
        return {k: [t.float() for t in v] if isinstance(v, list) else v.float()
                if v.is_floating_point() else v for k, v in out.items()}


class PerFaceLoop:
    """The baseline estimator called once per face (no batching): shows what batching buys."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def predict(self, image: np.ndarray, K: np.ndarray, boxes: np.ndarray) -> list[Any]:
        out: list[Any] = []
        for b in np.asarray(boxes).reshape(-1, np.asarray(boxes).shape[-1]):
            out += self.estimator.predict(image, K, b[None])
        return out


def estimator_variants(model: torch.nn.Module, device: str, checkpoint: Path | None = None,
                       threads: int | None = None, onnx_cache_dir: Path | None = None
                       ) -> dict[str, Any]:
    """The shipped estimator (baseline: eager fp32, all faces of a frame in one batch; its crops
    are already NHWC in memory, so a channels-last model changes nothing there), the same
    estimator called per face, and on the CPU with a ``checkpoint`` (the file ``model`` was
    loaded from) the node's ONNX Runtime backend: ``HeadPoseEstimator.from_checkpoint(...,
    backend="onnxruntime")``, graph from the cache (:mod:`head_pose_ros.backends`)."""
    from head_pose_ros.estimator import HeadPoseEstimator

    base = HeadPoseEstimator(model, device=device)
    out: dict[str, Any] = {BASELINE: base, "per_face_loop": PerFaceLoop(base)}
    if device == "cpu" and checkpoint is not None:
        out["onnxruntime"] = HeadPoseEstimator.from_checkpoint(
            checkpoint, device="cpu", backend="onnxruntime", threads=threads,
            onnx_cache_dir=onnx_cache_dir)
    if device == "cuda":
        half = HeadPoseEstimator(model, device=device)
        half.model = AutocastModel(copy.deepcopy(model).to(memory_format=torch.channels_last)
                                   .to(device).eval(), torch.float16)
        out["fp16_autocast"] = half
    return out


def estimator_equivalence(estimators: dict[str, Any], shared_data: Path) -> dict[str, Any]:
    """Max abs difference of the estimates (R, T m, vertices_cam m, landmarks68 px) on the
    4-face 640x480 frame, against the baseline estimator."""
    from head_pose_ros.geometry import default_intrinsics

    patch, lm = face_photo(shared_data)
    frame, boxes = make_frame(patch, lm, (640, 480), 4)
    K = default_intrinsics(640, 480)
    ref = estimators[BASELINE].predict(frame, K, boxes)
    res = {}
    for name, est in estimators.items():
        got = est.predict(frame, K, boxes)
        res[name] = {k: float(max(np.abs(getattr(a, k) - getattr(b, k)).max()
                                  for a, b in zip(got, ref, strict=True)))
                     for k in ("R", "T", "vertices_cam", "landmarks68")}
    return res


# --------------------------------------------------------------------------- reporting
#: the package's speed targets (issue 7): GPU: one 1080p frame with 2 faces end to end within
#: 5 ms and >= 1000 faces/s batched (model only); 2 CPU cores, one face end to end: >= 30
#: frames/s with the CPU-sized (mobilenet) backbone, >= 10 with the paper's ResNet18.
GPU_FRAME_MS = 5.0
GPU_FACES_PER_S = 1000.0
CPU_FPS = {"mobilenet": 30.0, "resnet18": 10.0}


def target_checks(rep: dict[str, Any]) -> list[dict[str, Any]]:
    """The speed targets that apply to this run's device and backbone, each with the best
    measured value (fastest variant; model-only variants only if equivalent to the baseline) and
    ``status``: ``met``, ``not met`` or ``not measured`` (section skipped)."""
    dev = rep["machine"]["device"]
    e2e = rep.get("end_to_end", {}).get("variants", {})
    model_only = rep.get("model_only", {})

    def fastest_frame(case: str) -> tuple[float | None, str]:
        runs = [(r[case]["median_ms"], name) for name, r in e2e.items() if case in r]
        return min(runs) if runs else (None, "")

    def check(name: str, measured: float | None, variant: str, target: float, unit: str,
              higher_is_better: bool) -> dict[str, Any]:
        if measured is None:
            status = "not measured"
        else:
            ok = measured >= target if higher_is_better else measured <= target
            status = "met" if ok else "not met"
        return {"target": name, "threshold": target, "unit": unit, "measured": measured,
                "variant": variant, "status": status}

    out = []
    if dev == "cuda":
        ms, var = fastest_frame("1920x1080_2face")
        out.append(check(f"end to end, 1920x1080, 2 faces <= {GPU_FRAME_MS:g} ms", ms, var,
                         GPU_FRAME_MS, "ms", False))
        best = [(r[k]["faces_per_s"], n) for n, r in model_only.items()
                if "skipped" not in r and r.get("equivalent")
                for k in r if k.startswith("batch_")]
        fps, var = max(best) if best else (None, "")
        out.append(check(f"model only, batched, >= {GPU_FACES_PER_S:g} faces/s", fps, var,
                         GPU_FACES_PER_S, "faces/s", True))
        return out
    backbone = str(rep["model"]["config"].get("backbone", "resnet18"))
    want = CPU_FPS.get(backbone, CPU_FPS["resnet18"])
    for size in FRAME_SIZES:
        ms, var = fastest_frame(f"{size}_1face")
        out.append(check(f"end to end, {size}, 1 face, {backbone}: >= {want:g} frames/s "
                         "(on 2 CPU cores)", None if ms is None else 1e3 / ms, var, want,
                         "frames/s", True))
    return out


def format_targets(rep: dict[str, Any]) -> list[str]:
    """One line per target of :func:`target_checks` (plain text and Markdown alike)."""
    lines = []
    for t in rep.get("targets", []):
        got = "-" if t["measured"] is None else f"{t['measured']:.1f} {t['unit']}"
        lines.append(f"- {t['target']}: {got}"
                     + (f" ({t['variant']})" if t["variant"] else "") + f" -> {t['status']}")
    return lines


def machine_info(device: str, threads: int) -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(), "python": platform.python_version(),
        "torch": torch.__version__, "cpu": _cpu_name(),
        "cpu_count_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(), "torch_threads": threads, "device": device,
    }
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    with contextlib.suppress(OSError):
        info["load_avg_at_start"] = list(os.getloadavg())
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def format_report(rep: dict[str, Any]) -> str:
    """Plain-text tables of a bench report."""
    lines = []
    m = rep["machine"]
    lines.append(f"machine: {m['cpu']} | {m['torch_threads']} torch threads | device "
                 f"{m['device']}{' (' + m['gpu'] + ')' if 'gpu' in m else ''} | torch {m['torch']}")
    mod = rep["model"]
    lines.append(f"model: {mod['description']}")
    batches = rep["settings"]["batches"]
    lines.append("")
    lines.append("MODEL ONLY (ms per call; faces/s = batch / median; x = speed-up vs "
                 f"{BASELINE} at the same batch)")
    hdr = f"{'variant':<18}" + "".join(
        f"{'b' + str(b) + ' med':>10}{'p90':>8}{'x':>6}" for b in batches
    ) + f"{'faces/s@' + str(batches[-1]):>14}  {'max|diff| vs baseline':<28}ok"
    lines.append(hdr)
    for name, r in rep["model_only"].items():
        if "skipped" in r:
            lines.append(f"{name:<18}skipped: {r['skipped']}")
            continue
        row = f"{name:<18}"
        for b in batches:
            t = r[f"batch_{b}"]
            row += f"{t['median_ms']:>10.1f}{t['p90_ms']:>8.1f}{r['speedup'][f'batch_{b}']:>6.2f}"
        row += f"{r[f'batch_{batches[-1]}']['faces_per_s']:>14.1f}  "
        d = r["max_abs_diff"]
        row += (f"R {d['R']:.1e} T {d['T']:.1e} lm {d['landmarks68']:.1e}"
                f"  {'yes' if r['equivalent'] else 'NO'}")
        lines.append(row)
    e2e = rep.get("end_to_end", {})
    lines.append("")
    if "skipped" in e2e:
        lines.append(f"END TO END: skipped: {e2e['skipped']}")
    else:
        lines.append(f"END TO END per frame (decode JPEG + detect [{e2e.get('detector')}] + "
                     "estimator.predict), ms")
        for vname, v in e2e.get("variants", {}).items():
            for case, r in v.items():
                if not isinstance(r, dict) or "median_ms" not in r:
                    continue
                s = r["stages_median_ms"]
                lines.append(
                    f"  {vname:<15}{case:<16} median {r['median_ms']:7.1f}  p90 {r['p90_ms']:7.1f}"
                    f"  {r['fps']:6.1f} fps  x{r.get('speedup', 1.0):.2f}  [decode "
                    f"{s['decode']:.1f} detect {s['detect']:.1f} estimate {s['estimate']:.1f}] "
                    f"faces {r['faces_found_min']}-{r['faces_found_max']}/{r['faces_expected']}")
        for vname, d in e2e.get("equivalence", {}).items():
            lines.append(f"  estimate diff {vname:<15} R {d['R']:.1e} T {d['T']:.1e} m  "
                         f"vertices_cam {d['vertices_cam']:.1e} m  lm68 {d['landmarks68']:.1e} px")
    node = rep.get("node", {})
    lines.append("")
    if "skipped" in node:
        lines.append(f"NODE (DDS image -> heads): skipped: {node['skipped']}")
    for want, run in node.get("runs", {}).items():
        if "skipped" in run:
            lines.append(f"NODE (DDS image -> heads) backend:={want}: skipped: {run['skipped']}")
            continue
        for case, r in run.items():
            if isinstance(r, dict) and "median_ms" in r:
                lines.append(f"NODE (DDS image -> heads) backend:={want} (ran "
                             f"{run.get('backend')}) {case}: median {r['median_ms']:.1f} ms, "
                             f"p90 {r['p90_ms']:.1f} ms, {r['n']} frames")
    if rep.get("targets"):
        lines += ["", f"TARGETS ({rep['machine']['cpu_count_affinity']} usable CPU cores, "
                      f"device {rep['machine']['device']})", *format_targets(rep)]
    return "\n".join(lines)


def format_markdown(rep: dict[str, Any]) -> str:
    """The report as Markdown tables (for docs/BENCHMARKS.md)."""
    m, st = rep["machine"], rep["settings"]
    batches = st["batches"]
    out = [f"- machine: {m['cpu']}, {m['cpu_count_affinity']} usable cores, "
           f"{m['torch_threads']} torch/ORT threads, device {m['device']}"
           f"{' (' + m['gpu'] + ')' if 'gpu' in m else ''}; torch {m['torch']}, onnxruntime "
           f"{m.get('onnxruntime', '-')}; load average at start "
           f"{', '.join(f'{x:.1f}' for x in m.get('load_avg_at_start', []))}, at end "
           f"{', '.join(f'{x:.1f}' for x in m.get('load_avg_at_end', []))}",
           f"- model: {rep['model']['description']}",
           f"- warm-up {st['warmup']}, repeats {st['repeats']} (fewer, >= 10, at batch > 4)",
           "", "Model only: median (p90, min) ms per call, speed-up of the median vs `eager_fp32` "
           "at the same batch, max abs difference vs `eager_fp32` (R; T in m; landmarks68 in "
           "px).", ""]
    head = "| variant | " + " | ".join(f"batch {b} ms (p90, min)" for b in batches) + \
        " | " + " | ".join(f"x @{b}" for b in batches) + \
        f" | faces/s @{batches[-1]} | max abs diff R / T / lm68 | equivalent |"
    out += [head, "|" + "---|" * (head.count("|") - 1)]
    for name, r in rep["model_only"].items():
        if "skipped" in r:
            out.append(f"| {name} | skipped: {r['skipped']} |")
            continue
        d = r["max_abs_diff"]
        out.append(
            f"| {name} | " + " | ".join(
                f"{r[f'batch_{b}']['median_ms']:.1f} ({r[f'batch_{b}']['p90_ms']:.1f}, "
                f"{r[f'batch_{b}']['min_ms']:.1f})"
                for b in batches)
            + " | " + " | ".join(f"{r['speedup'][f'batch_{b}']:.2f}" for b in batches)
            + f" | {r[f'batch_{batches[-1]}']['faces_per_s']:.1f} | {d['R']:.1e} / "
              f"{d['T']:.1e} / {d['landmarks68']:.1e} | {'yes' if r['equivalent'] else 'NO'} |")
    graph = rep.get("onnx_graph")
    if graph:
        out += ["", "ONNX graph of the `onnxruntime` rows (the estimator backend's cache): "
                + (f"exported in {graph['export_s']:.1f} s" if graph["export_s"] is not None
                   else "from the cache") + "."]
    comp = rep["model_only"].get("compile", {})
    if "compile_s" in comp:
        out += ["", "torch.compile time per input shape (s): " + ", ".join(
            f"{k.replace('batch_', 'batch ')}: {v:.0f}" for k, v in comp["compile_s"].items())]
    e2e = rep.get("end_to_end", {})
    out.append("")
    if "skipped" in e2e:
        out.append(f"End to end: skipped ({e2e['skipped']}).")
    else:
        out += [f"End to end per frame (JPEG decode + detection [{e2e['detector']}] + "
                "`HeadPoseEstimator.predict`): median / p90 ms, frames/s, speed-up vs "
                "`eager_fp32`, median stage times.", "",
                "| variant | frame | median ms | p90 ms | frames/s | x | decode | detect | "
                "estimate | faces found |", "|---|---|---|---|---|---|---|---|---|---|"]
        for vname, cases in e2e["variants"].items():
            for case, r in cases.items():
                sm = r["stages_median_ms"]
                out.append(
                    f"| {vname} | {case} | {r['median_ms']:.1f} | {r['p90_ms']:.1f} | "
                    f"{r['fps']:.1f} | {r.get('speedup', 1.0):.2f} | {sm['decode']:.1f} | "
                    f"{sm['detect']:.1f} | {sm['estimate']:.1f} | {r['faces_found_min']}-"
                    f"{r['faces_found_max']} of {r['faces_expected']} |")
        out += ["", "Estimates vs `eager_fp32` (4-face 640x480 frame), max abs difference:", "",
                "| variant | R | T (m) | vertices_cam (m) | landmarks68 (px) |",
                "|---|---|---|---|---|"]
        for vname, d in e2e["equivalence"].items():
            out.append(f"| {vname} | {d['R']:.1e} | {d['T']:.1e} | {d['vertices_cam']:.1e} | "
                       f"{d['landmarks68']:.1e} |")
    node = rep.get("node", {})
    out.append("")
    if "skipped" in node:
        out.append(f"Node over DDS: skipped ({node['skipped']}).")
    runs = node.get("runs", {})
    if runs:
        transport = next((r["transport"] for r in runs.values() if "transport" in r), "-")
        out += [f"Node over DDS (image published -> `heads` received; {transport}):",
                "", "| backend (logged by the node) | frame | median ms | p90 ms | frames | "
                "unanswered (warm-up / timed) |", "|---|---|---|---|---|---|"]
    for want, run in runs.items():
        if "skipped" in run:
            out.append(f"| {want} | skipped: {run['skipped']} |")
            continue
        for case, r in run.items():
            if isinstance(r, dict) and "median_ms" in r:
                out.append(f"| {want} ({run.get('backend')}) | {case} | {r['median_ms']:.1f} | "
                           f"{r['p90_ms']:.1f} | {r['n']} | {r['unanswered_warmup']} / "
                           f"{r['unanswered_timed']} |")
    if rep.get("targets"):
        out += ["", "Targets (fastest variant):", "", *format_targets(rep)]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- main
def _default_shared_data() -> Path:
    from head_pose_ros.topology import default_shared_data

    return default_shared_data()


def model_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """ModelConfig fields for the random-init model: ``--model-config`` (a YAML file with a
    ``model:`` mapping, e.g. a training config) then ``--backbone``."""
    out: dict[str, Any] = {}
    if args.model_config:
        import yaml

        data = yaml.safe_load(Path(args.model_config).read_text()) or {}
        out.update(data.get("model", data) if isinstance(data, dict) else {})
    return out


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda but CUDA is not available")
    threads = args.threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                               else os.cpu_count() or 1)
    torch.set_num_threads(threads)
    quick = args.quick
    warmup = args.warmup if args.warmup is not None else (1 if quick else 5)
    repeats = args.repeats if args.repeats is not None else (3 if quick else 30)
    batches = [int(b) for b in args.batches.split(",")] if args.batches else (
        [1, 4] if quick else [1, 8, 32])
    shared = Path(args.shared_data) if args.shared_data else _default_shared_data()

    spec = ModelSpec(args.weights, args.backbone, 0,
                     {} if args.weights else {**model_overrides(args), **RANDOM_INIT_OVERRIDES})
    model = spec.build()
    cfg = model.config
    n_params = sum(p.numel() for p in model.parameters())
    desc = (f"checkpoint {args.weights}" if args.weights else
            f"RANDOM-INIT (untrained, seed 0, {spec.overrides}"
            + (f" from {args.model_config}" if args.model_config else "") + ")")
    desc += (f", backbone {cfg.backbone} x{cfg.backbone_width}, {cfg.input_size} px, "
             f"{cfg.feature_channels} feature channels, {cfg.num_iterations} iterations, "
             f"{n_params / 1e6:.1f} M parameters")
    rep: dict[str, Any] = {
        "machine": machine_info(device, threads),
        "model": {"description": desc, "weights": args.weights, "random_init": not args.weights,
                  "config": cfg.to_dict(), "parameters": n_params},
        "settings": {"warmup": warmup, "repeats": repeats, "batches": batches, "quick": quick,
                     "threads": threads, "check_batch": 3},
    }

    import tempfile

    tmp = tempfile.TemporaryDirectory(prefix="head_pose_bench_")
    checkpoint, xdg_cache = bench_checkpoint(args.weights, model, Path(tmp.name))
    onnx_path: Path | None = None
    skip = set(args.skip or [])
    if device == "cpu" and "onnxruntime" not in skip:
        from head_pose_ros.backends import cached_onnx_graph

        try:  # the graph the estimator's onnxruntime backend (section 2, the node) loads too
            graph = cached_onnx_graph(model, checkpoint, _onnx_cache_dir(xdg_cache))
            onnx_path = graph.path
            rep["onnx_graph"] = {"path": str(graph.path), "export_s": graph.export_s}
        except Exception as exc:  # reported in the table
            rep.setdefault("notes", []).append(f"ONNX export failed: {exc}")

    # ---- 1. model only
    size = int(cfg.input_size)
    check_args = example_inputs(3, size, seed=1)
    variants = [v for v in cpu_variants(model, device, threads, onnx_path) if v.name not in skip]
    print(f"[bench] model: {', '.join(v.name for v in variants)} (interleaved) ...",
          file=sys.stderr, flush=True)
    results: dict[str, Any] = measure_variants(variants, batches, check_args, warmup, repeats,
                                               device, size)
    if "compile" not in skip:
        print("[bench] model: compile (child process) ...", file=sys.stderr, flush=True)
        results["compile"] = run_compile_variant(spec, batches, warmup, repeats, threads, device,
                                                 3, args.compile_timeout)
        if "skipped" not in results["compile"]:
            results["compile"]["_tol"] = TOL_FP32
    base = results[BASELINE]
    if "skipped" in base:
        raise RuntimeError(f"the {BASELINE} baseline failed: {base['skipped']}")
    ref = base["_check_outputs"]
    for r in results.values():
        if "skipped" in r:
            continue
        outs = r.pop("_check_outputs")
        tol = r.pop("_tol")
        r["max_abs_diff"] = max_abs_diffs(outs, ref)
        r["tolerance"] = tol
        r["equivalent"] = within(r["max_abs_diff"], tol)
        r["speedup"] = {f"batch_{b}": base[f"batch_{b}"]["median_ms"] / r[f"batch_{b}"]["median_ms"]
                        for b in batches}
    rep["model_only"] = results

    # ---- 2. end to end
    rep["end_to_end"] = _end_to_end(args, model, device, checkpoint, xdg_cache, shared, warmup,
                                    repeats, quick, threads)

    # ---- 3. node over DDS
    if args.no_node:
        rep["node"] = {"skipped": "--no-node"}
    else:
        rep["node"] = node_section(args, model, shared, quick, checkpoint, xdg_cache)
    tmp.cleanup()
    with contextlib.suppress(OSError):
        rep["machine"]["load_avg_at_end"] = list(os.getloadavg())
    rep["targets"] = target_checks(rep)
    return rep


def bench_checkpoint(weights: str | None, model: torch.nn.Module, tmp: Path
                     ) -> tuple[Path, Path | None]:
    """The checkpoint file of the benchmarked model (the node and the estimator's ONNX Runtime
    backend load a file) and the ``XDG_CACHE_HOME`` for its ONNX graph: ``--weights`` and the
    user's cache (None: what the node uses), or the random-init model saved under ``tmp`` with
    a cache under ``tmp`` (a throw-away graph does not go to the user's cache)."""
    if weights:
        return Path(weights), None
    from head_pose_ros.checkpoint import save_checkpoint

    path = save_checkpoint(tmp / "random_init.safetensors", model,
                           meta={"note": "random init, benchmark only"})
    return path, tmp / "xdg_cache"


def _onnx_cache_dir(xdg_cache: Path | None) -> Path | None:
    from head_pose_ros.backends import CACHE_SUBDIR

    return None if xdg_cache is None else xdg_cache.joinpath(*CACHE_SUBDIR)


def _end_to_end(args: argparse.Namespace, model: torch.nn.Module, device: str,
                checkpoint: Path | None, xdg_cache: Path | None, shared: Path, warmup: int,
                repeats: int, quick: bool, threads: int | None = None) -> dict[str, Any]:
    if args.no_e2e:
        return {"skipped": "--no-e2e"}
    if not (shared / "real" / "lfpw_image_0010").is_dir():
        return {"skipped": f"no face photo under {shared}/real/lfpw_image_0010"}
    try:
        from head_pose_ros.estimator import HeadPoseEstimator  # noqa: F401
    except ImportError as exc:
        return {"skipped": f"estimator not importable: {exc}"}
    detector = None
    yunet = Path(args.yunet) if args.yunet else shared / "detector" / \
        "face_detection_yunet_2023mar.onnx"
    det_note = "yunet"
    if yunet.is_file():
        from head_pose_ros.detection import YuNetDetector

        detector = YuNetDetector(yunet)
    else:
        det_note = f"given boxes (YuNet model not found at {yunet})"
    from head_pose_ros.backends import BackendError

    out: dict[str, Any] = {"detector": det_note, "variants": {}}
    want_ort = "onnxruntime" not in set(args.skip or [])
    try:
        ests = estimator_variants(model, device, checkpoint if want_ort else None, threads,
                                  _onnx_cache_dir(xdg_cache))
    except BackendError as exc:  # reported, the other variants still run
        out["onnxruntime_backend"] = {"skipped": str(exc)}
        ests = estimator_variants(model, device)
    ests = {k: v for k, v in ests.items() if k not in set(args.skip or [])}
    if "onnxruntime" in ests:
        graph = ests["onnxruntime"].model.graph
        out["onnxruntime_backend"] = {"backend": ests["onnxruntime"].backend,
                                      "graph": str(graph.path), "export_s": graph.export_s}
    sizes = ["640x480"] if quick else list(FRAME_SIZES)
    faces = [1, 4] if quick else list(FACE_LAYOUTS)
    e_warm, e_rep = (1, 3) if quick else (max(2, warmup // 2), max(10, repeats // 2))
    print(f"[bench] end-to-end: {', '.join(ests)} (interleaved) ...", file=sys.stderr,
          flush=True)
    out["variants"] = run_end_to_end(ests, detector, shared, e_warm, e_rep, device, sizes, faces)
    base = out["variants"][BASELINE]
    for v in out["variants"].values():
        for case, r in v.items():
            if isinstance(r, dict) and "median_ms" in r:
                r["speedup"] = base[case]["median_ms"] / r["median_ms"]
    out["equivalence"] = estimator_equivalence(ests, shared)
    return out


# --------------------------------------------------------------------------- node over DDS
DDS_PROFILE_NAME = "fastdds_large_images.xml"


def find_dds_profile() -> Path | None:
    """The package's Fast DDS large-image profile (node helper's ``config/`` file): installed
    share directory first, then the source tree."""
    cands = [Path(p) / "share" / "head_pose_ros" / "config" / DDS_PROFILE_NAME
             for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    cands.append(Path(__file__).resolve().parents[2] / "config" / DDS_PROFILE_NAME)
    return next((c for c in cands if c.is_file()), None)


def _find_node_executable() -> Path | None:
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        p = Path(prefix) / "lib" / "head_pose_ros" / "head_pose_node"
        if prefix and p.is_file():
            return p
    return None


def node_backends(args: argparse.Namespace) -> list[str]:
    """Backends the node section measures: onnxruntime and torch on the CPU (onnxruntime only
    when installed and not ``--skip``-ped), torch on CUDA."""
    from head_pose_ros.backends import onnxruntime_unavailable

    if args.device == "cpu" and "onnxruntime" not in set(args.skip or []) \
            and onnxruntime_unavailable() is None:
        return ["onnxruntime", "torch"]
    return ["torch"]


def node_section(args: argparse.Namespace, model: torch.nn.Module, shared: Path, quick: bool,
                 checkpoint: Path | None = None, xdg_cache: Path | None = None
                 ) -> dict[str, Any]:
    """:func:`bench_node` once per backend of :func:`node_backends`: ``{"runs": {backend:
    result}}``, or ``{"skipped": reason}`` when no run could start for the same reason."""
    runs = {b: bench_node(args, model, shared, quick, backend=b, checkpoint=checkpoint,
                          xdg_cache=xdg_cache) for b in node_backends(args)}
    reasons = {r.get("skipped") for r in runs.values()}
    if len(reasons) == 1 and None not in reasons:
        return {"skipped": reasons.pop()}
    return {"runs": runs}


def bench_node(args: argparse.Namespace, model: torch.nn.Module, shared: Path, quick: bool,
               backend: str = "auto", checkpoint: Path | None = None,
               xdg_cache: Path | None = None) -> dict[str, Any]:
    """Image-in to ``heads``-out latency of the node executable over DDS (loopback), started
    with ``backend:=<backend>`` on ``checkpoint`` (default ``--weights``, else ``model`` saved to
    a temporary file) and ``XDG_CACHE_HOME=<xdg_cache>`` (its ONNX graph cache; default: the
    user's, or a temporary one for the random-init model saved here).
    ``result["backend"]`` is the backend the node logged at start."""
    try:
        import rclpy  # noqa: F401

        import head_pose_ros.msg  # noqa: F401
    except ImportError as exc:
        return {"skipped": f"ROS workspace not importable ({exc}); source install/setup.bash"}
    exe = _find_node_executable()
    if exe is None:
        return {"skipped": "head_pose_node executable not found on AMENT_PREFIX_PATH"}
    yunet = Path(args.yunet) if args.yunet else shared / "detector" / \
        "face_detection_yunet_2023mar.onnx"
    if not yunet.is_file():
        return {"skipped": f"YuNet model not found at {yunet} (the node needs a detector)"}
    if not (shared / "real" / "lfpw_image_0010").is_dir():
        return {"skipped": "no face photo in the shared data"}
    try:
        return _bench_node(args, model, exe, yunet, shared, quick, backend, checkpoint,
                           xdg_cache)
    except Exception as exc:  # a failing optional section is reported, not fatal
        return {"skipped": f"node benchmark failed: {type(exc).__name__}: {exc}"}


def _bench_node(args: argparse.Namespace, model: torch.nn.Module, exe: Path, yunet: Path,
                shared: Path, quick: bool, backend: str = "auto",
                checkpoint: Path | None = None, xdg_cache: Path | None = None
                ) -> dict[str, Any]:
    import random
    import re
    import signal
    import subprocess
    import tempfile

    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    from head_pose_ros.geometry import default_intrinsics
    from head_pose_ros.msg import HeadPoseArray

    tmp = tempfile.TemporaryDirectory(prefix="head_pose_bench_node_")
    saved_env = dict(os.environ)
    proc: subprocess.Popen | None = None
    log = None
    try:
        weights = str(checkpoint) if checkpoint else args.weights
        if not weights:
            from head_pose_ros.checkpoint import save_checkpoint

            weights = str(save_checkpoint(Path(tmp.name) / "random_init.safetensors", model,
                                          meta={"note": "random init, benchmark only"}))
            xdg_cache = xdg_cache or Path(tmp.name) / "xdg_cache"  # throw-away graph
        # our environment is the child's too (rclpy reads it at init, below); restored at the end
        os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 200)))
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        transport = "Fast DDS built-in transports"
        if not args.dds_default_transport:
            prof = Path(args.dds_profile) if args.dds_profile else find_dds_profile()
            if prof is None or not prof.is_file():
                raise FileNotFoundError(
                    f"no {DDS_PROFILE_NAME} found (give --dds-profile or "
                    "--dds-default-transport)")
            # one variable only: Fast DDS loads a file named in both twice (duplicate ids)
            os.environ.pop("FASTRTPS_DEFAULT_PROFILES_FILE", None)
            os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(prof)
            transport = f"Fast DDS profile {prof}"
        env = dict(os.environ)
        env["OMP_NUM_THREADS"] = str(torch.get_num_threads())
        if xdg_cache is not None:
            env["XDG_CACHE_HOME"] = str(xdg_cache)
        cmd = [sys.executable, str(exe), "--ros-args", "-p", f"weights:={weights}",
               "-p", f"device:={args.device}", "-p", f"backend:={backend}",
               "-p", f"inference_threads:={torch.get_num_threads()}",
               "-p", "detector:=yunet",
               "-p", f"yunet_model:={yunet}", "-p", "detect_every_n:=1"]
        log = open(Path(tmp.name) / "node.log", "w+")  # noqa: SIM115 (closed below)
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        patch, lm = face_photo(shared)
        sizes = ["640x480"] if quick else list(FRAME_SIZES)
        n_frames, n_warm = (3, 2) if quick else (30, 5)
        retry_s = 2.0
        result: dict[str, Any] = {
            "command": " ".join(cmd[1:]), "domain_id": env["ROS_DOMAIN_ID"],
            "transport": transport, "backend_requested": backend,
            "rmw": env.get("RMW_IMPLEMENTATION", "default (rmw_fastrtps_cpp)")}
        rclpy.init()
        node = rclpy.create_node("head_pose_bench")
        try:
            pub_img = node.create_publisher(Image, "image", qos_profile_sensor_data)
            pub_info = node.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data)
            got: dict[int, float] = {}

            def on_heads(msg: Any) -> None:
                got[msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec] = time.perf_counter()

            node.create_subscription(HeadPoseArray, "heads", on_heads, 10)
            deadline = time.monotonic() + 120.0
            while pub_img.get_subscription_count() == 0 or node.count_publishers("heads") == 0:
                rclpy.spin_once(node, timeout_sec=0.1)
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"node exited ({proc.returncode}): {log.read()[-400:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError("node did not subscribe within 120 s")
            settle = time.monotonic() + 1.0  # let the reverse direction match too
            while time.monotonic() < settle:
                rclpy.spin_once(node, timeout_sec=0.05)
            log.flush()
            log.seek(0)
            started = re.search(r"inference backend: (\w+)", log.read())
            result["backend"] = started.group(1) if started else None
            if pub_img.get_subscription_count() != 1 or node.count_publishers("heads") != 1:
                raise RuntimeError(f"another node shares ROS_DOMAIN_ID {env['ROS_DOMAIN_ID']}: "
                                   "set ROS_DOMAIN_ID to a free domain")
            for size_name in sizes:
                w, h = FRAME_SIZES[size_name]
                frame, _ = make_frame(patch, lm, (w, h), 1)
                K = default_intrinsics(w, h)
                info = CameraInfo()
                info.header.frame_id = "camera"
                info.width, info.height = w, h
                info.distortion_model = "plumb_bob"
                info.d = [0.0] * 5
                info.k = K.ravel().tolist()
                info.r = np.eye(3).ravel().tolist()
                info.p = np.hstack([K, np.zeros((3, 1))]).ravel().tolist()
                img = Image()
                img.header.frame_id = "camera"
                img.height, img.width, img.encoding, img.step = h, w, "bgr8", w * 3
                img.data = frame.tobytes()
                lat: list[float] = []
                lost = [0, 0]  # unanswered images during warm-up, during the timed frames
                unanswered: list[int] = []
                for i in range(n_warm + n_frames):
                    # Best-effort (SensorDataQoS) images can be dropped, and the node keeps only the
                    # newest frame: publish, wait for the answer with this stamp, re-publish (a new
                    # stamp) if none came within ``retry_s``. Only answered frames are timed.
                    for _ in range(30 if i < n_warm else 10):
                        stamp_ns = time.time_ns()
                        for m in (info, img):
                            m.header.stamp.sec, m.header.stamp.nanosec = divmod(stamp_ns, 10**9)
                        pub_info.publish(info)
                        t0 = time.perf_counter()
                        pub_img.publish(img)
                        end = time.monotonic() + retry_s
                        while stamp_ns not in got and time.monotonic() < end:
                            rclpy.spin_once(node, timeout_sec=0.005)
                        if stamp_ns in got:
                            break
                        lost[i >= n_warm] += 1
                        unanswered.append(stamp_ns)
                    else:
                        raise RuntimeError("the node answered none of the images it was sent "
                                           f"(unanswered so far: {lost})")
                    if i >= n_warm:
                        lat.append((got[stamp_ns] - t0) * 1e3)
                settle = time.monotonic() + retry_s
                while time.monotonic() < settle:
                    rclpy.spin_once(node, timeout_sec=0.05)
                a = np.asarray(lat)
                result[f"{size_name}_1face"] = {
                    "answered_late": sum(st in got for st in unanswered),
                    "median_ms": float(np.median(a)), "p90_ms": float(np.percentile(a, 90)),
                    "n": int(a.size), "unanswered_warmup": lost[0], "unanswered_timed": lost[1]}
        finally:
            node.destroy_node()
            rclpy.shutdown()
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if log is not None:
            log.close()
        tmp.cleanup()
        os.environ.clear()
        os.environ.update(saved_env)
    return result


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="head-pose-bench",
        description="Benchmark the TRG model, the estimator pipeline and the node in one run.")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--json", help="write the full report (JSON) here")
    ap.add_argument("--markdown", help="write the tables as Markdown here")
    ap.add_argument("--weights", help="checkpoint; default: a random-init model (speed only)")
    ap.add_argument("--backbone", choices=("resnet18", "mobilenet"),
                    help="backbone of the random-init model (without --weights)")
    ap.add_argument("--model-config",
                    help="YAML with a 'model:' section (e.g. config/train/cpu_default.yaml): "
                         "the random-init model's config (without --weights)")
    ap.add_argument("--quick", action="store_true",
                    help="tiny run (batches 1,4; few repeats; 640x480 only): for tests")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch / ONNX Runtime intra-op threads (default: usable cores)")
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--batches", help="comma-separated batch sizes (default 1,8,32)")
    ap.add_argument("--yunet", help="YuNet .onnx (default: <shared data>/detector/...)")
    ap.add_argument("--shared-data", help="shared data root (default $HEAD_POSE_SHARED_DATA or "
                                           "<repo>/../shared/data)")
    ap.add_argument("--skip", action="append",
                    choices=("inference_mode", "channels_last", "compile", "onnxruntime",
                             "fp16_autocast", "bf16_autocast", "cuda_graph_fp16"),
                    help="skip a variant (repeatable)")
    ap.add_argument("--compile-timeout", type=float, default=600.0,
                    help="time box (s) of the torch.compile variant, compile + timing")
    ap.add_argument("--no-e2e", action="store_true", help="skip the end-to-end section")
    ap.add_argument("--no-node", action="store_true", help="skip the node (DDS) section")
    ap.add_argument("--dds-profile", help="node section: Fast DDS profile XML (default: the "
                    f"package's config/{DDS_PROFILE_NAME}, 32 MB shared-memory segment)")
    ap.add_argument("--dds-default-transport", action="store_true",
                    help="node section: keep Fast DDS's built-in transports (large images are "
                         "mostly lost between processes with them)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.weights and (args.backbone or args.model_config):
        build_parser().error("--backbone / --model-config only apply without --weights")
    if not args.weights:
        print("=" * 72 + "\nWARNING: no --weights: benchmarking a RANDOMLY INITIALISED, "
              "UNTRAINED model.\nTimings are representative; its poses are meaningless.\n"
              + "=" * 72, file=sys.stderr)
    rep = run_bench(args)
    print(format_report(rep))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rep, indent=2) + "\n")
        print(f"wrote {args.json}")
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(format_markdown(rep))
        print(f"wrote {args.markdown}")
    bad = [k for k, r in rep["model_only"].items() if "skipped" not in r and not r["equivalent"]]
    if bad:
        print(f"NOT EQUIVALENT to the baseline: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
