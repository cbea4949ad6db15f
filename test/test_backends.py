"""Inference backends (head_pose_ros.backends): the ONNX Runtime estimator gives the torch
estimator's estimates, the ONNX graph cache (hit, corrupt file, key, atomic write), the backend
choice and its errors, and the node's load_estimator on top of them.

A small RANDOM-INIT checkpoint (conftest.small_config, output gain 1 so that every stage of the
graph moves the outputs) keeps each export under a second.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from conftest import small_config  # noqa: E402

from head_pose_ros import backends  # noqa: E402
from head_pose_ros.backends import (  # noqa: E402
    BackendError,
    OrtTRGAdapter,
    cached_onnx_graph,
    default_cache_dir,
    describe_backend,
    onnx_cache_key,
    resolve_backend,
)
from head_pose_ros.estimator import HeadPoseEstimator  # noqa: E402

K = np.array([[600.0, 0, 330.0], [0, 610.0, 235.0], [0, 0, 1]])
BOXES = np.array([[250.0, 140.0, 390.0, 330.0, 0.9], [40.0, 60.0, 150.0, 190.0, 0.8]])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, topology) -> Path:
    """A small random-init checkpoint (test fixture, not a trained model)."""
    from head_pose_ros.checkpoint import save_checkpoint
    from head_pose_ros.model import TRG

    torch.manual_seed(3)
    model = TRG(small_config(last_layer_gain=1.0), topology).eval()
    return save_checkpoint(tmp_path_factory.mktemp("w") / "random_init.safetensors", model)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One graph cache for the module: the checkpoint is exported once."""
    return tmp_path_factory.mktemp("onnx_cache")


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    small = (rng.random((60, 80, 3)) * 255).astype(np.uint8)  # smooth texture after resizing
    import cv2

    return cv2.resize(small, (640, 480), interpolation=cv2.INTER_CUBIC)


def _ort(checkpoint: Path, cache: Path, **kw) -> HeadPoseEstimator:
    return HeadPoseEstimator.from_checkpoint(checkpoint, device="cpu", backend="onnxruntime",
                                             threads=1, onnx_cache_dir=cache, **kw)


def _assert_same(got: list, ref: list) -> None:
    assert len(got) == len(ref) > 0
    for a, b in zip(got, ref, strict=True):
        assert np.abs(a.R - b.R).max() < 1e-4
        assert np.abs(a.T - b.T).max() < 1e-4  # 0.1 mm
        assert np.abs(a.vertices_cam - b.vertices_cam).max() < 1e-4
        assert np.abs(a.landmarks68 - b.landmarks68).max() < 0.05  # px
        np.testing.assert_allclose(a.covariance, b.covariance, rtol=1e-3)
        assert a.score == b.score


# --------------------------------------------------------------------------- estimates
def test_onnxruntime_estimator_matches_torch(checkpoint, cache, image):
    ref = HeadPoseEstimator.from_checkpoint(checkpoint, backend="torch")
    est = _ort(checkpoint, cache)
    assert ref.backend == "torch" and est.backend == "onnxruntime"
    assert isinstance(est.model, OrtTRGAdapter) and est.model.threads == 1
    for boxes in (BOXES, BOXES[:1]):  # batch 2 and 1: the graph's batch axis is dynamic
        _assert_same(est.predict(image, K, boxes), ref.predict(image, K, boxes))
    # the random model moves far from its template: the comparison is not between constants
    a, b = ref.predict(image, K, BOXES)
    assert np.abs(a.R - b.R).max() > 1e-2


def test_constructor_is_torch(checkpoint):
    from head_pose_ros.checkpoint import load_checkpoint

    model, _ = load_checkpoint(checkpoint)
    est = HeadPoseEstimator(model)
    assert est.backend == "torch" and est.model is model
    assert describe_backend(est).startswith("inference backend: torch on cpu")


# --------------------------------------------------------------------------- cache
def test_second_load_uses_the_cache(checkpoint, cache, monkeypatch):
    first = _ort(checkpoint, cache).model.graph
    stat = first.path.stat()

    def no_export(*a, **k):
        raise AssertionError("exported again despite a cached graph")

    monkeypatch.setattr(backends, "export_atomic", no_export)
    again = _ort(checkpoint, cache)
    assert again.backend == "onnxruntime"
    assert again.model.graph.path == first.path and not again.model.graph.exported
    assert first.path.stat().st_mtime_ns == stat.st_mtime_ns
    assert "(cached)" in describe_backend(again)
    assert sorted(p.name for p in cache.iterdir()) == [first.path.name]  # no temp files left


def test_corrupt_cached_graph_is_exported_again(checkpoint, tmp_path, image):
    good = _ort(checkpoint, tmp_path).model.graph.path
    for junk in (b"\x00not an onnx graph" * 50, good.read_bytes()[:5000]):  # garbage, truncated
        good.write_bytes(junk)
        with pytest.warns(RuntimeWarning, match="cannot be loaded.*making it again"):
            est = _ort(checkpoint, tmp_path)
        assert est.model.graph.exported and est.model.graph.path == good
        assert good.stat().st_size > len(junk)
    ref = HeadPoseEstimator.from_checkpoint(checkpoint, backend="torch")
    _assert_same(est.predict(image, K, BOXES), ref.predict(image, K, BOXES))


# --------------------------------------------------------------------------- int8
def test_int8_backend_quantises_the_regressors_only(checkpoint, cache, image, monkeypatch):
    import onnx

    fp32 = _ort(checkpoint, cache)
    est = HeadPoseEstimator.from_checkpoint(checkpoint, backend="onnxruntime_int8", threads=1,
                                            onnx_cache_dir=cache)
    assert est.backend == "onnxruntime_int8" and isinstance(est.model, OrtTRGAdapter)
    path = est.model.graph.path
    assert path.parent == fp32.model.graph.path.parent and ".int8-" in path.name
    assert path.name.startswith(fp32.model.graph.path.stem)
    assert "onnxruntime_int8" in describe_backend(est)
    nodes = onnx.load(str(path)).graph.node
    ops = {n.op_type for n in nodes}
    assert "MatMulInteger" in ops and "ConvInteger" not in ops and "Conv" in ops
    quantised = [n.name for n in nodes if n.op_type == "MatMulInteger"]
    assert quantised and all("/regressors." in n or "/uncertainty/" in n for n in quantised)
    assert not [n for n in nodes if n.op_type in ("MatMul", "Gemm") and "/regressors." in n.name]
    # close to the float graph, but not the float graph
    a, b = est.predict(image, K, BOXES), fp32.predict(image, K, BOXES)
    dr = max(np.abs(x.R - y.R).max() for x, y in zip(a, b, strict=True))
    dt = max(np.abs(x.T - y.T).max() for x, y in zip(a, b, strict=True))
    assert 0 < dr < 0.05 and dt < 0.02, (dr, dt)
    # a second load takes the cached int8 graph
    monkeypatch.setattr("onnxruntime.quantization.quantize_dynamic",
                        lambda *a, **k: pytest.fail("quantised again despite a cached graph"))
    again = HeadPoseEstimator.from_checkpoint(checkpoint, backend="onnxruntime_int8",
                                              onnx_cache_dir=cache)
    assert again.model.graph.path == path and again.model.graph.export_s is None


def test_corrupt_int8_graph_is_made_again(checkpoint, tmp_path, image):
    est = HeadPoseEstimator.from_checkpoint(checkpoint, backend="onnxruntime_int8",
                                            onnx_cache_dir=tmp_path)
    path, ref = est.model.graph.path, est.predict(image, K, BOXES)
    path.write_bytes(b"\x00not an onnx graph" * 50)
    with pytest.warns(RuntimeWarning, match="cannot be loaded.*making it again"):
        again = HeadPoseEstimator.from_checkpoint(checkpoint, backend="onnxruntime_int8",
                                                  onnx_cache_dir=tmp_path)
    assert again.model.graph.path == path and again.model.graph.export_s is not None
    for x, y in zip(again.predict(image, K, BOXES), ref, strict=True):
        np.testing.assert_array_equal(x.R, y.R)
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".onnx", ".onnx"]  # no temp files


def test_corrupt_float_graph_under_int8_is_exported_again(checkpoint, tmp_path, image):
    est = HeadPoseEstimator.from_checkpoint(checkpoint, backend="onnxruntime", threads=1,
                                            onnx_cache_dir=tmp_path)
    est.model.graph.path.write_bytes(b"\x00not an onnx graph" * 50)
    with pytest.warns(RuntimeWarning, match="cannot be quantised.*making it again"):
        int8 = HeadPoseEstimator.from_checkpoint(checkpoint, backend="onnxruntime_int8",
                                                 threads=1, onnx_cache_dir=tmp_path)
    assert int8.backend == "onnxruntime_int8" and len(int8.predict(image, K, BOXES)) == 2


def test_int8_graph_refuses_a_graph_without_regressors(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])])
    onnx.save(helper.make_model(g), tmp_path / "relu.onnx")
    with pytest.raises(ValueError, match="no regressor MatMul / Gemm"):
        backends.int8_graph(backends.OnnxGraph(tmp_path / "relu.onnx"))


def test_cache_key(checkpoint, tmp_path, monkeypatch):
    from head_pose_ros.checkpoint import load_checkpoint, save_checkpoint

    model, _ = load_checkpoint(checkpoint)
    key = onnx_cache_key(checkpoint, model.config)
    assert len(key) == 64 and key == onnx_cache_key(checkpoint, model.config)
    copy = tmp_path / "elsewhere.safetensors"
    copy.write_bytes(checkpoint.read_bytes())
    assert onnx_cache_key(copy, model.config) == key  # content, not path
    with torch.no_grad():
        next(model.parameters()).add_(1e-3)
    changed = save_checkpoint(tmp_path / "changed.safetensors", model)
    assert onnx_cache_key(changed, model.config) != key
    assert onnx_cache_key(checkpoint, model.config, opset=18) != key
    monkeypatch.setattr(torch, "__version__", "0.0.0-other")
    assert onnx_cache_key(checkpoint, model.config) != key


def test_export_is_atomic(checkpoint, tmp_path, monkeypatch):
    import head_pose_ros.onnx_export as export_mod
    from head_pose_ros.checkpoint import load_checkpoint

    model, _ = load_checkpoint(checkpoint)

    def half_written(model, path, **kw):
        Path(path).write_bytes(b"half a graph")
        raise OSError("disk full")

    monkeypatch.setattr(export_mod, "export_onnx", half_written)
    with pytest.raises(OSError, match="disk full"):
        cached_onnx_graph(model, checkpoint, tmp_path)
    assert list(tmp_path.iterdir()) == []  # neither the final name nor a temp file


def test_default_cache_dir_follows_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "head_pose_ros" / "onnx"
    for unusable in ("", "relative/dir"):
        monkeypatch.setenv("XDG_CACHE_HOME", unusable)
        assert default_cache_dir() == Path.home() / ".cache" / "head_pose_ros" / "onnx"


# --------------------------------------------------------------------------- backend choice
def test_resolve_backend():
    assert backends.AUTO_CPU in backends.ORT_BACKENDS
    assert resolve_backend("torch", "cpu") == "torch"
    assert resolve_backend("auto", "cpu") == backends.AUTO_CPU
    assert resolve_backend(" Auto ", torch.device("cpu")) == backends.AUTO_CPU
    assert resolve_backend("auto", "cuda:1") == "torch"  # a name only: no GPU needed
    for name in backends.ORT_BACKENDS:
        assert resolve_backend(name, "cpu") == name
        with pytest.raises(BackendError, match=f"'{name}' runs on the CPU only.*backend 'torch'"):
            resolve_backend(name, "cuda")
    with pytest.raises(ValueError, match="'tensorrt' is not one of"):
        resolve_backend("tensorrt", "cpu")


def test_node_parameter_offers_every_backend():
    from head_pose_ros.ros.params import PARAMS

    (spec,) = [p for p in PARAMS if p.name == "backend"]
    assert tuple(spec.choices) == backends.BACKENDS


def test_without_onnxruntime(checkpoint, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    assert resolve_backend("auto", "cpu") == "torch"
    with pytest.raises(BackendError, match="pip install onnxruntime onnx"):
        resolve_backend("onnxruntime", "cpu")
    assert HeadPoseEstimator.from_checkpoint(checkpoint).backend == "torch"
    with pytest.raises(BackendError, match="needs the onnxruntime and onnx packages"):
        HeadPoseEstimator.from_checkpoint(checkpoint, backend="onnxruntime")


def test_from_checkpoint_refuses_before_reading_the_file(tmp_path):
    missing = tmp_path / "missing.safetensors"  # a load would raise CheckpointError
    with pytest.raises(BackendError, match="CPU only"):
        HeadPoseEstimator.from_checkpoint(missing, device="cuda", backend="onnxruntime")
    with pytest.raises(ValueError, match="not one of"):
        HeadPoseEstimator.from_checkpoint(missing, backend="tflite")


def test_failed_export(checkpoint, tmp_path, monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("exporter broke")

    monkeypatch.setattr(backends, "export_atomic", broken)
    with pytest.warns(RuntimeWarning, match="backend 'auto'.*exporter broke.*torch"):
        est = HeadPoseEstimator.from_checkpoint(checkpoint, backend="auto",
                                                onnx_cache_dir=tmp_path)
    assert est.backend == "torch"
    with pytest.raises(BackendError, match="exporter broke \\(backend 'torch' does not"):
        _ort(checkpoint, tmp_path)


# --------------------------------------------------------------------------- node
def test_node_load_estimator_backends(checkpoint, tmp_path, monkeypatch):
    from head_pose_ros.ros.node import StartupError, load_estimator

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # the node uses the default cache
    est = load_estimator(str(checkpoint), "cpu", "onnxruntime")
    assert est.backend == "onnxruntime"
    assert est.model.graph.path.parent == tmp_path / "head_pose_ros" / "onnx"
    assert load_estimator(str(checkpoint), "cpu", "torch").backend == "torch"
    assert load_estimator(str(checkpoint), "cpu").backend == backends.AUTO_CPU  # auto, CPU
    with pytest.raises(StartupError, match="parameter 'backend' = 'onnxruntime'.*CPU only"):
        load_estimator(str(checkpoint), "cuda", "onnxruntime")

    def broken(*a, **k):
        raise RuntimeError("exporter broke")

    monkeypatch.setattr(backends, "export_atomic", broken)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))
    warned: list[str] = []
    assert load_estimator(str(checkpoint), "cpu", "auto", warned.append).backend == "torch"
    assert len(warned) == 1 and "exporter broke" in warned[0]
    with pytest.raises(StartupError, match="parameter 'backend'.*exporter broke"):
        load_estimator(str(checkpoint), "cpu", "onnxruntime")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(StartupError, match="parameter 'backend'.*pip install onnxruntime"):
        load_estimator(str(checkpoint), "cpu", "onnxruntime")


def test_the_core_needs_no_cli_module():
    """The estimator and its backends (the ONNX export included) import nothing from ``cli/``:
    the export code they need lives in ``head_pose_ros.onnx_export``."""
    import subprocess

    code = ("import sys, head_pose_ros.estimator, head_pose_ros.backends, "
            "head_pose_ros.onnx_export; "
            "print(sorted(m for m in sys.modules if m.startswith('head_pose_ros.cli')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
