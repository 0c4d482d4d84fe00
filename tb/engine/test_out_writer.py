"""cocotb bench of rtl/out_writer.sv (the engine's output writer).

Random output regions of random words fed with random gaps: one run (base, 1..300 words) or, as
a band of a k_tile group writes, several runs of the same length a stride apart (gaps between
them); the memory port's request and write-data sides take them with random ready. Checked:
word i of run r lands once at base + r * stride + i, in order, nothing outside the runs; bursts
of 1..MAX_BURST words inside one run; the port rule that keeps the write side from waiting on the
array (a burst holds the write channel until its last word), a
write burst requested only when all its words are already in the unit (words in >= words
requested, this burst included); written_o pulses once, after the last word; words_written_o
counts the words. Environment:
RTL_SEED (default random, printed), RTL_PARAMS (the build's parameters), WRITER_CASES.
"""
from __future__ import annotations

import ast
import os
import random
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from tb.sim import bench_seed

TEST_FILE = "tests/test_rtl_out_writer.py"


async def run_case(dut: Any, rng: random.Random, p: dict[str, int], written_before: int) -> list[str]:
    run_len = rng.choice([1, 2, p["MAX_BURST"] - 1, p["MAX_BURST"], p["MAX_BURST"] + 1, rng.randint(1, 300)])
    run_len = max(1, run_len)
    runs = rng.choice([1, 1, rng.randint(2, 5)])
    stride = run_len + rng.choice([0, 1, rng.randint(2, 40)])
    n = runs * run_len
    base = rng.randrange(0, (1 << p["ADDR_W"]) - runs * stride)
    where = [base + r * stride + i for r in range(runs) for i in range(run_len)]  # word k's address
    words = [rng.getrandbits(p["WORD_BITS"]) for _ in range(n)]
    p_in, p_req, p_wr = rng.choice([0.2, 0.7, 1.0]), rng.choice([0.3, 1.0]), rng.choice([0.3, 0.8, 1.0])
    dut.out_base_i.value = base
    dut.out_len_i.value = run_len
    dut.out_rows_i.value = runs
    dut.out_stride_i.value = stride
    dut.in_valid_i.value = 0
    dut.start_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.start_i.value = 0
    dut.run_i.value = 1
    pushed = requested = 0
    bursts: list[list[int]] = []  # [address, words left]
    memory: dict[int, int] = {}
    written_pulses, cycle, problems = 0, 0, []
    while cycle < 50 * n + 500:
        cycle += 1
        offer = pushed < n and rng.random() < p_in
        dut.in_valid_i.value = int(offer)
        dut.in_data_i.value = words[pushed] if offer else 0
        req_ready = rng.random() < p_req
        wr_ready = rng.random() < p_wr
        dut.req_ready_i.value = int(req_ready)
        dut.wr_ready_i.value = int(wr_ready)
        await ReadOnly()
        if int(dut.written_o.value):
            written_pulses += 1
            if len(memory) != n:
                problems.append(f"written_o with {len(memory)} of {n} words written")
        if int(dut.req_valid_o.value) and req_ready:
            addr, length = int(dut.req_addr_o.value), int(dut.req_len_o.value)
            if pushed < requested + length:
                problems.append(f"a {length}-word burst requested with {pushed} words in and {requested} requested before it "
                                f"(the engine's port rule: only bursts whose words are all in)")
            run = (addr - base) // stride if addr >= base else -1
            if not 1 <= length <= p["MAX_BURST"] or not 0 <= run < runs or addr + length > base + run * stride + run_len:
                problems.append(f"burst of {length} words at {addr} outside the runs of {run_len} words from {base}, "
                                f"{stride} apart")
            requested += length
            bursts.append([addr, length])
        if int(dut.wr_valid_o.value) and wr_ready:
            if not bursts:
                problems.append("write data with no burst requested")
                break
            addr = bursts[0][0]
            if addr in memory:
                problems.append(f"address {addr} written twice")
            memory[addr] = int(dut.wr_data_o.value)
            bursts[0][0] += 1
            bursts[0][1] -= 1
            if bursts[0][1] == 0:
                bursts.pop(0)
        if offer and int(dut.in_ready_o.value):
            pushed += 1
        finished = written_pulses and not bursts
        await RisingEdge(dut.clk_i)
        if problems or finished:
            break
    dut.run_i.value = 0
    dut.in_valid_i.value = 0
    await RisingEdge(dut.clk_i)
    await ReadOnly()  # registers as updated by the edge
    count = int(dut.words_written_o.value)
    await RisingEdge(dut.clk_i)
    if written_pulses != 1:
        problems.append(f"written_o pulsed {written_pulses} times for a region of {n} words")
    wrong = [i for i in range(n) if memory.get(where[i]) != words[i]]
    if wrong:
        problems.append(f"{len(wrong)} of {n} words wrong or missing, first at index {wrong[0]}")
    if set(memory) - set(where):
        problems.append("words written outside the runs")
    if count != written_before + n:
        problems.append(f"words_written_o {count}, expected {written_before + n}")
    return [f"{runs} run(s) of {run_len} words from {base}, {stride} apart (in {p_in}, req {p_req}, wr {p_wr}): {m}"
            for m in problems]


@cocotb.test()
async def test_random_regions(dut: Any) -> None:
    seed = bench_seed(dut._log, TEST_FILE)
    rng = random.Random(seed)
    p = {"ADDR_W": 24, "WORD_BITS": 64, "MAX_BURST": 16, **dict(ast.literal_eval(os.environ.get("RTL_PARAMS", "[]")))}
    Clock(dut.clk_i, 10, unit="ns", impl="gpi").start()
    for name in ("start_i", "run_i", "in_valid_i", "in_data_i", "req_ready_i", "wr_ready_i", "out_base_i", "out_len_i",
                 "out_rows_i", "out_stride_i"):
        getattr(dut, name).value = 0
    dut.rst_i.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk_i)
    dut.rst_i.value = 0
    await ReadOnly()
    total = int(dut.words_written_o.value)  # 0 after reset
    await RisingEdge(dut.clk_i)
    problems: list[str] = []
    for _ in range(int(os.environ.get("WRITER_CASES", "40"))):
        before = total
        problems += await run_case(dut, rng, p, before)
        if problems:
            break
        await ReadOnly()
        total = int(dut.words_written_o.value)
        await RisingEdge(dut.clk_i)
    assert not problems, f"out_writer (seed {seed}):\n  " + "\n  ".join(problems[:5])
    dut._log.info(f"{total} words written")
