"""Small synthetic conv/fc layers and networks with valid contract fields, for the worked example
in docs/memory-map.md and for hexgen's property tests. Pure: every value comes from `rng`."""
from __future__ import annotations

from typing import TypeVar

import numpy as np

from golden.arith import BiasCodes, conv_out_size
from golden.layers import INPUT, ConvLayer, FlattenLayer, InputQuant, Layer, LinearLayer, Network, Requant, conv_kind, set_widths


L = TypeVar("L", bound=Layer)


def _requant(rng: np.random.Generator, k: int, z_out: int, m0_bits: int = 16) -> Requant:
    m0 = rng.integers(1 << (m0_bits - 1), 1 << m0_bits, k) if m0_bits > 1 else np.ones(k, np.int64)
    n = rng.integers(18, 26, k)
    return Requant(m0, n, z_out, 0, 255, m0_bits)


def _bias(rng: np.random.Generator, k: int, *, mode: str = "int16_shift", max_shift: int = 4) -> BiasCodes:
    if mode == "int32":
        return BiasCodes(mode, rng.integers(-(1 << 20), 1 << 20, k), np.zeros(k, np.int64), 0)
    shift = rng.integers(0, max_shift + 1, k) if mode == "int16_shift" else np.zeros(k, np.int64)
    return BiasCodes(mode, rng.integers(-(1 << 15), 1 << 15, k), shift, 0)


def conv_layer(
    rng: np.random.Generator,
    *,
    name: str = "conv1",
    inputs: tuple[str, ...] = (INPUT,),
    c: int,
    k: int,
    hw: tuple[int, int],
    kernel: tuple[int, int] = (3, 3),
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (1, 1),
    pad_end: tuple[int, int] | None = None,
    depthwise: bool = False,
    z_in: int | None = None,
    z_out: int | None = None,
    bias_mode: str = "int16_shift",
    w_bits: int = 8,
    dilation: tuple[int, int] = (1, 1),
) -> ConvLayer:
    """A conv (or depthwise conv, k = c) with random weights of w_bits bits (±(2^(w_bits-1) - 1)),
    bias and requant fields; padding (top, left), pad_end (bottom, right) if they differ; taps
    `dilation` apart."""
    groups = c if depthwise else 1
    if depthwise and k != c:
        raise ValueError("a depthwise layer has k == c")
    cg = c // groups
    kh, kw = kernel
    bottom, right = pad_end if pad_end is not None else padding
    ho = conv_out_size(hw[0], padding[0], bottom, kh, stride[0], dilation[0])
    wo = conv_out_size(hw[1], padding[1], right, kw, stride[1], dilation[1])
    z_in = int(rng.integers(0, 256)) if z_in is None else z_in
    z_out = int(rng.integers(0, 256)) if z_out is None else z_out
    kind = conv_kind(c, groups, kernel)  # a 1-channel "depthwise" conv is a plain conv
    q = (1 << (w_bits - 1)) - 1
    return _narrow(ConvLayer(
        name=name,
        inputs=inputs,
        in_shape=(c, *hw),
        out_shape=(k, ho, wo),
        module=name,
        source=name,
        weight=rng.integers(-q, q + 1, (k, cg, kh, kw)).astype(np.int8),
        bias=_bias(rng, k, mode=bias_mode),
        requant=_requant(rng, k, z_out),
        stride=stride,
        padding=padding,
        pad_end=pad_end,
        groups=groups,
        z_in=z_in,
        weight_scale=np.ones(k),
        kind_name=kind,
        dilation=dilation,
    ), w_bits)


def _narrow(layer: L, w_bits: int) -> L:
    """The layer with its weight width set (golden.layers.set_widths) when it is not 8."""
    if w_bits != 8:
        set_widths(layer, 8, w_bits)
    return layer


def fc_layer(
    rng: np.random.Generator, *, name: str = "fc1", inputs: tuple[str, ...] = (INPUT,), c: int, k: int,
    z_in: int | None = None, z_out: int | None = None, bias_mode: str = "int16_shift", w_bits: int = 8,
) -> LinearLayer:
    q = (1 << (w_bits - 1)) - 1
    z_in = int(rng.integers(0, 256)) if z_in is None else z_in
    z_out = int(rng.integers(0, 256)) if z_out is None else z_out
    return _narrow(LinearLayer(
        name=name,
        inputs=inputs,
        in_shape=(c,),
        out_shape=(k,),
        module=name,
        source=name,
        weight=rng.integers(-q, q + 1, (k, c)).astype(np.int8),
        bias=_bias(rng, k, mode=bias_mode),
        requant=_requant(rng, k, z_out),
        z_in=z_in,
        weight_scale=np.ones(k),
    ), w_bits)


def flatten_layer(*, name: str = "flatten1", src: str, in_shape: tuple[int, ...]) -> FlattenLayer:
    """[C, H, W] -> [C*H*W], so an fc layer can follow a conv."""
    n = 1
    for d in in_shape:
        n *= int(d)
    return FlattenLayer(name=name, inputs=(src,), in_shape=tuple(in_shape), out_shape=(n,), module=name, source=name)


def network(layers: list[Layer], input_shape: tuple[int, ...], *, z_in: int = 0) -> Network:
    """A Network of the given layers (each reading the previous one, the first the input)."""
    last = layers[-1]
    z_out = last.requant.z_out if isinstance(last, (ConvLayer, LinearLayer)) else 0
    return Network(
        layers=tuple(layers),
        input_quant=InputQuant(1.0 / 255, z_in, input_shape),
        output_name=last.name,
        output_scale=1.0,
        output_zero_point=int(z_out),
        bias_mode="int16_shift",
        m0_bits=16,
    )
