"""A transformer's matmul of two activations on the MAC array (issue 28 item 2): one engine run per
head, each a linear over the M rows of a (the tokens as pixels, K input channels) whose weights
are the head's b operand (N output channels), read where weights go.

golden.transformer.MatmulLayer: acc = sum_k (a - z_a) * (b - 128), y = requantize(acc; m0, n,
z_out, lo, hi). b's zero point is 128 by contract, so b - 128 is the int8 weight and the engine's
fc arithmetic is the matmul's exactly: Z_IN = z_a, a bias of 0 and every output channel's scale
record (m0, n).

Segments (hexgen.tokens.TOKEN_SEGMENTS["matmul"]):
* input: a as a token tensor, [n][h][c_tile][t][c_lane] (heads contiguous);
* input2: b as per-head fc weights, [n][h][k_tile][c_tile][c_lane][k_lane], int8 = code - 128
  (hexgen.tokens.b_weight_layout), the weight base of each head's run;
* bias, scale: the N output channels' records, shared by the heads (bias 0; scale m0, n);
* expected, output: token tensors, heads contiguous.

Descriptor: golden's matmul fields (hexgen.tokens.token_descriptor), and `runs`: per head the
descriptor of the linear the engine runs (hexgen.plan, kind "linear", [M, K] -> [M, N]) with the
word offsets of its input (in_word), weights (w_word) and output (out_word) in their segments
(tb.engine.csr.run_csrs adds them to the bases).
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


def plan_matmul(layer: MatmulLayer, cfg: HardwareConfig, images: int, check_fit: bool) -> Any:
    """The matmul's LayerPlan: the head linear's plan (hexgen.plan: schedule, buffers, passes) with
    the matmul's segments, and its descriptor with one run per head."""
    from hexgen.plan import LayerPlan, plan_layer
    from hexgen.tokens import TOKEN_SEGMENTS, b_weight_layout, token_descriptor, token_layout

    h = heads(layer)
    view = plan_layer(head_linear(layer), cfg, images=1, check_fit=check_fit)
    lay = dict(view.layouts)
    per_head = {s: lay[s].words for s in ("input", "output")}  # one image, one head: the linear's own layouts
    w_words = lay["weights"].words
    run = {k: v for k, v in view.descriptor.items()}
    d = token_descriptor(layer)
    d.update(weight_bits=run["weight_bits"], runs=[{**run, "in_word": i * per_head["input"], "w_word": i * w_words,
                                                    "out_word": i * per_head["output"]} for i in range(h)])
    layouts = {
        "input": token_layout(layer.in_shape, int(layer.z_a), cfg, images),
        "input2": b_weight_layout(layer.in_shape_b, layer.transpose_b, images, cfg),
        "bias": lay["bias"], "scale": lay["scale"],
        "expected": token_layout(layer.out_shape, int(layer.z_out), cfg, images),
        "output": token_layout(layer.out_shape, 255 - int(layer.z_out), cfg, images),
    }
    # the heads back to back in every segment that has them (a head starts a word of its own)
    for s, words in (("input", per_head["input"]), ("input2", w_words), ("output", per_head["output"])):
        if layouts[s].words != images * h * words:
            raise LayoutError(f"layer {layer.name}: the {s} segment's heads are not {words} words apart")
    return LayerPlan(layer.name, layer.kind, tuple((s, layouts[s]) for s in TOKEN_SEGMENTS["matmul"]), ("run", *view.schedule),
                     view.pixel_tile, view.buffers, d, view.passes)


def matmul_records(layer: MatmulLayer) -> dict[str, Any]:
    """The bias and scale segments' arrays: [N, (mantissa, shift)] zeros and [N, (m0, n)]."""
    nn = int(layer.out_shape[-1])
    return {"bias": np.zeros((nn, 2), np.int64),
            "scale": np.stack([np.full(nn, layer.m0), np.full(nn, layer.n)], axis=1).astype(np.int64)}
