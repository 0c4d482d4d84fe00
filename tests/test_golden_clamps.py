"""Clamp activations other than ReLU and ReLU6 (issue 25 item 0: "every activation that is a
clamp"): nn.Hardtanh, F.hardtanh, torch.clamp and Tensor.clamp after a conv, fc or add are folded
into that layer's output range when quantizing (golden.observe.observe_clamped: the layer's codes span
the clamp's range) and into its clamp bounds when extracting (golden.arith.clamp_code). Expected
values: PyTorch's own int8 kernels on the converted model."""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from golden import UnsupportedLayerError, extract, quantize
from golden.oracle import compare_layers


class Clamped(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1, self.h = nn.Conv2d(3, 8, 3, padding=1), nn.Hardtanh(-1.0, 2.0)
        self.c2, self.c3, self.c4 = nn.Conv2d(8, 8, 1), nn.Conv2d(8, 8, 3), nn.Conv2d(8, 8, 1)
        self.fc = nn.Linear(8 * 6 * 6, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.h(self.c1(x))                      # [-1, 2]
        x = F.hardtanh(self.c2(x), 0.0, 3.0)        # [0, 3]
        x = torch.clamp(self.c3(x), -0.5, 1.5)      # [-0.5, 1.5]
        x = self.c4(x).clamp(0.25, 5.0)             # [0.25, 5]
        return torch.clamp(self.fc(torch.flatten(x, 1)), min=-2.0, max=4.0)


def _quantized(fold: bool = True) -> tuple[nn.Module, torch.Tensor, object, object]:
    torch.manual_seed(3)
    m = Clamped().eval()
    x = torch.randn(64, 3, 8, 8) * 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qm = quantize(m, x, fold_clamps=fold)
        return m, x, qm, extract(qm, x[:2])


def test_clamps_fold_and_golden_equals_pytorchs_kernels() -> None:
    m, x, qm, net = _quantized()
    # each layer on PyTorch's own input codes against its output codes, within the contract's bound (arithmetic.md)
    rows = compare_layers(net, qm, x)
    assert rows and all(r.within_bound for r in rows), rows
    # every clamp folded: no layer of its own, each conv's range is its clamp's over (nearly) all codes
    assert [l.name for l in net.compute_layers()] == ["conv1", "conv2", "conv3", "conv4", "fc1"]
    for name, (a, b) in {"conv1": (-1.0, 2.0), "conv2": (0.0, 3.0), "conv3": (-0.5, 1.5), "conv4": (0.25, 5.0),
                         "fc1": (-2.0, 4.0)}.items():
        rq, s = net[name].requant, net[name].scale_out
        # every code inside the clamp's range (the observer saw the clamped values and may clip their
        # tail further, a range that does not hold 0 being widened to hold it), and (nearly) all used
        if a <= 0.0:
            assert rq.hi - rq.lo >= 253, (name, rq.lo, rq.hi)
        else:  # the codes from 0 (the zero point) up to a are the only ones left out
            assert abs(rq.lo - rq.z_out - a / s) <= 1 and rq.hi == 255, (name, rq.lo, rq.hi, rq.z_out, s)
        assert (rq.lo - rq.z_out) * s >= min(a, 0.0) - s and (rq.hi - rq.z_out) * s <= max(b, 0.0) + s, (name, rq.lo, rq.hi, rq.z_out, s)


def test_without_folding_the_clamp_wastes_codes_but_computes_the_same_function() -> None:
    _m, x, qm, net = _quantized(fold=False)
    assert all(r.within_bound for r in compare_layers(net, qm, x))
    rq = net["conv1"].requant
    assert rq.hi - rq.lo + 1 < 200, (rq.lo, rq.hi)  # the conv's own range, the hardtanh's inside it


@pytest.mark.parametrize("how", ["tensor", "one bound"])
def test_a_clamp_golden_cannot_fold_is_one_line_naming_it(how: str) -> None:
    class TensorBound(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c = nn.Conv2d(3, 4, 1)
            self.register_buffer("hi", torch.ones(1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.clamp(self.c(x), max=self.hi) if how == "tensor" else self.c(x).clamp(min=0.5)

    with pytest.raises(UnsupportedLayerError) as e:
        x = torch.randn(8, 3, 4, 4)
        quantize(TensorBound().eval(), x)
    msg = str(e.value)
    assert "\n" not in msg and "clamp (FX node clamp" in msg, msg
    assert ("not numbers" if how == "tensor" else "needs both") in msg, msg


def test_torch_relu_and_tensor_relu_fold_as_f_relu() -> None:
    """`torch.relu(conv(x))` and `conv(x).relu()` (common in user models) are quantized as F.relu is:
    fused with the conv, not left in float (extract refused them: "its input is a dequantized (float)
    tensor"); golden equals PyTorch's kernels on the converted model."""

    class Relus(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1, self.c2, self.c3 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 1), nn.Conv2d(8, 4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.c3(self.c2(torch.relu(self.c1(x))).relu())

    torch.manual_seed(4)
    x = torch.randn(32, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qm = quantize(Relus().eval(), x)
        net = extract(qm, x[:2])
    assert [l.kind for l in net.layers] == ["conv", "pointwise", "pointwise"]
    assert net["conv1"].requant.lo == net["conv1"].requant.z_out and net["conv2"].requant.lo == net["conv2"].requant.z_out
    rows = compare_layers(net, qm, x)
    assert rows and all(r.within_bound for r in rows), rows
