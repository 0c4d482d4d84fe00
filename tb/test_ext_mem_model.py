"""cocotb bench of the benches' own external memory model (rtl/ext_mem_model.sv, issue 13 item 1):
what every engine test stands on, measured, not assumed.

- latency: a read burst's first word comes a fixed number of cycles after LATENCY from the
  request's acceptance, the same offset for every LATENCY (1, 8, 21, configured at run time);
- ordering and contents: random bursts written through the write channel, then read back with
  several requests outstanding: the words come in request order and equal what was written;
- stall rate: with STALL = s the write data channel is not ready in s/256 of the cycles it has a
  burst, and each of the four handshakes' stall draws is on in s/256 of the cycles (within four
  standard deviations of 4,000 cycles); none with STALL = 0.
Environment: RTL_SEED (default random, printed).
"""
from __future__ import annotations

import math
import random
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from tb.sim import bench_seed

TEST_FILE = "tests/test_rtl_ext_mem_model.py"
#: cycles from a read request's acceptance to its first word, beyond LATENCY (docs/rtl.md)
FIRST_WORD_AFTER = 1
INPUTS = ("rst_i", "load_i", "dump_i", "cfg_load_i", "cfg_latency_i", "cfg_stall_i", "cfg_seed_i", "rreq_valid_i",
          "rreq_addr_i", "rreq_len_i", "wreq_valid_i", "wreq_addr_i", "wreq_len_i", "rd_ready_i", "wr_valid_i",
          "wr_data_i", "poke_we_i", "poke_addr_i", "poke_data_i")


async def setup(dut: Any, latency: int, stall: int, seed: int) -> None:
    for n in INPUTS:
        getattr(dut, n).value = 0
    dut.rst_i.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk_i)
    dut.rst_i.value = 0
    dut.cfg_load_i.value = 1
    dut.cfg_latency_i.value = latency
    dut.cfg_stall_i.value = stall
    dut.cfg_seed_i.value = seed
    await RisingEdge(dut.clk_i)
    dut.cfg_load_i.value = 0


async def _until_taken(dut: Any, ready: str) -> None:
    """Hold what is driven until `ready` is high at a clock edge (that edge takes it)."""
    while True:
        await ReadOnly()
        taken = int(getattr(dut, ready).value)
        await RisingEdge(dut.clk_i)
        if taken:
            return


async def write_bursts(dut: Any, bursts: list[tuple[int, list[int]]]) -> None:
    """Each burst: its request, then its words (one a cycle when the channel is ready)."""
    for addr, words in bursts:
        dut.wreq_valid_i.value, dut.wreq_addr_i.value, dut.wreq_len_i.value = 1, addr, len(words)
        await _until_taken(dut, "wreq_ready_o")
        dut.wreq_valid_i.value = 0
        for w in words:
            dut.wr_valid_i.value, dut.wr_data_i.value = 1, w
            await _until_taken(dut, "wr_ready_o")
        dut.wr_valid_i.value = 0


async def read_bursts(dut: Any, bursts: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Request every burst as fast as the channel takes them; (words in arrival order, per burst
    the cycles from its request's acceptance to its first word)."""
    words: list[int] = []
    accepted: list[int] = []
    first: list[int] = []
    want = sum(n for _, n in bursts)
    i = cycle = 0
    got_in_burst = 0
    dut.rd_ready_i.value = 1
    while len(words) < want:
        if i < len(bursts):
            dut.rreq_valid_i.value, dut.rreq_addr_i.value, dut.rreq_len_i.value = 1, bursts[i][0], bursts[i][1]
        else:
            dut.rreq_valid_i.value = 0
        await ReadOnly()
        if i < len(bursts) and int(dut.rreq_ready_o.value):
            accepted.append(cycle)
            i += 1
        if int(dut.rd_valid_o.value):
            if got_in_burst == 0:
                first.append(cycle)
            words.append(int(dut.rd_data_o.value))
            got_in_burst += 1
            if got_in_burst == bursts[len(first) - 1][1]:
                got_in_burst = 0
        await RisingEdge(dut.clk_i)
        cycle += 1
        if cycle > 50_000:
            raise AssertionError("the memory model stopped returning words")
    return words, [f - a for f, a in zip(first, accepted)]


@cocotb.test()
async def test_latency_order_and_contents(dut: Any) -> None:
    rng = random.Random(bench_seed(dut._log, TEST_FILE))
    Clock(dut.clk_i, 10, unit="ns").start()
    offsets = {}
    for latency in (1, 8, 21):
        await setup(dut, latency, 0, 1)
        # one burst alone: the latency itself
        await write_bursts(dut, [(100, [7, 8, 9])])
        words, delay = await read_bursts(dut, [(100, 3)])
        assert words == [7, 8, 9], words
        offsets[latency] = delay[0] - latency
        # several bursts at random addresses, written, then read back with requests outstanding
        bursts = [(rng.randrange(0, 3000), [rng.randrange(1 << 32) for _ in range(rng.randint(1, 20))]) for _ in range(6)]
        bursts = [(a + 4000 * k, w) for k, (a, w) in enumerate(bursts)]  # apart: no burst overwrites another
        await write_bursts(dut, bursts)
        order = rng.sample(bursts, len(bursts))
        words, _ = await read_bursts(dut, [(a, len(w)) for a, w in order])
        assert words == [x for _, w in order for x in w], f"latency {latency}: read-back differs from what was written"
    # the request is accepted at an edge, the burst starts LATENCY cycles later, and its first word
    # is in the read-data register one cycle after that
    assert offsets == {1: FIRST_WORD_AFTER, 8: FIRST_WORD_AFTER, 21: FIRST_WORD_AFTER}, \
        f"first word after the request: LATENCY + {offsets} cycles, expected LATENCY + {FIRST_WORD_AFTER}"


@cocotb.test()
async def test_stall_rate(dut: Any) -> None:
    Clock(dut.clk_i, 10, unit="ns").start()
    for stall in (0, 64, 128):
        await setup(dut, 8, stall, 12345)
        n, stalled = 4000, 0  # cycles with a burst queued, of them not ready
        # and the stall draws of all four handshakes (request and data, read and write)
        draws = {name: 0 for name in ("stall_rreq", "stall_rd", "stall_wr", "stall_wreq")}
        # one long burst after another: the write data channel always has a burst to take
        dut.wr_valid_i.value, dut.wr_data_i.value = 1, 5
        dut.wreq_valid_i.value, dut.wreq_addr_i.value, dut.wreq_len_i.value = 1, 0, 255
        counted = 0
        while counted < n:
            await ReadOnly()
            if int(dut.w_count_q.value) != 0:  # a burst to take: only a stall keeps the channel not ready
                stalled += 1 - int(dut.wr_ready_o.value)
                counted += 1
                for name in draws:
                    draws[name] += int(getattr(dut, name).value)
            await RisingEdge(dut.clk_i)
        dut.wr_valid_i.value = dut.wreq_valid_i.value = 0
        rate = stalled / n
        p = stall / 256
        if stall == 0:
            assert stalled == 0 and not any(draws.values()), f"STALL = 0: {stalled} stalled cycles, draws {draws}"
        else:
            sigma = math.sqrt(p * (1 - p) / n)
            for what, got in [("the write data channel", rate), *[(k, v / n) for k, v in draws.items()]]:
                assert abs(got - p) <= 4 * sigma + 0.01, f"STALL = {stall}: {what} stalled {got:.3f} of the cycles, expected {p:.3f}"
