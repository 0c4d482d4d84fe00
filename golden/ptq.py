"""FX post-training quantization with the contract's scheme (arithmetic.md, "Codes").

Per-output-channel symmetric int8 weights in [-127, 127]; uint8 activations over the full 0..255
range (HistogramObserver, no reduce_range); the onednn engine. `pow2_scales=True` rounds every
scale up to a power of two so that the requantisation multiplier is one exactly (m0_bits=1).
"""
from __future__ import annotations

import copy
import math
import warnings
from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn
from torch.ao.quantization import QConfig, QConfigMapping
from torch.ao.quantization.observer import HistogramObserver, PerChannelMinMaxObserver
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

from golden.errors import InputError, QuantSchemeError
from golden.widths import BITS_META, act_qmax, followers, layer_widths, record_bits, weight_qmax
from golden.observe import observe_clamped, share_cat_observers
from golden.support import (
    check_calibration_batch,
    check_finite_parameters,
    check_model_accepts,
    check_supported,
    trace_float,
)

#: The engine the quantized model is converted (weights packed) and run under. The x86, fbgemm
#: and onednn kernels on a CPU without VNNI (AVX2 only: this machine) sum u8 x s8 pairs with
#: vpmaddubsw, which saturates at int16 once activations use the full 0..255 range; measured here
#: on the shipped MobileNetV2: conv1 80.9% of outputs equal to the exact integers, off by up to 60.
#: qnnpack widens to 16 bits before multiplying and matches the contract (>= 99.98%, off by <= 1).
ENGINE = "qnnpack"


@contextmanager
def reference_engine() -> Iterator[None]:
    """Run a block under ENGINE and restore the caller's engine afterwards."""
    old = torch.backends.quantized.engine
    torch.backends.quantized.engine = ENGINE
    try:
        yield
    finally:
        torch.backends.quantized.engine = old


#: The warnings PyTorch 2.13 gives on golden's own use of its quantization API: prepare_fx and
#: convert_fx ("torch.ao.quantization is deprecated", a DeprecationWarning on each call) and the first
#: quantized tensor a process creates (a UserWarning PyTorch gives once per process). golden silences
#: exactly these, around its own calls (torch_quiet()); a filter set for the whole process would hide
#: them from the user's own code too.
TORCH_DEPRECATIONS: tuple[tuple[type[Warning], str], ...] = (
    (DeprecationWarning, r"torch\.ao\.quantization is deprecated"),
    (UserWarning, r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other quantized tensor creation"),
)


@contextmanager
def torch_quiet() -> Iterator[None]:
    """A block of golden's own calls into torch.ao.quantization / quantized tensors, without
    PyTorch's deprecation warnings for them (TORCH_DEPRECATIONS); the caller's warning filters are
    restored on exit and every other warning still shows."""
    with warnings.catch_warnings():
        for category, message in TORCH_DEPRECATIONS:
            warnings.filterwarnings("ignore", message=message, category=category)
        yield


class _Pow2ScaleMixin:
    """Rounds the observer's scale up to the next power of two (the range still fits)."""

    def _calculate_qparams(self, min_val: torch.Tensor, max_val: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scale, zero_point = super()._calculate_qparams(min_val, max_val)  # type: ignore[misc]
        scale = torch.exp2(torch.ceil(torch.log2(scale.to(torch.float64)))).to(scale.dtype)
        if self.qscheme in (torch.per_channel_symmetric, torch.per_tensor_symmetric):  # type: ignore[attr-defined]
            return scale, zero_point
        qmin, qmax = self.quant_min, self.quant_max  # type: ignore[attr-defined]
        min_neg = torch.clamp(min_val, max=0.0)
        zp = torch.clamp(qmin - torch.round(min_neg / scale), qmin, qmax).to(zero_point.dtype)
        return scale, zp


#: A weight channel's scale is at least its layer's median scale / LIVE_SCALE_RATIO.
LIVE_SCALE_RATIO = 256.0


def live_channel_scales(scale: torch.Tensor, min_val: torch.Tensor, max_val: torch.Tensor, qmax: int = 127) -> torch.Tensor:
    """Per-channel weight scales every channel can use (what TFLite's converter does for dead
    channels). PyTorch's observer gives a channel whose weights are all zero (a pruned or dead
    filter) the scale eps = 1.2e-7, and a near-dead channel a scale as small as its weights: the
    channel's bias code, bias / (s_in x s_w), then reaches 1e9 and more and fits neither int32 nor
    int16 << 15. Here a dead channel takes the median scale of its layer's live channels (its
    weights stay exactly 0, so the network computes the same thing), and no channel's scale is
    below median / LIVE_SCALE_RATIO (a channel whose weights are that small next to its layer's
    quantizes to codes below 127, down to 0: 256 times a typical channel's bias code at most)."""
    amax = torch.maximum(-min_val, max_val)
    live = amax > 0
    if not bool(live.any()):
        return torch.full_like(scale, 1.0 / qmax)  # a layer of dead channels: any scale computes 0
    median = scale[live].median()
    return torch.where(live, torch.maximum(scale, median / LIVE_SCALE_RATIO), median)


class _LiveScaleMixin:
    """Per-channel weight observer whose dead and near-dead channels get usable scales."""

    def _calculate_qparams(self, min_val: torch.Tensor, max_val: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scale, zero_point = super()._calculate_qparams(min_val, max_val)  # type: ignore[misc]
        return live_channel_scales(scale, min_val, max_val, int(self.quant_max)), zero_point  # type: ignore[attr-defined]


#: Clipping ratios mse_clip tries: 0.20, 0.21, ..., 1.00 of a channel's largest |w|.
MSE_RATIOS = 81


def mse_clip(weight: torch.Tensor, qmax: int) -> torch.Tensor:
    """The weight with each output channel (axis 0) clipped to +-c, c chosen among MSE_RATIOS
    fractions of the channel's largest |w| to minimise its squared quantization error at the
    symmetric scale c / qmax (sum of (s * clamp(round(w / s), -qmax, qmax) - w)^2). Min-max (c =
    the largest |w|) is a candidate and is replaced only by a strictly smaller error, so a channel
    of zeros stays as it is. After clipping, the min-max observer's scale is c / qmax: FX's
    converted weights, its fake-quantized float and golden's codes all see the clipped weight
    (an observer alone could not clip: FX's reference conversion rounds weights to int8 without
    the observer's code range, so codes past +-qmax would reach golden)."""
    wf = weight.detach().to(torch.float64).reshape(weight.shape[0], -1)
    amax = wf.abs().amax(1)
    q = float(qmax)

    def error(c: torch.Tensor) -> torch.Tensor:
        s = torch.where(c > 0, c / q, torch.ones_like(c))[:, None]
        return ((torch.clamp(torch.round(wf / s), -q, q) * s - wf) ** 2).sum(1)

    best, best_err = amax, error(amax)
    for r in torch.linspace(0.2, 1.0, MSE_RATIOS, dtype=torch.float64)[:-1]:
        e = error(amax * r)
        better = e < best_err
        best, best_err = torch.where(better, amax * r, best), torch.where(better, e, best_err)
    c = best.to(weight.dtype).reshape(-1, *([1] * (weight.dim() - 1)))
    return torch.maximum(torch.minimum(weight, c), -c)


#: How quantize chooses narrow weights' range: "mse" (mse_clip, below 8 bits) or "minmax".
WEIGHT_CLIPS = ("mse", "minmax")


class _WidthHistogramMixin:
    """HistogramObserver searches for its range as if it had 2^8 codes (dst_nbins is taken from the
    dtype, torch.quint8, whatever quant_min/quant_max say): at M < 8 bits it gets 2^M - 1 codes'
    worth of histogram bins to search with instead, the quantization error it minimises being the
    one of the codes the tensor really has. Used only below 8 bits (8/8 keeps PyTorch's observer)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dst_nbins = int(self.quant_max) - int(self.quant_min) + 1  # type: ignore[attr-defined]


class Pow2HistogramObserver(_Pow2ScaleMixin, HistogramObserver):
    pass


class NarrowHistogramObserver(_WidthHistogramMixin, HistogramObserver):
    pass


class NarrowPow2HistogramObserver(_WidthHistogramMixin, _Pow2ScaleMixin, HistogramObserver):
    pass


class LivePerChannelMinMaxObserver(_LiveScaleMixin, PerChannelMinMaxObserver):
    pass




class Pow2PerChannelMinMaxObserver(_Pow2ScaleMixin, _LiveScaleMixin, PerChannelMinMaxObserver):
    pass


def contract_qconfig(*, pow2_scales: bool = False, w_bits: int = 8, a_bits: int = 8) -> QConfig:
    """The contract's qconfig at w_bits / a_bits (8/8: arithmetic.md's int8 scheme, unchanged)."""
    if a_bits == 8:
        act_cls: Any = Pow2HistogramObserver if pow2_scales else HistogramObserver
        act = act_cls.with_args(reduce_range=False, dtype=torch.quint8)
    else:
        act_cls = NarrowPow2HistogramObserver if pow2_scales else NarrowHistogramObserver
        act = act_cls.with_args(reduce_range=False, dtype=torch.quint8, quant_min=0, quant_max=act_qmax(a_bits))
    w_cls = Pow2PerChannelMinMaxObserver if pow2_scales else LivePerChannelMinMaxObserver
    q = weight_qmax(w_bits)
    return QConfig(
        activation=act,
        weight=w_cls.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric, quant_min=-q, quant_max=q),
    )


def _functional_forms(model: nn.Module) -> nn.Module:
    """nn.Flatten modules as torch.flatten calls, nn.Upsample modules as F.interpolate calls,
    torch.concat / torch.concatenate as torch.cat, and torch.relu / Tensor.relu as F.relu.

    FX's native backend treats torch.flatten, F.interpolate and torch.cat as ops on quantized
    tensors (sharing their input's qparams; cat's inputs share its output's observer), but runs
    nn.Flatten, nn.Upsample, torch.concat and torch.concatenate in float between a dequantize and a
    new quantize: a needless extra requantisation (and one the accelerator would have to model).
    F.relu after a conv or fc is fused with it; torch.relu and Tensor.relu were left in float, where
    extract refused them.
    Models without them are returned as they are (and so is one FX cannot trace: prepare_fx says why).
    """
    try:
        gm = torch.fx.symbolic_trace(model)
    except Exception:
        return model
    replaced = 0
    for node in list(gm.graph.nodes):
        mod: Any = gm.get_submodule(str(node.target)) if node.op == "call_module" else None
        if isinstance(mod, nn.Flatten):
            _replace(gm, node, torch.flatten, (node.args[0], mod.start_dim, mod.end_dim), {})
        elif isinstance(mod, nn.Upsample):
            _replace(gm, node, torch.nn.functional.interpolate, (node.args[0],),
                     dict(size=mod.size, scale_factor=mod.scale_factor, mode=mod.mode, align_corners=mod.align_corners,
                          recompute_scale_factor=mod.recompute_scale_factor))
        elif node.op == "call_function" and node.target in (torch.concat, torch.concatenate):
            _replace(gm, node, torch.cat, node.args, {"dim" if k == "axis" else k: v for k, v in node.kwargs.items()})
        elif (node.op == "call_function" and node.target is torch.relu) or (node.op == "call_method" and node.target == "relu"):
            _replace(gm, node, torch.nn.functional.relu, node.args[:1], {})
        else:
            continue
        replaced += 1
    if not replaced:
        return model
    gm.recompile()
    return gm


def _replace(gm: torch.fx.GraphModule, node: torch.fx.Node, fn: Any, args: Any, kwargs: Any) -> None:
    """node replaced by a call of fn(*args, **kwargs) in gm's graph."""
    with gm.graph.inserting_after(node):
        new = gm.graph.call_function(fn, tuple(args), dict(kwargs))
    node.replace_all_uses_with(new)
    gm.graph.erase_node(node)


def _backend_config() -> Any:
    """PyTorch's native backend config, plus zero padding (nn.ZeroPad2d, F.pad) sharing its input's
    observer: its output then has its input's scale and zero point, so the padded tensor is the
    input's codes with z_in around them (zero in float is z_in in the integer domain)."""
    from torch.ao.quantization.backend_config import (
        BackendPatternConfig, DTypeConfig, ObservationType, get_native_backend_config,
    )

    config = get_native_backend_config()
    dtypes = DTypeConfig(input_dtype=torch.quint8, output_dtype=torch.quint8)
    for pattern in (nn.ZeroPad2d, torch.nn.functional.pad):
        config.set_backend_pattern_config(
            BackendPatternConfig(pattern).set_observation_type(ObservationType.OUTPUT_SHARE_OBSERVER_WITH_INPUT)
            .add_dtype_config(dtypes))
    return config


def _zero_pads(module: nn.Module, node: torch.fx.Node) -> tuple[int, ...] | None:
    """The (left, right, top, bottom) of a zero-padding node (nn.ZeroPad2d or a constant F.pad
    with value 0), else None."""
    if node.op == "call_module":
        sub: Any = module.get_submodule(str(node.target))
        return tuple(int(p) for p in sub.padding) if isinstance(sub, nn.ZeroPad2d) else None
    if node.op == "call_function" and node.target is torch.nn.functional.pad:
        pads: Any = node.args[1] if len(node.args) > 1 else node.kwargs.get("pad")
        mode = node.args[2] if len(node.args) > 2 else node.kwargs.get("mode", "constant")
        value = node.args[3] if len(node.args) > 3 else node.kwargs.get("value", None)
        if mode == "constant" and value in (None, 0, 0.0) and isinstance(pads, (tuple, list)) and len(pads) == 4:
            return tuple(int(p) for p in pads)
    return None


def _pad_quantized(gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """FX runs zero padding in float: dequantize -> pad -> quantize with the same qparams (its
    observer is its input's, _backend_config). That is the input's codes padded with their zero
    point, which PyTorch's quantized F.pad computes directly: the three nodes become one, so the
    int8 model keeps integers from end to end and golden folds the padding into the next conv."""
    for node in list(gm.graph.nodes):
        if not (node.op == "call_function" and node.target is torch.quantize_per_tensor):
            continue
        pad = node.args[0]
        if not isinstance(pad, torch.fx.Node) or len(pad.users) != 1:
            continue
        pads = _zero_pads(gm, pad)
        deq = pad.args[0] if pads is not None else None
        if not (isinstance(deq, torch.fx.Node) and deq.op == "call_method" and deq.target == "dequantize"
                and len(deq.users) == 1):
            continue
        with gm.graph.inserting_before(node):
            new = gm.graph.call_function(torch.nn.functional.pad, (deq.args[0], pads))
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
        gm.graph.erase_node(pad)
        gm.graph.erase_node(deq)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return gm


def qconfig_mapping(traced: torch.fx.GraphModule | None, widths: dict[str, tuple[int, int]], w_bits: int, a_bits: int,
                    qconfig: Any) -> QConfigMapping:
    """The global qconfig at w_bits / a_bits and, for each conv / fc of other widths, its own (and
    its followers': FX fuses only modules of one qconfig). qconfig(w, a) makes one (post-training
    observers here, fake quantizers in golden.qat)."""
    mapping = QConfigMapping().set_global(qconfig(w_bits, a_bits))
    for name, (w, a) in widths.items():
        if (w, a) != (w_bits, a_bits):
            q = qconfig(w, a)
            for each in (name, *(followers(traced, name) if traced is not None else [])):
                mapping.set_module_name(each, q)
    return mapping


def checked_copy(model: Any, calibration_batch: Any, w_bits: int, a_bits: int, bits: Any,
                 keep_ends: bool) -> tuple[nn.Module, torch.fx.GraphModule | None, dict[str, tuple[int, int]]]:
    """Before FX runs (quantize, golden.qat.train_qat): the calibration batch (float, N >= 1,
    finite, a shape the model accepts), the model's parameters and buffers (finite) and its modules
    and functions (ones golden/ evaluates) checked (golden.support: InputError or
    UnsupportedLayerError naming the module); returns a copy of the model in eval mode (the
    user's is never modified), its trace and each conv / fc's widths (layer_widths)."""
    check_calibration_batch(calibration_batch)
    if not isinstance(model, nn.Module):
        raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    float_model = copy.deepcopy(model).eval()
    check_finite_parameters(float_model)
    traced = trace_float(float_model)
    check_supported(float_model, traced)
    check_model_accepts(float_model, traced, calibration_batch)
    return float_model, traced, layer_widths(model, traced, w_bits, a_bits, bits, keep_ends)


def is_converted(model: torch.nn.Module) -> bool:
    """True if `model` is already a quantized (converted) FX GraphModule."""
    if not isinstance(model, torch.fx.GraphModule):
        return False
    for node in model.graph.nodes:
        if node.op == "call_function" and node.target in (torch.quantize_per_tensor, torch.quantize_per_channel):
            return True
    return False


def quantize(
    model: torch.nn.Module,
    calibration_batch: Any,
    *,
    pow2_scales: bool = False,
    calibration_chunk: int = 256,
    fold_clamps: bool = True,
    w_bits: int = 8,
    a_bits: int = 8,
    bits: dict[str, tuple[int, int]] | None = None,
    keep_ends: bool = False,
    weight_clip: str = "mse",
) -> torch.fx.GraphModule:
    """Quantize a float model post-training with FX; returns the converted GraphModule.

    A model that is already converted is returned unchanged (extract() checks its scheme), and so
    is a Brevitas model (brevitas.nn layers: its quantizers are its own; golden.brevitas_import).
    The float model is not modified (a deep copy is prepared). Before FX runs, the calibration
    batch (float, N >= 1, finite, a shape the model accepts), the model's parameters and buffers
    (finite) and its modules and functions (ones golden/ evaluates) are checked (golden.support):
    InputError or UnsupportedLayerError naming the module.

    fold_clamps (default): a ReLU6 or ReLU after a layer sets that layer's output range
    (observe_clamped); False quantizes a conv followed by ReLU6 on its pre-activation range, as
    FX alone does (kept to measure what folding gives).

    Widths (issue 25, docs/golden.md "Narrow widths"): weights per-channel symmetric in
    +-(2^(w_bits-1) - 1), w_bits 2..8; activations 0..2^a_bits - 1, a_bits 4..8. `bits` overrides
    them per conv / fc module, {module name: (w_bits, a_bits)}, a_bits being the width of that
    layer's output (the network input takes the width of the first layer reading it; pooling,
    flatten and clamps keep their input's). keep_ends=True keeps the first and the last conv / fc
    at 8/8 (an entry of `bits` for them still wins). PyTorch's converted model keeps quint8
    containers whatever the width, so the widths travel with it in gm.meta[BITS_META]:
    {"input": a_bits of the network input, "default": [w_bits, a_bits],
    "modules": {conv / fc module name: [w_bits, a_bits of its output]}}; extract() applies them.
    At the defaults (8/8) the qconfig, and so the converted model, is the one of before.
    weight_clip="mse" (default) clips each narrow (below 8 bits) conv / fc weight channel where its
    squared quantization error is least (mse_clip) before observing; "minmax" keeps the full range.
    """
    from golden.brevitas_import import accept_brevitas, is_brevitas_model

    if is_brevitas_model(model):  # quantized by the user in Brevitas: taken as it is (extract reads it)
        return accept_brevitas(model, calibration_batch, pow2_scales=pow2_scales, w_bits=w_bits, a_bits=a_bits,  # type: ignore[return-value]
                               bits=bits, keep_ends=keep_ends)
    from golden.transformer_plan import is_quantized_transformer, is_transformer, quantize_transformer

    if is_quantized_transformer(model):  # golden.transformer_plan's: its qparams are calibrated
        return model  # type: ignore[return-value]
    if isinstance(model, nn.Module) and not is_converted(model) and is_transformer(model):
        # a transformer (LayerNorm, GELU, softmax, matmul, PyTorch's encoder modules): observers on
        # every new tensor of the float graph, not FX's conversion (docs/golden.md, "Transformers")
        if (pow2_scales, w_bits, a_bits, bits, keep_ends) != (False, 8, 8, None, False):
            raise InputError("a transformer is quantized at 8-bit weights and activations without pow2 scales "
                             "(narrow widths and power-of-two scales are for CNNs)")
        return quantize_transformer(model, calibration_batch, calibration_chunk=min(calibration_chunk, 64))
    if is_converted(model):
        if (w_bits, a_bits, bits, keep_ends) != (8, 8, None, False):
            raise InputError("the model is already quantized: widths are chosen when quantizing a float model")
        return model  # type: ignore[return-value]
    if weight_clip not in WEIGHT_CLIPS:
        raise InputError(f"weight_clip={weight_clip!r}: one of {', '.join(WEIGHT_CLIPS)}")
    float_model, traced, widths = checked_copy(model, calibration_batch, w_bits, a_bits, bits, keep_ends)
    if weight_clip == "mse":
        with torch.no_grad():  # (the copy: the user's model keeps its weights)
            for name, (w, _a) in widths.items():
                if w < 8:
                    weight = float_model.get_submodule(name).weight
                    assert isinstance(weight, torch.Tensor)  # a Conv2d's or Linear's (layer_widths)
                    weight.copy_(mse_clip(weight, weight_qmax(w)))
    mapping = qconfig_mapping(traced, widths, w_bits, a_bits, lambda w, a: contract_qconfig(pow2_scales=pow2_scales, w_bits=w, a_bits=a))
    try:
        with torch_quiet():
            prepared = prepare_fx(
                _functional_forms(float_model), mapping, example_inputs=(calibration_batch[:1],),
                backend_config=_backend_config(),
            )
    except Exception as exc:  # FX tracing errors name the offending code; keep them
        raise QuantSchemeError(f"FX could not prepare {type(model).__name__} for quantization: {_one_line(exc)}") from exc
    share_cat_observers(prepared)
    if fold_clamps:
        observe_clamped(prepared)
    try:
        with torch.no_grad():
            for start in range(0, calibration_batch.shape[0], calibration_chunk):
                prepared(calibration_batch[start : start + calibration_chunk])
        recorded = record_bits(prepared, widths, w_bits, a_bits)
        with reference_engine(), torch_quiet():
            gm = _pad_quantized(convert_fx(prepared, backend_config=_backend_config()))
        gm.meta[BITS_META] = recorded
        return gm
    except Exception as exc:  # an observer or FX's convert: not expected after the checks above
        raise QuantSchemeError(
            f"FX could not quantize {type(model).__name__}: {type(exc).__name__}: {_one_line(exc)}"
        ) from exc


def _one_line(exc: BaseException) -> str:
    """A PyTorch error message on one line (they often span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def pow2_exact(scale: float) -> bool:
    m, _ = math.frexp(scale)
    return m == 0.5
