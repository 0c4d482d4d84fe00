"""Per layer: the layouts of its segments, the engine's loop order, and the buffer-fit check.

The mapping (output-stationary; rows = output channels, columns = output pixels), for a
HardwareConfig with R = array_rows, P = array_cols:

* activations (input, expected output, output region): [n][c_tile][y][x][c_lane], channel tile R.
  A vector is the R channels of one pixel. FC activations are [n][c_tile][c_lane] (a 1x1 image).
* conv / pointwise / grouped conv weights [K, C/groups, KH, KW]:
  [k_tile][c_tile][ky][kx][c_lane][k_lane] - a vector is one weight column: the R output channels'
  weights for one (c, ky, kx), broadcast along the rows in one cycle.
* depthwise weights [K, 1, KH, KW]: [k_tile][c][ky][kx][k_lane] (c has size 1): row r of the tile
  holds channel k_tile*R + r, and reads its own channel's activation, which is lane r of the same
  activation vector, so the activation vector of one pixel feeds every row at once.
* fc weights [K, C]: [k_tile][c_tile][c_lane][k_lane] (the conv layout with KH = KW = 1).
* weights are stored at the narrowest width the hardware description's weight_bits accepts that
  holds their codes (descriptor `weight_bits`, register W_BITS): 8 bits one per byte as above; 4 and
  2 bits with the same order, the vectors back to back (8 / W_BITS to a word) and each k_tile's block
  padded to whole words, so a k_tile's weights start a word of their own.
* bias and scale: one 64-bit record per output channel, [k_tile][k_lane] (hexgen.layout.BIAS_FIELDS,
  SCALE_FIELDS).

A transformer's layers (linear, matmul, softmax, gelu, layernorm, add_const, the add of token
tensors) are laid out by hexgen.tokens (the linear, matmul, adds and GELU planned here as the
engine's, softmax and LayerNorm by hexgen.tokens as the row unit's): token tensors as one-column images, a matmul's b operand as
per-head fc weights (docs/memory-map.md, "Transformer layers").

Padding: weights 0; input activations z_in; expected output z_out; bias records 0; scale records
M0 = 0, n = 1 (a padded channel then requantises to exactly z_out); the output region is pre-filled
with the bitwise complement of the expected output, so an element the accelerator never writes
cannot match.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from golden.layers import AddLayer, AvgPoolLayer, ConcatLayer, ConvLayer, Layer, LinearLayer, MaxPoolLayer, UpsampleLayer
from golden.tokens import ConstAddLayer, TokenLinearLayer
from golden.transformer import GeluLayer, LayerNormLayer, MatmulLayer, SoftmaxLayer
from hexgen.config import HardwareConfig
from hexgen.rules import (KIND_CODES, PACKED_WEIGHT_BITS, Pass, descriptor_registers, engine_refusal, engine_shapes, passes, plan_tiling,
                          register_needs, weight_bits_refusal)
from hexgen.errors import FitError, LayoutError
from hexgen.layout import BIAS_FIELDS, RECORD_BITS, SCALE_FIELDS, Layout, encode_records

#: Segments of a conv/fc layer, in DRAM order. `output` is the region the accelerator writes.
SEGMENTS = ("weights", "bias", "scale", "input", "expected", "output")
#: Segments of the vector unit's layers (residual add: its second input is `input2`).
VECTOR_SEGMENTS = {"add": ("input", "input2", "expected", "output"), "maxpool": ("input", "expected", "output"),
                   "avgpool": ("input", "expected", "output"), "upsample": ("input", "expected", "output"),
                   # the inputs a concat's runs put in place (hexgen.concat)
                   "concat": ("input", "expected", "output")}
#: Segments that are the layer's data; `output` is derived from `expected`.
DATA_SEGMENTS = ("weights", "bias", "scale", "input", "expected")
#: What each segment holds, for headers and docs.
SEGMENT_TEXT = {
    "weights": "signed weights (int8; int4, int2 packed)",
    "bias": "bias records {shift[35:32], mantissa[31:0]}",
    "scale": "requant records {n[37:32], M0[30:0]}",
    "input": "uint8 input activations (golden output of the producing layer)",
    "input2": "second input: a residual add's uint8 (golden output of its producer), add_const's uint8 constant, "
              "a matmul's int8 b operand (codes - 128) in the fc weight order",
    "expected": "uint8 golden output",
    "output": "region the accelerator writes (pre-filled with ~expected)",
    "table": "lookup table: softmax's 256 exp entries (uint32) or GELU's 256 output codes (uint8)",
    "records": "LayerNorm per-channel records {bias[127:64], shift[37:32], gain[31:0]}",
}
SCALE_PAD = int(encode_records(np.array([[0, 1]]), SCALE_FIELDS)[0])
#: What a segment of a target's own layout holds (hexgen.target): its role names golden's array.
#: bias and scale are per output channel; a record layout picks golden's columns by field name
#: (bias: term, mantissa, shift; scale: m0, n), a plain bias layout holds the term.
ROLE_TEXT = {
    "weights": "int8 weights (golden's layer weights)",
    "bias": "bias (golden's bias term = mantissa << shift, or its fields)",
    "scale": "requantisation fields (golden's m0, n)",
    "input": "uint8 input activations (golden output of the producing layer)",
    "input2": "uint8 second input of a residual add (golden output of its producer)",
    "expected": "uint8 golden output",
    "output": "region the accelerator writes (pre-filled with ~expected)",
    "accumulators": "int32 accumulators (golden's, before requantisation)",
}


@dataclass(frozen=True)
class BufferNeed:
    buffer: str
    what: str
    need: int
    capacity: int

    @property
    def fits(self) -> bool:
        return self.need <= self.capacity


@dataclass(frozen=True)
class LayerPlan:
    name: str
    kind: str
    layouts: tuple[tuple[str, Layout], ...]
    schedule: tuple[str, ...]
    pixel_tile: int
    buffers: tuple[BufferNeed, ...]
    descriptor: dict[str, Any]
    passes: tuple[Pass, ...] = ()  # bands x output-channel groups, in the engine's order

    def passes_json(self) -> list[dict[str, int]]:
        return [dataclasses.asdict(p) for p in self.passes]

    def layout(self, segment: str) -> Layout:
        for s, lay in self.layouts:
            if s == segment:
                return lay
        raise KeyError(f"layer {self.name} has no segment {segment!r}")


def is_compute(layer: Layer) -> bool:
    """A conv or fc layer of the engine's MAC array, a transformer's linear over tokens
    (golden.tokens, kind "linear": a pointwise conv whose pixels are the tokens) or its matmul of two
    activations (a linear per head whose weights are the b operand: hexgen.matmul)."""
    return (isinstance(layer, (ConvLayer, LinearLayer)) and layer.kind in KIND_CODES) or isinstance(layer, MatmulLayer)


def is_vector(layer: Layer) -> bool:
    """A layer of the engine's vector unit: residual add, max pool, average pool, nearest upsampling,
    and a transformer's add of a constant (the position embedding) and GELU (a table lookup)."""
    return isinstance(layer, (AddLayer, MaxPoolLayer, AvgPoolLayer, UpsampleLayer, ConstAddLayer, GeluLayer))


def is_row(layer: Layer) -> bool:
    """A layer of the engine's row unit (rtl/row_unit.sv): a transformer's softmax or LayerNorm,
    which reduce over each token's channels (hexgen.tokens.plan_token_layer)."""
    return isinstance(layer, (SoftmaxLayer, LayerNormLayer))


def engine_runs(layer: Layer) -> bool:
    """A layer of one of the engine's units: the MAC array's, the vector unit's or the row unit's."""
    return is_compute(layer) or is_vector(layer) or is_row(layer)


def segments_of(kind: str) -> tuple[str, ...]:
    """The segments of a layer of this kind, in DRAM order."""
    from hexgen.tokens import TOKEN_SEGMENTS

    return TOKEN_SEGMENTS.get(kind) or VECTOR_SEGMENTS.get(kind, SEGMENTS)


def act_layout(shape: tuple[int, ...], images: int, pad: int, cfg: HardwareConfig) -> Layout:
    """The activation layout (input, expected, output) of a [C, H, W] or [C] tensor of `images` images."""
    r = cfg.channel_tile
    if len(shape) == 3:
        return Layout(("n", "c", "y", "x"), (images, *shape), (("c", r),), ("n", "c_tile", "y", "x", "c_lane"), 8, False, pad, cfg.word_bits)
    if len(shape) == 1:
        return Layout(("n", "c"), (images, *shape), (("c", r),), ("n", "c_tile", "c_lane"), 8, False, pad, cfg.word_bits)
    raise LayoutError(f"activation shape {shape}: expected [C, H, W] or [C]")


def vector_descriptor(layer: Layer) -> dict[str, Any]:
    """The CSR facts of a vector-unit layer (JSON-ready): shapes as a conv's, the window of a pool
    as its kernel, stride and padding, the add's parameters (arithmetic.md), a GELU's zero points
    (its table is a segment)."""
    # a transformer's residual add of [T, C] tokens, its add of a constant (the constant as input2), its GELU
    token_add = isinstance(layer, (AddLayer, ConstAddLayer, GeluLayer)) and len(layer.in_shape) == 2
    if len(layer.in_shape) != 3 and not token_add or isinstance(layer, GeluLayer) and not token_add:
        raise LayoutError(f"layer {layer.name}: {layer.kind} on {len(layer.in_shape)}-D tensors "
                          f"({'x'.join(map(str, layer.in_shape))}); the vector unit runs [C, H, W] images "
                          "(and the add and GELU of [T, C] token tensors)")
    h, w = (1, 1) if token_add else (int(v) for v in layer.in_shape[1:])
    d: dict[str, Any] = {"kind": layer.kind, "in_shape": [int(v) for v in layer.in_shape], "out_shape": [int(v) for v in layer.out_shape],
                         "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0], "padding_end": [0, 0], "groups": 1,
                         "z_in": 0, "z_out": 0, "lo": 0, "hi": 255}
    if isinstance(layer, (AddLayer, ConstAddLayer)):
        d.update(z_in=int(layer.z_a), z_in2=int(layer.z_b), a0=int(layer.a0), b0=int(layer.b0), shift=int(layer.n),
                 z_out=int(layer.z_out), lo=int(layer.lo), hi=int(layer.hi))
    elif isinstance(layer, GeluLayer):  # out = table[q]: the table is the layer's `table` segment
        d.update(z_in=int(layer.z_in), z_out=int(layer.z_out), lo=int(layer.lo), hi=int(layer.hi))
    elif isinstance(layer, MaxPoolLayer):
        py, px = (int(v) for v in layer.padding)
        d.update(kernel=list(layer.kernel), stride=list(layer.stride), padding=[py, px], padding_end=[py, px])
    elif isinstance(layer, AvgPoolLayer):
        d.update(kernel=[h, w] if layer.global_pool else list(layer.kernel), stride=[1, 1] if layer.global_pool else list(layer.stride))
    elif isinstance(layer, UpsampleLayer):  # the factors in the stride registers (a window of one word)
        d.update(stride=list(layer.scale))
    else:
        raise LayoutError(f"layer {layer.name}: kind {layer.kind} is not run by the accelerator")
    if d["kind"] not in ("add", "add_const", "gelu", "upsample"):
        d["stride"] = [single_window_stride(size, before, after, k, s, out) for size, before, after, k, s, out
                       in zip((h, w), d["padding"], d["padding_end"], d["kernel"], d["stride"], d["out_shape"][1:])]
    return d


def single_window_stride(size: int, before: int, after: int, kernel: int, stride: int, out: int) -> int:
    """A pool's stride along an axis, as the engine is told it. With one output window along the
    axis (out = 1: `nn.AvgPool2d(7)` on 7x7, a global pool written as a plain pool) the stride is
    never applied, so the smallest stride giving that one window is as true as the model's and
    keeps the engine's stride limit from refusing the layer: 1 when the window covers the padded
    input, else one more than the rows (columns) the window leaves over. Golden's result does not
    depend on it (one window starts at 0 whatever the stride)."""
    if out != 1:
        return stride
    return min(stride, max(1, size + before + after - kernel + 1))


def layer_descriptor(layer: Layer) -> dict[str, Any]:
    """The per-layer facts a testbench programs into the CSRs (JSON-ready)."""
    if is_vector(layer):
        return vector_descriptor(layer)
    if not isinstance(layer, (ConvLayer, LinearLayer)):
        raise LayoutError(f"layer {layer.name}: kind {layer.kind} is not run by the accelerator (conv and fc only)")
    r = layer.requant
    d: dict[str, Any] = {
        "kind": layer.kind,
        "in_shape": list(layer.in_shape),
        "out_shape": list(layer.out_shape),
        "z_in": int(layer.z_in),
        "z_out": int(r.z_out),
        "lo": int(r.lo),
        "hi": int(r.hi),
        "m0_bits": int(r.m0_bits),
        "bias_mode": layer.bias.mode,
    }
    if isinstance(layer, ConvLayer):
        top, bottom, left, right = layer.pads
        d.update(kernel=list(layer.kernel), stride=list(layer.stride), padding=[top, left], padding_end=[bottom, right],
                 groups=int(layer.groups), dilation=[int(v) for v in layer.dilation])
    else:
        d.update(kernel=[1, 1], stride=[1, 1], padding=[0, 0], padding_end=[0, 0], groups=1, dilation=[1, 1])
    return d


def fc_weight_layout(k: int, c: int, store_bits: int, cfg: HardwareConfig) -> Layout:
    """The fc weight layout of [K, C] weights: [k_tile][c_tile][c_lane][k_lane], stored at store_bits
    (packed widths: each k_tile's block starts a word of its own). A linear over tokens uses it too
    (hexgen.tokens)."""
    r = cfg.array_rows
    block = "c_tile" if store_bits in PACKED_WEIGHT_BITS else ""
    return Layout(("k", "c"), (k, c), (("k", r), ("c", r)), ("k_tile", "c_tile", "c_lane", "k_lane"), store_bits, True, 0,
                  cfg.word_bits, word_aligned=block)


def record_layouts(k: int, cfg: HardwareConfig) -> tuple[Layout, Layout]:
    """The bias and scale record layouts of K output channels: [k_tile][k_lane], one 64-bit record each."""
    r, wb = cfg.array_rows, cfg.word_bits
    return (Layout(("k",), (k,), (("k", r),), ("k_tile", "k_lane"), RECORD_BITS, False, 0, wb, BIAS_FIELDS),
            Layout(("k",), (k,), (("k", r),), ("k_tile", "k_lane"), RECORD_BITS, False, SCALE_PAD, wb, SCALE_FIELDS))


def plan_layer(layer: Layer, cfg: HardwareConfig, *, images: int = 1, check_fit: bool = True) -> LayerPlan:
    """Layouts, loop order and buffer needs of one conv/fc layer; FitError if a buffer is too small."""
    if images < 1:
        raise LayoutError(f"layer {layer.name}: images={images}; must be >= 1")
    if isinstance(layer, ConcatLayer):
        from hexgen.concat import plan_concat

        return plan_concat(layer, cfg, images, check_fit)
    from hexgen.tokens import is_token_layer, plan_token_layer

    if isinstance(layer, MatmulLayer):  # one linear run per head (hexgen.matmul)
        from hexgen.matmul import plan_matmul

        return plan_matmul(layer, cfg, images, check_fit)
    if is_token_layer(layer) and not is_compute(layer) and not is_vector(layer):  # a transformer's (hexgen.tokens); its
        return plan_token_layer(layer, cfg, images, check_fit)  # linear: the MAC array's; residual add: the vector unit's
    desc = layer_descriptor(layer)
    if is_vector(layer):
        return _plan_vector(layer, desc, cfg, images, check_fit)
    assert isinstance(layer, (ConvLayer, LinearLayer))  # layer_descriptor raised otherwise
    token = isinstance(layer, TokenLinearLayer)
    if token and len(layer.in_shape) != 2:
        raise LayoutError(f"layer {layer.name}: a linear over {len(layer.in_shape)}-D tokens "
                          f"({'x'.join(map(str, layer.in_shape))}); the MAC array runs a linear over [T, C] tokens")
    r, wb = cfg.array_rows, cfg.word_bits
    # the weights' storage width: the narrowest the engine unpacks that holds the codes; packed
    # widths store each output-channel tile as one block of vectors back to back (hexgen.layout)
    sb = cfg.weight_store_bits(int(layer.w_bits or 8))
    desc["weight_bits"] = sb
    if sb not in cfg.weight_bits:
        raise LayoutError(f"layer {layer.name}: the engine cannot run field W_BITS: {weight_bits_refusal(sb, cfg)}")
    block = "" if sb not in PACKED_WEIGHT_BITS else ("c" if isinstance(layer, ConvLayer) and layer.kind == "depthwise" else "c_tile")
    if isinstance(layer, ConvLayer):
        k, cg, kh, kw = (int(s) for s in layer.weight.shape)
        depthwise = layer.kind == "depthwise"  # golden.layers.conv_kind
        if depthwise and k != layer.groups:
            raise LayoutError(
                f"layer {layer.name}: depthwise conv with {k} output channels for {layer.groups} groups "
                f"(channel multiplier {k // max(layer.groups, 1)}); the depthwise mapping needs one output channel per input channel"
            )
        if depthwise:
            w = Layout(("k", "c", "ky", "kx"), (k, cg, kh, kw), (("k", r),), ("k_tile", "c", "ky", "kx", "k_lane"), sb, True, 0, wb,
                       word_aligned=block)
            schedule: tuple[str, ...] = ("k_tile", "p_tile", "ky", "kx")
        else:
            w = Layout(
                ("k", "c", "ky", "kx"), (k, cg, kh, kw), (("k", r), ("c", r)),
                ("k_tile", "c_tile", "ky", "kx", "c_lane", "k_lane"), sb, True, 0, wb, word_aligned=block,
            )
            schedule = ("k_tile", "p_tile", "c_tile", "ky", "kx", "c_lane")
        pixels = int(layer.out_shape[1]) * int(layer.out_shape[2])
    else:
        k, c = (int(s) for s in layer.weight.shape)
        w = fc_weight_layout(k, c, sb, cfg)
        # a linear over tokens: a pointwise conv whose T pixels are the tokens (hexgen.rules.engine_shapes)
        schedule = ("k_tile", "p_tile", "c_tile", "c_lane") if token else ("k_tile", "c_tile", "c_lane")
        pixels = int(layer.in_shape[0]) if token else 1
    bias, scale = record_layouts(k, cfg)
    z_out = int(layer.requant.z_out)
    if token:  # golden's [T, C] token tensors, in the words of the one-column image the engine reads
        from hexgen.tokens import token_layout

        inp = token_layout(layer.in_shape, int(layer.z_in), cfg, images)
        exp = token_layout(layer.out_shape, z_out, cfg, images)
        out = token_layout(layer.out_shape, 255 - z_out, cfg, images)
    else:
        inp = act_layout(layer.in_shape, images, int(layer.z_in), cfg)
        exp = act_layout(layer.out_shape, images, z_out, cfg)
        out = act_layout(layer.out_shape, images, 255 - z_out, cfg)
    p_tile = min(cfg.pixel_tile, pixels)
    # bands of output rows and groups of output-channel tiles (hexgen.rules.plan_tiling), then the
    # engine's needs, computed once (hexgen.rules, mirrored in rtl/desc_check.sv)
    tiling = plan_tiling(descriptor_registers({**desc, "band_rows": 0, "group_k_tiles": 0}), cfg)
    desc.update(band_rows=tiling["BAND_ROWS"], group_k_tiles=tiling["GROUP_KT"])
    need = register_needs(descriptor_registers(desc), r, wb)
    band = f"one band of {desc['band_rows']} output rows: {need.band_in_rows} input rows, halo included"
    group = f"{desc['group_k_tiles']} output-channel tiles"
    buffers = (
        BufferNeed("weight", "one output-channel tile of weights", need.weight, cfg.weight_buf_words),
        BufferNeed("act", f"input activations of {band}", need.act, cfg.act_buf_words),
        BufferNeed("bias", f"the bias records of {group}", need.records, cfg.bias_buf_words),
        BufferNeed("scale", f"the scale records of {group}", need.records, cfg.scale_buf_words),
    )
    if check_fit:
        for b in buffers:
            if not b.fits:
                raise FitError(layer.name, b.buffer, b.need, b.capacity, b.what)
        # what the engine's descriptor check would refuse (hexgen.rules, mirrored in rtl/desc_check.sv)
        refusal = engine_refusal(descriptor_registers(desc), cfg)
        if refusal is not None:
            raise LayoutError(f"layer {layer.name}: the engine cannot run field {refusal[0]}: {refusal[1]}")
    layouts = (("weights", w), ("bias", bias), ("scale", scale), ("input", inp), ("expected", exp), ("output", out))
    return LayerPlan(layer.name, layer.kind, layouts, schedule, p_tile, buffers, desc,
                     tuple(passes(descriptor_registers(desc), r, wb)))


def _plan_vector(layer: Layer, desc: dict[str, Any], cfg: HardwareConfig, images: int, check_fit: bool) -> LayerPlan:
    """A vector-unit layer: activation layouts only, one pass (it reads memory directly, no buffer)."""
    (c, oh, _) = engine_shapes(desc)[1]
    desc.update(band_rows=oh, group_k_tiles=-(-c // cfg.array_rows))
    if isinstance(layer, (AddLayer, ConstAddLayer)):
        pads = {"input": desc["z_in"], "input2": desc["z_in2"], "expected": desc["z_out"], "output": 255 - desc["z_out"]}
    elif isinstance(layer, GeluLayer):  # the unit gives its padding lanes z_out
        pads = {"input": desc["z_in"], "expected": desc["z_out"], "output": 255 - desc["z_out"]}
    else:  # a pool's padding lanes keep the input's value
        pads = {"input": desc["z_in"], "expected": desc["z_in"], "output": 255 - desc["z_in"]}
    shapes = {"input": layer.in_shape, "input2": layer.in_shape, "expected": layer.out_shape, "output": layer.out_shape}
    if len(layer.in_shape) == 2:  # token tensors (add, add_const, GELU), in the words of a one-column image
        from hexgen.tokens import gelu_table_layout, token_layout

        layouts = tuple((s, gelu_table_layout(cfg) if s == "table" else token_layout(tuple(shapes[s]), int(pads[s]), cfg, images))
                        for s in segments_of(layer.kind))
    else:
        layouts = tuple((s, act_layout(tuple(shapes[s]), images, int(pads[s]), cfg)) for s in segments_of(layer.kind))
    if check_fit:
        refusal = engine_refusal(descriptor_registers(desc), cfg)
        if refusal is not None:
            raise LayoutError(f"layer {layer.name}: the engine cannot run field {refusal[0]}: {refusal[1]}")
    return LayerPlan(layer.name, layer.kind, layouts, ("c_tile", "y", "x"), 1, (), desc,
                     tuple(passes(descriptor_registers(desc), cfg.array_rows, cfg.word_bits)))


def layer_arrays(layer: Layer, x_in: NDArray[np.uint8], y_out: NDArray[np.uint8],
                 x_in2: NDArray[np.uint8] | None = None) -> dict[str, NDArray[np.int64]]:
    """The logical array of every segment of a layer, given its input(s) and golden output."""
    y = np.asarray(y_out, dtype=np.int64)
    if is_vector(layer):
        arrs = {"input": np.asarray(x_in, dtype=np.int64), "expected": y, "output": 255 - y}
        if isinstance(layer, AddLayer):
            if x_in2 is None:
                raise LayoutError(f"layer {layer.name}: a residual add needs its second input")
            arrs["input2"] = np.asarray(x_in2, dtype=np.int64)
        return arrs
    if not isinstance(layer, (ConvLayer, LinearLayer)):
        raise LayoutError(f"layer {layer.name}: kind {layer.kind} is not run by the accelerator")
    bias = np.stack([layer.bias.mantissa, layer.bias.shift], axis=1).astype(np.int64)
    scale = np.stack([layer.requant.m0, layer.requant.n], axis=1).astype(np.int64)
    return {
        "weights": np.asarray(layer.weight, dtype=np.int64),
        "bias": bias,
        "scale": scale,
        "input": np.asarray(x_in, dtype=np.int64),
        "expected": y,
        "output": 255 - y,
    }
