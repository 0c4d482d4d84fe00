"""What the layer engine can run: the one definition of its descriptor rules.

rtl/desc_check.sv mirrors `engine_refusal` field by field, in the same order, and computes the
same derived sizes (`register_needs`); tb/engine/test_desc_check.py checks the two agree on random and
edge descriptors. hexgen.plan refuses a layer the engine cannot run with the same rule, so such a
layer is reported before any simulation (UNSUPP with the field), and the buffer needs hexgen
exports come from `register_needs` too.

The rule reads the descriptor as the engine's registers hold it (`descriptor_registers`: kind
code, 16-bit sizes, 8-bit clamp bounds), so random register values can be checked as well.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from golden import tf_arith
from golden.arith import conv_out_size, dilated_span
from hexgen.config import HardwareConfig

#: KIND register codes (conv and pointwise share one mapping; a transformer's linear over tokens is a
#: pointwise conv whose pixels are the tokens, engine_shapes; its add of a constant, the position
#: embedding, an add whose second input is the constant); add, maxpool, avgpool (global
#: average pool: a window of the whole image), upsample (nearest, whole factors) and concat (one
#: input of a concatenation copied, or requantized, into its place: hexgen.plan.concat_runs) run
#: on the vector unit (rtl/vec_unit.sv), and so does a transformer's GELU over [T, C] tokens (a
#: table lookup of one input, out = table[q]: the table loaded first, then an add's stream of one input).
#: A transformer's softmax and LayerNorm reduce over each token's channels: the row unit
#: (rtl/row_unit.sv) runs them on blocks of tokens (ROW_KINDS).
KIND_CODES = {"conv": 0, "pointwise": 0, "linear": 0, "depthwise": 1, "fc": 2, "add": 3, "add_const": 3, "maxpool": 4, "avgpool": 5, "upsample": 6,
              "concat": 7, "gelu": 8, "softmax": 9, "layernorm": 10}
VECTOR_KINDS = (KIND_CODES["add"], KIND_CODES["maxpool"], KIND_CODES["avgpool"], KIND_CODES["upsample"],
                KIND_CODES["concat"], KIND_CODES["gelu"])
#: The row unit's kinds. A pass is a block of BAND_ROWS x IN_W tokens (pixels): the unit reads
#: their rows (IN_C channels, ceil(IN_C / ROWS) words IN_H x IN_W apart) into its staging buffer,
#: runs the softmax or LayerNorm unit on each row, and gives the outputs in the layout's order.
ROW_KINDS = (KIND_CODES["softmax"], KIND_CODES["layernorm"])
#: The longest softmax row (golden.tf_arith.SM_MAX_ROW: the sum of its exp entries fits 32 bits) and
#: the widest LayerNorm (its sum of squares below 2^48, golden.tf_arith.layernorm_max_sumsq).
SM_MAX_ROW = tf_arith.SM_MAX_ROW
LN_MAX_C = max(c for c in range(2, 4096) if tf_arith.layernorm_max_sumsq(c) < 1 << (2 * tf_arith.LN_SQRT_ITERS))
#: accel_top's read, write, vector-unit and row-unit bursts (the RTL parameter's default): at most
#: MAX_BURST words.
MAX_BURST = 16
#: Largest nearest-upsampling factor per axis (an upsample's STRIDE_Y and STRIDE_X hold its factors;
#: DeepLab's image-pooling branch spreads a 1 x 1 map over its 65 x 65 features).
MAX_UPSAMPLE = 255
#: Largest pool window side (the vector unit's average divides by KH x KW with a 32-bit divider).
POOL_MAX_KERNEL = 255
#: Largest kernel side (accel_top's MAX_K) and stride the engine runs.
MAX_KERNEL = 16
MAX_STRIDE = 16
#: Largest kernel tap spacing (dilation) of a conv: the DIL_Y and DIL_X registers' 8 bits. A dilated
#: kernel of KH taps spans dilated_span(KH, DIL_Y) input rows (golden.arith).
MAX_DILATION = 255
#: The engine's step counter (steps per pixel tile) is 16 bits wide; its pixel counters are as wide
#: as the hardware description's pixel_bits (HardwareConfig.pixel_max).
COUNTER_MAX = 0xFFFF
#: The descriptor registers the rule reads.
REGISTERS = ("KIND", "IN_C", "IN_H", "IN_W", "OUT_C", "OUT_H", "OUT_W", "KH", "KW", "STRIDE_Y", "STRIDE_X",
             "PAD_TOP", "PAD_BOTTOM", "PAD_LEFT", "PAD_RIGHT", "GROUPS", "BAND_ROWS", "GROUP_KT", "ADD_SHIFT", "W_BITS",
             "LO", "HI", "DIL_Y", "DIL_X", "ROW_SHIFT", "W_TRANSPOSE")
#: Registers of how the weights are read, which the rule book does not judge: W_XOR (8-bit weights'
#: bit 7 inverted: a matmul's b codes as int8) and W_KT_STRIDE (words between output-channel tiles'
#: weights; 0: back to back). W_TRANSPOSE (each k_tile's weights read as `rows` consecutive words
#: of every channel tile, W_KT_STRIDE words apart, k_tiles `rows` words apart, each rows x rows block
#: of bytes transposed on its way into the bank: Q K^T's K as its producer wrote it, hexgen.matmul)
#: is judged (REGISTERS): only a conv or fc with a 1 x 1 kernel and 8-bit weights reads a word per
#: weight vector. Every run writes them (a layer's setting never leaks into the next).
WEIGHT_READ = ("W_XOR", "W_KT_STRIDE")
#: The row unit's constant, which the rule book does not judge either: ROW_K (two registers, low 32
#: bits and the rest) is a softmax's dividend D (52 bits) or a LayerNorm's eps_term E (48 bits).
#: Every run writes them.
ROW_CONSTANT = ("ROW_K_LO", "ROW_K_HI")
#: The W_BITS register of a layer without weights (add, pooling): its reset value, never read.
NO_WEIGHT_BITS = 8


def engine_shapes(d: Mapping[str, Any]) -> tuple[list[int], list[int]]:
    """A descriptor's input and output shapes as the engine's [C, H, W] images: an fc's [C] is a 1x1
    image; a transformer's token tensors [T, C] (a linear's, a residual add's, one head of a
    matmul's) are one-column images of T rows, the tokens as pixels (hexgen.tokens.token_layout: the same words as [c_tile][t][c_lane])."""
    ins, outs = list(d["in_shape"]), list(d["out_shape"])
    if d["kind"] in ("matmul", "softmax"):  # [.., M, K]: one head a run (hexgen.matmul, hexgen.tokens)
        ins, outs = ins[-2:], outs[-2:]
    if len(ins) == 2:
        return [ins[1], ins[0], 1], [outs[1], outs[0], 1]
    if len(ins) == 1:  # fc: a 1x1 image
        return [ins[0], 1, 1], [outs[0], 1, 1]
    return ins, outs


def descriptor_registers(d: Mapping[str, Any]) -> dict[str, int]:
    """A hexgen layer descriptor (memory map `layers[].descriptor`) as the engine's registers."""
    ins, outs = engine_shapes(d)
    row_k = int(d.get("dividend", 0) if d["kind"] == "softmax" else d.get("eps_term", 0))
    return {
        "KIND": KIND_CODES[d["kind"]],
        "IN_C": ins[0], "IN_H": ins[1], "IN_W": ins[2],
        "OUT_C": outs[0], "OUT_H": outs[1], "OUT_W": outs[2],
        "KH": d["kernel"][0], "KW": d["kernel"][1],
        "STRIDE_Y": d["stride"][0], "STRIDE_X": d["stride"][1],
        "PAD_TOP": d["padding"][0], "PAD_LEFT": d["padding"][1],
        "PAD_BOTTOM": d["padding_end"][0], "PAD_RIGHT": d["padding_end"][1],
        "GROUPS": d["groups"], "BAND_ROWS": d["band_rows"], "GROUP_KT": d["group_k_tiles"],
        "ADD_SHIFT": d["shift"] if KIND_CODES[d["kind"]] in (KIND_CODES["add"], KIND_CODES["concat"]) else 0,
        "W_BITS": _weight_bits(d), "LO": d["lo"], "HI": d["hi"],
        # a memory map written before dilation was run (issue 26) has none: taps adjacent
        "DIL_Y": d.get("dilation", (1, 1))[0], "DIL_X": d.get("dilation", (1, 1))[1],
        "W_XOR": int(d.get("w_xor", 0)), "W_KT_STRIDE": int(d.get("w_kt_stride", 0)),
        "W_TRANSPOSE": int(d.get("w_transpose", 0)),
        # the row unit's: a softmax's shift P and dividend D, a LayerNorm's sqrt_shift and eps_term
        "ROW_SHIFT": int(d.get("shift", 0) if d["kind"] == "softmax" else d.get("sqrt_shift", 0)),
        "ROW_K_LO": row_k & 0xFFFFFFFF, "ROW_K_HI": row_k >> 32,
    }


def descriptor_runs(d: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The engine runs of a layer descriptor, in order: a concat's runs (hexgen.concat: one per input
    the vector unit puts in place), a matmul's (hexgen.matmul: one linear per head), any other
    layer's one descriptor (a softmax over heads: one run per head, hexgen.tokens)."""
    return list(d["runs"]) if d["kind"] in ("concat", "matmul") or "runs" in d else [d]


def kernel_span(r: Mapping[str, int], axis: str) -> int:
    """The input rows (axis "Y") or columns ("X") one window covers: KH (KW) taps DIL_Y (DIL_X) apart."""
    return dilated_span(r["KH" if axis == "Y" else "KW"], r[f"DIL_{axis}"])


def _weight_bits(d: Mapping[str, Any]) -> int:
    """The width the layer's weights are stored at (hexgen.plan: HardwareConfig.weight_store_bits)."""
    if KIND_CODES[d["kind"]] in VECTOR_KINDS + ROW_KINDS:
        return NO_WEIGHT_BITS
    if "weight_bits" not in d:
        raise KeyError("weight_bits (the width its weights are stored at)")
    return int(d["weight_bits"])


@dataclass(frozen=True)
class Needs:
    """A layer's derived sizes, as the engine computes them from its registers."""

    depthwise: bool
    ct_in: int      # input channel tiles (array_rows channels each)
    kt_out: int     # output channel tiles
    plane: int      # input rows x columns
    npix: int       # output pixels
    steps: int      # steps per pixel tile: conv (c_tile, ky, kx); depthwise (ky, kx)
    act: int        # activation buffer words: one band's input rows (halo included) of every channel
                    # tile (depthwise: of GROUP_KT channel tiles, a group's own)
    weight: int     # weight bank words: one k_tile of weights (W_BITS-bit weights, 8 / W_BITS
                    # vectors to a word when packed)
    out: int        # output words
    records: int    # words of bias (and of scale) records of one output-channel group: ROWS 64-bit
                    # records per k_tile, packed into words of word_bits
    band_in_rows: int  # input rows a pass of BAND_ROWS output rows loads at most (pass_in_rows: halo included, or its tap rows)


def register_needs(r: Mapping[str, int], rows: int, word_bits: int | None = None) -> Needs:
    """word_bits defaults to rows x 8 (one channel vector per word)."""
    wb = word_bits or rows * 8
    dw = r["KIND"] == KIND_CODES["depthwise"]
    ct_in = -(-r["IN_C"] // rows)
    kt_out = -(-r["OUT_C"] // rows)
    npix = r["OUT_H"] * r["OUT_W"]
    steps = r["KH"] * r["KW"] * (1 if dw else ct_in)
    in_rows = pass_in_rows(r)
    # a depthwise pass reads only its own channel tiles (one per output-channel tile of its group)
    act_tiles = r["GROUP_KT"] if dw else ct_in
    return Needs(dw, ct_in, kt_out, r["IN_H"] * r["IN_W"], npix, steps, act_tiles * in_rows * r["IN_W"],
                 weight_words_per_k_tile(steps if dw else steps * rows, r["W_BITS"]), kt_out * npix,
                 r["GROUP_KT"] * record_words_per_k_tile(rows, wb), in_rows)


def weight_bits_refusal(w_bits: int, cfg: HardwareConfig) -> str:
    return (f"weights of {w_bits} bits: the engine unpacks {', '.join(map(str, cfg.weight_bits))}-bit weights "
            "(the hardware description's weight_bits)")


#: Weight widths stored several to a byte (hexgen.plan packs them; rtl/wgt_unpack.sv unpacks them).
PACKED_WEIGHT_BITS = (2, 4)


def weight_words_per_k_tile(vectors: int, w_bits: int) -> int:
    """Weight bank words of one k_tile's `vectors` weight vectors (ROWS elements each; one word each
    at 8 bits on the engine, where word_bits = ROWS x 8): packed widths (2, 4 bits) 8 / W_BITS to a
    word, the k_tile's block padded to whole words, as hexgen.plan lays them out; any other W_BITS
    as 8-bit."""
    if w_bits in PACKED_WEIGHT_BITS:
        return -(-vectors * w_bits // 8)
    return vectors


def record_words_per_k_tile(rows: int, word_bits: int) -> int:
    """ROWS 64-bit records (one per output channel of a k_tile) packed into words (REC_WPK: 8 for
    every size the engine builds, word_bits = rows x 8; at least one word for layouts hexgen makes
    for other word widths)."""
    return -(-rows * 64 // word_bits)


def band_in_rows(band_rows: int, stride: int, kernel: int, in_h: int) -> int:
    """The input rows a band of `band_rows` output rows reads at most: its own rows at the stride
    plus the halo (kernel - stride rows shared with the next band), never more than the image."""
    return min(in_h, max(0, band_rows - 1) * stride + kernel)


def tap_rows(r: Mapping[str, int], band_rows: int | None = None) -> bool:
    """Whether a pass of `band_rows` (default BAND_ROWS) output rows loads only its window's tap
    rows: one output row of a dilated conv reads KH rows DIL_Y apart, not the DIL_Y x (KH - 1) + 1
    rows its window spans (DeepLab's ASPP at dilation 18: 3 rows of 37), so those are all a pass
    loads (row step DIL_Y in memory); the gather then sees the taps as adjacent rows."""
    return (r["BAND_ROWS"] if band_rows is None else band_rows) == 1 and r["DIL_Y"] > 1


def pass_in_rows(r: Mapping[str, int], band_rows: int | None = None) -> int:
    """The input rows a pass of `band_rows` output rows loads at most: its taps' rows (tap_rows),
    else its band's rows with the halo (band_in_rows)."""
    b = r["BAND_ROWS"] if band_rows is None else band_rows
    if tap_rows(r, b):
        return min(r["KH"], r["IN_H"])
    return band_in_rows(b, r["STRIDE_Y"], kernel_span(r, "Y"), r["IN_H"])


# ---- bands and output-channel groups -----------------------------------------------------------
# A layer whose input does not fit the activation buffer runs in bands of BAND_ROWS output rows;
# one whose records do not fit the record buffers in groups of GROUP_KT output-channel tiles. The
# engine walks the passes itself (rtl/band_seq.sv mirrors `passes`, band outer, group inner): each
# pass is the layer cut to its output rows and channel tiles, run exactly as a layer is run, with
# its input rows loaded into the activation buffer from row 0 and its output written in place.


@dataclass(frozen=True)
class Pass:
    """One pass of a layer: a band of output rows and a group of output-channel tiles."""

    band: int
    group: int
    out_y: int       # first output row
    out_rows: int
    in_y: int        # first input row it loads (0 <= in_y < IN_H)
    in_rows: int     # input rows it loads, halo included, clipped to the image (tap_rows: its taps' rows)
    pad_top: int     # zero rows above its first loaded row (the layer's padding, first band only;
    pad_bottom: int  # tap_rows: taps above / below the image) and below its last (last band only)
    k_tile: int      # first output-channel tile
    k_tiles: int
    c_tile: int      # first input channel tile it loads (depthwise: its k_tile; else 0)
    c_tiles: int     # input channel tiles it loads (depthwise: its k_tiles; else all)
    npix: int        # its output pixels (out_rows x OUT_W)
    act: int         # activation buffer words it fills (c_tiles channel tiles of in_rows rows)
    in_offset: int   # word offsets from the layer's segment bases: input (each channel tile's rows
    out_offset: int  # at the layer's plane stride), output, weights, bias and scale records
    w_offset: int
    rec_offset: int


def passes(r: Mapping[str, int], rows: int, word_bits: int | None = None) -> list[Pass]:
    """Every pass of the layer, in the engine's order (band outer, output-channel group inner)."""
    wb = word_bits or rows * 8
    n = register_needs(r, rows, wb)
    sy, kh, in_h, in_w, out_w = r["STRIDE_Y"], kernel_span(r, "Y"), r["IN_H"], r["IN_W"], r["OUT_W"]
    out: list[Pass] = []
    taps, dy = tap_rows(r), r["DIL_Y"]
    for band, oy0 in enumerate(range(0, r["OUT_H"], r["BAND_ROWS"])):
        oy1 = min(oy0 + r["BAND_ROWS"], r["OUT_H"])
        first = oy0 * sy - r["PAD_TOP"]             # input row of the band's first window (may be < 0)
        last = (oy1 - 1) * sy - r["PAD_TOP"] + kh - 1  # input row of its last window's bottom (may be >= IN_H)
        iy0, iy1 = max(first, 0), min(last, in_h - 1)
        pad_top, pad_bottom = iy0 - first, last - iy1
        if taps:  # its taps' rows only, DIL_Y apart: ky0..ky1 in the image; padding counted in taps
            ky0 = max(0, -(first // dy)) if first < 0 else 0
            ky1 = min(r["KH"] - 1, (in_h - 1 - first) // dy)
            if ky1 < ky0:  # no tap row in the image: one row loaded, every tap in the padding above it
                iy0, iy1, pad_top, pad_bottom = min(max(first, 0), in_h - 1), min(max(first, 0), in_h - 1), r["KH"], 0
            else:
                iy0 = first + ky0 * dy
                iy1 = iy0 + ky1 - ky0  # the loaded rows, counted (they lie DIL_Y apart in memory)
                pad_top, pad_bottom = ky0, r["KH"] - 1 - ky1
        for group, kt0 in enumerate(range(0, n.kt_out, r["GROUP_KT"])):
            kts = min(r["GROUP_KT"], n.kt_out - kt0)
            ct0, cts = (kt0, kts) if n.depthwise else (0, n.ct_in)
            out.append(Pass(band, group, oy0, oy1 - oy0, iy0, iy1 - iy0 + 1, pad_top, pad_bottom, kt0, kts, ct0, cts,
                            (oy1 - oy0) * out_w, cts * (iy1 - iy0 + 1) * in_w, ct0 * n.plane + iy0 * in_w,
                            kt0 * n.npix + oy0 * out_w, kt0 * weight_kt_step(r, rows, n.weight),
                            kt0 * record_words_per_k_tile(rows, wb)))
    return out


def weight_kt_step(r: Mapping[str, int], rows: int, weight: int) -> int:
    """Words from one k_tile's weights to the next's in the weight segment: `rows` (tokens) when
    W_TRANSPOSE reads them transposed, else W_KT_STRIDE, or (0) the k_tile's own `weight` words."""
    if r.get("W_TRANSPOSE"):
        return rows
    return r.get("W_KT_STRIDE") or weight


def input_loads(depthwise: bool, c_tiles: int, in_rows: int, in_h: int) -> list[tuple[range, int]]:
    """The order in which the engine loads a pass's input rows, one entry per read command:
    (channel tiles of the pass, counted from its first, and input row y of the pass). Each
    command's arrival counts one in the input-row scoreboard, and the gather waits for the entry
    that holds the row it reads (rtl/load_seq.sv, rtl/gather.sv mirror this).
    - conv, pointwise: row y of every channel tile (a step reads all the channel tiles of a row);
    - an image of one row (fc, IN_H = 1; not depthwise): the whole input in one command;
    - depthwise: channel tile by channel tile, k_tile t's records and weights just before tile t
      (k_tile t reads only tile t), so k_tile 0 runs on its own rows while the others arrive."""
    if depthwise:
        return [(range(t, t + 1), y) for t in range(c_tiles) for y in range(in_rows)]
    if in_h == 1:
        return [(range(c_tiles), 0)]
    return [(range(c_tiles), y) for y in range(in_rows)]


def plan_tiling(r: Mapping[str, int], cfg: HardwareConfig) -> dict[str, int]:
    """BAND_ROWS and GROUP_KT for a layer (registers without them): the fewest passes whose input
    rows fit the activation buffer and whose records fit the record buffers, their sizes evened
    out (112 rows in bands of at most 35 become 4 bands of 28, not 35, 35, 35 and 7); a depthwise
    layer's groups also as small as one output row of their channel tiles needs. When not even
    one output row fits, BAND_ROWS is 1 and engine_refusal names the buffer."""
    ct_in = -(-r["IN_C"] // cfg.array_rows)
    kt_out = max(1, -(-r["OUT_C"] // cfg.array_rows))
    if r["KIND"] in ROW_KINDS:  # blocks of tokens whose rows fit the row unit (row_refusal), one burst a tile
        out_h = max(r["OUT_H"], 1)
        most = min(MAX_BURST, cfg.row_buf_words // ct_in) // max(1, r["IN_W"])
        return {"BAND_ROWS": _even(out_h, max(1, min(out_h, most))), "GROUP_KT": kt_out}
    group = _even(kt_out, max(1, min(kt_out, cfg.bias_buf_words // record_words_per_k_tile(cfg.array_rows, cfg.word_bits))))
    if r["KIND"] == KIND_CODES["depthwise"]:
        # a depthwise pass loads its group's channel tiles only: when one output row of them does not
        # fit the activation buffer, fewer tiles a group (DeepLab's 192-channel depthwise at 65 x 65
        # on the default preset: 24 tiles x 3 rows x 65 = 4,680 words of 4,096)
        while group > 1 and group * pass_in_rows(r, 1) * r["IN_W"] > cfg.act_buf_words:
            group -= 1
        group = _even(kt_out, group)
    act_tiles = group if r["KIND"] == KIND_CODES["depthwise"] else ct_in  # as register_needs
    out_h = max(r["OUT_H"], 1)
    band = out_h
    while band > 1 and act_tiles * pass_in_rows(r, band) * r["IN_W"] > cfg.act_buf_words:
        band -= 1
    return {"BAND_ROWS": _even(out_h, band), "GROUP_KT": group}


def row_refusal(r: Mapping[str, int], cfg: HardwareConfig) -> tuple[str, str] | None:
    """The row unit's rules (softmax, LayerNorm), after the shape rules every kind has: a block of
    BAND_ROWS x IN_W tokens is one read burst per channel tile and fits the staging buffers; the
    row's length and the shift are the units' (rtl/softmax_unit.sv, rtl/layernorm_unit.sv)."""
    ln = r["KIND"] == KIND_CODES["layernorm"]
    ct = -(-r["IN_C"] // cfg.array_rows)
    block = r["BAND_ROWS"] * r["IN_W"]
    if ln and not 2 <= r["IN_C"] <= LN_MAX_C:
        return "IN_C", f"LayerNorm over {r['IN_C']} channels: 2..{LN_MAX_C} (its sum of squares below 2^48)"
    if not ln and r["IN_C"] > SM_MAX_ROW:
        return "IN_C", f"softmax over rows of {r['IN_C']}: at most {SM_MAX_ROW} (the sum of the exp entries fits 32 bits)"
    if ln and ct > cfg.ln_tiles:
        return "IN_C", (f"LayerNorm over {r['IN_C']} channels, {ct} channel tiles of records: the row unit's record "
                        f"buffer holds {cfg.ln_tiles} (the hardware description's ln_tiles)")
    if ct > cfg.row_buf_words:
        return "IN_C", (f"a row of {r['IN_C']} channels is {ct} words: the row unit's buffers hold {cfg.row_buf_words} "
                        "(the hardware description's row_buf_words)")
    if block > MAX_BURST or block * ct > cfg.row_buf_words:
        return "BAND_ROWS", (f"a block of {r['BAND_ROWS']} rows of {r['IN_W']} tokens: the row unit reads at most "
                             f"{MAX_BURST} tokens a burst and holds {cfg.row_buf_words // ct} rows of {ct} words "
                             f"(row_buf_words = {cfg.row_buf_words})")
    shift_lo, shift_hi = (0, tf_arith.LN_SQRT_ITERS - 1) if ln else (1, 63)
    if not shift_lo <= r["ROW_SHIFT"] <= shift_hi:
        return "ROW_SHIFT", f"{'sqrt_shift' if ln else 'shift'} {r['ROW_SHIFT']}: {shift_lo}..{shift_hi}"
    return ("LO", f"clamp bounds lo {r['LO']} > hi {r['HI']}") if r["LO"] > r["HI"] else None


def _even(size: int, most: int) -> int:
    """The part size that cuts `size` into as few parts of at most `most` as possible, evened out."""
    parts = -(-size // most)
    return -(-size // parts)


def engine_refusal(r: Mapping[str, int], cfg: HardwareConfig, *, max_kernel: int = MAX_KERNEL) -> tuple[str, str] | None:
    """The first register the engine cannot run and why, or None if it runs the descriptor.
    `cfg`'s buffer depths are the engine's ACT_WORDS, WGT_WORDS and REC_WORDS."""
    kind, fc = r["KIND"], r["KIND"] == KIND_CODES["fc"]
    add, vec, up = kind == KIND_CODES["add"], kind in VECTOR_KINDS, kind == KIND_CODES["upsample"]
    cat, gelu, row = kind == KIND_CODES["concat"], kind == KIND_CODES["gelu"], kind in ROW_KINDS
    # an add's shape rules: kernel 1, stride 1, channels kept (GELU: an add of one input; softmax and
    # LayerNorm: a token's channels in, its channels out)
    one = add or gelu or row
    n = register_needs(r, cfg.array_rows, cfg.word_bits)
    if kind not in KIND_CODES.values():
        return "KIND", f"kind code {kind} is none of {sorted(set(KIND_CODES.values()))}"
    if row and cfg.array_rows % 4:
        return "KIND", (f"softmax and LayerNorm run on the row unit, which a build of {cfg.array_rows} rows has not "
                        "(its words hold no whole 32-bit exp table entries: rows a multiple of 4)")
    for f in ("IN_C", "IN_H", "IN_W", "OUT_C"):
        if r[f] == 0:
            return f, "is 0"
    k_max = POOL_MAX_KERNEL if vec else max_kernel
    for f in ("KH", "KW"):
        if r[f] == 0 or r[f] > k_max or ((fc or one or up or cat) and r[f] != 1):
            return f, f"kernel {r[f]}: 1..{k_max}" + (" (fc, add, gelu, softmax, layernorm, upsample, concat: 1)"
                                                        if fc or one or up or cat else "")
    # the transposed weight read fills a weight vector from a byte of each of ROWS words: 8-bit weights,
    # one vector per input channel (a 1 x 1 conv or an fc, not depthwise, on the array)
    if r.get("W_TRANSPOSE", 0) and (vec or row or n.depthwise or r["KH"] != 1 or r["KW"] != 1 or r["W_BITS"] != 8):
        return "W_TRANSPOSE", (f"transposed weights (Q K^T's K) need a 1 x 1 conv or fc with 8-bit weights on the MAC "
                               f"array, not a {next(k for k, v in KIND_CODES.items() if v == kind)} with a {r['KH']} x {r['KW']} kernel and {r['W_BITS']}-bit weights")
    for f in ("STRIDE_Y", "STRIDE_X"):  # an upsample's: its factor
        s_max = MAX_UPSAMPLE if up else MAX_STRIDE
        if not 1 <= r[f] <= s_max or ((one or cat) and r[f] != 1):
            return f, (f"upsampling factor {r[f]}: 1..{s_max}" if up else
                       f"stride {r[f]}: 1..{s_max}" + (" (add, gelu, softmax, layernorm, concat: 1)" if one or cat else ""))
    for f in ("DIL_Y", "DIL_X"):
        if not 1 <= r[f] <= MAX_DILATION or ((vec or fc or row) and r[f] != 1):
            return f, f"dilation {r[f]}: 1..{MAX_DILATION}" + (" (fc, add, pooling, softmax, layernorm: 1)" if vec or fc or row else "")
    for f, axis in (("PAD_TOP", "Y"), ("PAD_BOTTOM", "Y"), ("PAD_LEFT", "X"), ("PAD_RIGHT", "X")):
        span = kernel_span(r, axis)
        if r[f] >= span or (kind in (KIND_CODES["avgpool"], KIND_CODES["upsample"]) and r[f] != 0):
            return f, f"padding {r[f]} must be below the kernel's span ({span})" + (" (average pool, upsample: 0)" if vec else "")
    if vec or row:
        if r["GROUPS"] != 1:
            return "GROUPS", f"groups {r['GROUPS']}: 1 for add, pooling, softmax and layernorm"
        if cat and not 0 <= r["OUT_C"] - r["IN_C"] < cfg.array_rows:
            return "OUT_C", (f"{r['OUT_C']} output channels for {r['IN_C']} input channels: a concat run's input starts "
                             f"OUT_C - IN_C = 0..{cfg.array_rows - 1} lanes into its first channel tile")
        if not cat and r["OUT_C"] != r["IN_C"]:
            return "OUT_C", f"{r['OUT_C']} output channels: add, pooling, softmax and layernorm keep the {r['IN_C']} input channels"
    elif n.depthwise and (r["GROUPS"] != r["IN_C"] or r["OUT_C"] != r["IN_C"]):
        return "GROUPS", f"depthwise needs groups = in channels = out channels ({r['GROUPS']}, {r['IN_C']}, {r['OUT_C']})"
    if not n.depthwise and r["GROUPS"] != 1:
        return "GROUPS", f"groups {r['GROUPS']}: the engine runs groups = 1 and depthwise only"
    for f, size, before, after, axis in (("OUT_H", "IN_H", "PAD_TOP", "PAD_BOTTOM", "Y"),
                                         ("OUT_W", "IN_W", "PAD_LEFT", "PAD_RIGHT", "X")):
        k, d, st = r["KH" if axis == "Y" else "KW"], r[f"DIL_{axis}"], r[f"STRIDE_{axis}"]
        if up:
            if r[f] != r[size] * st:
                return f, f"output size {r[f]} is not the input's {r[size]} times the upsampling factor {st}"
        elif r[size] + r[before] + r[after] < kernel_span(r, axis) or r[f] != conv_out_size(r[size], r[before], r[after], k, st, d):
            return f, f"output size {r[f]} does not follow from the input, kernel, dilation, stride and padding"
    if not 1 <= r["BAND_ROWS"] <= r["OUT_H"] or (vec and r["BAND_ROWS"] != r["OUT_H"]):
        return "BAND_ROWS", (f"band of {r['BAND_ROWS']} output rows: 1..{r['OUT_H']} (the output height)"
                             + ("; the vector unit's layers run in one pass" if vec else ""))
    if not 1 <= r["GROUP_KT"] <= n.kt_out or ((vec or row) and r["GROUP_KT"] != n.kt_out):
        return "GROUP_KT", (f"group of {r['GROUP_KT']} output-channel tiles: 1..{n.kt_out} (the layer's tiles)"
                            + ("; the vector unit's layers run in one pass" if vec else "")
                            + ("; the row unit's passes hold every channel of their tokens" if row else ""))
    if n.npix > cfg.pixel_max:
        return "OUT_H", (f"output image of {n.npix} pixels: the engine counts at most {cfg.pixel_max} "
                         f"(the hardware description's pixel_bits = {cfg.pixel_bits})")
    if vec:  # the vector unit reads memory directly: no buffer to fit
        if (add or cat) and not 1 <= r["ADD_SHIFT"] <= 63:
            return "ADD_SHIFT", f"shift {r['ADD_SHIFT']}: 1..63"
        return ("LO", f"clamp bounds lo {r['LO']} > hi {r['HI']}") if r["LO"] > r["HI"] else None
    if row:  # the row unit reads memory directly, a block of tokens at a time (row_refusal)
        return row_refusal(r, cfg)
    if n.steps > COUNTER_MAX:
        return "IN_C", f"{n.steps} steps per pixel tile: the engine counts at most {COUNTER_MAX}"
    if n.act > cfg.act_buf_words:
        return "BAND_ROWS", (f"a band of {r['BAND_ROWS']} output rows reads {n.band_in_rows} input rows, {n.act} words of "
                             f"the act buffer, which holds {cfg.act_buf_words}")
    if r["W_BITS"] not in cfg.weight_bits:
        return "W_BITS", weight_bits_refusal(r["W_BITS"], cfg)
    if n.weight > cfg.weight_buf_words:
        return "IN_C", f"one output-channel tile of weights needs {n.weight} words of a weight bank, which holds {cfg.weight_buf_words}"
    if n.records > cfg.bias_buf_words:
        return "GROUP_KT", (f"the bias/scale records of {r['GROUP_KT']} output-channel tiles need {n.records} words; "
                            f"the record buffers hold {cfg.bias_buf_words}")
    if r["LO"] > r["HI"]:
        return "LO", f"clamp bounds lo {r['LO']} > hi {r['HI']}"
    return None
