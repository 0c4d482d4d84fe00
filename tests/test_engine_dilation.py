"""Dilated (atrous) convolutions on the engine (issue 26 item 3): the gather walks the window with its
taps DIL_Y / DIL_X apart (rtl/gather.sv), the rule book takes the window's span for the padding
limit, the output size and the bands' halo (hexgen.rules.kernel_span), and the layers run bit-exact
against golden, whose dilated conv is checked against PyTorch's (tests/test_golden_dilation.py):
DeepLab's kinds, a full 3x3 conv at dilation 2, a depthwise 3x3 at dilation 4 in bands (its
input is past the activation buffer), a dilation of (2, 1), an ASPP-like conv at dilation 12 whose
one output row's span does not fit the activation buffer (passes of its tap rows only), a concat of
the two placed without a copy, and a strided conv at dilation 8; they fill the coverage bins of
dilation (2, 3-7, 8+) that make test's other layers leave empty."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.sim

MODEL = """
import torch
from torch import nn


class Atrous(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 48, 3, padding=2, dilation=2)
        self.dw = nn.Conv2d(48, 48, 3, padding=4, dilation=4, groups=48)
        self.c2 = nn.Conv2d(48, 8, (3, 3), padding=(2, 1), dilation=(2, 1))
        self.aspp = nn.Conv2d(48, 8, 3, padding=12, dilation=12)
        self.c3 = nn.Conv2d(16, 8, 3, stride=2, padding=8, dilation=8)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.relu(self.c1(x))
        x = self.relu(self.dw(x))
        return self.c3(torch.cat([self.relu(self.c2(x)), self.relu(self.aspp(x))], dim=1))


def make():
    torch.manual_seed(4)
    return Atrous().eval(), torch.rand(8, 3, 40, 36)
"""


def test_dilated_convs_run_bit_exact(tmp_path: Path) -> None:
    from tb import layer_sim

    f = tmp_path / "atrous.py"
    f.write_text(MODEL)
    res = layer_sim.run(sim="verilator", model=f"{f}:make", seed=0)
    names = ("conv1", "conv2", "conv3", "conv4", "conv5")
    assert [(r["layer"], r["status"]) for r in res] == [(n, "PASS") for n in names], \
        [(r["layer"], r["status"], r.get("reason")) for r in res]
    mm = json.loads((Path(res[0]["image_dir"]) / "memory_map.json").read_text())
    d = {e["name"]: e["descriptor"] for e in mm["layers"]}
    assert [d[n]["dilation"] for n in names] == [[2, 2], [4, 4], [2, 1], [12, 12], [8, 8]]
    # the depthwise layer (48 x 40 x 36: 6 channel tiles of 1,440 words) runs in bands whose halo is
    # the window's span, 9 rows, not its 3 taps
    passes = {e["name"]: e["passes"] for e in mm["layers"]}
    assert d["conv2"]["band_rows"] > 1 and len(passes["conv2"]) > 1, passes["conv2"]
    # the dilation-12 conv cannot hold one output row's span (6 tiles x 25 rows x 36 = 5,400 words of
    # 4,096): one-row passes of its 3 tap rows, 12 rows apart (hexgen.rules.tap_rows)
    assert d["conv4"]["band_rows"] == 1 and max(p["in_rows"] for p in passes["conv4"]) == 3, passes["conv4"]
    from tb.coverage import holes

    assert holes(res, {e["name"]: e for e in mm["layers"]}, 8, 8)["dilation"] == ["1"]
