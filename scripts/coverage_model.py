"""The coverage model: one deterministic network whose layers hit every bin of the functional
coverage of the layer space (tb/coverage.py) on the default hardware description (8x8 array):
every CNN kind, kernel sides 1..7, strides 1..4 on each axis (a transformer's kinds and the patch
embedding's large kernel and stride are tests/test_engine_tokens.py's), no / symmetric / asymmetric padding,
channels and output pixels below, at, a multiple of and above with a remainder the array's
rows and columns, bias shifts 0, 1-7 and 8-15, both clamp bounds hit, zero points 0, 255 and
between. tests/test_engine.py runs it in the fast suite and checks that no bin stays empty.

    make sim MODEL=scripts/coverage_model.py:make
"""
from __future__ import annotations

import torch
from torch import nn


class CoverageNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 12, (7, 6), stride=(3, 4), padding=(3, 2))       # k 7x6, s 3x4; 3 in (below), 12 out (remainder)
        self.r1 = nn.ReLU()                                                      # outputs at the lower bound, z_out 0
        self.c2 = nn.Conv2d(12, 16, (2, 2), stride=(1, 2), padding=(0, 1))      # k 2x2, s 1x2; 12 in, 16 out (multiple)
        self.r2 = nn.ReLU6()                                                     # outputs at the upper bound
        self.d3 = nn.Conv2d(16, 16, (4, 5), stride=(4, 3), padding=(2, 2), groups=16)  # depthwise k 4x5, s 4x3
        self.c4 = nn.Conv2d(16, 8, 1)                                            # pointwise; 8 out (at)
        self.c5 = nn.Conv2d(8, 8, (5, 3), padding=(2, 1))                        # k 5x3; 8 in (at)
        self.p7 = nn.MaxPool2d(2, 1)
        self.c9 = nn.Conv2d(8, 8, (3, 4), stride=(2, 1), padding=(0, 1))        # k 3x4, s 2x1; 8 output pixels (at)
        self.pad8 = nn.ZeroPad2d((3, 3, 2, 3))                                   # asymmetric: 2 rows above, 3 below
        self.c8 = nn.Conv2d(8, 4, (6, 7))                                        # k 6x7; 4 out (below)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 5)                                                # one output pixel (below)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.r1(self.c1(x))
        x = self.r2(self.c2(x))
        x = self.d3(x)
        y = self.c4(x)
        x = y + self.c5(y)                                                       # residual add
        x = self.p7(x)
        x = self.c9(x)
        x = self.c8(self.pad8(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def make() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(5)
    m = CoverageNet().eval()
    with torch.no_grad():
        # c4's outputs all below zero: its z_out, and the z_in of the layers after it, are 255; its
        # bias terms are large against its scales (shifts 8..15)
        m.c4.weight.mul_(0.01)
        m.c4.bias.fill_(-20.0)
        m.c5.bias.copy_(torch.logspace(-3, 1, 8))  # bias terms over four decades (shifts 0 .. 7)
    x = torch.rand(64, 3, 64, 128) * 3.0 - 1.0
    return m, x
