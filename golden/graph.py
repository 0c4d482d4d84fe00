"""Quantized FX GraphModule -> Network of typed layer records.

The graph is run once on `example_input` with an Interpreter that keeps every node's value, so
shapes and the (scale, zero point) of every quantized tensor come from PyTorch itself.
ReLU / ReLU6 that follow a conv, fc or add are folded into its clamp bounds.
"""
from __future__ import annotations

import dataclasses
import math
import operator
import warnings
from typing import Any

import numpy as np
import torch
import torch.ao.nn.intrinsic.quantized as nniq
import torch.ao.nn.quantized as nnq
from torch import fx, nn

from golden import arith
from golden.errors import GoldenError, InputError, QuantSchemeError, RangeError, ShapeError, UnsupportedLayerError
from golden.layers import (
    INPUT,
    AddLayer,
    AvgPoolLayer,
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
from golden.graph_shapes import concat, upsample
from golden.ptq import is_converted, reference_engine, torch_quiet
from golden.widths import act_qmax, converted_bits, weight_qmax
from golden.support import clamp_args, module_problem

_CONV_MODULES = (nnq.Conv2d, nniq.ConvReLU2d)
_LINEAR_MODULES = (nnq.Linear, nniq.LinearReLU)
_IDENTITY_MODULES = (nn.Dropout, nn.Identity)
_RELU_MODULES = (nn.ReLU, nnq.ReLU6, nn.ReLU6)
_ADD_FUNCS = (torch.ops.quantized.add, torch.ops.quantized.add_relu)
_RELU_FUNCS = (torch.relu, torch.nn.functional.relu, torch.nn.functional.relu6)
# What FX makes of a conv / fc that is not a submodule (a bare nn.Conv2d or nn.Linear as the whole
# model, or F.conv2d / F.linear in a forward): a function on packed weights.
_CONV_FUNCS = (torch.ops.quantized.conv2d, torch.ops.quantized.conv2d_relu)
_LINEAR_FUNCS = (torch.ops.quantized.linear, torch.ops.quantized.linear_relu)


class _PackedWeights:
    """The packed weights of a functional quantized conv / fc, with the attributes and methods of
    the quantized module (weight(), bias(), stride, padding, dilation, groups, padding_mode)."""

    padding_mode = "zeros"

    def __init__(self, packed: Any, conv: bool) -> None:
        if conv:
            self._w, self._b = packed.unpack()
            if bool(packed.transpose()):
                raise UnsupportedLayerError("a transposed conv is not supported")
            self.stride = tuple(int(v) for v in packed.stride())
            self.padding = tuple(int(v) for v in packed.padding())
            self.dilation = tuple(int(v) for v in packed.dilation())
            self.groups = int(packed.groups())
        else:
            self._w, self._b = torch.ops.quantized.linear_unpack(packed)

    def weight(self) -> torch.Tensor:
        return self._w

    def bias(self) -> torch.Tensor | None:
        return self._b


class _Recorder(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.values: dict[str, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        try:
            out = super().run_node(n)
        except Exception as exc:
            where = repr(n.target) if n.op == "call_module" else str(n.target)
            raise UnsupportedLayerError(f"PyTorch could not run FX node {n.name} ({n.op} {where}): {exc}") from exc
        # PyTorch 2.13's qnnpack ReLU6/hardtanh returns NCHW strides over NHWC data when given the
        # channels_last output of a qnnpack conv (measured: 22% of conv1's outputs in place).
        # Handing every op a contiguous tensor changes no value, only the memory order.
        if isinstance(out, torch.Tensor) and out.is_quantized and not out.is_contiguous():
            out = out.contiguous()
        self.values[n.name] = out
        return out


def trace_values(gm: fx.GraphModule, example_input: torch.Tensor) -> dict[str, Any]:
    """Run the quantized graph and return every node's output by node name (the PyTorch oracle)."""
    rec = _Recorder(gm)
    with torch.no_grad(), reference_engine(), torch_quiet():
        rec.run(example_input)
    return rec.values


def torch_int8_outputs(gm: fx.GraphModule, x: torch.Tensor) -> list[torch.Tensor]:
    """PyTorch's int8 model outputs (float, dequantized; one, or each of a tuple / list the model
    returns) with the same engine and layout fix as trace_values."""
    values = trace_values(gm, x)
    res = next(n for n in gm.graph.nodes if n.op == "output").args[0]
    return [values[out.name] for out in (res if isinstance(res, (tuple, list)) else [res])]


def torch_int8_output(gm: fx.GraphModule, x: torch.Tensor) -> torch.Tensor:
    """PyTorch's int8 model output (its first, for a model returning several: Network.output_name's)."""
    return torch_int8_outputs(gm, x)[0]


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def channel_multipliers(name: str, s_in: float, s_w: np.ndarray, s_out: float, m0_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel (M0, n) with M0 * 2^-n = S_in * S_w / S_out (arithmetic.md): a conv's or
    linear's requantization, for the CNN and the transformer front ends alike."""
    m0 = np.empty(len(s_w), np.int64)
    n = np.empty(len(s_w), np.int64)
    for k, sw in enumerate(s_w):
        m0[k], n[k] = arith.quantize_multiplier(s_in * float(sw) / s_out, m0_bits=m0_bits, where=f"layer {name} channel {k}")
    return m0, n


def bias_codes(name: str, bias: np.ndarray, s_in: float, s_w: np.ndarray, k_dot: int, *, bias_mode: str,
               saturate_policy: str, saturations: dict[str, int]) -> arith.BiasCodes:
    """A conv's or linear's bias encoded (arithmetic.md), its saturated channels counted in
    `saturations` (and warned of); RangeError when bias plus K products can leave int32."""
    codes = arith.encode_bias(bias / (s_in * s_w), mode=bias_mode, where=f"layer {name}", saturate_policy=saturate_policy)
    if codes.saturated:
        saturations[name] = codes.saturated
        warnings.warn(f"layer {name}: {codes.saturated} bias channel(s) saturated to int16", stacklevel=5)
    worst = int(np.abs(codes.term).max(initial=0)) + k_dot * arith.MAX_TERM
    if worst > arith.INT32_MAX:
        raise RangeError(f"layer {name}: |bias| + K*255*127 = {worst} can overflow the int32 accumulator")
    return codes


class _Builder:
    def __init__(self, gm: fx.GraphModule, values: dict[str, Any], *, bias_mode: str, m0_bits: int, saturate_policy: str) -> None:
        self.gm = gm
        self.values = values
        self.bias_mode = bias_mode
        self.m0_bits = m0_bits
        self.saturate_policy = saturate_policy
        self.layers: list[Layer] = []
        self.produced: dict[str, str] = {}  # FX node name -> golden layer name (or INPUT)
        self.counters: dict[str, int] = {}
        self.input_quant: InputQuant | None = None
        self.outputs: list[str] = []  # golden layer names of the model's outputs, in its order
        self.dequantized: dict[str, str] = {}  # FX dequantize node -> the golden layer it reads
        self.saturations: dict[str, int] = {}
        # zero-padding nodes waiting for the conv that reads them: FX node -> (left, right, top, bottom)
        self.pads: dict[str, tuple[int, int, int, int]] = {}
        # widths (golden.ptq.quantize's gm.meta; 8/8 for a model quantized elsewhere)
        self.bits = converted_bits(gm)
        self.a_bits_of: dict[str, int] = {INPUT: int(self.bits["input"])}  # golden layer name -> output width

    # ---- helpers -----------------------------------------------------------------------------
    def new_name(self, prefix: str) -> str:
        self.counters[prefix] = self.counters.get(prefix, 0) + 1
        return f"{prefix}{self.counters[prefix]}"

    def where(self, node: fx.Node) -> str:
        return f"{node.op} {node.target if node.op != 'call_module' else repr(node.target)} (FX node {node.name})"

    def qtensor(self, node: fx.Node, arg: Any, what: str) -> tuple[str, torch.Tensor]:
        """The golden name and PyTorch value of a quantized input of `node`."""
        if not isinstance(arg, fx.Node):
            raise UnsupportedLayerError(f"{self.where(node)}: {what} is a constant, not a tensor")
        if arg.name in self.dequantized:
            raise UnsupportedLayerError(
                f"{self.where(node)}: its {what} is a dequantized (float) tensor; golden/ evaluates integer layers only"
            )
        if arg.name not in self.produced:
            raise UnsupportedLayerError(f"{self.where(node)}: its {what} comes from {arg.name}, which golden/ does not model")
        v = self.values[arg.name]
        if not (isinstance(v, torch.Tensor) and v.is_quantized):
            raise QuantSchemeError(f"{self.where(node)}: {what} is not a quantized tensor")
        if v.dtype != torch.quint8:
            raise QuantSchemeError(
                f"{self.where(node)}: {what} activations are {v.dtype}, not uint8 (torch.quint8) as the contract needs"
            )
        return self.produced[arg.name], v

    def out_q(self, node: fx.Node) -> torch.Tensor:
        v = self.values[node.name]
        if not (isinstance(v, torch.Tensor) and v.is_quantized and v.dtype == torch.quint8):
            raise QuantSchemeError(f"{self.where(node)}: output is not a uint8 quantized tensor")
        return v

    def add(self, node: fx.Node, layer: Layer, a_bits: int, w_bits: int | None = None) -> None:
        self.layers.append(set_widths(layer, a_bits, w_bits))
        self.produced[node.name] = layer.name
        self.a_bits_of[layer.name] = a_bits

    def widths(self, node: fx.Node) -> tuple[int, int]:
        """(w_bits, a_bits of the output) of a conv / fc node."""
        wa = self.bits["modules"].get(str(node.target)) if node.op == "call_module" else None
        w, a = wa if wa is not None else self.bits["default"]
        return int(w), int(a)

    def check_zero_point(self, name: str, z_out: int, a_bits: int) -> None:
        if not 0 <= z_out <= act_qmax(a_bits):
            raise QuantSchemeError(f"layer {name}: output zero point {z_out} is outside its {a_bits}-bit codes 0..{act_qmax(a_bits)}")

    def index(self, name: str) -> int:
        for i, l in enumerate(self.layers):
            if l.name == name:
                return i
        raise KeyError(name)

    # ---- layer kinds -------------------------------------------------------------------------
    def weights(self, node: fx.Node, mod: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w = mod.weight()
        if w.dtype != torch.qint8:
            raise QuantSchemeError(f"{self.where(node)}: weights are {w.dtype}, not int8 (torch.qint8)")
        if w.qscheme() in (torch.per_channel_symmetric, torch.per_channel_affine):
            zps = w.q_per_channel_zero_points()
            scales = w.q_per_channel_scales().to(torch.float64).numpy()
            if int(w.q_per_channel_axis()) != 0:
                raise QuantSchemeError(f"{self.where(node)}: per-channel weight axis is {w.q_per_channel_axis()}, not 0")
        elif w.qscheme() in (torch.per_tensor_symmetric, torch.per_tensor_affine):
            zps = torch.tensor([w.q_zero_point()])
            scales = np.full(w.shape[0], float(w.q_scale()), np.float64)
        else:
            raise QuantSchemeError(f"{self.where(node)}: unsupported weight qscheme {w.qscheme()}")
        if torch.any(zps != 0):
            raise QuantSchemeError(f"{self.where(node)}: weights are not symmetric (zero points {zps.unique().tolist()})")
        codes = w.int_repr().numpy().astype(np.int8)
        if codes.size and codes.min() < -127:
            raise QuantSchemeError(
                f"{self.where(node)}: weights use -128; the contract's narrow range is [-127, 127] "
                "(quantize with quant_min=-127, or use golden.quantize)"
            )
        b = mod.bias()
        bias = np.zeros(w.shape[0]) if b is None else b.detach().to(torch.float64).numpy()
        # A dead channel (every weight code 0) computes its bias alone, whatever its scale: a model
        # quantized elsewhere may give it a scale of 1e-7 (PyTorch's observer), whose bias code
        # fits no bias mode. It takes the median scale of its layer's live channels, as
        # golden.quantize's observer does (golden.ptq.live_channel_scales).
        dead = ~codes.reshape(codes.shape[0], -1).any(axis=1)
        if dead.any() and not dead.all():
            scales = scales.copy()
            scales[dead] = float(np.median(scales[~dead]))
        return codes, scales, bias

    def requant_fields(self, name: str, s_in: float, s_w: np.ndarray, s_out: float, z_out: int, lo: int, a_bits: int) -> Requant:
        m0, n = channel_multipliers(name, s_in, s_w, s_out, self.m0_bits)
        return Requant(m0, n, z_out, lo, act_qmax(a_bits), self.m0_bits)

    def bias_codes(self, name: str, bias: np.ndarray, s_in: float, s_w: np.ndarray, k_dot: int) -> arith.BiasCodes:
        return bias_codes(name, bias, s_in, s_w, k_dot, bias_mode=self.bias_mode, saturate_policy=self.saturate_policy,
                          saturations=self.saturations)

    def packed(self, node: fx.Node, conv: bool) -> _PackedWeights:
        arg = node.args[1] if len(node.args) > 1 else None
        if not isinstance(arg, fx.Node) or arg.name not in self.values:
            raise UnsupportedLayerError(f"{self.where(node)}: its packed weights are not an attribute of the model")
        try:
            return _PackedWeights(self.values[arg.name], conv)
        except UnsupportedLayerError as exc:
            raise UnsupportedLayerError(f"{self.where(node)}: {exc}") from exc

    def zero_pad(self, node: fx.Node) -> None:
        """A constant zero pad of a quantized tensor (z_in around the codes: golden.ptq folds nn.ZeroPad2d
        and F.pad into it): kept until the conv that reads it, which takes it as its padding."""
        from golden.ptq import _zero_pads

        pads = _zero_pads(self.gm, node)
        if pads is None:
            raise UnsupportedLayerError(f"{self.where(node)}: only constant zero padding of the last two dims (F.pad with 4 values, value 0) is supported")
        if any(p < 0 for p in pads):
            raise UnsupportedLayerError(f"{self.where(node)}: negative padding {pads} (a crop)")
        users = list(node.users)
        convs = [u for u in users if self.is_conv(u)]
        if not users or len(convs) != len(users):
            raise UnsupportedLayerError(f"{self.where(node)}: zero padding must feed convs only, so it folds into their padding")
        src, _ = self.qtensor(node, node.args[0], "input")
        self.produced[node.name] = src
        self.pads[node.name] = pads  # type: ignore[assignment]

    def is_conv(self, node: fx.Node) -> bool:
        if node.op == "call_module":
            return isinstance(self.gm.get_submodule(str(node.target)), _CONV_MODULES)
        return node.op == "call_function" and node.target in _CONV_FUNCS

    def conv(self, node: fx.Node, mod: Any) -> None:
        arg = node.args[0]
        extra = (0, 0, 0, 0)
        if isinstance(arg, fx.Node) and arg.name in self.pads:  # zero padding folded in
            extra = self.pads[arg.name]
            arg = arg.args[0]
        src, xin = self.qtensor(node, arg, "input")
        out = self.out_q(node)
        problem = module_problem(mod)
        if problem:
            raise UnsupportedLayerError(f"{self.where(node)}: {problem}")
        codes, s_w, bias = self.weights(node, mod)
        k, cg, kh, kw = codes.shape
        groups = int(mod.groups)
        c_in = int(xin.shape[1])
        if cg * groups != c_in:
            raise ShapeError(f"{self.where(node)}: weight expects {cg * groups} input channels, input has {c_in}")
        kind = conv_kind(c_in, groups, (kh, kw))
        name = self.new_name("conv")
        common = self.compute_fields(node, name, src, xin, out, codes, s_w, bias, cg * kh * kw, self.relu(node, mod))
        py, px = _pair(mod.padding)
        left, right, top, bottom = extra
        pad_end = (py + bottom, px + right)
        layer = ConvLayer(
            **common, stride=_pair(mod.stride), padding=(py + top, px + left), groups=groups, kind_name=kind,
            pad_end=None if pad_end == (py + top, px + left) else pad_end, dilation=_pair(mod.dilation),
        )
        w_bits, a_bits = self.widths(node)
        self.add(node, layer, a_bits, w_bits)

    def clamp_bounds(self, node: fx.Node) -> tuple[float, float]:
        bounds = clamp_args(node)
        if bounds is None:
            raise UnsupportedLayerError(f"{self.where(node)}: a clamp whose bounds are not numbers (golden folds "
                                        "constant bounds into the layer before it)")
        return bounds

    @staticmethod
    def relu(node: fx.Node, mod: Any) -> bool:
        """A conv / fc with its ReLU fused in (module or function)."""
        return isinstance(mod, (nniq.ConvReLU2d, nniq.LinearReLU)) or (
            node.op == "call_function" and node.target in (torch.ops.quantized.conv2d_relu, torch.ops.quantized.linear_relu)
        )

    def compute_fields(
        self, node: fx.Node, name: str, src: str, xin: torch.Tensor, out: torch.Tensor,
        codes: np.ndarray, s_w: np.ndarray, bias: np.ndarray, k_dot: int, relu: bool,
    ) -> dict[str, Any]:
        """The record fields conv and fc layers share: shapes, weights, bias codes, requant fields
        (the output clamp at most 2^a_bits - 1; weight codes checked inside +-(2^(w_bits-1) - 1))."""
        s_in, z_in = float(xin.q_scale()), int(xin.q_zero_point())
        s_out, z_out = float(out.q_scale()), int(out.q_zero_point())
        w_bits, a_bits = self.widths(node)
        wq = weight_qmax(w_bits)
        if codes.size and (int(codes.min()) < -wq or int(codes.max()) > wq):
            raise QuantSchemeError(f"layer {name} ({self.where(node)}): weight codes {int(codes.min())}..{int(codes.max())} "
                                   f"are outside its {w_bits}-bit range -{wq}..{wq}")
        self.check_zero_point(name, z_out, a_bits)
        return dict(
            name=name,
            inputs=(src,),
            in_shape=tuple(int(d) for d in xin.shape[1:]),
            out_shape=tuple(int(d) for d in out.shape[1:]),
            module=str(node.target) if node.op == "call_module" else node.name,
            source=node.name,
            weight=codes,
            bias=self.bias_codes(name, bias, s_in, s_w, k_dot),
            requant=self.requant_fields(name, s_in, s_w, s_out, z_out, z_out if relu else 0, a_bits),
            z_in=z_in,
            scale_in=s_in,
            scale_out=s_out,
            weight_scale=s_w,
        )

    def linear(self, node: fx.Node, mod: Any) -> None:
        src, xin = self.qtensor(node, node.args[0], "input")
        out = self.out_q(node)
        if xin.dim() != 2:
            raise UnsupportedLayerError(f"{self.where(node)}: fully connected input must be [N, C], got {tuple(xin.shape)} (flatten first)")
        codes, s_w, bias = self.weights(node, mod)
        name = self.new_name("fc")
        common = self.compute_fields(node, name, src, xin, out, codes, s_w, bias, codes.shape[1], self.relu(node, mod))
        w_bits, a_bits = self.widths(node)
        self.add(node, LinearLayer(**common), a_bits, w_bits)

    def fold_relu(self, node: fx.Node, six: bool) -> None:
        self.fold_clamp(node, 0.0, 6.0 if six else math.inf)

    def fold_clamp(self, node: fx.Node, lo_f: float, hi_f: float) -> None:
        """A ReLU, ReLU6, hardtanh or clamp on the output of a conv, fc or add: its float bounds
        become code bounds on that output (arith.clamp_code, as PyTorch's quantized kernels) and
        narrow the layer's own clamp."""
        arg = node.args[0]
        src, xin = self.qtensor(node, arg, "input")
        out = self.out_q(node)
        if (float(out.q_scale()), int(out.q_zero_point())) != (float(xin.q_scale()), int(xin.q_zero_point())):
            raise UnsupportedLayerError(f"{self.where(node)}: a clamp activation with different input and output qparams")
        i = self.index(src) if src != INPUT else -1
        producer = self.layers[i] if i >= 0 else None
        if not isinstance(producer, (ConvLayer, LinearLayer, AddLayer)) or len(arg.users) != 1:  # type: ignore[union-attr]
            raise UnsupportedLayerError(
                f"{self.where(node)}: a ReLU/ReLU6/hardtanh/clamp must directly follow a conv, fc or add whose output it alone reads, "
                "so it can be folded into that layer's clamp bounds"
            )
        z, s = int(xin.q_zero_point()), float(xin.q_scale())
        if isinstance(producer, AddLayer):
            lo, hi = producer.lo, producer.hi
        else:
            lo, hi = producer.requant.lo, producer.requant.hi
        lo = max(lo, arith.clamp_code(lo_f, z, s))
        hi = min(hi, arith.clamp_code(hi_f, z, s))
        if isinstance(producer, AddLayer):
            folded: Layer = dataclasses.replace(producer, lo=lo, hi=hi, source=node.name)
        else:
            folded = dataclasses.replace(producer, requant=producer.requant.with_bounds(lo, hi), source=node.name)
        self.layers[i] = set_widths(folded, producer.a_bits, producer.w_bits)
        self.produced[node.name] = src

    def add_op(self, node: fx.Node) -> None:
        src_a, a = self.qtensor(node, node.args[0], "first operand")
        src_b, b = self.qtensor(node, node.args[1], "second operand")
        out = self.out_q(node)
        if a.shape != b.shape:
            raise ShapeError(f"{self.where(node)}: add of shapes {tuple(a.shape)} and {tuple(b.shape)} (no broadcasting)")
        name = self.new_name("add")
        s_out, z_out = float(out.q_scale()), int(out.q_zero_point())
        a0, b0, n = arith.add_params(float(a.q_scale()), float(b.q_scale()), s_out, m0_bits=self.m0_bits, where=f"layer {name}")
        lo = z_out if node.target is torch.ops.quantized.add_relu else 0
        a_bits = int(self.bits["default"][1])  # an add is a function, never a module `bits` names
        self.check_zero_point(name, z_out, a_bits)
        self.add(
            node,
            AddLayer(
                name=name,
                inputs=(src_a, src_b),
                in_shape=tuple(int(d) for d in a.shape[1:]),
                out_shape=tuple(int(d) for d in out.shape[1:]),
                module=node.name,
                source=node.name,
                z_a=int(a.q_zero_point()),
                z_b=int(b.q_zero_point()),
                a0=a0,
                b0=b0,
                n=n,
                z_out=z_out,
                lo=lo,
                hi=act_qmax(a_bits),
                scale_a=float(a.q_scale()),
                scale_b=float(b.q_scale()),
                scale_out=s_out,
            ),
            a_bits,
        )

    def same_qparams(self, node: fx.Node, xin: torch.Tensor, out: torch.Tensor) -> None:
        if (float(out.q_scale()), int(out.q_zero_point())) != (float(xin.q_scale()), int(xin.q_zero_point())):
            raise UnsupportedLayerError(f"{self.where(node)}: pooling with different input and output qparams")

    def pool(self, node: fx.Node, mod: Any) -> None:
        src, xin = self.qtensor(node, node.args[0], "input")
        out = self.out_q(node)
        self.same_qparams(node, xin, out)
        common = dict(
            inputs=(src,),
            in_shape=tuple(int(d) for d in xin.shape[1:]),
            out_shape=tuple(int(d) for d in out.shape[1:]),
            module=str(node.target),
            source=node.name,
        )
        problem = module_problem(mod)
        if problem:
            raise UnsupportedLayerError(f"{self.where(node)}: {problem}")
        if isinstance(mod, nn.MaxPool2d):
            stride = mod.stride if mod.stride is not None else mod.kernel_size
            layer: Layer = MaxPoolLayer(name=self.new_name("pool"), kernel=_pair(mod.kernel_size), stride=_pair(stride), padding=_pair(mod.padding), **common)  # type: ignore[arg-type]
        elif isinstance(mod, nn.AdaptiveAvgPool2d):
            layer = AvgPoolLayer(name=self.new_name("pool"), kernel=(int(xin.shape[2]), int(xin.shape[3])), stride=(1, 1), global_pool=True, **common)  # type: ignore[arg-type]
        elif isinstance(mod, nn.AvgPool2d):
            stride = mod.stride if mod.stride is not None else mod.kernel_size
            layer = AvgPoolLayer(name=self.new_name("pool"), kernel=_pair(mod.kernel_size), stride=_pair(stride), **common)  # type: ignore[arg-type]
        else:  # pragma: no cover - dispatch guarantees one of the above
            raise UnsupportedLayerError(self.where(node))
        self.add(node, layer, self.a_bits_of[src])  # pooling keeps its input's width

    def flatten(self, node: fx.Node, start_dim: int, end_dim: int) -> None:
        src, xin = self.qtensor(node, node.args[0], "input")
        if start_dim != 1 or end_dim not in (-1, xin.dim() - 1):
            raise UnsupportedLayerError(f"{self.where(node)}: flatten({start_dim}, {end_dim}); only flatten from dim 1 to the end is supported")
        out = self.out_q(node)
        self.add(
            node,
            FlattenLayer(
                name=self.new_name("flatten"),
                inputs=(src,),
                in_shape=tuple(int(d) for d in xin.shape[1:]),
                out_shape=tuple(int(d) for d in out.shape[1:]),
                module=str(node.target) if node.op == "call_module" else node.name,
                source=node.name,
            ),
            self.a_bits_of[src],
        )

    # ---- the walk ----------------------------------------------------------------------------
    def visit(self, node: fx.Node) -> None:
        op, tgt = node.op, node.target
        if op in ("placeholder", "get_attr"):
            return
        if op == "output":  # one tensor, or a tuple / list of them (a detector's heads): each a dequantized layer
            res = node.args[0]
            for out in list(res) if isinstance(res, (tuple, list)) else [res]:
                if not isinstance(out, fx.Node):
                    raise UnsupportedLayerError(f"the model returns {type(res).__name__}s holding a {type(out).__name__}; "
                                                "golden takes a tensor, or a tuple or list of tensors")
                if out.name not in self.dequantized:
                    raise UnsupportedLayerError(f"the model output {out.name} is not a dequantized quantized tensor")
                self.outputs.append(self.dequantized[out.name])
            return
        if op == "call_function" and tgt in (torch.quantize_per_tensor,):
            x, dtype = node.args[0], node.args[3]
            if not (isinstance(x, fx.Node) and x.op == "placeholder"):
                raise UnsupportedLayerError(f"{self.where(node)}: a quantize in the middle of the graph (a float op upstream); only the input may be quantized")
            if dtype != torch.quint8:
                raise QuantSchemeError(f"{self.where(node)}: the network input is quantized to {dtype}, not uint8")
            if self.input_quant is not None:
                raise UnsupportedLayerError(f"{self.where(node)}: the model has more than one input")
            v = self.out_q(node)
            a_in = int(self.bits["input"])
            if not 0 <= int(v.q_zero_point()) <= act_qmax(a_in):
                raise QuantSchemeError(f"{self.where(node)}: the input zero point {int(v.q_zero_point())} is outside its "
                                       f"{a_in}-bit codes 0..{act_qmax(a_in)}")
            self.input_quant = InputQuant(float(v.q_scale()), int(v.q_zero_point()), tuple(int(d) for d in v.shape[1:]),
                                          act_qmax(a_in))
            self.produced[node.name] = INPUT
            return
        if (op == "call_method" and tgt == "dequantize") or (op == "call_function" and tgt is torch.dequantize):
            src, _ = self.qtensor(node, node.args[0], "input")
            self.dequantized[node.name] = src  # an output of the model (anything else reading it is refused)
            return
        if op == "call_module":
            mod = self.gm.get_submodule(str(tgt))
            if isinstance(mod, _CONV_MODULES):
                return self.conv(node, mod)
            if isinstance(mod, _LINEAR_MODULES):
                return self.linear(node, mod)
            if isinstance(mod, _RELU_MODULES):
                return self.fold_relu(node, six=isinstance(mod, (nn.ReLU6, nnq.ReLU6)))
            if isinstance(mod, nn.Hardtanh):  # (nn.ReLU6 is one: matched above)
                return self.fold_clamp(node, float(mod.min_val), float(mod.max_val))
            if isinstance(mod, (nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.AvgPool2d)):
                return self.pool(node, mod)
            if isinstance(mod, nn.Flatten):
                return self.flatten(node, mod.start_dim, mod.end_dim)
            if isinstance(mod, _IDENTITY_MODULES):
                src, _ = self.qtensor(node, node.args[0], "input")
                self.produced[node.name] = src
                return
            if isinstance(mod, nnq.BatchNorm2d):
                raise UnsupportedLayerError(
                    f"module {tgt!r} (BatchNorm2d) is an unfused batch norm; golden/ supports batch norm only folded "
                    "into the Conv2d right before it"
                )
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                raise UnsupportedLayerError(
                    f"module {tgt!r} is a float {type(mod).__name__}: the model is not quantized (run golden.quantize first)"
                )
            raise UnsupportedLayerError(f"module {tgt!r} ({type(mod).__module__}.{type(mod).__name__}) is not supported by golden/")
        if op == "call_function":
            if tgt in _ADD_FUNCS:
                return self.add_op(node)
            if tgt in _CONV_FUNCS:
                return self.conv(node, self.packed(node, conv=True))
            if tgt in _LINEAR_FUNCS:
                return self.linear(node, self.packed(node, conv=False))
            if tgt in _RELU_FUNCS:
                return self.fold_relu(node, six=tgt is torch.nn.functional.relu6)
            if tgt in (torch.nn.functional.hardtanh, torch.clamp):
                return self.fold_clamp(node, *self.clamp_bounds(node))
            if tgt is torch.nn.functional.pad:
                return self.zero_pad(node)
            if tgt is torch.cat:
                return concat(self, node)
            if tgt is torch.nn.functional.interpolate:
                return upsample(self, node)
            if tgt is torch.flatten:
                start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
                end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
                return self.flatten(node, int(start), int(end))  # type: ignore[arg-type]
            name = getattr(tgt, "__name__", str(tgt))
            if tgt in (operator.add, torch.add):
                raise UnsupportedLayerError(f"{self.where(node)}: a float add; the model is not quantized around it")
            raise UnsupportedLayerError(f"function {name} (FX node {node.name}) is not supported by golden/")
        if op == "call_method":
            if tgt in ("relu", "relu_"):
                return self.fold_relu(node, six=False)
            if tgt == "clamp":
                return self.fold_clamp(node, *self.clamp_bounds(node))
            if tgt == "flatten":
                start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
                return self.flatten(node, int(start), -1)  # type: ignore[arg-type]
            if tgt in ("view", "reshape"):
                _, xin = self.qtensor(node, node.args[0], "input")
                out = self.values[node.name]
                if out.dim() == 2 and out.shape[0] == xin.shape[0]:
                    return self.flatten(node, 1, -1)
            raise UnsupportedLayerError(f"method .{tgt}() (FX node {node.name}) is not supported by golden/")
        raise UnsupportedLayerError(f"FX node {node.name} ({op} {tgt}) is not supported by golden/")


def extract(
    quantized_model: torch.nn.Module,
    example_input: torch.Tensor,
    *,
    bias_mode: str = "int16_shift",
    m0_bits: int = 16,
    saturate_policy: str = "warn",
) -> Network:
    """The quantized graph as a Network of layer records (see golden.layers).

    quantized_model: a converted FX GraphModule (golden.quantize's output or the user's own), or a
    Brevitas model (brevitas.nn layers), read by golden.brevitas_import.extract_brevitas (exact=True).
    example_input: a float batch [N, ...] of the model's input; run once to read shapes and qparams.
    bias_mode: int16_shift (default), int16_saturate or int32 (arithmetic.md, "Bias").
    saturate_policy: for int16_saturate, "warn" (count and report) or "error" (raise).
    """
    if bias_mode not in arith.BIAS_MODES:
        raise ValueError(f"bias_mode={bias_mode!r}; choose one of {', '.join(arith.BIAS_MODES)}")
    if saturate_policy not in ("warn", "error"):
        raise ValueError(f"saturate_policy={saturate_policy!r}; choose warn or error")
    if not 1 <= m0_bits <= 31:
        raise RangeError(f"m0_bits={m0_bits} is outside 1..31")
    from golden.brevitas_import import extract_brevitas, is_brevitas_model

    if is_brevitas_model(quantized_model):  # brevitas.nn layers: read from Brevitas' own quantizers
        return extract_brevitas(quantized_model, example_input, bias_mode=bias_mode, m0_bits=m0_bits,
                                saturate_policy=saturate_policy)
    from golden.transformer_plan import is_quantized_transformer

    if is_quantized_transformer(quantized_model):  # golden.quantize's transformer path
        from golden.graph_transformer import extract_transformer

        return extract_transformer(quantized_model, example_input, bias_mode=bias_mode, m0_bits=m0_bits,  # type: ignore[arg-type]
                                   saturate_policy=saturate_policy)
    if not is_converted(quantized_model):
        for name, mod in quantized_model.named_modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)) and not isinstance(mod, (nnq.Conv2d, nnq.Linear)):
                raise UnsupportedLayerError(
                    f"module {name!r} is a float {type(mod).__name__}: the model is not quantized (run golden.quantize first)"
                )
        raise UnsupportedLayerError(
            f"{type(quantized_model).__name__} is not a converted FX GraphModule (quantize it with golden.quantize / convert_fx)"
        )
    if not isinstance(example_input, torch.Tensor) or not example_input.is_floating_point():
        raise InputError("example_input must be a float torch.Tensor batch [N, ...]")
    gm: fx.GraphModule = quantized_model  # type: ignore[assignment]
    for node in gm.graph.nodes:  # before running: PyTorch's own error would not name the tensor
        if node.op == "call_function" and node.target is torch.quantize_per_tensor and node.args[3] != torch.quint8:
            raise QuantSchemeError(
                f"FX node {node.name}: activations are quantized to {node.args[3]}, not uint8 (torch.quint8) as the contract needs"
            )
    values = trace_values(gm, example_input)
    b = _Builder(gm, values, bias_mode=bias_mode, m0_bits=m0_bits, saturate_policy=saturate_policy)
    for node in gm.graph.nodes:
        try:
            with torch_quiet():  # unpacking packed weights creates quantized tensors
                b.visit(node)
        except GoldenError:
            raise
        except Exception as exc:  # an unexpected shape of graph: name where it happened
            raise UnsupportedLayerError(f"{b.where(node)}: {type(exc).__name__}: {exc}") from exc
    if b.input_quant is None:
        raise UnsupportedLayerError("the graph has no quantize_per_tensor on its input")
    if not b.outputs or INPUT in b.outputs:
        raise UnsupportedLayerError("the graph has no integer layer before its dequantize")
    outputs = [(name, float(v.q_scale()), int(v.q_zero_point()))
               for name, v in ((name, values[b.layers[b.index(name)].source]) for name in b.outputs)]
    (output_name, output_scale, output_zero_point), *extra = outputs
    return Network(
        layers=tuple(b.layers),
        input_quant=b.input_quant,
        output_name=output_name,
        output_scale=output_scale,
        output_zero_point=output_zero_point,
        bias_mode=bias_mode,
        m0_bits=m0_bits,
        saturations=dict(b.saturations),
        extra_outputs=tuple(extra),
    )


def layer_oracle(net: Network, values: dict[str, Any]) -> dict[str, tuple[list[np.ndarray], np.ndarray]]:
    """For each layer: (PyTorch's uint8 inputs, PyTorch's uint8 output), from trace_values()."""
    src_of = {l.name: l.source for l in net.layers}
    input_node = next(k for k, v in values.items() if isinstance(v, torch.Tensor) and v.is_quantized)
    src_of[INPUT] = input_node
    res = {}
    for l in net.layers:
        ins = [values[src_of[i]].int_repr().numpy() for i in l.inputs]
        res[l.name] = (ins, values[l.source].int_repr().numpy())
    return res


