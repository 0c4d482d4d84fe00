"""golden/ against PyTorch's own quantized kernels (the independent oracle), layer by layer.

Bound (arithmetic.md): at least 99.5% of outputs equal and none off by more than 1, on identical
integer inputs, for int32 and int16_shift bias and m0_bits >= 16. The figures are printed (-s).
"""
from __future__ import annotations

import numpy as np
import pytest

from golden import extract
from golden.oracle import MAX_ABS_DIFF, MIN_EQUAL_FRACTION, compare_layers, top1_agreement

MODELS = ["mobilenetv2", "vgg", "mlp"]


def _report(title: str, rows) -> str:
    return "\n".join([title, *(f"  {r}" for r in rows)])


@pytest.mark.parametrize("m0_bits", [16, 31])
@pytest.mark.parametrize("bias_mode", ["int16_shift", "int32"])
@pytest.mark.parametrize("model", MODELS)
def test_every_layer_of_shipped_models_within_bound(shipped, model, bias_mode, m0_bits):
    q = shipped(model)
    net = extract(q.qmodel, q.calibration[:2], bias_mode=bias_mode, m0_bits=m0_bits)
    rows = compare_layers(net, q.qmodel, q.x_test)
    print(_report(f"{model} bias={bias_mode} m0_bits={m0_bits}", rows))
    assert {r.layer for r in rows} == set(net.names)
    bad = [r for r in rows if not r.within_bound]
    assert not bad, _report(f"layers outside >= {MIN_EQUAL_FRACTION:.1%} equal / max |diff| <= {MAX_ABS_DIFF}", bad)


@pytest.mark.parametrize("model", MODELS)
def test_top1_agrees_with_pytorch_on_digits_test_split(shipped, model):
    q = shipped(model)
    net = extract(q.qmodel, q.calibration[:2])
    agree = top1_agreement(net, q.qmodel, q.x_test)
    acc = float(np.mean(net.predict(net.quantize_input(q.x_test)) == q.y_test.numpy()))
    print(f"{model}: golden top-1 agrees with PyTorch int8 on {agree:.2%}; golden accuracy {acc:.2%}")
    assert agree >= 0.99
    assert acc >= 0.9  # the shipped models are trained: a broken golden model would not reach this


def test_pow2_mode_is_exact_shift_and_within_bound(shipped):
    """m0_bits=1 with pow2_scales=True: every M0 is 1 and the result is still PyTorch's."""
    from golden import quantize
    from golden.layers import ConvLayer, LinearLayer

    q = shipped("vgg")
    qm = quantize(q.float_model, q.calibration, pow2_scales=True)
    net = extract(qm, q.calibration[:2], m0_bits=1)
    for layer in net.compute_layers():
        assert isinstance(layer, (ConvLayer, LinearLayer))
        assert set(layer.requant.m0.tolist()) == {1}, layer.name
    rows = compare_layers(net, qm, q.x_test[:64])
    print(_report("vgg pow2 m0_bits=1", rows))
    assert all(r.within_bound for r in rows), _report("outside bound", [r for r in rows if not r.within_bound])


def test_m0_bits_1_without_pow2_scales_loses_outputs_and_says_so(shipped):
    """Rounding a calibrated M to 2^-n is not exact: the comparison must show it, not hide it."""
    q = shipped("vgg")
    net = extract(q.qmodel, q.calibration[:2], m0_bits=1)
    rows = [r for r in compare_layers(net, q.qmodel, q.x_test[:64]) if r.kind in ("conv", "fc")]
    print(_report("vgg calibrated scales, m0_bits=1", rows))
    assert any(not r.within_bound for r in rows)


def test_accumulators_fit_int32_and_requantize_to_outputs(shipped):
    q = shipped("mobilenetv2")
    net = extract(q.qmodel, q.calibration[:2])
    res = net.run(net.quantize_input(q.x_test[:32]), accumulators=True)
    assert set(res.accumulators) == {l.name for l in net.compute_layers()}
    for name, acc in res.accumulators.items():
        assert acc.dtype == np.int64 and acc.min() >= -(2**31) and acc.max() < 2**31
        np.testing.assert_array_equal(net[name].requantize(acc), res.outputs[name])
