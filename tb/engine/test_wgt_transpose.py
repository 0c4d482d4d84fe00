"""cocotb bench of rtl/wgt_transpose.sv (the weight transposer: Q K^T's K from its token layout into
the weight bank in the fc weight order) against hexgen's layouts.

Each case is a random key tensor K [T, D] (codes), laid out as the qkv linear writes it
(hexgen.tokens.token_layout, one image and one head). The bench plays the load sequencer and the
burst reader of a transposed weight load (register W_TRANSPOSE): per k_tile, for each channel
tile, the k_tile's ROWS token words (token kt * ROWS + j is word kt * ROWS + j of the channel
tile: checked against hexgen.layout.element_address for every real token) written at ROWS
consecutive bank addresses, one command per k_tile, its last word with last_i; words come back to
back or with random gaps (the reader gives at most one a cycle). Checked:
- every bank word of the k_tile, after W_XOR (bit 7 of each byte inverted, as rtl/wgt_unpack.sv
  does), equals hexgen's weight order of K (hexgen.tokens.b_weight_layout of b_weights(K)) in every
  lane of a real key; the lanes of padded keys (the next channel tile's tokens, read past the
  k_tile) feed only padded output channels and are not compared;
- each bank address is written exactly once, and done_o pulses once per command, in the cycle of
  its last bank write or after it (a k_tile counts as loaded only once all its words are in);
- without W_TRANSPOSE the words and the done pass through unchanged.
Environment: RTL_SEED (default random, printed), RTL_PARAMS (ROWS, WORD_BITS).
"""
from __future__ import annotations

import ast
import os
import random
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from hexgen.config import HardwareConfig
from hexgen.layout import element_address, to_words
from hexgen.tokens import b_weight_layout, b_weights, token_layout
from tb.sim import bench_seed

TEST_FILE = "tests/test_rtl_wgt_transpose.py"
DEFAULTS = {"ROWS": 8, "WORD_BITS": 64}


class Bank:
    """Monitor of the unit's bank writes and done pulses (cycle stamped)."""

    def __init__(self, dut: Any) -> None:
        self.dut = dut
        self.writes: list[tuple[int, int, int]] = []  # (cycle, address, word)
        self.dones: list[int] = []
        self.cycle = 0

    async def run(self) -> None:
        while True:
            await RisingEdge(self.dut.clk_i)
            await ReadOnly()
            self.cycle += 1
            if int(self.dut.out_we_o.value):
                self.writes.append((self.cycle, int(self.dut.out_addr_o.value), int(self.dut.out_data_o.value)))
            if int(self.dut.done_o.value):
                self.dones.append(self.cycle)


async def drive(dut: Any, rng: random.Random, words: list[tuple[int, int, bool]], gap: float) -> None:
    """(address, data, last) one a cycle at most, a random idle cycle before a word with probability gap."""
    for addr, data, last in words:
        while rng.random() < gap:
            dut.in_we_i.value = 0
            dut.in_last_i.value = 0
            await RisingEdge(dut.clk_i)
        dut.in_we_i.value, dut.in_addr_i.value, dut.in_data_i.value, dut.in_last_i.value = 1, addr, data, int(last)
        await RisingEdge(dut.clk_i)
    dut.in_we_i.value = 0
    dut.in_last_i.value = 0


async def reset(dut: Any) -> None:
    """A 10 ns clock, two cycles of reset with every input low."""
    Clock(dut.clk_i, 10, unit="ns", impl="gpi").start()
    dut.rst_i.value = 1
    dut.start_i.value = 0
    dut.in_we_i.value = 0
    dut.in_last_i.value = 0
    dut.transpose_i.value = 0
    for _ in range(2):
        await RisingEdge(dut.clk_i)
    dut.rst_i.value = 0


async def run_case(dut: Any, mon: Bank, rng: random.Random, cfg: HardwareConfig, t: int, d: int, transpose: bool,
                   gap: float) -> list[str]:
    r, wb = cfg.array_rows, cfg.word_bits
    k = np.random.default_rng(rng.getrandbits(32)).integers(0, 256, (1, 1, t, d), dtype=np.int64)
    tok = token_layout((1, t, d), 128, cfg, 1)
    mem = to_words(k, tok)
    mem += [rng.getrandbits(wb) for _ in range(r)]  # the words after the segment (a padded key reads them)
    ct, kts = -(-d // r), -(-t // r)
    tile = [element_address(tok, (0, 0, 0, c * r))[0] for c in range(ct)]
    bad = [f"token {i} of channel tile {c} is not word {i} of the tile"
           for c in range(ct) for i in range(t) if element_address(tok, (0, 0, i, c * r))[0] != tile[c] + i]
    if bad:
        return bad
    want_lay = b_weight_layout((1, t, d), True, 1, cfg)
    want = to_words(b_weights(k, True), want_lay)  # [k_tile][c_tile][c_lane][k_lane], code - 128
    base = rng.randrange(0, 64) * r  # the bank's first word for the k_tile (a block's r words at consecutive addresses)
    dut.transpose_i.value = int(transpose)
    dut.start_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.start_i.value = 0
    problems: list[str] = []
    for kt in range(kts):
        mon.writes.clear()
        mon.dones.clear()
        # the load sequencer's command: ROWS words of each channel tile, ROWS apart in the bank
        if transpose:
            cmd = [(base + c * r + j, mem[tile[c] + kt * r + j]) for c in range(ct) for j in range(r)]
        else:  # pass through: the weight order's words as they are
            cmd = [(base + i, want[kt * ct * r + i]) for i in range(ct * r)]
        await drive(dut, rng, [(a, w, i == len(cmd) - 1) for i, (a, w) in enumerate(cmd)], gap)
        for _ in range(r + 3):
            await RisingEdge(dut.clk_i)
        addrs = [a for _, a, _ in mon.writes]
        if sorted(addrs) != list(range(base, base + ct * r)):
            problems.append(f"T {t} D {d} k_tile {kt}: bank addresses written {addrs}, want each of {base}..{base + ct * r - 1} once")
            break
        if len(mon.dones) != 1 or mon.dones[0] < max(c for c, _, _ in mon.writes):
            problems.append(f"T {t} D {d} k_tile {kt}: done at cycles {mon.dones}, last bank write at "
                            f"{max(c for c, _, _ in mon.writes)}")
        flip = int("80" * r, 16) if transpose else 0  # W_XOR: codes as int8 (rtl/wgt_unpack.sv)
        for _, a, w in mon.writes:
            i = a - base
            exp = want[kt * ct * r + i]
            for j in range(r):
                if kt * r + j >= t:
                    continue  # a padded key: its output channel is padded (scale record 0 -> z_out)
                got_b, exp_b = (w ^ flip) >> 8 * j & 0xFF, exp >> 8 * j & 0xFF
                if got_b != exp_b:
                    c_tile, c_lane = divmod(i, r)
                    problems.append(f"T {t} D {d} transpose {int(transpose)}: key {kt * r + j} channel {c_tile * r + c_lane}: "
                                    f"bank word {a} lane {j} 0x{got_b:02x}, hexgen's weight order 0x{exp_b:02x}")
        if problems:
            break
    return problems


@cocotb.test()
async def test_against_hexgen_layouts(dut: Any) -> None:
    seed = bench_seed(dut._log, TEST_FILE)
    rng = random.Random(seed)
    p = {**DEFAULTS, **dict(ast.literal_eval(os.environ.get("RTL_PARAMS", "[]")))}
    r = int(p["ROWS"])
    cfg = HardwareConfig(array_rows=r, array_cols=r, word_bits=int(p["WORD_BITS"]))
    await reset(dut)
    # (T, D, transpose, gap): a partial last k_tile and channel tile, back to back; whole tiles with
    # gaps; a random shape; the pass-through
    cases = [(2 * r + 3, 2 * r + max(1, r // 2), True, 0.0), (2 * r, r, True, 0.3),
             (rng.randrange(1, 3 * r), rng.randrange(1, 3 * r), True, rng.choice([0.0, 0.1, 0.5])), (r + 1, 2 * r, False, 0.2)]
    problems: list[str] = []
    mon = Bank(dut)  # samples each cycle's writes after the clock edge, from the first word on
    cocotb.start_soon(mon.run())
    for t, d, transpose, gap in cases:
        problems += await run_case(dut, mon, rng, cfg, t, d, transpose, gap)
        if problems:
            break
    assert not problems, f"wgt_transpose disagrees with hexgen's layouts (seed {seed}):\n  " + "\n  ".join(problems[:6])


# Only when asked for (TR_FAULT=partial): its success is the simulation stopping, which would end
# the test before it in a run of the whole module.
@cocotb.test(skip=os.environ.get("TR_FAULT") != "partial")
async def test_a_command_ending_inside_a_block(dut: Any) -> None:
    """A weight command of ROWS - 1 words with W_TRANSPOSE (a reader that cut a block short): the
    unit's checker must stop the simulation (tests/test_rtl_wgt_transpose.py reads its message);
    reaching the end of this test means it did not."""
    await reset(dut)
    dut.transpose_i.value = 1
    dut.start_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.start_i.value = 0
    rows = int(dict(ast.literal_eval(os.environ.get("RTL_PARAMS", "[]"))).get("ROWS", DEFAULTS["ROWS"]))
    await drive(dut, random.Random(0), [(i, i, i == rows - 2) for i in range(rows - 1)], 0.0)
    for _ in range(4):
        await RisingEdge(dut.clk_i)
    raise AssertionError("a weight command ending inside a block did not stop the simulation")
