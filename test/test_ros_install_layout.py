"""The installed layout is what `ros2 run` / `ros2 launch` and Python users need.

Checked against the colcon install found through the ament index (AMENT_PREFIX_PATH), i.e.
`source env.sh` in this repo or `source install/setup.bash` of any workspace.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "head_pose_ros"


def _prefix() -> Path:
    from ament_index_python.packages import get_package_prefix

    return Path(get_package_prefix(PACKAGE))


def _installed_package_dir() -> Path:
    import head_pose_ros

    return Path(head_pose_ros.__file__).parent


@pytest.mark.ros
@pytest.mark.parametrize("rel", ["launch/pose.launch.py", "config/head_pose.yaml", "package.xml"])
def test_share_files(rel: str) -> None:
    path = _prefix() / "share" / PACKAGE / rel
    assert path.is_file(), f"{path} missing"


@pytest.mark.ros
def test_messages_and_core_in_one_package() -> None:
    import head_pose_ros
    import head_pose_ros.msg as msg

    pkg_dir = _installed_package_dir()
    assert Path(msg.__file__).parent.parent == pkg_dir
    assert pkg_dir.is_relative_to(_prefix()), (pkg_dir, _prefix())
    assert hasattr(msg, "HeadPose") and hasattr(msg, "HeadPoseArray")
    assert head_pose_ros.__version__
    # every core source module of the checkout is installed next to the messages (a stale
    # build would miss new files: re-run scripts/setup_env.sh)
    src = REPO_ROOT / PACKAGE
    if src.is_dir() and (pkg_dir / "__init__.py").resolve() == (src / "__init__.py").resolve():
        missing = [
            str(p.relative_to(src))
            for p in src.rglob("*.py")
            if "__pycache__" not in p.parts and not (pkg_dir / p.relative_to(src)).exists()
        ]
        assert not missing, f"not installed (rebuild): {missing}"
    if (src / "geometry.py").exists():
        import head_pose_ros.geometry as geometry

        assert Path(geometry.__file__).parent == pkg_dir


@pytest.mark.ros
def test_tf2_msgs_fixture_not_in_product() -> None:
    prefix = _prefix()
    hits = [p for p in prefix.rglob("*") if "tf2_msgs" in p.name]
    assert not hits, f"test fixture tf2_msgs leaked into the {PACKAGE} install: {hits[:5]}"
    import tf2_msgs

    assert not Path(tf2_msgs.__file__).resolve().is_relative_to(prefix.resolve())


def _package_xml():
    from catkin_pkg.package import parse_package

    return parse_package(str(REPO_ROOT / "package.xml"))


def test_package_xml_parses_and_declares_dependencies() -> None:
    pytest.importorskip("catkin_pkg", reason="catkin_pkg (colcon) not installed")
    pkg = _package_xml()
    assert pkg.name == PACKAGE
    assert pkg.package_format == 3
    names = {d.name for d in pkg.build_depends + pkg.exec_depends + pkg.buildtool_depends}
    for dep in (
        "rclpy",
        "sensor_msgs",
        "geometry_msgs",
        "visualization_msgs",
        "std_msgs",
        "tf2_msgs",
        "builtin_interfaces",
        "diagnostic_msgs",
        "rosidl_default_generators",
        "rosidl_default_runtime",
        "python3-onnxruntime-pip",
    ):
        assert dep in names, dep
    assert "rosidl_interface_packages" in {g.name for g in pkg.member_of_groups}
    assert pkg.get_build_type() == "ament_cmake"


def test_versions_agree() -> None:
    pytest.importorskip("catkin_pkg", reason="catkin_pkg (colcon) not installed")
    init = (REPO_ROOT / PACKAGE / "__init__.py").read_text()
    init_version = re.search(r'^__version__ = "([^"]+)"', init, re.M).group(1)
    setup_version = subprocess.run(
        [sys.executable, "setup.py", "--version"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    assert _package_xml().version == init_version == setup_version
    # the importable package (colcon install, pip install or source) reports the same version
    if importlib.util.find_spec("head_pose_ros") is not None:
        import head_pose_ros

        assert head_pose_ros.__version__ == init_version


def test_package_init_has_no_imports() -> None:
    """head_pose_ros/__init__.py stays import-free (ROS-free core, fast CLI start)."""
    tree = ast.parse((REPO_ROOT / PACKAGE / "__init__.py").read_text())
    assert not [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
