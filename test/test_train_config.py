"""The training configuration system: structured defaults, YAML with _base_, CLI overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from head_pose_ros.train.cli import main as train_main
from head_pose_ros.train.config import TrainConfig, load_config, save_config, to_object

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config" / "train"
EXPECTED = ("synthetic_default", "selfie", "ablation_iter1", "ablation_iter2",
            "ablation_direct_T", "ablation_grid", "arkitface_300wlp", "smoke")


def test_defaults_are_the_paper() -> None:
    c = to_object(load_config())
    assert isinstance(c, TrainConfig)
    assert c.optim.lr == 1e-4 and c.optim.lr_gamma == 0.1
    assert c.optim.lr_drop_fraction == pytest.approx(2 / 3)
    assert (c.loss.head, c.loss.cam, c.loss.img, c.loss.rot, c.loss.edge, c.loss.lmk2d) == (
        20.0, 2.0, 0.01, 10.0, 2.0, 1.25)
    assert c.model.num_iterations == 3 and c.model.translation_mode == "correction"


@pytest.mark.parametrize("name", EXPECTED)
def test_shipped_configs_load(name: str) -> None:
    c = to_object(load_config(CONFIG_DIR / f"{name}.yaml"))
    if name.startswith("ablation") or name == "selfie":
        assert c.data.train[0].preset == "selfie"
        assert [v.preset for v in c.data.val] == ["selfie", "robot"]
    expect = {"ablation_iter1": ("num_iterations", 1), "ablation_iter2": ("num_iterations", 2),
              "ablation_direct_T": ("translation_mode", "direct"),
              "ablation_grid": ("sampling", "grid")}
    if name in expect:
        key, val = expect[name]
        assert getattr(c.model, key) == val
        base = to_object(load_config(CONFIG_DIR / "selfie.yaml"))
        # an ablation changes only its own model key and the output directory
        for f in ("num_iterations", "translation_mode", "sampling", "backbone"):
            if f != key:
                assert getattr(c.model, f) == getattr(base.model, f)
        assert c.run.epochs == base.run.epochs and c.run.out_dir != base.run.out_dir


def test_overrides_and_errors(tmp_path: Path) -> None:
    cfg = load_config(CONFIG_DIR / "smoke.yaml",
                      ["run.epochs=7", "model.num_iterations=2", "data.train.0.length=5",
                       "data.augment.flip_prob=0.0"])
    c = to_object(cfg)
    assert (c.run.epochs, c.model.num_iterations, c.data.train[0].length) == (7, 2, 5)
    assert c.data.augment.flip_prob == 0.0
    p = save_config(cfg, tmp_path / "run" / "config.yaml")
    again = to_object(load_config(p))
    assert OmegaConf.structured(again) == OmegaConf.structured(c)
    with pytest.raises(OmegaConfBaseException):
        load_config(CONFIG_DIR / "smoke.yaml", ["model.no_such_key=1"])
    with pytest.raises(OmegaConfBaseException):
        load_config(CONFIG_DIR / "smoke.yaml", ["run.epochs=many"])
    with pytest.raises(ValueError):
        load_config(CONFIG_DIR / "smoke.yaml", ["model.num_iterations=4"])
    with pytest.raises(ValueError):
        load_config(CONFIG_DIR / "smoke.yaml", ["run.epochs"])
    # _base_ chains resolve relative to the file
    child = tmp_path / "child.yaml"
    child.write_text(f"_base_: {CONFIG_DIR / 'ablation_grid.yaml'}\nrun:\n  epochs: 3\n")
    c = to_object(load_config(child))
    assert c.model.sampling == "grid" and c.run.epochs == 3
    assert c.data.train[0].preset == "selfie"


def test_cli_print_and_invalid(capsys: pytest.CaptureFixture) -> None:
    assert train_main(["--config", str(CONFIG_DIR / "smoke.yaml"), "--print-config",
                       "run.seed=42"]) == 0
    assert "seed: 42" in capsys.readouterr().out
    assert train_main(["--config", str(CONFIG_DIR / "smoke.yaml"), "model.bogus=1"]) == 2
