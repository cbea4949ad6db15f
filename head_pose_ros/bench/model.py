"""Model-only section: latency at batch 1 and throughput at batch 8 and 32 (faces/s) for the
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
"""

from __future__ import annotations

import contextlib
import copy
import functools
import multiprocessing as mp
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from head_pose_ros.backends import CACHE_SUBDIR
from head_pose_ros.bench.timing import BASELINE, latency_stats, sync, time_calls
from head_pose_ros.checkpoint import save_checkpoint
from head_pose_ros.onnx_export import (
    ATOL,
    INPUT_NAMES,
    OUTPUT_NAMES,
    UNCERTAINTY_OUTPUT,
    ExportWrapper,
    example_inputs,
    load_model,
    ort_session,
    output_names,
)

RANDOM_INIT_OVERRIDES: dict[str, Any] = {"last_layer_gain": 1.0}
#: max abs difference allowed against the fp32 baseline, per output (R and correction unitless,
#: T and vertices metres, vertices_img and landmarks68 crop pixels).
TOL_FP32: dict[str, float] = dict(ATOL)
#: reduced precision (fp16 / bf16 on GPU): 1e-2 rad-ish on R, 5 mm, 1 px.
TOL_HALF: dict[str, float] = {"R": 2e-2, "T": 5e-3, "correction": 2e-2, "vertices": 5e-3,
                              "vertices_img": 1.0, "landmarks68": 1.0, "rot_logvar": 5e-2}
#: the fixed batch the outputs of every variant are compared on
CHECK_BATCH = 3


def to_numpy(outs: Sequence[Any]) -> list[np.ndarray]:
    res = []
    for o in outs:
        if isinstance(o, torch.Tensor):
            o = o.detach().float().cpu().numpy()
        res.append(np.asarray(o, dtype=np.float64))
    return res


def max_abs_diffs(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> dict[str, float]:
    """Per-output max |a - b| (same shapes required)."""
    out = {}
    names = (*OUTPUT_NAMES, UNCERTAINTY_OUTPUT)[:len(a)]
    for name, x, y in zip(names, a, b, strict=True):
        if x.shape != y.shape:
            raise ValueError(f"{name}: shape {x.shape} != {y.shape}")
        out[name] = float(np.abs(x - y).max())
    return out


def within(diffs: dict[str, float], tol: dict[str, float]) -> bool:
    return all(diffs[k] <= tol[k] for k in diffs)


@dataclass
class Variant:
    """A way to run the model. ``make(batch_inputs)`` returns a zero-argument runner."""

    name: str
    make: Callable[[tuple[torch.Tensor, ...]], Callable[[], Sequence[Any]]]
    #: None: not compared on random inputs (``equivalent`` is None; the int8 graph, whose cost
    #: on labelled faces :mod:`head_pose_ros.quantize` measures)
    tol: dict[str, float] | None
    note: str = ""


def _last_outputs(out: dict[str, Any]) -> tuple[torch.Tensor, ...]:
    extra = (out["rot_logvar"],) if "rot_logvar" in out else ()
    return (out["R"][-1], out["T"][-1], out["correction"][-1], out["vertices"][-1],
            out["vertices_img"][-1], out["landmarks68"], *extra)


def _to_device(args: tuple[torch.Tensor, ...], device: str) -> tuple[torch.Tensor, ...]:
    return tuple(a.to(device) for a in args)


def cpu_variants(model: torch.nn.Module, device: str, threads: int, onnx_path: Path | None,
                 ) -> list[Variant]:
    """Baseline + in-process optimised variants for ``device`` (compile runs separately)."""
    base = model.to(device).eval()
    cl = copy.deepcopy(base).to(memory_format=torch.channels_last)
    cl_wrap = ExportWrapper(cl).eval()

    def plain(mode: Callable[[], Any]) -> Callable[..., Callable[[], Sequence[Any]]]:
        """The NCHW model's training forward under ``mode`` (no_grad / inference_mode)."""
        def make(args: tuple[torch.Tensor, ...]) -> Callable[[], Sequence[Any]]:
            a = _to_device(args, device)

            def run() -> Sequence[Any]:
                with mode():
                    return _last_outputs(base(*a))
            return run
        return make

    def channels_last(args: tuple[torch.Tensor, ...]) -> Callable[[], Sequence[Any]]:
        a = _to_device(args, device)

        def run() -> Sequence[Any]:
            with torch.inference_mode():
                img = a[0].contiguous(memory_format=torch.channels_last)
                return cl_wrap(img, *a[1:])
        return run

    out = [
        Variant(BASELINE, plain(torch.no_grad), TOL_FP32, "no_grad, NCHW, all iteration outputs"),
        Variant("inference_mode", plain(torch.inference_mode), TOL_FP32, "torch.inference_mode"),
        Variant("channels_last", channels_last, TOL_FP32, "NHWC + inference_mode"),
    ]
    if device == "cpu" and onnx_path is not None:
        sess = ort_session(onnx_path, threads=threads, allow_spinning=False)
        out.append(Variant("onnxruntime", session_runner(lambda: sess, base.config), TOL_FP32,
                           f"CPU EP, ORT_ENABLE_ALL, {threads} intra-op threads, no spinning"))
        out.append(ort_int8_variant(onnx_path, base.config, threads))
    if device == "cuda":
        out += _cuda_variants(cl_wrap)
        if onnx_path is not None:
            out += ort_cuda_variants(onnx_path, base.config)
    return out


def session_runner(session: Callable[[], Any], config: Any
                   ) -> Callable[[tuple[torch.Tensor, ...]], Callable[[], Sequence[Any]]]:
    """A :class:`Variant` ``make`` for an ONNX Runtime session (``session()`` gives it): the
    batch inputs as host numpy arrays, one ``run`` of all outputs per call."""
    def make(args: tuple[torch.Tensor, ...]) -> Callable[[], Sequence[Any]]:
        feeds = {n: a.detach().cpu().numpy() for n, a in zip(INPUT_NAMES, args, strict=True)}
        sess = session()
        return lambda: sess.run(list(output_names(config)), feeds)
    return make


def ort_int8_variant(onnx_path: Path, config: Any, threads: int) -> Variant:
    """The ``onnxruntime_int8`` backend's graph, made from ``onnx_path``, in the same CPU
    session settings as the ``onnxruntime`` row."""
    from head_pose_ros.backends import OnnxGraph, int8_graph

    @functools.cache
    def session() -> Any:  # made at the first use: a failure skips this row only
        return ort_session(int8_graph(OnnxGraph(onnx_path)).path, threads=threads,
                           allow_spinning=False)

    return Variant("onnxruntime_int8", session_runner(session, config), None,
                   "the onnxruntime row's graph, regressors' linear layers in int8 (dynamic)")


def ort_cuda_variants(onnx_path: Path, config: Any) -> list[Variant]:
    """ONNX Runtime's CUDA execution provider on the exported graph (fp32; inputs copied from
    the host each call, as the estimator would), when this onnxruntime build has it."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return []
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(onnx_path), so,
                                providers=["CUDAExecutionProvider", "CPUExecutionProvider"])

    return [Variant("onnxruntime_cuda", session_runner(lambda: sess, config), TOL_FP32,
                    "ORT CUDA EP, fp32, host inputs")]


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


def with_faces_per_s(stats: dict[str, Any], batch: int) -> dict[str, Any]:
    """``stats`` of calls at ``batch`` plus their throughput (faces/s of the median)."""
    return {**stats, "faces_per_s": batch * 1e3 / stats["median_ms"]}


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
                sync(device)
            except Exception as exc:  # one broken variant must not hide the others
                res[v.name] = {"skipped": f"{type(exc).__name__}: {exc}"}
                live.remove(v)
                runners.pop(v.name, None)
        times: dict[str, list[float]] = {n: [] for n in runners}
        for _ in range(repeats_for(b, repeats)):
            for n, run in runners.items():
                t0 = time.perf_counter()
                run()
                sync(device)
                times[n].append((time.perf_counter() - t0) * 1e3)
        for n, ts in times.items():
            res[n][f"batch_{b}"] = with_faces_per_s(latency_stats(ts), b)
    for v in live:
        res[v.name]["_check_outputs"] = to_numpy(v.make(check_args)())
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
            res[f"batch_{b}"] = with_faces_per_s(
                time_calls(run, warmup, repeats_for(b, repeats), device), b)
        check = make(example_inputs(check_batch, size, seed=1))
        res["_check_outputs"] = to_numpy(check())
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



def model_section(spec: ModelSpec, model: torch.nn.Module, device: str, threads: int,
                  onnx_path: Path | None, batches: list[int], warmup: int, repeats: int,
                  skip: set[str], compile_timeout: float) -> dict[str, dict[str, Any]]:
    """Every variant not in ``skip`` (in-process ones interleaved, then ``compile`` in a child),
    each with its speed-up and output differences against the baseline: ``{variant: result}``.
    """
    size = int(model.config.input_size)
    check_args = example_inputs(CHECK_BATCH, size, seed=1)
    variants = [v for v in cpu_variants(model, device, threads, onnx_path) if v.name not in skip]
    print(f"[bench] model: {', '.join(v.name for v in variants)} (interleaved) ...",
          file=sys.stderr, flush=True)
    results = measure_variants(variants, batches, check_args, warmup, repeats, device, size)
    if "compile" not in skip:
        print("[bench] model: compile (child process) ...", file=sys.stderr, flush=True)
        results["compile"] = run_compile_variant(spec, batches, warmup, repeats, threads, device,
                                                 CHECK_BATCH, compile_timeout)
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
        r["equivalent"] = None if tol is None else within(r["max_abs_diff"], tol)
        r["speedup"] = {f"batch_{b}": base[f"batch_{b}"]["median_ms"] / r[f"batch_{b}"]["median_ms"]
                        for b in batches}
    return results


def bench_checkpoint(weights: str | None, model: torch.nn.Module, tmp: Path
                     ) -> tuple[Path, Path | None]:
    """The checkpoint file of the benchmarked model (the node and the estimator's ONNX Runtime
    backend load a file) and the ``XDG_CACHE_HOME`` for its ONNX graph: ``--weights`` and the
    user's cache (None: what the node uses), or the random-init model saved under ``tmp`` with
    a cache under ``tmp`` (a throw-away graph does not go to the user's cache)."""
    if weights:
        return Path(weights), None
    path = save_checkpoint(tmp / "random_init.safetensors", model,
                           meta={"note": "random init, benchmark only"})
    return path, tmp / "xdg_cache"


def onnx_cache_dir(xdg_cache: Path | None) -> Path | None:
    """The estimator backend's ONNX graph cache under ``XDG_CACHE_HOME=xdg_cache`` (None: the
    user's)."""
    return None if xdg_cache is None else xdg_cache.joinpath(*CACHE_SUBDIR)
