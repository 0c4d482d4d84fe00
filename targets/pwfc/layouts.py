"""pwfc's memory layout as hexgen Layouts: segments(net, layer) -> {segment name: TargetSegment},
or a one-line reason when pwfc cannot run the layer (the framework marks it UNSUPP).

32-bit little-endian words, every row word-aligned, pad 0:
  acts  input     channel-last [n][y][x][c] uint8, 4 channels a word (fc: [n][c])
  wgt   weights   row-major [K][C] int8, 4 a word
  bias  bias      int32 term (mantissa << shift), one a word
  rq    scale     {n in bits [7:0] of word 0, M0 in word 1}, one 64-bit record a channel
  out   output    channel-last [n][y][x][k] uint8, 4 a word (what pwfc writes)
  exp   expected  golden's output in the output's layout (for the image check; pwfc never reads it)
"""
from __future__ import annotations

from math import prod
from typing import Any

from golden.layers import ConvLayer, LinearLayer
from hexgen import Field, Layout, TargetSegment

WORD_BITS = 32
MAX_C = 256  # pwfc_top's default (the CAPS register says what a build holds)
RQ_FIELDS = (Field("n", 0, 8, False, 1, 63), Field("m0", 32, 32, False, 0, 2**31 - 1))


def _chlast(shape: tuple[int, ...], images: int) -> Layout:
    """Channel-last [n][y][x][c] (fc [n][c]) of golden's [n, c, (y, x)], 4 channels a word."""
    dims = ("n", "c", "y", "x")[: len(shape) + 1]
    return Layout(dims, (images, *shape), (("c", 4),), ("n", *dims[2:], "c_tile", "c_lane"), 8, False, 0, WORD_BITS)


def unsupported(layer: Any, images: int = 1, max_c: int = MAX_C) -> str | None:
    """Why pwfc cannot run `layer` (one line), or None."""
    if not isinstance(layer, (ConvLayer, LinearLayer)):
        return f"a {layer.kind} layer: pwfc runs pointwise convs and fc layers only"
    if isinstance(layer, ConvLayer) and (layer.kind != "pointwise" or layer.stride != (1, 1) or any(layer.pads)):
        return (f"a {layer.kind} conv ({'x'.join(map(str, layer.kernel))}, stride {layer.stride}, pads {layer.pads}, "
                f"groups {layer.groups}): pwfc runs 1x1 convs of stride 1, no padding, groups 1")
    k, c = layer.weight.shape[:2]
    pixels = images * prod(layer.out_shape[1:])
    if c > max_c:
        return f"C={c} input channels: pwfc's weight buffer holds {max_c}"
    if k >= 2**16 or pixels >= 2**24:
        return f"K={k} or {pixels} pixels: pwfc's K and HW registers are 16 and 24 bits"
    return None


def segments(net: Any, layer: str, images: int = 1) -> dict[str, TargetSegment] | str:
    """The layer's segments in pwfc's layout (for hexgen.build_target_image), or why not."""
    l = net[layer]
    why = unsupported(l, images)
    if why:
        return why
    k, c = l.weight.shape[:2]
    out = _chlast(l.out_shape, images)
    return {
        "acts": TargetSegment("input", _chlast(l.in_shape, images)),
        "wgt": TargetSegment("weights", Layout(("k", "c"), (k, c), (("c", 4),), ("k", "c_tile", "c_lane"), 8, True, 0,
                                               WORD_BITS)),
        "bias": TargetSegment("bias", Layout(("k",), (k,), (), ("k",), 32, True, 0, WORD_BITS)),
        "rq": TargetSegment("scale", Layout(("k",), (k,), (), ("k",), 64, False, 0, WORD_BITS, RQ_FIELDS)),
        "out": TargetSegment("output", out),
        "exp": TargetSegment("expected", out),
    }
