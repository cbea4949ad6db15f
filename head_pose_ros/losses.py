"""TRG losses (paper §3.5, Eqs. 4-7), each a separate function.

Conventions: ``outputs`` is the dict of :meth:`head_pose_ros.model.TRG.forward`; ``batch`` is the
collated sample dict of the datasets (``R`` (B,3,3), ``T`` (B,3), ``vertices`` (B,V,3) head frame,
``K_crop`` (B,3,3), ``landmarks68_crop`` (B,68,2), ``has_3d`` (B,), ``has_lmk2d`` (B,)).

* Per-vertex distances: the L1 distance of each vertex, averaged over vertices, then over the
  valid samples of the batch (masked mean; a batch with no valid sample contributes 0). The
  coordinate reduction is ``LossWeights.coord_reduction``: ``"mean"`` (default) averages the
  |differences| over x, y(, z) like the authors' ``nn.L1Loss`` -- the code the paper's weights
  were tuned with; ``"sum"`` is the literal ``||.||_1`` of Eq. 4/6 (3x the head / camera
  terms, 2x the image / landmark terms, rotation unchanged: a different balance).
* Units: metres (head, camera), crop pixels (image term), normalised crop units for the sparse
  68-landmark term (crop pixels / (S/2), the authors' [-1, 1] crop coordinates).
* Iteration weights ``2^(t - n)`` for t = 1..n (n = number of iterations; 0.25, 0.5, 1 for 3).
* Masks: ``has_3d`` gates the head / camera / image / rotation / edge terms (they need the GT
  mesh and pose); ``has_lmk2d`` gates the sparse 2D landmark term on the heatmap landmarks.
  For 2D-only samples (300W-LP style) the paper uses only the sparse 2D landmark loss; optionally
  (``LossWeights.img_lmk2d_for_2d_only``) the image-space term is also applied to the projected
  68 landmark vertices of such samples against their 2D labels (valid only if the dataset gives
  a meaningful ``K_crop``).
* Per-sample term weights: ``batch["loss_mask"]`` (B, 6) in ``data.crop.LOSS_TERMS`` order
  multiplies each term's mask (weighted masked mean ``sum(w x) / sum(w)``), so
  pseudo-labelled real faces can switch off what their labels do not support (e.g. metric
  translation) and carry a quality weight. ``batch["landmarks68_weight"]`` (B, 68) weights the
  sparse 2D landmarks one by one (also in the 2D-only image term).
* Auxiliary 2D points (``aux2d``, off by default): the projected dense vertices
  ``batch["aux2d_ids"]`` vs ``batch["aux2d_crop"]`` with ``batch["aux2d_weight"]`` (e.g.
  AFLW's 21 hand landmarks; relative weights within a sample), iteration weighted, in the
  normalised crop units of the sparse landmark term; per sample weighted by the ``lmk2d``
  column of ``loss_mask``.
* Rotation uncertainty (not in the paper): :func:`rotation_nll_loss`, a Gaussian NLL that trains
  the per-face log-variance head on the detached rotation error.
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
    aux2d: float = 0.0
    """Auxiliary 2D points (e.g. AFLW hand landmarks); 0 = off (paper)."""
    rot_nll: float = 1.0
    """Gaussian NLL of the rotation-uncertainty head (:func:`rotation_nll_loss`); applies only
    to a model with ``config.rotation_uncertainty`` (its inputs are detached: it does not
    change the pose terms' balance)."""
    img_lmk2d_for_2d_only: bool = False
    coord_reduction: str = "mean"
    rot_form: str = "frobenius"

    def __post_init__(self) -> None:
        if self.coord_reduction not in ("mean", "sum"):
            raise ValueError(f"coord_reduction must be 'mean' or 'sum', got "
                             f"{self.coord_reduction!r}")
        if self.rot_form not in ("frobenius", "mse"):
            raise ValueError(f"rot_form must be 'frobenius' or 'mse', got {self.rot_form!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def iteration_weights(n: int) -> list[float]:
    """``[2^(t-n) for t in 1..n]`` (0.25, 0.5, 1 for n = 3)."""
    return [2.0 ** (t - n) for t in range(1, n + 1)]


LOSS_TERMS = ("head", "cam", "img", "rot", "edge", "lmk2d")
"""Column order of ``batch["loss_mask"]`` (= ``data.crop.LOSS_TERMS``)."""


def _mask(batch: dict, key: str, b: int, device: torch.device,
          term: str | None = None) -> torch.Tensor:
    m = batch.get(key)
    out = (torch.ones(b, device=device) if m is None
           else torch.as_tensor(m, device=device).reshape(b).float())
    lm = batch.get("loss_mask")
    if term is not None and lm is not None:
        out = out * torch.as_tensor(lm, device=device).reshape(b, -1)[:, LOSS_TERMS.index(term)]
    return out


def masked_mean(per_sample: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Weighted mean ``sum(m x) / sum(m)`` of (B,) values with (B,) weights ``mask`` >= 0
    (binary or fractional); 0 (with gradient graph) if no sample has weight."""
    m = mask.to(per_sample.dtype)
    s = m.sum()
    return (per_sample * m).sum() / torch.where(s > 0, s, torch.ones_like(s))


def _weighted_points_l1(pred: torch.Tensor, target: torch.Tensor, w: torch.Tensor | None,
                        reduction: str = "mean") -> torch.Tensor:
    """(B, N, D) x2, (B, N) point weights (None = all 1) -> (B,) weighted mean over points of
    the |difference| reduced over D (as :func:`vertex_l1`); 0 for a sample without weight."""
    if w is None:
        return vertex_l1(pred, target, reduction)
    d = (pred - target).abs()
    d = d.mean(-1) if reduction == "mean" else d.sum(-1)
    w = w.to(d.dtype)
    return (d * w).sum(-1) / w.sum(-1).clamp(min=1e-6)


def vertex_l1(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """(B, N, D) x2 -> (B,) mean over points of the |difference| reduced over the D coordinates
    (``"mean"``: authors' nn.L1Loss; ``"sum"``: the L1 norm of the paper's formulas)."""
    d = (pred - target).abs()
    return (d.mean(-1) if reduction == "mean" else d.sum(-1)).mean(-1)


def _iterated(preds: list[torch.Tensor], target: torch.Tensor, mask: torch.Tensor,
              reduction: str = "mean") -> torch.Tensor:
    w = iteration_weights(len(preds))
    return sum(wi * masked_mean(vertex_l1(p, target, reduction), mask)
               for wi, p in zip(w, preds, strict=True))


def gt_camera_vertices(batch: dict) -> torch.Tensor:
    """``R* V* + T*`` (B, V, 3)."""
    return gt.transform_points(batch["vertices"], batch["R"], batch["T"])


def head_loss(outputs: dict, batch: dict, reduction: str = "mean") -> torch.Tensor:
    """L_head: head-space dense landmarks, iteration weighted, masked by has_3d (unweighted)."""
    v = batch["vertices"]
    return _iterated(outputs["vertices"], v,
                     _mask(batch, "has_3d", v.shape[0], v.device, "head"), reduction)


def cam_loss(outputs: dict, batch: dict, reduction: str = "mean") -> torch.Tensor:
    """L_cam: camera-space dense landmarks ``R_t V_t + T_t`` (T_t from Eq. 2) vs
    ``R* V* + T*`` (metres)."""
    v = gt_camera_vertices(batch)
    return _iterated(outputs["vertices_cam"], v,
                     _mask(batch, "has_3d", v.shape[0], v.device, "cam"), reduction)


def img_loss(outputs: dict, batch: dict, landmark_ids: torch.Tensor | None = None,
             use_lmk2d_for_2d_only: bool = False, reduction: str = "mean") -> torch.Tensor:
    """L_img: image-space dense landmarks in crop pixels, GT = ``R* V* + T*`` projected with
    ``K_crop``. With ``use_lmk2d_for_2d_only`` (needs ``landmark_ids``), samples without 3D but
    with 2D labels compare the projected 68 landmark vertices with ``landmarks68_crop``, weighted
    per landmark by ``landmarks68_weight`` and per sample by the ``img`` column of
    ``loss_mask`` (as the 3D samples of this term)."""
    preds = outputs["vertices_img"]
    b, device = preds[0].shape[0], preds[0].device
    has3d = _mask(batch, "has_3d", b, device)
    m3d = _mask(batch, "has_3d", b, device, "img")
    target = gt.project_points(gt_camera_vertices(batch), batch["K_crop"])
    total = _iterated(preds, target, m3d, reduction)
    if use_lmk2d_for_2d_only:
        if landmark_ids is None:
            raise ValueError("img_loss: landmark_ids are needed for 2D-only samples")
        m2 = _mask(batch, "has_lmk2d", b, device, "img") * (1.0 - has3d)
        lm = batch["landmarks68_crop"]
        lw = batch.get("landmarks68_weight")
        if lw is not None:
            lw = torch.as_tensor(lw, device=device).reshape(b, -1).to(lm.dtype)
            m2 = m2 * (lw.sum(-1) > 0).to(m2.dtype)
        w = iteration_weights(len(preds))
        total = total + sum(
            wi * masked_mean(_weighted_points_l1(p[:, landmark_ids], lm, lw, reduction), m2)
            for wi, p in zip(w, preds, strict=True))
    return total


def rot_loss(outputs: dict, batch: dict, form: str = "frobenius") -> torch.Tensor:
    """L_rot, iteration weighted, masked by has_3d.

    ``form="frobenius"`` (paper Eq. 4): ``||R_t - R*||_F``. ``form="mse"`` (the authors' code:
    ``nn.MSELoss`` on the 9 entries) = ``||R_t - R*||_F^2 / 9``: at a 2 degree error that is
    ~180x smaller (0.0027 vs 0.049), so with the weight 10 rotation is a minor term there while
    it is the largest term with the paper's form. Ablate before trusting either.
    """
    r_gt = batch["R"]
    mask = _mask(batch, "has_3d", r_gt.shape[0], r_gt.device, "rot")
    w = iteration_weights(len(outputs["R"]))

    def per(r: torch.Tensor) -> torch.Tensor:
        if form == "mse":
            return (r - r_gt).square().mean(dim=(-2, -1))
        return torch.linalg.matrix_norm(r - r_gt, ord="fro")

    return sum(wi * masked_mean(per(r), mask) for wi, r in zip(w, outputs["R"], strict=True))


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
    return masked_mean((d - d_gt).abs().mean(-1),
                       _mask(batch, "has_3d", v.shape[0], v.device, "edge"))


def landmark2d_loss(outputs: dict, batch: dict, crop_size: int | None = None,
                    reduction: str = "mean") -> torch.Tensor:
    """L_L (Eq. 6): heatmap landmarks vs ``landmarks68_crop``, masked by has_lmk2d.

    Measured in NORMALISED crop coordinates (crop pixels / (crop_size / 2), i.e. the crop spans
    2 units), as the authors' code does (``lmk68_crop_norm`` in [-1, 1]). The paper's weight
    1.25 is tuned for that unit: in crop pixels the term would be 96x larger at 192 px and would
    dominate every 3D term (a 3 px error gives 3.75 vs ~0.06 for 20 x L_head).

    Args:
        crop_size: crop side in pixels; default ``batch["image"].shape[-1]`` (else 192).
    """
    lm = outputs["landmarks68"]
    if crop_size is None:
        img = batch.get("image")
        crop_size = int(img.shape[-1]) if img is not None else 192
    mask = _mask(batch, "has_lmk2d", lm.shape[0], lm.device, "lmk2d")
    lw = batch.get("landmarks68_weight")
    if lw is None:
        per = vertex_l1(lm, batch["landmarks68_crop"], reduction) / (crop_size / 2.0)
        return masked_mean(per, mask)
    d = (lm - batch["landmarks68_crop"]).abs()
    d = d.mean(-1) if reduction == "mean" else d.sum(-1)
    lw = lw.to(d.dtype)
    per = (d * lw).sum(-1) / lw.sum(-1).clamp(min=1e-6) / (crop_size / 2.0)
    return masked_mean(per, mask * (lw.sum(-1) > 0).float())


def aux2d_loss(outputs: dict, batch: dict, crop_size: int | None = None) -> torch.Tensor:
    """Auxiliary 2D points: projected dense vertices ``aux2d_ids`` vs ``aux2d_crop`` (crop px),
    weighted per point by ``aux2d_weight`` (normalised within the sample: relative weights),
    iteration weighted, in normalised crop units (crop px / (S/2), as
    :func:`landmark2d_loss`). Per sample it is weighted like the sparse 2D landmarks, by the
    ``lmk2d`` column of ``loss_mask`` (e.g. a pseudo-label's quality weight; weighted masked
    mean). Samples without points contribute 0."""
    w = batch.get("aux2d_weight")
    preds = outputs["vertices_img"]
    if w is None:
        return preds[-1].sum() * 0.0
    if crop_size is None:
        img = batch.get("image")
        crop_size = int(img.shape[-1]) if img is not None else 192
    ids = batch["aux2d_ids"].long()
    tgt = batch["aux2d_crop"]
    w = w.to(tgt.dtype)
    has = (w.sum(-1) > 0).to(tgt.dtype)
    lm = batch.get("loss_mask")
    if lm is not None:
        lm = torch.as_tensor(lm, device=tgt.device).reshape(tgt.shape[0], -1)
        has = has * lm[:, LOSS_TERMS.index("lmk2d")].to(tgt.dtype)
    total = preds[-1].sum() * 0.0
    for wi, p in zip(iteration_weights(len(preds)), preds, strict=True):
        pts = torch.gather(p, 1, ids[..., None].expand(-1, -1, 2))
        per = _weighted_points_l1(pts, tgt, w) / (crop_size / 2.0)
        total = total + wi * masked_mean(per, has)
    return total


def rotation_nll_loss(outputs: dict, batch: dict) -> torch.Tensor:
    """Gaussian NLL of the last iteration's rotation error under the predicted per-axis
    variances (``outputs["rot_logvar"]``, :class:`head_pose_ros.model.trg.RotationUncertainty`).

    Error: ``d = log(R*^T R_n)`` (rotation vector in the HEAD frame, radians, detached: the loss
    trains only the uncertainty head). Per sample ``0.5 sum_i (d_i^2 exp(-s_i) + s_i)``, masked
    like the rotation term (``has_3d`` x ``loss_mask[rot]``). 0 (with graph) without the head.
    """
    s = outputs.get("rot_logvar")
    r = outputs["R"][-1]
    if s is None:
        return r.sum() * 0.0
    r_gt = batch["R"].to(r.dtype)
    d = gt.rotation_log(r_gt.transpose(-1, -2) @ r.detach())
    per = 0.5 * (d.square() * torch.exp(-s) + s).sum(-1)
    return masked_mean(per, _mask(batch, "has_3d", r.shape[0], r.device, "rot"))


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
        terms["head"] = head_loss(outputs, batch, w.coord_reduction)
    if w.cam:
        terms["cam"] = cam_loss(outputs, batch, w.coord_reduction)
    if w.img:
        terms["img"] = img_loss(outputs, batch, landmark_ids, w.img_lmk2d_for_2d_only,
                                w.coord_reduction)
    if w.rot:
        terms["rot"] = rot_loss(outputs, batch, w.rot_form)
    if w.edge:
        if edges is None:
            raise ValueError("trg_loss: edge weight > 0 but no edges (pass edges=model.edges)")
        terms["edge"] = edge_loss(outputs, batch, edges)
    if w.lmk2d:
        terms["lmk2d"] = landmark2d_loss(outputs, batch, reduction=w.coord_reduction)
    if w.aux2d:
        terms["aux2d"] = aux2d_loss(outputs, batch)
    if w.rot_nll and outputs.get("rot_logvar") is not None:
        terms["rot_nll"] = rotation_nll_loss(outputs, batch)
    weight_of = {"head": w.head, "cam": w.cam, "img": w.img, "rot": w.rot, "edge": w.edge,
                 "lmk2d": w.lmk2d, "aux2d": w.aux2d, "rot_nll": w.rot_nll}
    total = sum(weight_of[k] * v for k, v in terms.items())
    if not isinstance(total, torch.Tensor):
        raise ValueError("trg_loss: all weights are zero")
    return total, {k: v.detach() for k, v in terms.items()}
