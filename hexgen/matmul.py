"""A transformer's matmul of two activations on the MAC array (issue 28 item 2): one engine run per
head, each a linear over the M rows of a (the tokens as pixels, K input channels) whose weights
are the head's b operand (N output channels), read where weights go.

golden.transformer.MatmulLayer: acc = sum_k (a - z_a) * (b - 128), y = requantize(acc; m0, n,
z_out, lo, hi). b's zero point is 128 by contract, so b - 128 is the int8 weight and the engine's
fc arithmetic is the matmul's exactly: Z_IN = z_a, a bias of 0 and every output channel's scale
record (m0, n).

Segments (hexgen.tokens.TOKEN_SEGMENTS["matmul"]):
* input: a as a token tensor, [n][h][c_tile][t][c_lane] (heads contiguous);
* input2: b, the weight base of each head's run, where its producer wrote it: a token tensor of
  codes [n][h][c_tile][t][c_lane] (the runs' W_XOR makes them code - 128, W_KT_STRIDE steps T words
  a channel tile; Q K^T's W_TRANSPOSE reads K's tokens as weights, transposed: b_in_place); on a
  description whose words are not one byte per array row, Q K^T's K as per-head fc weights,
  [n][h][k_tile][c_tile][c_lane][k_lane], int8 = code - 128 (hexgen.tokens.b_weight_layout);
* bias, scale: the N output channels' records, shared by the heads (bias 0; scale m0, n);
* expected, output: token tensors, heads contiguous.

Descriptor: golden's matmul fields (hexgen.tokens.token_descriptor), and `runs`: per head the
descriptor of the linear the engine runs (hexgen.plan, kind "linear", [M, K] -> [M, N]) with the
word offsets of its input (in_word), weights (w_word) and output (out_word) in their segments
(tb.engine.csr.run_csrs adds them to the bases), and how b is read as its weights (w_xor,
w_kt_stride, w_transpose: the W_XOR, W_KT_STRIDE and W_TRANSPOSE registers).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from golden.arith import BiasCodes
from golden.layers import Requant
from golden.tokens import TokenLinearLayer
from golden.transformer import MatmulLayer
from hexgen.config import HardwareConfig
from hexgen.errors import LayoutError


def head_linear(layer: MatmulLayer) -> TokenLinearLayer:
    """The linear one head's run is: a's [M, K] tokens times b's [N, K] weights (zeros here: the
    engine reads b's segment), no bias, every channel requantized with the matmul's (m0, n)."""
    m, k = (int(v) for v in layer.in_shape[-2:])
    nn = int(layer.out_shape[-1])
    return TokenLinearLayer(
        name=layer.name, inputs=(layer.inputs[0],), in_shape=(m, k), out_shape=(m, nn), module=layer.module, source=layer.source,
        weight=np.zeros((nn, k), np.int8), bias=BiasCodes("int32", np.zeros(nn, np.int64), np.zeros(nn, np.int64), 0),
        requant=Requant(np.full(nn, layer.m0, np.int64), np.full(nn, layer.n, np.int64), layer.z_out, layer.lo, layer.hi,
                        layer.m0_bits),
        z_in=layer.z_a, weight_scale=np.ones(nn))


def heads(layer: MatmulLayer) -> int:
    """The runs of the matmul: the product of its leading axes (the heads), which a and b must share."""
    lead_a, lead_b = tuple(layer.in_shape[:-2]), tuple(layer.in_shape_b[:-2])
    if lead_a != lead_b:
        raise LayoutError(f"layer {layer.name}: a matmul whose operands broadcast ({'x'.join(map(str, layer.in_shape))} x "
                          f"{'x'.join(map(str, layer.in_shape_b))}); the engine runs one with the same leading axes (heads)")
    return int(np.prod(lead_a, dtype=np.int64)) if lead_a else 1


def b_in_place(layer: MatmulLayer, cfg: HardwareConfig) -> bool:
    """b is read where its producer wrote it, a token tensor of uint8 codes (W_XOR making them code
    - 128): A V's V (b [.., K = T, N = D]) with W_KT_STRIDE stepping T words a channel tile; Q K^T's
    K (b [.., N = T, K = D], transposed) with W_TRANSPOSE too (rtl/wgt_transpose.sv: each k_tile's
    ROWS tokens of every channel tile, a ROWS x ROWS block of bytes, transposed into the weight
    bank), which needs a word to be one ROWS-byte vector (word_bits = 8 x array_rows, as every
    preset of the engine). On a description where it is not, Q K^T's K is laid out in the weight
    order, code - 128 (b_weight_layout), as before the transposed load."""
    return not layer.transpose_b or transposable(cfg)


def transposable(cfg: HardwareConfig) -> bool:
    """The engine can read K transposed (W_TRANSPOSE): a word holds one byte per array row."""
    return cfg.word_bits == 8 * cfg.array_rows


def plan_matmul(layer: MatmulLayer, cfg: HardwareConfig, images: int, check_fit: bool) -> Any:
    """The matmul's LayerPlan: the head linear's plan (hexgen.plan: schedule, buffers, passes) with
    the matmul's segments, and its descriptor with one run per head."""
    from hexgen.layout import element_address
    from hexgen.plan import LayerPlan, plan_layer
    from hexgen.rules import descriptor_registers, register_needs
    from hexgen.tokens import TOKEN_SEGMENTS, b_weight_layout, token_descriptor, token_layout

    h = heads(layer)
    view = plan_layer(head_linear(layer), cfg, images=1, check_fit=check_fit)
    lay = dict(view.layouts)
    per_head = {s: lay[s].words for s in ("input", "output")}  # one image, one head: the linear's own layouts
    w_words = lay["weights"].words
    in_place = b_in_place(layer, cfg)
    layouts = {
        "input": token_layout(layer.in_shape, int(layer.z_a), cfg, images),
        # A V: V's token tensor as its producer wrote it (codes; padding 128, the int8 0)
        "input2": (token_layout(layer.in_shape_b, 128, cfg, images) if in_place
                   else b_weight_layout(layer.in_shape_b, layer.transpose_b, images, cfg)),
        "bias": lay["bias"], "scale": lay["scale"],
        "expected": token_layout(layer.out_shape, int(layer.z_out), cfg, images),
        "output": token_layout(layer.out_shape, 255 - int(layer.z_out), cfg, images),
    }
    # the heads back to back in every segment that has them (a head starts a word of its own)
    for s, words in (("input", per_head["input"]), ("input2", w_words), ("output", per_head["output"])):
        if s == "input2" and in_place:
            continue  # V's heads are its token layout's (below)
        if layouts[s].words != images * h * words:
            raise LayoutError(f"layer {layer.name}: the {s} segment's heads are not {words} words apart")
    run = {k: v for k, v in view.descriptor.items()}
    lead = (0,) * (len(layer.in_shape_b) - 2)
    if in_place:
        b2 = layouts["input2"]
        t_len, c_len = (int(v) for v in layer.in_shape_b[-2:])  # b's tokens and channels (K: [.., T, D]; V: [.., T, D])
        r = cfg.array_rows
        first = element_address(b2, (0, *lead, 0, 0))[0]
        # a channel tile of b is the next word block: T words on
        tile_step = element_address(b2, (0, *lead, 0, r))[0] - first if c_len > r else 0
        tile = element_address(b2, (0, *lead, t_len - 1, c_len - 1))[0] - first + 1  # the head's words
        regs = descriptor_registers(run)
        if layer.transpose_b:
            # Q K^T: k_tile t reads tokens t R .. t R + R - 1 of every channel tile (register_needs'
            # k_tiles and channel tiles): the padded keys of the last k_tile read the next tile's first
            # tokens, which feed only padded output channels (their scale records, the layout's padding
            # M0 = 0, give z_out)
            n = register_needs(regs, r, cfg.word_bits)
            ends = (n.ct_in - 1) * tile_step + n.kt_out * r
            run.update(w_xor=1, w_kt_stride=tile_step, w_transpose=1)
        else:
            # A V: each k_tile reads the weight order's padded T (hexgen.rules.register_needs): the words
            # past V's channel tile land on a's padding channels (code z_a: (a - z_a) = 0)
            n = register_needs(regs, r, cfg.word_bits)
            ends = (n.kt_out - 1) * tile_step + n.weight
            run.update(w_xor=1, w_kt_stride=tile_step)
        # past the segment's end the reads land on the records after it, which must be there
        over = ends - tile
        after = lay["bias"].words + lay["scale"].words
        if over > after:
            raise LayoutError(f"layer {layer.name}: {'Q K^T' if layer.transpose_b else 'A V'} reads {over} words past "
                              f"b's segment; the records after it are {after}")
        lead_shape = tuple(int(v) for v in layer.in_shape_b[:-2])
        w_at = [element_address(b2, (0, *(int(j) for j in np.unravel_index(i, lead_shape)), 0, 0))[0] if lead_shape
                else first for i in range(h)]
    else:
        w_at = [i * w_words for i in range(h)]
    d = token_descriptor(layer)
    d.update(weight_bits=run["weight_bits"], runs=[{**run, "in_word": i * per_head["input"], "w_word": w_at[i],
                                                    "out_word": i * per_head["output"]} for i in range(h)])
    return LayerPlan(layer.name, layer.kind, tuple((s, layouts[s]) for s in TOKEN_SEGMENTS["matmul"]), ("run", *view.schedule),
                     view.pixel_tile, view.buffers, d, view.passes)


def matmul_records(layer: MatmulLayer) -> dict[str, Any]:
    """The bias and scale segments' arrays: [N, (mantissa, shift)] zeros and [N, (m0, n)]."""
    nn = int(layer.out_shape[-1])
    return {"bias": np.zeros((nn, 2), np.int64),
            "scale": np.stack([np.full(nn, layer.m0), np.full(nn, layer.n)], axis=1).astype(np.int64)}
