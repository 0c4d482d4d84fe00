"""Layer records of a transformer's operations (issue 27; docs/arithmetic.md, "Transformers").

Same style as golden.layers' ConcatLayer and AddLayer: frozen, keyword-only records of integer
fields and read-only integer arrays, plus the float scales kept for reports (no evaluation path
reads them). Each record's `from_float` computes every integer constant once from the calibrated
scales (as M0 and n are for a conv); `forward` runs golden.tf_arith on uint8 codes [N, *shape].

Token tensors are [N, T, C] (tokens x channels) or, inside attention, [N, heads, T, D]; they are
never images, so `channels_last` does not change their layout: the last axis is always the one a
LayerNorm or softmax reduces over.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import numpy as np
from numpy.typing import NDArray

from golden import arith, tf_arith
from golden.arith import IntArray
from golden.errors import RangeError, ShapeError
from golden.layers import Layer, Shape, _frozen
from golden.tf_arith import requant_multiplier

__all__ = ["LayerNormLayer", "SoftmaxLayer", "GeluLayer", "MatmulLayer", "requant_multiplier"]


def _check_zero_point(z: int, what: str, where: str) -> int:
    if not 0 <= int(z) <= 255:
        raise RangeError(f"layer {where}: {what} zero point {z} is outside 0..255")
    return int(z)


def _check_scale(s: float, what: str, where: str) -> float:
    if not (float(s) > 0 and np.isfinite(s)):
        raise RangeError(f"layer {where}: {what} scale {s!r} is not a positive finite number")
    return float(s)


@dataclass(frozen=True, kw_only=True)
class LayerNormLayer(Layer):
    """LayerNorm over the last axis (C channels) of a token tensor [T, C] (any leading shape):
        x = C*q - sum(q);  V = (sum x^2 << 2P) + eps_term;  r = isqrt(V) (24 iterations)
        Rr = (2^48 - 1) // max(r, 1);  t = (x*Rr + 2^(s-1)) >> s, s = 24 - P
        y = clamp(((t*gain[c] + bias[c] + 2^(shift[c]-1)) >> shift[c]) + z_out, lo, hi)
    gain[c] * 2^-shift[c] = gamma[c] * sqrt(C) / (S_out * 2^24); bias[c] = beta[c] / S_out * 2^shift[c]."""

    z_in: int = 0
    sqrt_shift: int = 0  # P: the radicand is 4^P * sum(x^2) + eps_term, below 2^48
    eps_term: int = 0  # round_half_even(4^P * C^3 * eps / S_in^2)
    gain: IntArray = field(repr=False)  # [C] signed, |gain| < 2^m0_bits
    shift: IntArray = field(repr=False)  # [C] in 1..48
    bias: IntArray = field(repr=False)  # [C] signed, |bias| < 2^57
    z_out: int = 0
    lo: int = 0
    hi: int = 255
    m0_bits: int = 31
    scale_in: float = 1.0
    scale_out: float = 1.0
    eps: float = 1e-5
    kind: ClassVar[str] = "layernorm"

    def __post_init__(self) -> None:
        for f in ("gain", "shift", "bias"):
            object.__setattr__(self, f, _frozen(getattr(self, f), np.int64))
        c = self.channels
        if any(getattr(self, f).shape != (c,) for f in ("gain", "shift", "bias")):
            raise ShapeError(f"layer {self.name}: LayerNorm over C={c} channels needs gain, shift and bias of {c} values "
                             f"(got {self.gain.shape}, {self.shift.shape}, {self.bias.shape})")
        if tuple(self.out_shape) != tuple(self.in_shape):
            raise ShapeError(f"layer {self.name}: LayerNorm keeps its shape; in {self.in_shape}, out {self.out_shape}")
        if not 0 <= self.sqrt_shift <= tf_arith.LN_SQRT_ITERS or self.eps_term < 0:
            raise RangeError(f"layer {self.name}: sqrt_shift {self.sqrt_shift} or eps_term {self.eps_term} out of range")
        if (tf_arith.layernorm_max_sumsq(c) << (2 * self.sqrt_shift)) + self.eps_term >= 1 << (2 * tf_arith.LN_SQRT_ITERS):
            raise RangeError(f"layer {self.name}: the LayerNorm radicand can reach 2^{2 * tf_arith.LN_SQRT_ITERS}")
        if c and (self.shift.min() < 1 or self.shift.max() > tf_arith.LN_MAX_SHIFT
                  or np.abs(self.gain).max() >= 1 << self.m0_bits or np.abs(self.bias).max() >= 1 << 57):
            raise RangeError(f"layer {self.name}: LayerNorm gain, shift or bias outside their widths")

    @property
    def channels(self) -> int:
        return int(self.in_shape[-1]) if self.in_shape else 0

    @classmethod
    def from_float(cls, *, name: str, inputs: Sequence[str], in_shape: Shape, module: str, source: str, scale_in: float,
                   z_in: int, gamma: Any, beta: Any, eps: float, scale_out: float, z_out: int,
                   m0_bits: int = 31) -> "LayerNormLayer":
        shape = tuple(int(s) for s in in_shape)
        if len(shape) < 1:
            raise ShapeError(f"layer {name}: LayerNorm input shape {shape}: give [T, C] (C last)")
        s_in, s_out = _check_scale(scale_in, "input", name), _check_scale(scale_out, "output", name)
        p = tf_arith.layernorm_params(c=shape[-1], scale_in=s_in, gamma=gamma, beta=beta, eps=float(eps), scale_out=s_out,
                                      z_out=z_out, m0_bits=m0_bits, where=f"layer {name}")
        return cls(name=name, inputs=tuple(inputs), in_shape=shape, out_shape=shape, module=module, source=source,
                   z_in=_check_zero_point(z_in, "input", name), sqrt_shift=p["sqrt_shift"], eps_term=p["eps_term"],
                   gain=p["gain"], shift=p["shift"], bias=p["bias"], z_out=_check_zero_point(z_out, "output", name),
                   m0_bits=m0_bits, scale_in=s_in, scale_out=s_out, eps=float(eps))

    def forward(self, xs: Sequence[NDArray[np.uint8]], *, channels_last: bool = False) -> NDArray[np.uint8]:
        x = xs[0]
        if x.shape[-1] != self.channels:
            raise ShapeError(f"layer {self.name}: input {list(x.shape)} does not end in C={self.channels}")
        return tf_arith.layernorm(x, sqrt_shift=self.sqrt_shift, eps_term=self.eps_term, gain=self.gain, shift=self.shift,
                                  bias=self.bias, z_out=self.z_out, lo=self.lo, hi=self.hi)

    def describe(self) -> dict[str, str]:
        return {"C": str(self.channels), "sqrt": f"{tf_arith.LN_SQRT_ITERS} iterations, radicand << {2 * self.sqrt_shift}",
                "eps_term": str(self.eps_term), "shift": f"{int(self.shift.min())}..{int(self.shift.max())}"}


@dataclass(frozen=True, kw_only=True)
class SoftmaxLayer(Layer):
    """softmax over the last axis, any leading shape ([heads, T, T] in attention):
        d = max(q) - q;  e = exp_table[d] (21-bit, exp_table[0] = 2^20);  S = sum(e)
        R = dividend // S (one division per row);  y = clamp(((e*R + 2^(shift-1)) >> shift) + z_out, lo, hi)
    dividend * 2^-shift = 1 / S_out, 2^51 <= dividend < 2^52; z_in cancels in the max subtraction (kept
    for reports); m0_bits is not used (the dividend has its own 52 bits)."""

    z_in: int = 0
    exp_table: IntArray = field(repr=False)  # [256], 0..2^20
    dividend: int = 1
    shift: int = 1
    z_out: int = 0
    lo: int = 0
    hi: int = 255
    m0_bits: int = 31
    scale_in: float = 1.0
    scale_out: float = 1.0
    kind: ClassVar[str] = "softmax"

    def __post_init__(self) -> None:
        object.__setattr__(self, "exp_table", _frozen(self.exp_table, np.int64))
        t = self.exp_table
        if t.shape != (256,) or int(t[0]) != 1 << tf_arith.SM_EXP_BITS or t.min() < 0 or np.any(np.diff(t) > 0):
            raise RangeError(f"layer {self.name}: the exp table must hold 256 non-increasing entries from 2^20 down to >= 0")
        if not (1 <= self.shift <= arith.MAX_SHIFT and 1 << (tf_arith.SM_DIV_BITS - 1) <= self.dividend < 1 << tf_arith.SM_DIV_BITS):
            raise RangeError(f"layer {self.name}: softmax dividend {self.dividend} or shift {self.shift} out of range")
        if tuple(self.out_shape) != tuple(self.in_shape) or not self.in_shape:
            raise ShapeError(f"layer {self.name}: softmax keeps its shape; in {self.in_shape}, out {self.out_shape}")
        if self.in_shape[-1] > tf_arith.SM_MAX_ROW:
            raise ShapeError(f"layer {self.name}: softmax rows of {self.in_shape[-1]} elements; at most {tf_arith.SM_MAX_ROW}")

    @classmethod
    def from_float(cls, *, name: str, inputs: Sequence[str], in_shape: Shape, module: str, source: str, scale_in: float,
                   z_in: int, scale_out: float, z_out: int, m0_bits: int = 31) -> "SoftmaxLayer":
        shape = tuple(int(s) for s in in_shape)
        s_in, s_out = _check_scale(scale_in, "input", name), _check_scale(scale_out, "output", name)
        p = tf_arith.softmax_params(scale_in=s_in, scale_out=s_out, where=f"layer {name}")
        return cls(name=name, inputs=tuple(inputs), in_shape=shape, out_shape=shape, module=module, source=source,
                   z_in=_check_zero_point(z_in, "input", name), exp_table=p["exp_table"], dividend=p["dividend"],
                   shift=p["shift"], z_out=_check_zero_point(z_out, "output", name), m0_bits=m0_bits, scale_in=s_in,
                   scale_out=s_out)

    def forward(self, xs: Sequence[NDArray[np.uint8]], *, channels_last: bool = False) -> NDArray[np.uint8]:
        return tf_arith.softmax(xs[0], exp_table=self.exp_table, dividend=self.dividend, shift=self.shift,
                                z_out=self.z_out, lo=self.lo, hi=self.hi)

    def describe(self) -> dict[str, str]:
        zeros = int(np.count_nonzero(self.exp_table == 0))
        return {"row": str(self.in_shape[-1]), "exp": f"256 x 21-bit table ({zeros} zero entries)",
                "reciprocal": f"{self.dividend} // sum, >> {self.shift}"}


@dataclass(frozen=True, kw_only=True)
class GeluLayer(Layer):
    """GELU, elementwise, any shape: y = table[q], the 256 output codes
    clamp(z_out + round_half_even(GELU((q - z_in) * S_in) / S_out), lo, hi) computed at extraction."""

    z_in: int = 0
    table: NDArray[np.uint8] = field(repr=False)  # [256]
    z_out: int = 0
    lo: int = 0
    hi: int = 255
    scale_in: float = 1.0
    scale_out: float = 1.0
    kind: ClassVar[str] = "gelu"

    def __post_init__(self) -> None:
        object.__setattr__(self, "table", _frozen(self.table, np.uint8))
        if self.table.shape != (256,):
            raise ShapeError(f"layer {self.name}: a GELU table has 256 entries, not {self.table.shape}")
        if tuple(self.out_shape) != tuple(self.in_shape):
            raise ShapeError(f"layer {self.name}: GELU keeps its shape; in {self.in_shape}, out {self.out_shape}")

    @classmethod
    def from_float(cls, *, name: str, inputs: Sequence[str], in_shape: Shape, module: str, source: str, scale_in: float,
                   z_in: int, scale_out: float, z_out: int, m0_bits: int = 31) -> "GeluLayer":
        shape = tuple(int(s) for s in in_shape)
        s_in, s_out = _check_scale(scale_in, "input", name), _check_scale(scale_out, "output", name)
        z_i, z_o = _check_zero_point(z_in, "input", name), _check_zero_point(z_out, "output", name)
        table = tf_arith.gelu_table(scale_in=s_in, z_in=z_i, scale_out=s_out, z_out=z_o)
        return cls(name=name, inputs=tuple(inputs), in_shape=shape, out_shape=shape, module=module, source=source,
                   z_in=z_i, table=table, z_out=z_o, scale_in=s_in, scale_out=s_out)

    def forward(self, xs: Sequence[NDArray[np.uint8]], *, channels_last: bool = False) -> NDArray[np.uint8]:
        return tf_arith.lookup(xs[0], self.table)

    def describe(self) -> dict[str, str]:
        return {"table": "256 x 8-bit output codes", "codes": f"{int(self.table.min())}..{int(self.table.max())}"}


@dataclass(frozen=True, kw_only=True)
class MatmulLayer(Layer):
    """Product of two activations, a [..., M, K] and b [..., K, N] (b [..., N, K] with transpose_b:
    Q K^T), leading axes broadcast (heads):
        acc = sum_k (a - z_a) * (b - 128);  y = requantize(acc; m0, n, z_out, lo, hi)
    b is symmetric (zero point exactly 128), so b - 128 is an int8 and goes where a conv's weights
    go; m0 * 2^-n = S_a * S_b * out_scale_factor / S_out (out_scale_factor: attention's head_dim^-0.5)."""

    in_shape_b: Shape = ()
    z_a: int = 0
    z_b: int = tf_arith.MATMUL_Z_B
    transpose_b: bool = False
    m0: int = 1
    n: int = 1
    z_out: int = 0
    lo: int = 0
    hi: int = 255
    m0_bits: int = 31
    scale_a: float = 1.0
    scale_b: float = 1.0
    scale_out: float = 1.0
    out_scale_factor: float = 1.0
    kind: ClassVar[str] = "matmul"

    def __post_init__(self) -> None:
        object.__setattr__(self, "in_shape_b", tuple(int(s) for s in self.in_shape_b))
        if len(self.inputs) != 2:
            raise ShapeError(f"layer {self.name}: a matmul takes two inputs (a, b), got {list(self.inputs)}")
        if self.z_b != tf_arith.MATMUL_Z_B:
            raise RangeError(f"layer {self.name}: the matmul's b operand has zero point {self.z_b}; it must be symmetric, "
                             f"zero point {tf_arith.MATMUL_Z_B} (its codes minus 128 are the int8 the engine multiplies)")
        if tuple(self.out_shape) != self.expected_out_shape():
            raise ShapeError(f"layer {self.name}: matmul output {self.out_shape}; a {self.in_shape} x b {self.in_shape_b}"
                             f"{' transposed' if self.transpose_b else ''} gives {self.expected_out_shape()}")
        if not (1 <= self.n <= arith.MAX_SHIFT and 0 < self.m0 < 1 << self.m0_bits):
            raise RangeError(f"layer {self.name}: matmul M0 {self.m0} or n {self.n} out of range")

    def expected_out_shape(self) -> Shape:
        """[..., M, N]: the broadcast leading axes, a's rows, b's columns (checked against K)."""
        return _matmul_out_shape(self.name, tuple(self.in_shape), tuple(self.in_shape_b), self.transpose_b)

    @property
    def inner(self) -> int:
        return int(self.in_shape[-1])

    @property
    def macs(self) -> int:
        return int(np.prod(self.out_shape)) * self.inner

    @classmethod
    def from_float(cls, *, name: str, inputs: Sequence[str], in_shape: Shape, in_shape_b: Shape, module: str, source: str,
                   scale_a: float, z_a: int, scale_b: float, z_b: int, transpose_b: bool, scale_out: float, z_out: int,
                   m0_bits: int = 31, out_scale_factor: float = 1.0) -> "MatmulLayer":
        s_a, s_b = _check_scale(scale_a, "a", name), _check_scale(scale_b, "b", name)
        s_out, f = _check_scale(scale_out, "output", name), _check_scale(out_scale_factor, "out_scale_factor", name)
        if int(z_b) != tf_arith.MATMUL_Z_B:
            raise RangeError(f"layer {name}: the matmul's b operand has zero point {z_b}; it must be symmetric, "
                             f"zero point {tf_arith.MATMUL_Z_B} (quantize it with a symmetric observer)")
        m0, n = requant_multiplier(s_a * s_b * f / s_out, m0_bits, f"layer {name}")
        a, b = tuple(int(s) for s in in_shape), tuple(int(s) for s in in_shape_b)
        out = _matmul_out_shape(name, a, b, bool(transpose_b))
        return cls(name=name, inputs=tuple(inputs), in_shape=a, out_shape=out, module=module, source=source, in_shape_b=b,
                   z_a=_check_zero_point(z_a, "a", name), z_b=int(z_b), transpose_b=bool(transpose_b), m0=m0, n=n,
                   z_out=_check_zero_point(z_out, "output", name), m0_bits=m0_bits, scale_a=s_a, scale_b=s_b,
                   scale_out=s_out, out_scale_factor=f)

    def accumulate(self, a: NDArray[np.uint8], b: NDArray[np.uint8]) -> IntArray:
        """The int32 accumulators (int64 array) before requantization."""
        acc = tf_arith.matmul_acc(a, b, z_a=self.z_a, transpose_b=self.transpose_b)
        arith.check_int32(acc, f"layer {self.name}: matmul accumulator")
        return acc

    def forward(self, xs: Sequence[NDArray[np.uint8]], *, channels_last: bool = False) -> NDArray[np.uint8]:
        if len(xs) != 2:
            raise ShapeError(f"layer {self.name}: a matmul takes two inputs, got {len(xs)}")
        acc = self.accumulate(xs[0], xs[1])
        return arith.requantize(acc, m0=np.array([self.m0], np.int64), n=np.array([self.n], np.int64), z_out=self.z_out,
                                lo=self.lo, hi=self.hi, channel_axis=-1)

    def describe(self) -> dict[str, str]:
        return {"K": str(self.inner), "b": "transposed" if self.transpose_b else "as is",
                "M0, n": f"{self.m0}, {self.n}"}


def _matmul_out_shape(name: str, a: Shape, b: Shape, transpose_b: bool) -> Shape:
    if len(a) < 2 or len(b) < 2:
        raise ShapeError(f"layer {name}: matmul operands {list(a)} and {list(b)} need at least 2 axes each")
    bk, bn = (b[-1], b[-2]) if transpose_b else (b[-2], b[-1])
    if a[-1] != bk:
        raise ShapeError(f"layer {name}: matmul a {list(a)} and b {list(b)}{' (transposed)' if transpose_b else ''}: "
                         f"inner dimensions {a[-1]} and {bk} differ")
    try:
        lead = tuple(int(v) for v in np.broadcast_shapes(a[:-2], b[:-2]))
    except ValueError as e:
        raise ShapeError(f"layer {name}: matmul leading axes {list(a[:-2])} and {list(b[:-2])} do not broadcast") from e
    if a[-1] * tf_arith.MATMUL_MAX_TERM > arith.INT32_MAX:
        raise RangeError(f"layer {name}: matmul over K={a[-1]} can leave int32 (K * 255 * 128 >= 2^31)")
    return (*lead, a[-2], bn)
