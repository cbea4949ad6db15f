"""The one dataset registry (issue 19 item 4): every type has a loader and its protocol facts,
training and ``head-pose-eval`` build the same datasets from one spec, training refuses the
evaluation-only types (AFLW2000, BIWI), and ``head-pose-eval --config`` scores a run's val sets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from head_pose_ros.data import registry as reg
from head_pose_ros.data.factory import DATASET_TYPES, DatasetSpec, build_dataset
from head_pose_ros.train import evaluate as ev

# (Euler convention, metric T, default boxes, --boxes detector, K guessed, eval only): the
# facts head-pose-eval used before the registry (its if-chain and run_eval's special cases)
FACTS = {
    "synth_stream": ("trg", True, "protocol", False, False, False),
    "synth_npz": ("trg", True, "protocol", False, False, False),
    "arkitface": ("trg", True, "protocol", False, False, False),
    "w300lp": ("trg", True, "protocol", False, False, False),
    "aflw_crops": ("trg", False, "protocol", False, False, False),
    "biwi_crops": ("trg", False, "protocol", False, False, False),
    "toy": ("trg", True, "protocol", False, False, False),
    "biwi": ("trg", True, "detector", True, False, True),
    "aflw2000": ("aflw", False, "protocol", True, True, True),
}
TINY_MODEL = {"backbone": "mobilenet", "backbone_width": 0.25, "input_size": 96,
              "feature_channels": 16, "point_mlp_hidden": [8, 8], "grid_size": 6,
              "regressor_hidden": 32}


def test_every_type_has_a_loader_and_its_facts() -> None:
    assert set(reg.REGISTRY) == set(FACTS)
    for name, info in reg.REGISTRY.items():
        assert info.name == name and callable(info.loader), name
        got = (info.convention, info.metric_translation, info.default_boxes,
               info.detector_boxes, info.guess_intrinsics, info.eval_only)
        assert got == FACTS[name], name
        assert info.default_boxes in info.box_sources, name
        assert name in reg.__doc__, f"{name} missing from the registry's table"
    assert reg.lookup("synthetic") is reg.REGISTRY["synth_npz"]
    assert reg.REGISTRY["aflw2000"].protocol_boxes.startswith("the dataset's 68 labelled 2D")
    assert "dlib crop" in reg.REGISTRY["biwi_crops"].protocol_boxes
    assert reg.REGISTRY["synth_stream"].protocol_boxes == ev.GT_MESH_BOXES


def test_train_and_eval_names_come_from_the_registry() -> None:
    assert DATASET_TYPES == ("synth_stream", "synth_npz", "arkitface", "w300lp", "aflw_crops",
                             "biwi_crops", "toy")
    assert "aflw2000" not in DATASET_TYPES and "biwi" not in DATASET_TYPES
    old = ("synthetic", "synth_stream", "arkitface", "biwi", "biwi_crops", "aflw2000",
           "aflw_crops")
    assert set(old) <= set(ev.FORMATS) and set(DATASET_TYPES) <= set(ev.FORMATS)
    assert ev.DETECTOR_FORMATS == ("biwi", "aflw2000")
    fmt = next(a for a in ev.build_parser()._actions if a.dest == "format")
    assert tuple(fmt.choices) == ev.FORMATS


def test_metric_translation_is_the_dataset_classes() -> None:
    """The trainer's validation reads the class attribute, head-pose-eval the registry: the
    same for every training type."""
    from head_pose_ros.data.aflw_crops import AFLWCropsDataset
    from head_pose_ros.data.biwi_crops import BIWICropsDataset
    from head_pose_ros.data.public import ARKitFaceDataset, W300LPDataset
    from head_pose_ros.data.synthetic import SynthNpzDataset, SynthStreamDataset, ToyDataset

    classes = {"synth_stream": SynthStreamDataset, "synth_npz": SynthNpzDataset,
               "arkitface": ARKitFaceDataset, "w300lp": W300LPDataset,
               "aflw_crops": AFLWCropsDataset, "biwi_crops": BIWICropsDataset, "toy": ToyDataset}
    assert set(classes) == set(DATASET_TYPES)
    for name, cls in classes.items():
        assert reg.REGISTRY[name].metric_translation is cls.metric_translation, name


@pytest.mark.parametrize("kind", ["aflw2000", "biwi"])
def test_training_refuses_evaluation_data(kind: str, tmp_path: Path) -> None:
    for spec in ({"type": kind, "root": str(tmp_path)}, DatasetSpec(type=kind, root="x")):
        with pytest.raises(ValueError, match="evaluation data"):
            build_dataset(spec, None, None)  # refused before the topology or root is read


def test_training_errors_unchanged() -> None:
    with pytest.raises(ValueError, match="unknown dataset type 'nope'"):
        build_dataset({"type": "nope"}, None, None)
    with pytest.raises(ValueError, match="'synth_npz' needs a root directory"):
        build_dataset({"type": "synth_npz"}, None, None)
    with pytest.raises(ValueError, match="needs labels"):
        build_dataset({"type": "aflw_crops", "root": "x"}, None, None)


def test_single_spec_keeps_the_cli_meaning() -> None:
    assert reg.single_spec("biwi_crops", "/d")["split"] == "val"  # --split test = held out
    assert reg.single_spec("aflw_crops", "/d", split="all")["split"] == "all"
    assert reg.single_spec("arkitface", "/d")["split"] == "test"
    s = reg.single_spec("synth_stream", "robot", length=7, seed=3)
    assert (s["preset"], s["length"], s["seed"]) == ("robot", 7, 3)
    assert reg.single_spec("synthetic", "/d")["type"] == "synth_npz"
    assert "seed" not in reg.single_spec("aflw2000", "/d")  # only generated sets are seeded


def _same_items(a, b, n: int) -> None:
    assert type(a) is type(b) and len(a) == len(b)
    for i in range(n):
        sa, sb = a[i], b[i]
        assert sa.keys() == sb.keys()
        for k in sa:
            if isinstance(sa[k], torch.Tensor):
                torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=0, msg=k)


def test_train_and_eval_build_the_same_dataset(topo, tmp_path: Path) -> None:
    from test_data_synthetic import write_npz_dir

    from head_pose_ros.data.synthetic import ToyDataset

    toy = {"type": "toy", "length": 3, "seed": 4}
    a = build_dataset(toy, topo, None, out_size=64, box_scale=1.4, seed=2)
    b = reg.load_dataset(toy, topo, None, reg.LoadOptions(out_size=64, box_scale=1.4, seed=2,
                                                          scoring=True))
    assert a.seed == b.seed == 6 and a.box_scale == b.box_scale == 1.4
    _same_items(a, b, 3)
    write_npz_dir(tmp_path / "npz", [ToyDataset(topo, length=2).load(i) for i in range(2)],
                  topo.landmarks68)
    npz = DatasetSpec(type="synth_npz", root=str(tmp_path / "npz"))
    cli = reg.single_spec("synthetic", tmp_path / "npz")
    _same_items(build_dataset(npz, topo, None, out_size=64),
                reg.load_dataset(cli, topo, None, reg.LoadOptions(out_size=64)), 2)


def _run(tmp_path: Path, topo, val: list[dict]) -> tuple[Path, Path]:
    """A run directory as the trainer leaves it (config.yaml) + a tiny checkpoint."""
    from omegaconf import OmegaConf

    from head_pose_ros.checkpoint import save_checkpoint
    from head_pose_ros.model.config import ModelConfig
    from head_pose_ros.model.trg import build_model
    from head_pose_ros.train.config import load_config, save_config

    run = tmp_path / "run"
    src = tmp_path / "train.yaml"
    src.write_text(OmegaConf.to_yaml({"model": TINY_MODEL, "data": {"val": val},
                                      "run": {"seed": 1, "out_dir": str(run)}}))
    save_config(load_config(src), run / "config.yaml")
    w = save_checkpoint(run / "model.safetensors",
                        build_model(ModelConfig(**{**TINY_MODEL, "point_mlp_hidden": (8, 8)}),
                                    topo))
    return run, w


def test_eval_config_scores_the_runs_val_sets(tmp_path: Path, topo) -> None:
    from head_pose_ros.checkpoint import load_checkpoint

    val = [{"type": "toy", "length": 3, "seed": 7}, {"type": "toy", "length": 2, "seed": 8}]
    run, w = _run(tmp_path, topo, val)
    js = tmp_path / "val.json"
    assert ev.main(["--config", str(run), "--weights", str(w), "--json", str(js),
                    "--device", "cpu"]) == 0
    r = json.loads(js.read_text())
    assert list(r) == ["toy", "toy_1"]  # the trainer's set names
    assert (r["toy"]["n"], r["toy_1"]["n"]) == (3, 2)
    assert r["toy"]["seed"] == 8 and r["toy_1"]["seed"] == 9  # spec seed + run.seed
    assert r["toy"]["config"] == str(run / "config.yaml") and r["toy"]["boxes"] == "protocol"
    # the figures of the trainer's validation of the same set (build_dataset, run seed)
    model, _ = load_checkpoint(w, device=torch.device("cpu"))
    ds = build_dataset(DatasetSpec(**val[0]), topo, None, out_size=96, seed=1)
    ref = ev.evaluate_dataset(model, ds, device=torch.device("cpu"),
                              has_translation=ds.metric_translation).summary
    for k in ("mae_r", "ge", "mae_t", "add", "lmk_mean"):
        assert r["toy"][k] == pytest.approx(ref[k], rel=1e-9, abs=1e-9), k
    # a YAML works as well as the run directory
    assert ev.run_eval(ev.build_parser().parse_args(
        ["--config", str(run / "config.yaml"), "--weights", str(w), "--device", "cpu",
         "--limit", "1"]))["toy"]["n"] == 1


def test_eval_config_refuses_evaluation_data_and_bad_arguments(tmp_path: Path, topo,
                                                              capsys) -> None:
    run, w = _run(tmp_path, topo, [{"type": "aflw2000", "root": str(tmp_path)}])
    assert ev.main(["--config", str(run), "--weights", str(w), "--device", "cpu"]) == 2
    assert "evaluation data" in capsys.readouterr().err
    assert ev.main(["--config", str(tmp_path / "none"), "--weights", str(w)]) == 2
    assert "no training config" in capsys.readouterr().err
    for argv in (["--weights", str(w)], ["--weights", str(w), "--config", str(run), "--data",
                                         "x"]):
        with pytest.raises(SystemExit) as e:
            ev.main(argv)
        assert e.value.code == 2


def test_eval_cli_synthetic_json_unchanged(tmp_path: Path, topo) -> None:
    """``--format synthetic`` states what it stated before the registry."""
    from test_data_synthetic import write_npz_dir

    from head_pose_ros.data.synthetic import ToyDataset

    run, w = _run(tmp_path, topo, [{"type": "toy", "length": 1}])
    data = tmp_path / "npz"
    write_npz_dir(data, [ToyDataset(topo, length=2).load(i) for i in range(2)], topo.landmarks68)
    js = tmp_path / "s.json"
    assert ev.main(["--weights", str(w), "--data", str(data), "--json", str(js),
                    "--device", "cpu"]) == 0
    r = json.loads(js.read_text())
    assert (r["format"], r["boxes"], r["box_source"]) == ("synthetic", "protocol",
                                                          ev.GT_MESH_BOXES)
    assert r["rotation_convention"] == "trg" and r["n"] == 2 and r["mae_t"] is not None
    assert not {"split", "seed", "labels", "n_dropped_protocol"} & set(r)
    assert np.isfinite(r["mae_r"])
