"""cocotb bench of rtl/drain_requant.sv (the engine's drain + requantizer unit: record buffers and
the requantizer the MAC array drains into).

Each case is a random conv, depthwise, pointwise or fc layer laid out by hexgen for the hardware
description ($HW) (tb.engine.unit_layers.random_layer). The bench plays the units around it:
- the reader: before start the record buffers hold the complement of every record word (so a
  pixel requantised before its k_tile's records arrived cannot match); then k_tile by k_tile,
  with random gaps, the bias and scale segments' words go in at their segment offsets, and
  recs_kt_i counts the k_tiles whose records are in;
- the MAC array: golden's accumulators without the bias (golden.arith.conv_acc / linear_acc; 0
  in the padding rows) one pixel at a time in the output's order [k_tile][y][x], with random gaps;
- the writer: takes output words with random ready.
Checked: the output words are exactly hexgen's `expected` segment (golden's outputs, laid out),
in order; no overflow flag; the unit takes no pixel whose k_tile's records are not in; and its
rec_wait_o is high exactly while an offered pixel's records are not in.
Environment: RTL_SEED (default random, printed), HW (preset), DRAIN_CASES (layers per run).
"""
from __future__ import annotations

import random
from typing import Any

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

from hexgen.rules import descriptor_registers, register_needs
from tb.engine.unit_layers import golden_acc, run_random_layers

TEST_FILE = "tests/test_rtl_drain_requant.py"


async def run_case(dut: Any, rng: random.Random, cfg: Any, layer: Any, image: Any, x: Any) -> list[str]:
    entry = image.memory_map()["layers"][0]
    regs = descriptor_registers(entry["descriptor"])
    need = register_needs(regs, cfg.array_rows, cfg.word_bits)
    rows, wb = cfg.array_rows, cfg.word_bits
    name = f"{entry['kind']} {entry['descriptor']['in_shape']}->{entry['descriptor']['out_shape']}"
    gold = golden_acc(layer, x)  # [K, pixels]
    k = gold.shape[0]
    # drained pixels in the output's order: [k_tile][pixel], ROWS int32 sums each (two's complement)
    pixels = []
    for kt in range(need.kt_out):
        block = np.zeros((rows, need.npix), np.int64)
        block[:min(rows, k - kt * rows)] = gold[kt * rows:(kt + 1) * rows]
        for p in range(need.npix):
            pixels.append((kt, sum((int(v) & 0xFFFFFFFF) << (32 * r) for r, v in enumerate(block[:, p]))))
    want = list(image.segment(layer.name, "expected").words)
    bias, scale = image.segment(layer.name, "bias"), image.segment(layer.name, "scale")
    per_kt = need.records // need.kt_out  # record words per k_tile
    mask = (1 << wb) - 1
    dut.in_valid_i.value = 0
    dut.out_ready_i.value = 0
    dut.rec_we_i.value = 0
    dut.recs_kt_i.value = 0
    for seg, is_bias in ((bias, 1), (scale, 0)):  # stale records
        for i, v in enumerate(seg.words):
            dut.rec_we_i.value, dut.rec_bias_i.value, dut.rec_waddr_i.value, dut.rec_wdata_i.value = 1, is_bias, i, ~v & mask
            await RisingEdge(dut.clk_i)
    dut.rec_we_i.value = 0
    dut.npix_i.value = need.npix
    dut.z_out_i.value = entry["descriptor"]["z_out"]
    dut.lo_i.value = regs["LO"]
    dut.hi_i.value = regs["HI"]
    dut.start_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.start_i.value = 0
    # the reader's writes: k_tile t's bias then scale words; recs_kt_i counts whole k_tiles
    writes = [(t, is_bias, i, seg.words[i]) for t in range(need.kt_out) for seg, is_bias in ((bias, 1), (scale, 0))
              for i in range(t * per_kt, (t + 1) * per_kt)]
    p_write, p_in, p_out = rng.choice([0.05, 0.5, 1.0]), rng.choice([0.3, 1.0]), rng.choice([0.3, 1.0])
    wi, pi, recs, got, problems = 0, 0, 0, [], []
    limit = 30 * (len(pixels) + len(writes)) + 500
    for _ in range(limit):
        write = wi < len(writes) and rng.random() < p_write
        dut.rec_we_i.value = int(write)
        if write:
            _, is_bias, addr, v = writes[wi]
            dut.rec_bias_i.value, dut.rec_waddr_i.value, dut.rec_wdata_i.value = is_bias, addr, v
        offer = pi < len(pixels) and rng.random() < p_in
        dut.in_valid_i.value = int(offer)
        if offer:
            dut.in_acc_i.value = pixels[pi][1]
        ready = rng.random() < p_out
        dut.out_ready_i.value = int(ready)
        await ReadOnly()
        taken = offer and int(dut.in_ready_o.value)
        # the wait status UNITS shows: exactly while a pixel waits for its k_tile's records
        waits = bool(offer) and pixels[pi][0] >= recs
        if int(dut.rec_wait_o.value) != waits:
            problems.append(f"{name}: rec_wait_o = {int(dut.rec_wait_o.value)} with {'pixel %d of k_tile %d' % (pi, pixels[pi][0]) if offer else 'no pixel'} "
                            f"offered and {recs} k_tiles' records in")
            break
        if taken and pixels[pi][0] >= recs:
            problems.append(f"{name}: pixel {pi} of k_tile {pixels[pi][0]} taken with {recs} k_tiles' records in")
            break
        if int(dut.out_valid_o.value) and ready:
            got.append(int(dut.out_data_o.value))
            i = len(got) - 1
            if i >= len(want) or got[-1] != want[i]:
                problems.append(f"{name}: output word {i} is {got[-1]:#x}, expected "
                                f"{want[i]:#x}" if i < len(want) else f"{name}: more than {len(want)} output words")
                break
            if int(dut.ovf_o.value):
                problems.append(f"{name}: overflow flagged at output word {i}")
                break
        await RisingEdge(dut.clk_i)
        if taken:
            pi += 1
        if write:
            wi += 1
            if wi == len(writes) or writes[wi][0] != writes[wi - 1][0]:
                recs = writes[wi - 1][0] + 1
                dut.recs_kt_i.value = recs
        if len(got) == len(want):
            break
    else:
        problems.append(f"{name}: {len(got)} of {len(want)} output words after {limit} cycles "
                        f"({pi} pixels taken, records of {recs} k_tiles in)")
    if problems:
        await RisingEdge(dut.clk_i)
    dut.in_valid_i.value = 0
    dut.rec_we_i.value = 0
    dut.out_ready_i.value = 0
    await RisingEdge(dut.clk_i)
    return problems


@cocotb.test()
async def test_outputs_are_hexgens_expected_segment(dut: Any) -> None:
    await run_random_layers(dut, TEST_FILE, "drain_requant", ("start_i", "in_valid_i", "out_ready_i", "rec_we_i"),
                            "DRAIN_CASES", run_case)
