"""``head_pose_node`` refuses to start with a clear message and a non-zero exit code when it
cannot work (weights missing or corrupt, YuNet model missing, invalid parameters, CUDA absent),
and starts on the CPU when CUDA is absent but the fallback is allowed."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from conftest import installed_exe

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[1]


NODE_EXE = installed_exe("head_pose_node")
PARAMS_FILE = REPO / "config" / "head_pose.yaml"


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory, shared_data) -> Path:
    """A small RANDOM-INIT checkpoint (test fixture, not a trained model)."""
    import torch

    from head_pose_ros.checkpoint import save_checkpoint
    from head_pose_ros.model import TRG, ModelConfig
    from head_pose_ros.topology import load_arkit1220

    torch.manual_seed(0)
    cfg = ModelConfig(backbone_width=0.25, feature_channels=32, point_mlp_hidden=(32, 16),
                      regressor_hidden=128)
    topo = load_arkit1220(shared_data / "face_model" / "arkit1220")
    path = tmp_path_factory.mktemp("w") / "random_init_test_fixture.safetensors"
    save_checkpoint(path, TRG(cfg, topo).eval(), {"note": "random init test fixture"})
    return path


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _run_all(cases: dict[str, list[str]], env: dict[str, str], timeout: float = 90.0):
    """Start every case at once (2 cores: the imports overlap), collect (rc, output)."""
    procs = {
        name: subprocess.Popen(
            [str(NODE_EXE), "--ros-args", "--params-file", str(PARAMS_FILE), *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
        )
        for name, args in cases.items()
    }
    out = {}
    t0 = time.monotonic()
    for name, p in procs.items():
        try:
            text, _ = p.communicate(timeout=max(1.0, timeout - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            p.kill()
            text, _ = p.communicate()
            text += "\n<still running: killed by the test>"
        out[name] = (p.returncode, text)
    return out


def test_refuses_to_start_clearly(tmp_path, random_weights, ros_env):
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00garbage" * 100)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(random_weights.read_bytes()[:5000])
    w = f"weights:={random_weights}"
    cases = {
        "no_weights": ["-p", "weights:=''", "-p", "detector:=cascade"],
        "missing_weights": ["-p", f"weights:={tmp_path / 'nope.safetensors'}"],
        "corrupt_weights": ["-p", f"weights:={corrupt}"],
        "truncated_weights": ["-p", f"weights:={truncated}"],
        "missing_yunet": ["-p", w, "-p", "detector:=yunet",
                          "-p", f"yunet_model:={tmp_path / 'no.onnx'}"],
        "bad_params": ["-p", w, "-p", "detect_every_n:=0", "-p", "primary_person:=loudest"],
        "bad_ros_args": ["-p", "weights:="],  # rcl cannot parse this
    }
    from head_pose_ros.ros.params import default_weights_path

    if default_weights_path():  # an installed default model makes 'weights' optional
        del cases["no_weights"]
    if not _cuda_available():
        cases["cuda_absent"] = ["-p", w, "-p", "device:=cuda"]
    res = _run_all(cases, ros_env)
    expect = {
        "no_weights": "no model weights: parameter 'weights' is empty",
        "missing_weights": "model weights not found",
        "corrupt_weights": "cannot load model weights",
        "truncated_weights": "cannot load model weights",
        "missing_yunet": "YuNet model not found",
        "bad_params": "'detect_every_n' = 0 is outside [1, 1000]",
        "cuda_absent": "CUDA is not available",
        "bad_ros_args": "invalid command line",
    }
    for name, (rc, text) in res.items():
        assert rc == 2, f"{name}: exit code {rc}\n{text}"
        assert expect[name] in text, f"{name}: message missing\n{text}"
        assert "cannot start" in text and "Traceback" not in text, f"{name}\n{text}"
    assert "primary_person" in res["bad_params"][1]  # every problem is listed
    if "cuda_absent" in res:
        assert "allow_cpu_fallback" in res["cuda_absent"][1]


def test_cuda_absent_with_fallback_runs_on_cpu(random_weights, ros_env):
    if _cuda_available():
        pytest.skip("CUDA is available here: the fallback path cannot be exercised")
    p = subprocess.Popen(
        [str(NODE_EXE), "--ros-args", "--params-file", str(PARAMS_FILE), "-p",
         f"weights:={random_weights}", "-p", "device:=cuda", "-p", "allow_cpu_fallback:=true",
         "-p", "detector:=cascade"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ros_env, text=True,
    )
    lines = []
    t0 = time.monotonic()
    try:
        for line in p.stdout:
            lines.append(line)
            if "head_pose_node ready" in line or time.monotonic() - t0 > 60:
                break
    finally:
        p.send_signal(2)
        rest, _ = p.communicate(timeout=15)
    text = "".join(lines) + rest
    assert "running on the CPU because allow_cpu_fallback is true" in text, text
    assert "head_pose_node ready" in text and "device cpu" in text, text
    assert p.returncode == 0, text
