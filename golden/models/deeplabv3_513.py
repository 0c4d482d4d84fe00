"""DeepLabV3 with a MobileNetV2 backbone at 513x513 (semantic segmentation, 21 PASCAL VOC classes),
with deterministic generated weights.

Backbone: MobileNetV2 1.0 (golden.models.mobilenetv2_224.BLOCKS, golden.models.zoo.InvertedResidual)
without its 1x1 conv to 1280, at output stride 16 as DeepLab runs it (TF-slim's `output_stride`):
the stem and the stride-2 blocks take 513 -> 257 -> 129 -> 65 -> 33; the last stride-2 block (the
first of the 160-channel stage) runs at stride 1, and every block after it has its depthwise 3x3
dilated by 2 (the rate it would have lost with the stride). TF 'SAME' padding: on DeepLab's odd
sides (16 m + 1) a stride-2 3x3 pads 1 on every side and a 3x3 of dilation d pads d on every side,
so every conv pads symmetrically (no nn.ZeroPad2d: mobilenetv2_224's conv helper pads (0, 1, 0, 1)
at stride 2, TF 'SAME' on even sides).

ASPP head on the 320 x 33 x 33 features: a 1x1 conv branch, three 3x3 atrous branches (dilation 6,
12, 18, padding = dilation), an image-pooling branch (global average pool -> 1x1 conv -> nearest
upsampling by 33 back to 33 x 33: F.interpolate(scale_factor=33)), the five concatenated along
channels (torch.cat(dim=1): 5 x 256), a 1x1 projection to 256 (ReLU after every ASPP conv, as
DeepLab; ReLU6 in the backbone), a 1x1 classifier to 21 classes, and a nearest upsampling by 16 to
21 x 528 x 528: golden upsamples by whole factors only and does not crop, so the output is the
upsampled logits (image pixel (y, x) is output (y, x); the 15 last rows and columns lie past the
image). Batch norm is folded (every conv has a bias).

Weights are generated as mobilenetv2_224's (`generate`, seeded: log-normal per-channel spreads,
small biases, dead channels in a few layers, each layer scaled to a unit output spread on the
calibration images); calibration: 16 synthetic images (mobilenetv2_224.calibration_images at 513).
Trained weights load with `load(path)` from a state_dict of `DeepLabV3_513()` (BN folded into the
conv biases); `tf_scopes()` names the TF DeepLab checkpoint scope each conv's weights come from.
`DeepLabV3_513(size=65)` is the same network on a smaller image (size 16 m + 1; the tests' size).
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from golden.models.mobilenetv2_224 import BLOCKS, calibration_images, generate_weights, load_weights
from golden.models.zoo import InvertedResidual

INPUT_SIZE = 513
OUTPUT_STRIDE = 16
ASPP_RATES = (6, 12, 18)
ASPP_CHANNELS = 256
NUM_CLASSES = 21
#: Dead output channels of the generated weights: (conv index in module order, how many). Indices
#: 0-50 are the backbone, 51-54 the ASPP 1x1 and atrous branches, 55 the image pooling conv, 56 the
#: projection, 57 the classifier.
DEAD = [(4, 2), (10, 1), (19, 3), (31, 2), (44, 1), (53, 3), (56, 2)]


def conv(c_in: int, c_out: int, k: int, stride: int, groups: int = 1, act: bool = True, dilation: int = 1,
         relu: type[nn.Module] = nn.ReLU6) -> nn.Sequential:
    """conv (BN folded: with a bias) + ReLU6 (or `relu`), TF 'SAME' on odd sides: pad dilation x
    (k - 1) / 2 on every side, at stride 1 and 2 alike (a 1x1 conv is never dilated)."""
    dilation = dilation if k > 1 else 1
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, stride=stride, padding=dilation * (k // 2), dilation=dilation,
                                         groups=groups, bias=True)]
    if act:
        layers.append(relu())
    return nn.Sequential(*layers)


def backbone_blocks(output_stride: int = OUTPUT_STRIDE) -> list[tuple[int, int, int, int]]:
    """(expansion, output channels, stride, dilation) of MobileNetV2's 17 blocks at this output
    stride, as TF-slim's mobilenet sets them: once the stride so far reaches output_stride, a
    block runs at stride 1 with the rate so far, and the rate is multiplied by the stride it lost
    for the blocks after it."""
    blocks, current, rate = [], 2, 1  # the stem has stride 2
    for t, c, n, s in BLOCKS:
        for i in range(n):
            stride = s if i == 0 else 1
            if current == output_stride:
                blocks.append((t, c, 1, rate))
                rate *= stride
            else:
                blocks.append((t, c, stride, 1))
                current *= stride
    return blocks


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling on a `side` x `side` feature map."""

    def __init__(self, c_in: int, c_out: int, side: int, rates: tuple[int, ...] = ASPP_RATES) -> None:
        super().__init__()
        head = partial(conv, stride=1, relu=nn.ReLU)
        self.branches = nn.ModuleList([head(c_in, c_out, 1), *(head(c_in, c_out, 3, dilation=r) for r in rates)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.pool_conv = head(c_in, c_out, 1)
        self.side = side
        self.project = head(c_out * (len(rates) + 2), c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.interpolate(self.pool_conv(self.pool(x)), scale_factor=self.side, mode="nearest")
        return self.project(torch.cat([*(b(x) for b in self.branches), pooled], dim=1))


class DeepLabV3_513(nn.Module):
    def __init__(self, size: int = INPUT_SIZE, aspp_channels: int = ASPP_CHANNELS, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        if size < 17 or (size - 1) % OUTPUT_STRIDE:
            raise ValueError(f"size {size}: DeepLab's sides are 16 m + 1 (513, 129, 65, ...)")
        self.input_shape = (3, size, size)
        side = (size - 1) // OUTPUT_STRIDE + 1
        layers: list[nn.Module] = [conv(3, 32, 3, 2)]
        c = 32
        for t, c_out, stride, dilation in backbone_blocks():
            layers.append(InvertedResidual(c, c_out, stride, t, conv=partial(conv, dilation=dilation)))
            c = c_out
        self.backbone = nn.Sequential(*layers)
        self.aspp = ASPP(c, aspp_channels, side)
        self.classifier = nn.Conv2d(aspp_channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(self.aspp(self.backbone(x)))
        return F.interpolate(logits, scale_factor=OUTPUT_STRIDE, mode="nearest")


def tf_scopes(model: DeepLabV3_513) -> dict[str, str]:
    """Each conv's module name -> the scope of TF DeepLab's MobileNetV2 checkpoint its weights
    (and the batch norm folded into them) come from: MobilenetV2/Conv, expanded_conv_N/{expand,
    depthwise,project}, aspp0, aspp1..3, image_pooling, concat_projection, logits/semantic."""
    scopes = {"backbone.0.0": "MobilenetV2/Conv"}
    for b, block in enumerate(list(model.backbone)[1:], start=1):
        assert isinstance(block, InvertedResidual)
        parts = ["expand", "depthwise", "project"][-len(block.conv):]
        name = "expanded_conv" + (f"_{b - 1}" if b > 1 else "")
        scopes.update({f"backbone.{b}.conv.{j}.0": f"MobilenetV2/{name}/{p}" for j, p in enumerate(parts)})
    scopes.update({f"aspp.branches.{i}.0": f"aspp{i}" for i in range(len(model.aspp.branches))})
    scopes.update({"aspp.pool_conv.0": "image_pooling", "aspp.project.0": "concat_projection", "classifier": "logits/semantic"})
    return scopes


def generate(seed: int = 0, calibration: torch.Tensor | None = None, size: int = INPUT_SIZE,
             aspp_channels: int = ASPP_CHANNELS) -> DeepLabV3_513:
    """The model with deterministic generated weights (see the module docstring)."""
    x = calibration_images(8, seed + 1, size) if calibration is None else calibration[:8]
    return generate_weights(DeepLabV3_513(size, aspp_channels), x, DEAD, seed)


def load(weights: str | Path | None = None, size: int = INPUT_SIZE) -> tuple[nn.Module, torch.Tensor]:
    """(model, calibration batch): generated weights, or a user's state_dict file for this
    architecture (trained, BN folded into the conv biases)."""
    calib = calibration_images(16, size=size)
    return (generate(calibration=calib, size=size) if weights is None else load_weights(DeepLabV3_513(size), weights)), calib
