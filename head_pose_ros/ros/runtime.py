"""The parts of ``head_pose_node`` that need no ROS import (tested without a ROS process).

- :class:`FrameMailbox`: the one-slot mailbox between the executor and the inference worker;
- :func:`resolve_device`, :func:`load_estimator`, :class:`StartupError`: start-up checks;
- :func:`select_primary`: who is published on ``head_pose``;
- :class:`NodeStats`: counters, time-windowed rates and latencies, and the level of
  ``/diagnostics`` (OK / WARN / ERROR);
- :func:`problem_key`: one log line per kind of problem.
"""

from __future__ import annotations

import re
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from head_pose_ros.ros.params import DEFAULT_WEIGHTS_NAME

__all__ = ["StartupError", "EXIT_STARTUP_ERROR", "FrameMailbox", "resolve_device",
           "load_estimator", "problem_key", "select_primary", "NodeStats", "NODE_STAGES", "OK",
           "WARN", "ERROR"]

EXIT_STARTUP_ERROR = 2

# diagnostic_msgs/DiagnosticStatus levels
OK, WARN, ERROR = 0, 1, 2


class StartupError(RuntimeError):
    """The node cannot start; the message says why and what to do."""


class FrameMailbox:
    """A one-slot mailbox: :meth:`put` replaces a pending item (counted as dropped)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._closed = False
        self.dropped = 0
        self.received = 0

    def put(self, item: Any) -> None:
        with self._cond:
            self.received += 1
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def take(self, timeout: float) -> Any:
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        """Wake the taker; from now on :meth:`take` never waits (the worker stops)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        """Accept and wait again (a node activated again), without the pending item."""
        with self._cond:
            self._closed = False
            self._item = None


def resolve_device(device: str, allow_cpu_fallback: bool, warn: Callable[[str], Any]) -> str:
    """Check that ``device`` exists; CPU fallback only when allowed."""
    if not device.startswith("cuda"):
        return "cpu"
    import torch  # only for a CUDA device: the CPU path never needs torch here

    idx = int(device.split(":")[1]) if ":" in device else 0
    if torch.cuda.is_available() and idx < torch.cuda.device_count():
        return device
    why = (f"device '{device}' was requested but CUDA is not available (torch "
           f"{torch.__version__}, CUDA build {torch.version.cuda}, "
           f"{torch.cuda.device_count() if torch.cuda.is_available() else 0} GPU(s) visible)")
    if allow_cpu_fallback:
        warn(why + ": running on the CPU because allow_cpu_fallback is true (slow)")
        return "cpu"
    raise StartupError(why + ". Set device:=cpu, or allow_cpu_fallback:=true to fall back.")


def load_estimator(weights: str, device: str, backend: str = "auto",
                   warn: Callable[[str], Any] | None = None, threads: int = 0) -> Any:
    """Load the TRG estimator on ``backend`` (parameter 'backend': auto, torch, onnxruntime;
    :mod:`head_pose_ros.backends`), or raise :class:`StartupError` with a clear message.

    ``warn``: logger for the warnings of the load (e.g. a corrupt cached ONNX graph exported
    again, or 'auto' falling back to torch); default: Python warnings.
    ``threads``: CPU threads of the network (torch and ONNX Runtime); 0 = library default.
    """
    if not weights:
        raise StartupError(
            "no model weights: parameter 'weights' is empty and no default model is installed "
            f"(share/head_pose_ros/weights/{DEFAULT_WEIGHTS_NAME}). Train one with "
            "head-pose-train and pass weights:=/path/to/model.safetensors"
        )
    p = Path(weights)
    if not p.is_file():
        raise StartupError(f"model weights not found: '{weights}' (parameter 'weights')")
    try:  # heavy (torch): imported when the node starts, never per frame
        from head_pose_ros.backends import BackendError, resolve_backend
        from head_pose_ros.estimator import HeadPoseEstimator
    except ImportError as exc:
        raise StartupError(f"the estimator cannot be imported: {exc}") from exc
    try:
        resolve_backend(backend, device)  # before the checkpoint is read: fail fast
    except (BackendError, ValueError) as exc:
        raise StartupError(f"parameter 'backend' = '{backend}': {exc}") from exc
    try:
        with warnings.catch_warnings(record=warn is not None) as caught:
            if warn is not None:
                warnings.simplefilter("always")
            if threads > 0:
                import torch

                torch.set_num_threads(threads)
            est = HeadPoseEstimator.from_checkpoint(str(p), device=device, backend=backend,
                                                    threads=threads or None)
    except BackendError as exc:  # the ONNX export / ONNX Runtime load failed
        raise StartupError(f"parameter 'backend' = '{backend}': {exc}") from exc
    except Exception as exc:  # corrupt file, wrong format, shape mismatch ...
        raise StartupError(
            f"cannot load model weights '{weights}': {type(exc).__name__}: {exc}"
        ) from exc
    for w in caught or ():
        warn(str(w.message))
    return est


def problem_key(prefix: str, exc: Exception) -> str:
    """One log line per kind of problem: numbers are masked out of the message."""
    return prefix + ":" + re.sub(r"[0-9.]+", "#", str(exc))[:120]


def select_primary(people: Sequence[Any], mode: str, primary_id: int) -> Any | None:
    """The person published on ``head_pose``: 'largest' face box, 'closest' to the camera or
    'tracked_id' (the person with id ``primary_id``, None while not visible)."""
    if not people:
        return None
    if mode == "tracked_id":
        return next((p for p in people if p.person_id == primary_id), None)
    if mode == "closest":
        return min(people, key=lambda p: float(np.linalg.norm(p.trans)))

    def area(p: Any) -> float:
        b = np.asarray(p.est.box, np.float64).reshape(4)
        return float((b[2] - b[0]) * (b[3] - b[1]))

    return max(people, key=area)


#: the stages of a node frame on /diagnostics (``stage_<name>_mean_ms``): ``receive`` (in the
#: mailbox until the worker takes it), ``convert`` (image decoding, CameraInfo pairing,
#: intrinsics), the pipeline's ``detect`` / ``crop`` / ``infer`` / ``post``
#: (:data:`head_pose_ros.pipeline.STAGES`) and ``publish`` (building and sending every message)
NODE_STAGES: tuple[str, ...] = ("receive", "convert", "detect", "crop", "infer", "post",
                                "publish")


@dataclass
class _Done:
    t: float
    latency: float
    compute: float
    stages: dict[str, float] | None = None


class NodeStats:
    """Counters since start and time-windowed figures over the last ``window`` seconds.

    Rates are events in the window divided by the window (or by the time since the start while
    that is shorter), so they are neither capped by a buffer length nor stale once frames stop.
    Thread-safe (the executor records receptions, the worker the rest).

    Level (:meth:`level`), from the frames of the window: ERROR when at least half of them
    failed (bad input skipped or an exception), WARN when some failed, when nothing was
    processed in the window, or before the first frame; OK otherwise.
    """

    MAX_EVENTS = 200_000  # memory bound at absurd rates (40 kHz over a 5 s window)

    def __init__(self, window: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = float(window)
        self.clock = clock
        self._t0 = clock()
        self._lock = threading.Lock()
        self.totals = {"processed": 0, "skipped": 0, "errors": 0, "detector_runs": 0}
        self.faces = 0
        self.last_problem = ""
        self._done: deque[_Done] = deque(maxlen=self.MAX_EVENTS)
        self._failed: deque[float] = deque(maxlen=self.MAX_EVENTS)
        self._received: deque[float] = deque(maxlen=self.MAX_EVENTS)

    def _prune(self, now: float) -> None:
        lo = now - self.window
        while self._done and self._done[0].t < lo:
            self._done.popleft()
        while self._failed and self._failed[0] < lo:
            self._failed.popleft()
        while self._received and self._received[0] < lo:
            self._received.popleft()

    def record_received(self, now: float | None = None) -> None:
        with self._lock:
            self._received.append(self.clock() if now is None else now)

    def record_done(self, latency: float, compute: float, faces: int, detector_ran: bool,
                    now: float | None = None, stages: dict[str, float] | None = None) -> None:
        """One frame processed and published (``latency``: receive -> published, s;
        ``stages``: seconds per :data:`NODE_STAGES` name, optional)."""
        t = self.clock() if now is None else now
        with self._lock:
            self.totals["processed"] += 1
            self.totals["detector_runs"] += int(detector_ran)
            self.faces = int(faces)
            self._done.append(_Done(t, float(latency), float(compute), stages))

    def record_failure(self, kind: str, problem: str, now: float | None = None) -> None:
        """One frame not processed: ``kind`` 'skipped' (bad input) or 'errors' (exception)."""
        t = self.clock() if now is None else now
        with self._lock:
            self.totals[kind] += 1
            self.last_problem = problem
            self._failed.append(t)

    def snapshot(self, received: int = 0, dropped: int = 0, now: float | None = None
                 ) -> dict[str, float | int]:
        """Counters and windowed figures (the keys of ``/diagnostics``)."""
        t = self.clock() if now is None else now
        with self._lock:
            self._prune(t)
            span = max(min(self.window, t - self._t0), 1e-3)
            done = list(self._done)
            lat = np.array([d.latency for d in done])
            comp = np.array([d.compute for d in done])
            s: dict[str, float | int] = dict(self.totals)
            s["faces"] = self.faces
            s["received"] = int(received)
            s["dropped"] = int(dropped)
            s["window_s"] = self.window
            s["input_rate_hz"] = len(self._received) / span
            s["output_rate_hz"] = len(self._done) / span
            s["processed_recent"] = len(self._done)
            s["failed_recent"] = len(self._failed)
        nan = float("nan")
        s["latency_mean_ms"] = float(lat.mean() * 1e3) if lat.size else nan
        s["latency_max_ms"] = float(lat.max() * 1e3) if lat.size else nan
        s["compute_mean_ms"] = float(comp.mean() * 1e3) if comp.size else nan
        timed = [d.stages for d in done if d.stages]
        for name in NODE_STAGES:
            v = [st.get(name, 0.0) for st in timed]
            s[f"stage_{name}_mean_ms"] = float(np.mean(v) * 1e3) if v else nan
        return s

    def level(self, s: dict[str, float | int]) -> tuple[int, str]:
        """``(level, message)`` for a :meth:`snapshot`."""
        done, failed = int(s["processed_recent"]), int(s["failed_recent"])
        w = f"{self.window:g} s"
        problem = f"; last problem: {self.last_problem[:200]}" if self.last_problem else ""
        if failed and failed >= done:
            return ERROR, (f"{failed} of the last {failed + done} frames failed (last {w})"
                           + problem)
        if failed:
            return WARN, (f"{failed} of the last {failed + done} frames failed (last {w}), "
                          f"{s['faces']} face(s)" + problem)
        if int(s["processed"]) == 0:
            return WARN, "no image processed yet"
        if done == 0:
            return WARN, f"no image in the last {w}"
        return OK, f"{s['faces']} face(s)"
