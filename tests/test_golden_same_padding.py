"""Asymmetric zero padding (TensorFlow/Keras 'SAME', written in PyTorch as nn.ZeroPad2d or F.pad
before the conv) in golden/, against PyTorch's own int8 kernels.

golden.quantize lets the padding share its input's observer and runs it on the quantized tensor
(zero in float is z_in), and extract folds it into the conv that reads it as (top, bottom, left,
right) padding. Cases: the stem conv, a depthwise and a conv at stride 2 and stride 1, on even
and odd image sizes, the pads computed the way TF computes 'SAME'. Then the same network through
hexgen (descriptor `padding` (top, left) and `padding_end` (bottom, right)) on the engine
(PAD_TOP, PAD_BOTTOM, PAD_LEFT, PAD_RIGHT), bit-exact.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from golden import extract, quantize
from golden.errors import UnsupportedLayerError
from golden.layers import ConvLayer
from golden.oracle import compare_layers


def tf_same(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'SAME' padding of one axis: (before, after), the odd one after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameNet(nn.Module):
    """stem 3x3 (nn.ZeroPad2d), depthwise 3x3 and conv 3x3 (F.pad), pointwise; strides given."""

    def __init__(self, hw: int, s_stem: int, s_dw: int, s_conv: int) -> None:
        super().__init__()
        t, b = tf_same(hw, 3, s_stem)
        self.pad = nn.ZeroPad2d((t, b, t, b))
        self.stem = nn.Conv2d(3, 16, 3, stride=s_stem)
        h1 = math.ceil(hw / s_stem)
        self.dw_pads = tf_same(h1, 3, s_dw) * 2
        self.dw = nn.Conv2d(16, 16, 3, stride=s_dw, groups=16)
        h2 = math.ceil(h1 / s_dw)
        self.conv_pads = tf_same(h2, 3, s_conv) * 2
        self.conv = nn.Conv2d(16, 8, 3, stride=s_conv)
        self.pw = nn.Conv2d(8, 8, 1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.stem(self.pad(x)))
        left, right = self.dw_pads[0], self.dw_pads[1]
        x = self.relu(self.dw(F.pad(x, (left, right, left, right))))
        left, right = self.conv_pads[0], self.conv_pads[1]
        x = self.relu(self.conv(F.pad(x, (left, right, left, right))))
        return self.pw(x)


CASES = [(16, 2, 2, 1), (15, 2, 2, 1), (17, 2, 1, 2), (14, 1, 2, 2)]


@pytest.mark.parametrize("hw, s_stem, s_dw, s_conv", CASES, ids=[f"{c[0]}px-s{c[1]}{c[2]}{c[3]}" for c in CASES])
def test_same_padding_folds_into_the_conv_and_matches_pytorchs_kernels(hw: int, s_stem: int, s_dw: int, s_conv: int) -> None:
    torch.manual_seed(hw * 100 + s_stem * 10 + s_dw)
    m = SameNet(hw, s_stem, s_dw, s_conv).eval()
    x = torch.rand(32, 3, hw, hw)
    with torch.no_grad():
        want_shape = tuple(m(x).shape[1:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize(m, x)
        net = extract(q, x[:2])
    convs = [layer for layer in net.compute_layers() if isinstance(layer, ConvLayer)]
    assert [c.module for c in convs] == ["stem", "dw", "conv", "pw"]  # the pads are no layers of their own
    assert tuple(convs[-1].out_shape) == want_shape
    t, b = tf_same(hw, 3, s_stem)
    assert convs[0].pads == (t, b, t, b)
    assert convs[1].kind == "depthwise"
    assert convs[1].pads == (m.dw_pads[0], m.dw_pads[1], m.dw_pads[0], m.dw_pads[1])
    assert convs[2].pads == (m.conv_pads[0], m.conv_pads[1], m.conv_pads[0], m.conv_pads[1])
    rows = compare_layers(net, q, x)
    bad = [str(r) for r in rows if not r.within_bound]
    assert not bad, "golden outside the bound of PyTorch's int8 kernels:\n" + "\n".join(bad)
    assert any(not c.symmetric for c in convs) == any(p[0] != p[1] for p in (tf_same(hw, 3, s_stem), m.dw_pads, m.conv_pads))


def test_padding_that_feeds_something_else_than_a_conv_is_refused() -> None:
    class PadPool(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.pool = nn.MaxPool2d(2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.pool(F.pad(self.conv(x), (0, 1, 0, 1)))

    x = torch.rand(4, 3, 9, 9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize(PadPool().eval(), x)
        with pytest.raises(UnsupportedLayerError, match="zero padding must feed convs only"):
            extract(q, x[:2])


SAME_MODEL = """
import torch
from tests.test_golden_same_padding import SameNet


def make():
    torch.manual_seed(11)
    return SameNet({hw}, 2, 2, 1).eval(), torch.rand(32, 3, {hw}, {hw})
"""


@pytest.mark.sim
@pytest.mark.parametrize("hw, simulator", [(16, "verilator"), (15, "icarus")])
def test_same_padded_layers_run_bit_exact_on_the_engine(tmp_path, hw: int, simulator: str) -> None:
    """The engine takes (top, bottom, left, right) padding in PAD_TOP / PAD_BOTTOM / PAD_LEFT /
    PAD_RIGHT: every layer of the SAME-padded network passes on the RTL (16 px: the (0, 1) pads of
    stride 2 on even sizes; 15 px: TF's symmetric pads on odd sizes, for contrast)."""
    from tb import layer_sim

    f = tmp_path / "same_net.py"
    f.write_text(SAME_MODEL.format(hw=hw))
    res = layer_sim.run(layers=None, sim=simulator, model=f"{f}:make", seed=0)
    assert [r["status"] for r in res] == ["PASS"] * 4, [(r["layer"], r["status"], r.get("reason")) for r in res]
    # what the engine ran: the pads hexgen put in the memory map for the CSRs
    import json

    mm = json.loads((Path(res[0]["image_dir"]) / "memory_map.json").read_text())
    pads = {e["name"]: e["descriptor"]["padding"] + e["descriptor"]["padding_end"] for e in mm["layers"]}
    if hw == 16:  # (top, left, bottom, right)
        assert pads["conv1"] == [0, 0, 1, 1] and pads["conv2"] == [0, 0, 1, 1] and pads["conv3"] == [1, 1, 1, 1]
    else:
        assert pads["conv1"] == [1, 1, 1, 1]
