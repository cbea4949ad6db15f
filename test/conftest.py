"""Shared pytest fixtures and the process-wide test environment.

- ``shared_data``: the shared data directory (``<repo>/../shared/data``, or ``$HEAD_POSE_SHARED_DATA``);
  tests using it skip when it is missing.
- ROS isolation: every pytest process picks its own random ``ROS_DOMAIN_ID`` (1..200) unless one
  is set, and ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, so parallel test runs never see each
  other. Set at import time so child processes (node executables) inherit it.
- ``@pytest.mark.ros`` tests (and the ``ros`` fixture / :func:`require_ros`) need the built colcon
  workspace (``source env.sh``). Without it they skip with a reason, except under ``CI`` (any
  value but ``""``/``0``/``false``), where they FAIL: CI can never silently skip the ROS tests.
- ONNX graph cache: ``XDG_CACHE_HOME`` points to a fresh temporary directory per pytest
  process (the estimator's ``backend='auto'`` exports graphs there; tests never write to the
  user's ``~/.cache``), inherited by the node processes the tests start. The model cache of
  ``head-pose-fetch-models`` lies there too (``HEAD_POSE_MODEL_DIR`` is unset), so a YuNet that
  the user fetched does not change which detector the tests' nodes choose.
- Thread limits: ``OMP_NUM_THREADS=1`` and ``torch.set_num_threads(1)`` once torch is imported
  (torch is never imported here, so tests that do not need it stay fast).
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 200)))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
_CACHE = tempfile.mkdtemp(prefix="head_pose_test_cache_")
os.environ["XDG_CACHE_HOME"] = _CACHE
os.environ.pop("HEAD_POSE_MODEL_DIR", None)
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)


def _drop_source_tree_from_sys_path() -> None:
    """Keep the source tree from shadowing the colcon-installed ``head_pose_ros``.

    ``python -m pytest`` puts the current directory first on ``sys.path``; from the repo root
    that would import ``./head_pose_ros`` (no generated ``msg`` subpackage) instead of the
    installed copy. Only done when an installed copy is on ``sys.path``.
    """
    installed = any(
        (Path(p) / "head_pose_ros" / "msg").is_dir() for p in sys.path if p not in ("", ".")
    )
    if not installed or "head_pose_ros" in sys.modules:
        return
    root = str(REPO_ROOT)
    sys.path[:] = [p for p in sys.path if p not in ("", ".") and os.path.abspath(p) != root]


_drop_source_tree_from_sys_path()


def installed_exe(name: str) -> Path:
    """An executable of the installed package: through the ament index (any workspace, e.g.
    `colcon test`), else this repository's development workspace."""
    try:
        from ament_index_python.packages import get_package_prefix

        return Path(get_package_prefix("head_pose_ros")) / "lib" / "head_pose_ros" / name
    except Exception:  # no ament environment: the ROS tests skip (or fail under CI) anyway
        return REPO_ROOT / "install" / "head_pose_ros" / "lib" / "head_pose_ros" / name


def in_ci() -> bool:
    """True when the ``CI`` environment variable is set to a true-ish value."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


class BackgroundSpin:
    """Spins ``executor`` on a daemon thread until :meth:`stop` (call it before
    ``executor.shutdown()``: an executor shut down under a spinning thread raises there).

    A test destroys its nodes from the test thread while this thread spins; rclpy then raises
    ``InvalidHandle`` from the wait set being built (the node's entities are already being
    destroyed). That race belongs to the test's teardown, so it is skipped; the thread goes on
    serving the remaining nodes instead of dying (which made later tests of the module time out).
    """

    def __init__(self, executor) -> None:
        self.executor = executor
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy._rclpy_pybind11 import InvalidHandle
        from rclpy.executors import ExternalShutdownException, ShutdownException

        while not self._stop.is_set() and self.executor.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except InvalidHandle:
                continue
            except (ExternalShutdownException, ShutdownException):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)


def spin_in_background(executor) -> BackgroundSpin:
    """Start a :class:`BackgroundSpin` of ``executor``."""
    return BackgroundSpin(executor)


def ros_unavailable_reason() -> str | None:
    """Why ROS tests cannot run here (None when rclpy and head_pose_ros.msg import)."""
    try:
        import rclpy  # noqa: F401

        import head_pose_ros.msg  # noqa: F401
    except ImportError as exc:  # not built / env not sourced
        return (
            f"ROS workspace not available ({exc}); run `bash scripts/setup_env.sh` and "
            "`source env.sh`"
        )
    return None


def require_ros() -> None:
    """Skip (or, under CI, fail) the calling test when the ROS workspace is unavailable."""
    reason = ros_unavailable_reason()
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"CI is set, refusing to skip a ROS test: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def ros() -> None:
    """Fixture form of :func:`require_ros`."""
    require_ros()


@pytest.fixture
def ros_env() -> dict[str, str]:
    """Environment for child processes of ROS tests (same isolated domain, loopback only)."""
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["ROS_DOMAIN_ID"] = os.environ["ROS_DOMAIN_ID"]
    env.setdefault("PYTHONSAFEPATH", "1")
    return env


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data directory (read-only; never copy it into the repo)."""
    path = Path(
        os.environ.get("HEAD_POSE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")
    ).resolve()
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path} (set HEAD_POSE_SHARED_DATA)")
    return path


def small_config(**kw):
    """A reduced-width ``ModelConfig`` for fast model tests (same structure as the default)."""
    from head_pose_ros.model import ModelConfig

    base = dict(backbone_width=0.25, feature_channels=32, point_mlp_hidden=(32, 16),
                regressor_hidden=128)
    base.update(kw)
    return ModelConfig(**base)


@pytest.fixture(scope="session")
def topology(shared_data: Path):
    """The default ARKit 1220-vertex face topology (``head_pose_ros.topology.FaceTopology``)."""
    from head_pose_ros.topology import load_arkit1220

    return load_arkit1220(shared_data)


@pytest.fixture(scope="session")
def topo(topology):
    """Short name of :func:`topology` used by the data, evaluation and conversion tests."""
    return topology


_torch_threads_set = False


def pytest_runtest_setup(item: pytest.Item) -> None:
    global _torch_threads_set
    if item.get_closest_marker("ros") is not None:
        require_ros()
    if not _torch_threads_set and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
        _torch_threads_set = True


# ------------------------------------------------------------------ node process tests
@pytest.fixture(scope="module")
def random_weights(tmp_path_factory, topology) -> Path:
    """A small RANDOM-INIT TRG checkpoint: a test fixture, not a trained model (the node
    process tests)."""
    import torch

    from head_pose_ros.checkpoint import save_checkpoint
    from head_pose_ros.model import TRG, ModelConfig

    torch.manual_seed(0)
    cfg = ModelConfig(backbone_width=0.25, feature_channels=32, point_mlp_hidden=(32, 16),
                      regressor_hidden=128)
    path = tmp_path_factory.mktemp("weights") / "random_init_test_fixture.safetensors"
    save_checkpoint(path, TRG(cfg, topology).eval(),
                    {"note": "random init test fixture, NOT a trained model"})
    return path


@pytest.fixture(scope="module")
def renderer(topology):
    """The template face rendered with a known pose (the node process tests' frames)."""
    from head_pose_ros.ros.demo import TemplateFaceRenderer

    return TemplateFaceRenderer(topology)


@pytest.fixture(scope="module")
def ros_context():
    """rclpy initialised (default context) for one test module."""
    import rclpy

    rclpy.init()
    yield
    rclpy.try_shutdown()
