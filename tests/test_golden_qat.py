"""Quantization-aware training at golden's widths (golden.qat, issue 25 item 2): the widths that
post-training quantization loses are trained back, and golden is exact on the trained model as on
any converted one: against PyTorch's own kernels at 8/8 and against PyTorch's fake-quantized float at
narrow widths, layer by layer (the bounds of tests/test_golden_bits.py)."""
from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

import numpy as np
import pytest
import torch

from golden import InputError, extract, quantize
from golden.models import SHIPPED, load_model
from golden.models.digits import digits
from golden.oracle import compare_layers
from golden.qat import train_qat
from test_golden_bits import _check_bound, _fake_quant_rows, _uniform


@lru_cache(maxsize=None)
def _trained(name: str, w_bits: int, a_bits: int) -> tuple[Any, Any, Any]:
    m = load_model(name)
    spec = SHIPPED[name]
    d = digits(spec.size, spec.channels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the MLP trains in a tenth of a second an epoch: twice the default epochs
        more = {"epochs": 12, "freeze_epoch": 8} if name == "mlp" else {}
        gm = train_qat(m.float_model, m.calibration, d.x_train, d.y_train, w_bits=w_bits, a_bits=a_bits, **more)
        return m, gm, extract(gm, m.calibration[:2])


def _accuracy(net: Any, m: Any) -> float:
    return float((net.predict(net.quantize_input(m.x_test)) == m.y_test.numpy()).mean())


def test_two_bit_weights_are_trained_back() -> None:
    """mlp at w2a4: post-training quantization on the weights' whole range keeps 36% of the digits,
    training with fake quantization brings back more than 85% (float: 96%; post-training with the
    default MSE-clipped weights, 86%: tests/test_golden_bits.py)."""
    m, gm, net = _trained("mlp", 2, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ptq = extract(quantize(m.float_model, m.calibration, w_bits=2, a_bits=4, weight_clip="minmax"), m.calibration[:2])
    assert _accuracy(ptq, m) < 0.6 and _accuracy(net, m) > 0.85, (_accuracy(ptq, m), _accuracy(net, m))
    assert [l.w_bits for l in net.compute_layers()] == [2, 2, 2] and net.input_quant.qmax == 15
    assert all(int(np.abs(l.weight.astype(np.int64)).max()) <= 1 for l in net.compute_layers())


@pytest.mark.parametrize("name,w_bits,a_bits", [("mlp", 2, 4), ("vgg", 4, 4)])
def test_golden_exact_on_the_trained_model_against_fake_quantized_float(name: str, w_bits: int, a_bits: int) -> None:
    m, gm, net = _trained(name, w_bits, a_bits)
    _check_bound(f"{name} QAT w{w_bits}a{a_bits}", _fake_quant_rows(gm, net, m.x_test, _uniform(net, w_bits, a_bits)))


def test_golden_exact_on_the_trained_model_against_pytorchs_kernels_at_8_bits() -> None:
    m, gm, net = _trained("mlp", 8, 8)
    rows = compare_layers(net, gm, m.x_test)
    assert rows and all(r.within_bound for r in rows), rows
    assert _accuracy(net, m) > 0.9


def test_a_training_set_that_does_not_match_is_one_line() -> None:
    m = load_model("mlp")
    with pytest.raises(InputError, match="training set: 3 inputs and 2 labels"):
        train_qat(m.float_model, m.calibration, m.x_test[:3], m.y_test[:2], w_bits=4, a_bits=4)
    with pytest.raises(InputError, match="w_bits=1"):
        train_qat(m.float_model, m.calibration, m.x_test[:3], m.y_test[:3], w_bits=1, a_bits=4)
    assert torch.equal(next(m.float_model.parameters()), next(load_model("mlp").float_model.parameters()))  # untouched
