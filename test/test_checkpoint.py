"""Checkpoint round trip / refusal and the head-pose-info CLI."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import small_config

from head_pose_ros.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_weights_into,
    read_checkpoint_metadata,
    save_checkpoint,
)
from head_pose_ros.model import TRG
from head_pose_ros.model.toy import make_batch


@pytest.fixture(scope="module")
def model(topology):
    torch.manual_seed(0)
    m = TRG(small_config(), topology)
    # non-trivial BN statistics
    m.train()
    b = make_batch(topology, 2, seed=0)
    with torch.no_grad():
        m(b["image"], b["K_crop"], b["bbox_info"], b["box"], b["K"])
    return m.eval()


def outputs(m, b):
    with torch.inference_mode():
        return m(b["image"], b["K_crop"], b["bbox_info"], b["box"], b["K"])


def test_round_trip(tmp_path, model, topology):
    meta = {"training": {"dataset": "toy", "samples": 2}, "covariance": {"depth_rel": 0.03}}
    p = save_checkpoint(tmp_path / "m.safetensors", model, meta)
    assert p.read_bytes()[:8] != b"\x80\x02\x8a\nl\xfc\x9cF"  # not a pickle
    loaded, info = load_checkpoint(p)
    assert info["meta"] == meta
    assert info["config"] == model.config.to_dict()
    assert info["topology_name"] == "arkit1220"
    assert not loaded.training
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    t = loaded.topology()
    assert (t.triangles == topology.triangles).all() and (t.subsample == topology.subsample).all()
    b = make_batch(topology, 2, seed=5)
    a, c = outputs(model, b), outputs(loaded, b)
    assert torch.equal(a["T"][-1], c["T"][-1]) and torch.equal(a["vertices"][-1], c["vertices"][-1])
    assert read_checkpoint_metadata(p)["meta"]["training"]["samples"] == 2


def test_fp16_round_trip(tmp_path, model, topology):
    p = save_checkpoint(tmp_path / "h.safetensors", model, fp16=True)
    full = save_checkpoint(tmp_path / "f.safetensors", model)
    assert p.stat().st_size < 0.6 * full.stat().st_size
    loaded, info = load_checkpoint(p)
    assert info["dtype"] == "float16"
    assert loaded.template.dtype == torch.float32
    assert torch.equal(loaded.template, model.template)  # topology kept in float32
    b = make_batch(topology, 2, seed=6)
    a, c = outputs(model, b), outputs(loaded, b)
    torch.testing.assert_close(c["T"][-1], a["T"][-1], atol=2e-3, rtol=1e-2)


def test_refuses_missing_corrupt_and_foreign(tmp_path, model):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors")
    p = save_checkpoint(tmp_path / "m.safetensors", model)
    raw = p.read_bytes()
    trunc = tmp_path / "trunc.safetensors"
    trunc.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="corrupt|not a readable"):
        load_checkpoint(trunc)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_checkpoint(junk)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a head_pose_ros TRG checkpoint"):
        load_checkpoint(foreign)


def _rewrite(path, out, mutate_tensors=None, mutate_meta=None):
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    if mutate_tensors:
        mutate_tensors(tensors)
    if mutate_meta:
        mutate_meta(meta)
    save_file(tensors, str(out), metadata=meta)
    return out


def test_refuses_mismatched(tmp_path, model):
    p = save_checkpoint(tmp_path / "m.safetensors", model)

    def drop(t):
        del t["regressors.2.out.weight"]

    with pytest.raises(CheckpointError, match=r"missing keys \['regressors.2.out.weight'\]"):
        load_checkpoint(_rewrite(p, tmp_path / "a.safetensors", drop))

    def extra(t):
        t["something.else"] = torch.zeros(1)

    with pytest.raises(CheckpointError, match="unexpected keys"):
        load_checkpoint(_rewrite(p, tmp_path / "b.safetensors", extra))

    def reshape(t):
        t["heatmap.weight"] = torch.zeros(68, 16, 1, 1)

    with pytest.raises(CheckpointError, match="mismatched shapes: \\['heatmap.weight"):
        load_checkpoint(_rewrite(p, tmp_path / "c.safetensors", reshape))

    def nan(t):
        t["deconv.0.0.weight"][0, 0, 0, 0] = float("nan")

    with pytest.raises(CheckpointError, match="non-finite"):
        load_checkpoint(_rewrite(p, tmp_path / "d.safetensors", nan))

    def bad_cfg(m):
        cfg = json.loads(m["config"])
        cfg["regressor_hidden"] = 64
        m["config"] = json.dumps(cfg)

    with pytest.raises(CheckpointError, match="mismatched shapes"):
        load_checkpoint(_rewrite(p, tmp_path / "e.safetensors", mutate_meta=bad_cfg))

    def bad_json(m):
        m["config"] = "{not json"

    with pytest.raises(CheckpointError, match="corrupt JSON"):
        load_checkpoint(_rewrite(p, tmp_path / "f.safetensors", mutate_meta=bad_json))

    # loading into a model of another shape
    other = TRG(small_config(regressor_hidden=64), model.topology())
    with pytest.raises(CheckpointError, match="mismatched shapes"):
        load_weights_into(other, p)
    same = TRG(small_config(), model.topology())
    load_weights_into(same, p)
    assert torch.equal(same.regressors[0].out.weight, model.regressors[0].out.weight)


def test_info_cli(tmp_path, model, shared_data, capsys):
    from head_pose_ros.cli.info import main

    assert main(["--json", "--topology-dir", str(shared_data)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["weights"] is None
    assert abs(info["parameters"]["total"] - 37.6e6) / 37.6e6 < 0.03
    assert info["topology"]["num_vertices"] == 1220
    p = save_checkpoint(tmp_path / "m.safetensors", model, {"training": {"dataset": "toy"}})
    assert main(["--weights", str(p)]) == 0
    text = capsys.readouterr().out
    assert "regressors" in text and "arkit1220" in text and "toy" in text
    assert main(["--weights", str(tmp_path / "missing.safetensors")]) == 2
    assert "does not exist" in capsys.readouterr().err
