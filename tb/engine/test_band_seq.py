"""cocotb bench of rtl/band_seq.sv (the engine's band sequencer) against hexgen's passes.

Each case is a random conv, depthwise or fc layer (kernel 1..7 and stride 1..4, one in six up to
MAX_KERNEL and MAX_STRIDE; any padding below the kernel, images of 1..40 rows) with random BAND_ROWS (1..OUT_H) and GROUP_KT (1..its k_tiles)
and random segment bases. The bench starts the unit and steps it with next_i through the layer;
at every pass it checks, with hexgen.rules.passes (the one definition) as the reference:
- the input rows, their padding, the output rows and pixels, the k_tiles, the input channel tiles
  (depthwise: the group's own) and last_o;
- the segment bases moved by the pass's offsets, and the input plane stride;
- the write command: the words its runs cover, in order, are the pass's output words in the
  order the engine produces them (k_tile, then pixels in raster order), as hexgen's output
  layout places them (element_address), never a formula written here;
and that a next_i on the last pass changes nothing. Environment: RTL_SEED (default random,
printed), RTL_PARAMS (the build's parameters), BAND_CASES (layers per run).
"""
from __future__ import annotations

import ast
import os
import random
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from golden.arith import conv_out_size, dilated_span
from hexgen import HardwareConfig
from hexgen.layout import element_address
from hexgen.plan import act_layout
from hexgen.rules import KIND_CODES, MAX_KERNEL, MAX_STRIDE, Pass, kernel_span, passes, register_needs, tap_rows
from tb.sim import bench_seed

TEST_FILE = "tests/test_rtl_band_seq.py"
BASES = ("w_base", "b_base", "s_base", "in_base", "out_base")


def random_registers(rng: random.Random, rows: int, taps: bool = False) -> dict[str, int]:
    """A random layer; with `taps`, a dilated conv or depthwise in one-row bands (passes of its tap rows)."""
    kind = rng.choice(["conv", "depthwise"] if taps else ["conv", "depthwise", "fc"])
    c = rng.randint(1, 5 * rows)
    if kind == "fc":
        r = {"KIND": KIND_CODES["fc"], "IN_C": c, "IN_H": 1, "IN_W": 1, "OUT_C": rng.randint(1, 6 * rows), "KH": 1, "KW": 1,
             "STRIDE_Y": 1, "STRIDE_X": 1, "PAD_TOP": 0, "PAD_BOTTOM": 0, "PAD_LEFT": 0, "PAD_RIGHT": 0, "GROUPS": 1}
    else:
        # one layer in six with the large kernels and strides (a ViT's 16x16 stride-16 patch embedding)
        big = rng.random() < 1 / 6
        kh, kw = (rng.randint(1, MAX_KERNEL), rng.randint(1, MAX_KERNEL)) if big else (rng.randint(1, 7), rng.randint(1, 7))
        s_max = MAX_STRIDE if big else 4
        # a third of the windows dilated: the band's halo is the window's span
        dy, dx = (rng.randint(1, 6), rng.randint(1, 6)) if rng.random() < 0.3 else (1, 1)
        if taps:
            kh, dy = max(kh, 2), max(dy, 2)
        sh, sw = dilated_span(kh, dy), dilated_span(kw, dx)
        r = {"KIND": KIND_CODES[kind], "IN_C": c, "IN_H": rng.randint(sh, sh + 40), "IN_W": rng.randint(sw, sw + 12),
             "OUT_C": c if kind == "depthwise" else rng.randint(1, 6 * rows), "KH": kh, "KW": kw,
             "STRIDE_Y": rng.randint(1, s_max), "STRIDE_X": rng.randint(1, s_max), "PAD_TOP": rng.randint(0, sh - 1),
             "PAD_BOTTOM": rng.randint(0, sh - 1), "PAD_LEFT": rng.randint(0, sw - 1), "PAD_RIGHT": rng.randint(0, sw - 1),
             "GROUPS": c if kind == "depthwise" else 1, "DIL_Y": dy, "DIL_X": dx}
    r.setdefault("DIL_Y", 1)
    r.setdefault("DIL_X", 1)
    r["OUT_H"] = conv_out_size(r["IN_H"], r["PAD_TOP"], r["PAD_BOTTOM"], r["KH"], r["STRIDE_Y"], r["DIL_Y"])
    r["OUT_W"] = conv_out_size(r["IN_W"], r["PAD_LEFT"], r["PAD_RIGHT"], r["KW"], r["STRIDE_X"], r["DIL_X"])
    kt_out = -(-r["OUT_C"] // rows)
    r["BAND_ROWS"] = 1 if taps else rng.choice([1, r["OUT_H"], rng.randint(1, r["OUT_H"])])
    r["GROUP_KT"] = rng.choice([1, kt_out, rng.randint(1, kt_out)])
    r["LO"], r["HI"] = 0, 255
    r["W_BITS"] = rng.choice([8, 4, 2])  # packed weights: fewer weight words per k_tile (w_offset)
    return r


def output_words(r: dict[str, int], p: Pass, cfg: HardwareConfig) -> list[int]:
    """The pass's output words in the order the engine produces them, from hexgen's output layout."""
    fc = r["KIND"] == KIND_CODES["fc"]
    lay = act_layout((r["OUT_C"],) if fc else (r["OUT_C"], r["OUT_H"], r["OUT_W"]), 1, 0, cfg)
    ks = range(p.k_tile * cfg.array_rows, (p.k_tile + p.k_tiles) * cfg.array_rows, cfg.array_rows)
    if fc:
        return [element_address(lay, (0, k))[0] for k in ks]
    return [element_address(lay, (0, k, y, x))[0]
            for k in ks for y in range(p.out_y, p.out_y + p.out_rows) for x in range(r["OUT_W"])]


def check_pass(dut: Any, r: dict[str, int], p: Pass, last: bool, bases: dict[str, int], cfg: HardwareConfig) -> list[str]:
    need = register_needs(r, cfg.array_rows, cfg.word_bits)
    want = {"in_rows_o": p.in_rows, "pad_top_o": p.pad_top, "pad_bottom_o": p.pad_bottom, "out_rows_o": p.out_rows,
            # a pass of tap rows (hexgen.rules.tap_rows): its rows DIL_Y apart, walked 1 apart by the gather
            "row_step_o": r["DIL_Y"] if tap_rows(r) else 1, "dil_y_o": 1 if tap_rows(r) else r["DIL_Y"],
            "npix_o": p.npix, "k_tiles_o": p.k_tiles, "c_tiles_o": p.c_tiles, "band_o": p.band, "group_o": p.group, "last_o": int(last),
            "w_base_o": bases["w_base"] + p.w_offset, "b_base_o": bases["b_base"] + p.rec_offset,
            "s_base_o": bases["s_base"] + p.rec_offset, "in_base_o": bases["in_base"] + p.in_offset,
            "in_plane_o": need.plane}
    out = [f"{port} = {int(getattr(dut, port).value)}, hexgen {v}" for port, v in want.items()
           if int(getattr(dut, port).value) != v]
    base, rows = int(dut.out_base_o.value), int(dut.out_cmd_rows_o.value)
    length, stride = int(dut.out_cmd_len_o.value), int(dut.out_cmd_stride_o.value)
    if rows * length > 100_000:
        return out + [f"write command of {rows} runs of {length} words"]
    covered = [base + i * stride + j - bases["out_base"] for i in range(rows) for j in range(length)]
    expected = output_words(r, p, cfg)
    if covered != expected:
        bad = next((i for i, (a, b) in enumerate(zip(covered, expected)) if a != b), min(len(covered), len(expected)))
        out.append(f"write command ({rows} runs of {length} words, {stride} apart, from offset {base - bases['out_base']}) "
                   f"covers {len(covered)} words, the pass's output {len(expected)}; first difference at #{bad}: "
                   f"{covered[bad:bad + 1]} vs {expected[bad:bad + 1]}")
    return out


@cocotb.test()
async def test_passes_against_hexgen(dut: Any) -> None:
    seed = bench_seed(dut._log, TEST_FILE)
    rng = random.Random(seed)
    p = {"REC_WPK": 8, **dict(ast.literal_eval(os.environ.get("RTL_PARAMS", "[]")))}
    rows = int(os.environ.get("ROWS", "8"))
    cfg = HardwareConfig(array_rows=rows, word_bits=rows * 64 // p["REC_WPK"])
    Clock(dut.clk_i, 10, unit="ns", impl="gpi").start()
    dut.rst_i.value = 1
    dut.start_i.value = 0
    dut.next_i.value = 0
    for _ in range(2):
        await RisingEdge(dut.clk_i)
    dut.rst_i.value = 0
    problems: list[str] = []
    total = tapped = 0
    for i in range(int(os.environ.get("BAND_CASES", "60"))):
        r = random_registers(rng, rows, taps=i % 10 == 9)  # every tenth: passes of tap rows
        need = register_needs(r, rows, cfg.word_bits)
        bases = {b: rng.randrange(0, 1 << 24) for b in BASES}
        drive = {"in_h_i": r["IN_H"], "in_w_i": r["IN_W"], "out_h_i": r["OUT_H"], "out_w_i": r["OUT_W"],
                 "kh_i": kernel_span(r, "Y"),  # the window's span (accel_top wires desc_check's kh_span_o)
                 "taps_i": r["KH"], "dil_y_i": r["DIL_Y"],
                 "sy_i": r["STRIDE_Y"], "pad_top_i": r["PAD_TOP"], "band_rows_i": r["BAND_ROWS"],
                 "group_kt_i": r["GROUP_KT"], "is_dw_i": int(need.depthwise), "ct_in_i": need.ct_in, "kt_out_i": need.kt_out, "npix_i": need.npix, "wgt_need_i": need.weight,
                 **{f"{b}_i": v for b, v in bases.items()}}
        for port, v in drive.items():
            getattr(dut, port).value = v
        dut.start_i.value = 1
        await RisingEdge(dut.clk_i)
        dut.start_i.value = 0
        want = passes(r, rows, cfg.word_bits)
        for i, ps in enumerate(want + [want[-1]]):  # one next_i past the last pass changes nothing
            await ReadOnly()
            bad = check_pass(dut, r, ps, i >= len(want) - 1, bases, cfg)
            if bad:
                problems += [f"{r}, pass {i} ({ps.band}.{ps.group}) of {len(want)}: {m}" for m in bad]
                break
            await RisingEdge(dut.clk_i)
            dut.next_i.value = 1
            await RisingEdge(dut.clk_i)
            dut.next_i.value = 0
        total += len(want)
        tapped += int(tap_rows(r))
        if problems:
            break
    assert not problems, f"band_seq disagrees with hexgen.rules.passes (seed {seed}):\n  " + "\n  ".join(problems[:5])
    # one-row bands of a dilated conv (passes of tap rows) must have been drawn, or their rows were not checked
    assert tapped or int(os.environ.get("BAND_CASES", "60")) < 10, f"no layer of tap-row passes drawn (seed {seed})"
    dut._log.info(f"{total} passes checked, {tapped} layer(s) of tap-row passes")
