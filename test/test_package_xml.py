"""package.xml declares only dependencies that rosdep can resolve, and everything the node and the
launch file import.

No rosdep database can be downloaded here, so the keys are checked against lists kept in this
file. Sources (checked 2026-12 against ros/rosdistro master):

- rosdep keys: ``rosdep/python.yaml`` of https://github.com/ros/rosdistro (the Python keys;
  ``rosdep/base.yaml`` holds none that this package uses). Each entry notes what the key installs
  on Debian / Ubuntu. ``python3-torch`` is deliberately absent: it maps to apt's
  ``python3-torch``, which Ubuntu 24.04 (Jazzy) does not have (``rosdep install`` fails there,
  see autowarefoundation/autoware_universe#11942) and which is 1.13 on Debian 12, older than the
  torch the package needs; torch is installed with pip (README, "Real ROS 2 installation").
- ROS packages: released in every supported distribution's ``<distro>/distribution.yaml``
  (humble, jazzy, kilted, rolling), in the repositories named below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

#: rosdep key -> what it resolves to on Debian / Ubuntu (rosdistro rosdep/python.yaml)
ROSDEP_KEYS = {
    "python3-numpy": "apt python3-numpy",
    "python3-opencv": "apt python3-opencv",
    "python3-scipy": "apt python3-scipy",
    "python3-yaml": "apt python3-yaml",
    "python3-pytest": "apt python3-pytest",
    "python3-onnxruntime-pip": "pip onnxruntime (debian, ubuntu, fedora, arch, osx)",
}

#: ROS packages (rosdistro <distro>/distribution.yaml) -> the repository that releases them
ROS_PACKAGES = {
    "ament_cmake": "ament/ament_cmake",
    "ament_cmake_python": "ament/ament_cmake",
    "ament_cmake_pytest": "ament/ament_cmake",
    "ament_index_python": "ament/ament_index",
    "builtin_interfaces": "ros2/rcl_interfaces",
    "lifecycle_msgs": "ros2/rcl_interfaces",
    "launch_testing": "ros2/launch",
    "diagnostic_msgs": "ros2/common_interfaces",
    "geometry_msgs": "ros2/common_interfaces",
    "sensor_msgs": "ros2/common_interfaces",
    "std_msgs": "ros2/common_interfaces",
    "visualization_msgs": "ros2/common_interfaces",
    "tf2_msgs": "ros2/geometry2",
    "hri_msgs": "ros4hri/hri_msgs",  # rosdep key hri_msgs: apt on Humble (2.1.0), Jazzy (2.3.2)
    "launch": "ros2/launch",
    "launch_ros": "ros2/launch_ros",
    "rclpy": "ros2/rclpy",
    "rosidl_default_generators": "ros2/rosidl_defaults",
    "rosidl_default_runtime": "ros2/rosidl_defaults",
}

#: top-level Python modules -> the package.xml entry that provides them (ROS and rosdep)
MODULE_TO_DEP = {
    "numpy": "python3-numpy",
    "cv2": "python3-opencv",
    "scipy": "python3-scipy",
    "yaml": "python3-yaml",
    "onnxruntime": "python3-onnxruntime-pip",
    "rclpy": "rclpy",
    "launch": "launch",
    "launch_ros": "launch_ros",
    "ament_index_python": "ament_index_python",
    "sensor_msgs": "sensor_msgs",
    "geometry_msgs": "geometry_msgs",
    "std_msgs": "std_msgs",
    "visualization_msgs": "visualization_msgs",
    "tf2_msgs": "tf2_msgs",
    "hri_msgs": "hri_msgs",
    "diagnostic_msgs": "diagnostic_msgs",
    "builtin_interfaces": "builtin_interfaces",
    "rcl_interfaces": "rclpy",  # rclpy depends on it
}

#: imported at run time but installed with pip (no usable rosdep key): README says how
PIP_ONLY = {"torch", "safetensors", "onnx"}


def _deps():
    catkin_pkg = pytest.importorskip("catkin_pkg.package", reason="catkin_pkg not installed")
    pkg = catkin_pkg.parse_package(str(REPO_ROOT / "package.xml"))
    kinds = {
        "buildtool_depend": pkg.buildtool_depends,
        "build_depend": pkg.build_depends,
        "exec_depend": pkg.exec_depends,
        "test_depend": pkg.test_depends,
    }
    return {k: {d.name for d in v} for k, v in kinds.items()}


def test_every_declared_dependency_is_a_known_key_or_ros_package():
    deps = _deps()
    unknown = sorted(
        n for names in deps.values() for n in names if n not in ROSDEP_KEYS and n not in ROS_PACKAGES
    )
    assert not unknown, (
        f"package.xml uses {unknown}: not in this test's list of rosdistro keys / ROS packages. "
        "Check the key in rosdistro's rosdep/python.yaml or base.yaml (and that it resolves on "
        "Ubuntu 22.04 and 24.04), then add it here with its source."
    )
    assert "python3-torch" not in deps["exec_depend"]  # breaks `rosdep install` on Jazzy


def test_onnxruntime_and_the_launch_file_imports_are_declared():
    exec_deps = _deps()["exec_depend"]
    for name in ("python3-onnxruntime-pip", "launch", "launch_ros", "ament_index_python"):
        assert name in exec_deps, name


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_what_the_node_and_launch_file_import_is_declared_or_documented_pip():
    """Every third-party module of the launch file and of the modules the node loads is in
    package.xml (through MODULE_TO_DEP) or one of the documented pip installs."""
    exec_deps = _deps()["exec_depend"] | _deps()["build_depend"]
    files = [REPO_ROOT / "launch" / "pose.launch.py"]
    pkg = REPO_ROOT / "head_pose_ros"
    files += [p for p in (pkg / "ros").glob("*.py")]
    files += sorted((pkg / "detection").glob("*.py"))
    files += [pkg / n for n in ("yunet_ort.py", "model_files.py", "estimator.py",
                                "backends.py", "checkpoint.py", "pipeline.py", "tracking.py",
                                "covariance.py", "geometry.py", "image_encoding.py")]
    import sys

    stdlib = set(sys.stdlib_module_names)
    missing = {}
    for f in files:
        assert f.is_file(), f"{f} is gone: update this list"
        for mod in _imports(f) - stdlib - {"head_pose_ros", "__future__"}:
            if mod in PIP_ONLY:
                continue
            dep = MODULE_TO_DEP.get(mod)
            if dep is None or dep not in exec_deps:
                missing.setdefault(mod, []).append(str(f.relative_to(REPO_ROOT)))
    assert not missing, f"imported but not declared in package.xml: {missing}"


def test_readme_installs_the_pip_only_dependencies():
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("## Real ROS 2 installation", 1)[1].split("\n## ", 1)[0]
    for name in ("torch", "onnxruntime", "safetensors"):
        assert name in section, name
    assert "--system-site-packages" in section and "PIP_BREAK_SYSTEM_PACKAGES" in section
    assert "head-pose-fetch-models" in section or "fetch_models" in section
