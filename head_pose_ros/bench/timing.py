"""Timing helpers of the benchmark: device sync, timed calls, latency statistics."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

#: the reference variant of the model and end-to-end sections: speed-ups and output
#: differences are against it.
BASELINE = "eager_fp32"


def sync(device: str) -> None:
    """Wait for queued CUDA work (nothing to wait for on the CPU)."""
    if device == "cuda":
        torch.cuda.synchronize()


def latency_stats(ms: Sequence[float]) -> dict[str, Any]:
    """Median, 90th percentile, mean, minimum (ms) and count of latencies in ms."""
    a = np.asarray(ms, dtype=np.float64)
    return {"median_ms": float(np.median(a)), "p90_ms": float(np.percentile(a, 90)),
            "mean_ms": float(a.mean()), "min_ms": float(a.min()), "n": int(a.size)}


def time_calls(fn: Callable[[], Any], warmup: int, repeats: int, device: str = "cpu"
               ) -> dict[str, Any]:
    """Call ``fn`` ``warmup`` times, then time ``repeats`` calls -> :func:`latency_stats`."""
    for _ in range(warmup):
        fn()
    sync(device)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        ts.append((time.perf_counter() - t0) * 1e3)
    return latency_stats(ts)


def timed_cases(cases: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The timed entries ``(case, stats)`` of one variant or node run (the other keys are
    metadata such as the command line or the backend)."""
    return [(c, r) for c, r in cases.items() if isinstance(r, dict) and "median_ms" in r]
