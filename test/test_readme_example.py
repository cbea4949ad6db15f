"""The README's Python example runs as printed: an image and its K to poses, covariances and
landmarks (only the photo's path is replaced, by a real face photo of the shared data)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    m = re.search(r"<!-- python-example -->\n```python\n(.*?)```", text, re.S)
    assert m, "README has no <!-- python-example --> block"
    return m.group(1)


def test_the_example_is_short():
    code = [ln for ln in readme_example().splitlines() if ln.strip() and not ln.startswith("import")
            and not ln.startswith("from ")]
    assert len(code) <= 10, code


@pytest.mark.slow
def test_the_example_prints_a_pose(shared_data: Path, tmp_path: Path):
    photo = shared_data / "real" / "lfpw_image_0010" / "image_0010.png"
    if not photo.is_file():
        pytest.skip(f"{photo} missing")
    code = readme_example()
    assert code.count('"photo.jpg"') == 1
    code = code.replace('"photo.jpg"', repr(str(photo)))
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [ln for ln in r.stdout.splitlines() if "(68, 2)" in ln]
    assert lines, r.stdout
    z = float(re.search(r"\[\s*(\S+)\s+(\S+)\s+(\S+)\]", r.stdout).group(3))
    assert 0.1 < z < 5.0, r.stdout
