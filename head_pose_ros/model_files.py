"""Model files that are downloaded, not shipped: where they live and how to fetch them (no ROS).

The package ships the TRG weights but not the face detector model: YuNet
(``face_detection_yunet_2023mar.onnx``, MIT, OpenCV zoo) is fetched once into the user cache by
``head-pose-fetch-models`` (also ``python3 -m head_pose_ros.cli.fetch_models``, which works
in a colcon workspace where the console scripts are not installed) and found there by the node
(``detector: auto`` / ``yunet`` with an empty ``yunet_model``).

Cache folder: ``$HEAD_POSE_MODEL_DIR`` when set, else ``$XDG_CACHE_HOME/head_pose_ros/models``
(``~/.cache/head_pose_ros/models`` when ``XDG_CACHE_HOME`` is unset, empty or relative, as the
XDG base-directory specification says).

Every file is pinned by sha256: a download is written to a temporary name in the cache folder,
checked, and only then renamed into place (``os.replace``); a file whose checksum does not match
is never used or kept.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "FETCH_COMMAND",
    "MODEL_FILES",
    "YUNET",
    "FetchError",
    "FetchResult",
    "ModelFile",
    "cached_model",
    "fetch",
    "model_dir",
    "sha256_of",
]

#: what a user runs to get the model files (named in the node's error messages)
FETCH_COMMAND = "head-pose-fetch-models (or: python3 -m head_pose_ros.cli.fetch_models)"


@dataclass(frozen=True)
class ModelFile:
    """One downloadable file: its cache name, official address, sha256 and size."""

    key: str
    filename: str
    url: str
    sha256: str
    size: int
    licence: str


YUNET = ModelFile(
    key="yunet",
    filename="face_detection_yunet_2023mar.onnx",
    url="https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
    "face_detection_yunet_2023mar.onnx",
    # sha256 of the official OpenCV zoo file (fixed 640x640 export of the 2023mar model)
    sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    size=232589,
    licence="MIT (libfacedetection.train / OpenCV zoo)",
)

MODEL_FILES: dict[str, ModelFile] = {YUNET.key: YUNET}


class FetchError(RuntimeError):
    """A download failed or its checksum did not match (the message says which and why)."""


@dataclass
class FetchResult:
    """What :func:`fetch` did: ``status`` is 'present', 'downloaded' or 'replaced'."""

    model: ModelFile
    path: Path
    status: str
    source: str = ""

    def message(self) -> str:
        short = self.model.sha256[:12]
        if self.status == "present":
            return (f"{self.model.key}: already in the cache, sha256 {short}... ok: {self.path}")
        what = "downloaded" if self.status == "downloaded" else "replaced a bad copy with"
        return (f"{self.model.key}: {what} {self.source} -> {self.path} "
                f"({self.path.stat().st_size} bytes, sha256 {short}... ok)")


def model_dir() -> Path:
    """The cache folder of downloaded model files (not created here)."""
    env = os.environ.get("HEAD_POSE_MODEL_DIR", "")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "head_pose_ros" / "models"


def sha256_of(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cached_model(key: str = "yunet", directory: str | os.PathLike | None = None) -> Path | None:
    """The cached file of ``key`` when it is there with the pinned sha256, else None."""
    m = MODEL_FILES[key]
    path = Path(directory or model_dir()) / m.filename
    try:
        if path.is_file() and path.stat().st_size == m.size and sha256_of(path) == m.sha256:
            return path
    except OSError:
        pass
    return None


def _download(url: str, dst, timeout: float) -> None:
    req = urllib.request.Request(url, headers={"User-Agent": "head_pose_ros-fetch-models"})
    with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 (file:// is allowed)
        shutil.copyfileobj(r, dst, 1 << 16)


def fetch(key: str = "yunet", url: str | None = None, directory: str | os.PathLike | None = None,
          force: bool = False, timeout: float = 60.0) -> FetchResult:
    """Make sure the cache holds the pinned file of ``key``; download it when needed.

    Args:
        url: where to download from (default: the official address; ``file://`` works too, e.g.
            for a copy on a machine without internet access).
        directory: the cache folder (default :func:`model_dir`).
        force: download even when a good copy is present.
    Raises:
        FetchError: the download failed, or its sha256 is not the pinned one (nothing is kept).
    """
    m = MODEL_FILES[key]
    folder = Path(directory or model_dir()).expanduser()
    path = folder / m.filename
    good = cached_model(key, folder) is not None
    if good and not force:
        return FetchResult(m, path, "present")
    bad_copy = path.exists() and not good
    src = url or m.url
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"{m.key}: cannot create the cache folder {folder}: {exc}") from exc
    fd, tmp = tempfile.mkstemp(prefix=f".{m.filename}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            try:
                _download(src, f, timeout)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or exc
                raise FetchError(f"{m.key}: download of {src} failed: {reason}") from exc
        got = sha256_of(tmp)
        if got != m.sha256:
            raise FetchError(
                f"{m.key}: {src} has sha256 {got} ({os.path.getsize(tmp)} bytes), expected "
                f"{m.sha256} ({m.size} bytes); the file was not kept")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return FetchResult(m, path, "replaced" if bad_copy else "downloaded", src)
