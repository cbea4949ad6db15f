"""Tests for head_pose_ros.losses (each term separately, masks, weights)."""

from __future__ import annotations

import math

import pytest
import torch

from head_pose_ros import losses as L  # noqa: N812
from head_pose_ros.model import geometry_torch as gt

B, V = 3, 40


def rot_z(theta: float) -> torch.Tensor:
    c, s = math.cos(theta), math.sin(theta)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@pytest.fixture()
def batch():
    g = torch.Generator().manual_seed(0)
    verts = torch.randn(B, V, 3, generator=g) * 0.05
    R = torch.stack([rot_z(0.1 * i) for i in range(B)])  # noqa: N806
    T = torch.tensor([[0.0, 0.0, 0.8]] * B) + 0.05 * torch.randn(B, 3, generator=g)  # noqa: N806
    K_crop = torch.tensor([[[500.0, 0, 95.5], [0, 520.0, 95.5], [0, 0, 1]]] * B)  # noqa: N806
    lm = torch.rand(B, 68, 2, generator=g) * 192
    return {"vertices": verts, "R": R, "T": T, "K_crop": K_crop, "landmarks68_crop": lm,
            "has_3d": torch.ones(B, dtype=torch.bool), "has_lmk2d": torch.ones(B, dtype=torch.bool)}


def perfect_outputs(batch, n_iter=3):
    v = batch["vertices"]
    v_cam = gt.transform_points(v, batch["R"], batch["T"])
    v_img = gt.project_points(v_cam, batch["K_crop"])
    return {"vertices": [v.clone() for _ in range(n_iter)],
            "vertices_cam": [v_cam.clone() for _ in range(n_iter)],
            "vertices_img": [v_img.clone() for _ in range(n_iter)],
            "R": [batch["R"].clone() for _ in range(n_iter)],
            "landmarks68": batch["landmarks68_crop"].clone()}


EDGES = torch.tensor([[0, 1], [1, 2], [2, 0], [3, 4]])


def test_iteration_weights():
    assert L.iteration_weights(3) == [0.25, 0.5, 1.0]
    assert L.iteration_weights(2) == [0.5, 1.0]
    assert L.iteration_weights(1) == [1.0]


def test_perfect_prediction_is_zero(batch):
    total, terms = L.trg_loss(perfect_outputs(batch), batch, edges=EDGES)
    assert set(terms) == {"head", "cam", "img", "rot", "edge", "lmk2d"}
    assert total.item() == pytest.approx(0.0, abs=1e-5)


def test_head_and_cam_loss_values(batch):
    out = perfect_outputs(batch)
    # iteration t off by d_t mm in x only: L1 norm per vertex = d_t, coordinate mean = d_t / 3
    offs = [0.004, 0.002, 0.001]
    out["vertices"] = [batch["vertices"] + torch.tensor([d, 0.0, 0.0]) for d in offs]
    expected = 0.25 * 0.004 + 0.5 * 0.002 + 1.0 * 0.001
    assert L.head_loss(out, batch).item() == pytest.approx(expected / 3, rel=1e-5)
    assert L.head_loss(out, batch, "sum").item() == pytest.approx(expected, rel=1e-5)
    out["vertices_cam"] = [v + torch.tensor([0.0, d, d]) for v, d in
                           zip(out["vertices_cam"], offs, strict=True)]
    assert L.cam_loss(out, batch).item() == pytest.approx(2 * expected / 3, rel=1e-4)
    assert L.cam_loss(out, batch, "sum").item() == pytest.approx(2 * expected, rel=1e-4)
    # trg_loss uses LossWeights.coord_reduction
    _, terms = L.trg_loss(out, batch, L.LossWeights(coord_reduction="sum"), edges=EDGES)
    assert terms["head"].item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="coord_reduction"):
        L.LossWeights(coord_reduction="max")


def test_img_loss_value(batch):
    out = perfect_outputs(batch)
    out["vertices_img"] = [v + torch.tensor([3.0, -4.0]) for v in out["vertices_img"]]
    assert L.img_loss(out, batch).item() == pytest.approx(3.5 * 1.75, rel=1e-4)
    assert L.img_loss(out, batch, reduction="sum").item() == pytest.approx(7.0 * 1.75, rel=1e-4)


def test_rot_loss_frobenius(batch):
    out = perfect_outputs(batch)
    th = 0.3
    out["R"] = [r @ rot_z(th) for r in batch["R"].unsqueeze(0).expand(3, -1, -1, -1)]
    expected = 1.75 * 2 * math.sqrt(2) * math.sin(th / 2)
    assert L.rot_loss(out, batch).item() == pytest.approx(expected, rel=1e-5)
    # authors' form: MSE over the 9 entries = ||dR||_F^2 / 9
    fro = 2 * math.sqrt(2) * math.sin(th / 2)
    assert L.rot_loss(out, batch, "mse").item() == pytest.approx(1.75 * fro**2 / 9, rel=1e-5)
    _, terms = L.trg_loss(out, batch, L.LossWeights(rot_form="mse"), edges=EDGES)
    assert terms["rot"].item() == pytest.approx(1.75 * fro**2 / 9, rel=1e-5)
    with pytest.raises(ValueError, match="rot_form"):
        L.LossWeights(rot_form="geodesic")


def test_edge_loss_scaling(batch):
    out = perfect_outputs(batch)
    out["vertices"][-1] = batch["vertices"] * 1.1
    v = batch["vertices"]
    lengths = (v[:, EDGES[:, 0]] - v[:, EDGES[:, 1]]).norm(dim=-1)
    expected = (0.1 * lengths).mean().item()
    assert L.edge_loss(out, batch, EDGES).item() == pytest.approx(expected, rel=1e-5)
    # only the last iteration counts
    out["vertices"][0] = batch["vertices"] * 3.0
    assert L.edge_loss(out, batch, EDGES).item() == pytest.approx(expected, rel=1e-5)


def test_landmark2d_loss_and_mask(batch):
    out = perfect_outputs(batch)
    out["landmarks68"] = batch["landmarks68_crop"] + torch.tensor([1.0, 1.0])
    # normalised crop units (the authors' [-1, 1] crop coordinates): 1 px / 96 at 192 px
    assert L.landmark2d_loss(out, batch).item() == pytest.approx(1.0 / 96.0, rel=1e-5)
    assert L.landmark2d_loss(out, batch, reduction="sum").item() == pytest.approx(2.0 / 96.0,
                                                                                  rel=1e-5)
    assert L.landmark2d_loss(out, batch, crop_size=128).item() == pytest.approx(1.0 / 64.0,
                                                                                rel=1e-5)
    batch["image"] = torch.zeros(B, 3, 64, 64)
    assert L.landmark2d_loss(out, batch).item() == pytest.approx(1.0 / 32.0, rel=1e-5)
    batch["has_lmk2d"] = torch.tensor([False, False, False])
    val = L.landmark2d_loss(out, batch)
    assert val.item() == 0.0 and torch.isfinite(val)


def test_landmark2d_term_is_balanced_with_the_3d_terms(batch):
    """With the paper's weights, a typical 3 px landmark error must not outweigh a 3 mm dense
    landmark error by orders of magnitude (in crop pixels it did by ~60x)."""
    out = perfect_outputs(batch)
    out["landmarks68"] = batch["landmarks68_crop"] + 3.0
    out["vertices"] = [v + 0.003 for v in out["vertices"]]
    w = L.LossWeights()
    lmk = w.lmk2d * L.landmark2d_loss(out, batch).item()
    head = w.head * L.head_loss(out, batch).item()
    assert 0.1 < lmk / head < 10.0


def test_masks_exclude_2d_only_samples(batch):
    out = perfect_outputs(batch)
    # sample 0 is 2D-only and has garbage 3D labels: must not contribute to any 3D term
    batch["has_3d"] = torch.tensor([False, True, True])
    batch["vertices"] = batch["vertices"].clone()
    batch["vertices"][0] += 10.0
    batch["R"] = batch["R"].clone()
    batch["R"][0] = -batch["R"][0]
    total, terms = L.trg_loss(out, batch, edges=EDGES)
    for k in ("head", "cam", "img", "rot", "edge"):
        assert terms[k].item() == pytest.approx(0.0, abs=1e-5), k
    # with no 3D sample at all, 3D terms are 0 (no NaN) and the total still has a graph
    batch["has_3d"] = torch.zeros(B, dtype=torch.bool)
    out["landmarks68"] = (batch["landmarks68_crop"] + 1.0).requires_grad_(True)
    total, terms = L.trg_loss(out, batch, edges=EDGES)
    assert torch.isfinite(total)
    assert total.item() == pytest.approx(1.25 * 1.0 / 96.0, rel=1e-5)
    total.backward()
    assert out["landmarks68"].grad is not None


def test_img_loss_on_2d_only_samples_via_landmark_ids(batch):
    out = perfect_outputs(batch)
    ids = torch.arange(V)[:10].repeat(7)[:68]
    batch["has_3d"] = torch.tensor([False, True, True])
    # 2D labels of sample 0 = projected landmark vertices shifted by 2 px in u
    batch["landmarks68_crop"] = out["vertices_img"][-1][:, ids] + torch.tensor([2.0, 0.0])
    w = L.LossWeights(img_lmk2d_for_2d_only=True)
    val = L.img_loss(out, batch, ids, use_lmk2d_for_2d_only=True)
    assert val.item() == pytest.approx(1.75 * 1.0, rel=1e-4)
    _, terms = L.trg_loss(out, batch, w, edges=EDGES, landmark_ids=ids)
    assert terms["img"].item() == pytest.approx(1.75 * 1.0, rel=1e-4)
    assert L.img_loss(out, batch).item() == pytest.approx(0.0, abs=1e-4)


def test_total_is_weighted_sum_and_fewer_iterations(batch):
    out = perfect_outputs(batch, n_iter=2)
    out["vertices"] = [batch["vertices"] + 0.01, batch["vertices"] + 0.002]
    w = L.LossWeights()
    total, terms = L.trg_loss(out, batch, w, edges=EDGES)
    manual = sum(getattr(w, k) * v for k, v in terms.items())
    assert total.item() == pytest.approx(manual.item(), rel=1e-6)
    assert terms["head"].item() == pytest.approx(0.5 * 0.01 + 1.0 * 0.002, rel=1e-4)
    with pytest.raises(ValueError, match="edges"):
        L.trg_loss(out, batch, w)
    _, terms = L.trg_loss(out, batch, L.LossWeights(edge=0.0))
    assert "edge" not in terms


def test_masked_mean_is_a_weighted_mean_for_fractional_masks():
    """A fractional mask (e.g. a pseudo-label quality weight) gives sum(m x) / sum(m), also when
    sum(m) < 1 (dividing by max(sum, 1) halved a lone half-weight sample); no weight -> 0 with
    a graph."""
    x = torch.tensor([2.0, 100.0, 7.0], requires_grad=True)
    assert L.masked_mean(x, torch.tensor([0.5, 0.0, 0.0])).item() == pytest.approx(2.0)
    assert L.masked_mean(x, torch.tensor([0.5, 0.25, 0.0])).item() == pytest.approx(
        (1.0 + 25.0) / 0.75)
    assert L.masked_mean(x, torch.tensor([1.0, 0.0, 1.0])).item() == pytest.approx(4.5)
    zero = L.masked_mean(x, torch.zeros(3))
    assert zero.item() == 0.0
    zero.backward()
    assert x.grad is not None and torch.all(x.grad == 0)


def test_img_loss_on_2d_only_samples_honours_loss_mask_and_landmark_weights(batch):
    """The 2D-only branch of the image term weights samples by loss_mask's img column and
    landmarks by landmarks68_weight, as the other terms do."""
    out = perfect_outputs(batch)
    ids = torch.arange(V)[:10].repeat(7)[:68]
    batch["has_3d"] = torch.tensor([False, True, True])
    batch["landmarks68_crop"] = out["vertices_img"][-1][:, ids] + torch.tensor([2.0, 0.0])
    lm_w = torch.ones(B, 68)
    lm_w[0, 30:] = 0.0  # unlabelled landmarks of sample 0: garbage labels
    batch["landmarks68_crop"][0, 30:] += 500.0
    batch["landmarks68_weight"] = lm_w
    val = L.img_loss(out, batch, ids, use_lmk2d_for_2d_only=True)
    assert val.item() == pytest.approx(1.75 * 1.0, rel=1e-4)
    # a sample with every landmark weight 0 contributes nothing (no 0/0)
    batch["landmarks68_weight"] = torch.zeros(B, 68)
    assert L.img_loss(out, batch, ids, use_lmk2d_for_2d_only=True).item() == pytest.approx(
        0.0, abs=1e-6)
    # loss_mask switches the term off for sample 0
    batch["landmarks68_weight"] = lm_w
    mask = torch.ones(B, len(L.LOSS_TERMS))
    mask[0, L.LOSS_TERMS.index("img")] = 0.0
    batch["loss_mask"] = mask
    assert L.img_loss(out, batch, ids, use_lmk2d_for_2d_only=True).item() == pytest.approx(
        0.0, abs=1e-6)


def _aux_batch(batch, out, err_on: int, q: tuple[float, ...]):
    ids = torch.arange(21).repeat(B, 1)
    tgt = out["vertices_img"][-1][:, :21].clone()
    tgt[err_on] += torch.tensor([4.0, 0.0])
    w = torch.ones(B, 21)
    w[:, 12] = 0.3  # relative point weights (ear lobes)
    mask = torch.ones(B, len(L.LOSS_TERMS))
    mask[:, L.LOSS_TERMS.index("lmk2d")] = torch.tensor(q)
    return {**batch, "aux2d_ids": ids, "aux2d_crop": tgt, "aux2d_weight": w, "loss_mask": mask}


def test_aux2d_loss_weights_samples_by_their_quality(batch):
    """A low-quality sample (loss_mask lmk2d column, e.g. a teacher fit's weight q) contributes
    less than a high-quality one with the same error; point weights stay relative."""
    out = perfect_outputs(batch)
    q = (1.0, 0.2, 1.0)
    on_good = L.aux2d_loss(out, _aux_batch(batch, out, 0, q)).item()
    on_bad = L.aux2d_loss(out, _aux_batch(batch, out, 1, q)).item()
    assert on_good == pytest.approx(1.75 * 2.0 / 96 / 2.2, rel=1e-4)
    assert on_bad == pytest.approx(0.2 * on_good, rel=1e-4)
