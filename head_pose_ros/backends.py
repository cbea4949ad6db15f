# ruff: noqa: N803, N806  (K, K_crop, R, T: the notation of geometry.py)
"""Inference backends of :class:`~head_pose_ros.estimator.HeadPoseEstimator` (no ROS).

- ``"torch"``: the TRG module itself, on any torch device.
- ``"onnxruntime"``: the exported graph (:func:`head_pose_ros.onnx_export.export_onnx`) in ONNX
  Runtime's CPU execution provider, behind :class:`OrtTRGAdapter`, which duck-types the part of
  TRG that ``HeadPoseEstimator.predict`` calls, so the pre- and post-processing are the same
  code. CPU only; its estimates equal torch's within 1e-4 in R, 0.1 mm in T and 0.05 px in
  the landmarks (``test/test_backends.py``; measured on the shipped model: ~1e-7 and ~5e-5 px).
- ``"onnxruntime_int8"``: the same graph with the face regressors' and the uncertainty head's
  linear layers in int8 (:func:`int8_graph`: ONNX Runtime's dynamic quantisation, per-channel
  int8 weights, each call's activations quantised with their own range); the backbone, the
  transposed convolutions, the point MLPs and the geometry stay float. Its accuracy cost and
  speed are measured by ``python -m head_pose_ros.quantize`` (docs/BENCHMARKS.md, "int8").
- ``"auto"``: :data:`AUTO_CPU` on a CPU device when ``onnxruntime`` and ``onnx`` import, else
  ``"torch"``.

ONNX graph cache: a checkpoint is exported once to
``${XDG_CACHE_HOME:-~/.cache}/head_pose_ros/onnx/<key>.onnx`` (:func:`default_cache_dir`);
``key`` is a sha256 over the weights file's bytes, the model config, the torch version, the
opset and the source of the modules that define the traced graph (``head_pose_ros/model/*.py``,
``onnx_export.py``), so a changed checkpoint, torch or model code is exported again. Files are
written to a temporary name in the cache directory and renamed (``os.replace``): a reader never
sees a half-written graph, and two processes exporting at once both end with a complete file.
A cached file that ONNX Runtime cannot load is exported again (with a ``RuntimeWarning``).
The int8 graph is cached beside it, ``<key>.int8-<digest>.onnx`` (the digest covers the
onnxruntime version and the quantisation settings), made from the float graph in about 2 s.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from head_pose_ros import onnx_export
from head_pose_ros.onnx_export import INPUT_NAMES, output_names

BACKENDS: tuple[str, ...] = ("auto", "torch", "onnxruntime", "onnxruntime_int8")
ORT_BACKENDS: tuple[str, ...] = ("onnxruntime", "onnxruntime_int8")
AUTO_CPU = "onnxruntime_int8"
"""What ``"auto"`` runs on the CPU: the int8 graph met the accuracy limits of
:mod:`head_pose_ros.quantize` (docs/BENCHMARKS.md, "int8")."""
INT8_MODULES: tuple[str, ...] = ("/regressors.", "/uncertainty/")
"""The exported nodes (by name) whose MatMul / Gemm :func:`int8_graph` quantises."""
DEFAULT_OPSET = 17
CACHE_SUBDIR = ("head_pose_ros", "onnx")


class BackendError(RuntimeError):
    """The requested inference backend cannot run (the message says why and what to do)."""


# --------------------------------------------------------------------------- backend choice
def onnxruntime_unavailable() -> str | None:
    """Why the onnxruntime backend cannot be used here (None: ``onnxruntime`` and ``onnx``,
    needed for the export check, both import)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:  # also a module set to None in sys.modules
        return f"{type(exc).__name__}: {exc}"
    return None


def resolve_backend(backend: str, device: str | torch.device = "cpu") -> str:
    """The backend to run (one of :data:`BACKENDS` but ``"auto"``) for a requested ``backend``.

    Raises:
        ValueError: ``backend`` is not one of :data:`BACKENDS`.
        BackendError: an ONNX Runtime backend on a non-CPU device, or without onnxruntime /
            onnx.
    """
    name = str(backend).strip().lower()
    if name not in BACKENDS:
        raise ValueError(f"backend {backend!r} is not one of {list(BACKENDS)}")
    dev = torch.device(device)
    if name == "torch":
        return "torch"
    if name == "auto":
        return AUTO_CPU if dev.type == "cpu" and onnxruntime_unavailable() is None \
            else "torch"
    if dev.type != "cpu":
        raise BackendError(
            f"backend '{name}' runs on the CPU only, but device is '{dev}': use device "
            "'cpu', or backend 'torch' (or 'auto') for the GPU")
    why = onnxruntime_unavailable()
    if why is not None:
        raise BackendError(
            f"backend '{name}' needs the onnxruntime and onnx packages ({why}): "
            "pip install onnxruntime onnx (the package's [export] extra), or use backend "
            "'torch' (or 'auto', which falls back to torch)")
    return name


# --------------------------------------------------------------------------- graph cache
def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/head_pose_ros/onnx``; ``~/.cache`` when the variable is unset, empty or
    relative (XDG base directory rules)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root.joinpath(*CACHE_SUBDIR)


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@functools.cache
def graph_code_digest() -> str:
    """sha256 of the sources that define the exported graph (the model package and the export
    wrapper): a code change invalidates the cached graphs."""
    import head_pose_ros.model as model_pkg

    files = sorted(Path(model_pkg.__file__).parent.glob("*.py")) + [Path(onnx_export.__file__)]
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def onnx_cache_key(weights: str | os.PathLike, config: Any, opset: int = DEFAULT_OPSET) -> str:
    """Cache key of the graph of checkpoint ``weights`` with model ``config`` (a ModelConfig).

    Content based: the same bytes under another path give the same key.
    """
    desc = {"weights_sha256": file_sha256(weights), "config": config.to_dict(),
            "torch": torch.__version__, "opset": int(opset), "code": graph_code_digest()}
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class OnnxGraph:
    """A cached ONNX graph: ``path``; ``export_s`` = seconds spent exporting it in this call
    (None: it was already in the cache)."""

    path: Path
    export_s: float | None = None

    @property
    def exported(self) -> bool:
        return self.export_s is not None


def export_atomic(model: torch.nn.Module, path: str | os.PathLike,
                  opset: int = DEFAULT_OPSET) -> Path:
    """Export ``model`` to ``path`` through a temporary file in the same directory, renamed
    into place once written and checked (``onnx.checker``); nothing is left behind on error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem[:16]}.", suffix=".onnx.tmp", dir=path.parent)
    os.close(fd)
    try:
        onnx_export.export_onnx(model, tmp, opset=opset, dynamic_batch=True)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path


def cached_onnx_graph(model: torch.nn.Module, weights: str | os.PathLike,
                      cache_dir: str | os.PathLike | None = None, opset: int = DEFAULT_OPSET,
                      force: bool = False) -> OnnxGraph:
    """The ONNX graph of ``model``, loaded from checkpoint ``weights``: from the cache, or
    exported now (also with ``force``, e.g. to replace a corrupt file).

    Args:
        model: the TRG built from ``weights`` (exported when the cache has no graph).
        weights: the checkpoint file (its bytes are part of the key).
        cache_dir: default :func:`default_cache_dir`.
    """
    d = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = d / f"{onnx_cache_key(weights, model.config, opset)}.onnx"
    if path.is_file() and not force:
        return OnnxGraph(path)
    t0 = time.perf_counter()
    export_atomic(model, path, opset)
    return OnnxGraph(path, time.perf_counter() - t0)


def int8_digest() -> str:
    """Short digest of what makes an int8 graph from a given float graph: the onnxruntime
    version (its quantiser) and the quantisation settings (:data:`INT8_MODULES`, per-channel
    int8 weights). The float graph's own key covers the model, so a cached int8 graph is found
    without reading the float graph."""
    import onnxruntime

    desc = {"onnxruntime": onnxruntime.__version__, "modules": list(INT8_MODULES),
            "per_channel": True, "weights": "int8"}
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:16]


def int8_nodes(graph: Any) -> list[str]:
    """Names of the MatMul / Gemm nodes of an ONNX ``graph`` (a GraphProto) that
    :func:`int8_graph` quantises: those of :data:`INT8_MODULES` whose weight is a constant."""
    consts = {i.name for i in graph.initializer}
    return [n.name for n in graph.node if n.op_type in ("MatMul", "Gemm")
            and any(m in n.name for m in INT8_MODULES) and n.input[1] in consts]


def int8_graph(fp32: OnnxGraph, force: bool = False) -> OnnxGraph:
    """The int8 graph made from the float graph ``fp32`` (cached beside it; ``force``: made
    again): ``onnxruntime.quantization.quantize_dynamic``, per-channel int8 weights, only the
    nodes of :func:`int8_nodes`. Written to a temporary file and renamed, like the export.

    Raises:
        ValueError: the graph has none of those nodes (not a TRG export).
    """
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = fp32.path.with_name(f"{fp32.path.stem}.int8-{int8_digest()}.onnx")
    if path.is_file() and not force:
        return OnnxGraph(path)
    t0 = time.perf_counter()
    src = onnx.load(str(fp32.path), load_external_data=False)
    nodes = set(int8_nodes(src.graph))
    if not nodes:
        raise ValueError(f"{fp32.path} has no regressor MatMul / Gemm to quantise")
    others = [n.name for n in src.graph.node if n.op_type in ("MatMul", "Gemm")
              and n.name not in nodes]
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem[:16]}.", suffix=".onnx.tmp", dir=path.parent)
    os.close(fd)
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # the quantiser's advice to pre-process, on the root logger
    try:
        quantize_dynamic(str(fp32.path), tmp, per_channel=True, weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul", "Gemm"], nodes_to_exclude=others)
        os.replace(tmp, path)
    finally:
        logging.disable(previous)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return OnnxGraph(path, time.perf_counter() - t0)


# --------------------------------------------------------------------------- ONNX Runtime
class OrtTRGAdapter:
    """Duck-types the part of :class:`TRG` that ``HeadPoseEstimator.predict`` calls, backed by
    an ONNX Runtime session of the exported graph (``rot6d`` rebuilt from ``R``'s first two
    columns, exact for a Gram-Schmidt output).

    Attributes:
        session: the ``onnxruntime.InferenceSession``.
        config: the model's ModelConfig.
        graph: where the graph came from (None when the session was built elsewhere).
        threads: the session's intra-op threads (None: not known).
    """

    def __init__(self, session: Any, config: Any, graph: OnnxGraph | None = None,
                 threads: int | None = None) -> None:
        self.session = session
        self.config = config
        self.graph = graph
        self.threads = threads
        self._inputs, self._outputs = INPUT_NAMES, list(output_names(config))

    def run_numpy(self, image: Any, K_crop: Any, bbox_info: Any, box: Any, K: Any
                  ) -> dict[str, Any]:
        """The estimator's fast path: float32 numpy inputs (as
        ``HeadPoseEstimator.network_inputs`` makes them) -> the last iteration's outputs as
        float64 numpy arrays (``rot6d``, ``R``, ``T``, ``correction``, ``vertices``,
        ``vertices_img``, ``landmarks68``, with the uncertainty head ``rot_logvar``)."""
        got = self.session.run(self._outputs, dict(zip(
            self._inputs, (image, K_crop, bbox_info, box, K), strict=True)))
        out = dict(zip(("R", "T", "correction", "vertices", "vertices_img", "landmarks68",
                        "rot_logvar"), (np.asarray(x, np.float64) for x in got), strict=False))
        out["rot6d"] = np.concatenate([out["R"][:, :, 0], out["R"][:, :, 1]], axis=-1)
        return out

    def __call__(self, image: torch.Tensor, K_crop: torch.Tensor, bbox_info: torch.Tensor,
                 box: torch.Tensor, K: torch.Tensor) -> dict[str, Any]:
        """TRG's call: torch tensors in, TRG's output dict (one-element lists) out."""
        got = self.run_numpy(*(a.detach().cpu().float().contiguous().numpy()
                               for a in (image, K_crop, bbox_info, box, K)))
        t = {k: torch.from_numpy(v).float() for k, v in got.items()}
        out: dict[str, Any] = {k: [t[k]] for k in ("rot6d", "R", "T", "correction", "vertices",
                                                    "vertices_img")}
        out["landmarks68"] = t["landmarks68"]
        if "rot_logvar" in t:
            out["rot_logvar"] = t["rot_logvar"]
        return out


def _open_session(path: Path, threads: int, config: Any) -> Any:
    """An ORT CPU session of ``path`` whose inputs and outputs are the exported graph's."""
    sess = onnx_export.ort_session(path, threads=threads, allow_spinning=False)
    names = ([i.name for i in sess.get_inputs()], [o.name for o in sess.get_outputs()])
    if names != (list(INPUT_NAMES), list(output_names(config))):
        raise ValueError(f"unexpected graph inputs / outputs {names}")
    return sess


def load_onnxruntime_model(model: torch.nn.Module, weights: str | os.PathLike,
                           threads: int | None = None,
                           cache_dir: str | os.PathLike | None = None,
                           opset: int = DEFAULT_OPSET, int8: bool = False) -> OrtTRGAdapter:
    """``model`` (loaded from ``weights``) as an ONNX Runtime session behind
    :class:`OrtTRGAdapter`: graph from :func:`cached_onnx_graph` (``int8``: then
    :func:`int8_graph`); intra-op threads ``threads`` (default ``torch.get_num_threads()``),
    idle threads do not spin.

    A cached graph that cannot be loaded is made again with a ``RuntimeWarning``.

    Raises:
        BackendError: the export or the quantisation fails, or its fresh result cannot be
            loaded.
    """
    threads = int(threads) if threads else torch.get_num_threads()

    def graph_of(force: bool) -> OnnxGraph:
        fp32 = cached_onnx_graph(model, weights, cache_dir, opset, force=force)
        if not int8:
            return fp32
        try:
            return int8_graph(fp32, force=force)
        except Exception as exc:  # a corrupt cached float graph the quantiser cannot read
            if force or fp32.exported:
                raise
            warnings.warn(f"cached ONNX graph {fp32.path} cannot be quantised "
                          f"({type(exc).__name__}: {exc}); making it again",
                          RuntimeWarning, stacklevel=2)
            return graph_of(True)

    try:
        graph = graph_of(False)
        if graph.export_s is None:
            try:
                return OrtTRGAdapter(_open_session(graph.path, threads, model.config),
                                     model.config, graph, threads)
            except Exception as exc:  # corrupt / truncated / foreign file
                warnings.warn(f"cached ONNX graph {graph.path} cannot be loaded "
                              f"({type(exc).__name__}: {exc}); making it again",
                              RuntimeWarning, stacklevel=2)
                graph = graph_of(True)
        return OrtTRGAdapter(_open_session(graph.path, threads, model.config), model.config,
                             graph, threads)
    except BackendError:
        raise
    except Exception as exc:
        what = "ONNX export / int8 quantisation" if int8 else "ONNX export"
        raise BackendError(f"{what} / ONNX Runtime load of '{weights}' failed: "
                           f"{type(exc).__name__}: {exc} (backend 'torch' does not need "
                           "it)") from exc


def describe_backend(estimator: Any) -> str:
    """One log line: the backend a HeadPoseEstimator runs, its device / threads and, for
    onnxruntime, where the graph came from."""
    backend = getattr(estimator, "backend", "torch")
    if backend not in ORT_BACKENDS:
        return (f"inference backend: {backend} on {getattr(estimator, 'device', '?')}, "
                f"{torch.get_num_threads()} intra-op threads")
    model = estimator.model
    graph = getattr(model, "graph", None)
    src = "" if graph is None else (
        f", ONNX graph {graph.path} (" + (f"exported now in {graph.export_s:.1f} s"
                                          if graph.exported else "cached") + ")")
    return (f"inference backend: {backend} on cpu, {getattr(model, 'threads', None)} intra-op "
            f"threads{src}")
