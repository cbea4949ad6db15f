#!/usr/bin/env python3
"""Write one launcher per command of pyproject.toml's ``[project.scripts]`` (the package's one
entry-point list) into a colcon install: ``<prefix>/lib/head_pose_ros/<name>`` for ``ros2 run``
and ``<prefix>/bin/<name>`` for the shell (colcon puts ``bin`` on PATH).

CMakeLists.txt runs it at install time with the interpreter the workspace was built with. That
interpreter is each launcher's ``#!`` line: a workspace built inside a venv starts the venv's
Python (torch, onnxruntime), so ``ros2 run`` / ``ros2 launch`` / a systemd unit work from a shell
with only ROS and the workspace sourced, and no venv activated.

``python3 scripts/ros_executables.py --pyproject pyproject.toml --prefix PREFIX --python PY``
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

PACKAGE = "head_pose_ros"


def entry_points(pyproject: Path) -> dict[str, str]:
    """``{command: "module:function"}`` of ``[project.scripts]``."""
    with pyproject.open("rb") as f:
        return dict(tomllib.load(f)["project"]["scripts"])


def launcher(name: str, target: str, python: str) -> str:
    """The text of the launcher of ``name = target`` (``module:function``) run by ``python``."""
    module, _, func = target.partition(":")
    if not module or not func.isidentifier():
        raise ValueError(f"{name} = {target!r} is not 'module:function'")
    return (f"#!{python}\n"
            f"# {name}: generated at install time from pyproject.toml [project.scripts]\n"
            "import sys\n\n"
            f"from {module} import {func}\n\n"
            f"sys.exit({func}())\n")


def install(pyproject: Path, prefix: Path, python: str) -> list[Path]:
    """Write every launcher into ``prefix/lib/<package>`` and ``prefix/bin``; returns the paths."""
    written = []
    for name, target in entry_points(pyproject).items():
        text = launcher(name, target, python)
        for folder in (prefix / "lib" / PACKAGE, prefix / "bin"):
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            if path.is_symlink():
                path.unlink()  # a symlink-install leftover must not redirect the write
            path.write_text(text)
            path.chmod(0o755)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pyproject", type=Path, required=True)
    ap.add_argument("--prefix", type=Path, required=True)
    ap.add_argument("--python", required=True, help="interpreter for the #! line")
    args = ap.parse_args(argv)
    paths = install(args.pyproject, args.prefix, args.python)
    print(f"-- {PACKAGE}: {len(paths) // 2} executables from {args.pyproject.name} "
          f"(#!{args.python})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
