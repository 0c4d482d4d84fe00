"""cocotb bench of rtl/requant.sv through tb/engine/hdl/requant_tb.sv. Reference model: golden.arith.

Bulk vectors go through the harness's vector memory ($readmemh -> RTL streams them -> $writememh),
so Python does not touch the design every cycle; handshake and latency are checked by driving the
DUT's ports directly. Run by tests/test_rtl_requant.py (pytest, both simulators).
Environment: RTL_SEED (default: random, printed), REQUANT_VECTORS (random vectors per M0 width).
"""
from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge, with_timeout

from tb.engine import requant_vectors as rv
from tb.sim import rerun_command

TEST_FILE = "tests/test_rtl_requant.py"
LATENCY = 4


def seed_from_env() -> int:
    s = os.environ.get("RTL_SEED")
    return int(s) if s else random.SystemRandom().randrange(2**31)


def lanes_of(dut) -> int:
    return len(dut.out_ovf_o)


async def setup(dut) -> None:
    Clock(dut.clk_i, 10, unit="ns", impl="gpi").start()
    for name in ("mode_i", "load_i", "dump_i", "start_i", "in_valid_i", "out_ready_i"):
        getattr(dut, name).value = 0
    for name in ("count_i", "seed_i", "stall_i", "bp_i", "in_acc_i", "in_bias_mant_i", "in_bias_shift_i",
                 "in_m0_i", "in_n_i", "in_z_out_i", "in_lo_i", "in_hi_i"):
        getattr(dut, name).value = 0
    dut.rst_i.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk_i)
    dut.rst_i.value = 0
    await RisingEdge(dut.clk_i)


def report_mismatches(v: rv.Vectors, exp: np.ndarray, got: np.ndarray, what: str, seed: int, extra: str = "") -> None:
    bad = np.argwhere(exp != got)
    if not len(bad):
        return
    sim = os.environ.get("RTL_SIM", "?")
    lines = [f"{what}: {len(bad)} of {exp.size} outputs differ (seed {seed}, {sim})"]
    for b, l in bad[:10]:
        row = v.row(int(b), int(l))
        total = int(v.total()[b, l])
        lines.append(f"  beat {b} lane {l}: inputs {row} (acc+bias_term={total}) expected {int(exp[b, l])} got {int(got[b, l])}")
    lines.append(f"  rerun: {rerun_command(TEST_FILE, sim, seed, extra)}")
    raise AssertionError("\n".join(lines))


async def run_stream(dut, v: rv.Vectors, *, seed: int, stall: int = 0, bp: int = 0, tag: str = "vec") -> tuple[np.ndarray, np.ndarray, int]:
    """Stream `v` through the DUT from the vector memory; returns (outputs, ovf, cycles)."""
    depth = 16384
    assert v.beats <= depth, f"{v.beats} beats exceed the harness DEPTH {depth}"
    vec_file, res_file = Path("requant_vec.hex"), Path("requant_res.hex")
    rv.write_vectors(v, vec_file)
    dut.mode_i.value = 1
    dut.count_i.value = v.beats
    dut.load_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.load_i.value = 0
    dut.seed_i.value = seed & 0xFFFFFFFF or 1
    dut.stall_i.value = stall
    dut.bp_i.value = bp
    dut.start_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.start_i.value = 0
    limit = (v.beats * 4 * 256 // max(1, 256 - max(stall, bp)) + 100) * 10
    await with_timeout(RisingEdge(dut.done_o), limit, "ns")
    cycles = int(dut.cycles_o.value)
    dut.dump_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.dump_i.value = 0
    await RisingEdge(dut.clk_i)
    got, ovf = rv.read_results(res_file, v.beats, v.lanes)
    return got, ovf, cycles


@cocotb.test()
async def test_corners(dut) -> None:
    """Deterministic corners (int32 extremes, M0 max, n = 1 and 63, ties, bias modes, clamps)."""
    await setup(dut)
    v = rv.corner_vectors(lanes_of(dut))
    exp = rv.expected(v)
    for stall, bp in ((0, 0), (100, 150)):
        got, ovf, cycles = await run_stream(dut, v, seed=12345, stall=stall, bp=bp)
        assert not ovf.any(), "ovf flagged for in-contract corner vectors"
        report_mismatches(v, exp, got, f"corners (stall {stall}, backpressure {bp})", 0, "corners")
        dut._log.info("corners: %d vectors bit-exact (stall %d/256, backpressure %d/256, %d cycles)", v.count, stall, bp, cycles)


@cocotb.test()
async def test_random(dut) -> None:
    """>= 100,000 constrained-random vectors per M0 width (16 and 1), plus mixed widths up to 31 bits."""
    seed = seed_from_env()
    n_vec = int(os.environ.get("REQUANT_VECTORS", "100000"))
    sim = os.environ.get("RTL_SIM", "?")
    dut._log.info("seed %d (rerun: %s)", seed, rerun_command(TEST_FILE, sim, seed, "random"))
    await setup(dut)
    rng = np.random.default_rng(seed)
    lanes = lanes_of(dut)
    stats = []
    total = 0
    chunk = 16000 * lanes  # the harness's vector memory holds 16384 beats
    plan = ((16, n_vec, 0, 0), (1, n_vec, 40, 40), (None, max(1, n_vec // 5), 120, 120))
    for i, (m0_bits, count, stall, bp) in enumerate(plan):
        done = 0
        while done < count:
            v = rv.random_vectors(rng, min(chunk, count - done), lanes, m0_bits)
            exp = rv.expected(v)
            t0 = time.perf_counter()
            got, ovf, cycles = await run_stream(dut, v, seed=seed + i + done, stall=stall, bp=bp)
            wall = time.perf_counter() - t0
            assert not ovf.any(), "ovf flagged for in-contract vectors"
            report_mismatches(v, exp, got, f"random m0_bits={m0_bits}", seed, "random")
            done += v.count
            total += v.count
            stats.append({"m0_bits": m0_bits, "vectors": v.count, "beats": v.beats, "cycles": cycles, "wall_s": wall,
                          "stall": stall, "backpressure": bp})
            dut._log.info("random m0_bits=%s: %d vectors bit-exact in %d cycles, %.2f s (%.0f vectors/s incl. file I/O)",
                          m0_bits, v.count, cycles, wall, v.count / wall)
    Path("requant_stats.json").write_text(json.dumps({"sim": sim, "seed": seed, "lanes": lanes, "runs": stats}))
    dut._log.info("random: %d vectors bit-exact against golden.arith.requantize (seed %d)", total, seed)


@cocotb.test()
async def test_direct_handshake(dut) -> None:
    """Python drives the ports: latency 4 with out_ready high, stalls with random out_ready, ovf flag."""
    seed = seed_from_env()
    await setup(dut)
    lanes = lanes_of(dut)
    rng = np.random.default_rng(seed)
    pyr = random.Random(seed)
    v = rv.random_vectors(rng, 200 * lanes, lanes, 16)
    exp = rv.expected(v)
    dut.mode_i.value = 0

    def drive(b: int) -> None:
        def pack(a, w):
            return sum((int(x) & ((1 << w) - 1)) << (w * l) for l, x in enumerate(a))
        dut.in_acc_i.value = pack(v.acc[b], 32)
        dut.in_bias_mant_i.value = pack(v.mant[b], 32)
        dut.in_bias_shift_i.value = pack(v.shift[b], 4)
        dut.in_m0_i.value = pack(v.m0[b], 31)
        dut.in_n_i.value = pack(v.n[b], 6)
        dut.in_z_out_i.value = int(v.z[b])
        dut.in_lo_i.value = int(v.lo[b])
        dut.in_hi_i.value = int(v.hi[b])

    # 1. latency: one beat, out_ready high
    dut.out_ready_i.value = 1
    drive(0)
    dut.in_valid_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.in_valid_i.value = 0
    for cyc in range(1, 10):
        await ReadOnly()
        if int(dut.out_valid_o.value):
            break
        await RisingEdge(dut.clk_i)
    assert cyc == LATENCY, f"latency {cyc} cycles, documented {LATENCY}"
    await RisingEdge(dut.clk_i)

    # 2. random valid and ready; collect outputs in order
    got: list[list[int]] = []
    b = 0
    in_valid = False
    cycles = 0
    while len(got) < v.beats:
        cycles += 1
        assert cycles < 20 * v.beats, f"timeout: {len(got)} of {v.beats} beats out"
        if not in_valid and b < v.beats and pyr.random() < 0.7:
            drive(b)
            in_valid = True
        dut.in_valid_i.value = int(in_valid)
        dut.out_ready_i.value = int(pyr.random() < 0.6)
        await ReadOnly()
        fire_in = in_valid and int(dut.in_ready_o.value)
        if int(dut.out_fire_o.value):
            word = int(dut.out_data_o.value)
            got.append([(word >> (8 * l)) & 0xFF for l in range(lanes)])
            assert int(dut.out_ovf_o.value) == 0
        await RisingEdge(dut.clk_i)
        if fire_in:
            b += 1
            in_valid = False
    dut.in_valid_i.value = 0
    report_mismatches(v, exp, np.array(got, np.uint8), "direct drive with random valid/ready", seed, "handshake")

    # 3. acc + bias_term outside int32 (outside the contract): the lane flags ovf
    dut.out_ready_i.value = 1
    dut.in_acc_i.value = (2**31 - 1)
    dut.in_bias_mant_i.value = 1
    dut.in_bias_shift_i.value = 0
    dut.in_m0_i.value = sum(1 << (31 * l) for l in range(lanes))
    dut.in_n_i.value = sum(1 << (6 * l) for l in range(lanes))
    dut.in_valid_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.in_valid_i.value = 0
    for _ in range(LATENCY - 1):
        await RisingEdge(dut.clk_i)
    await ReadOnly()
    assert int(dut.out_valid_o.value) == 1
    assert int(dut.out_ovf_o.value) & 1 == 1, "lane 0 must flag acc + bias_term outside int32"
    assert int(dut.out_ovf_o.value) >> 1 == 0
    dut._log.info("direct drive: latency %d, %d beats under random valid/ready bit-exact, ovf flag ok (seed %d)",
                  LATENCY, v.beats, seed)


@cocotb.test(skip=os.environ.get("REQUANT_BENCH") != "1")
async def bench_throughput(dut) -> None:
    """make bench-units: requant vectors per second, (1) streamed from the vector memory (no
    Python per cycle; the simulator's own speed), (2) driven by cocotb every cycle. Writes
    requant_bench.json. Outputs are checked against golden too (a fast wrong answer is no figure)."""
    seed = int(os.environ.get("RTL_SEED", "1"))
    await setup(dut)
    lanes = lanes_of(dut)
    rng = np.random.default_rng(seed)
    beats = int(os.environ.get("REQUANT_BENCH_BEATS", "16000"))
    v = rv.random_vectors(rng, beats * lanes, lanes, 16)
    exp = rv.expected(v)
    rv.write_vectors(v, Path("requant_vec.hex"))
    dut.mode_i.value = 1
    dut.count_i.value = v.beats
    dut.load_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.load_i.value = 0
    dut.stall_i.value = 0
    dut.bp_i.value = 0
    dut.start_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.start_i.value = 0
    t0 = time.perf_counter()
    await RisingEdge(dut.done_o)
    stream_s = time.perf_counter() - t0
    cycles = int(dut.cycles_o.value)
    dut.dump_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.dump_i.value = 0
    await RisingEdge(dut.clk_i)
    got, _ = rv.read_results(Path("requant_res.hex"), v.beats, v.lanes)
    report_mismatches(v, exp, got, "bench stream", seed)
    # (2) cocotb drives every beat (valid and ready always high), reads every output
    dut.mode_i.value = 0
    dut.out_ready_i.value = 1
    nd = min(v.beats, int(os.environ.get("REQUANT_BENCH_DIRECT_BEATS", "2000")))
    words = {k: [sum((int(x) & ((1 << w) - 1)) << (w * l) for l, x in enumerate(getattr(v, k)[b]))
                 for b in range(nd)] for k, w in (("acc", 32), ("mant", 32), ("shift", 4), ("m0", 31), ("n", 6))}
    got_d = []
    t0 = time.perf_counter()
    b = 0
    while len(got_d) < nd:
        if b < nd:
            dut.in_valid_i.value = 1
            dut.in_acc_i.value = words["acc"][b]
            dut.in_bias_mant_i.value = words["mant"][b]
            dut.in_bias_shift_i.value = words["shift"][b]
            dut.in_m0_i.value = words["m0"][b]
            dut.in_n_i.value = words["n"][b]
            dut.in_z_out_i.value = int(v.z[b])
            dut.in_lo_i.value = int(v.lo[b])
            dut.in_hi_i.value = int(v.hi[b])
            b += 1
        else:
            dut.in_valid_i.value = 0
        await RisingEdge(dut.clk_i)
        if int(dut.out_valid_o.value):
            word = int(dut.out_data_o.value)
            got_d.append([(word >> (8 * l)) & 0xFF for l in range(lanes)])
    direct_s = time.perf_counter() - t0
    report_mismatches(_head(v, nd), exp[:nd], np.array(got_d, np.uint8), "bench direct", seed)
    res = {"sim": os.environ.get("RTL_SIM", "?"), "lanes": lanes, "stream_vectors": v.count, "stream_cycles": cycles,
           "stream_s": stream_s, "direct_vectors": nd * lanes, "direct_s": direct_s}
    Path("requant_bench.json").write_text(json.dumps(res))
    dut._log.info("bench: %s", res)


def _head(v: rv.Vectors, beats: int) -> rv.Vectors:
    return rv.Vectors(*(getattr(v, f)[:beats] for f in ("acc", "mant", "shift", "m0", "n", "z", "lo", "hi")))
