"""In-process pieces of the node: the 1-slot mailbox, primary-person policies, device checks,
one-log-per-kind keys (head_pose_ros.ros.runtime: no ROS import)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from head_pose_ros.pipeline import TrackedHead
from head_pose_ros.ros.params import validate
from head_pose_ros.ros.runtime import (
    FrameMailbox,
    StartupError,
    problem_key,
    resolve_device,
    select_primary,
)


def test_mailbox_keeps_only_the_newest_and_counts_drops():
    mb = FrameMailbox()
    for i in range(5):
        mb.put(i)
    assert mb.take(0.01) == 4
    assert mb.take(0.01) is None
    assert (mb.received, mb.dropped) == (5, 4)


def test_mailbox_wakes_the_worker_and_closes():
    mb = FrameMailbox()
    got = []

    def worker():
        got.append(mb.take(5.0))

    t = threading.Thread(target=worker)
    t.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    mb.put("frame")
    t.join(2.0)
    assert got == ["frame"] and time.monotonic() - t0 < 0.5
    mb.close()
    t0 = time.monotonic()
    assert mb.take(5.0) is None and time.monotonic() - t0 < 0.5


def _person(pid, box, z):
    return TrackedHead(pid, 1, np.eye(3), np.array([0.0, 0.0, z]), np.eye(6),
                   SimpleNamespace(box=np.array(box, float)))


@pytest.mark.parametrize(("policy", "pid", "want"), [
    ("largest", 1, 2), ("closest", 1, 3), ("tracked_id", 3, 3), ("tracked_id", 9, None)])
def test_primary_person_policies(policy, pid, want):
    cfg = validate({"primary_person": policy, "primary_id": pid})
    people = [_person(1, [0, 0, 50, 50], 1.0), _person(2, [0, 0, 90, 90], 0.9),
              _person(3, [0, 0, 60, 60], 0.5)]
    got = select_primary(people, cfg.primary_person, cfg.primary_id)
    assert (got.person_id if got else None) == want
    assert select_primary([], cfg.primary_person, cfg.primary_id) is None


def test_problem_keys_ignore_numbers():
    a = problem_key("img", ValueError("image data is truncated: 50 B, need at least 105 B"))
    b = problem_key("img", ValueError("image data is truncated: 70 B, need at least 921 B"))
    c = problem_key("img", ValueError("step 10 is smaller than one row"))
    assert a == b != c


def test_device_checks():
    import torch

    warnings = []
    assert resolve_device("cpu", False, warnings.append) == "cpu"
    if torch.cuda.is_available():
        assert resolve_device("cuda", False, warnings.append) == "cuda"
        return
    with pytest.raises(StartupError, match="CUDA is not available.*allow_cpu_fallback"):
        resolve_device("cuda:0", False, warnings.append)
    assert resolve_device("cuda", True, warnings.append) == "cpu"
    assert len(warnings) == 1 and "running on the CPU" in warnings[0]


def test_no_imports_on_the_per_frame_path():
    """Issue 13 item 10: the node imported messages and helpers inside its per-frame methods;
    they are module-level imports now (ROS imports stay out of the core modules)."""
    import ast
    import inspect

    from head_pose_ros.ros import runtime

    node_src = (Path(runtime.__file__).parent / "node.py").read_text()
    tree = ast.parse(node_src)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "HeadPoseNode")
    per_frame = {"_on_image", "_on_info", "_pair_info", "_work", "_decode", "_process",
                 "_primary", "_publish", "_publish_debug", "stats", "_publish_diagnostics",
                 "_publish_attention"}
    seen = set()
    for fn in cls.body:
        if isinstance(fn, ast.FunctionDef) and fn.name in per_frame:
            seen.add(fn.name)
            inner = [n for n in ast.walk(fn) if isinstance(n, ast.Import | ast.ImportFrom)]
            assert not inner, f"{fn.name} imports {[ast.unparse(n) for n in inner]}"
    assert seen == per_frame
    # issue 17: the ROS4HRI / attention per-frame code imports nothing per frame either
    for mod, cls_name, fns in [("hri.py", "HriFacePublisher", {"publish", "_image", "_square"}),
                               ("attention_out.py", "AttentionOutput",
                                {"compute", "_lookup", "target_in_camera"})]:
        tree = ast.parse((Path(runtime.__file__).parent / mod).read_text())
        c = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls_name)
        for fn in c.body:
            if isinstance(fn, ast.FunctionDef) and fn.name in fns:
                assert not [n for n in ast.walk(fn) if isinstance(n, ast.Import | ast.ImportFrom)]
    core = ("pipeline", "tracking", "frames", "detection", "estimator", "geometry", "covariance",
            "attention", "engagement", "hri_faces", "metrics")
    for name in core:
        src = inspect.getsource(__import__(f"head_pose_ros.{name}", fromlist=["x"]))
        assert "rclpy" not in src and "_msgs.msg" not in src, name
