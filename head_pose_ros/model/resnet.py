"""Backbones in plain torch (no torchvision).

``ResNet18`` uses torchvision's parameter names (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer2.0.downsample.0`` ...) so an ImageNet checkpoint ``resnet18-f37072fd.pth`` loads with
:func:`load_torchvision_resnet18`. The classifier (``fc``) and the pooling are not built.

``MobileNetV2`` is a CPU-sized alternative (stride 32, 320 output channels) with the same
interface: ``forward(x) -> (B, out_channels, H/32, W/32)``.
"""

from __future__ import annotations

import os

import torch
from torch import nn


def _ch(c: int, width: float) -> int:
    return max(8, int(round(c * width)))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample: nn.Module | None = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """ResNet18 up to layer4 (stride 32). ``width`` scales all channels (1.0 = standard)."""

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        c = [_ch(64, width), _ch(128, width), _ch(256, width), _ch(512, width)]
        self.conv1 = nn.Conv2d(3, c[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(c[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(c[0], c[0]), BasicBlock(c[0], c[0]))
        self.layer2 = nn.Sequential(BasicBlock(c[0], c[1], 2), BasicBlock(c[1], c[1]))
        self.layer3 = nn.Sequential(BasicBlock(c[1], c[2], 2), BasicBlock(c[2], c[2]))
        self.layer4 = nn.Sequential(BasicBlock(c[2], c[3], 2), BasicBlock(c[3], c[3]))
        self.out_channels = c[3]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def load_torchvision_resnet18(
    path: str | os.PathLike, module: ResNet18 | None = None
) -> ResNet18:
    """Load torchvision's ImageNet ``resnet18-f37072fd.pth`` into ``module`` (or a new ResNet18).

    Read with ``torch.load(weights_only=True)`` (no pickle code execution); ``fc.*`` keys are
    ignored. Raises ValueError naming missing / unexpected / mismatched keys.
    """
    module = ResNet18() if module is None else module
    state = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a state dict")
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.startswith("fc.")}
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    bad = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or bad:
        raise ValueError(
            f"{path}: not a torchvision resnet18 state dict matching this backbone "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]}, shape mismatch {bad[:5]})"
        )
    module.load_state_dict(state, strict=True)
    return module


class _InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = inp * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(inp, hidden, 1, bias=False), nn.BatchNorm2d(hidden),
                       nn.ReLU6(inplace=True)]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, oup, 1, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)
        self.use_res = stride == 1 and inp == oup

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.use_res else y


class MobileNetV2(nn.Module):
    """MobileNetV2 feature extractor (Sandler et al.) without the last 1x1 conv / classifier.

    Stride 32, ``out_channels = 320 * width``. About 1.8 M parameters at width 1.0 (vs 11.2 M for
    ResNet18); intended for CPU-only robots (trained from scratch: no ImageNet weights here).
    """

    # t (expansion), c (channels), n (repeats), s (first stride)
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        inp = _ch(32, width)
        layers: list[nn.Module] = [
            nn.Sequential(nn.Conv2d(3, inp, 3, 2, 1, bias=False), nn.BatchNorm2d(inp),
                          nn.ReLU6(inplace=True))
        ]
        for t, c, n, s in self.SETTINGS:
            oup = _ch(c, width)
            for i in range(n):
                layers.append(_InvertedResidual(inp, oup, s if i == 0 else 1, t))
                inp = oup
        self.features = nn.Sequential(*layers)
        self.out_channels = inp
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def build_backbone(name: str, width: float = 1.0) -> nn.Module:
    """``"resnet18"`` -> :class:`ResNet18`, ``"mobilenet"`` -> :class:`MobileNetV2`."""
    if name == "resnet18":
        return ResNet18(width)
    if name == "mobilenet":
        return MobileNetV2(width)
    raise ValueError(f"unknown backbone {name!r}")
