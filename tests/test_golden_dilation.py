"""Dilated (atrous) convolution in golden/ (issue 26 item 3), against PyTorch's own kernels.

Each case is stem conv -> the dilated conv (full or depthwise; kernel 3 or 5; dilation 2, 4, 6 or
(2, 4); stride 1 or 2; symmetric padding, none, or TF 'SAME' padding written as nn.ZeroPad2d) ->
pointwise, quantized by golden.quantize. Expected values: PyTorch's quantized kernels (layer by
layer, the contract's bound), and for the accumulators PyTorch's float64 conv of the centred input
codes (exact integers). hexgen refuses a dilated conv by name until the engine walks the dilated
window; the other layers of the network still get their images."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from golden import arith, extract, quantize
from golden.export import layer_geometry, network_arrays
from golden.graph import layer_oracle, trace_values
from golden.layers import ConvLayer
from golden.oracle import compare_layers
from golden.report import layer_table
from hexgen import HardwareConfig, build_image, plan_layer
from hexgen.errors import LayoutError
from hexgen.target import record_from_json, record_json


class Dilated(nn.Module):
    """stem 3x3 -> the dilated conv (after an optional nn.ZeroPad2d) -> pointwise, ReLUs between."""

    def __init__(self, groups: int, k: int, d: Any, s: int, p: Any, pad: tuple[int, int, int, int] | None) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.pad = nn.ZeroPad2d(pad) if pad else nn.Identity()
        self.conv = nn.Conv2d(8, 8, k, stride=s, padding=p, dilation=d, groups=groups)
        self.pw = nn.Conv2d(8, 4, 1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw(self.relu(self.conv(self.pad(self.relu(self.stem(x))))))


# (groups, kernel, dilation, stride, padding, ZeroPad2d (left, right, top, bottom) or None)
CASES = {
    "full-k3-d2-s1": (1, 3, 2, 1, 2, None),
    "full-k3-d4-s2": (1, 3, 4, 2, 4, None),
    "full-k5-d2-s1": (1, 5, 2, 1, 4, None),
    "full-k3-d2x4-s1": (1, 3, (2, 4), 1, (2, 4), None),
    "full-k3-d2-unpadded": (1, 3, 2, 1, 0, None),
    "dw-k3-d2-s1": (8, 3, 2, 1, 2, None),
    "dw-k3-d6-s2": (8, 3, 6, 2, 6, None),
    "dw-k5-d4-s1": (8, 5, 4, 1, 8, None),
    "dw-k3-d2-s2-same": (8, 3, 2, 2, 0, (1, 2, 1, 2)),  # TF 'SAME' of a span-5 kernel at stride 2 on 20: (1, 2)
}


def _quantized(case: str, bias_mode: str = "int16_shift", m0_bits: int = 16) -> tuple[nn.Module, torch.Tensor, Any, Any]:
    torch.manual_seed(sum(map(ord, case)))
    m = Dilated(*CASES[case]).eval()
    x = torch.rand(16, 3, 20, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize(m, x)
        return m, x, q, extract(q, x[:2], bias_mode=bias_mode, m0_bits=m0_bits)


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)  # type: ignore[return-value]


@pytest.mark.parametrize("case", list(CASES))
def test_dilated_conv_matches_pytorchs_kernels(case: str) -> None:
    groups, k, d, s, p, pad = CASES[case]
    m, x, q, net = _quantized(case)
    conv = net["conv2"]
    assert isinstance(conv, ConvLayer) and conv.module == "conv"
    assert conv.dilation == _pair(d) and conv.kernel == (k, k) and conv.stride == (s, s)
    assert conv.kind == ("depthwise" if groups > 1 else "conv")
    if pad:
        left, right, top, bottom = pad
        assert conv.pads == (top, bottom, left, right)
    else:
        py, px = _pair(p)
        assert conv.pads == (py, py, px, px)
    with torch.no_grad():
        assert tuple(net["conv3"].out_shape) == tuple(m(x).shape[1:])
    for bias_mode, m0_bits in (("int16_shift", 16), ("int32", 31)):  # the contract's bound holds in both
        rows = compare_layers(extract(q, x[:2], bias_mode=bias_mode, m0_bits=m0_bits), q, x)
        bad = [str(r) for r in rows if not r.within_bound]
        assert not bad, f"{bias_mode}: golden outside the bound of PyTorch's int8 kernels:\n" + "\n".join(bad)
        assert [r.layer for r in rows] == ["conv1", "conv2", "conv3"]


@pytest.mark.parametrize("case", ["full-k3-d2x4-s1", "dw-k3-d6-s2", "dw-k3-d2-s2-same"])
def test_dilated_accumulators_are_pytorchs_float64_conv_of_the_centred_codes(case: str) -> None:
    """Both of golden's carriers (PyTorch's float conv, numpy's windows) give exactly PyTorch's
    float64 conv of (codes - z_in) with the weight codes, on PyTorch's own input codes."""
    _m, x, q, net = _quantized(case)
    conv = net["conv2"]
    (x_in,), _ = layer_oracle(net, trace_values(q, x[:4]))["conv2"]
    top, bottom, left, right = conv.pads
    xc = F.pad(torch.from_numpy(x_in.astype(np.float64)) - conv.z_in, (left, right, top, bottom))
    want = F.conv2d(xc, torch.from_numpy(conv.weight.astype(np.float64)), stride=conv.stride, dilation=conv.dilation,
                    groups=conv.groups).numpy() + conv.bias.term.reshape(1, -1, 1, 1)
    assert np.array_equal(conv.accumulate(x_in), want)
    numpy_acc = arith._conv_numpy(x_in, conv.weight, z_in=conv.z_in, stride=conv.stride, padding=conv.pads,
                                  groups=conv.groups, channels_last=False, dt=np.float64, dilation=conv.dilation)
    assert np.array_equal(numpy_acc.transpose(0, 3, 1, 2) + conv.bias.term.reshape(1, -1, 1, 1), want)
    # the dilation matters: the same weights undilated give other sums
    assert not np.array_equal(numpy_acc, arith._conv_numpy(x_in, conv.weight, z_in=conv.z_in, stride=conv.stride,
                                                           padding=conv.pads, groups=conv.groups, channels_last=False,
                                                           dt=np.float64)[:, : numpy_acc.shape[1], : numpy_acc.shape[2]])


def test_dilated_conv_runs_in_network_run_as_in_pytorch() -> None:
    """Network.run (channels-last inside) on the network's own input: the dilated layer's output
    against PyTorch's quantized model on the same images, within the contract's bound."""
    _m, x, q, net = _quantized("dw-k5-d4-s1", bias_mode="int32", m0_bits=31)
    res = net.run(net.quantize_input(x))
    values = trace_values(q, x)
    got, want = res["conv2"].astype(np.int64), values[net["conv2"].source].int_repr().numpy().astype(np.int64)
    assert got.shape == want.shape
    diff = np.abs(got - want)
    assert diff.max() <= 1 and np.mean(diff == 0) >= 0.995, (diff.max(), np.mean(diff == 0))


def test_a_one_tap_axis_is_never_dilated() -> None:
    """A 1x1 conv declared with dilation 2 computes what an undilated one does: its record says 1."""
    torch.manual_seed(5)
    m = nn.Sequential(nn.Conv2d(3, 4, 3, padding=2, dilation=2), nn.Conv2d(4, 4, 1, dilation=2),
                      nn.Conv2d(4, 4, (1, 3), padding=(0, 3), dilation=3)).eval()
    x = torch.rand(8, 3, 10, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize(m, x)
        net = extract(q, x[:2])
    assert [c.dilation for c in net.compute_layers()] == [(2, 2), (1, 1), (1, 3)]
    assert all(r.within_bound for r in compare_layers(net, q, x))


def test_dilation_is_in_the_table_the_export_and_hexgens_record() -> None:
    _m, x, _q, net = _quantized("full-k3-d2x4-s1")
    conv = net["conv2"]
    table = layer_table(net)
    assert "conv 3x3/s1 d2x4" in table and "d1" not in table
    assert layer_geometry(conv)["dilation"] == [2, 4] and layer_geometry(net["conv1"])["dilation"] == [1, 1]
    arrays = network_arrays(net, net.quantize_input(x[:1]))
    assert arrays["conv2"]["dilation"].dtype == np.int32 and arrays["conv2"]["dilation"].tolist() == [2, 4]
    # the export's arrays alone, through golden.arith, give the exported accumulators
    a = arrays["conv2"]
    acc = arith.conv_acc(a["input"], a["weight"], a["bias_term"], z_in=int(a["z_in"]), stride=tuple(a["stride"]),
                         padding=tuple(a["pads"]), groups=int(a["groups"]), dilation=tuple(a["dilation"]))
    assert np.array_equal(acc, a["acc"])
    # hexgen's JSON record (what a target's image carries) round-trips it
    back = record_from_json(conv.name, record_json(conv), conv.weight)
    assert isinstance(back, ConvLayer) and back.dilation == (2, 4)
    assert np.array_equal(back.accumulate(a["input"]), a["acc"])


def test_hexgen_lays_out_a_network_with_a_dilated_conv() -> None:
    """hexgen's plan carries the dilation to the engine or refuses the layer naming it, in one line;
    either way the network's other layers get their images."""
    _m, x, _q, net = _quantized("dw-k3-d6-s2")
    cfg = HardwareConfig()
    try:
        plan = plan_layer(net["conv2"], cfg)
    except LayoutError as exc:
        assert str(exc).startswith("layer conv2: ") and "dilation" in str(exc).lower() and "\n" not in str(exc), exc
    else:
        assert plan.descriptor["dilation"] == [6, 6]
    image = build_image(net, net.quantize_input(x[:1]), cfg, layers=["conv1", "conv3"])
    assert [p.name for p in image.plans] == ["conv1", "conv3"]
