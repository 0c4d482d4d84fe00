"""What the layer engine can run: the one definition of its descriptor rules.

rtl/desc_check.sv mirrors `engine_refusal` field by field, in the same order, and computes the
same derived sizes (`register_needs`); tb/test_desc_check.py checks the two agree on random and
edge descriptors. hexgen.plan refuses a layer the engine cannot run with the same rule, so such a
layer is reported before any simulation (UNSUPP with the field), and the buffer needs hexgen
exports come from `register_needs` too.

The rule reads the descriptor as the engine's registers hold it (`descriptor_registers`: kind
code, 16-bit sizes, 8-bit clamp bounds), so random register values can be checked as well.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from golden.arith import conv_out_size
from hexgen.config import HardwareConfig

#: KIND register codes (conv and pointwise share one mapping).
KIND_CODES = {"conv": 0, "pointwise": 0, "depthwise": 1, "fc": 2}
#: Largest kernel side (accel_top's MAX_K) and stride the engine runs.
MAX_KERNEL = 7
MAX_STRIDE = 4
#: The engine's plane (input rows x columns), pixel and step counters are 16 bits wide.
COUNTER_MAX = 0xFFFF
#: The descriptor registers the rule reads.
REGISTERS = ("KIND", "IN_C", "IN_H", "IN_W", "OUT_C", "OUT_H", "OUT_W", "KH", "KW", "STRIDE_Y", "STRIDE_X",
             "PAD_TOP", "PAD_BOTTOM", "PAD_LEFT", "PAD_RIGHT", "GROUPS", "LO", "HI")


def descriptor_registers(d: Mapping[str, Any]) -> dict[str, int]:
    """A hexgen layer descriptor (memory map `layers[].descriptor`) as the engine's registers."""
    ins, outs = list(d["in_shape"]), list(d["out_shape"])
    if len(ins) == 1:  # fc: a 1x1 image
        ins, outs = [ins[0], 1, 1], [outs[0], 1, 1]
    return {
        "KIND": KIND_CODES[d["kind"]],
        "IN_C": ins[0], "IN_H": ins[1], "IN_W": ins[2],
        "OUT_C": outs[0], "OUT_H": outs[1], "OUT_W": outs[2],
        "KH": d["kernel"][0], "KW": d["kernel"][1],
        "STRIDE_Y": d["stride"][0], "STRIDE_X": d["stride"][1],
        "PAD_TOP": d["padding"][0], "PAD_LEFT": d["padding"][1],
        "PAD_BOTTOM": d["padding_end"][0], "PAD_RIGHT": d["padding_end"][1],
        "GROUPS": d["groups"], "LO": d["lo"], "HI": d["hi"],
    }


@dataclass(frozen=True)
class Needs:
    """A layer's derived sizes, as the engine computes them from its registers."""

    depthwise: bool
    ct_in: int      # input channel tiles (array_rows channels each)
    kt_out: int     # output channel tiles
    plane: int      # input rows x columns
    npix: int       # output pixels
    steps: int      # steps per pixel tile: conv (c_tile, ky, kx); depthwise (ky, kx)
    act: int        # activation buffer words: the whole input image
    weight: int     # weight bank words: one k_tile of weights
    out: int        # output words
    records: int    # words of bias (and of scale) records of every output channel: ROWS 64-bit
                    # records per k_tile, packed into words of word_bits


def register_needs(r: Mapping[str, int], rows: int, word_bits: int | None = None) -> Needs:
    """word_bits defaults to rows x 8 (one channel vector per word)."""
    wb = word_bits or rows * 8
    dw = r["KIND"] == KIND_CODES["depthwise"]
    ct_in = -(-r["IN_C"] // rows)
    kt_out = -(-r["OUT_C"] // rows)
    npix = r["OUT_H"] * r["OUT_W"]
    steps = r["KH"] * r["KW"] * (1 if dw else ct_in)
    return Needs(dw, ct_in, kt_out, r["IN_H"] * r["IN_W"], npix, steps, ct_in * r["IN_H"] * r["IN_W"],
                 steps if dw else steps * rows, kt_out * npix, kt_out * (rows * 64 // wb))


def engine_refusal(r: Mapping[str, int], cfg: HardwareConfig, *, max_kernel: int = MAX_KERNEL) -> tuple[str, str] | None:
    """The first register the engine cannot run and why, or None if it runs the descriptor.
    `cfg`'s buffer depths are the engine's ACT_WORDS, WGT_WORDS and REC_WORDS."""
    kind, fc = r["KIND"], r["KIND"] == KIND_CODES["fc"]
    n = register_needs(r, cfg.array_rows, cfg.word_bits)
    if kind not in KIND_CODES.values():
        return "KIND", f"kind code {kind} is none of {sorted(set(KIND_CODES.values()))}"
    for f in ("IN_C", "IN_H", "IN_W", "OUT_C"):
        if r[f] == 0:
            return f, "is 0"
    for f in ("KH", "KW"):
        if r[f] == 0 or r[f] > max_kernel or (fc and r[f] != 1):
            return f, f"kernel {r[f]}: 1..{max_kernel}" + (" (fc: 1)" if fc else "")
    for f in ("STRIDE_Y", "STRIDE_X"):
        if not 1 <= r[f] <= MAX_STRIDE:
            return f, f"stride {r[f]}: 1..{MAX_STRIDE}"
    for f, k in (("PAD_TOP", "KH"), ("PAD_BOTTOM", "KH"), ("PAD_LEFT", "KW"), ("PAD_RIGHT", "KW")):
        if r[f] >= r[k]:
            return f, f"padding {r[f]} must be below the kernel ({r[k]})"
    if n.depthwise and (r["GROUPS"] != r["IN_C"] or r["OUT_C"] != r["IN_C"]):
        return "GROUPS", f"depthwise needs groups = in channels = out channels ({r['GROUPS']}, {r['IN_C']}, {r['OUT_C']})"
    if not n.depthwise and r["GROUPS"] != 1:
        return "GROUPS", f"groups {r['GROUPS']}: the engine runs groups = 1 and depthwise only"
    for f, size, before, after, k, s in (("OUT_H", "IN_H", "PAD_TOP", "PAD_BOTTOM", "KH", "STRIDE_Y"),
                                         ("OUT_W", "IN_W", "PAD_LEFT", "PAD_RIGHT", "KW", "STRIDE_X")):
        if r[size] + r[before] + r[after] < r[k] or r[f] != conv_out_size(r[size], r[before], r[after], r[k], r[s]):
            return f, f"output size {r[f]} does not follow from the input, kernel, stride and padding"
    if n.plane > COUNTER_MAX:
        return "IN_H", f"input image of {n.plane} pixels: the engine counts at most {COUNTER_MAX}"
    if n.npix > COUNTER_MAX:
        return "OUT_H", f"output image of {n.npix} pixels: the engine counts at most {COUNTER_MAX}"
    if n.steps > COUNTER_MAX:
        return "IN_C", f"{n.steps} steps per pixel tile: the engine counts at most {COUNTER_MAX}"
    if n.act > cfg.act_buf_words:
        return "IN_C", f"the input image needs {n.act} words of the act buffer, which holds {cfg.act_buf_words}"
    if n.weight > cfg.weight_buf_words:
        return "IN_C", f"one output-channel tile of weights needs {n.weight} words of a weight bank, which holds {cfg.weight_buf_words}"
    if n.records > cfg.bias_buf_words:
        return "OUT_C", f"the bias/scale records need {n.records} words; the record buffers hold {cfg.bias_buf_words}"
    if r["LO"] > r["HI"]:
        return "LO", f"clamp bounds lo {r['LO']} > hi {r['HI']}"
    return None
