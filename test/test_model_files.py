"""head-pose-fetch-models and the model cache (head_pose_ros.model_files), tested against a
file:// URL and a loopback HTTP server only (never the internet)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest

from head_pose_ros import model_files
from head_pose_ros.cli import fetch_models
from head_pose_ros.model_files import YUNET, FetchError, cached_model, fetch, model_dir


def _shared_yunet(shared_data: Path) -> Path:
    p = shared_data / "detector" / YUNET.filename
    if not p.is_file():
        pytest.skip(f"{p} missing")
    return p


@pytest.fixture()
def loopback(tmp_path):
    """A loopback HTTP server for files put into the returned folder; yields (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield root, f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


def test_pinned_checksum_is_the_shared_official_file(shared_data):
    p = _shared_yunet(shared_data)
    assert hashlib.sha256(p.read_bytes()).hexdigest() == YUNET.sha256
    assert p.stat().st_size == YUNET.size
    assert YUNET.url.startswith("https://github.com/opencv/opencv_zoo/")


def test_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("HEAD_POSE_MODEL_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert model_dir() == tmp_path / "xdg" / "head_pose_ros" / "models"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the spec says: ignore it
    assert model_dir() == Path.home() / ".cache" / "head_pose_ros" / "models"
    monkeypatch.setenv("HEAD_POSE_MODEL_DIR", str(tmp_path / "m"))
    assert model_dir() == tmp_path / "m"


def test_fetch_from_file_url_then_present(shared_data, tmp_path):
    src = _shared_yunet(shared_data)
    cache = tmp_path / "cache"
    assert cached_model("yunet", cache) is None
    res = fetch("yunet", url=src.as_uri(), directory=cache)
    assert res.status == "downloaded" and res.path == cache / YUNET.filename
    assert "downloaded" in res.message() and "sha256" in res.message()
    assert cached_model("yunet", cache) == res.path
    again = fetch("yunet", url="http://127.0.0.1:9/never-contacted", directory=cache)
    assert again.status == "present"  # nothing is downloaded when a good copy is there
    assert sorted(os.listdir(cache)) == [YUNET.filename]  # no temporary files left


def test_fetch_over_loopback_http_replaces_a_damaged_copy(shared_data, tmp_path, loopback):
    src = _shared_yunet(shared_data)
    root, base = loopback
    (root / YUNET.filename).write_bytes(src.read_bytes())
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / YUNET.filename).write_bytes(b"truncated")
    assert cached_model("yunet", cache) is None
    res = fetch("yunet", url=f"{base}/{YUNET.filename}", directory=cache)
    assert res.status == "replaced" and cached_model("yunet", cache) == res.path


def test_checksum_mismatch_and_unreachable_keep_nothing(tmp_path, loopback):
    root, base = loopback
    (root / "evil.onnx").write_bytes(b"not the model" * 100)
    cache = tmp_path / "cache"
    with pytest.raises(FetchError, match="sha256 .* expected 8f2383e4.*not kept"):
        fetch("yunet", url=f"{base}/evil.onnx", directory=cache)
    assert not (cache / YUNET.filename).exists() and os.listdir(cache) == []
    with pytest.raises(FetchError, match="download of .* failed"):
        fetch("yunet", url=f"{base}/missing.onnx", directory=cache)
    with pytest.raises(FetchError, match="download of .* failed"):
        fetch("yunet", url=(tmp_path / "nope.onnx").as_uri(), directory=cache)
    assert os.listdir(cache) == []


def test_cli_tells_the_user_what_happened(shared_data, tmp_path, capsys, loopback):
    src = _shared_yunet(shared_data)
    root, base = loopback
    (root / YUNET.filename).write_bytes(src.read_bytes())
    cache = tmp_path / "c"
    assert fetch_models.main(["--dir", str(cache), "--check"]) == 1
    assert "missing" in capsys.readouterr().err
    assert fetch_models.main(["--dir", str(cache), "--url", f"{base}/{YUNET.filename}"]) == 0
    out = capsys.readouterr().out
    assert "downloaded" in out and str(cache / YUNET.filename) in out and "ok" in out
    assert fetch_models.main(["--dir", str(cache)]) == 0
    assert "already in the cache" in capsys.readouterr().out
    assert fetch_models.main(["--dir", str(cache), "--check"]) == 0
    (root / "bad.onnx").write_bytes(b"x")
    assert fetch_models.main(["--dir", str(tmp_path / "d"), "--url", f"{base}/bad.onnx"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sha256" in err[0]


def test_module_entry_point_runs(tmp_path, shared_data):
    """`python3 -m head_pose_ros.cli.fetch_models` (what a colcon workspace has) works and
    uses HEAD_POSE_MODEL_DIR; the command is declared in pyproject.toml [project.scripts]."""
    src = _shared_yunet(shared_data)
    env = {**os.environ, "HEAD_POSE_MODEL_DIR": str(tmp_path / "m")}
    r = subprocess.run([sys.executable, "-m", "head_pose_ros.cli.fetch_models", "--url",
                        src.as_uri()], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "m" / YUNET.filename).is_file()
    with (Path(__file__).resolve().parents[1] / "pyproject.toml").open("rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    assert scripts["head-pose-fetch-models"] == "head_pose_ros.cli.fetch_models:main"
    assert "head-pose-fetch-models" in model_files.FETCH_COMMAND
