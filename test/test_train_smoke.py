"""Smoke test: train a few CPU steps on generated data, resume, evaluate with head-pose-eval.

Data: the synthetic engine on the fly (crop mode) when headless OpenGL works here, else the
OpenCV-drawn toy faces (the test says which in its output).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from head_pose_ros import metrics as hm

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config" / "train"


def _gl_reason() -> str | None:
    try:
        import moderngl

        moderngl.create_standalone_context(backend="egl").release()
    except Exception as e:  # noqa: BLE001
        return str(e)
    return None


def test_train_resume_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from head_pose_ros.checkpoint import read_checkpoint_metadata
    from head_pose_ros.train.cli import main as train_main
    from head_pose_ros.train.evaluate import main as eval_main

    use_engine = _gl_reason() is None
    cfg = tmp_path / "smoke_engine.yaml"
    if use_engine:
        ov = "{crop_mode: true, crop_size: 128, crop_scale: [2.0, 2.0]}"
        cfg.write_text(
            f"_base_: {CONFIG_DIR / 'smoke.yaml'}\n"
            "data:\n  train:\n"
            f"    - {{type: synth_stream, preset: wild, length: 16, seed: 0, overrides: {ov}}}\n"
            "  val:\n"
            f"    - {{type: synth_stream, preset: robot, length: 4, seed: 7, overrides: {ov}}}\n")
    else:
        cfg.write_text(f"_base_: {CONFIG_DIR / 'smoke.yaml'}\n")
    print("smoke data:", "synthetic engine" if use_engine else "toy faces (no headless GL)")
    out = tmp_path / "run"
    args = ["--config", str(cfg), f"run.out_dir={out}", "run.max_steps=3", "run.batch_size=4"]
    assert train_main(args) == 0
    for f in ("config.yaml", "last.safetensors", "last_state.pt", "model.safetensors"):
        assert (out / f).is_file(), f
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(out / "tb"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for t in ("loss/total", "loss/head", "loss/rot", "loss/lmk2d", "loss_iter1/head",
              "loss_iter3/rot", "lr", "time/samples_per_s", "val/robot/mae_r" if use_engine
              else "val/toy/mae_r"):
        assert t in tags, (t, sorted(tags))
    assert acc.Tags()["images"] == ["samples"]
    st = torch.load(out / "last_state.pt", weights_only=True)
    assert st["step"] == 3 and "optimizer" in st and "scheduler" in st
    meta = read_checkpoint_metadata(out / "last.safetensors")["meta"]["training"]
    assert meta["step"] == 3 and meta["config"]["run"]["max_steps"] == 3
    assert meta["data"]["train"][0]["len"] == (16 if use_engine else 64)
    capsys.readouterr()

    # resume: continues at step 3, stops at 5, with the same optimizer state carried over
    assert train_main(args[:-2] + ["run.max_steps=5", "run.batch_size=4"]) == 0
    log = capsys.readouterr().out
    assert "resumed from" in log and "at step 3" in log
    assert "step 4 epoch" in log and "step 5 epoch" in log  # progress off: one line per log
    st2 = torch.load(out / "last_state.pt", weights_only=True)
    assert st2["step"] == 5
    assert int(st2["optimizer"]["state"][0]["step"]) == 5

    # evaluate the trained weights with the CLI on a small on-disk set
    if use_engine:
        from head_pose_ros.synth.cli import main as synth_main

        data = tmp_path / "robot"
        assert synth_main(["--out", str(data), "--count", "3", "--seed", "5",
                           "--preset", "robot"]) in (0, None)
        fmt = "synthetic"
    else:
        from test_data_synthetic import write_npz_dir

        from head_pose_ros.data.synthetic import ToyDataset
        from head_pose_ros.topology import load_arkit1220

        topo = load_arkit1220()
        toy = ToyDataset(topo, seed=5, length=3)
        data = tmp_path / "toy"
        write_npz_dir(data, [toy.load(i) for i in range(3)], topo.landmarks68)
        fmt = "synthetic"
    js = tmp_path / "eval.json"
    plots = tmp_path / "plots"
    rc = eval_main(["--weights", str(out / "model.safetensors"), "--data", str(data),
                    "--format", fmt, "--json", str(js), "--plots", str(plots), "--device", "cpu"])
    assert rc == 0
    table = capsys.readouterr().out
    assert "MAE_r" in table and "ADD" in table
    res = json.loads(js.read_text())
    assert list(res)[: len(hm.SUMMARY_KEYS)] == list(hm.SUMMARY_KEYS)
    assert res["n"] == 3 and res["n_failed"] == 0 and res["n_missed"] == 0
    for k in hm.SUMMARY_KEYS:
        assert isinstance(res[k], float), k
    assert res["face_size_error"] is not None
    for f in ("error_vs_distance.png", "error_vs_yaw.png", "cumulative_errors.png"):
        assert (plots / f).stat().st_size > 1000
