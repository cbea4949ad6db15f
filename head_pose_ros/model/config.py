"""Model configuration (saved in every checkpoint's metadata)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""RGB mean of the input normalisation (images in [0, 1])."""
IMAGENET_STD = (0.229, 0.224, 0.225)
"""RGB std of the input normalisation."""

BACKBONES = ("resnet18", "mobilenet")
TRANSLATION_MODES = ("correction", "direct")
SAMPLINGS = ("landmark", "grid")


@dataclass
class ModelConfig:
    """TRG hyper-parameters. Defaults reproduce the paper (about 37.6 M parameters).

    Attributes:
        backbone: ``"resnet18"`` (paper) or ``"mobilenet"`` (MobileNetV2-style, CPU sized; same
            head).
        backbone_width: channel multiplier of the backbone (1.0 = standard; < 1 only for tests).
        num_iterations: 1..3 regressor iterations. The feature maps of the last
            ``num_iterations`` deconvolution stages are used (1 iteration = 48x48 map only, the
            paper's "w/o MS" ablation); the three deconvolutions always run (heatmaps at 48x48).
        translation_mode: ``"correction"`` (paper: regress c = (s, tx, ty), T from Eq. 2) or
            ``"direct"`` (ablation: regress T in metres directly, initialised at
            ``direct_init_translation``).
        sampling: ``"landmark"`` (paper: 18x18 grid, then the projected subsampled landmarks) or
            ``"grid"`` (baseline: the 18x18 grid at every iteration).
        input_size: crop size in pixels (192).
        bbox_info_scale: factor the model applies to the first two bbox-info components it is
            given (datasets always pass ``geometry.bbox_info(K, box)`` with scale 1; the
            authors' code corresponds to 4).
        feature_channels: channels of the deconvolution feature maps (256).
        point_mlp_hidden: hidden sizes of the per-point MLP (128, 64).
        point_feature_dim: output size of the per-point MLP (5).
        grid_size: side of the first iteration's sampling grid (18).
        regressor_hidden: width of the regressor's hidden layers (1024).
        dropout: dropout of the regressor (0.5).
        last_layer_gain: xavier gain of the regressor output layers (small: start at template).
        detach_sampling_points: sample features at detached projected points (no gradient
            through the sampling locations, as iterative regressors usually do).
        rotation_uncertainty: add the rotation-uncertainty head (:class:`RotationUncertainty`
            in ``model.trg``): a per-face log-variance of the rotation error about each of the
            head frame's three axes, trained with a Gaussian NLL (``losses.rotation_nll_loss``)
            on DETACHED inputs, so it never changes the pose. Not in the paper.
    """

    backbone: str = "resnet18"
    backbone_width: float = 1.0
    num_iterations: int = 3
    translation_mode: str = "correction"
    sampling: str = "landmark"
    input_size: int = 192
    bbox_info_scale: float = 1.0
    feature_channels: int = 256
    point_mlp_hidden: tuple[int, int] = field(default=(128, 64))
    point_feature_dim: int = 5
    grid_size: int = 18
    regressor_hidden: int = 1024
    dropout: float = 0.5
    last_layer_gain: float = 0.01
    detach_sampling_points: bool = True
    direct_init_translation: tuple[float, float, float] = field(default=(0.0, 0.0, 0.6))
    rotation_uncertainty: bool = False

    def __post_init__(self) -> None:
        self.point_mlp_hidden = tuple(int(x) for x in self.point_mlp_hidden)  # type: ignore
        self.direct_init_translation = tuple(  # type: ignore
            float(x) for x in self.direct_init_translation
        )
        self.validate()

    def validate(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if self.translation_mode not in TRANSLATION_MODES:
            raise ValueError(
                f"translation_mode must be one of {TRANSLATION_MODES}, "
                f"got {self.translation_mode!r}"
            )
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {self.sampling!r}")
        if not 1 <= int(self.num_iterations) <= 3:
            raise ValueError(f"num_iterations must be 1..3, got {self.num_iterations}")
        if self.input_size % 32 != 0:
            raise ValueError(f"input_size must be a multiple of 32, got {self.input_size}")
        if len(self.point_mlp_hidden) != 2:
            raise ValueError("point_mlp_hidden must have two entries")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["point_mlp_hidden"] = list(self.point_mlp_hidden)
        d["direct_init_translation"] = list(self.direct_init_translation)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """Build from a dict; unknown keys raise (a checkpoint from a newer format is refused)."""
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown ModelConfig keys: {sorted(unknown)}")
        return cls(**d)
