"""ONNX Runtime session options, measured (``head-pose-bench --ort-options``): the exported
graph (the estimator backend's) at batch 1 and the largest ``--batches`` entry under

- graph optimisation level ``disable`` / ``basic`` / ``extended`` / ``all`` (1 intra-op thread);
- ``all`` with 1 and 2 intra-op threads, idle threads spinning or not (spinning keeps a core
  busy after each run; the estimator backend turns it off);
- the int8 model (``--int8``, :mod:`head_pose_ros.quantize`), ``all``, 1 thread,

repeats interleaved round-robin over the sessions; median / p90 ms and the speed-up vs the
estimator backend's own setting (``all``, 1 thread, no spinning).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from head_pose_ros.bench.timing import latency_stats
from head_pose_ros.onnx_export import INPUT_NAMES, example_inputs

LEVELS = ("disable", "basic", "extended", "all")
REFERENCE = "all_t1"


def make_session(path: str | Path, level: str = "all", threads: int = 1,
                 spinning: bool = False) -> Any:
    """An ORT CPU session of ``path`` with these options."""
    import onnxruntime as ort

    lv = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
          "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
          "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
          "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[level]
    so = ort.SessionOptions()
    so.graph_optimization_level = lv
    so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def option_sets(int8: str | None) -> dict[str, dict[str, Any]]:
    """name -> make_session keywords (plus ``path`` for the int8 model)."""
    out: dict[str, dict[str, Any]] = {f"{lv}_t1": {"level": lv} for lv in LEVELS}
    out["all_t2"] = {"level": "all", "threads": 2}
    out["all_t2_spin"] = {"level": "all", "threads": 2, "spinning": True}
    if int8:
        out["int8_all_t1"] = {"level": "all", "path": int8}
    return out


def ort_options_section(onnx_path: Path, batches: list[int], warmup: int, repeats: int,
                        int8: str | None = None, input_size: int = 192) -> dict[str, Any]:
    print("[bench] ONNX Runtime session options ...", file=sys.stderr, flush=True)
    sets = option_sets(int8)
    sessions = {}
    for name, kw in sets.items():
        kw = dict(kw)
        sessions[name] = make_session(kw.pop("path", onnx_path), **kw)
    out: dict[str, Any] = {"graph": str(onnx_path), "int8": int8, "reference": REFERENCE,
                           "options": {n: {k: v for k, v in kw.items() if k != "path"}
                                       for n, kw in sets.items()}, "runs": {}}
    for b in sorted({1, max(batches)}):
        args = example_inputs(b, int(input_size))
        feeds = {n: a.numpy() for n, a in zip(INPUT_NAMES, args, strict=True)}
        ms: dict[str, list[float]] = {n: [] for n in sessions}
        for i in range(warmup + repeats):
            for name, sess in sessions.items():
                t0 = time.perf_counter()
                sess.run(None, feeds)
                if i >= warmup:
                    ms[name].append((time.perf_counter() - t0) * 1e3)
        for name, x in ms.items():
            out["runs"].setdefault(name, {})[f"batch_{b}"] = latency_stats(x)
    for r in out["runs"].values():
        for k, st in r.items():
            st["speedup"] = out["runs"][REFERENCE][k]["median_ms"] / st["median_ms"]
    return out


def format_ort_options(rep: dict[str, Any]) -> list[str]:
    o = rep.get("ort_options")
    if not o:
        return []
    keys = sorted(next(iter(o["runs"].values())), key=lambda k: int(k.split("_")[1]))
    lines = ["", f"ONNX Runtime session options (model only; x = speed-up vs `{o['reference']}`, "
             "the estimator backend's setting):", "",
             "| session | " + " | ".join(f"{k.replace('_', ' ')} ms (p90)" for k in keys)
             + " | " + " | ".join(f"x {k.replace('_', ' ')}" for k in keys) + " |",
             "|---|" + "---|" * (2 * len(keys))]
    for name, r in o["runs"].items():
        lines.append(f"| {name} | " + " | ".join(
            f"{r[k]['median_ms']:.1f} ({r[k]['p90_ms']:.1f})" for k in keys) + " | "
            + " | ".join(f"{r[k]['speedup']:.2f}" for k in keys) + " |")
    return lines

