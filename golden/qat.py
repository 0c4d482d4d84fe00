"""Quantization-aware training at golden's widths (issue 25 item 2): the low widths post-training
quantization loses (2-bit weights, 4-bit activations) trained back.

train_qat(model, calibration, x_train, y_train, w_bits=N, a_bits=M) runs FX's QAT flow on a copy of
a float model: the same graph, widths and clamp folding as golden.quantize (layer_widths,
qconfig_mapping, golden.observe), with each observer in a FakeQuantize, so the forward pass computes
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

import hashlib
import os
import time
from pathlib import Path
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
    keep: Callable[[dict[str, torch.Tensor]], None] | None = None,
) -> torch.fx.GraphModule:
    """The float `model` trained with fake quantization at the widths and converted (the module's
    text); the float model is not modified. Deterministic for a seed. `keep` gets a copy of the
    trained model's state before conversion (what save_trained writes: conversion rewrites the
    model in place)."""
    from torch.ao.quantization.fake_quantize import FakeQuantizeBase

    if len(x_train) != len(y_train) or len(x_train) == 0:
        raise InputError(f"training set: {len(x_train)} inputs and {len(y_train)} labels; give as many of each, at least one")
    if not 0 <= freeze_epoch <= epochs:
        raise InputError(f"freeze_epoch={freeze_epoch}: between 0 and epochs={epochs}")
    torch.manual_seed(seed)
    prepared, widths = _prepared(model, calibration, w_bits, a_bits, bits, keep_ends)
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
    if keep is not None:
        keep({k: v.detach().clone() for k, v in prepared.state_dict().items()})
    return _converted(prepared, widths, w_bits, a_bits, type(model).__name__)


def _prepared(model: nn.Module, calibration: torch.Tensor, w_bits: int, a_bits: int,
              bits: dict[str, tuple[int, int]] | None, keep_ends: bool) -> tuple[torch.fx.GraphModule, dict[str, tuple[int, int]]]:
    """FX's QAT model of a copy of `model` at the widths (fake quantizers, fused Conv + BatchNorm),
    before any training: what train_qat trains and load_trained fills with a trained state."""
    from torch.ao.quantization.quantize_fx import prepare_qat_fx

    from golden.observe import observe_clamped, share_cat_observers
    from golden.ptq import _backend_config, _functional_forms, _one_line, checked_copy, qconfig_mapping, torch_quiet

    float_model, traced, widths = checked_copy(model, calibration, w_bits, a_bits, bits, keep_ends)
    try:
        with torch_quiet():
            prepared = prepare_qat_fx(_functional_forms(float_model).train(),
                                      qconfig_mapping(traced, widths, w_bits, a_bits, qat_qconfig),
                                      example_inputs=(calibration[:1],), backend_config=_backend_config())
    except Exception as exc:
        raise QuantSchemeError(f"FX could not prepare {type(model).__name__} for quantization-aware training: {_one_line(exc)}") from exc
    share_cat_observers(prepared)  # as golden.ptq.quantize: every concat input a copy of its codes
    observe_clamped(prepared)
    return prepared, widths


def _converted(prepared: torch.fx.GraphModule, widths: dict[str, tuple[int, int]], w_bits: int, a_bits: int,
               what: str) -> torch.fx.GraphModule:
    """The trained QAT model (eval mode) converted, with its widths in gm.meta."""
    from torch.ao.quantization.quantize_fx import convert_fx

    from golden.ptq import _backend_config, _one_line, _pad_quantized, reference_engine, torch_quiet

    try:
        recorded = record_bits(prepared, widths, w_bits, a_bits)
        with reference_engine(), torch_quiet():
            gm = _pad_quantized(convert_fx(prepared, backend_config=_backend_config()))
        gm.meta[BITS_META] = recorded
        return gm
    except Exception as exc:
        raise QuantSchemeError(f"FX could not convert {what} after quantization-aware training: "
                               f"{type(exc).__name__}: {_one_line(exc)}") from exc


#: tb.run_settings' `trained` when no trained model is kept (None means: not keyed by the caller)
NO_TRAINED = "none"


# ---- trained models kept: `make train QAT=1 W_BITS=N A_BITS=M` writes them, QAT=1 takes them ----
# FX's converted model does not pickle, so what is kept is the trained QAT model's state (weights,
# fake quantizers' scales and observers, BatchNorm statistics) beside the widths and a digest of the
# float checkpoint it started from; loading prepares the same float model at the same widths, loads
# the state and converts it: the same converted model as at the end of training (a test holds it).

def trained_path(name: str, w_bits: int, a_bits: int, keep_ends: bool) -> Path:
    """Where the model `name` trained at these widths is kept: beside the float checkpoints, or in
    $INT8SIM_TRAINED (a folder of one's own; the tests use a temporary one)."""
    folder = os.environ.get("INT8SIM_TRAINED")
    if not folder:
        from golden.models import CHECKPOINTS

        return CHECKPOINTS / f"{name}-w{w_bits}a{a_bits}{'-ends8' if keep_ends else ''}-qat.pt"
    return Path(folder) / f"{name}-w{w_bits}a{a_bits}{'-ends8' if keep_ends else ''}-qat.pt"


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_trained(path: Path, state: dict[str, torch.Tensor], *, name: str, w_bits: int, a_bits: int, keep_ends: bool,
                 float_checkpoint: Path, epochs: int) -> None:
    """The trained QAT model's state (train_qat's `keep`), written whole or not at all (a temporary
    file renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"state": state, "name": name, "w_bits": w_bits, "a_bits": a_bits, "keep_ends": keep_ends,
                "float_checkpoint": _file_digest(float_checkpoint), "epochs": epochs}, tmp)
    os.replace(tmp, path)


def trained_digest(name: str, w_bits: int, a_bits: int, keep_ends: bool) -> str | None:
    """The digest of the kept trained model at these widths, None when there is none: part of an
    image's key (the key covers what golden reads)."""
    path = trained_path(name, w_bits, a_bits, keep_ends)
    return _file_digest(path) if path.is_file() else None


def load_trained(m: Any, *, w_bits: int, a_bits: int, keep_ends: bool) -> torch.fx.GraphModule | None:
    """The shipped model `m` as trained at the widths by `make train QAT=1`, converted; None when
    none is kept. A kept state of another float checkpoint (the model was retrained since) or of
    other widths is refused in one line saying how to train it again."""
    from golden.errors import ModelLoadError
    from golden.models import checkpoint_path

    path = trained_path(m.name, w_bits, a_bits, keep_ends)
    if not path.is_file():
        return None
    again = f"train it again: make train QAT=1 MODELS={m.name} W_BITS={w_bits} A_BITS={a_bits}" + (" KEEP_ENDS=1" if keep_ends else "")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelLoadError(f"{path}: does not load ({type(exc).__name__}); {again}") from None
    if not isinstance(data, dict) or (data.get("w_bits"), data.get("a_bits"), data.get("keep_ends")) != (w_bits, a_bits, keep_ends):
        raise ModelLoadError(f"{path}: not the model trained at w{w_bits}a{a_bits}; {again}")
    if data.get("float_checkpoint") != _file_digest(checkpoint_path(m.name)):
        raise ModelLoadError(f"{path}: trained from another float checkpoint than {checkpoint_path(m.name)}; {again}")
    prepared, widths = _prepared(m.float_model, m.calibration, w_bits, a_bits, None, keep_ends)
    try:
        prepared.load_state_dict(data["state"])
    except Exception as exc:
        raise ModelLoadError(f"{path}: its state does not fit {m.name} at w{w_bits}a{a_bits} "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); {again}") from None
    prepared.eval()
    return _converted(prepared, widths, w_bits, a_bits, type(m.float_model).__name__)


def quantized_model(m: Any, *, w_bits: int = 8, a_bits: int = 8, keep_ends: bool = False, qat: bool = False,
                    pow2_scales: bool = False, trained: object = None) -> torch.fx.GraphModule:
    """A loaded model (golden.models.load_model) quantized at the widths: post-training
    (golden.quantize), or with qat trained at them: the model `make train QAT=1` kept at these
    widths (load_trained), else trained now on its training set (train_qat with its defaults; a
    shipped model's digits training split: a factory's model brings none). What make golden, make
    sim and make layers run with QAT=1. `trained`: the digest of the kept model the caller keyed its
    image by (tb.run_settings); a kept model that changed since is refused rather than read."""
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
    if trained is not None and trained != (trained_digest(m.name, w_bits, a_bits, keep_ends) or NO_TRAINED):
        raise InputError(f"the model trained at w{w_bits}a{a_bits} ({trained_path(m.name, w_bits, a_bits, keep_ends)}) "
                         "changed while this run used it; run again")
    kept = load_trained(m, w_bits=w_bits, a_bits=a_bits, keep_ends=keep_ends)
    if kept is not None:  # make train QAT=1 trained it at these widths
        return kept
    spec = SHIPPED[m.name]
    data = digits(spec.size, spec.channels)
    return train_qat(m.float_model, m.calibration, data.x_train, data.y_train, w_bits=w_bits, a_bits=a_bits, keep_ends=keep_ends)
