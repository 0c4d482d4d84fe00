"""The shipped float models, all trained on digits (see scripts/train_models.py)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def conv_bn_act(c_in: int, c_out: int, k: int, stride: int, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=False))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand (if t > 1), 3x3 depthwise, 1x1 linear project, residual add
    when the block keeps shape. `conv(c_in, c_out, k, stride, groups=, act=)` builds each conv
    (conv_bn_act here; golden.models.mobilenetv2_224 passes its TF 'SAME' one)."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int, conv: Callable[..., nn.Module] = conv_bn_act) -> None:
        super().__init__()
        hidden = c_in * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(conv(c_in, hidden, 1, 1))
        layers += [conv(hidden, hidden, 3, stride, groups=hidden), conv(hidden, c_out, 1, 1, act=False)]
        self.conv = nn.Sequential(*layers)
        self.use_res = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNetV2Digits(nn.Module):
    """A small MobileNetV2 for 3x24x24 inputs (digits upsampled 3x, grey replicated to RGB).

    stem 3x3/s2 -> 12x12; blocks (t, c, s): (1,8,1) (4,16,2) (4,16,1)+res (4,24,2) (4,24,1)+res;
    1x1 conv to 64; global average pool; fc 64->10. 24x24 keeps the 12, 6 and 3 pixel maps off
    multiples of 8, so partial tiles are exercised by the shipped model itself.
    """

    input_shape = (3, 24, 24)

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        cfg = [(1, 8, 1), (4, 16, 2), (4, 16, 1), (4, 24, 2), (4, 24, 1)]
        layers: list[nn.Module] = [conv_bn_act(3, 16, 3, 2)]
        c = 16
        for t, c_out, s in cfg:
            layers.append(InvertedResidual(c, c_out, s, t))
            c = c_out
        layers.append(conv_bn_act(c, 64, 1, 1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.pool(self.features(x))))


class VGGDigits(nn.Module):
    """VGG-style: (conv3x3-ReLU x2, maxpool) x2 on 1x16x16, then fc 512->64->10."""

    input_shape = (1, 16, 16)

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.features(x)))


class MLPDigits(nn.Module):
    """3 Linear layers with ReLU on the flattened 8x8 image: 64->64->32->10."""

    input_shape = (1, 8, 8)

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.layers = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.flatten(x))
