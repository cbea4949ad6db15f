"""One entry-point list (pyproject.toml [project.scripts]) serves pip and colcon: the colcon
install has a launcher for every command in lib/head_pose_ros (ros2 run) and bin (PATH), each
starting the interpreter the workspace was built with and calling the listed function."""

from __future__ import annotations

import importlib
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ros_executables = runpy.run_path(str(REPO / "scripts" / "ros_executables.py"))
SCRIPTS = ros_executables["entry_points"](REPO / "pyproject.toml")


def test_the_list_has_the_ros_executables_and_the_tools():
    assert SCRIPTS["head_pose_node"] == "head_pose_ros.ros.lifecycle:main"
    assert SCRIPTS["head_pose_demo"] == "head_pose_ros.ros.demo:main"
    assert {"head-pose-train", "head-pose-eval", "head-pose-bench"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_every_target_is_a_function(name: str):
    module, func = SCRIPTS[name].split(":")
    assert callable(getattr(importlib.import_module(module), func))


def test_launcher_text_and_a_bad_target(tmp_path: Path):
    text = ros_executables["launcher"]("x", "head_pose_ros.cli.info:main", "/opt/venv/bin/python3")
    assert text.startswith("#!/opt/venv/bin/python3\n")
    assert "from head_pose_ros.cli.info import main" in text and "sys.exit(main())" in text
    with pytest.raises(ValueError, match="module:function"):
        ros_executables["launcher"]("x", "head_pose_ros.cli.info", "python3")


def test_install_writes_executable_launchers(tmp_path: Path):
    paths = ros_executables["install"](REPO / "pyproject.toml", tmp_path, sys.executable)
    assert len(paths) == 2 * len(SCRIPTS)
    for name in SCRIPTS:
        for folder in ("lib/head_pose_ros", "bin"):
            p = tmp_path / folder / name
            assert os.access(p, os.X_OK), p
            assert p.read_text().splitlines()[0] == f"#!{sys.executable}"


@pytest.mark.ros
def test_workspace_install_has_every_command():
    lib = REPO / "install" / "head_pose_ros" / "lib" / "head_pose_ros"
    if not lib.is_dir():
        pytest.skip("no colcon install (bash scripts/setup_env.sh)")
    for name in SCRIPTS:
        for p in (lib / name, lib.parents[1] / "bin" / name):
            assert os.access(p, os.X_OK), p
    out = subprocess.run([str(lib / "head-pose-info"), "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
