"""Every error golden/ raises on purpose, with the layer/module and the problem in its message."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn
from torch.ao.quantization import QConfig, QConfigMapping
from torch.ao.quantization.observer import HistogramObserver, PerChannelMinMaxObserver
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

from golden import (
    BiasSaturationError,
    InputError,
    QuantSchemeError,
    RangeError,
    ShapeError,
    UnsupportedLayerError,
    extract,
    quantize,
)
from golden.arith import check_int32, encode_bias, quantize_multiplier
from golden.layers import Network


def _small() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU()).eval(), torch.rand(16, 2, 6, 6)


def _convert_with(model: nn.Module, x: torch.Tensor, qconfig: QConfig) -> torch.fx.GraphModule:
    prepared = prepare_fx(model, QConfigMapping().set_global(qconfig), example_inputs=(x[:1],))
    prepared(x)
    return convert_fx(prepared)


def test_unsupported_module_is_named():
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.Hardswish()).eval()
    x = torch.rand(8, 2, 6, 6)
    # golden.quantize refuses it before FX runs ...
    with pytest.raises(UnsupportedLayerError, match=r"module '1' \(Hardswish\) is not supported"):
        quantize(model, x)
    # ... and extract on a model the user converted names it too
    from golden.ptq import contract_qconfig

    with pytest.raises(UnsupportedLayerError, match=r"module '1' \(.*Hardswish\) is not supported"):
        extract(_convert_with(model, x, contract_qconfig()), x[:1])


def test_unsupported_function_is_named():
    class Sig(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 4, 1)

        def forward(self, x):  # type: ignore[no-untyped-def]
            return torch.sigmoid(self.conv(x))

    x = torch.rand(8, 2, 4, 4)
    with pytest.raises(UnsupportedLayerError, match="sigmoid"):
        extract(quantize(Sig().eval(), x), x[:1])


def test_float_model_is_refused_with_the_module_name():
    model, x = _small()
    with pytest.raises(UnsupportedLayerError, match=r"module '0' is a float Conv2d: the model is not quantized"):
        extract(model, x[:1])


def test_asymmetric_weights_are_refused():
    model, x = _small()
    qc = QConfig(
        activation=HistogramObserver.with_args(reduce_range=False, dtype=torch.quint8),
        weight=PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_affine, quant_min=-127, quant_max=127),
    )
    torch.nn.init.uniform_(model[0].weight, 0.1, 1.0)  # all positive: affine zero points != 0
    with pytest.raises(QuantSchemeError, match=r"'0'.*weights are not symmetric"):
        extract(_convert_with(model, x, qc), x[:1])


def test_weights_using_minus_128_are_refused():
    model, x = _small()
    qc = QConfig(
        activation=HistogramObserver.with_args(reduce_range=False, dtype=torch.quint8),
        weight=PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric),
    )
    with torch.no_grad():
        model[0].weight[:, 0, 0, 0] = -5.0  # the most negative weight of each channel maps to -128
    with pytest.raises(QuantSchemeError, match=r"weights use -128; the contract's narrow range is \[-127, 127\]"):
        extract(_convert_with(model, x, qc), x[:1])


def test_activations_that_are_not_uint8_are_refused():
    model, x = _small()
    qm = quantize(model, x)
    for node in qm.graph.nodes:
        if node.target is torch.quantize_per_tensor:
            node.args = (*node.args[:3], torch.qint8)
    qm.recompile()
    with pytest.raises(QuantSchemeError, match="not uint8"):
        extract(qm, x[:1])


def test_int16_saturate_counts_and_error_policy_raises():
    model, x = _small()
    with torch.no_grad():
        model[0].bias[1] = 50.0  # far more than int16 accumulator units at these scales
    qm = quantize(model, x)
    with pytest.warns(UserWarning, match=r"layer conv1: 1 bias channel\(s\) saturated to int16"):
        net = extract(qm, x[:1], bias_mode="int16_saturate")
    assert net.saturations == {"conv1": 1}
    assert "bias saturations: conv1: 1" in net.table()
    with pytest.raises(BiasSaturationError, match=r"layer conv1: bias of channel 1 .* does not fit int16"):
        extract(qm, x[:1], bias_mode="int16_saturate", saturate_policy="error")
    # the default mode keeps it with a shift instead
    shifted = extract(qm, x[:1])
    assert shifted.saturations == {} and shifted["conv1"].bias.shift[1] > 0  # type: ignore[attr-defined]


def test_bias_past_int32_is_an_error_naming_the_layer():
    with pytest.raises(RangeError, match=r"layer conv7: bias of channel 0 .* does not fit int32"):
        encode_bias(np.array([3e9]), mode="int32", where="layer conv7")


def test_multiplier_needing_n_below_1_is_an_error():
    with pytest.raises(RangeError, match=r"layer fc2 channel 0: M=2 needs n=-1 < 1"):
        quantize_multiplier(2.0, m0_bits=1, where="layer fc2 channel 0")
    with pytest.raises(RangeError, match="m0_bits=32 is outside 1..31"):
        quantize_multiplier(0.5, m0_bits=32, where="x")


def test_accumulator_leaving_int32_is_caught():
    with pytest.raises(RangeError, match="left int32"):
        check_int32(np.array([0, 2**31]), "conv accumulator")


def test_network_input_dtype_range_and_shape_errors():
    model, x = _small()
    net = extract(quantize(model, x), x[:1])
    with pytest.raises(InputError, match="must be uint8 codes"):
        net.run(np.zeros((1, 2, 6, 6), np.int16))
    with pytest.raises(InputError, match="must be a numpy uint8 array"):
        net.run(torch.zeros(1, 2, 6, 6))  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"has shape \(1, 2, 5, 6\); expected \[N, 2, 6, 6\]"):
        net.run(np.zeros((1, 2, 5, 6), np.uint8))
    with pytest.raises(InputError, match="does not match the network input"):
        net.quantize_input(np.zeros((1, 3, 6, 6), np.float32))
    with pytest.raises(InputError, match=r"layer conv1: input shape"):
        net.run_layer("conv1", np.zeros((1, 2, 5, 5), np.uint8))


def test_calibration_batch_must_be_a_float_tensor():
    model, _ = _small()
    with pytest.raises(InputError, match="calibration_batch must be a float batch"):
        quantize(model, torch.zeros(4, 2, 6, 6, dtype=torch.uint8))


def test_layers_that_do_not_line_up_are_refused():
    model, x = _small()
    net = extract(quantize(model, x), x[:1])
    broken = dataclasses.replace(net.layers[0], inputs=("conv9",))
    with pytest.raises(ShapeError, match="layer conv1: input 'conv9' is not produced before it"):
        Network(layers=(broken,), input_quant=net.input_quant, output_name="conv1", output_scale=1.0,
                output_zero_point=0, bias_mode=net.bias_mode, m0_bits=net.m0_bits)


def test_records_are_immutable():
    model, x = _small()
    layer = extract(quantize(model, x), x[:1])["conv1"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.stride = (2, 2)  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        layer.weight[0, 0, 0, 0] = 1  # type: ignore[attr-defined]


def test_already_converted_model_is_accepted_as_is():
    model, x = _small()
    qm = quantize(model, x)
    assert quantize(qm, x) is qm


def test_requantize_refuses_fields_outside_the_contract():
    from golden.arith import conv_acc, requantize

    acc = np.zeros((1, 2), np.int64)
    ok = dict(m0=np.array([1, 1]), n=np.array([1, 1]), z_out=0, lo=0, hi=255)
    with pytest.raises(RangeError, match=r"n outside 1..63"):
        requantize(acc, **{**ok, "n": np.array([0, 1])})
    with pytest.raises(RangeError, match=r"M0 outside"):
        requantize(acc, **{**ok, "m0": np.array([2**31, 1])})
    with pytest.raises(RangeError, match="left int32"):
        requantize(np.array([[2**31, 0]]), **ok)
    w = np.full((1, 1, 1, 1), -128, np.int8)
    with pytest.raises(RangeError, match="weights use -128"):
        conv_acc(np.zeros((1, 1, 2, 2), np.uint8), w, np.zeros(1, np.int64), z_in=0, stride=(1, 1), padding=(0, 0), groups=1)
