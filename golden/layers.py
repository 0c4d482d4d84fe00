"""Typed, immutable layer records and the Network that evaluates them with golden.arith.

A record holds integers only (plus the calibrated float scales, kept for reports and for
hexgen's headers; no evaluation path reads them).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from golden import arith
from golden.arith import BiasCodes, IntArray
from golden.errors import InputError, ShapeError

Shape = tuple[int, ...]
INPUT = "input"  # name of the network input in Layer.inputs


def _frozen(a: Any, dtype: Any) -> Any:
    arr = np.array(a, dtype=dtype, copy=True)
    arr.setflags(write=False)
    return arr


def _to_nhwc(x: Any) -> Any:
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x


def _to_nchw(x: Any) -> Any:
    return x.transpose(0, 3, 1, 2) if x.ndim == 4 else x


@dataclass(frozen=True)
class Requant:
    """Per-output-channel requantisation fields: y = clamp(((acc*M0 + 2**(n-1)) >> n) + z_out, lo, hi)."""

    m0: IntArray
    n: IntArray
    z_out: int
    lo: int
    hi: int
    m0_bits: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "m0", _frozen(self.m0, np.int64))
        object.__setattr__(self, "n", _frozen(self.n, np.int64))

    def with_bounds(self, lo: int, hi: int) -> "Requant":
        return Requant(self.m0, self.n, self.z_out, lo, hi, self.m0_bits)


@dataclass(frozen=True, kw_only=True)
class Layer:
    """Common fields. `inputs` names the producing layers (or INPUT); `source` is the FX node
    whose PyTorch output this layer reproduces; `module` the user-visible module path."""

    name: str
    inputs: tuple[str, ...]
    in_shape: Shape  # per-sample shape of the (first) input
    out_shape: Shape  # per-sample shape of the output
    module: str
    source: str
    kind: ClassVar[str] = "layer"

    @property
    def macs(self) -> int:
        return 0

    def forward(self, xs: Sequence[NDArray[np.uint8]], *, channels_last: bool = False) -> NDArray[np.uint8]:
        """This layer on uint8 inputs [N, *shape] (NCHW, or NHWC for 4-D tensors with channels_last)."""
        raise NotImplementedError

    def describe(self) -> dict[str, str]:
        return {}

    # Widths (issue 25; docs/golden.md "Narrow widths"). They are set by golden.graph.extract with
    # set_widths and are not dataclass fields: hexgen writes a record's fields as they are
    # (hexgen.target.record_json), and an 8/8 network's records stay byte-identical that way.
    @property
    def a_bits(self) -> int:
        """Width of this layer's output codes: 0..2^a_bits - 1 (pooling and flatten keep their input's)."""
        return int(self.__dict__.get("_a_bits", 8))

    @property
    def w_bits(self) -> int | None:
        """Width of the weight codes, -(2^(w_bits-1) - 1)..2^(w_bits-1) - 1; None for a layer without weights."""
        return None


def set_widths(layer: "Layer", a_bits: int, w_bits: int | None = None) -> "Layer":
    """The layer, its output width a_bits and (conv / fc) weight width w_bits set; returns it."""
    object.__setattr__(layer, "_a_bits", int(a_bits))
    if w_bits is not None:
        object.__setattr__(layer, "_w_bits", int(w_bits))
    return layer


def conv_kind(in_channels: int, groups: int, kernel: Sequence[int]) -> str:
    """What kind of conv a Conv2d is: the one definition (golden's graph, hexgen's plan and
    checker and the synthetic layers use it). depthwise: one input channel per group, more than
    one group (any channel multiplier; the engine runs multiplier 1 only: hexgen.rules);
    pointwise: a 1x1 kernel without groups; conv: everything else (grouped convs included)."""
    if groups == in_channels and groups > 1:
        return "depthwise"
    if groups == 1 and tuple(kernel) == (1, 1):
        return "pointwise"
    return "conv"


@dataclass(frozen=True, kw_only=True)
class ConvLayer(Layer):
    """Conv2d of any KxK, stride, padding and groups. kind: conv, depthwise or pointwise."""

    weight: NDArray[np.int8] = field(repr=False)  # [K, C/groups, KH, KW]
    bias: BiasCodes = field(repr=False)
    requant: Requant = field(repr=False)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)  # (top, left): the rows above and columns left of the image
    groups: int = 1
    z_in: int = 0
    scale_in: float = 1.0
    scale_out: float = 1.0
    weight_scale: NDArray[np.float64] = field(repr=False)
    kind_name: str = "conv"
    # (bottom, right) when they differ from (top, left): TF 'SAME' padding, an nn.ZeroPad2d folded in
    pad_end: tuple[int, int] | None = None
    dilation: tuple[int, int] = (1, 1)  # (y, x): the kernel's taps are this far apart (atrous conv)

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight", _frozen(self.weight, np.int8))
        object.__setattr__(self, "weight_scale", _frozen(self.weight_scale, np.float64))
        if self.weight.ndim != 4:  # kernel, macs and conv_acc index [K, C/groups, KH, KW]
            raise ShapeError(f"layer {self.name}: conv weights have shape {list(self.weight.shape)}; a conv layer's "
                             "weights are 4-D [K, C/groups, KH, KW] (a pointwise conv's [K, C, 1, 1])")
        if len(self.dilation) != 2 or min(self.dilation) < 1:
            raise ShapeError(f"layer {self.name}: dilation {tuple(self.dilation)}; give (y, x), each at least 1")
        # along an axis of one tap the dilation changes nothing: 1 there (a 1x1 conv is never dilated)
        object.__setattr__(self, "dilation", tuple(1 if k == 1 else int(d) for k, d in zip(self.kernel, self.dilation)))

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.kind_name

    @property
    def w_bits(self) -> int | None:
        return int(self.__dict__.get("_w_bits", 8))

    @property
    def kernel(self) -> tuple[int, int]:
        return int(self.weight.shape[2]), int(self.weight.shape[3])

    @property
    def pads(self) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) zero padding (z_in in the integer domain)."""
        top, left = self.padding
        bottom, right = self.pad_end if self.pad_end is not None else self.padding
        return top, bottom, left, right

    @property
    def symmetric(self) -> bool:
        return self.pad_end is None or tuple(self.pad_end) == tuple(self.padding)

    @property
    def macs(self) -> int:
        k, cg, kh, kw = self.weight.shape
        return int(np.prod(self.out_shape)) * cg * kh * kw

    def accumulate(self, x: NDArray[np.uint8], *, channels_last: bool = False, exact_float: bool = False) -> IntArray:
        """int32 accumulators (int64 array; exact float64 with exact_float, see arith.conv_acc)."""
        return arith.conv_acc(
            x, self.weight, self.bias.term, z_in=self.z_in, stride=self.stride, padding=self.pads, groups=self.groups,
            dilation=self.dilation, channels_last=channels_last, exact_float=exact_float,
        )

    def forward(self, xs: Sequence[NDArray[np.uint8]], *, channels_last: bool = False) -> NDArray[np.uint8]:
        acc = self.accumulate(xs[0], channels_last=channels_last, exact_float=True)
        return self.requantize(acc, channels_last=channels_last)

    def requantize(self, acc: IntArray, *, channels_last: bool = False) -> NDArray[np.uint8]:
        r = self.requant
        return arith.requantize(acc, m0=r.m0, n=r.n, z_out=r.z_out, lo=r.lo, hi=r.hi, channel_axis=-1 if channels_last else 1)


@dataclass(frozen=True, kw_only=True)
class LinearLayer(Layer):
    """Fully connected: a 1x1 conv on a 1x1 image."""

    weight: NDArray[np.int8] = field(repr=False)  # [K, C]
    bias: BiasCodes = field(repr=False)
    requant: Requant = field(repr=False)
    z_in: int = 0
    scale_in: float = 1.0
    scale_out: float = 1.0
    weight_scale: NDArray[np.float64] = field(repr=False)
    kind: ClassVar[str] = "fc"

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight", _frozen(self.weight, np.int8))
        object.__setattr__(self, "weight_scale", _frozen(self.weight_scale, np.float64))
        if self.weight.ndim != 2:
            raise ShapeError(f"layer {self.name}: fc weights have shape {list(self.weight.shape)}; an fc layer's "
                             "weights are 2-D [K, C]")

    @property
    def macs(self) -> int:
        return int(self.weight.size)

    @property
    def w_bits(self) -> int | None:
        return int(self.__dict__.get("_w_bits", 8))

    def accumulate(self, x: NDArray[np.uint8], *, channels_last: bool = False, exact_float: bool = False) -> IntArray:
        return arith.linear_acc(x.reshape(x.shape[0], -1), self.weight, self.bias.term, z_in=self.z_in, exact_float=exact_float)

    def forward(self, xs: Sequence[NDArray[np.uint8]], *, channels_last: bool = False) -> NDArray[np.uint8]:
        return self.requantize(self.accumulate(xs[0], exact_float=True))

    def requantize(self, acc: IntArray, *, channels_last: bool = False) -> NDArray[np.uint8]:
        r = self.requant
        return arith.requantize(acc, m0=r.m0, n=r.n, z_out=r.z_out, lo=r.lo, hi=r.hi)


@dataclass(frozen=True, kw_only=True)
class AddLayer(Layer):
    """Residual add of two uint8 tensors with one shared shift n (arithmetic.md)."""

    z_a: int = 0
    z_b: int = 0
    a0: int = 1
    b0: int = 1
    n: int = 1
    z_out: int = 0
    lo: int = 0
    hi: int = 255
    scale_a: float = 1.0
    scale_b: float = 1.0
    scale_out: float = 1.0
    kind: ClassVar[str] = "add"

    def forward(self, xs: Sequence[NDArray[np.uint8]], *, channels_last: bool = False) -> NDArray[np.uint8]:
        return arith.add_requant(
            xs[0], xs[1], z_a=self.z_a, z_b=self.z_b, a0=self.a0, b0=self.b0, n=self.n, z_out=self.z_out, lo=self.lo, hi=self.hi
        )


@dataclass(frozen=True, kw_only=True)
class MaxPoolLayer(Layer):
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    padding: tuple[int, int] = (0, 0)
    kind: ClassVar[str] = "maxpool"

    def forward(self, xs: Sequence[NDArray[np.uint8]], *, channels_last: bool = False) -> NDArray[np.uint8]:
        return arith.max_pool(xs[0], kernel=self.kernel, stride=self.stride, padding=self.padding, channels_last=channels_last)


@dataclass(frozen=True, kw_only=True)
class AvgPoolLayer(Layer):
    """Average pool (kernel/stride) or, with global_pool, global average pool to 1x1."""

    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    global_pool: bool = False
    kind: ClassVar[str] = "avgpool"

    def window_sums(self, xs: Sequence[NDArray[np.uint8]], *, channels_last: bool = False) -> tuple[NDArray[np.int64], int]:
        """(sum of each output's window, elements per window): the exact average is their ratio."""
        if self.global_pool:
            return arith.global_avg_pool_sums(xs[0], channels_last=channels_last)
        return arith.avg_pool_sums(xs[0], kernel=self.kernel, stride=self.stride, channels_last=channels_last)

    def forward(self, xs: Sequence[NDArray[np.uint8]], *, channels_last: bool = False) -> NDArray[np.uint8]:
        return arith.avg_round(*self.window_sums(xs, channels_last=channels_last))


@dataclass(frozen=True, kw_only=True)
class FlattenLayer(Layer):
    """Reshape [C, H, W] -> [C*H*W] in PyTorch's (C, H, W) order."""

    kind: ClassVar[str] = "flatten"

    def forward(self, xs: Sequence[NDArray[np.uint8]], *, channels_last: bool = False) -> NDArray[np.uint8]:
        x = xs[0]
        if channels_last and x.ndim == 4:  # flatten in PyTorch's (C, H, W) order
            x = x.transpose(0, 3, 1, 2)
        return x.reshape(x.shape[0], *self.out_shape)


@dataclass(frozen=True, kw_only=True)
class UpsampleLayer(Layer):
    """Nearest upsampling by whole factors (nn.Upsample / F.interpolate, mode 'nearest'): each code
    repeated scale[0] times down and scale[1] times across. Input and output share their qparams
    (PyTorch's quantized interpolate keeps them), so the codes are copied."""

    scale: tuple[int, int] = (2, 2)
    kind: ClassVar[str] = "upsample"

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", tuple(int(s) for s in self.scale))
        if len(self.scale) != 2 or min(self.scale) < 1:
            raise ShapeError(f"layer {self.name}: upsampling factors {self.scale}; give (y, x), whole numbers >= 1")

    def forward(self, xs: Sequence[NDArray[np.uint8]], *, channels_last: bool = False) -> NDArray[np.uint8]:
        return arith.upsample_nearest(xs[0], scale=self.scale, channels_last=channels_last)


@dataclass(frozen=True, kw_only=True)
class ConcatLayer(Layer):
    """Concatenation along channels of len(inputs) tensors (an input may appear more than once),
    in the order of `inputs`: input i fills output channels offsets[i] .. offsets[i] + channels[i] - 1.
    An input quantized as the output (FX's default: cat's inputs share its observer) is copied,
    m0s[i] = ns[i] = 0; any other is requantized to the output's qparams, clamp(((a - z_ins[i]) *
    m0s[i] + 2^(ns[i]-1)) >> ns[i]) + z_out, lo, hi), M0 * 2^-n = S_in / S_out (arithmetic.md)."""

    channels: tuple[int, ...] = ()
    z_ins: tuple[int, ...] = ()
    m0s: tuple[int, ...] = ()  # 0: copied
    ns: tuple[int, ...] = ()  # 0: copied
    z_out: int = 0
    lo: int = 0
    hi: int = 255
    scale_ins: tuple[float, ...] = ()
    scale_out: float = 1.0
    kind: ClassVar[str] = "concat"

    def __post_init__(self) -> None:
        for f in ("channels", "z_ins", "m0s", "ns"):
            object.__setattr__(self, f, tuple(int(v) for v in getattr(self, f)))
        object.__setattr__(self, "scale_ins", tuple(float(v) for v in self.scale_ins))
        counts = {len(self.inputs), len(self.channels), len(self.z_ins), len(self.m0s), len(self.ns)}
        if len(counts) != 1 or len(self.inputs) < 2:
            raise ShapeError(f"layer {self.name}: a concat of {len(self.inputs)} inputs with {len(self.channels)} channel "
                             f"counts, {len(self.z_ins)} zero points and {len(self.m0s)} multipliers (one each, 2 or more)")
        if any(copy and z != self.z_out for copy, z in zip(self.copies, self.z_ins)):
            raise ShapeError(f"layer {self.name}: a copied input (M0 0) with zero points {list(self.z_ins)}; "
                             f"a copy has the output's, {self.z_out}")
        if sum(self.channels) != int(self.out_shape[0]):
            raise ShapeError(f"layer {self.name}: channels {list(self.channels)} add up to {sum(self.channels)}, "
                             f"the output has {self.out_shape[0]}")

    @property
    def offsets(self) -> tuple[int, ...]:
        """The first output channel of each input."""
        return tuple(int(v) for v in np.cumsum((0, *self.channels[:-1])))

    @property
    def copies(self) -> tuple[bool, ...]:
        """Per input: True when its codes are copied (it has the output's qparams)."""
        return tuple(m0 == 0 for m0 in self.m0s)

    def forward(self, xs: Sequence[NDArray[np.uint8]], *, channels_last: bool = False) -> NDArray[np.uint8]:
        parts = [x if copy else arith.requantize_codes(x, z_in=z, m0=m0, n=n, z_out=self.z_out, lo=self.lo, hi=self.hi)
                 for x, copy, z, m0, n in zip(xs, self.copies, self.z_ins, self.m0s, self.ns)]
        return np.concatenate(parts, axis=-1 if channels_last else 1)


@dataclass(frozen=True)
class InputQuant:
    """Quantization of the network input: codes = clamp(round(x / scale) + zero_point, 0, qmax),
    qmax = 2^a_bits - 1 (255 at 8 bits)."""

    scale: float
    zero_point: int
    shape: Shape  # per-sample
    qmax: int = 255

    @property
    def a_bits(self) -> int:
        return int(self.qmax).bit_length()


#: Kinds whose records read and write tensors in PyTorch's own axis order (token tensors [T, C],
#: per-head [H, T, D], ...): Network.run hands them logical arrays with channels_last=False, never
#: the channels-last storage it keeps 4-D images in (golden.tokens, golden.transformer).
LOGICAL_KINDS = frozenset({"linear", "reshape", "permute", "select", "concat_tokens", "add_const",
                           "layernorm", "softmax", "gelu", "matmul"})


@dataclass
class RunResult:
    """Every layer's uint8 output (and, when asked, the int32 accumulators of conv/fc layers)."""

    outputs: dict[str, NDArray[np.uint8]]
    accumulators: dict[str, IntArray]
    output_name: str

    @property
    def output(self) -> NDArray[np.uint8]:
        return self.outputs[self.output_name]

    def __getitem__(self, name: str) -> NDArray[np.uint8]:
        return self.outputs[name]


@dataclass(frozen=True)
class Network:
    """A quantized network as a topologically ordered tuple of layer records.

    `output_name` is the layer whose codes are the model's output (its first, for a model that
    returns a tuple or list of tensors: a detector's heads); `extra_outputs` the others, in the
    model's order, each (layer name, scale, zero point); `output_names` all of them."""

    layers: tuple[Layer, ...]
    input_quant: InputQuant
    output_name: str
    output_scale: float
    output_zero_point: int
    bias_mode: str
    m0_bits: int
    saturations: Mapping[str, int] = field(default_factory=dict)
    extra_outputs: tuple[tuple[str, float, int], ...] = ()

    def __post_init__(self) -> None:
        names = [l.name for l in self.layers]
        if len(set(names)) != len(names):
            raise ShapeError(f"duplicate layer names in {names}")
        known = {INPUT}
        for l in self.layers:
            for i in l.inputs:
                if i not in known:
                    raise ShapeError(f"layer {l.name}: input {i!r} is not produced before it")
            known.add(l.name)
        for name, _, _ in self.extra_outputs:
            if name not in known:
                raise ShapeError(f"output {name!r} is not a layer of the network")

    @property
    def output_names(self) -> tuple[str, ...]:
        """Every output of the model, in its order (one name for a model returning one tensor)."""
        return (self.output_name, *(name for name, _, _ in self.extra_outputs))

    def output_qparams(self, name: str | None = None) -> tuple[float, int]:
        """(scale, zero point) of an output's codes (the first output's by default)."""
        qparams = {self.output_name: (self.output_scale, self.output_zero_point)}
        qparams.update((n, (s, z)) for n, s, z in self.extra_outputs)
        if (name or self.output_name) not in qparams:
            raise KeyError(f"{name!r} is not an output of the network; its outputs are {', '.join(self.output_names)}")
        return qparams[name or self.output_name]

    # ---- look-up ---------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Layer:
        for l in self.layers:
            if l.name == name:
                return l
        raise KeyError(f"no layer named {name!r}; layers: {', '.join(self.names)}")

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def names(self) -> list[str]:
        return [l.name for l in self.layers]

    def compute_layers(self) -> list[Layer]:
        """The conv and fc layers: what the accelerator runs."""
        return [l for l in self.layers if isinstance(l, (ConvLayer, LinearLayer))]

    # ---- evaluation ------------------------------------------------------------------------
    def quantize_input(self, x: Any) -> NDArray[np.uint8]:
        """Real-valued input batch [N, *shape] (numpy or torch) -> the uint8 codes the first layer reads.

        Uses torch.quantize_per_tensor, the same conversion the PyTorch model's quantize node applies,
        so both sides start from identical codes.
        """
        import torch

        t = torch.as_tensor(np.asarray(x, dtype=np.float32))
        if tuple(t.shape[1:]) != self.input_quant.shape:
            if tuple(t.shape) == self.input_quant.shape:
                t = t.unsqueeze(0)
            else:
                raise InputError(f"input of shape {tuple(t.shape)} does not match the network input [N, {', '.join(map(str, self.input_quant.shape))}]")
        from golden.ptq import torch_quiet

        with torch_quiet():  # the first quantized tensor of a process that unpickled this network
            q = torch.quantize_per_tensor(t, self.input_quant.scale, self.input_quant.zero_point, torch.quint8)
        codes = q.int_repr().numpy()
        qmax = self.input_quant.qmax
        return codes if qmax >= 255 else np.minimum(codes, np.uint8(qmax))

    def check_input(self, x_q: Any) -> NDArray[np.uint8]:
        if not isinstance(x_q, np.ndarray):
            raise InputError(f"network input must be a numpy uint8 array of codes, got {type(x_q).__name__}")
        if x_q.dtype != np.uint8:
            raise InputError(
                f"network input must be uint8 codes (use Network.quantize_input for real values), got dtype {x_q.dtype}"
            )
        shape = self.input_quant.shape
        if x_q.shape == shape:
            x_q = x_q[None]
        if x_q.shape[1:] != shape:
            raise InputError(f"network input has shape {x_q.shape}; expected [N, {', '.join(map(str, shape))}]")
        qmax = self.input_quant.qmax
        if qmax < 255 and x_q.size and int(x_q.max()) > qmax:
            raise InputError(f"network input has code {int(x_q.max())}; its codes are {self.input_quant.a_bits}-bit, "
                             f"0..{qmax} (use Network.quantize_input for real values)")
        return x_q

    def run(self, x_q: NDArray[np.uint8], *, accumulators: bool = False, until: str | None = None) -> RunResult:
        """Integer-only evaluation of every layer. x_q: uint8 codes [N, *input shape]."""
        x_q = self.check_input(x_q)
        # Channels-last inside (no transposes between layers); NCHW views outside. The records of
        # LOGICAL_KINDS (token tensors) take and give PyTorch's axis order: a 4-D tensor is kept
        # in the order its producer gave it (`stored`) and turned only where a reader wants the other.
        outs: dict[str, NDArray[np.uint8]] = {INPUT: _to_nhwc(x_q)}
        nhwc = {INPUT}  # names whose 4-D arrays are stored channels-last
        accs: dict[str, IntArray] = {}
        for l in self.layers:
            logical = l.kind in LOGICAL_KINDS
            xs = [outs[i] if (i in nhwc) != logical else (_to_nchw(outs[i]) if logical else _to_nhwc(outs[i]))
                  for i in l.inputs]
            if accumulators and isinstance(l, (ConvLayer, LinearLayer)):
                acc = l.accumulate(xs[0], channels_last=not logical)
                accs[l.name] = acc if logical else _to_nchw(acc)
                outs[l.name] = l.requantize(acc, channels_last=not logical)
            else:
                outs[l.name] = l.forward(xs, channels_last=not logical)
            if not logical:
                nhwc.add(l.name)
            if l.name == until:
                break
        del outs[INPUT]
        return RunResult({k: _to_nchw(v) if k in nhwc else v for k, v in outs.items()}, accs,
                         self.output_name if until is None else until)

    def run_layer(self, name: str, *inputs: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """One layer on given uint8 inputs (each [N, *shape])."""
        layer = self[name]
        if len(inputs) != len(layer.inputs):
            raise InputError(f"layer {name} takes {len(layer.inputs)} input(s), got {len(inputs)}")
        for x in inputs:
            if not isinstance(x, np.ndarray) or x.dtype != np.uint8:
                raise InputError(f"layer {name}: inputs must be numpy uint8 arrays")
        if inputs[0].shape[1:] != layer.in_shape:
            raise InputError(f"layer {name}: input shape {inputs[0].shape[1:]} != expected {layer.in_shape}")
        return layer.forward(list(inputs))

    def predict(self, x_q: NDArray[np.uint8]) -> NDArray[np.int64]:
        """Top-1 class: argmax of the output codes (the dequantisation is monotonic)."""
        out = self.run(x_q).output
        return out.reshape(out.shape[0], -1).argmax(axis=1)

    def dequantize_output(self, y: NDArray[np.uint8], name: str | None = None) -> NDArray[np.float64]:
        """Output codes as real values; `name` one of output_names (default the first)."""
        scale, zero_point = self.output_qparams(name)
        return ((y.astype(np.int64) - zero_point) * scale).astype(np.float64)

    # ---- reporting ---------------------------------------------------------------------------
    def table(self) -> str:
        from golden.report import layer_table

        return layer_table(self)
