"""cocotb bench of rtl/gather.sv (the engine's gather unit: activation buffer and register sets).

Each case is a random conv, depthwise, pointwise or fc layer that fits the hardware description
($HW: a hexgen.hw preset), laid out by hexgen (build_image): random kernel (non-square too),
stride 1..4 per axis (one layer in ten past them: kernels 8..16, strides up to 16), padding
0..kernel-1 per axis, channel counts below, at and above the array size. The bench plays the reader and the compute unit:
- before start the activation buffer holds the complement of every input word, so a word read
  before its row arrived cannot match; after start the input rows arrive in order, word for word
  at their segment offsets, in the engine's load order (hexgen.rules.input_loads: depthwise channel
  tile by channel tile), with random gaps, and act_rows_i counts the loads that are in;
- the compute unit pops the oldest full set after a random delay.
Every set popped is checked against the expected sequence, which comes from elsewhere: the order
of the sets is the layer's schedule in hexgen's memory map (`schedule`, `pixel_tile`); the input
pixel each column of a step reads is the convolution window of an index image (numpy's
sliding_window_view over the padded image, at the strides); the word it holds is the input segment's word at hexgen's address function
(hexgen.layout.element_address, which the memory map's exported `strides` must agree with), or
z_in in every lane where the window lies in the padding.
Checked per set: the COLS vectors of the columns in use, first / last / k_tile-last, the column
count, step, channel tile and k_tile; that a set does not change between becoming visible and its
pop; that the gather ends inactive after the last set; and that its wait status (set_wait_o,
row_wait_o, which UNITS shows) is high only while it is active. Environment: RTL_SEED (default random,
printed), HW (preset), GATHER_CASES (layers per run).
"""
from __future__ import annotations

import random
from typing import Any

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from hexgen.layout import element_address
from hexgen.rules import descriptor_registers, input_loads, register_needs
from tb.engine.unit_layers import expected_sets, run_random_layers

TEST_FILE = "tests/test_rtl_gather.py"
KINDS = ("conv", "depthwise", "pointwise", "fc")


def read_set(dut: Any, cols_max: int, word_bits: int) -> dict[str, Any]:
    bits = str(dut.set_data_o.value)  # most significant first; columns beyond cols may be X
    cols = int(dut.set_cols_o.value)

    def column(j: int) -> int | str:
        text = bits[len(bits) - (j + 1) * word_bits: len(bits) - j * word_bits]
        return int(text, 2) if set(text) <= {"0", "1"} else "X"

    return {"kt": int(dut.set_kt_o.value), "step": int(dut.set_step_o.value), "ct": int(dut.set_ct_o.value),
            "first": int(dut.set_first_o.value), "last": int(dut.set_last_o.value),
            "ktlast": int(dut.set_ktlast_o.value), "cols": cols,
            "vectors": [column(j) for j in range(min(cols, cols_max))]}


async def run_case(dut: Any, rng: random.Random, cfg: Any, layer: Any, image: Any, _x: Any) -> list[str]:
    entry = image.memory_map()["layers"][0]
    regs = descriptor_registers(entry["descriptor"])
    need = register_needs(regs, cfg.array_rows, cfg.word_bits)
    seg = image.segment(layer.name, "input")
    lay, words = seg.layout, seg.words
    name = f"{entry['kind']} {entry['descriptor']['in_shape']}->{entry['descriptor']['out_shape']} " \
           f"k{regs['KH']}x{regs['KW']} d{regs['DIL_Y']}x{regs['DIL_X']} s{regs['STRIDE_Y']}x{regs['STRIDE_X']} pad (t, b, l, r) {regs['PAD_TOP']}, {regs['PAD_BOTTOM']}, {regs['PAD_LEFT']}, {regs['PAD_RIGHT']}"
    want = expected_sets(image, layer, cfg)
    mask = (1 << cfg.word_bits) - 1
    # the reader: before start every input word's complement (stale data), then row by row
    dut.start_i.value = 0
    dut.set_pop_i.value = 0
    for i, v in enumerate(words):
        dut.act_we_i.value = 1
        dut.act_waddr_i.value = i
        dut.act_wdata_i.value = ~v & mask
        await RisingEdge(dut.clk_i)
    dut.act_we_i.value = 0
    # the input rows arrive in the engine's load order (hexgen.rules.input_loads): each load's words,
    # then act_rows_i counts it
    row_words = []
    for tiles, y in input_loads(need.depthwise, need.ct_in, regs["IN_H"], regs["IN_H"]):
        if len(lay.shape) == 4:
            addrs = sorted({element_address(lay, (0, ct * cfg.array_rows, y, x))[0]
                            for ct in tiles for x in range(regs["IN_W"])})
        else:  # fc: the whole vector is row 0
            addrs = sorted({element_address(lay, (0, ct * cfg.array_rows))[0] for ct in tiles})
        row_words.append(addrs)
    rows = len(row_words)
    drive = {"is_dw_i": int(need.depthwise), "in_h_i": regs["IN_H"], "in_w_i": regs["IN_W"], "out_w_i": regs["OUT_W"],
             "kh_i": regs["KH"], "kw_i": regs["KW"], "sy_i": regs["STRIDE_Y"], "sx_i": regs["STRIDE_X"],
             "pad_top_i": regs["PAD_TOP"], "pad_left_i": regs["PAD_LEFT"], "dil_y_i": regs["DIL_Y"], "dil_x_i": regs["DIL_X"],
             "z_in_i": entry["descriptor"]["z_in"],
             "npix_i": need.npix, "steps_i": need.steps, "kt_out_i": need.kt_out, "act_rows_i": 0}
    for port, v in drive.items():
        getattr(dut, port).value = v
    dut.start_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.start_i.value = 0
    p_write, p_pop = rng.choice([0.1, 0.5, 1.0]), rng.choice([0.2, 0.6, 1.0])
    queue = [(y, a) for y in range(rows) for a in row_words[y]]
    rows_in, qi, got, problems = 0, 0, [], []
    seen: dict[str, Any] | None = None  # the head set as first seen (it must not change until popped)
    limit = 40 * len(want) * max(1, max(s["cols"] for s in want)) + 20 * len(queue) + 1000
    for cycle in range(limit):
        write = qi < len(queue) and rng.random() < p_write
        dut.act_we_i.value = int(write)
        if write:
            y, a = queue[qi]
            dut.act_waddr_i.value = a
            dut.act_wdata_i.value = words[a]
        pop = rng.random() < p_pop
        dut.set_pop_i.value = int(pop)
        await ReadOnly()
        # the status the watchdog prints (UNITS): waits only while there is work to wait for
        waits = {n: int(getattr(dut, n).value) for n in ("set_wait_o", "row_wait_o")}
        if not int(dut.active_o.value) and any(waits.values()):
            problems.append(f"{name}: cycle {cycle}: {waits} while the gather is not active")
            break
        if int(dut.set_valid_o.value):
            now = read_set(dut, cfg.array_cols, cfg.word_bits)
            if seen is None:
                seen = now
            elif now != seen:
                problems.append(f"{name}: set {len(got)} changed while waiting for its pop")
                break
            if pop:
                got.append(now)
                seen = None
                k = len(got) - 1
                if k >= len(want) or now != {key: want[k][key] for key in now}:
                    exp = want[k] if k < len(want) else "no more sets"
                    problems.append(f"{name}: set {k}: got {fmt(now)}\n    expected {fmt(exp)}")
                    break
        if len(got) == len(want) and not int(dut.active_o.value):
            await RisingEdge(dut.clk_i)
            break
        await RisingEdge(dut.clk_i)
        if write:
            qi += 1
            if qi == len(queue) or queue[qi][0] != y:
                rows_in = y + 1
                dut.act_rows_i.value = rows_in
    else:
        problems.append(f"{name}: {len(got)} of {len(want)} sets after {limit} cycles "
                        f"(rows in {rows_in}/{rows}, active {int(dut.active_o.value)}, row wait {int(dut.row_wait_o.value)})")
    if problems:  # left the loop in the read-only phase
        await RisingEdge(dut.clk_i)
    dut.set_pop_i.value = 0
    dut.act_we_i.value = 0
    await RisingEdge(dut.clk_i)
    if not problems and int(dut.set_valid_o.value):
        problems.append(f"{name}: a set is still valid after the layer's {len(want)} sets")
    return problems


def fmt(s: Any) -> str:
    if not isinstance(s, dict):
        return str(s)
    meta = {k: v for k, v in s.items() if k != "vectors"}
    return f"{meta} vectors {[hex(v) if isinstance(v, int) else v for v in s['vectors']]}"


@cocotb.test()
async def test_register_sets_against_hexgen_addresses(dut: Any) -> None:
    await run_random_layers(dut, TEST_FILE, "gather", ("start_i", "act_we_i", "set_pop_i"), "GATHER_CASES", run_case)
