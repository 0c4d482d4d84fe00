"""cocotb bench of rtl/compute_issue.sv (the engine's compute-issue unit: weight banks and beats).

Each case is a random conv, depthwise, pointwise or fc layer laid out by hexgen for the hardware
description ($HW) (tb.engine.unit_layers.random_layer), every other one with narrow weights that
hexgen packs (4 or 2 bits, or 3-bit codes in 4-bit elements: register W_BITS). The bench plays the units around it:
- the reader: k_tile t's weights (the weight segment's words from hexgen's element_address of the
  k_tile's first weight) go into bank t % 2 with random gaps, k_tile t + 2's only once k_tile t is
  finished (cfin_o), and wloaded_i counts the k_tiles that are in;
- the gather: the register sets of the layer in order (tb.engine.unit_layers.expected_sets: hexgen's
  schedule and addresses), each offered after a random delay and held until popped;
- the MAC array: takes beats with random ready and accumulates them as rtl/mac_array.sv defines
  (first beat of a tile clears, w[r] * (a[j] - z_in); depthwise cell (r, j) takes lane r of
  column j's vector), and on each tile's last beat hands the sums over.
Checked: every tile's sums equal golden's accumulator (golden.arith.conv_acc / linear_acc,
without the bias) for the tile's pixels and the k_tile's channels (0 for the padding rows), with
the tile's column count; no beat for a set whose weights are not in; the pops, cfin_o, and the
BUSY_CYCLES / MACS counters (one beat per real input channel of each set, depthwise one per set;
MACs = beats x columns x ROWS) cleared by start. Environment: RTL_SEED (default random, printed),
HW (preset), COMPUTE_CASES (layers per run).
"""
from __future__ import annotations

import random
from typing import Any

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

from hexgen.layout import element_address
from hexgen.rules import descriptor_registers, register_needs
from tb.engine.unit_layers import expected_sets, golden_acc, run_random_layers

TEST_FILE = "tests/test_rtl_compute_issue.py"


def lanes_of(v: int, n: int) -> list[int]:
    return [(v >> (8 * i)) & 0xFF for i in range(n)]


async def run_case(dut: Any, rng: random.Random, cfg: Any, layer: Any, image: Any, x: Any) -> list[str]:
    entry = image.memory_map()["layers"][0]
    regs = descriptor_registers(entry["descriptor"])
    need = register_needs(regs, cfg.array_rows, cfg.word_bits)
    rows, cols_max, wb = cfg.array_rows, cfg.array_cols, cfg.word_bits
    z = layer.z_in
    name = f"{entry['kind']} {entry['descriptor']['in_shape']}->{entry['descriptor']['out_shape']} k{regs['KH']}x{regs['KW']}"
    sets = expected_sets(image, layer, cfg)
    gold = golden_acc(layer, x)
    wseg = image.segment(layer.name, "weights")
    wlay = wseg.layout

    def kt_words(t: int) -> list[int]:
        first = element_address(wlay, (t * rows,) + (0,) * (len(wlay.shape) - 1))[0]
        return list(wseg.words[first:first + need.weight])

    wgt_words = cfg.weight_buf_words  # the build's WGT_WORDS (tests/test_rtl_compute_issue.py)
    drive = {"is_dw_i": int(need.depthwise), "in_c_i": regs["IN_C"], "w_bits_i": regs["W_BITS"], "w_xor_i": regs["W_XOR"], "wloaded_i": 0, "set_valid_i": 0, "wgt_we_i": 0,
             "mac_ready_i": 0, "run_i": 0}
    for port, v in drive.items():
        getattr(dut, port).value = v
    dut.start_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.start_i.value = 0
    dut.run_start_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.run_start_i.value = 0
    dut.run_i.value = 1
    p_write, p_set, p_ready = rng.choice([0.2, 1.0]), rng.choice([0.3, 1.0]), rng.choice([0.4, 1.0])
    wq: list[tuple[int, int, int]] = []  # (k_tile, bank address, word) still to write
    queued, wloaded, si, beats, macs, problems = 0, 0, 0, 0, 0, []
    offered = False
    acc = np.zeros((rows, cols_max), np.int64)
    pops, cycle = 0, 0
    limit = 60 * len(sets) * rows + 20 * need.weight * need.kt_out + 2000
    while cycle < limit:
        cycle += 1
        cfin = int(dut.cfin_o.value)
        # the reader: queue k_tile t's weights once its bank is free (k_tile t - 2 finished)
        if queued < need.kt_out and queued - 2 < cfin and len(wq) == 0:
            bank = (queued % 2) * wgt_words
            wq = [(queued, bank + i, v) for i, v in enumerate(kt_words(queued))]
            queued += 1
        write = bool(wq) and rng.random() < p_write
        dut.wgt_we_i.value = int(write)
        if write:
            dut.wgt_waddr_i.value = wq[0][1]
            dut.wgt_wdata_i.value = wq[0][2]
        # the gather: the next set, offered after a random delay, held until popped
        if si < len(sets) and not offered and rng.random() < p_set:
            offered = True
        s = sets[si] if si < len(sets) else None
        dut.set_valid_i.value = int(offered)
        if offered and s is not None:
            data = sum(v << (j * wb) for j, v in enumerate(s["vectors"]))
            dut.set_data_i.value = data
            for k in ("first", "last", "ktlast", "cols", "step", "ct", "kt"):
                getattr(dut, f"set_{k}_i").value = s[k]
        ready = rng.random() < p_ready
        dut.mac_ready_i.value = int(ready)
        await ReadOnly()
        if int(dut.mac_valid_o.value) and ready:
            assert s is not None
            if s["kt"] >= wloaded:
                problems.append(f"{name}: a beat of k_tile {s['kt']} issued with {wloaded} k_tiles' weights in")
                break
            w = [((v ^ 0x80) - 0x80) for v in lanes_of(int(dut.mac_w_o.value), rows)]  # int8
            if int(dut.mac_first_o.value):
                acc[:] = 0
            if need.depthwise:
                cells = int(dut.mac_a_cells_o.value)
                for j in range(cols_max):
                    a = lanes_of(cells >> (j * rows * 8), rows)
                    acc[:, j] += np.array(w, np.int64) * (np.array(a, np.int64) - z)
            else:
                a = lanes_of(int(dut.mac_a_o.value), cols_max)
                acc += np.outer(np.array(w, np.int64), np.array(a, np.int64) - z)
            beats += 1
            macs += int(dut.mac_cols_o.value) * rows
            if int(dut.mac_cols_o.value) != s["cols"]:
                problems.append(f"{name}: beat with {int(dut.mac_cols_o.value)} columns for a set of {s['cols']}")
                break
            if int(dut.mac_last_o.value):
                p0, kt = s["p0"], s["kt"]
                want = np.zeros((rows, s["cols"]), np.int64)
                real = gold[kt * rows:(kt + 1) * rows, p0:p0 + s["cols"]]
                want[:real.shape[0]] = real
                if not np.array_equal(acc[:, :s["cols"]], want):
                    bad = np.argwhere(acc[:, :s["cols"]] != want)[0]
                    problems.append(f"{name}: k_tile {kt} pixels {p0}..: sum (row {bad[0]}, column {bad[1]}) is "
                                    f"{acc[bad[0], bad[1]]}, golden {want[bad[0], bad[1]]}")
                    break
        popped = int(dut.set_pop_o.value)
        await RisingEdge(dut.clk_i)
        if write:
            kt_w = wq.pop(0)[0]
            if not wq:
                wloaded = kt_w + 1
                dut.wloaded_i.value = wloaded
        if popped:
            pops += 1
            si += 1
            offered = False
        if si == len(sets):
            break
    else:
        problems.append(f"{name}: {si} of {len(sets)} sets popped after {limit} cycles (weights in: {wloaded})")
    if problems:
        await RisingEdge(dut.clk_i)
    dut.set_valid_i.value = 0
    dut.run_i.value = 0
    dut.wgt_we_i.value = 0
    await RisingEdge(dut.clk_i)
    if problems:
        return problems
    lanes = [1 if need.depthwise else min(rows, regs["IN_C"] - s["ct"] * rows) for s in sets]
    counts = {"cfin_o": need.kt_out, "beats_o": sum(lanes), "macs_o": sum(n * s["cols"] * rows for n, s in zip(lanes, sets))}
    for port, v in counts.items():
        if int(getattr(dut, port).value) != v:
            problems.append(f"{name}: {port} = {int(getattr(dut, port).value)}, expected {v}")
    if beats != counts["beats_o"]:
        problems.append(f"{name}: {beats} beats taken, expected {counts['beats_o']}")
    return problems


@cocotb.test()
async def test_beats_sum_to_golden(dut: Any) -> None:
    await run_random_layers(dut, TEST_FILE, "compute_issue",
                            ("start_i", "run_start_i", "run_i", "wgt_we_i", "set_valid_i", "mac_ready_i"), "COMPUTE_CASES", run_case)
