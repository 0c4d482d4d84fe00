"""Planes past 16 bits on the RTL (issue 26 item 1): the input image is addressed, never counted, and
the output-pixel counters are the description's pixel_bits wide (24 in every preset), so layers of
257 x 257 = 66,049 output pixels (past the 65,535 the old 16-bit counters held) run bit-exact on
Verilator: a stem in bands whose second output-channel tile starts 66,049 words into the output
(the layer-wide pixel count in band_seq's bases) and a strided pointwise layer reading both tiles;
in the slow suite also a pointwise layer at full size and an add of the whole plane on the vector
unit (one input twice: the cheapest add of a 66,049-pixel plane; 235,000 cycles)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.sim

MODEL = """
import torch
from torch import nn


class LargePlane(nn.Module):
    def __init__(self, add: bool) -> None:
        super().__init__()
        self.add = add
        self.stem = nn.Conv2d(3, 16, 1)
        self.pw = nn.Conv2d(16, 8, 1)
        self.pw2 = nn.Conv2d(16 if not add else 8, 8, 1, stride=4)
        self.relu = nn.ReLU()

    def forward(self, x):
        s = self.relu(self.stem(x))
        if self.add:
            t = self.relu(self.pw(s))
            s = t + t
        return self.pw2(s)


def make():
    torch.manual_seed(3)
    return LargePlane({add}).eval(), torch.rand(4, 3, 257, 257)
"""


@pytest.mark.parametrize("add", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["conv", "conv-add"])
def test_a_plane_past_16_bits_runs_bit_exact(tmp_path: Path, add: bool) -> None:
    from tb import layer_sim

    f = tmp_path / "large_plane.py"
    f.write_text(MODEL.format(add=add))
    res = layer_sim.run(sim="verilator", model=f"{f}:make", seed=0)
    want = ["conv1", "conv2", "add1", "conv3"] if add else ["conv1", "conv2"]
    assert {r["layer"]: r["status"] for r in res} == dict.fromkeys(want, "PASS"), \
        [(r["layer"], r["status"], r.get("reason")) for r in res]
    # the stem ran in bands (its input, 66,049 words, is past the 4,096-word activation buffer), each
    # pass counting its own output pixels, and in two output-channel tiles of 66,049 words each
    mm = json.loads((Path(res[0]["image_dir"]) / "memory_map.json").read_text())
    stem = next(e for e in mm["layers"] if e["name"] == "conv1")
    assert 1 + max(p["band"] for p in stem["passes"]) > 1 and stem["descriptor"]["out_shape"] == [16, 257, 257]
