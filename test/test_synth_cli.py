"""``head-pose-synth`` writes the labels.npz data-set format of issue 4 exactly."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("moderngl")


def test_cli_writes_labels(shared_data, tmp_path, monkeypatch):
    import cv2

    from head_pose_ros.synth import cli

    monkeypatch.setenv("HEAD_POSE_SHARED_DATA", str(shared_data))
    out = tmp_path / "ds"
    rc = cli.main([
        "--out", str(out), "--count", "3", "--seed", "7", "--preset", "robot",
        "--image-size", "200", "150", "--image-size", "160", "120",
        "--distance", "0.6", "1.0", "--multi-person", "1.0", "--yaw", "-30", "30",
    ])
    assert rc == 0
    d = np.load(out / "labels.npz")
    n = d["files"].shape[0]
    assert n >= 3 + 3  # every frame has >= 2 persons -> one row per person
    expected = {
        "files": ((n,), "U"), "image_size": ((n, 2), "i"), "K": ((n, 3, 3), "f"),
        "R": ((n, 3, 3), "f"), "T": ((n, 3), "f"), "vertices": ((n, 1220, 3), "f"),
        "landmarks68": ((n, 68, 2), "f"), "landmarks68_visible": ((n, 68), "b"),
        "bbox": ((n, 4), "f"),
    }
    assert set(d.files) == set(expected)  # exactly the keys of the data-set format
    for key, (shape, kind) in expected.items():
        assert d[key].shape == shape, key
        assert d[key].dtype.kind == kind, key
    assert set(np.unique(d["files"])) == {f"images/{i:08d}.jpg" for i in range(3)}
    for i in range(n):
        img = cv2.imread(str(out / d["files"][i]))
        assert img is not None
        assert (img.shape[1], img.shape[0]) == tuple(d["image_size"][i])
        assert tuple(d["image_size"][i]) in {(200, 150), (160, 120)}
    # metric labels: translations within the requested distance range (face centre depth)
    assert (d["T"][:, 2] > 0.5).all() and (d["T"][:, 2] < 1.2).all()
    np.testing.assert_allclose(np.einsum("nij,nkj->nik", d["R"], d["R"]), np.eye(3)[None].repeat(n, 0),
                               atol=1e-9)
    # rows of one frame share file and K; the primary person comes first (synth.json)
    import json

    meta = json.loads((out / "synth.json").read_text())
    frame, person = np.array(meta["frame"]), np.array(meta["person"])
    assert (person[frame == 0] == np.arange((frame == 0).sum())).all()
    for f in np.unique(frame):
        rows = np.nonzero(frame == f)[0]
        assert len(set(d["files"][rows])) == 1
        np.testing.assert_array_equal(d["K"][rows], d["K"][rows[:1]].repeat(len(rows), 0))
    assert meta["config"]["preset"] == "robot" and meta["config"]["seed"] == 7


def test_stream_shards_indices_over_workers(shared_data):
    from head_pose_ros.synth import SyntheticFaceStream, preset

    cfg = preset("robot", seed=3, crop_mode=True, image_sizes=[(160, 120)])
    stream = SyntheticFaceStream(cfg, start=10, count=4, data_root=shared_data, worker=(1, 2))
    got = list(stream)
    assert [s["index"] for s in got] == [11, 13]
    assert all(s["image"].shape == (192, 192, 3) for s in got)
    assert len(stream) == 4
