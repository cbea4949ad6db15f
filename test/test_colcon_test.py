"""`colcon test` runs the ROS-facing part (marker `ros`) of this pytest suite (issues 13, 20):
CMakeLists.txt registers it with ament_add_pytest_test under BUILD_TESTING, package.xml declares ament_cmake_pytest, and a real
CMake configure with BUILD_TESTING=ON produces the ctest entry."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_cmakelists_registers_the_pytest_suite():
    text = (REPO / "CMakeLists.txt").read_text()
    block = re.search(r"if\(BUILD_TESTING\)(.*?)endif\(\)", text, re.S)
    assert block, "no if(BUILD_TESTING) block"
    body = block.group(1)
    assert "find_package(ament_cmake_pytest REQUIRED)" in body
    m = re.search(r"ament_add_pytest_test\(\s*(\S+)\s+(\S+)(.*?)\)", body, re.S)
    assert m and m.group(2) == "test", body
    timeout = re.search(r"TIMEOUT\s+(\d+)", m.group(3))
    assert timeout and int(timeout.group(1)) >= 600  # ament's default (60 s) kills the suite
    assert '"PYTEST_ADDOPTS=-m ros and not slow"' in body  # a robot runs the ROS-facing tests only
    test_depends = {e.text for e in ET.parse(REPO / "package.xml").getroot().iter("test_depend")}
    assert {"ament_cmake_pytest", "python3-pytest"} <= test_depends


def _numpy_include() -> list[str]:
    """The numpy include override scripts/setup_env.sh passes to CMake (pip wheels only)."""
    cache = REPO / "build" / "head_pose_ros" / "CMakeCache.txt"
    if cache.is_file():
        m = re.search(r"^Python3_NumPy_INCLUDE_DIR:[A-Z]+=(.+)$", cache.read_text(), re.M)
        if m:
            return [f"-DPython3_NumPy_INCLUDE_DIR={m.group(1).strip()}"]
    return []


@pytest.mark.ros
def test_configure_with_testing_creates_the_ctest_entry(tmp_path):
    if shutil.which("cmake") is None or not os.environ.get("AMENT_PREFIX_PATH"):
        pytest.skip("cmake or an ament environment is missing")
    r = subprocess.run(["cmake", str(REPO), "-DBUILD_TESTING=ON", *_numpy_include()],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    ctest = (tmp_path / "CTestTestfile.cmake").read_text()
    line = next((ln for ln in ctest.splitlines() if re.match(r"add_test\((\[=\[)?head_pose_ros_pytest\b", ln)),
                None)
    assert line, ctest
    assert '"-m" "pytest"' in line and f'"{REPO / "test"}"' in line, line
    assert "--junit-xml=" in line and "PYTHONSAFEPATH=1" in line
    assert "PYTEST_ADDOPTS=-m ros and not slow" in line
    props = next(ln for ln in ctest.splitlines()
                 if re.match(r"set_tests_properties\((\[=\[)?head_pose_ros_pytest\b", ln))
    assert f'WORKING_DIRECTORY "{REPO}"' in props and 'TIMEOUT "900"' in props, props
