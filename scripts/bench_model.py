"""A benchmark model whose layers fill the 8x8 array: channel counts are multiples of 8 and the
16x16 images give whole pixel tiles, so MAC-array utilisation measures the engine, not the tiling.

    make sim MODEL=scripts/bench_model.py:make

Also an example of bringing your own model: `make()` returns the float model and a calibration
batch. Random weights (seeded): only the arithmetic and the cycle counts matter here.
"""
from __future__ import annotations

import torch
from torch import nn


def make() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(8)
    model = nn.Sequential(
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),             # 3x3, stride 1
        nn.Conv2d(32, 64, 1), nn.ReLU(),                        # 1x1 expand
        nn.Conv2d(64, 32, 1), nn.ReLU(),                        # 1x1 project
        nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),   # 3x3, stride 2
        nn.Conv2d(32, 64, 1),                                   # 1x1 on 8x8
    ).eval()
    return model, torch.rand(64, 16, 16, 16)
