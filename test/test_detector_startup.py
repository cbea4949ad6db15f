"""The node finds YuNet in the user cache that head-pose-fetch-models fills (detector 'auto' and
'yunet' without yunet_model), and refuses to start with one line naming the fetch command when
'yunet' is asked for and nothing is there."""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import installed_exe

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[1]
NODE_EXE = installed_exe("head_pose_node")
PARAMS_FILE = REPO / "config" / "head_pose.yaml"


def _node(args, env):
    return subprocess.Popen([str(NODE_EXE), "--ros-args", "--params-file", str(PARAMS_FILE),
                             *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            text=True)


def test_yunet_without_model_refuses_with_the_fetch_command(tmp_path, ros, ros_env):
    env = {**ros_env, "HEAD_POSE_MODEL_DIR": str(tmp_path / "empty_cache")}
    p = _node(["-p", "detector:=yunet"], env)
    text, _ = p.communicate(timeout=90)
    assert p.returncode == 2, text
    # one line (logged, and printed to stderr: the same text twice)
    lines = {ln.split("cannot start: ", 1)[1] for ln in text.splitlines() if "cannot start" in ln}
    assert len(lines) == 1, text
    (line,) = lines
    assert "head-pose-fetch-models" in line and "yunet_model' is empty" in line, text
    assert "Traceback" not in text


def test_auto_uses_yunet_from_the_cache(tmp_path, shared_data, ros, ros_env):
    src = shared_data / "detector" / "face_detection_yunet_2023mar.onnx"
    if not src.is_file():
        pytest.skip(f"{src} missing")
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(src, cache / src.name)
    env = {**ros_env, "HEAD_POSE_MODEL_DIR": str(cache)}
    p = _node([], env)  # detector 'auto', yunet_model '' (the shipped defaults)
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(p.stdout.readline, "")),
                              daemon=True)
    reader.start()
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 90 and p.poll() is None:
            if any("head_pose_node ready" in ln for ln in seen):
                break
            time.sleep(0.2)
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        reader.join(timeout=5)
    text = "".join(seen)
    assert "detector 'auto': YuNet" in text and "(user cache)" in text, text
    assert str(cache / src.name) in text
    assert "detector YuNetDetector" in text  # the ready line
