"""A small YOLO-style detector at 3x320x320 (20 PASCAL VOC classes, 3 anchors per cell) with two
detection heads, with deterministic generated weights.

Backbone (Darknet-like, every conv 3x3 or 1x1 with ReLU6, batch norm folded, TF 'SAME' padding:
golden.models.mobilenetv2_224.conv): a stem conv 3x3/s2 to 16 channels, then four stages of a
stride-2 3x3 conv doubling the channels and residual blocks (1x1 conv to half the channels, 3x3
conv back, added to the block's input): 160 -> 80 (32 channels, 1 block) -> 40 (64, 1) -> 20
(128, 2: C4, stride 16) -> 10 (256, 1: C5, stride 32). Neck (FPN-style, as YOLOv3-tiny's): a 1x1
conv of C5 to 128 (P5); head 1 reads P5 through a 3x3 conv to 256; P5 through a 1x1 conv to 64 is
upsampled (nearest, x2: nn.Upsample) to 20 x 20 and concatenated with C4 along channels (torch.cat
dim 1: 64 + 128), a 3x3 conv to 128 and head 2. Each head ends in a 1x1 conv (no activation) to
3 x (5 + 20) = 75 channels: per anchor a, channels 25 a .. 25 a + 24 are (tx, ty, tw, th,
objectness, 20 class scores), YOLOv3's layout. The model returns both: (75 x 10 x 10 at stride 32,
75 x 20 x 20 at stride 16); golden keeps both (Network.output_names).

Weights are generated as mobilenetv2_224's (`generate`, seeded: log-normal per-channel spreads,
small biases, dead channels in a few layers, each layer scaled to a unit output spread on the
calibration images); calibration: 16 synthetic images (mobilenetv2_224.calibration_images at 320).
Trained weights load with `load(path)` from a state_dict of `YoloSmall()` (BN folded into the conv
biases; the names are its modules': to_c4.N.0 and to_c5.N.0 for a backbone conv,
to_c4.N.conv.{0,1}.0 and to_c5.N.conv.{0,1}.0 for a residual block's two, lateral.0, head1.0,
head1_out, reduce.0, merge.0, head2_out).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from golden.models.mobilenetv2_224 import calibration_images, conv, generate_weights, load_weights

INPUT_SIZE = 320
NUM_CLASSES = 20
ANCHORS = 3
#: (output channels, residual blocks) of the four stride-2 stages after the stem
STAGES = [(32, 1), (64, 1), (128, 2), (256, 1)]
#: Dead output channels of the generated weights: (conv index in module order, how many)
DEAD = [(2, 2), (8, 3), (12, 4), (16, 2)]


class Residual(nn.Module):
    """Darknet's residual block: x + conv3x3(conv1x1(x)), half the channels in between."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(conv(c, c // 2, 1, 1), conv(c // 2, c, 3, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x)


class YoloSmall(nn.Module):
    def __init__(self, size: int = INPUT_SIZE, num_classes: int = NUM_CLASSES, anchors: int = ANCHORS) -> None:
        super().__init__()
        if size < 32 or size % 32:
            raise ValueError(f"size {size}: the detector's input side is a multiple of 32 (its stride)")
        self.input_shape = (3, size, size)
        stages: list[list[nn.Module]] = [[conv(3, 16, 3, 2)]]
        c = 16
        for c_out, blocks in STAGES:
            stages.append([conv(c, c_out, 3, 2), *(Residual(c_out) for _ in range(blocks))])
            c = c_out
        self.to_c4 = nn.Sequential(*(m for stage in stages[:-1] for m in stage))  # stride 16
        self.to_c5 = nn.Sequential(*stages[-1])  # stride 32
        out = anchors * (5 + num_classes)
        self.lateral = conv(c, 128, 1, 1)
        self.head1 = conv(128, 256, 3, 1)
        self.head1_out = nn.Conv2d(256, out, 1)
        self.reduce = conv(128, 64, 1, 1)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.merge = conv(64 + STAGES[-2][0], 128, 3, 1)
        self.head2_out = nn.Conv2d(128, out, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c4 = self.to_c4(x)
        p5 = self.lateral(self.to_c5(c4))
        up = self.upsample(self.reduce(p5))
        return self.head1_out(self.head1(p5)), self.head2_out(self.merge(torch.cat([up, c4], dim=1)))


def generate(seed: int = 0, calibration: torch.Tensor | None = None, size: int = INPUT_SIZE) -> YoloSmall:
    """The model with deterministic generated weights (see the module docstring)."""
    x = calibration_images(8, seed + 1, size) if calibration is None else calibration[:8]
    return generate_weights(YoloSmall(size), x, DEAD, seed)


def load(weights: str | Path | None = None, size: int = INPUT_SIZE) -> tuple[nn.Module, torch.Tensor]:
    """(model, calibration batch): generated weights, or a user's state_dict file for this
    architecture (trained, BN folded into the conv biases)."""
    calib = calibration_images(16, size=size)
    return (generate(calibration=calib, size=size) if weights is None else load_weights(YoloSmall(size), weights)), calib
