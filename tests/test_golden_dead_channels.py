"""Dead and near-dead output channels (pruned or dead filters, common in trained networks).

PyTorch's per-channel weight observer gives a channel whose weights are all zero the scale 1.2e-7,
so its bias code (bias / (s_in x s_w)) reaches 1e9 and more: extract failed in int16_shift and
int32 mode. golden.quantize gives such a channel its layer's median scale and bounds every scale
from below (golden.ptq.live_channel_scales); extract gives a channel whose weight codes are all 0
the median scale whatever quantized the model. Checked against PyTorch's own int8 kernels and, for
the dead channels of a model quantized with PyTorch's stock observer, against the float model.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.ao.quantization import QConfig, QConfigMapping
from torch.ao.quantization.observer import HistogramObserver, PerChannelMinMaxObserver
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

from golden import extract, quantize
from golden.graph import layer_oracle, trace_values
from golden.layers import ConvLayer, LinearLayer
from golden.oracle import compare_layers
from golden.ptq import LIVE_SCALE_RATIO, reference_engine

#: Dead output channels per layer kind, and one near-dead channel (weights of 1e-9)
DEAD = {"c1": [2, 5], "dw": [3], "pw": [0, 7, 9], "fc": [4]}
NEAR_DEAD = ("pw", 11)


class Pruned(nn.Module):
    """Conv, depthwise, pointwise and fc, each with pruned output channels whose bias is not 0."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.pw = nn.Conv2d(16, 24, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(24, 10)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.c1(x))
        x = self.relu(self.dw(x))
        x = self.relu(self.pw(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def pruned_model() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    m = Pruned().eval()
    with torch.no_grad():
        for name, idx in DEAD.items():
            mod = getattr(m, name)
            mod.weight[idx] = 0
            mod.bias[idx] = torch.randn(len(idx)) * 0.5 + 0.6  # positive: the ReLU passes them
        name, ch = NEAR_DEAD
        getattr(m, name).weight[ch] = 1e-9 * torch.randn_like(getattr(m, name).weight[ch])
    return m, torch.rand(64, 3, 12, 12)


@pytest.mark.parametrize("bias_mode", ["int16_shift", "int32"])
def test_quantize_gives_dead_channels_usable_scales(bias_mode: str) -> None:
    m, x = pruned_model()
    q = quantize(m, x)
    net = extract(q, x[:2], bias_mode=bias_mode)
    layers = {layer.module: layer for layer in net.compute_layers()}
    for name, idx in DEAD.items():
        layer = layers[name]
        assert isinstance(layer, (ConvLayer, LinearLayer))
        live = np.setdiff1d(np.arange(layer.weight.shape[0]), idx)
        assert not layer.weight[idx].any(), f"{name}: a dead channel got non-zero weight codes"
        # the observer's median is over every channel with a non-zero weight (the near-dead one too)
        assert np.allclose(layer.weight_scale[idx], np.median(layer.weight_scale[live]), rtol=1e-6), name
        assert layer.weight_scale.min() >= np.median(layer.weight_scale) / LIVE_SCALE_RATIO * 0.999, name
    rows = compare_layers(net, q, x)
    bad = [str(r) for r in rows if not r.within_bound]
    assert not bad, "golden outside the bound of PyTorch's int8 kernels:\n" + "\n".join(bad)


def test_extract_never_fails_on_a_model_quantized_with_pytorchs_stock_observer() -> None:
    """The dead channels' scale is 1.2e-7 there: extract still runs in every bias mode; live
    channels agree with PyTorch's kernels, and dead ones compute what the float model does (PyTorch's
    own kernel saturates an int32 bias code that large)."""
    m, x = pruned_model()
    qc = QConfig(activation=HistogramObserver.with_args(reduce_range=False, dtype=torch.quint8),
                 weight=PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric,
                                                            quant_min=-127, quant_max=127))
    prepared = prepare_fx(m, QConfigMapping().set_global(qc), example_inputs=(x[:1],))
    with torch.no_grad():
        prepared(x)
    with reference_engine():
        q = convert_fx(prepared)
    assert float(q.pw.weight().q_per_channel_scales()[DEAD["pw"][0]]) < 1e-6  # the scale this test is about
    for mode in ("int16_shift", "int32"):
        extract(q, x[:2], bias_mode=mode)
    with pytest.warns(UserWarning, match="saturated to int16"):  # runs, and says what it clipped
        extract(q, x[:2], bias_mode="int16_saturate")
    net = extract(q, x[:2], bias_mode="int32")
    oracle = layer_oracle(net, trace_values(q, x))
    with torch.no_grad():
        f_pw = m.relu(m.pw(m.relu(m.dw(m.relu(m.c1(x))))))
    for layer in net.compute_layers():
        ins, expected = oracle[layer.name]
        got = layer.forward(ins).astype(np.int64)
        dead = DEAD[layer.module]
        live = np.setdiff1d(np.arange(got.shape[1]), dead)
        diff = np.abs(got[:, live] - expected[:, live].astype(np.int64))
        assert diff.max() <= 1 and (diff == 0).mean() >= 0.995, f"{layer.name}: live channels off PyTorch's kernels"
        if layer.module == "pw":  # the dead channels: the float model's output, quantized by PyTorch
            s, z = layer.scale_out, layer.requant.z_out
            want = torch.quantize_per_tensor(f_pw, s, z, torch.quint8).int_repr().numpy().astype(np.int64)
            assert np.abs(got[:, dead] - want[:, dead]).max() <= 1, f"{layer.name}: dead channels off the float model"
