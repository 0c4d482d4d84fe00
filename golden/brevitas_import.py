"""Brevitas models (brevitas.nn) as golden Networks (issue 25, item 2): the model as the user built
and trained it, its integer codes, scales, zero points and widths read from Brevitas' own
quantizers, no FX quantization.

`golden.quantize` returns a Brevitas model as it is and `golden.extract` routes it here
(`is_brevitas_model`); golden imports brevitas only when the model is one (a model holding
brevitas.nn modules means brevitas is already imported).

What Brevitas computes, and golden's integers for it. Brevitas simulates integers in float: a
QuantConv2d / QuantLinear convolves the dequantized input s_in * (q_in - zp_in) with the
dequantized weights s_w * q_w (plus a bias), and the activation quantizer after it (QuantReLU,
QuantIdentity, or the layer's own output_quant) takes the float result x to
q_out = clamp(R(act(x) / s_out) + zp_out, qmin, qmax), R being its rounding
(`float_to_int_impl_type`). golden computes acc = sum (a - z_in) * w + bias in integers and
y = clamp(floor(acc * M0 * 2^-n + 1/2) + z_out, lo, hi). The two agree bit for bit when Brevitas'
float arithmetic is itself exact and its rounding is one golden's can express:

- every scale on the way is a power of two (Brevitas' *FixedPoint quantizers,
  restrict_scaling_type=POWER_OF_TWO): the dequantized values, their products and sums (below
  2^24 units) and x / s_out are then exact floats, x / s_out = acc * 2^-k exactly, and
  M0 * 2^-n = 2^-k exactly;
- R is FLOOR or CEIL: floor(acc * 2^-k) = floor((acc - 2^(k-1)) * 2^-k + 1/2), so golden adds
  -2^(k-1) (CEIL: 2^(k-1) - 1) to the bias, in accumulator units; ROUND (torch.round, ties to
  even), DPU and ROUND_TO_ZERO only where nothing is left to round (k <= 0), ROUND_TO_ZERO also
  where the output is clamped at its zero point (ReLU, unsigned: it is FLOOR there);
- the bias is quantized in accumulator units (Int32Bias, Int16Bias: scale s_in * s_w) or absent;
- a residual add's operands have scales of at least half the output's (CEIL at exactly half:
  half up is ceil on a grid of halves).

With float scales (Brevitas' defaults, Int8ActPerTensorFloat, Int8WeightPerTensorFloat) no integer
requantization matches Brevitas bit for bit: its float32 convolution rounds every product and
partial sum, so its output is not even a function of the integer accumulator, and an output near
a rounding boundary can fall either way. `exact=True` (what extract does) refuses such a model
with one line naming the module and the setting; `extract_brevitas(..., exact=False)` accepts it
with golden's nearest integer requantization (off by one near a tie: docs/golden.md, "Brevitas
models").

Activation codes: unsigned codes are golden's codes; signed ones, q in -2^(M-1)..2^(M-1) - 1, are
golden's q + 2^(M-1) with zero point zp + 2^(M-1) (the same real values: s * (q - zp)). Weights:
signed, symmetric (zero point 0), narrow range (+-(2^(N-1) - 1)); a per-tensor scale is a
per-channel scale with equal values.
"""
from __future__ import annotations

import copy
import math
import operator
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import fx, nn

from golden import arith
from golden.errors import GoldenError, InputError, QuantSchemeError, RangeError, ShapeError, UnsupportedLayerError
from golden.layers import (
    INPUT,
    AddLayer,
    ConvLayer,
    FlattenLayer,
    InputQuant,
    Layer,
    LinearLayer,
    MaxPoolLayer,
    Network,
    Requant,
    conv_kind,
    set_widths,
)
from golden.support import check_calibration_batch, module_problem
from golden.widths import A_BITS_RANGE, W_BITS_RANGE, act_qmax, weight_qmax

#: The Brevitas rounding modes (float_to_int_impl_type) an activation quantizer may use.
ROUNDING_MODES = ("ROUND", "FLOOR", "CEIL", "ROUND_TO_ZERO", "DPU")
#: The modules the front end takes (besides brevitas' QuantIdentity, QuantReLU, QuantConv2d,
#: QuantLinear, QuantEltwiseAdd).
_PASS_MODULES = (nn.Dropout, nn.Identity)
_FIX_EXACT = ("use power-of-two scales (Brevitas' *FixedPoint quantizers, or "
              "restrict_scaling_type=RestrictValueType.POWER_OF_TWO)")
_OR_APPROX = "or extract with golden.brevitas_import.extract_brevitas(..., exact=False) (off by one near ties)"


def is_brevitas_model(model: Any) -> bool:
    """True if `model` holds a brevitas.nn quantized layer. Never imports brevitas: a model made of
    its modules means it is imported already."""
    if "brevitas" not in sys.modules or not isinstance(model, nn.Module):
        return False
    from brevitas.nn.mixin.base import QuantLayerMixin

    return any(isinstance(m, QuantLayerMixin) for m in model.modules())


def accept_brevitas(model: nn.Module, calibration_batch: Any, *, pow2_scales: bool, w_bits: int, a_bits: int,
                    bits: Any, keep_ends: bool) -> nn.Module:
    """golden.quantize on a Brevitas model: the model is already quantized (its quantizers carry
    their scales and widths); it is returned as it is, after the calibration batch's checks.
    Widths and power-of-two scales are chosen in Brevitas, not here: InputError if asked for."""
    check_calibration_batch(calibration_batch)
    if (w_bits, a_bits, bits, keep_ends, pow2_scales) != (8, 8, None, False, False):
        raise InputError(f"{type(model).__name__} is a Brevitas model: its widths and scales are its quantizers' "
                         "(weight_bit_width, bit_width, *FixedPoint); quantize takes it as it is, without "
                         "w_bits / a_bits / bits / keep_ends / pow2_scales")
    return model


# ---- what Brevitas' quantizers did --------------------------------------------------------------
def _describe(name: str, mod: nn.Module) -> str:
    return f"module {name!r} ({type(mod).__name__})" if name else f"the model ({type(mod).__name__})"


def _pow2(x: float) -> bool:
    return x > 0 and math.isfinite(x) and math.frexp(x)[0] == 0.5


def _injector_name(proxy: Any) -> str:
    inj = getattr(proxy, "quant_injector", None)
    return str(getattr(inj, "__name__", type(inj).__name__))


def _whole_bits(qt: Any, where: str, field: str, what: str, lo_hi: tuple[int, int]) -> int:
    """A quantizer's bit width: a whole number inside golden's range for `what`, else one line."""
    bw = _scalar(qt.bit_width)
    bits = int(bw)
    if bits != bw or not lo_hi[0] <= bits <= lo_hi[1]:
        raise QuantSchemeError(f"{where}: {field} {bw:g}; golden's {what} are {lo_hi[0]}..{lo_hi[1]} bits")
    return bits


def _scalar(t: Any) -> float:
    return float(torch.as_tensor(t).detach().reshape(-1)[0])


@dataclass(frozen=True)
class _Act:
    """One activation quantizer as the forward pass used it, in golden's code space."""

    where: str  # "module 'relu1' (QuantReLU) act_quant (Uint8ActPerTensorFixedPoint)"
    scale: float
    z: int  # golden's zero point (Brevitas' + 2^(M-1) if signed)
    bits: int
    lo: int  # golden's code range (after a ReLU: from z)
    hi: int
    rounding: str
    relu: bool
    signed: bool


@dataclass(frozen=True)
class _Codes:
    """A tensor of golden codes: the output of golden layer `src` (or INPUT)."""

    src: str
    scale: float
    z: int
    bits: int
    lo: int
    hi: int
    where: str  # the quantizer that made it


@dataclass
class _Pending:
    """A conv / fc / add whose float result awaits the activation quantizer that makes it codes."""

    kind: str  # conv, fc, add
    node: fx.Node
    name: str  # the module path (conv, fc) or the node name (add)
    where: str
    inputs: list[_Codes]
    mod: Any = None
    weight: np.ndarray | None = None
    w_scale: np.ndarray | None = None
    w_bits: int = 8
    bias: np.ndarray | None = None  # accumulator units (float64; exact integers unless `bias_float`)
    bias_float: bool = False
    relu: bool = False  # a float nn.ReLU between the layer and its quantizer
    in_shape: tuple[int, ...] = field(default_factory=tuple)  # per sample, of the (first) input
    shape: tuple[int, ...] = field(default_factory=tuple)  # per sample, of the output


class _Captured:
    """Forward hooks on the quantizers (proxies) of every Brevitas layer: what each returned while
    one node of the graph ran."""

    ATTRS = ("input_quant", "act_quant", "output_quant", "weight_quant", "bias_quant")

    def __init__(self, model: nn.Module) -> None:
        from brevitas.nn.mixin.base import QuantLayerMixin

        self.out: dict[tuple[str, str], list[Any]] = {}
        self.handles: list[Any] = []
        for name, mod in model.named_modules():
            if not isinstance(mod, QuantLayerMixin):
                continue
            for attr in self.ATTRS:
                proxy = getattr(mod, attr, None)
                if isinstance(proxy, nn.Module):
                    self.handles.append(proxy.register_forward_hook(self._hook(name, attr)))

    def _hook(self, name: str, attr: str) -> Any:
        def hook(mod: nn.Module, args: Any, out: Any) -> None:
            self.out.setdefault((name, attr), []).append(out)
        return hook

    def get(self, name: str, attr: str) -> Any:
        got = self.out.get((name, attr))
        return got[-1] if got else None

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


class _Tracer(fx.Tracer):
    """FX's tracer with every Brevitas layer a leaf: the graph is the model's own forward."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        from brevitas.nn.mixin.base import QuantLayerMixin

        return isinstance(m, QuantLayerMixin) or super().is_leaf_module(m, module_qualified_name)


def _value(v: Any) -> Any:
    """The float tensor of a value (a QuantTensor's dequantized value)."""
    from brevitas.quant_tensor import QuantTensor

    return v.value if isinstance(v, QuantTensor) else v


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


class _Builder:
    def __init__(self, model: nn.Module, captured: _Captured, *, bias_mode: str, m0_bits: int,
                 saturate_policy: str, exact: bool) -> None:
        self.model = model
        self.captured = captured
        self.bias_mode = bias_mode
        self.m0_bits = m0_bits
        self.saturate_policy = saturate_policy
        self.exact = exact
        self.sym: dict[str, Any] = {}  # FX node name -> _Codes, _Pending, "float input" or None (not a tensor)
        self.layers: list[Layer] = []
        self.counters: dict[str, int] = {}
        self.input_quant: InputQuant | None = None
        self.input_shape: tuple[int, ...] = ()
        self.output: _Codes | None = None
        self.saturations: dict[str, int] = {}

    # ---- helpers ---------------------------------------------------------------------------
    def new_name(self, prefix: str) -> str:
        self.counters[prefix] = self.counters.get(prefix, 0) + 1
        return f"{prefix}{self.counters[prefix]}"

    def where(self, node: fx.Node) -> str:
        if node.op == "call_module":
            return _describe(str(node.target), self.model.get_submodule(str(node.target)))
        name = getattr(node.target, "__name__", str(node.target))
        return f"{node.op} {name} (FX node {node.name})"

    def arg(self, node: fx.Node, i: int = 0) -> Any:
        a = node.args[i] if len(node.args) > i else None
        if not isinstance(a, fx.Node):
            raise UnsupportedLayerError(f"{self.where(node)}: argument {i} is a constant, not a tensor")
        return self.sym[a.name]

    def codes(self, node: fx.Node, i: int = 0) -> _Codes:
        """The quantized input i of node; refuses a float one naming where it comes from."""
        return self.as_codes(node, self.arg(node, i))

    def as_codes(self, node: fx.Node, s: Any) -> _Codes:
        if isinstance(s, _Codes):
            return s
        if isinstance(s, _Pending):
            raise UnsupportedLayerError(
                f"{self.where(node)} reads the float output of {s.where}: golden's conv, fc and add layers end "
                "in integer codes, so an activation quantizer (QuantReLU, QuantIdentity, or the layer's "
                "output_quant) must come right after it")
        if s == "float input":
            raise UnsupportedLayerError(
                f"{self.where(node)} reads the model input unquantized: begin the model with a QuantIdentity "
                "(or give this layer an input_quant)")
        raise UnsupportedLayerError(f"{self.where(node)}: its input is not a quantized tensor")

    def add_layer(self, node: fx.Node, layer: Layer, codes: _Codes, w_bits: int | None = None) -> None:
        self.layers.append(set_widths(layer, codes.bits, w_bits))
        self.sym[node.name] = codes

    # ---- quantizers --------------------------------------------------------------------------
    def act(self, name: str, mod: nn.Module, attr: str) -> _Act:
        """The activation quantizer `attr` of Brevitas layer `name` as it ran (its QuantTensor)."""
        from brevitas.function.ops import max_int, min_int
        from brevitas.quant_tensor import IntQuantTensor

        proxy: Any = getattr(mod, attr)
        where = f"{_describe(name, mod)} {attr} ({_injector_name(proxy)})"
        qt = self.captured.get(name, attr)
        if not isinstance(qt, IntQuantTensor):
            raise QuantSchemeError(f"{where}: not an integer quantizer (it returned {type(qt).__name__}); golden takes "
                                   "integer activations (brevitas.quant's Int/Uint quantizers)")
        if torch.as_tensor(qt.scale).numel() != 1 or torch.as_tensor(qt.zero_point).numel() != 1:
            raise QuantSchemeError(f"{where}: a per-channel activation scale or zero point; golden's activations "
                                   "are quantized per tensor")
        bits = _whole_bits(qt, where, "bit_width", "activations", A_BITS_RANGE)
        zp = _scalar(qt.zero_point)
        if zp != round(zp):
            raise QuantSchemeError(f"{where}: zero point {zp:g} is not an integer")
        signed = bool(qt.signed)
        narrow = bool(getattr(proxy, "is_narrow_range", False))
        b = torch.tensor(float(bits))
        qmin, qmax = int(min_int(signed, narrow, b)), int(max_int(signed, narrow, b))
        off = 1 << (bits - 1) if signed else 0
        z = int(zp) + off
        if not 0 <= z <= act_qmax(bits):
            raise QuantSchemeError(f"{where}: zero point {int(zp)} is outside its {bits}-bit codes")
        impl = getattr(getattr(proxy, "fused_activation_quant_proxy", None), "activation_impl", None)
        if isinstance(impl, nn.ReLU):
            relu = True
        elif impl is None or isinstance(impl, nn.Identity) or type(impl).__name__ == "Identity":
            relu = False
        else:
            raise UnsupportedLayerError(f"{where}: activation {type(impl).__name__}; golden takes QuantIdentity and "
                                        "QuantReLU (a clamp it folds into the layer's bounds)")
        lo, hi = qmin + off, qmax + off
        if relu:
            lo = max(lo, z)
        scale = _scalar(qt.scale)
        if not (scale > 0 and math.isfinite(scale)):
            raise QuantSchemeError(f"{where}: scale {scale!r} is not a positive number")
        rounding = str(getattr(proxy, "rounding_mode", None) or "unknown").upper()
        return _Act(where, scale, z, bits, lo, hi, rounding, relu, signed)

    def input_codes(self, node: fx.Node, q: _Act) -> _Codes:
        """The network input quantized by q: golden's InputQuant (Network.quantize_input rounds half to
        even, as torch.round: exact for ROUND and a power-of-two scale)."""
        if self.input_quant is not None:
            raise UnsupportedLayerError(f"{q.where}: a second quantizer of the model input; golden takes one")
        if q.lo != 0:
            raise QuantSchemeError(f"{q.where}: its codes start {q.lo} above the bottom of their {q.bits}-bit range "
                                   "(narrow_range=True on signed codes, or a ReLU above the zero point); golden's input "
                                   "codes take the whole range (Network.quantize_input)")
        if self.exact and q.rounding != "ROUND":
            raise QuantSchemeError(f"{q.where}: float_to_int_impl_type {q.rounding}; golden's Network.quantize_input "
                                   "rounds half to even as ROUND does: give the input quantizer ROUND")
        if self.exact and not _pow2(q.scale):
            raise QuantSchemeError(f"{q.where}: scale {q.scale:.6g} is not a power of two: Brevitas' float arithmetic "
                                   f"is not exact with it; {_FIX_EXACT}, {_OR_APPROX}")
        self.input_quant = InputQuant(q.scale, q.z, self.input_shape, q.hi)
        return _Codes(INPUT, q.scale, q.z, q.bits, q.lo, q.hi, q.where)

    def requantized(self, node: fx.Node, src: Any, q: _Act) -> _Codes:
        """What quantizer q makes of the value src: codes of a new layer (a pending conv / fc / add),
        the network input, or codes left as they are."""
        if isinstance(src, _Pending):
            return self.finish(src, node, q)
        if src == "float input":
            return self.input_codes(node, q)
        if isinstance(src, _Codes):
            same = (src.scale, src.z, src.bits) == (q.scale, q.z, q.bits) and q.lo <= src.lo and src.hi <= q.hi
            if same:  # round(q * s / s) = q within the range: nothing to do
                return src
            raise UnsupportedLayerError(
                f"{q.where} requantizes codes already quantized by {src.where} (scale {src.scale:.6g} -> "
                f"{q.scale:.6g}, {src.bits} -> {q.bits} bits); golden has no layer for that: quantize once "
                "after each conv, fc or add")
        raise UnsupportedLayerError(f"{q.where}: its input is not a tensor golden models")

    # ---- layer kinds -------------------------------------------------------------------------
    def weights(self, name: str, mod: nn.Module, n_out: int) -> tuple[np.ndarray, np.ndarray, int]:
        from brevitas.quant_tensor import IntQuantTensor

        proxy: Any = getattr(mod, "weight_quant")
        where = f"{_describe(name, mod)} weight_quant ({_injector_name(proxy)})"
        qt = self.captured.get(name, "weight_quant")
        if not isinstance(qt, IntQuantTensor):
            raise QuantSchemeError(f"{where}: the weights are not integer-quantized (weight_quant=None, or not an "
                                   "integer quantizer); golden takes integer weights")
        bits = _whole_bits(qt, where, "weight_bit_width", "weights", W_BITS_RANGE)
        if not bool(qt.signed):
            raise QuantSchemeError(f"{where}: unsigned weights; golden's are signed and symmetric")
        if bool(torch.any(torch.as_tensor(qt.zero_point) != 0)):
            raise QuantSchemeError(f"{where}: weight zero point is not 0; golden's weights are symmetric")
        if not bool(getattr(proxy, "is_narrow_range", False)):
            raise QuantSchemeError(f"{where}: narrow_range=False lets codes reach -{1 << (bits - 1)}; golden's weights "
                                   f"are narrow, +-{weight_qmax(bits)} (weight_narrow_range=True)")
        codes = qt.int().detach().cpu().to(torch.int64).numpy()
        wq = weight_qmax(bits)
        if codes.size and (int(codes.min()) < -wq or int(codes.max()) > wq):
            raise QuantSchemeError(f"{where}: weight codes {int(codes.min())}..{int(codes.max())} are outside -{wq}..{wq}")
        s = torch.as_tensor(qt.scale).detach().to(torch.float64).reshape(-1).numpy()
        if s.size == 1:
            s = np.full(n_out, float(s[0]))
        elif s.size != n_out:
            raise QuantSchemeError(f"{where}: {s.size} weight scales for {n_out} output channels; golden takes one "
                                   "per tensor or one per output channel")
        if not np.all(s > 0):
            raise QuantSchemeError(f"{where}: a weight scale is not positive")
        return codes.astype(np.int8), s, bits

    def bias(self, name: str, mod: nn.Module, s_in: float, s_w: np.ndarray) -> tuple[np.ndarray, bool]:
        """(the bias in accumulator units, whether it is a float Brevitas adds unquantized)."""
        from brevitas.quant_tensor import IntQuantTensor

        if getattr(mod, "bias", None) is None:
            return np.zeros(len(s_w)), False
        got = self.captured.get(name, "bias_quant")
        unit = s_in * s_w
        if isinstance(got, IntQuantTensor):
            b = got.int().detach().cpu().to(torch.float64).reshape(-1).numpy()
            sb = torch.as_tensor(got.scale).detach().to(torch.float64).reshape(-1).numpy()
            return b * sb / unit, False
        b = torch.as_tensor(_value(got) if got is not None else mod.bias).detach().to(torch.float64).reshape(-1).numpy()
        return b / unit, bool(np.any(b != 0))

    def compute(self, node: fx.Node, mod: nn.Module, kind: str) -> None:
        """A QuantConv2d / QuantLinear: its input codes, weights and bias; pending until its quantizer
        (its own output_quant, or the activation quantizer after it)."""
        name = str(node.target)
        where = _describe(name, mod)
        src = self.arg(node)
        proxy: Any = getattr(mod, "input_quant", None)
        if proxy is not None and proxy.is_quant_enabled:
            src = self.requantized(node, src, self.act(name, mod, "input_quant"))
        src = self.as_codes(node, src)
        out = _value(self.value)
        n_out = int(out.shape[1])
        codes, s_w, w_bits = self.weights(name, mod, n_out)
        if kind == "conv":
            problem = module_problem(mod)
            if problem:
                raise UnsupportedLayerError(f"{where}: {problem}")
        bias, bias_float = self.bias(name, mod, src.scale, s_w)
        p = _Pending(kind, node, name, where, [src], mod=mod, weight=codes, w_scale=s_w, w_bits=w_bits, bias=bias,
                     bias_float=bias_float, in_shape=self.in_shape(node), shape=tuple(int(d) for d in out.shape[1:]))
        oq: Any = getattr(mod, "output_quant", None)
        if oq is not None and oq.is_quant_enabled:
            self.sym[node.name] = self.finish(p, node, self.act(name, mod, "output_quant"))
        else:
            self.sym[node.name] = p

    def rounding_offset(self, p: _Pending, q: _Act, k: int, m: float) -> float:
        """What golden adds to the bias (accumulator units) so that its half-up rounding is q's
        rounding of acc * M, M = 2^-k (exact) or any M (approximate: the nearest)."""
        r = q.rounding
        if r == "ROUND_TO_ZERO":
            if q.lo < q.z:
                raise QuantSchemeError(f"{q.where}: float_to_int_impl_type ROUND_TO_ZERO on outputs below the zero "
                                       "point rounds up there and down above it; golden rounds one way (use FLOOR, "
                                       "or a ReLU / unsigned output)")
            r = "FLOOR"  # equal where the clamp at z does not hide it
        if r not in ROUNDING_MODES:
            raise QuantSchemeError(f"{q.where}: float_to_int_impl_type {q.rounding}; golden takes "
                                   f"{', '.join(ROUNDING_MODES)}")
        if self.exact:
            if k <= 0:
                return 0.0  # acc * M is an integer: nothing to round, whatever the mode
            if r == "FLOOR":
                return -float(1 << (k - 1))
            if r == "CEIL":
                return float((1 << (k - 1)) - 1)
            raise QuantSchemeError(
                f"{q.where}: float_to_int_impl_type {q.rounding} rounds ties to even and {p.where}'s outputs can fall "
                f"on a tie (multiplier 2^-{k}); golden's requantization rounds ties up, so it matches FLOOR or CEIL "
                f"exactly (set float_to_int_impl_type=FloatToIntImplType.FLOOR), {_OR_APPROX}")
        if r == "FLOOR":
            return -0.5 / m
        if r == "CEIL":
            return 0.5 / m
        return 0.0

    def finish(self, p: _Pending, node: fx.Node, q: _Act) -> _Codes:
        if p.relu:
            q = _Act(q.where, q.scale, q.z, q.bits, max(q.lo, q.z), q.hi, q.rounding, True, q.signed)
        if p.kind == "add":
            return self.finish_add(p, node, q)
        assert p.weight is not None and p.w_scale is not None and p.bias is not None
        src = p.inputs[0]
        prefix = "conv" if p.kind == "conv" else "fc"
        name = self.new_name(prefix)
        where = f"layer {name} ({p.where})"
        if self.exact:
            for what, s in (("input", src.scale), ("output", q.scale)):
                if not _pow2(s):
                    raise QuantSchemeError(f"{where}: its {what} scale {s:.6g} ({src.where if what == 'input' else q.where}) "
                                           f"is not a power of two: Brevitas' float arithmetic is not exact with it; "
                                           f"{_FIX_EXACT}, {_OR_APPROX}")
            bad = [float(s) for s in p.w_scale if not _pow2(float(s))]
            if bad:
                raise QuantSchemeError(f"{where}: weight scale {bad[0]:.6g} is not a power of two: Brevitas' float "
                                       f"arithmetic is not exact with it; {_FIX_EXACT}, {_OR_APPROX}")
            if p.bias_float:
                raise QuantSchemeError(f"{where}: its bias is a float (bias_quant=None) that Brevitas adds unquantized; "
                                       "give the layer bias_quant=Int32Bias (or bias=False), " + _OR_APPROX)
            frac = p.bias - np.rint(p.bias)
            if np.any(frac != 0):
                raise QuantSchemeError(f"{where}: its quantized bias is not a whole number of accumulator units "
                                       "(bias scale != input scale x weight scale); use Int32Bias or Int16Bias")
        ms = [src.scale * float(sw) / q.scale for sw in p.w_scale]
        m0 = np.empty(len(ms), np.int64)
        n = np.empty(len(ms), np.int64)
        offset = np.empty(len(ms))
        for k, m in enumerate(ms):
            m0[k], n[k] = arith.quantize_multiplier(m, m0_bits=self.m0_bits, where=f"{where} channel {k}")
            shift = -math.frexp(m)[1] + 1  # M = 2^-shift when M is a power of two
            offset[k] = self.rounding_offset(p, q, shift, m)
            if self.exact and math.ldexp(float(m0[k]), -int(n[k])) != m:
                raise RangeError(f"{where}: multiplier {m!r} of channel {k} is not M0 * 2^-n with m0_bits={self.m0_bits}")
        bias_acc = p.bias + offset
        k_dot = int(np.prod(p.weight.shape[1:]))
        bias = arith.encode_bias(bias_acc, mode=self.bias_mode, where=where, saturate_policy=self.saturate_policy)
        if bias.saturated:
            self.saturations[name] = bias.saturated
        if self.exact and not np.array_equal(bias.term, np.rint(bias_acc).astype(np.int64)):
            ch = int(np.flatnonzero(bias.term != np.rint(bias_acc).astype(np.int64))[0])
            raise RangeError(f"{where}: bias of channel {ch}, {int(np.rint(bias_acc[ch]))} accumulator units, is "
                             f"not exactly a {self.bias_mode} bias (stored: {int(bias.term[ch])}); extract with "
                             "bias_mode='int32'")
        worst = int(np.abs(bias.term).max(initial=0)) + k_dot * arith.MAX_TERM
        if worst > arith.INT32_MAX:
            raise RangeError(f"{where}: |bias| + K*255*127 = {worst} can overflow the int32 accumulator")
        requant = Requant(m0, n, q.z, q.lo, q.hi, self.m0_bits)
        common: dict[str, Any] = dict(
            name=name, inputs=(src.src,), in_shape=p.in_shape, out_shape=p.shape, module=p.name, source=node.name,
            weight=p.weight, bias=bias, requant=requant, z_in=src.z, scale_in=src.scale, scale_out=q.scale,
            weight_scale=p.w_scale,
        )
        if p.kind == "conv":
            mod = p.mod
            k_out, cg, kh, kw = p.weight.shape
            c_in = int(common["in_shape"][0])
            groups = int(mod.groups)
            if cg * groups != c_in:
                raise ShapeError(f"{where}: weight expects {cg * groups} input channels, input has {c_in}")
            layer: Layer = ConvLayer(**common, stride=_pair(mod.stride), padding=_pair(mod.padding), groups=groups,
                                     kind_name=conv_kind(c_in, groups, (kh, kw)), dilation=_pair(mod.dilation))
        else:
            if len(common["in_shape"]) != 1:
                raise UnsupportedLayerError(f"{where}: fully connected input must be [N, C], got "
                                            f"[N, {', '.join(map(str, common['in_shape']))}] (flatten first)")
            layer = LinearLayer(**common)
        codes = _Codes(name, q.scale, q.z, q.bits, q.lo, q.hi, q.where)
        self.layers.append(set_widths(layer, q.bits, p.w_bits))
        return codes

    def finish_add(self, p: _Pending, node: fx.Node, q: _Act) -> _Codes:
        a, b = p.inputs
        name = self.new_name("add")
        where = f"layer {name} ({p.where})"
        ra, rb = a.scale / q.scale, b.scale / q.scale
        a0, b0, n = arith.add_params(a.scale, b.scale, q.scale, m0_bits=self.m0_bits, where=where)
        if self.exact:
            for what, s in (("first operand", a.scale), ("second operand", b.scale), ("output", q.scale)):
                if not _pow2(s):
                    raise QuantSchemeError(f"{where}: its {what} scale {s:.6g} is not a power of two; {_FIX_EXACT}, "
                                           + _OR_APPROX)
            finest = min(ra, rb)  # the sum is a whole number of output steps times this
            r = q.rounding if not (q.rounding == "ROUND_TO_ZERO" and q.lo >= q.z) else "FLOOR"
            ok = finest >= 1 or (finest == 0.5 and r == "CEIL")
            if not ok:
                raise QuantSchemeError(
                    f"{where}: operand scales {a.scale:.6g} and {b.scale:.6g} against the output's {q.scale:.6g} "
                    f"(ratio {finest:g}) leave fractions that {q.where} rounds {r}; golden's add rounds them half up "
                    "without a bias to shift it: give the operands scales of at least the output's (share one "
                    f"quantizer), or half of it with CEIL, {_OR_APPROX}")
            if a0 != math.ldexp(ra, n) or b0 != math.ldexp(rb, n):
                raise RangeError(f"{where}: the operand ratios {ra:g}, {rb:g} are not A0, B0 * 2^-{n} with m0_bits={self.m0_bits}")
        layer = AddLayer(
            name=name, inputs=(a.src, b.src), in_shape=p.shape, out_shape=p.shape, module=p.name, source=node.name,
            z_a=a.z, z_b=b.z, a0=a0, b0=b0, n=n, z_out=q.z, lo=q.lo, hi=q.hi, scale_a=a.scale, scale_b=b.scale,
            scale_out=q.scale,
        )
        self.layers.append(set_widths(layer, q.bits))
        return _Codes(name, q.scale, q.z, q.bits, q.lo, q.hi, q.where)

    # ---- the walk ----------------------------------------------------------------------------
    def visit(self, node: fx.Node, value: Any, values: dict[str, Any]) -> None:
        from brevitas.nn import QuantConv2d, QuantEltwiseAdd, QuantIdentity, QuantLinear, QuantReLU
        from brevitas.nn.mixin.base import QuantLayerMixin

        self.value = value
        self.values = values
        op, tgt = node.op, node.target
        if op == "placeholder":
            if any(s == "float input" for s in self.sym.values()):
                raise UnsupportedLayerError("the model has more than one input; golden takes one")
            self.sym[node.name] = "float input"
            self.input_shape = tuple(int(d) for d in _value(value).shape[1:])
            return
        if op == "get_attr":
            self.sym[node.name] = None
            return
        if op == "output":
            res = node.args[0]
            if not isinstance(res, fx.Node):
                raise UnsupportedLayerError("the model returns several outputs; golden takes one output tensor")
            self.output = self.codes(node, 0)
            return
        if op == "call_module":
            mod = self.model.get_submodule(str(tgt))
            if isinstance(mod, (QuantIdentity, QuantReLU)):
                name = str(tgt)
                src = self.arg(node)
                ip: Any = getattr(mod, "input_quant", None)
                if ip is not None and ip.is_quant_enabled:
                    src = self.requantized(node, src, self.act(name, mod, "input_quant"))
                if not mod.act_quant.is_quant_enabled:
                    raise UnsupportedLayerError(f"{_describe(name, mod)}: act_quant=None leaves it a float activation; "
                                                "golden's activations are quantized")
                self.sym[node.name] = self.requantized(node, src, self.act(name, mod, "act_quant"))
                return
            if isinstance(mod, QuantConv2d):
                return self.compute(node, mod, "conv")
            if isinstance(mod, QuantLinear):
                return self.compute(node, mod, "fc")
            if isinstance(mod, QuantEltwiseAdd):
                name = str(tgt)
                if mod.input_quant.is_quant_enabled:
                    raise UnsupportedLayerError(f"{_describe(name, mod)}: input_quant requantizes the operands; golden's "
                                                "add reads them as they are (input_quant=None)")
                p = self.pending_add(node, self.codes(node, 0), self.codes(node, 1), _describe(name, mod))
                oq: Any = mod.output_quant
                self.sym[node.name] = self.finish(p, node, self.act(name, mod, "output_quant")) if oq.is_quant_enabled else p
                return
            if isinstance(mod, QuantLayerMixin):
                raise UnsupportedLayerError(f"{_describe(str(tgt), mod)} is not supported by golden's Brevitas front end "
                                            "(it takes QuantIdentity, QuantReLU, QuantConv2d, QuantLinear, QuantEltwiseAdd)")
            if isinstance(mod, nn.MaxPool2d):
                return self.maxpool(node, mod)
            if isinstance(mod, nn.Flatten):
                return self.flatten(node, mod.start_dim, mod.end_dim)
            if isinstance(mod, _PASS_MODULES):
                self.sym[node.name] = self.arg(node)
                return
            if isinstance(mod, nn.ReLU):
                return self.float_relu(node)
            if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
                raise UnsupportedLayerError(
                    f"{_describe(str(tgt), mod)} runs in float between a layer and its quantizer; golden takes batch "
                    "norm folded into the conv's weights and bias (QuantConv2d.merge_bn_in before training)")
            raise UnsupportedLayerError(f"{_describe(str(tgt), mod)} is not supported by golden's Brevitas front end")
        if op == "call_function":
            if tgt in (operator.add, operator.iadd, torch.add):
                self.sym[node.name] = self.pending_add(node, self.codes(node, 0), self.codes(node, 1), f"add (FX node {node.name})")
                return
            if tgt is torch.flatten:
                start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
                end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
                return self.flatten(node, int(start), int(end))  # type: ignore[arg-type]
            if tgt in (torch.relu, torch.nn.functional.relu):
                return self.float_relu(node)
            if tgt in (getattr, operator.getitem) and not isinstance(_value(value), torch.Tensor):
                self.sym[node.name] = None
                return
            raise UnsupportedLayerError(f"{self.where(node)} is not supported by golden's Brevitas front end")
        if op == "call_method":
            if tgt in ("size", "dim"):
                self.sym[node.name] = None
                return
            if tgt == "flatten":
                start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
                return self.flatten(node, int(start), -1)  # type: ignore[arg-type]
            if tgt in ("view", "reshape"):
                inp = values[node.args[0].name] if isinstance(node.args[0], fx.Node) else None
                out = _value(value)
                if inp is not None and out.dim() == 2 and out.shape[0] == _value(inp).shape[0]:
                    return self.flatten(node, 1, -1)
            if tgt in ("relu", "relu_"):
                return self.float_relu(node)
            raise UnsupportedLayerError(f"method .{tgt}() (FX node {node.name}) is not supported by golden's Brevitas "
                                        "front end")
        raise UnsupportedLayerError(f"FX node {node.name} ({op} {tgt}) is not supported by golden's Brevitas front end")

    def pending_add(self, node: fx.Node, a: _Codes, b: _Codes, where: str) -> _Pending:
        shape = tuple(int(d) for d in _value(self.value).shape[1:])
        ia, ib = self.in_shape(node, 0), self.in_shape(node, 1)
        if ia != ib:
            raise ShapeError(f"{where}: add of shapes {tuple(ia)} and {tuple(ib)} (no broadcasting)")
        return _Pending("add", node, node.name, where, [a, b], in_shape=ia, shape=shape)

    def float_relu(self, node: fx.Node) -> None:
        src = self.arg(node)
        if isinstance(src, _Pending) and len(node.args[0].users) == 1:  # type: ignore[union-attr]
            src.relu = True  # relu, then the quantizer: QuantReLU's order
            self.sym[node.name] = src
            return
        raise UnsupportedLayerError(f"{self.where(node)}: a float ReLU must sit between a conv, fc or add and its "
                                    "quantizer (or use QuantReLU)")

    def maxpool(self, node: fx.Node, mod: nn.MaxPool2d) -> None:
        src = self.codes(node)
        problem = module_problem(mod)
        if problem:
            raise UnsupportedLayerError(f"{_describe(str(node.target), mod)}: {problem}")
        stride = mod.stride if mod.stride is not None else mod.kernel_size
        layer = MaxPoolLayer(
            name=self.new_name("pool"), inputs=(src.src,), in_shape=self.in_shape(node),
            out_shape=tuple(int(d) for d in _value(self.value).shape[1:]), module=str(node.target), source=node.name,
            kernel=_pair(mod.kernel_size), stride=_pair(stride), padding=_pair(mod.padding),
        )
        self.add_layer(node, layer, _Codes(layer.name, src.scale, src.z, src.bits, src.lo, src.hi, src.where))

    def flatten(self, node: fx.Node, start: int, end: int) -> None:
        src = self.codes(node)
        in_shape = self.in_shape(node)
        if start != 1 or end not in (-1, len(in_shape)):
            raise UnsupportedLayerError(f"{self.where(node)}: flatten({start}, {end}); golden flattens from dim 1 to the end")
        layer = FlattenLayer(
            name=self.new_name("flatten"), inputs=(src.src,), in_shape=in_shape,
            out_shape=tuple(int(d) for d in _value(self.value).shape[1:]),
            module=str(node.target) if node.op == "call_module" else node.name, source=node.name,
        )
        self.add_layer(node, layer, _Codes(layer.name, src.scale, src.z, src.bits, src.lo, src.hi, src.where))

    def in_shape(self, node: fx.Node, i: int = 0) -> tuple[int, ...]:
        """The per-sample shape of input i of node, as Brevitas ran it."""
        a = node.args[i]
        assert isinstance(a, fx.Node)
        return tuple(int(d) for d in _value(self.values[a.name]).shape[1:])


class _Runner(fx.Interpreter):
    """Runs the traced Brevitas model node by node (Brevitas' own forward), handing each node's value
    and what its quantizers returned to the builder."""

    def __init__(self, gm: fx.GraphModule, builder: _Builder, captured: _Captured) -> None:
        super().__init__(gm)
        self.extra_traceback = False  # FX would append the node and a traceback to the message: one line
        self.builder = builder
        self.captured = captured
        self.values: dict[str, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        self.captured.out.clear()
        try:
            out = super().run_node(n)
        except Exception as exc:
            where = self.builder.where(n) if n.op == "call_module" else f"FX node {n.name}"
            raise UnsupportedLayerError(f"Brevitas could not run {where}: {type(exc).__name__}: "
                                        f"{' '.join(str(exc).split())}") from exc
        self.values[n.name] = out
        try:
            self.builder.visit(n, out, self.values)
        except GoldenError:
            raise
        except Exception as exc:  # an unexpected shape of model: name where it happened
            raise UnsupportedLayerError(f"{self.builder.where(n)}: {type(exc).__name__}: {exc}") from exc
        return out


def extract_brevitas(
    model: nn.Module,
    example_input: torch.Tensor,
    *,
    bias_mode: str = "int16_shift",
    m0_bits: int = 16,
    saturate_policy: str = "warn",
    exact: bool = True,
) -> Network:
    """A Brevitas model (brevitas.nn) as golden's Network, the same layer records as the FX path.

    The model is run once (a copy, in eval mode) on `example_input` through FX with every Brevitas
    layer a leaf; each quantizer's QuantTensor (integer codes, scale, zero point, bit width) and
    each layer's integer weights and bias are read from what that forward pass used.
    exact=True: only what golden reproduces bit for bit (module docstring); anything else is one
    QuantSchemeError / UnsupportedLayerError line naming the module and the setting.
    exact=False: float scales and ties-to-even rounding too, with golden's nearest integer
    requantization (off by one near a rounding boundary).
    """
    if bias_mode not in arith.BIAS_MODES:
        raise ValueError(f"bias_mode={bias_mode!r}; choose one of {', '.join(arith.BIAS_MODES)}")
    if saturate_policy not in ("warn", "error"):
        raise ValueError(f"saturate_policy={saturate_policy!r}; choose warn or error")
    if not 1 <= m0_bits <= 31:
        raise RangeError(f"m0_bits={m0_bits} is outside 1..31")
    if not is_brevitas_model(model):
        raise UnsupportedLayerError(f"{type(model).__name__} holds no Brevitas quantized layer (brevitas.nn)")
    if not isinstance(example_input, torch.Tensor) or not example_input.is_floating_point() or example_input.dim() < 2:
        raise InputError("example_input must be a float torch.Tensor batch [N, ...]")
    net = copy.deepcopy(model).eval()  # the user's model keeps its mode, its caches and its statistics
    try:
        gm = fx.GraphModule(net, _Tracer().trace(net))
    except Exception as exc:
        raise UnsupportedLayerError(f"FX could not trace {type(model).__name__} (Brevitas layers as leaves): "
                                    f"{type(exc).__name__}: {' '.join(str(exc).split())}") from exc
    captured = _Captured(gm)
    b = _Builder(gm, captured, bias_mode=bias_mode, m0_bits=m0_bits, saturate_policy=saturate_policy, exact=exact)
    try:
        with torch.no_grad():
            _Runner(gm, b, captured).run(example_input)
    finally:
        captured.remove()
    if b.input_quant is None:
        raise UnsupportedLayerError(f"{type(model).__name__}: no quantizer of the model input (begin with a QuantIdentity)")
    out = b.output
    if out is None or out.src == INPUT:
        raise UnsupportedLayerError(f"{type(model).__name__}: no integer layer before the output")
    return Network(
        layers=tuple(b.layers), input_quant=b.input_quant, output_name=out.src, output_scale=out.scale,
        output_zero_point=out.z, bias_mode=bias_mode, m0_bits=m0_bits, saturations=dict(b.saturations),
    )


def output_codes(net: Network, y: Any) -> np.ndarray:
    """The Brevitas model's output (a QuantTensor or its float value) as golden's codes of the
    network output: round(value / scale) + zero point (exact: the value is codes times the scale)."""
    v = _value(y) if "brevitas" in sys.modules else y
    codes = torch.round(v.detach().to(torch.float64) / net.output_scale).to(torch.int64) + net.output_zero_point
    return codes.numpy()


def summary_lines(model: nn.Module, net: Network, x: torch.Tensor, y: torch.Tensor | None, what: str) -> list[str]:
    """make golden's comparison for a Brevitas model: golden's output codes against the model's own
    forward pass (Brevitas is the oracle here, as PyTorch's kernels are for an FX model), and the
    top-1 of both when there are labels."""
    ref = copy.deepcopy(model).eval()
    with torch.no_grad():
        want = output_codes(net, ref(x))
    got = net.run(net.quantize_input(x)).output.astype(np.int64)
    lines = [f"golden output codes equal Brevitas' on {float(np.mean(want == got)):.2%} of {want.size:,} elements "
             f"({len(x)} {what}), max |diff| {int(np.abs(want - got).max(initial=0))}"]
    if got.ndim == 2 and y is not None:
        labels = y.numpy()
        lines.append(f"top-1 accuracy: Brevitas {np.mean(want.argmax(1) == labels):.4f}, golden {np.mean(got.argmax(1) == labels):.4f}")
    return lines
