"""The repository documents itself: conventions live in docs/CONVENTIONS.md, and nothing points
to a document outside the repository (a user's clone has no ``../shared/docs`` or papers)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: what the repository may not refer to: the design notes and papers next to the repository
OUTSIDE = re.compile(r"DESIGN\.md|shared/docs|shared/papers|shared/tools")
SCANNED = ("*.py", "*.md", "*.msg", "*.yaml", "*.sh", "*.xml", "*.txt", "*.cfg", "*.toml")
SKIPPED_DIRS = {".git", ".venv", ".venv-peers", "build", "install", "log", "outputs", "runs",
                "data", "weights", "fixtures", "__pycache__"}
#: files whose owners still have to point their references at docs/CONVENTIONS.md; remove an
#: entry with the fix (the test fails while a listed file no longer has one, so the list only
#: shrinks)
PENDING: set[str] = set()


def _text_files() -> list[Path]:
    out = []
    for pattern in SCANNED:
        for p in REPO.rglob(pattern):
            rel = p.relative_to(REPO)
            if p.is_file() and not SKIPPED_DIRS & set(rel.parts[:-1]) and p != Path(__file__):
                out.append(p)
    return sorted(set(out))


def test_no_reference_to_documents_outside_the_repository() -> None:
    found: dict[str, list[str]] = {}
    for p in _text_files():
        for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                found.setdefault(str(p.relative_to(REPO)), []).append(f"{n}: {line.strip()}")
    new = {k: v for k, v in found.items() if k not in PENDING}
    assert not new, f"point these to docs/CONVENTIONS.md (or say it inline): {new}"
    fixed = sorted(PENDING - set(found))
    assert not fixed, f"no longer refer outside the repository, drop them from PENDING: {fixed}"


def test_conventions_document_covers_the_conventions() -> None:
    text = (REPO / "docs" / "CONVENTIONS.md").read_text()
    for topic in ("## Frames", "## Rotation representations", "## Pixels, principal point",
                  "## Covariance", "## Units", "REP-103", "REP-155", "(W-1)/2", "face_<id>",
                  "gaze_<id>", "(x, y, z, w)", "(x, y, z, rotX, rotY, rotZ)"):
        assert topic in text, topic
