"""The memory images of a transformer's layers (issue 27 item 5), laid out for issue 28's dataflow:
linears on the MAC array with the tokens as pixels, and a matmul's b operand fed where weights go.

* Token tensors (golden's per-sample [T, C], or [H, T, D] per head; any leading axes): the conv
  activation layout of a one-column image, the tokens as its rows and the channels in lanes:
  dims ("n", <leading>, "t", "c"), channel tile R = array_rows, order ("n", <leading>, "c_tile",
  "t", "c_lane"), uint8; pad the tensor's zero point (the output region 255 - z_out, pre-filled
  with ~expected as every output region is). A vector is the R channels of one token.
* linear (golden.tokens.TokenLinearLayer): planned by hexgen.plan as the MAC array's pointwise conv
  whose pixels are the tokens (hexgen.rules.engine_shapes); weights, bias and scale exactly as the
  fc's (hexgen.plan.fc_weight_layout, record_layouts); input / expected / output token tensors.
* matmul (golden.transformer.MatmulLayer, a [.., M, K] x b [.., K, N] or b [.., N, K] transposed):
  `input` a as a token tensor (M tokens, K channels); `input2` b, the weights of a per-head fc
  whose output channels are b's N columns and whose input channels the reduction axis K
  (hexgen.matmul): A V's V as its producer wrote it, a token tensor of codes, which the engine
  reads with W_XOR and W_KT_STRIDE, and Q K^T's K the same way, transposed on its way into the
  weight bank (W_TRANSPOSE); on a description whose words are not one byte per array row
  (hexgen.matmul.transposable), Q K^T's K in the weight order (b_weight_layout): dims ("n",
  <b's leading>, "k", "c") = [N images, .., N columns, K], order ("n", <leading>, "k_tile",
  "c_tile", "c_lane", "k_lane"), int8 = code - 128 (b's zero point is 128 by contract).
* softmax: token tensors over [.., rows, L] (the reduced axis in lanes); `table` the 256 exp
  entries (21-bit) as uint32 elements.
* gelu: token tensors; `table` the 256 output codes, uint8 (gelu_table_layout): hexgen.plan plans
  it as the vector unit's, which loads the table and looks every input word up in it.
* layernorm: token tensors; `records` one 128-bit record per channel, [c_tile][c_lane], as two
  64-bit elements (low first): {shift[37:32] u, gain[31:0] s} and bias (64-bit two's complement,
  |bias| < 2^57). gain (32 bits), shift (6) and bias (58) do not fit one 64-bit record.
* add_const: `input` a token tensor; `input2` the constant's codes once per image, a token tensor:
  hexgen.plan plans it as the vector unit's add of the constant.
* add on token tensors (the residual add): `input` and `input2` token tensors, planned by
  hexgen.plan as the vector unit's add.
* reshape, permute, select, concat_tokens: pure data movement, not laid out (golden only).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from numpy.typing import NDArray

from golden.layers import AddLayer, Layer
from golden.tokens import ConstAddLayer, TokenConcatLayer, TokenLinearLayer
from golden.transformer import GeluLayer, LayerNormLayer, MatmulLayer, SoftmaxLayer
from hexgen.config import HardwareConfig
from hexgen.errors import LayoutError
from hexgen.layout import Field, Layout, decode_records, record_problems

#: Segments of each token kind, in DRAM order ("add": the vector add's, hexgen.plan.VECTOR_SEGMENTS).
TOKEN_SEGMENTS: dict[str, tuple[str, ...]] = {
    "linear": ("weights", "bias", "scale", "input", "expected", "output"),
    "matmul": ("input", "input2", "bias", "scale", "expected", "output"),
    "softmax": ("table", "input", "expected", "output"),
    "gelu": ("table", "input", "expected", "output"),
    "layernorm": ("records", "input", "expected", "output"),
    "add_const": ("input", "input2", "expected", "output"),
}
TOKEN_KINDS = tuple(TOKEN_SEGMENTS)
#: Data movement of token tensors: golden only.
MOVEMENT_KINDS = ("reshape", "permute", "select", "concat_tokens")
#: The first 64-bit element of a LayerNorm record; the second is the bias, 64-bit signed.
LN_FIELDS = (Field("gain", 0, 32, True, -(2**31) + 1, 2**31 - 1), Field("shift", 32, 6, False, 1, 48))
LN_BIAS_MAX = 2**57 - 1


def is_token_add(layer: Layer) -> bool:
    """A residual add of two token tensors (not a [C, H, W] image's)."""
    return isinstance(layer, AddLayer) and len(layer.in_shape) != 3


def is_token_layer(layer: Layer) -> bool:
    """A transformer layer with arithmetic that hexgen lays out here."""
    return layer.kind in TOKEN_KINDS or is_token_add(layer)


def not_laid_out(layer: Layer) -> str | None:
    """Why a token layer is golden only (None for one with arithmetic)."""
    if layer.kind in ("reshape", "permute", "select"):
        return "a pure reshape: no arithmetic"
    if isinstance(layer, TokenConcatLayer):
        if any(m for m in layer.m0s):
            return "a concat along tokens that requantizes an input: not laid out yet (issue 28)"
        return "a pure reshape: no arithmetic (its class token is a constant, held by golden's record)"
    return None


def token_layout(shape: tuple[int, ...], pad: int, cfg: HardwareConfig, images: int | None) -> Layout:
    """A token tensor [.., T, C] (per sample; images None: no image axis) in the one-column image
    layout: [n][..][c_tile][t][c_lane]."""
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise LayoutError(f"token tensor shape {list(shape)}: expected [.., T, C]")
    lead = ("h",) if len(shape) == 3 else tuple(f"h{i}" for i in range(len(shape) - 2))
    dims = (*lead, "t", "c")
    order = (*lead, "c_tile", "t", "c_lane")
    if images is not None:
        dims, order, shape = ("n", *dims), ("n", *order), (images, *shape)
    return Layout(dims, shape, (("c", cfg.channel_tile),), order, 8, False, int(pad), cfg.word_bits)


def table_layout(elem_bits: int, word_bits: int, dim: str = "q") -> Layout:
    """A 256-entry table of `elem_bits`-bit unsigned entries in order, word_bits / elem_bits to a
    word: GELU's output codes (8 bits, indexed by the input code q), softmax's exp values (32-bit
    elements, indexed by d = max - q)."""
    return Layout((dim,), (256,), (), (dim,), elem_bits, False, 0, word_bits)


def softmax_table_layout(cfg: HardwareConfig) -> Layout:
    """A softmax's exp table: 256 entries as 32-bit elements, indexed by d = max - q (the row unit
    loads it from IN2_BASE on a run's first block)."""
    return table_layout(32, cfg.word_bits, "d")


def ln_record_layout(channels: int, cfg: HardwareConfig) -> Layout:
    """A LayerNorm's records: one 128-bit record per channel, [c_tile][c_lane], two 64-bit elements
    (ln_records): a channel tile's records are 16 words whatever the word width."""
    return Layout(("c", "w"), (channels, 2), (("c", cfg.channel_tile),), ("c_tile", "c_lane", "w"), 64, True, 0, cfg.word_bits)


def gelu_table_layout(cfg: HardwareConfig) -> Layout:
    """A GELU's table: the 256 output codes, uint8 in order (the vector unit reads it at IN2_BASE,
    rtl/vec_unit.sv)."""
    return table_layout(8, cfg.word_bits)


def b_weight_layout(b_shape: tuple[int, ...], transpose_b: bool, images: int, cfg: HardwareConfig) -> Layout:
    """A matmul's b operand as per-head fc weights [n][..][k_tile][c_tile][c_lane][k_lane] (k: b's
    N columns, c: the reduction axis K), int8 = code - 128."""
    lead_shape = tuple(int(s) for s in b_shape[:-2])
    kk, nn = (int(b_shape[-1]), int(b_shape[-2])) if transpose_b else (int(b_shape[-2]), int(b_shape[-1]))
    lead = ("h",) if len(lead_shape) == 1 else tuple(f"h{i}" for i in range(len(lead_shape)))
    r = cfg.array_rows
    return Layout(("n", *lead, "k", "c"), (images, *lead_shape, nn, kk), (("k", r), ("c", r)),
                  ("n", *lead, "k_tile", "c_tile", "c_lane", "k_lane"), 8, True, 0, cfg.word_bits)


def b_weights(b: NDArray[Any], transpose_b: bool) -> NDArray[np.int64]:
    """b's codes [N, .., K, N] (or [N, .., N, K] transposed) -> the weight array [N, .., N, K], code - 128."""
    w = np.asarray(b, np.int64) - 128
    return w if transpose_b else np.swapaxes(w, -1, -2)


def b_codes(w: NDArray[Any], transpose_b: bool) -> NDArray[np.int64]:
    """The inverse of b_weights: b's codes in golden's axis order."""
    b = np.asarray(w, np.int64) + 128
    return b if transpose_b else np.swapaxes(b, -1, -2)


def ln_records(layer: LayerNormLayer) -> NDArray[np.int64]:
    """[C, 2]: per channel (shift << 32 | gain as 32 bits, bias)."""
    gain = np.asarray(layer.gain, np.int64)
    return np.stack([(gain & 0xFFFFFFFF) | (np.asarray(layer.shift, np.int64) << 32), np.asarray(layer.bias, np.int64)], axis=1)


def ln_fields(records: NDArray[Any]) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], list[tuple[int, str]]]:
    """gain, shift, bias and the problems (channel, message) of [C, 2] LayerNorm records."""
    r = np.asarray(records, np.int64)
    vals = decode_records(r[:, 0], LN_FIELDS)
    problems = record_problems(r[:, 0], LN_FIELDS)
    for c in np.flatnonzero(np.abs(r[:, 1]) > LN_BIAS_MAX):
        problems.append((int(c), f"record {int(c)}: field bias = {int(r[c, 1])} is outside -(2^57 - 1)..2^57 - 1"))
    return vals[:, 0], vals[:, 1], r[:, 1], sorted(problems)


def token_descriptor(layer: Layer) -> dict[str, Any]:
    """The facts of a token layer (JSON-ready): its kind, shapes and integer constants."""
    d: dict[str, Any] = {"kind": layer.kind, "in_shape": [int(v) for v in layer.in_shape],
                         "out_shape": [int(v) for v in layer.out_shape]}
    if isinstance(layer, MatmulLayer):
        d.update(in_shape_b=[int(v) for v in layer.in_shape_b], transpose_b=bool(layer.transpose_b), z_a=int(layer.z_a),
                 z_b=int(layer.z_b), m0=int(layer.m0), n=int(layer.n), m0_bits=int(layer.m0_bits), z_out=int(layer.z_out),
                 lo=int(layer.lo), hi=int(layer.hi))
    elif isinstance(layer, SoftmaxLayer):
        d.update(z_in=int(layer.z_in), dividend=int(layer.dividend), shift=int(layer.shift), z_out=int(layer.z_out),
                 lo=int(layer.lo), hi=int(layer.hi))
    elif isinstance(layer, LayerNormLayer):
        d.update(z_in=int(layer.z_in), sqrt_shift=int(layer.sqrt_shift), eps_term=int(layer.eps_term), m0_bits=int(layer.m0_bits),
                 z_out=int(layer.z_out), lo=int(layer.lo), hi=int(layer.hi))
    else:
        raise LayoutError(f"layer {layer.name}: kind {layer.kind} is not a transformer layer hexgen lays out")
    return d


def plan_token_layer(layer: Layer, cfg: HardwareConfig, images: int, check_fit: bool = True) -> Any:
    """The LayerPlan of a softmax or LayerNorm (the engine's row unit, rtl/row_unit.sv; hexgen.plan
    plans the linear and matmul as the MAC array's, the adds and GELU as the vector unit's): token
    layouts, the exp table or the records (read at IN2_BASE), and the engine descriptor of a layer
    over the one-column image [C, T, 1] (hexgen.rules.engine_shapes) in blocks of tokens
    (BAND_ROWS: hexgen.rules.plan_tiling, the row unit's rule), one run per head when the rows have
    leading axes (a softmax over [H, T, L]: the heads back to back, each run at its word offsets)."""
    from hexgen.plan import LayerPlan
    from hexgen.rules import descriptor_registers, engine_refusal, passes, plan_tiling

    d = token_descriptor(layer)
    lay: dict[str, Layout] = {
        "input": token_layout(layer.in_shape, d["z_in"], cfg, images),
        "expected": token_layout(layer.out_shape, d["z_out"], cfg, images),
        "output": token_layout(layer.out_shape, 255 - d["z_out"], cfg, images),
    }
    if isinstance(layer, SoftmaxLayer):
        lay["table"] = softmax_table_layout(cfg)
    elif isinstance(layer, LayerNormLayer):
        lay["records"] = ln_record_layout(layer.channels, cfg)
    else:  # hexgen.plan plans every other token layer with arithmetic as the MAC array's or the vector unit's
        raise LayoutError(f"layer {layer.name}: kind {layer.kind} is not the row unit's (softmax, layernorm)")
    layouts = tuple((s, lay[s]) for s in TOKEN_SEGMENTS[layer.kind])
    rows, length = (int(v) for v in layer.in_shape[-2:])
    run = {**d, "in_shape": [rows, length], "out_shape": [rows, length], "kernel": [1, 1], "stride": [1, 1],
           "padding": [0, 0], "padding_end": [0, 0], "groups": 1, "band_rows": rows, "group_k_tiles": -(-length // cfg.array_rows)}
    tiling = plan_tiling(descriptor_registers(run), cfg)
    run.update(band_rows=tiling["BAND_ROWS"], group_k_tiles=tiling["GROUP_KT"])
    regs = descriptor_registers(run)
    if check_fit:
        refusal = engine_refusal(regs, cfg)
        if refusal is not None:
            raise LayoutError(f"layer {layer.name}: the engine cannot run field {refusal[0]}: {refusal[1]}")
    d.update({k: v for k, v in run.items() if k not in ("in_shape", "out_shape")})
    lead = tuple(int(v) for v in layer.in_shape[:-2])
    if lead:  # one run per head: its rows at the head's word offsets (the heads back to back in a token tensor)
        from hexgen.layout import element_address

        at = [element_address(lay["input"], (0, *(int(j) for j in np.unravel_index(i, lead)), 0, 0))[0]
              for i in range(int(np.prod(lead)))]
        d["runs"] = [{**run, "in_word": w, "out_word": w} for w in at]
    return LayerPlan(layer.name, layer.kind, layouts, ("run", "block", "c_tile", "t"), 1, (), d,
                     tuple(passes(regs, cfg.array_rows, cfg.word_bits)))


def token_arrays(layer: Layer, xs: list[NDArray[np.uint8]], y: NDArray[np.uint8], cfg: HardwareConfig) -> dict[str, NDArray[np.int64]]:
    """The logical array of every segment of a token layer, from its inputs and golden's output."""
    y64 = np.asarray(y, np.int64)
    arrs = {"input": np.asarray(xs[0], np.int64), "expected": y64, "output": 255 - y64}
    if isinstance(layer, TokenLinearLayer):
        arrs["weights"] = np.asarray(layer.weight, np.int64)
        arrs["bias"] = np.stack([layer.bias.mantissa, layer.bias.shift], axis=1).astype(np.int64)
        arrs["scale"] = np.stack([layer.requant.m0, layer.requant.n], axis=1).astype(np.int64)
    elif isinstance(layer, MatmulLayer):
        from hexgen.matmul import b_in_place, matmul_records

        # b's codes where its producer wrote them (or, Q K^T on a description that cannot read K
        # transposed, K in the weight order, code - 128)
        arrs["input2"] = np.asarray(xs[1], np.int64) if b_in_place(layer, cfg) else b_weights(xs[1], layer.transpose_b)
        arrs.update(matmul_records(layer))
    elif isinstance(layer, SoftmaxLayer):
        arrs["table"] = np.asarray(layer.exp_table, np.int64)
    elif isinstance(layer, GeluLayer):
        arrs["table"] = np.asarray(layer.table, np.int64)
    elif isinstance(layer, LayerNormLayer):
        arrs["records"] = ln_records(layer)
    elif isinstance(layer, ConstAddLayer):  # the constant per image: the vector unit's add reads it as its second input
        arrs["input2"] = np.broadcast_to(np.asarray(layer.constant, np.int64), xs[0].shape).copy()
    else:
        arrs["input2"] = np.asarray(xs[1], np.int64)
    return arrs


def token_layer_from(name: str, d: Mapping[str, Any], arrays: Mapping[str, NDArray[np.int64]]) -> Layer:
    """Golden's record rebuilt from a token layer's descriptor and its parameter segments (tables and
    records decoded); LayoutError naming the entry or record a segment holds wrongly."""
    from golden.arith import BiasCodes
    from golden.layers import Requant, set_widths

    common: dict[str, Any] = dict(name=name, inputs=("input",), in_shape=tuple(d["in_shape"]), out_shape=tuple(d["out_shape"]),
                                  module=name, source=name)
    kind = d["kind"]
    layer: Layer
    if kind == "linear":
        w, bias, scale = arrays["weights"], arrays["bias"], arrays["scale"]
        k, wb = int(w.shape[0]), int(d.get("weight_bits", 8))
        q = (1 << (wb - 1)) - 1
        if np.any(np.abs(w) > q):
            raise LayoutError(f"{wb}-bit weights outside -{q}..{q}")
        layer = TokenLinearLayer(**common, weight=w.astype(np.int8), bias=BiasCodes(d["bias_mode"], bias[:, 0], bias[:, 1], 0),
                                 requant=Requant(scale[:, 0], scale[:, 1], d["z_out"], d["lo"], d["hi"], d["m0_bits"]),
                                 z_in=d["z_in"], weight_scale=np.ones(k))
        if wb != 8:
            set_widths(layer, 8, wb)
    elif kind == "matmul":
        layer = MatmulLayer(**{**common, "inputs": ("input", "input2")}, in_shape_b=tuple(d["in_shape_b"]), z_a=d["z_a"],
                            z_b=d["z_b"], transpose_b=d["transpose_b"], m0=d["m0"], n=d["n"], z_out=d["z_out"], lo=d["lo"],
                            hi=d["hi"], m0_bits=d["m0_bits"])
    elif kind == "softmax":
        t = arrays["table"]
        wrong = [i for i in range(len(t)) if (t[i] != 1 << 20 if i == 0 else not 0 <= t[i] <= t[i - 1])]
        if wrong:
            i = wrong[0]
            after = "" if i == 0 or t[i] < 0 else f", above entry {i - 1} ({int(t[i - 1])})"
            raise LayoutError(f"table entry {i} is {int(t[i])}{after}: the exp table holds 256 non-increasing "
                              "entries from 2^20 down to >= 0")
        layer = SoftmaxLayer(**common, z_in=d["z_in"], exp_table=arrays["table"], dividend=d["dividend"], shift=d["shift"],
                             z_out=d["z_out"], lo=d["lo"], hi=d["hi"])
    elif kind == "gelu":
        t = arrays["table"]
        if t.min() < 0 or t.max() > 255:
            raise LayoutError("GELU table entries outside 0..255")
        layer = GeluLayer(**common, z_in=d["z_in"], table=t.astype(np.uint8), z_out=d["z_out"], lo=d["lo"], hi=d["hi"])
    elif kind == "layernorm":
        gain, shift, bias, probs = ln_fields(arrays["records"])
        if probs:
            raise LayoutError("; ".join(m for _, m in probs[:3]))
        layer = LayerNormLayer(**common, z_in=d["z_in"], sqrt_shift=d["sqrt_shift"], eps_term=d["eps_term"], gain=gain, shift=shift,
                               bias=bias, z_out=d["z_out"], lo=d["lo"], hi=d["hi"], m0_bits=d["m0_bits"])
    elif kind == "add_const":
        c = arrays["input2"]  # the constant, once per image
        if c.min() < 0 or c.max() > 255:
            raise LayoutError("constant codes outside 0..255")
        if c.ndim > len(d["in_shape"]) and np.any(c != c[:1]):
            raise LayoutError("the constant differs between images")
        layer = ConstAddLayer(**common, constant=c[0].astype(np.uint8) if c.ndim > len(d["in_shape"]) else c.astype(np.uint8), z_a=d["z_in"], z_b=d["z_in2"], a0=d["a0"], b0=d["b0"],
                              n=d["shift"], z_out=d["z_out"], lo=d["lo"], hi=d["hi"])
    else:
        raise LayoutError(f"kind {kind} is not a token layer")
    return layer


def golden_inputs(layer: Layer, arrays: Mapping[str, NDArray[np.int64]], cfg: HardwareConfig) -> list[NDArray[np.uint8]]:
    """The inputs golden runs a token layer on, from its input segment(s)."""
    xs = [arrays["input"]]
    if isinstance(layer, MatmulLayer):
        from hexgen.matmul import b_in_place

        xs.append(arrays["input2"] if b_in_place(layer, cfg) else b_codes(arrays["input2"], layer.transpose_b))
    for x in xs:
        if x.size and (x.min() < 0 or x.max() > 255):
            raise LayoutError("input codes outside 0..255 (b - 128 outside the int8 range?)")
    return [x.astype(np.uint8) for x in xs]
