"""TRG losses (paper §3.5, Eqs. 4-7), each a separate function.

Conventions: ``outputs`` is the dict of :meth:`head_pose_ros.model.TRG.forward`; ``batch`` is the
collated sample dict of the datasets (``R`` (B,3,3), ``T`` (B,3), ``vertices`` (B,V,3) head frame,
``K_crop`` (B,3,3), ``landmarks68_crop`` (B,68,2), ``has_3d`` (B,), ``has_lmk2d`` (B,)).

* Per-vertex distances follow the paper's formulas: the L1 norm of the coordinate difference
  of each vertex (sum over x, y(, z)), averaged over vertices, then averaged over the valid
  samples of the batch (masked mean; a batch with no valid sample contributes 0).
* Iteration weights ``2^(t - n)`` for t = 1..n (n = number of iterations; 0.25, 0.5, 1 for 3).
* Masks: ``has_3d`` gates the head / camera / image / rotation / edge terms (they need the GT
  mesh and pose); ``has_lmk2d`` gates the sparse 2D landmark term on the heatmap landmarks.
  For 2D-only samples (300W-LP style) the paper uses only the sparse 2D landmark loss; optionally
  (``LossWeights.img_lmk2d_for_2d_only``) the image-space term is also applied to the projected
  68 landmark vertices of such samples against their 2D labels (valid only if the dataset gives
  a meaningful ``K_crop``).
* Edge loss (Eq. 5) on the last iteration over the unique mesh edges, averaged over edges
  (the paper writes a sum over triangles; the mean keeps the weight 2 independent of the mesh).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from head_pose_ros.model import geometry_torch as gt


@dataclass
class LossWeights:
    """Loss weights (paper values by default)."""

    head: float = 20.0
    cam: float = 2.0
    img: float = 0.01
    rot: float = 10.0
    edge: float = 2.0
    lmk2d: float = 1.25
    img_lmk2d_for_2d_only: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def iteration_weights(n: int) -> list[float]:
    """``[2^(t-n) for t in 1..n]`` (0.25, 0.5, 1 for n = 3)."""
    return [2.0 ** (t - n) for t in range(1, n + 1)]


def _mask(batch: dict, key: str, b: int, device: torch.device) -> torch.Tensor:
    m = batch.get(key)
    if m is None:
        return torch.ones(b, device=device)
    return torch.as_tensor(m, device=device).reshape(b).float()


def masked_mean(per_sample: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of (B,) values over samples with mask 1; 0 (with gradient graph) if none."""
    return (per_sample * mask).sum() / mask.sum().clamp(min=1.0)


def vertex_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, N, D) x2 -> (B,) mean over points of the L1 norm of the difference."""
    return (pred - target).abs().sum(-1).mean(-1)


def _iterated(preds: list[torch.Tensor], target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    w = iteration_weights(len(preds))
    return sum(wi * masked_mean(vertex_l1(p, target), mask) for wi, p in zip(w, preds, strict=True))


def gt_camera_vertices(batch: dict) -> torch.Tensor:
    """``R* V* + T*`` (B, V, 3)."""
    return gt.transform_points(batch["vertices"], batch["R"], batch["T"])


def head_loss(outputs: dict, batch: dict) -> torch.Tensor:
    """L_head: head-space dense landmarks, iteration weighted, masked by has_3d (unweighted)."""
    v = batch["vertices"]
    return _iterated(outputs["vertices"], v, _mask(batch, "has_3d", v.shape[0], v.device))


def cam_loss(outputs: dict, batch: dict) -> torch.Tensor:
    """L_cam: camera-space dense landmarks ``R_t V_t + T_t`` vs ``R* V* + T*`` (metres)."""
    v = gt_camera_vertices(batch)
    return _iterated(outputs["vertices_cam"], v, _mask(batch, "has_3d", v.shape[0], v.device))


def img_loss(outputs: dict, batch: dict, landmark_ids: torch.Tensor | None = None,
             use_lmk2d_for_2d_only: bool = False) -> torch.Tensor:
    """L_img: image-space dense landmarks in crop pixels, GT = ``R* V* + T*`` projected with
    ``K_crop``. With ``use_lmk2d_for_2d_only`` (needs ``landmark_ids``), samples without 3D but
    with 2D labels compare the projected 68 landmark vertices with ``landmarks68_crop``."""
    preds = outputs["vertices_img"]
    b, device = preds[0].shape[0], preds[0].device
    has3d = _mask(batch, "has_3d", b, device)
    target = gt.project_points(gt_camera_vertices(batch), batch["K_crop"])
    total = _iterated(preds, target, has3d)
    if use_lmk2d_for_2d_only:
        if landmark_ids is None:
            raise ValueError("img_loss: landmark_ids are needed for 2D-only samples")
        m2 = _mask(batch, "has_lmk2d", b, device) * (1.0 - has3d)
        lm = batch["landmarks68_crop"]
        total = total + _iterated([p[:, landmark_ids] for p in preds], lm, m2)
    return total


def rot_loss(outputs: dict, batch: dict) -> torch.Tensor:
    """L_rot: Frobenius norm ``||R_t - R*||_F``, iteration weighted, masked by has_3d."""
    r_gt = batch["R"]
    mask = _mask(batch, "has_3d", r_gt.shape[0], r_gt.device)
    w = iteration_weights(len(outputs["R"]))
    return sum(
        wi * masked_mean(torch.linalg.matrix_norm(r - r_gt, ord="fro"), mask)
        for wi, r in zip(w, outputs["R"], strict=True)
    )


def edge_loss(outputs: dict, batch: dict, edges: torch.Tensor) -> torch.Tensor:
    """L_ed (Eq. 5) on the last iteration: mean over edges of ``| |V_n-V_m| - |V*_n-V*_m| |``.

    Args:
        edges: (E, 2) long vertex index pairs (``FaceTopology.edges()`` / ``TRG.edges``).
    """
    v = outputs["vertices"][-1]
    v_gt = batch["vertices"]
    e = edges.to(v.device)
    d = (v[:, e[:, 0]] - v[:, e[:, 1]]).norm(dim=-1)
    d_gt = (v_gt[:, e[:, 0]] - v_gt[:, e[:, 1]]).norm(dim=-1)
    return masked_mean((d - d_gt).abs().mean(-1), _mask(batch, "has_3d", v.shape[0], v.device))


def landmark2d_loss(outputs: dict, batch: dict) -> torch.Tensor:
    """L_L (Eq. 6): heatmap landmarks vs ``landmarks68_crop`` (crop pixels), masked by
    has_lmk2d."""
    lm = outputs["landmarks68"]
    return masked_mean(vertex_l1(lm, batch["landmarks68_crop"]),
                       _mask(batch, "has_lmk2d", lm.shape[0], lm.device))


def trg_loss(
    outputs: dict,
    batch: dict,
    weights: LossWeights | None = None,
    edges: torch.Tensor | None = None,
    landmark_ids: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss (Eq. 7) and the unweighted terms (detached) for logging.

    ``edges`` / ``landmark_ids`` default to ``outputs["edges"]`` / ``outputs["landmark_ids"]``
    (the model puts its topology's there).
    """
    w = weights if weights is not None else LossWeights()
    edges = outputs.get("edges") if edges is None else edges
    landmark_ids = outputs.get("landmark_ids") if landmark_ids is None else landmark_ids
    terms: dict[str, torch.Tensor] = {}
    if w.head:
        terms["head"] = head_loss(outputs, batch)
    if w.cam:
        terms["cam"] = cam_loss(outputs, batch)
    if w.img:
        terms["img"] = img_loss(outputs, batch, landmark_ids, w.img_lmk2d_for_2d_only)
    if w.rot:
        terms["rot"] = rot_loss(outputs, batch)
    if w.edge:
        if edges is None:
            raise ValueError("trg_loss: edge weight > 0 but no edges (pass edges=model.edges)")
        terms["edge"] = edge_loss(outputs, batch, edges)
    if w.lmk2d:
        terms["lmk2d"] = landmark2d_loss(outputs, batch)
    weight_of = {"head": w.head, "cam": w.cam, "img": w.img, "rot": w.rot, "edge": w.edge,
                 "lmk2d": w.lmk2d}
    total = sum(weight_of[k] * v for k, v in terms.items())
    if not isinstance(total, torch.Tensor):
        raise ValueError("trg_loss: all weights are zero")
    return total, {k: v.detach() for k, v in terms.items()}
