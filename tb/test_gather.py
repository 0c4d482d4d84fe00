"""cocotb bench of rtl/gather.sv (the engine's gather unit: activation buffer and register sets).

Each case is a random conv, depthwise, pointwise or fc layer that fits the hardware description
($HW: a hexgen.hw preset), laid out by hexgen (build_image): random kernel (non-square too),
stride 1..4 per axis, padding 0..kernel-1 per axis, channel counts below, at and above the array
size. The bench plays the reader and the compute unit:
- before start the activation buffer holds the complement of every input word, so a word read
  before its row arrived cannot match; after start the input rows arrive in order, word for word
  at their segment offsets, with random gaps, and act_y_i counts the rows that are in;
- the compute unit pops the oldest full set after a random delay.
Every set popped is checked against the expected sequence, which comes from elsewhere: the order
of the sets is the layer's schedule in hexgen's memory map (`schedule`, `pixel_tile`); the input
pixel each column of a step reads is PyTorch's convolution window (torch.nn.functional.unfold of
an index image); the word it holds is the input segment's word at hexgen's address function
(hexgen.layout.element_address, which the memory map's exported `strides` must agree with), or
z_in in every lane where the window lies in the padding.
Checked per set: the COLS vectors of the columns in use, first / last / k_tile-last, the column
count, step, channel tile and k_tile; that a set does not change between becoming visible and its
pop; and that the gather ends inactive after the last set. Environment: RTL_SEED (default random,
printed), HW (preset), GATHER_CASES (layers per run).
"""
from __future__ import annotations

import itertools
import os
import random
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from hexgen import build_image, synth
from hexgen.errors import HexgenError
from hexgen.hw import load_hw
from hexgen.layout import element_address
from hexgen.rules import descriptor_registers, register_needs
from tb.sim import bench_seed

TEST_FILE = "tests/test_rtl_gather.py"
KINDS = ("conv", "depthwise", "pointwise", "fc")


def random_layer(rng: random.Random, cfg: Any, kind: str) -> tuple[Any, Any, Any]:
    """A small layer of `kind` that hexgen lays out for `cfg` (drawn again until one fits): the
    golden layer, hexgen's image and the input (uint8 [1, *in_shape])."""
    nrng = np.random.default_rng(rng.randrange(2**31))
    r = cfg.array_rows
    while True:
        c = rng.choice([1, 3, r - 1, r, r + 1, 2 * r + 3])
        c = max(c, 1)
        if kind == "fc":
            layer = synth.fc_layer(nrng, c=rng.randint(1, 3 * r + 5), k=rng.randint(1, 2 * r + 3))
        else:
            if kind == "pointwise":
                kernel = (1, 1)
            else:
                kernel = (rng.choice([1, 2, 3, 5]), rng.choice([1, 2, 3, 5]))
                if kind == "conv" and kernel == (1, 1):
                    kernel = (3, 1)
            hw = (rng.randint(kernel[0], 11), rng.randint(kernel[1], 11))
            pad = (rng.randint(0, kernel[0] - 1), rng.randint(0, kernel[1] - 1))
            layer = synth.conv_layer(nrng, c=c, k=c if kind == "depthwise" else rng.randint(1, 2 * r + 3), hw=hw,
                                     kernel=kernel, stride=(rng.randint(1, 4), rng.randint(1, 4)), padding=pad,
                                     depthwise=kind == "depthwise")
            if layer.kind != kind:  # golden's classification (a 1-channel depthwise is a conv)
                continue
        net = synth.network([layer], layer.in_shape)
        x = nrng.integers(0, 256, (1, *layer.in_shape)).astype(np.uint8)
        try:
            return layer, build_image(net, x, cfg, model="gather"), x
        except HexgenError:
            continue  # does not fit this description: draw again


def expected_sets(image: Any, layer: Any, cfg: Any) -> list[dict[str, Any]]:
    """The register sets in the order the memory map's schedule gives, from PyTorch's window and
    hexgen's address function (with p0, the tile's first pixel, which the unit does not output)."""
    import torch
    import torch.nn.functional as F

    entry = image.memory_map()["layers"][0]
    regs = descriptor_registers(entry["descriptor"])
    need = register_needs(regs, cfg.array_rows, cfg.word_bits)
    seg = image.segment(layer.name, "input")
    lay, words = seg.layout, seg.words
    r = cfg.array_rows
    h, w = regs["IN_H"], regs["IN_W"]
    # source[tap, p]: 1 + the input pixel (y * W + x) output pixel p reads at kernel tap
    # (ky * KW + kx), 0 where the window lies in the padding
    index = torch.arange(1, h * w + 1, dtype=torch.float64).reshape(1, 1, h, w)
    source = F.unfold(index, (regs["KH"], regs["KW"]), stride=(regs["STRIDE_Y"], regs["STRIDE_X"]),
                      padding=(regs["PAD_Y"], regs["PAD_X"]))[0].numpy().astype(np.int64)
    assert source.shape[1] == need.npix, (source.shape, need.npix)
    pad_word = int.from_bytes(bytes([entry["descriptor"]["z_in"]]) * r, "little")
    # the strides the memory map exports for address generators written by hand: they must name
    # the same word as element_address
    exported = next(s for s in image.memory_map()["segments"] if s["layer"] == layer.name and s["segment"] == "input")
    strides = {e["axis"]: e["stride"] for e in exported["layout"]["strides"]}

    def word(ct: int, pix: int) -> int:
        if pix == 0:
            return pad_word
        y, x = divmod(pix - 1, w)
        index = (0, ct * r, y, x) if len(lay.shape) == 4 else (0, ct * r)
        address = element_address(lay, index)[0]
        coord = {"n": 0, "c_tile": ct, "y": y, "x": x, "c_lane": 0}
        by_strides = sum(coord[a] * s for a, s in strides.items()) * lay.elem_bits // lay.word_bits
        assert by_strides == address, f"memory map strides give word {by_strides}, element_address {address}"
        return words[address]

    sizes = {"k_tile": need.kt_out, "p_tile": -(-need.npix // entry["pixel_tile"]), "c_tile": need.ct_in,
             "ky": regs["KH"], "kx": regs["KW"]}
    axes = [a for a in entry["schedule"] if a != "c_lane"]  # c_lane: the beats within a set
    step_axes = axes[axes.index("p_tile") + 1:] if "p_tile" in axes else axes[1:]
    out = []
    for point in itertools.product(*(range(sizes[a]) for a in axes)):
        at = dict(zip(axes, point))
        kt, pt = at["k_tile"], at.get("p_tile", 0)
        ct = kt if need.depthwise else at.get("c_tile", 0)
        ky, kx = at.get("ky", 0), at.get("kx", 0)
        step = 0
        for a in step_axes:
            step = step * sizes[a] + at[a]
        p0 = pt * entry["pixel_tile"]
        cols = min(entry["pixel_tile"], need.npix - p0)
        tap = ky * regs["KW"] + kx
        out.append({"p0": p0, "kt": kt, "step": step, "ct": ct, "first": int(step == 0), "last": int(step == need.steps - 1),
                    "ktlast": int(step == need.steps - 1 and p0 + cols >= need.npix), "cols": cols,
                    "vectors": [word(ct, int(source[tap, p0 + j])) for j in range(cols)]})
    return out


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


async def run_case(dut: Any, rng: random.Random, cfg: Any, layer: Any, image: Any) -> list[str]:
    entry = image.memory_map()["layers"][0]
    regs = descriptor_registers(entry["descriptor"])
    need = register_needs(regs, cfg.array_rows, cfg.word_bits)
    seg = image.segment(layer.name, "input")
    lay, words = seg.layout, seg.words
    name = f"{entry['kind']} {entry['descriptor']['in_shape']}->{entry['descriptor']['out_shape']} " \
           f"k{regs['KH']}x{regs['KW']} s{regs['STRIDE_Y']}x{regs['STRIDE_X']} p{regs['PAD_Y']}x{regs['PAD_X']}"
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
    rows = regs["IN_H"]
    row_words = []
    for y in range(rows):
        if len(lay.shape) == 4:
            addrs = sorted({element_address(lay, (0, ct * cfg.array_rows, y, x))[0]
                            for ct in range(need.ct_in) for x in range(regs["IN_W"])})
        else:  # fc: the whole vector is row 0
            addrs = sorted({element_address(lay, (0, ct * cfg.array_rows))[0] for ct in range(need.ct_in)})
        row_words.append(addrs)
    drive = {"is_dw_i": int(need.depthwise), "in_h_i": regs["IN_H"], "in_w_i": regs["IN_W"], "out_w_i": regs["OUT_W"],
             "kh_i": regs["KH"], "kw_i": regs["KW"], "sy_i": regs["STRIDE_Y"], "sx_i": regs["STRIDE_X"],
             "py_i": regs["PAD_Y"], "px_i": regs["PAD_X"], "z_in_i": entry["descriptor"]["z_in"],
             "npix_i": need.npix, "steps_i": need.steps, "kt_out_i": need.kt_out, "act_y_i": 0}
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
                dut.act_y_i.value = rows_in
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
    seed = bench_seed(dut._log, TEST_FILE, os.environ.get("HW", "default"))
    rng = random.Random(seed)
    cfg = load_hw(os.environ.get("HW", "default"))
    Clock(dut.clk_i, 10, unit="ns", impl="gpi").start()
    dut.rst_i.value = 1
    dut.start_i.value = 0
    dut.act_we_i.value = 0
    dut.set_pop_i.value = 0
    for _ in range(2):
        await RisingEdge(dut.clk_i)
    dut.rst_i.value = 0
    problems: list[str] = []
    kinds = set()
    for i in range(int(os.environ.get("GATHER_CASES", "24"))):  # the kinds in turn, so each is covered
        layer, image, _x = random_layer(rng, cfg, KINDS[i % len(KINDS)])
        kinds.add(layer.kind)
        problems += await run_case(dut, rng, cfg, layer, image)
        if problems:
            break
    assert not problems, f"gather disagrees with hexgen (seed {seed}):\n  " + "\n  ".join(problems[:5])
    assert kinds == set(KINDS), f"the cases covered only {kinds}"
