"""cocotb bench of rtl/desc_check.sv (the engine's descriptor decode and check) against hexgen's
rule book (hexgen.rules: engine_refusal, register_needs), never a formula written here.

Descriptors: layers the engine runs (kind, channels, image, kernel, stride, padding drawn at
random, output sizes from the conv formula's owner, hexgen.rules), each then either kept or with
one register set to an edge or random value (0, 1, the limit, one past it, 65535). Every
refusal field of the rule must be hit at least once, so a generator that stopped reaching a
branch fails the test. The engine's counters (output pixels: PIX_W bits, the description's
pixel_bits; steps per pixel tile: 16 bits) are met exactly at their largest value and one past it
by layers built for it (no register reaches those products on its own). Environment: RTL_SEED (default random, printed), RTL_PARAMS (the build's
parameters, set by tb.sim.run), DESC_CASES (descriptors per run).
"""
from __future__ import annotations

import ast
import os
import random
from typing import Any

import cocotb
from cocotb.triggers import Timer

from golden.arith import conv_out_size, dilated_span
from hexgen import HardwareConfig
from hexgen.config import WEIGHT_WIDTHS
from hexgen.rules import (COUNTER_MAX, KIND_CODES, LN_MAX_C, MAX_KERNEL, REGISTERS, ROW_KINDS, SM_MAX_ROW, VECTOR_KINDS,
                          engine_refusal, kernel_span, plan_tiling, register_needs)
from tb.engine.csr import BITS, CSR, field_name
from tb.sim import bench_seed

TEST_FILE = "tests/test_rtl_desc_check.py"
PORTS = {"KIND": "kind_i", "IN_C": "in_c_i", "IN_H": "in_h_i", "IN_W": "in_w_i", "OUT_C": "out_c_i", "OUT_H": "out_h_i",
         "OUT_W": "out_w_i", "KH": "kh_i", "KW": "kw_i", "STRIDE_Y": "sy_i", "STRIDE_X": "sx_i",
         "PAD_TOP": "pad_top_i", "PAD_BOTTOM": "pad_bottom_i", "PAD_LEFT": "pad_left_i", "PAD_RIGHT": "pad_right_i",
         "GROUPS": "groups_i", "BAND_ROWS": "band_rows_i", "GROUP_KT": "group_kt_i", "ADD_SHIFT": "add_shift_i",
         "W_BITS": "w_bits_i", "LO": "lo_i", "HI": "hi_i", "DIL_Y": "dil_y_i", "DIL_X": "dil_x_i", "ROW_SHIFT": "row_shift_i",
         "W_TRANSPOSE": "w_tr_i"}
DEFAULTS = {"ROWS": 8, "WORD_BITS": 64, "ACT_WORDS": 4096, "WGT_WORDS": 2048, "REC_WORDS": 256, "MAX_K": MAX_KERNEL,
            "WGT_WIDTHS": HardwareConfig().weight_widths_mask, "PIX_W": HardwareConfig().pixel_bits,
            "ROW_WORDS": HardwareConfig().row_buf_words, "LN_TILES": HardwareConfig().ln_tiles}


def build_params() -> dict[str, int]:
    return {**DEFAULTS, **dict(ast.literal_eval(os.environ.get("RTL_PARAMS", "[]")))}


def config(p: dict[str, int]) -> HardwareConfig:
    return HardwareConfig(array_rows=p["ROWS"], word_bits=p["WORD_BITS"], act_buf_words=p["ACT_WORDS"], weight_buf_words=p["WGT_WORDS"],
                          bias_buf_words=p["REC_WORDS"], scale_buf_words=p["REC_WORDS"],
                          weight_bits=tuple(b for b in WEIGHT_WIDTHS if p["WGT_WIDTHS"] >> b & 1), pixel_bits=p["PIX_W"],
                          row_buf_words=p["ROW_WORDS"], ln_tiles=p["LN_TILES"])


def runnable(rng: random.Random, p: dict[str, int]) -> dict[str, int]:
    """A layer the engine can run more often than not: channels and images drawn against the build's
    buffers, now and then right at their limits or past them, cut into the bands and output-channel
    groups hexgen plans (hexgen.rules.plan_tiling) or, now and then, run whole."""
    rows = p["ROWS"]
    kind = rng.choice(["conv", "depthwise", "fc", "add", "maxpool", "avgpool", "upsample", "concat", "gelu", "softmax", "layernorm"])
    c = rng.randint(1, 3 * rows)
    max_k = max(1, 2 * p["REC_WORDS"])  # output channels up to twice the record buffers
    if kind == "fc":
        r = {"KIND": KIND_CODES["fc"], "IN_C": rng.randint(1, rows * p["WGT_WORDS"] // rows), "IN_H": 1, "IN_W": 1,
             "OUT_C": rng.randint(1, max_k), "KH": 1, "KW": 1, "STRIDE_Y": 1, "STRIDE_X": 1, "PAD_TOP": 0, "PAD_BOTTOM": 0,
             "PAD_LEFT": 0, "PAD_RIGHT": 0, "GROUPS": 1}
    elif kind == "upsample":  # the vector unit: factors in the STRIDE registers, the output the input times them
        h, w = rng.randint(1, 60), rng.randint(1, 60)
        sy, sx = rng.choice([1, 2, 3, 33, 255]), rng.choice([1, 2, 4, 65])
        r = {"KIND": KIND_CODES[kind], "IN_C": c, "IN_H": h, "IN_W": w, "OUT_C": c, "KH": 1, "KW": 1, "STRIDE_Y": sy,
             "STRIDE_X": sx, "PAD_TOP": 0, "PAD_BOTTOM": 0, "PAD_LEFT": 0, "PAD_RIGHT": 0, "GROUPS": 1,
             "OUT_H": min(65535, h * sy), "OUT_W": min(65535, w * sx)}
    elif kind == "concat":  # a run of the vector unit: the input moved OUT_C - IN_C (0..ROWS - 1) lanes up
        h, w = rng.randint(1, 60), rng.randint(1, 60)
        r = {"KIND": KIND_CODES[kind], "IN_C": c, "IN_H": h, "IN_W": w, "OUT_C": c + rng.randrange(rows), "KH": 1, "KW": 1,
             "STRIDE_Y": 1, "STRIDE_X": 1, "PAD_TOP": 0, "PAD_BOTTOM": 0, "PAD_LEFT": 0, "PAD_RIGHT": 0, "GROUPS": 1}
    elif kind in ("softmax", "layernorm"):  # the row unit: rows of IN_C channels, BAND_ROWS x IN_W tokens a block
        if rng.random() < 0.3:  # a row at the units' and the buffers' limits, or past them
            c = rng.choice([1, 2, LN_MAX_C, LN_MAX_C + 1, SM_MAX_ROW, SM_MAX_ROW + 1, p["LN_TILES"] * rows,
                            p["LN_TILES"] * rows + 1, p["ROW_WORDS"] * rows, p["ROW_WORDS"] * rows + 1])
        r = {"KIND": KIND_CODES[kind], "IN_C": c, "IN_H": rng.randint(1, 200), "IN_W": rng.choice([1, 1, 1, 2, 5]), "OUT_C": c,
             "KH": 1, "KW": 1, "STRIDE_Y": 1, "STRIDE_X": 1, "PAD_TOP": 0, "PAD_BOTTOM": 0, "PAD_LEFT": 0, "PAD_RIGHT": 0,
             "GROUPS": 1}
    elif kind in ("add", "gelu", "maxpool", "avgpool"):  # the vector unit: channels kept, no buffer (GELU: an add of one input)
        h, w = rng.randint(1, 60), rng.randint(1, 60)
        kh, kw = (1, 1) if kind in ("add", "gelu") else rng.choice([(rng.randint(1, min(h, 7)), rng.randint(1, min(w, 7))), (h, w)])
        s = (1, 1) if kind in ("add", "gelu") else (rng.randint(1, 4), rng.randint(1, 4))
        pad = rng.randint(0, min(kh, kw) // 2) if kind == "maxpool" else 0
        r = {"KIND": KIND_CODES[kind], "IN_C": c, "IN_H": h, "IN_W": w, "OUT_C": c, "KH": kh, "KW": kw,
             "STRIDE_Y": s[0], "STRIDE_X": s[1], "PAD_TOP": pad, "PAD_BOTTOM": pad, "PAD_LEFT": pad, "PAD_RIGHT": pad,
             "GROUPS": 1}
    else:
        kh, kw = rng.randint(1, p["MAX_K"]), rng.randint(1, p["MAX_K"])
        # a quarter of the windows dilated: the span sets the padding limit, the output size and the halo
        dy, dx = (rng.choice([2, 3, 6, 255]), rng.choice([1, 2, 4])) if rng.random() < 0.25 else (1, 1)
        sh, sw = dilated_span(kh, dy), dilated_span(kw, dx)
        side = max(sh, sw, int(2 * (p["ACT_WORDS"] // -(-c // rows)) ** 0.5))
        r = {"KIND": KIND_CODES[kind], "IN_C": c, "IN_H": rng.randint(sh, max(sh, side)), "IN_W": rng.randint(sw, max(sw, side)),
             "OUT_C": c if kind == "depthwise" else rng.randint(1, max_k), "KH": kh, "KW": kw,
             "STRIDE_Y": rng.randint(1, 4), "STRIDE_X": rng.randint(1, 4),
             "PAD_TOP": rng.randint(0, sh - 1), "PAD_BOTTOM": rng.randint(0, sh - 1), "PAD_LEFT": rng.randint(0, sw - 1),
             "PAD_RIGHT": rng.randint(0, sw - 1), "GROUPS": c if kind == "depthwise" else 1, "DIL_Y": dy, "DIL_X": dx}
    r.setdefault("DIL_Y", 1)
    r.setdefault("DIL_X", 1)
    if kind != "upsample":
        r["OUT_H"] = conv_out_size(r["IN_H"], r["PAD_TOP"], r["PAD_BOTTOM"], r["KH"], r["STRIDE_Y"], r["DIL_Y"])
        r["OUT_W"] = conv_out_size(r["IN_W"], r["PAD_LEFT"], r["PAD_RIGHT"], r["KW"], r["STRIDE_X"], r["DIL_X"])
    lo = rng.randint(0, 255)
    r["LO"], r["HI"] = lo, rng.randint(lo, 255)
    # an add's and a concat run's shift is 1..63 (0 now and then: refused); other kinds ignore the register
    r["ADD_SHIFT"] = (0 if rng.random() < 0.1 else rng.randint(1, 63)) if kind in ("add", "concat") else rng.randint(0, 63)
    # the weights' storage width: one the hexgen plan writes (a width the build does not unpack is refused)
    vector = ("add", "maxpool", "avgpool", "upsample", "concat", "gelu")
    r["W_BITS"] = rng.choice(WEIGHT_WIDTHS) if kind not in vector + ("softmax", "layernorm") else 8
    # a LayerNorm's sqrt_shift is 0..23, a softmax's shift 1..63 (now and then one past: refused)
    r["ROW_SHIFT"] = (rng.choice([0, 24, 63]) if rng.random() < 0.1 else rng.randint(0, 23) if kind == "layernorm"
                      else rng.randint(1, 63))
    # Q K^T's transposed weight read: now and then on an 8-bit fc or 1 x 1 conv (elsewhere refused: mutate)
    r["W_TRANSPOSE"] = int(kind in ("fc", "conv") and r["KH"] == r["KW"] == 1 and r["W_BITS"] == 8 and rng.random() < 0.5)
    r.update(plan_tiling(r, config(p)))
    if kind in vector or rng.random() < 0.15:  # the whole layer in one pass
        r["BAND_ROWS"], r["GROUP_KT"] = r["OUT_H"], -(-r["OUT_C"] // rows)
    return r


def mutate(rng: random.Random, r: dict[str, int], p: dict[str, int], sweep: int | None = None) -> dict[str, int]:
    """One register set to an edge or random value; `sweep` = i picks register i % len(REGISTERS) and its
    i // len(REGISTERS)-th edge (0, the largest value, one past the kernel limit, one more than it was), so the
    first 64 cases reach every register's refusals whatever the seed."""
    r = dict(r)
    f = REGISTERS[sweep % len(REGISTERS)] if sweep is not None else rng.choice(REGISTERS)
    top = (1 << BITS[f]) - 1  # what the register holds
    edges = [0, 1, 2, 4, 5, p["MAX_K"], p["MAX_K"] + 1, r[f] - 1, r[f] + 1, top, rng.randint(0, top)]
    if sweep is not None:
        r[f] = min(top, max(0, [0, top, p["MAX_K"] + 1, r[f] + 1][sweep // len(REGISTERS) % 4]))
        return r
    r[f] = min(top, max(0, rng.choice(edges)))
    if rng.random() < 0.2:  # a whole image or channel count past a buffer or a 16-bit counter
        g = rng.choice(["IN_C", "IN_H", "IN_W", "OUT_C"])
        r[g] = rng.choice([300, 1000, 4096, 65535])
    return r


@cocotb.test()
async def test_random_descriptors(dut: Any) -> None:
    seed = bench_seed(dut._log, TEST_FILE)
    rng = random.Random(seed)
    p = build_params()
    cfg = config(p)
    hits: dict[str, int] = {}
    bad = []
    cases = int(os.environ.get("DESC_CASES", "1500"))
    for i in range(cases):
        r = runnable(rng, p)
        if i < 4 * len(REGISTERS):
            r = mutate(rng, r, p, sweep=i)
        elif rng.random() < 0.6:
            r = mutate(rng, r, p)
        for name, port in PORTS.items():
            getattr(dut, port).value = r[name]
        await Timer(1, "ns")
        want = engine_refusal(r, cfg, max_kernel=p["MAX_K"])
        got = int(dut.bad_field_o.value)
        hits[want[0] if want else "runs"] = hits.get(want[0] if want else "runs", 0) + 1
        want_addr = CSR[want[0]] if want else 0
        if got != want_addr:
            bad.append(f"{r}: RTL refuses {field_name(got) if got else 'nothing'}, hexgen.rules "
                       f"{want[0] + ' (' + want[1] + ')' if want else 'nothing'}")
        elif want is None:  # the derived sizes the engine runs the layer with
            n = register_needs(r, p["ROWS"], p["WORD_BITS"])
            derived = {"is_dw_o": int(n.depthwise), "is_vec_o": int(r["KIND"] in VECTOR_KINDS),
                       "is_row_o": int(r["KIND"] in ROW_KINDS), "ct_in_o": n.ct_in, "kt_out_o": n.kt_out, "npix_o": n.npix,
                       "steps_o": n.steps, "act_need_o": n.act, "wgt_need_o": n.weight, "out_need_o": n.out,
                       "kh_span_o": kernel_span(r, "Y")}
            for port, v in derived.items():
                if int(getattr(dut, port).value) != v:
                    bad.append(f"{r}: {port} = {int(getattr(dut, port).value)}, hexgen.rules {v}")
        if len(bad) >= 5:
            break
    assert not bad, "desc_check disagrees with hexgen.rules (seed %d):\n  " % seed + "\n  ".join(bad)
    fields = {"KIND", "IN_C", "IN_H", "IN_W", "OUT_C", "OUT_H", "OUT_W", "KH", "KW", "STRIDE_Y", "STRIDE_X", "PAD_TOP",
              "PAD_BOTTOM", "PAD_LEFT", "PAD_RIGHT", "GROUPS", "BAND_ROWS", "GROUP_KT", "ADD_SHIFT", "W_BITS", "LO", "DIL_Y",
              "DIL_X", "ROW_SHIFT", "W_TRANSPOSE", "runs"}
    missing = sorted(fields - set(hits))
    assert not missing, f"the descriptors never reached these outcomes of the rule: {missing} (hits {hits})"
    dut._log.info(f"outcomes: {dict(sorted(hits.items()))}")


@cocotb.test()
async def test_every_field_at_its_boundaries(dut: Any) -> None:
    """Deterministic, whatever the seed: for a layer of each kind the engine runs, every register
    swept over 0..70 and its largest value; wherever the rule book turns the layer from runnable to
    refused or back between v and v + 1 (the legal extreme and the first illegal value: stride 4 and
    5, kernel MAX_K and MAX_K + 1, ...), the RTL must give the same verdict, naming the same field,
    on both sides, and at 0 and the largest value."""
    p = build_params()
    cfg = config(p)
    rng = random.Random(7)
    bases: dict[int, dict[str, int]] = {}
    while len(bases) < len(set(KIND_CODES.values())):  # one layer the rule runs per kind
        r = runnable(rng, p)
        if engine_refusal(r, cfg, max_kernel=p["MAX_K"]) is None:
            bases.setdefault(r["KIND"], r)
    bad, checked = [], 0
    for base in bases.values():
        for f in REGISTERS:
            top = (1 << BITS[f]) - 1
            values = sorted({*range(0, min(top, 70) + 1), top})
            verdict = {v: engine_refusal({**base, f: v}, cfg, max_kernel=p["MAX_K"]) for v in values}
            # where the layer turns from runnable to refused or back (not every change of the refused field)
            edges = {v for a, b in zip(values, values[1:]) if (verdict[a] is None) != (verdict[b] is None) for v in (a, b)}
            for v in sorted(edges | {0, top}):
                r = {**base, f: v}
                for name, port in PORTS.items():
                    getattr(dut, port).value = r[name]
                await Timer(1, "ns")
                want = verdict[v]
                got = int(dut.bad_field_o.value)
                checked += 1
                if got != (CSR[want[0]] if want else 0):
                    bad.append(f"{f} = {v} in {base}: RTL refuses {field_name(got) if got else 'nothing'}, "
                               f"hexgen.rules {want[0] if want else 'nothing'}")
    assert not bad, f"{len(bad)} of {checked} boundary values disagree:\n  " + "\n  ".join(bad[:8])
    dut._log.info(f"{checked} boundary values of {len(REGISTERS)} registers on {len(bases)} kinds agree")


def conv_layer(p: dict[str, int], in_c: int, in_hw: tuple[int, int], k: tuple[int, int], stride: int,
               pads: tuple[int, int, int, int]) -> dict[str, int]:
    """A conv descriptor (one band row, one output-channel tile) with its output size from golden's formula."""
    top, bottom, left, right = pads
    return {"KIND": KIND_CODES["conv"], "IN_C": in_c, "IN_H": in_hw[0], "IN_W": in_hw[1], "OUT_C": p["ROWS"],
            "OUT_H": conv_out_size(in_hw[0], top, bottom, k[0], stride), "OUT_W": conv_out_size(in_hw[1], left, right, k[1], stride),
            "KH": k[0], "KW": k[1], "STRIDE_Y": stride, "STRIDE_X": stride, "PAD_TOP": top, "PAD_BOTTOM": bottom,
            "PAD_LEFT": left, "PAD_RIGHT": right, "GROUPS": 1, "BAND_ROWS": 1, "GROUP_KT": 1, "ADD_SHIFT": 0, "W_BITS": 8,
            "LO": 0, "HI": 255, "DIL_Y": 1, "DIL_X": 1, "ROW_SHIFT": 0, "W_TRANSPOSE": 0}


def image_of(pixels: int) -> tuple[int, int] | None:
    """An output image (rows, columns) of exactly `pixels` pixels that 16-bit OUT_H and OUT_W hold,
    or None if there is none (a prime above 65,535, or more than 65,535 x 65,535)."""
    top = (1 << 16) - 1
    for h in range(max(1, -(-pixels // top)), top + 1):
        if pixels % h == 0 and pixels // h <= top:
            return h, pixels // h
    return None


@cocotb.test()
async def test_counter_limits(dut: Any) -> None:
    """Each counter's rule at its edge: a layer whose count is exactly the largest the engine counts
    (output pixels: 2^PIX_W - 1; steps: 65,535) and one a count past it; both sides must get the rule
    book's verdict. At the limit the rule book goes on to a later rule (here: the buffers), so a
    counter rule that refused the limit would name the wrong field. A limit that 16-bit registers
    cannot reach or pass (PIX_W 31, 32) is checked at the largest image they hold."""
    p = build_params()
    cfg = config(p)
    rows = p["ROWS"]
    # (counter, its refusal field, its limit, the layer at the limit, the layer past it)
    edges = []
    at, past = image_of(cfg.pixel_max), image_of(cfg.pixel_max + 1)
    if at is None:  # no image of exactly 2^PIX_W - 1 pixels: the largest one the registers hold
        at = (65535, 65535) if cfg.pixel_max >= 65535 * 65535 else None
    assert at is not None, f"PIX_W = {p['PIX_W']}: no 16-bit image meets the pixel limit {cfg.pixel_max}; pick a testable width"
    # a 1 x 1 kernel at stride 1: the output image is the input image
    edges.append(("output pixels", "OUT_H", cfg.pixel_max, conv_layer(p, rows, at, (1, 1), 1, (0, 0, 0, 0)),
                  conv_layer(p, rows, past, (1, 1), 1, (0, 0, 0, 0)) if past else None))
    if 4369 * rows <= 65535:  # IN_C holds 4,369 tiles up to 15 rows (past that, no kernel meets 65,535 exactly)
        # 4,369 channel tiles x a 3 x 5 kernel = 65,535 steps; 4,096 tiles x 4 x 4 = 65,536 (a 1 x 1 image, padded)
        edges.append(("steps per pixel tile", "IN_C", COUNTER_MAX, conv_layer(p, 4369 * rows, (1, 1), (3, 5), 1, (1, 1, 2, 2)),
                      conv_layer(p, 4096 * rows, (1, 1), (4, 4), 1, (1, 2, 1, 2))))
    bad = []
    for what, field, limit, at_limit, past in edges:
        for r, beyond in ((at_limit, False), (past, True)):
            if r is None:
                continue
            want = engine_refusal(r, cfg, max_kernel=p["MAX_K"])
            count = r["OUT_H"] * r["OUT_W"] if field == "OUT_H" else r["KH"] * r["KW"] * -(-r["IN_C"] // rows)
            # the layers must meet the counter's rule where it decides, or this test tests nothing
            assert (want is not None and want[0] == field and str(count) in want[1]) == beyond == (count > limit), \
                f"{what} at {count}: hexgen.rules says {want}; the layer does not meet the counter's edge"
            for name, port in PORTS.items():
                getattr(dut, port).value = r[name]
            await Timer(1, "ns")
            got = int(dut.bad_field_o.value)
            if got != (CSR[want[0]] if want else 0):
                bad.append(f"{what} = {count} ({r}): RTL refuses {field_name(got) if got else 'nothing'}, "
                           f"hexgen.rules {want[0] + ' (' + want[1] + ')' if want else 'nothing'}")
    assert not bad, "desc_check disagrees with hexgen.rules at the counters' limits:\n  " + "\n  ".join(bad)
