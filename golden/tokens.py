"""Records of the token path of a transformer (issue 27): a Linear applied per token, the pure data
movement of token tensors (reshape, permute, select), concatenation along tokens with constant
pieces (the class token) and the add of a constant tensor (the position embedding).

Token tensors are [N, T, C] (tokens x channels, batch first); per-head tensors [N, H, T, D].
These records (and golden.transformer's layernorm, softmax, gelu and matmul) take and give
tensors in PyTorch's own axis order: Network.run hands them logical arrays, never the
channels-last storage it keeps 4-D images in (golden.layers.LOGICAL_KINDS).

Data movement records do no arithmetic: their output codes are their input's, moved (their
qparams are their input's). golden.graph_transformer makes them from the FX graph.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Sequence

import numpy as np
from numpy.typing import NDArray

from golden import arith
from golden.arith import IntArray
from golden.errors import ShapeError
from golden.layers import Layer, LinearLayer, _frozen


@dataclass(frozen=True, kw_only=True)
class TokenLinearLayer(LinearLayer):
    """nn.Linear applied to every token: [..., T, C] -> [..., T, K] (a 1x1 conv on a T-pixel image:
    tokens as pixels). The arithmetic is the fc's (arithmetic.md), per token; the fields are
    LinearLayer's. kind "linear" (an "fc" reads one [C] vector)."""

    kind: ClassVar[str] = "linear"

    @property
    def tokens(self) -> int:
        return int(np.prod(self.in_shape[:-1]))

    @property
    def macs(self) -> int:
        return int(self.weight.size) * self.tokens

    def accumulate(self, x: NDArray[np.uint8], *, channels_last: bool = False, exact_float: bool = False) -> IntArray:
        acc = arith.linear_acc(x.reshape(-1, x.shape[-1]), self.weight, self.bias.term, z_in=self.z_in, exact_float=exact_float)
        return acc.reshape(*x.shape[:-1], acc.shape[-1])

    def forward(self, xs: Sequence[NDArray[np.uint8]], *, channels_last: bool = False) -> NDArray[np.uint8]:
        return self.requantize(self.accumulate(xs[0], exact_float=True))

    def requantize(self, acc: IntArray, *, channels_last: bool = False) -> NDArray[np.uint8]:
        r = self.requant
        flat = acc.reshape(-1, acc.shape[-1])
        y = arith.requantize(np.ascontiguousarray(flat), m0=r.m0, n=r.n, z_out=r.z_out, lo=r.lo, hi=r.hi, channel_axis=-1)
        return y.reshape(acc.shape)


@dataclass(frozen=True, kw_only=True)
class ReshapeLayer(Layer):
    """view / reshape / flatten of the per-sample tensor to out_shape, in PyTorch's (row-major) order."""

    kind: ClassVar[str] = "reshape"

    def __post_init__(self) -> None:
        if int(np.prod(self.in_shape)) != int(np.prod(self.out_shape)):
            raise ShapeError(f"layer {self.name}: reshape of {self.in_shape} to {self.out_shape}")

    def forward(self, xs: Sequence[NDArray[np.uint8]], *, channels_last: bool = False) -> NDArray[np.uint8]:
        return np.ascontiguousarray(xs[0]).reshape(xs[0].shape[0], *self.out_shape)


@dataclass(frozen=True, kw_only=True)
class PermuteLayer(Layer):
    """permute / transpose of the per-sample axes: output axis i is input axis perm[i] (the batch
    axis stays first)."""

    perm: tuple[int, ...] = ()
    kind: ClassVar[str] = "permute"

    def __post_init__(self) -> None:
        object.__setattr__(self, "perm", tuple(int(p) for p in self.perm))
        if sorted(self.perm) != list(range(len(self.in_shape))):
            raise ShapeError(f"layer {self.name}: permutation {self.perm} of a {len(self.in_shape)}-axis tensor")

    def forward(self, xs: Sequence[NDArray[np.uint8]], *, channels_last: bool = False) -> NDArray[np.uint8]:
        return np.ascontiguousarray(xs[0].transpose(0, *(p + 1 for p in self.perm)))


@dataclass(frozen=True, kw_only=True)
class SelectLayer(Layer):
    """One index along one per-sample axis, then a permutation of the remaining axes: x[:, 0] (the
    class token: axis 0, index 0) or one of q, k, v out of a fused qkv projection ([T, 3, H, D],
    axis 1, index i, then perm (1, 0, 2) to [H, T, D])."""

    axis: int = 0
    index: int = 0
    perm: tuple[int, ...] = ()
    kind: ClassVar[str] = "select"

    def __post_init__(self) -> None:
        object.__setattr__(self, "perm", tuple(int(p) for p in self.perm))
        if not 0 <= self.axis < len(self.in_shape) or not 0 <= self.index < self.in_shape[self.axis]:
            raise ShapeError(f"layer {self.name}: index {self.index} of axis {self.axis} of {self.in_shape}")
        if sorted(self.perm) != list(range(len(self.in_shape) - 1)):
            raise ShapeError(f"layer {self.name}: permutation {self.perm} after selecting from {self.in_shape}")

    def forward(self, xs: Sequence[NDArray[np.uint8]], *, channels_last: bool = False) -> NDArray[np.uint8]:
        y = np.take(xs[0], self.index, axis=self.axis + 1)
        return np.ascontiguousarray(y.transpose(0, *(p + 1 for p in self.perm)))


@dataclass(frozen=True, kw_only=True)
class TokenConcatLayer(Layer):
    """Concatenation along a per-sample axis (the tokens) of activations and constants, in the order
    of `pieces`: piece p >= 0 is inputs[p], p < 0 is constants[-1 - p] (uint8 codes already in the
    output's qparams: the class token). An input quantized as the output is copied (m0 0), any other
    requantized to the output's qparams as ConcatLayer's (arithmetic.md)."""

    axis: int = 0
    pieces: tuple[int, ...] = ()
    constants: tuple[NDArray[np.uint8], ...] = field(default=(), repr=False)
    z_ins: tuple[int, ...] = ()
    m0s: tuple[int, ...] = ()  # 0: copied
    ns: tuple[int, ...] = ()
    z_out: int = 0
    lo: int = 0
    hi: int = 255
    scale_ins: tuple[float, ...] = ()
    scale_out: float = 1.0
    kind: ClassVar[str] = "concat_tokens"

    def __post_init__(self) -> None:
        object.__setattr__(self, "constants", tuple(_frozen(c, np.uint8) for c in self.constants))
        for f in ("pieces", "z_ins", "m0s", "ns"):
            object.__setattr__(self, f, tuple(int(v) for v in getattr(self, f)))
        used = sorted(p for p in self.pieces if p >= 0)
        if used != list(range(len(self.inputs))) or sorted(-1 - p for p in self.pieces if p < 0) != list(range(len(self.constants))):
            raise ShapeError(f"layer {self.name}: pieces {self.pieces} for {len(self.inputs)} inputs and {len(self.constants)} constants")
        if not len(self.inputs) == len(self.z_ins) == len(self.m0s) == len(self.ns):
            raise ShapeError(f"layer {self.name}: one zero point and multiplier per input")

    def forward(self, xs: Sequence[NDArray[np.uint8]], *, channels_last: bool = False) -> NDArray[np.uint8]:
        n = xs[0].shape[0]
        parts = []
        for p in self.pieces:
            if p < 0:
                c = self.constants[-1 - p]
                parts.append(np.broadcast_to(c[None], (n, *c.shape)))
            elif self.m0s[p] == 0:
                parts.append(xs[p])
            else:
                parts.append(arith.requantize_codes(xs[p], z_in=self.z_ins[p], m0=self.m0s[p], n=self.ns[p], z_out=self.z_out,
                                                    lo=self.lo, hi=self.hi))
        return np.concatenate(parts, axis=self.axis + 1)


@dataclass(frozen=True, kw_only=True)
class ConstAddLayer(Layer):
    """An activation plus a constant tensor (the position embedding: a learned parameter), the
    residual add's arithmetic (arithmetic.md) with b the constant's codes: uint8, per tensor, its
    own (scale_b, z_b) from its min/max, broadcast over the batch (and over any leading axis of
    size 1): clamp(((A0 (a - z_a) + B0 (c - z_b) + 2^(n-1)) >> n) + z_out, lo, hi)."""

    constant: NDArray[np.uint8] = field(repr=False)
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
    kind: ClassVar[str] = "add_const"

    def __post_init__(self) -> None:
        object.__setattr__(self, "constant", _frozen(self.constant, np.uint8))
        try:
            np.broadcast_shapes(self.constant.shape, self.in_shape)
        except ValueError:
            raise ShapeError(f"layer {self.name}: constant {self.constant.shape} does not broadcast to {self.in_shape}") from None

    def forward(self, xs: Sequence[NDArray[np.uint8]], *, channels_last: bool = False) -> NDArray[np.uint8]:
        b = np.broadcast_to(self.constant[None], xs[0].shape)
        return arith.add_requant(xs[0], b, z_a=self.z_a, z_b=self.z_b, a0=self.a0, b0=self.b0, n=self.n, z_out=self.z_out,
                                 lo=self.lo, hi=self.hi)
