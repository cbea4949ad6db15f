# ruff: noqa: N806
"""The aflw_crops dataset's per-sample quality weight q acts in the loss (issue 21, item 6)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from head_pose_ros import geometry as geo
from head_pose_ros import losses as L  # noqa: N812
from head_pose_ros.data.aflw21 import AFLW21_VERTEX
from head_pose_ros.data.crop import LOSS_TERMS

K = np.array([[480.0, 0.0, 59.5], [0.0, 480.0, 59.5], [0.0, 0.0, 1.0]])


def _label_file(tmp_path: Path, topology, q: tuple[float, ...]) -> Path:
    """Identical teacher-fitted crops (status 1, mean face, frontal) that differ only in q."""
    n = len(q)
    V = topology.vertices.astype(np.float64)
    T = np.array([0.0, 0.0, 1.0])
    proj = geo.project_points(V + T, K)
    (tmp_path / "images").mkdir()
    names = [f"face{i}.jpg" for i in range(n)]
    for name in names:
        cv2.imwrite(str(tmp_path / "images" / name), np.full((120, 120, 3), 128, np.uint8))
    path = tmp_path / "labels.npz"
    np.savez(path, names=np.array(names), status=np.ones(n, np.int64),
             R=np.repeat(np.eye(3)[None], n, 0), T=np.repeat(T[None], n, 0),
             coeffs=np.zeros((n, 1)), lm68=np.repeat(proj[topology.landmarks68][None], n, 0),
             weight=np.asarray(q), pts21=np.repeat(proj[AFLW21_VERTEX][None], n, 0),
             visible21=np.ones((n, 21), bool), K=K, basis_mean=V,
             basis_modes=np.zeros((1, *V.shape)))
    return path


def _perfect_outputs(batch: dict) -> dict:
    v_cam = batch["vertices"] @ batch["R"].transpose(1, 2) + batch["T"][:, None]
    uv = v_cam @ batch["K_crop"].transpose(1, 2)
    return {"vertices_img": [uv[..., :2] / uv[..., 2:]]}


def test_low_quality_sample_contributes_less_to_the_aux2d_term(tmp_path, topology):
    """q multiplied the aux2d point weights, which aux2d_loss normalises per sample: a q = 0.2
    fit weighed as much as a q = 1 one. Now q is in the sample's loss_mask and the term weights
    samples by it: the same hand-landmark error costs 5x less on the q = 0.2 sample."""
    from head_pose_ros.data.aflw_crops import TEACHER_LOSS_MASK, AFLWCropsDataset

    q = (1.0, 0.2)
    ds = AFLWCropsDataset(tmp_path, _label_file(tmp_path, topology, q), topology, split="all",
                          out_size=128)
    samples = [ds[i] for i in range(len(ds))]
    for s, qi in zip(samples, q, strict=True):
        np.testing.assert_allclose(s["loss_mask"].numpy(), np.asarray(TEACHER_LOSS_MASK) * qi,
                                   rtol=1e-6)
    batch = {k: torch.stack([s[k] for s in samples]) for k in samples[0]}
    out = _perfect_outputs(batch)
    assert L.aux2d_loss(out, batch).item() == pytest.approx(0.0, abs=1e-4)  # labels consistent
    cost = []
    for i in range(len(q)):
        b = {**batch, "aux2d_crop": batch["aux2d_crop"].clone()}
        b["aux2d_crop"][i] += torch.tensor([3.0, 0.0])
        cost.append(L.aux2d_loss(out, b).item())
    assert cost[1] == pytest.approx(0.2 * cost[0], rel=1e-3)
    # the other terms already weighted by q through loss_mask (e.g. the sparse landmarks)
    lm = LOSS_TERMS.index("lmk2d")
    assert batch["loss_mask"][1, lm] == pytest.approx(0.2 * batch["loss_mask"][0, lm])
