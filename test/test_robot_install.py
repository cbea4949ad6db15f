"""A robot's install (issue 20 item 3): the package built in a clean colcon workspace (no
symlinks, nothing of this repository's workspace on the paths), then ``head_pose_demo`` and
``head_pose_node`` started from a shell with no venv activated, only the ROS environment and the
new workspace sourced, as a systemd unit or a bring-up launch file starts them. The installed
executables start the venv's Python by their ``#!`` line, so the node imports torch and
publishes a pose.

The ROS environment here is the PyPI wheels' ``<venv>/ros2_env.sh`` (written by
scripts/setup_env.sh; it sets the ROS variables and does not activate the venv), which stands for
``/opt/ros/<distro>/setup.bash`` of an apt install.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import require_ros
from test_colcon_test import _numpy_include

pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)


def _bare_shell(script: str, **env: str) -> list[str]:
    """``bash -c script`` under ``env -i``: no venv, no workspace, nothing of this process."""
    keep = {"HOME": os.environ.get("HOME", "/root"), "PATH": "/usr/local/bin:/usr/bin:/bin",
            "ROS_DOMAIN_ID": os.environ["ROS_DOMAIN_ID"], **env}
    return ["env", "-i", *(f"{k}={v}" for k, v in keep.items()), "bash", "-c", script]


@pytest.fixture(scope="module")
def ros_context():
    import rclpy

    rclpy.init()
    yield
    rclpy.try_shutdown()


@pytest.fixture(scope="module")
def clean_install(tmp_path_factory) -> Path:
    require_ros()
    ros_env = VENV / "ros2_env.sh"
    if not ros_env.is_file() or shutil.which("colcon") is None:
        pytest.fail(f"{ros_env} or colcon missing: run bash scripts/setup_env.sh", pytrace=False)
    ws = tmp_path_factory.mktemp("robot_ws")
    # the build runs inside the venv, as the README's robot install does
    build = (f". {shlex.quote(str(VENV / 'bin' / 'activate'))} && . {shlex.quote(str(ros_env))}"
             f" && colcon --log-base {ws}/log build --paths {shlex.quote(str(REPO))}"
             f" --build-base {ws}/build --install-base {ws}/install"
             f" --cmake-args -DBUILD_TESTING=OFF {' '.join(_numpy_include())}"
             " --event-handlers console_direct- status- summary+")
    r = subprocess.run(_bare_shell(build), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    return ws / "install"


def test_installed_executables_name_the_build_interpreter(clean_install: Path):
    lib = clean_install / "head_pose_ros" / "lib" / "head_pose_ros"
    for exe in ("head_pose_node", "head_pose_demo", "head-pose-info"):
        assert not (lib / exe).is_symlink()
        first = (lib / exe).read_text().splitlines()[0]
        assert first in (f"#!{VENV / 'bin' / 'python3'}", f"#!{VENV / 'bin' / 'python'}"), first


def test_node_from_a_shell_without_venv_publishes_a_pose(clean_install: Path, ros_context):
    from rclpy.node import Node

    from head_pose_ros.msg import HeadPoseArray

    weights = REPO / "weights" / "head_pose_trg.safetensors"
    if not weights.is_file():
        pytest.skip("no shipped weights in this checkout")
    env = (f". {shlex.quote(str(VENV / 'ros2_env.sh'))} && "
           f". {shlex.quote(str(clean_install / 'setup.bash'))} && ")
    # on PATH through the workspace; VIRTUAL_ENV unset, python3 on PATH is the system's
    check = subprocess.run(_bare_shell(env + "command -v head_pose_node && test -z \"$VIRTUAL_ENV\""
                                       " && head-pose-info --help >/dev/null"),
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip().startswith(str(clean_install)), check.stdout
    procs = [subprocess.Popen(_bare_shell(env + f"exec {exe} --ros-args -p weights:={weights}"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for exe in ("head_pose_demo", "head_pose_node")]
    node = Node("robot_install_probe")
    got: list = []
    node.create_subscription(HeadPoseArray, "heads", lambda m: got.append(m) if m.heads else None,
                             10)
    try:
        import rclpy

        t_end = time.monotonic() + 120.0
        while not got and time.monotonic() < t_end and all(p.poll() is None for p in procs):
            rclpy.spin_once(node, timeout_sec=0.2)
    finally:
        node.destroy_node()
        logs = []
        for p in procs:
            p.terminate()
            try:
                logs.append(p.communicate(timeout=20)[1][-3000:])
            except subprocess.TimeoutExpired:
                p.kill()
                logs.append(p.communicate()[1][-3000:])
    assert got, "no HeadPoseArray with a person from the installed node:\n" + "\n".join(logs)
    z = got[-1].heads[0].pose.pose.position.z
    assert 0.2 < z < 3.0, z
