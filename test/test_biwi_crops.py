"""real/biwi_crops: split by sequence and person, rotation-only supervision, the crop-box
constants tied to the file they were measured into, the evaluation format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from head_pose_ros.data import biwi_crops as bc

REPO = Path(__file__).resolve().parents[1]


def test_box_constants_match_their_measurement_file() -> None:
    rec = json.loads((REPO / "docs" / "results" / "biwi_box.json").read_text())
    assert rec["split"] == "train"
    assert rec["geometry"] == bc.DLIB_BOX_GEOMETRY


def test_split_keeps_each_person_on_one_side() -> None:
    bc.check_split()
    with pytest.raises(ValueError, match="one person"):
        bc.check_split(("07", "10"))  # 07 without 22


def test_crop_box_rule() -> None:
    g = {"ratio": 1.1, "dx": 0.05, "dy": -0.1}
    np.testing.assert_allclose(bc.crop_box(100, 100, g), [49.5 + 5.0, 49.5 - 10.0, 110.0])


def test_dataset_split_and_rotation_only_labels(shared_data: Path, topology) -> None:
    root = shared_data / "real" / "biwi_crops"
    if not (root / "labels.npz").is_file():
        pytest.skip("real/biwi_crops missing")
    tr = bc.BIWICropsDataset(root, topology, split="train", out_size=128)
    va = bc.BIWICropsDataset(root, topology, split="val", out_size=128)
    seq_tr = {tr.sequence(i) for i in range(len(tr))}
    seq_va = {va.sequence(i) for i in range(len(va))}
    assert seq_va == set(bc.VAL_SEQUENCES) and not seq_tr & seq_va
    assert len(tr) + len(va) == len(bc.BIWICropsDataset(root, topology, split="all"))
    s = va[0]
    np.testing.assert_array_equal(s["loss_mask"].numpy(), bc.ROTATION_ONLY_LOSS_MASK)
    i = int(va.index[0])
    np.testing.assert_allclose(s["R"].numpy(), va.lab["R"][i], atol=1e-6)
    assert s["image"].shape == (3, 128, 128)
    assert va.mesh_labels is False and va.metric_translation is False


def test_eval_format_scores_rotation_by_yaw(shared_data: Path, tmp_path: Path) -> None:
    root = shared_data / "real" / "biwi_crops"
    weights = REPO / "weights" / "head_pose_trg.safetensors"
    if not (root / "labels.npz").is_file() or not weights.is_file():
        pytest.skip("real/biwi_crops or the shipped model missing")
    from head_pose_ros.train.evaluate import main

    out = tmp_path / "biwi.json"
    assert main(["--weights", str(weights), "--format", "biwi_crops", "--data", str(root),
                 "--limit", "40", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["n"] == 40 and res["mae_r"] is not None
    assert res["mae_t"] is None and res["lmk_mean"] is None  # no metric T, no mesh labels
    assert sum(b["n"] for b in res["by_yaw"].values()) == 40
