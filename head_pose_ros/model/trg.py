"""TRG: 6DoF head pose through explicit bidirectional interaction with face geometry.

Paper: Chun & Chang, "6DoF Head Pose Estimation through Explicit Bidirectional Interaction
with Face Geometry", ECCV 2024 (facts used here: docs/CONVENTIONS.md). Structure:

* feature extractor: backbone (ResNet18 to layer4, 6x6 at 192 input) then three transposed
  convolutions (256 ch, k4 s2 p1, BN, ReLU) giving phi_1..phi_3 at 12/24/48 px; a 1x1 conv on
  phi_3 gives 68 heatmaps, soft-argmax gives landmarks in crop pixels;
* feature sampler (one per iteration): bilinear samples of phi_t at the sampling points
  (iteration 1: 18x18 grid; then the 305 subsampled dense landmarks projected with the current
  pose and ``K_crop``), per-point MLP 256 -> 128 -> 64 -> 5 (LeakyReLU; the raw feature is
  concatenated to the inputs of the 2nd and 3rd layers), concatenation;
* face regressor (one per iteration): [features, rot6d, c, V_sub (305x3), bbox_info] ->
  Linear 1024 -> Dropout -> Linear 1024 -> Dropout -> Linear (6 + 3 + 3V) residuals
  (no activation in between, as in the authors' code).

All geometry follows :mod:`head_pose_ros.geometry` (column vectors, optical frame, metres,
pixel centres at integers, ``grid_sample(align_corners=False)``).
"""

from __future__ import annotations

import math
import os

import torch
from torch import nn

from head_pose_ros.model import geometry_torch as gt
from head_pose_ros.model.config import ModelConfig
from head_pose_ros.model.resnet import ResNet18, build_backbone, load_torchvision_resnet18
from head_pose_ros.topology import FaceTopology

OUTPUT_LIST_KEYS = ("rot6d", "R", "correction", "T", "vertices", "vertices_cam", "vertices_img")
LOGVAR_CLAMP = (-16.0, 2.0)
"""Range of the predicted rotation log-variances (radians^2: sigma 0.02 deg .. 156 deg)."""


class PointMLP(nn.Module):
    """Per-point dimension reduction F: C -> h1 -> h2 -> out with raw-feature skips."""

    def __init__(self, in_dim: int, hidden: tuple[int, int], out_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden[0])
        self.fc2 = nn.Linear(hidden[0] + in_dim, hidden[1])
        self.fc3 = nn.Linear(hidden[1] + in_dim, out_dim)
        self.act = nn.LeakyReLU(0.01)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        h = self.act(self.fc1(f))
        h = self.act(self.fc2(torch.cat([h, f], dim=-1)))
        return self.fc3(torch.cat([h, f], dim=-1))


class FaceRegressor(nn.Module):
    """Linear -> Dropout -> Linear -> Dropout -> Linear (no activations, as the authors)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, dropout: float, gain: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden)
        self.drop1 = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, hidden)
        self.drop2 = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, out_dim)
        nn.init.xavier_uniform_(self.out.weight, gain=gain)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop2(self.fc2(self.drop1(self.fc1(x)))))


class RotationUncertainty(nn.Module):
    """Per-face rotation uncertainty: ``log sigma^2`` (B, 3) of the rotation error about the
    head frame's x, y, z axes (radians^2; ``R_est = R_true exp([d]x)``, d in the head frame).

    Inputs, all detached (the head learns from the pose network's features, it never moves the
    pose): the last iteration's per-point features (where the projected face samples the
    finest feature map: occlusion, blur and self-occlusion show there), the backbone's pooled
    features (global appearance, face size), the final rot6d (the pose itself: profiles) and the
    bbox info. LayerNorm -> Linear -> LeakyReLU -> Linear, output bias at ``log(init_sigma^2)``.
    """

    def __init__(self, in_dim: int, hidden: int = 256, init_sigma_deg: float = 5.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_dim)
        self.fc1 = nn.Linear(in_dim, hidden)
        self.act = nn.LeakyReLU(0.01)
        self.out = nn.Linear(hidden, 3)
        nn.init.normal_(self.out.weight, std=1e-3)
        nn.init.constant_(self.out.bias, 2.0 * math.log(math.radians(init_sigma_deg)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.fc1(self.norm(x.detach()))))


def _deconv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class TRG(nn.Module):
    """The TRG network. ``forward`` returns per-iteration lists (see :meth:`forward`)."""

    def __init__(self, config: ModelConfig | None = None, topology: FaceTopology | None = None):
        super().__init__()
        if topology is None:
            from head_pose_ros.topology import load_arkit1220

            topology = load_arkit1220()
        self.config = config = config if config is not None else ModelConfig()
        config.validate()
        self.topology_name = topology.name
        n_v, n_sub, n_lmk = topology.num_vertices, topology.num_subsample, topology.num_landmarks
        self.num_vertices = n_v

        # topology + initial state as buffers: a checkpoint carries them
        self.register_buffer("template", torch.from_numpy(topology.vertices.copy()))
        self.register_buffer("triangles", torch.from_numpy(topology.triangles.copy()))
        self.register_buffer("landmark_ids", torch.from_numpy(topology.landmarks68.copy()))
        self.register_buffer("subsample_ids", torch.from_numpy(topology.subsample.copy()))
        self.register_buffer("edges", torch.from_numpy(topology.edges()), persistent=False)
        self.register_buffer("init_rot6d", torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))
        if config.translation_mode == "correction":
            init_c = torch.tensor([1.0, 0.0, 0.0])
        else:
            init_c = torch.tensor(config.direct_init_translation, dtype=torch.float32)
        self.register_buffer("init_correction", init_c)
        self.register_buffer("grid", gt.grid_points(config.grid_size, config.input_size))

        c = config.feature_channels
        self.backbone = build_backbone(config.backbone, config.backbone_width)
        self.deconv = nn.ModuleList(
            [_deconv(self.backbone.out_channels, c), _deconv(c, c), _deconv(c, c)]
        )
        self.heatmap = nn.Conv2d(c, n_lmk, 1, bias=False)  # softmax is shift invariant
        n_it = config.num_iterations
        self.samplers = nn.ModuleList(
            [PointMLP(c, config.point_mlp_hidden, config.point_feature_dim) for _ in range(n_it)]
        )
        out_dim = 6 + 3 + 3 * n_v
        state_dim = 6 + 3 + 3 * n_sub + 3
        regs = []
        for t in range(n_it):
            n_pts = self._num_points(t, n_sub)
            regs.append(
                FaceRegressor(n_pts * config.point_feature_dim + state_dim,
                              config.regressor_hidden, out_dim, config.dropout,
                              config.last_layer_gain)
            )
        self.regressors = nn.ModuleList(regs)
        self.uncertainty: RotationUncertainty | None = None
        if config.rotation_uncertainty:
            n_last = self._num_points(n_it - 1, n_sub) * config.point_feature_dim
            self.uncertainty = RotationUncertainty(n_last + self.backbone.out_channels + 6 + 3)

    # ------------------------------------------------------------------ helpers
    def _num_points(self, t: int, n_sub: int) -> int:
        if t == 0 or self.config.sampling == "grid":
            return self.config.grid_size**2
        return n_sub

    def topology(self) -> FaceTopology:
        """The topology stored in the buffers."""
        return FaceTopology(
            vertices=self.template.detach().cpu().numpy(),
            triangles=self.triangles.detach().cpu().numpy(),
            landmarks68=self.landmark_ids.detach().cpu().numpy(),
            subsample=self.subsample_ids.detach().cpu().numpy(),
            name=self.topology_name,
        )

    def load_backbone_weights(self, path: str | os.PathLike) -> None:
        """Load torchvision ImageNet ResNet18 weights into the backbone (resnet18 only)."""
        if not isinstance(self.backbone, ResNet18) or self.config.backbone_width != 1.0:
            raise ValueError("ImageNet weights only fit the full-width resnet18 backbone")
        load_torchvision_resnet18(path, self.backbone)

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters per top-level module and in total."""
        counts = {
            name: sum(p.numel() for p in mod.parameters())
            for name, mod in self.named_children()
        }
        counts["total"] = sum(p.numel() for p in self.parameters())
        return counts

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        image: torch.Tensor,
        K_crop: torch.Tensor,  # noqa: N803
        bbox_info: torch.Tensor,
        box: torch.Tensor,
        K: torch.Tensor,  # noqa: N803
    ) -> dict[str, list[torch.Tensor] | torch.Tensor]:
        """Run the network.

        Args:
            image: (B, 3, S, S) normalised RGB crop (ImageNet mean/std), S = input_size.
            K_crop: (B, 3, 3) intrinsics of the crop (``geometry.crop_intrinsics``).
            bbox_info: (B, 3) ``geometry.bbox_info(K, box)`` with scale 1 (the model applies
                ``config.bbox_info_scale`` itself).
            box: (B, 3) crop box (cx, cy, side) in full-image pixels.
            K: (B, 3, 3) full-image intrinsics.
        Returns:
            dict with per-iteration lists (length ``num_iterations``): ``rot6d`` (B, 6),
            ``R`` (B, 3, 3), ``correction`` (B, 3), ``T`` (B, 3) metres, ``vertices`` (B, V, 3)
            head frame, ``vertices_cam`` (B, V, 3), ``vertices_img`` (B, V, 2) crop pixels;
            ``points`` (list of the sampling points used, crop pixels); and ``landmarks68``
            (B, 68, 2) crop pixels from the heatmaps; with ``config.rotation_uncertainty``
            ``rot_logvar`` (B, 3), see :class:`RotationUncertainty`; ``edges`` (E, 2) and
            ``landmark_ids`` (68,) of the topology (not batched; used by
            :func:`head_pose_ros.losses.trg_loss`).
        """
        cfg = self.config
        if tuple(image.shape[-2:]) != (cfg.input_size, cfg.input_size):
            raise ValueError(
                f"TRG expects {cfg.input_size}x{cfg.input_size} crops (config.input_size), got "
                f"{tuple(image.shape[-2:])}: the crop intrinsics would not match the features"
            )
        b = image.shape[0]
        dtype = image.dtype
        K_crop, bbox_info, box, K = (x.to(dtype) for x in (K_crop, bbox_info, box, K))  # noqa: N806
        bbox_in = bbox_info * bbox_info.new_tensor([cfg.bbox_info_scale, cfg.bbox_info_scale, 1.0])

        x = self.backbone(image)
        pooled = x.mean(dim=(-2, -1))
        feats = []
        for layer in self.deconv:
            x = layer(x)
            feats.append(x)
        landmarks68 = gt.soft_argmax_2d(self.heatmap(feats[-1]), cfg.input_size).to(dtype)
        feats = feats[3 - cfg.num_iterations:]

        rot6d = self.init_rot6d.to(dtype).expand(b, 6)
        corr = self.init_correction.to(dtype).expand(b, 3)
        verts = self.template.to(dtype).expand(b, -1, -1)
        points = self.grid.to(dtype).expand(b, -1, -1)

        out: dict[str, list[torch.Tensor]] = {k: [] for k in (*OUTPUT_LIST_KEYS, "points")}
        for t in range(cfg.num_iterations):
            if t > 0 and cfg.sampling == "grid":
                points = self.grid.to(dtype).expand(b, -1, -1)
            pts = points.detach() if cfg.detach_sampling_points else points
            out["points"].append(pts)
            f = gt.sample_features(feats[t], pts, cfg.input_size)  # (B, N, C)
            pf = self.samplers[t](f).reshape(b, -1)
            v_sub = verts[:, self.subsample_ids].reshape(b, -1)
            delta = self.regressors[t](torch.cat([pf, rot6d, corr, v_sub, bbox_in], dim=-1))
            rot6d = rot6d + delta[:, :6]
            corr = corr + delta[:, 6:9]
            verts = verts + delta[:, 9:].reshape(b, -1, 3)

            R = gt.rot6d_to_matrix(rot6d)  # noqa: N806
            if cfg.translation_mode == "correction":
                T = gt.translation_from_correction(corr, K, box)  # noqa: N806
                c_out = corr
            else:
                T = corr  # noqa: N806
                c_out = gt.correction_from_translation(T, K, box)
            v_cam = gt.transform_points(verts, R, T)
            v_img = gt.project_points(v_cam, K_crop)
            points = v_img[:, self.subsample_ids]

            out["rot6d"].append(rot6d)
            out["R"].append(R)
            out["correction"].append(c_out)
            out["T"].append(T)
            out["vertices"].append(verts)
            out["vertices_cam"].append(v_cam)
            out["vertices_img"].append(v_img)
        result: dict[str, list[torch.Tensor] | torch.Tensor] = dict(out)
        if self.uncertainty is not None:
            logvar = self.uncertainty(torch.cat([pf, pooled.to(dtype), rot6d, bbox_in], dim=-1))
            result["rot_logvar"] = logvar.clamp(*LOGVAR_CLAMP)
        result["landmarks68"] = landmarks68
        result["edges"] = self.edges
        result["landmark_ids"] = self.landmark_ids
        return result


def build_model(
    config: ModelConfig | dict | None = None,
    topology: FaceTopology | None = None,
    backbone_weights: str | os.PathLike | None = None,
) -> TRG:
    """Create a TRG (random init), optionally loading ImageNet ResNet18 backbone weights."""
    if isinstance(config, dict):
        config = ModelConfig.from_dict(config)
    model = TRG(config, topology)
    if backbone_weights:
        model.load_backbone_weights(backbone_weights)
    return model


def normalize_image_tensor(rgb_uint8: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) uint8 RGB -> float normalised with ImageNet mean/std."""
    from head_pose_ros.model.config import IMAGENET_MEAN, IMAGENET_STD

    x = rgb_uint8.float() / 255.0
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


__all__ = ["TRG", "FaceRegressor", "PointMLP", "RotationUncertainty", "build_model",
           "normalize_image_tensor"]
