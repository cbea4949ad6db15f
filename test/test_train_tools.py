"""Training tools of issue 21: the validation curve, the training-step bench, the sigma probe's
degradations, and the trainer's validation history (with a rotation-uncertainty model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from head_pose_ros.train import curve
from head_pose_ros.train.sigma_probe import CONDITIONS, degrade

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config" / "train"


def _history(path: Path, rows: list[tuple[int, float]]) -> Path:
    path.write_text("".join(json.dumps({"step": s, "val": {"biwi": {
        "mae_r": m, "by_yaw": {"0-30": m - 1, "60-90": m + 2}}}}) + "\n" for s, m in rows))
    return path


def test_curve_flat_rule_and_resumed_steps(tmp_path: Path) -> None:
    h = _history(tmp_path / "h.jsonl", [(500, 4.0), (1000, 3.5), (1000, 3.4), (1500, 3.35),
                                       (2000, 3.33)])
    c = curve.curve(curve.read_history(h), window=3, tol=0.1)
    assert c["steps"] == [500, 1000, 1500, 2000]  # the resumed run's repeat of 1000 replaced
    assert c["sets"]["biwi"]["mae_r"] == [4.0, 3.4, 3.35, 3.33]
    assert c["sets"]["biwi"]["flat"] is True
    assert c["sets"]["biwi"]["by_yaw"]["60-90"] == [6.0, 5.4, 5.35, 5.33]
    c = curve.curve(curve.read_history(h), window=3, tol=0.05)
    assert c["sets"]["biwi"]["flat"] is False
    assert curve.main(["--history", str(h), "--plot", str(tmp_path / "c.png"),
                       "--json", str(tmp_path / "c.json")]) == 0
    assert (tmp_path / "c.png").stat().st_size > 0
    (tmp_path / "e.jsonl").write_text("")
    assert curve.main(["--history", str(tmp_path / "e.jsonl")]) == 2


def test_sigma_probe_degradations() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(degrade(x, "clean"), x)
    b = degrade(x, "blur")
    assert b.shape == x.shape and b.std() < 0.6 * x.std()
    o = degrade(x, "occlusion")
    assert torch.all(o[..., 32:, :32] == 0) and torch.equal(o[..., :32, :], x[..., :32, :])
    s = degrade(x, "small")
    assert s.shape == x.shape and s.std() < 0.6 * x.std()
    n = degrade(x, "noise")
    assert 0.4 < float((n - x).std()) < 0.56
    assert set(CONDITIONS) == {"clean", "blur", "occlusion", "small", "noise"}
    with pytest.raises(ValueError):
        degrade(x, "fog")


def test_train_step_bench_and_val_history_with_the_uncertainty_head(tmp_path: Path) -> None:
    from head_pose_ros.bench.train_step import main as bench
    from head_pose_ros.train.cli import main as train

    out = tmp_path / "bench.json"
    assert bench(["--config", str(CONFIG_DIR / "smoke.yaml"), "--steps", "1", "--json",
                  str(out), "model.rotation_uncertainty=true"]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 5 and rows[0]["ratio_to_trainer"] == 1.0
    assert all(r["ms_per_step"] > 0 for r in rows)
    run = tmp_path / "run"
    assert train(["--config", str(CONFIG_DIR / "smoke.yaml"), f"run.out_dir={run}",
                  "model.rotation_uncertainty=true", "run.val_every=3",
                  "run.channels_last=true"]) == 0
    hist = curve.read_history(run / "val_history.jsonl")
    assert [r["step"] for r in hist] == [3, 6]
    assert "by_yaw" in hist[0]["val"]["toy"] and hist[0]["val"]["toy"]["mae_r"] is not None
