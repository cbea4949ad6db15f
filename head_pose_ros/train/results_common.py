"""What every section of docs/RESULTS.md shares: number formatting, reading the result files
(a missing one is a :class:`MissingResultError` that names the command writing it) and the
sentence saying which checkpoint a section was measured on.

Used by :mod:`.results_md` (the page) and the section modules :mod:`.results_real` and
:mod:`.results_turned`; it imports none of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def fmt(v: Any, digits: int = 2) -> str:
    return "–" if v is None else f"{float(v):.{digits}f}"


def fmt_signed(v: Any, digits: int = 2) -> str:
    return "–" if v is None else f"{float(v):+.{digits}f}"


def load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


class MissingResultError(RuntimeError):
    """An input of a RESULTS.md section is missing or stale (the message says which, and how to
    produce it)."""


RESULTS_CMD = "run `bash scripts/results.sh CHECKPOINT`"


def need(path: Path, how: str = RESULTS_CMD) -> dict[str, Any]:
    """The JSON at ``path``; :class:`MissingResultError` (naming ``how``) if it is absent."""
    r = load(path)
    if r is None:
        raise MissingResultError(f"{path} is missing: {how}")
    return r


def need_file(path: Path, how: str = RESULTS_CMD) -> Path:
    if not path.is_file():
        raise MissingResultError(f"{path} is missing: {how}")
    return path


def checkpoint_of(r: dict[str, Any], name: str) -> str:
    """The checkpoint a result file was measured on (its ``weights``, as head-pose-eval and
    head-pose-video record it)."""
    w = r.get("weights")
    if not w:
        raise MissingResultError(f"{name} records no checkpoint ('weights'): re-run the "
                                 "command that wrote it")
    return str(w)


def is_shipped(recorded: str, shipped: Path) -> bool:
    """Whether a recorded checkpoint path is the shipped file: the same file, or the same
    trailing path components (a path recorded on another machine or relative to the repo)."""
    rec = Path(recorded)
    if rec.is_file() and shipped.is_file() and rec.resolve() == shipped.resolve():
        return True
    a, b = rec.parts, shipped.resolve().parts
    n = min(len(a), len(b), 2)
    return n > 0 and a[-n:] == b[-n:]


def show(recorded: str, shipped: Path) -> str:
    return (f"the shipped model (`{Path(*shipped.parts[-2:])}`)" if is_shipped(recorded, shipped)
            else f"`{recorded}` (not the shipped model)")


def measured_on(named: list[tuple[str, dict[str, Any]]], shipped: Path) -> str:
    """One sentence: the checkpoint(s) the results ``(file name, result)`` were measured on."""
    seen: dict[str, list[str]] = {}
    for name, r in named:
        seen.setdefault(checkpoint_of(r, name), []).append(name)
    if len(seen) == 1:
        return f"Measured on {show(next(iter(seen)), shipped)}."
    return "Measured on " + "; ".join(f"{show(w, shipped)}: {', '.join(n)}"
                                      for w, n in seen.items()) + "."
