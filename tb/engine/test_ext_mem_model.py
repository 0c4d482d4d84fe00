"""cocotb bench of the benches' own external memory model (rtl/ext_mem_model.sv, issue 13 item 1):
what every engine test stands on, measured, not assumed.

- latency: a read burst's first word comes a fixed number of cycles after LATENCY from the
  request's acceptance, the same offset for every LATENCY (1, 8, 21, configured at run time);
- ordering and contents: random bursts written through the write channel, then read back with
  several requests outstanding: the words come in request order and equal what was written;
- stall rate: with STALL = s the write data channel is not ready in s/256 of the cycles it has a
  burst, and each of the four handshakes' stall draws is on in s/256 of the cycles (within four
  standard deviations of 4,000 cycles); none with STALL = 0;
- the stall draws themselves: each cycle's four draws are the documented xorshift32's bytes below
  STALL, from the seed configured at run time and from the one reset takes (+MEM_SEED; seed 0
  runs as 1), so a seed reproduces a run's stalls exactly;
- backpressure and gaps: read data held while rd_ready_i is low, write data offered with gaps,
  and no write word taken while no write burst is queued: contents still exact;
- the image file: load_i re-reads +MEM_INIT, dump_i writes every word to +MEM_DUMP.
Environment: RTL_SEED (default random, printed). The pytest side (tests/test_rtl_ext_mem_model.py)
passes the plusargs: +MEM_INIT, +MEM_DUMP, +MEM_STALL and +MEM_SEED.
"""
from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge, Timer

from tb.sim import bench_seed

TEST_FILE = "tests/test_rtl_ext_mem_model.py"
#: cycles from a read request's acceptance to its first word, beyond LATENCY (docs/rtl.md)
FIRST_WORD_AFTER = 1
INPUTS = ("rst_i", "load_i", "dump_i", "cfg_load_i", "cfg_latency_i", "cfg_stall_i", "cfg_seed_i", "rreq_valid_i",
          "rreq_addr_i", "rreq_len_i", "wreq_valid_i", "wreq_addr_i", "wreq_len_i", "rd_ready_i", "wr_valid_i",
          "wr_data_i", "poke_we_i", "poke_addr_i", "poke_data_i")


async def reset(dut: Any) -> None:
    """Every input 0, reset for three cycles; returns at the edge that released it."""
    for n in INPUTS:
        getattr(dut, n).value = 0
    dut.rst_i.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk_i)
    dut.rst_i.value = 0


async def setup(dut: Any, latency: int, stall: int, seed: int) -> None:
    await reset(dut)
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


async def write_bursts(dut: Any, bursts: list[tuple[int, list[int]]], gaps: random.Random | None = None) -> None:
    """Each burst: its request, then its words (one a cycle when the channel is ready; with
    `gaps`, up to two cycles without valid before each word, the data lines holding junk)."""
    for addr, words in bursts:
        dut.wreq_valid_i.value, dut.wreq_addr_i.value, dut.wreq_len_i.value = 1, addr, len(words)
        await _until_taken(dut, "wreq_ready_o")
        dut.wreq_valid_i.value = 0
        for w in words:
            for _ in range(gaps.choice((0, 0, 1, 2)) if gaps else 0):
                dut.wr_valid_i.value, dut.wr_data_i.value = 0, gaps.randrange(1 << 32) if gaps else 0
                await RisingEdge(dut.clk_i)
            dut.wr_valid_i.value, dut.wr_data_i.value = 1, w
            await _until_taken(dut, "wr_ready_o")
        dut.wr_valid_i.value = 0


async def read_bursts(dut: Any, bursts: list[tuple[int, int]], ready: float = 1.0,
                     rng: random.Random | None = None) -> tuple[list[int], list[int]]:
    """Request every burst as fast as the channel takes them, taking read data in `ready` of the
    cycles (drawn from `rng`); (words in arrival order, per burst the cycles from its request's
    acceptance to its first word)."""
    words: list[int] = []
    accepted: list[int] = []
    first: list[int] = []
    want = sum(n for _, n in bursts)
    i = cycle = 0
    got_in_burst = 0
    while len(words) < want:
        dut.rd_ready_i.value = int(ready >= 1.0 or (rng is not None and rng.random() < ready))
        if i < len(bursts):
            dut.rreq_valid_i.value, dut.rreq_addr_i.value, dut.rreq_len_i.value = 1, bursts[i][0], bursts[i][1]
        else:
            dut.rreq_valid_i.value = 0
        await ReadOnly()
        if i < len(bursts) and int(dut.rreq_ready_o.value):
            accepted.append(cycle)
            i += 1
        if int(dut.rd_valid_o.value) and int(dut.rd_ready_i.value):
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
    dut.rd_ready_i.value = 1
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


def xorshift32(x: int) -> int:
    """The memory model's stall generator as docs/rtl.md states it (Marsaglia's 13, 17, 5)."""
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    x ^= (x << 5) & 0xFFFFFFFF
    return x


DRAW_BYTES = {"stall_rreq": 0, "stall_rd": 1, "stall_wr": 2, "stall_wreq": 3}  # the byte of the draw each uses


async def expect_draws(dut: Any, seed: int, stall: int, cycles: int, what: str) -> None:
    """From this cycle on, each cycle's four stall draws are xorshift32's bytes below `stall`,
    starting at `seed` (0 runs as 1)."""
    x = seed or 1
    for cycle in range(cycles):
        await ReadOnly()
        got = {n: int(getattr(dut, n).value) for n in DRAW_BYTES}
        want = {n: int((x >> (8 * b)) & 0xFF < stall) for n, b in DRAW_BYTES.items()}
        assert got == want, f"{what}, cycle {cycle}: stall draws {got}, xorshift32 gives {want}"
        await RisingEdge(dut.clk_i)
        x = xorshift32(x)


@cocotb.test()
async def test_stall_draws_follow_the_seed(dut: Any) -> None:
    Clock(dut.clk_i, 10, unit="ns").start()
    # the seed loaded at run time (cfg_load_i); reset's own seed is test_reset_seed's
    for seed in (0, 1, 0x9E3779B9, 0xFFFFFFFF):
        await setup(dut, 8, 100, seed)
        await expect_draws(dut, seed, 100, 300, f"cfg_seed_i = {seed:#x}")


@cocotb.test()
async def test_reset_seed(dut: Any) -> None:
    """The seed and stall rate reset takes (+MEM_SEED, +MEM_STALL), before any cfg_load_i."""
    seed, stall = int(cocotb.plusargs["MEM_SEED"]), int(cocotb.plusargs["MEM_STALL"])
    Clock(dut.clk_i, 10, unit="ns").start()
    await reset(dut)
    await expect_draws(dut, seed, stall, 300, f"+MEM_SEED={seed} from reset")


@cocotb.test()
async def test_backpressure_and_gaps(dut: Any) -> None:
    rng = random.Random(bench_seed(dut._log, TEST_FILE))
    Clock(dut.clk_i, 10, unit="ns").start()
    for stall in (0, 64):
        await setup(dut, 4, stall, 7)
        # write data offered while no write burst is queued: the model must not take it
        dut.wr_valid_i.value, dut.wr_data_i.value = 1, 0xBAD
        for cycle in range(20):
            await ReadOnly()
            assert not int(dut.wr_ready_o.value), f"STALL = {stall}: write word taken with no write burst queued (cycle {cycle})"
            await RisingEdge(dut.clk_i)
        dut.wr_valid_i.value = 0
        bursts = [(3000 * k + rng.randrange(0, 2000), [rng.randrange(1 << 32) for _ in range(rng.randint(1, 30))]) for k in range(8)]
        await write_bursts(dut, bursts, gaps=rng)
        order = rng.sample(bursts, len(bursts))
        words, _ = await read_bursts(dut, [(a, len(w)) for a, w in order], ready=0.4, rng=rng)
        assert words == [x for _, w in order for x in w], \
            f"STALL = {stall}: read-back differs from what was written (write data with gaps, read data taken in 40% of the cycles)"


def _hex_words(path: Path) -> list[str]:
    return [l.strip().lower() for l in path.read_text().splitlines() if l.strip() and not l.lstrip().startswith("//")]


@cocotb.test()
async def test_load_and_dump(dut: Any) -> None:
    rng = random.Random(bench_seed(dut._log, TEST_FILE))
    init, dump = Path(cocotb.plusargs["MEM_INIT"]), Path(cocotb.plusargs["MEM_DUMP"])
    image = [rng.randrange(1 << 32) for _ in range(64)]
    init.write_text("".join(f"{w:08x}\n" for w in image))
    dump.unlink(missing_ok=True)
    Clock(dut.clk_i, 10, unit="ns").start()
    await setup(dut, 2, 0, 1)
    dut.load_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.load_i.value = 0
    words, _ = await read_bursts(dut, [(0, 64)])
    assert words == image, "load_i: the words read back differ from +MEM_INIT's"
    written = [rng.randrange(1 << 32) for _ in range(5)]
    await write_bursts(dut, [(40000, written)])
    dut.dump_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.dump_i.value = 0
    await Timer(1, unit="ns")
    assert dump.is_file(), f"dump_i wrote no {dump}"
    lines = _hex_words(dump)
    assert len(lines) == 1 << 16, f"{dump}: {len(lines)} words, expected 65536"
    assert [int(l, 16) for l in lines[:64]] == image and [int(l, 16) for l in lines[40000:40005]] == written, \
        f"{dump}: the loaded image or the written burst is not where it belongs"
