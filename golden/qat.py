"""Quantization-aware training at golden's widths (issue 25 item 2): the low widths post-training
quantization loses (2-bit weights, 4-bit activations) trained back.

train_qat(model, calibration, x_train, y_train, w_bits=N, a_bits=M) runs FX's QAT flow on a copy of
a float model: the same graph, widths and clamp folding as golden.quantize (layer_widths,
qconfig_mapping, observe_clamped), with each observer in a FakeQuantize, so the forward pass computes
on weights and activations rounded to their codes and the gradients pass straight through the
rounding (FakeQuantize's straight-through estimator). Weights: per-channel symmetric in
+-(2^(N-1) - 1), the post-training weight observer's; activations 0..2^M - 1 with a moving-average
min-max observer (the post-training histogram search on every step would cost seconds a batch).
Conv + BatchNorm train as FX's fused QAT modules (BatchNorm folded as the converted model folds
it); after `freeze_epoch` epochs the BatchNorm statistics and the observers freeze, and the last
epochs train the weights against fixed activation scales. The result is FX's converted model with its widths in
gm.meta (golden.widths.BITS_META), which golden.extract takes as any converted model.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import torch
from torch import nn

from golden.errors import InputError, QuantSchemeError
from golden.widths import BITS_META, act_qmax, record_bits, weight_qmax


def qat_qconfig(w_bits: int, a_bits: int) -> Any:
    """golden's scheme at w_bits / a_bits as fake quantizers (see the module's text)."""
    from torch.ao.quantization import QConfig
    from torch.ao.quantization.fake_quantize import FakeQuantize
    from torch.ao.quantization.observer import MovingAverageMinMaxObserver

    from golden.ptq import LivePerChannelMinMaxObserver

    q = weight_qmax(w_bits)
    return QConfig(
        activation=FakeQuantize.with_args(observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=act_qmax(a_bits),
                                          dtype=torch.quint8, reduce_range=False),
        weight=FakeQuantize.with_args(observer=LivePerChannelMinMaxObserver, quant_min=-q, quant_max=q, dtype=torch.qint8,
                                      qscheme=torch.per_channel_symmetric, ch_axis=0),
    )


def train_qat(
    model: nn.Module,
    calibration: torch.Tensor,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    *,
    w_bits: int = 8,
    a_bits: int = 8,
    bits: dict[str, tuple[int, int]] | None = None,
    keep_ends: bool = False,
    epochs: int = 6,
    freeze_epoch: int = 4,
    lr: float = 3e-4,
    batch: int = 64,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> torch.fx.GraphModule:
    """The float `model` trained with fake quantization at the widths and converted (the module's
    text); the float model is not modified. Deterministic for a seed."""
    from torch.ao.nn.intrinsic import qat as nniqat
    from torch.ao.quantization.fake_quantize import FakeQuantizeBase
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_qat_fx

    from golden.ptq import (
        _backend_config,
        _flatten_modules_to_function,
        _one_line,
        _pad_quantized,
        checked_copy,
        observe_clamped,
        qconfig_mapping,
        reference_engine,
        torch_quiet,
    )

    if len(x_train) != len(y_train) or len(x_train) == 0:
        raise InputError(f"training set: {len(x_train)} inputs and {len(y_train)} labels; give as many of each, at least one")
    if not 0 <= freeze_epoch <= epochs:
        raise InputError(f"freeze_epoch={freeze_epoch}: between 0 and epochs={epochs}")
    float_model, traced, widths = checked_copy(model, calibration, w_bits, a_bits, bits, keep_ends)
    torch.manual_seed(seed)
    try:
        with torch_quiet():
            prepared = prepare_qat_fx(_flatten_modules_to_function(float_model).train(),
                                      qconfig_mapping(traced, widths, w_bits, a_bits, qat_qconfig),
                                      example_inputs=(calibration[:1],), backend_config=_backend_config())
    except Exception as exc:
        raise QuantSchemeError(f"FX could not prepare {type(model).__name__} for quantization-aware training: {_one_line(exc)}") from exc
    observe_clamped(prepared)
    with torch.no_grad():  # the observers start from the calibration batch's ranges
        prepared(calibration)
    opt = torch.optim.AdamW(prepared.parameters(), lr=lr, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    t0 = time.time()
    for epoch in range(epochs):
        if epoch == freeze_epoch:
            # the activations' scales freeze; the weights' observers go on, so that the converted
            # model's weight codes stay inside +-(2^(N-1) - 1) however the weights moved since
            # (frozen ones let a weight past the range round to -128 at conversion)
            for mname, mod in prepared.named_modules():
                if isinstance(mod, FakeQuantizeBase) and not mname.endswith("weight_fake_quant"):
                    mod.disable_observer()
        prepared.train()  # (BatchNorm modules frozen above stay frozen: the fused modules keep their flag)
        perm = torch.randperm(len(y_train), generator=gen)
        for i in range(0, len(perm), batch):
            idx = perm[i : i + batch]
            opt.zero_grad()
            loss = loss_fn(prepared(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
        if progress is not None:
            progress(f"epoch {epoch + 1}/{epochs} loss {loss.item():.4f} ({time.time() - t0:.0f} s)")
    prepared.eval()
    try:
        recorded = record_bits(prepared, widths, w_bits, a_bits)
        with reference_engine(), torch_quiet():
            gm = _pad_quantized(convert_fx(prepared, backend_config=_backend_config()))
        gm.meta[BITS_META] = recorded
        return gm
    except Exception as exc:
        raise QuantSchemeError(f"FX could not convert {type(model).__name__} after quantization-aware training: "
                               f"{type(exc).__name__}: {_one_line(exc)}") from exc


def quantized_model(m: Any, *, w_bits: int = 8, a_bits: int = 8, keep_ends: bool = False, qat: bool = False,
                    pow2_scales: bool = False) -> torch.fx.GraphModule:
    """A loaded model (golden.models.load_model) quantized at the widths: post-training
    (golden.quantize), or with qat trained at them on its training set (train_qat with its
    defaults; a shipped model's digits training split: a factory's model brings none). What make
    golden, make sim and make layers run with QAT=1."""
    from golden.ptq import quantize

    if not qat:
        return quantize(m.float_model, m.calibration, pow2_scales=pow2_scales, w_bits=w_bits, a_bits=a_bits, keep_ends=keep_ends)
    from golden.models import SHIPPED
    from golden.models.digits import digits

    if m.name not in SHIPPED:
        raise InputError(f"QAT=1: model {m.name} has no training set golden knows (the shipped models' digits: "
                         f"{', '.join(SHIPPED)}); train it with golden.qat.train_qat and pass the converted model")
    if pow2_scales:
        raise InputError("QAT=1 trains with the contract's scales; power-of-two scales are post-training only")
    spec = SHIPPED[m.name]
    data = digits(spec.size, spec.channels)
    return train_qat(m.float_model, m.calibration, data.x_train, data.y_train, w_bits=w_bits, a_bits=a_bits, keep_ends=keep_ends)
