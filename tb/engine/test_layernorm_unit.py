"""cocotb bench of rtl/layernorm_unit.sv (harness tb/engine/hdl/layernorm_unit_tb.sv: the unit with
rtl/vr_check.sv on its input and output streams) against golden.tf_arith.layernorm.

Rows: lengths C = 2, LANES - 1, LANES, LANES + 1, 192 and LN_BIG (default 2580, the longest row
golden allows); at each length five rows: equal codes (variance 0, r from eps alone), equal codes with
eps = 0 (E = 0, so r = 0 and Rr = (2^48 - 1) // 1), one large code among zeros, half 0s and half 255s
(the largest sum of squares; shuffled), random codes, and two "zoom" rows (one large value,
random). Each row gets its own constants from golden.tf_arith.layernorm_params: random input and
output scales, eps 1e-5, 1e-6 or 0, z_out; gamma per channel a mix of about 1, negative, zero
and tiny (the shift-48 branch), beta up to beyond the clamp bound, m0_bits 31, 16, 8 or 2, random
clamp bounds. A zoom row's gamma makes one unit of t worth 1..32 output codes, and its beta
(chosen per channel from golden's t, layernorm_normalize) brings every output inside 20..235:
there every bit of t, r and Rr shows (a reciprocal one too large passes every other row: its
effect on t, |x| / 2^s, is far below an output code at ordinary gains). The last word's padding
lanes carry random codes and records, and pass-1 words random records: the unit must ignore them.
Every lane of every output word must equal golden's (padding lanes z_out).

Streams: a driver (in_valid_i with the word and, in pass 2, its records; held until taken) and a
monitor (out_ready_i; takes the output words) run as coroutines. Every third row is timed: input
always valid and output always ready, and the edge that takes the last output word must be
hexgen.cycles.layernorm_cycles(C, LANES) edges after the one that samples start_i; busy_o must be
high until then and low after. The other rows drop in_valid_i and out_ready_i at random (30% or 70%
of cycles busy). After every row, no further output word may appear.
Environment: RTL_SEED (default random, printed), RTL_PARAMS (LANES), LN_BIG (the long row's length).
"""
from __future__ import annotations

import ast
import math
import os
import random
from dataclasses import dataclass
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from golden.errors import RangeError
from golden.tf_arith import LN_NORM_BITS, layernorm, layernorm_center, layernorm_normalize, layernorm_params
from hexgen.cycles import layernorm_cycles
from tb.sim import bench_seed

TEST_FILE = "tests/test_rtl_layernorm_unit.py"
INPUTS = ("start_i", "len_i", "sqrt_shift_i", "eps_term_i", "z_out_i", "lo_i", "hi_i", "in_valid_i", "in_data_i",
          "gain_i", "shift_i", "bias_i", "out_ready_i")
KINDS = ("equal", "equal-eps0", "one", "extreme", "random", "one-zoom", "random-zoom")
#: the record fields' widths (hexgen.tokens: gain 32-bit signed, shift 6 bits, bias 64-bit signed)
GAIN_W, SHIFT_W, BIAS_W = 32, 6, 64


@dataclass(frozen=True)
class Row:
    c: int
    kind: str
    q: np.ndarray            # [C] uint8 codes
    consts: dict[str, Any]   # layernorm_params' constants with z_out, lo, hi
    expected: np.ndarray     # [C] golden.tf_arith.layernorm
    timed: bool

    def describe(self) -> str:
        k = self.consts
        return (f"C={self.c} {self.kind} P={k['sqrt_shift']} E={k['eps_term']} z_out={k['z_out']} lo={k['lo']} "
                f"hi={k['hi']} ({k['why']})")


def pack(values: Any, bits: int) -> int:
    """Lane l of the word at bits [l*bits +: bits] (two's complement for negative values)."""
    mask = (1 << bits) - 1
    return sum((int(v) & mask) << (bits * l) for l, v in enumerate(values))


def row_codes(rng: random.Random, c: int, kind: str) -> np.ndarray:
    if kind.startswith("equal"):
        v = rng.choice([0, 255, rng.randrange(256)])
        return np.full(c, v, np.uint8)
    if kind.startswith("one"):  # one large value among zeros
        q = np.zeros(c, np.uint8)
        q[rng.randrange(c)] = rng.choice([255, rng.randint(128, 255)])
        return q
    if kind == "extreme":  # half 0s, half 255s: the largest sum of squares
        q = np.array([0] * (c // 2) + [255] * (c - c // 2), np.uint8)
        if rng.random() < 0.5:
            q = q[rng.sample(range(c), c)]
        return q
    return np.array([rng.randrange(256) for _ in range(c)], np.uint8)


def row_consts(rng: random.Random, nrng: np.random.Generator, q: np.ndarray, kind: str) -> dict[str, Any]:
    """Constants from golden.tf_arith.layernorm_params on random scales, gamma, beta and eps (a
    draw golden refuses, an eps past the square root's range, is drawn again).

    A "-zoom" row gets gamma with G 2^-n = 1..32 output codes per unit of t (t's last bit shows in
    y), and beta per channel chosen, from golden's t of the row (layernorm_normalize), to bring
    the channel's output near a random code inside 20..235: every lane is unclamped and depends on
    every bit of t, so a reciprocal or square root one off, or t's rounding, changes outputs."""
    c = q.shape[-1]
    zoom = kind.endswith("-zoom")
    for _ in range(20):
        scale_in = 10 ** rng.uniform(-2.3, -0.5)
        scale_out = 10 ** rng.uniform(-2, 0)
        eps = 0.0 if kind == "equal-eps0" else rng.choice([1e-5, 1e-6, 0.0])
        m0_bits = rng.choice([31, 16] if zoom else [31, 31, 16, 8, 2])
        z_out = rng.randrange(256)
        lo, hi = rng.choice([(0, 255), (0, 255), (z_out, 255), tuple(sorted((rng.randrange(256), rng.randrange(256))))])
        if zoom:
            lo, hi = 0, 255
            # P and E do not depend on gamma and beta: golden's t of this row first
            pe = layernorm_params(c=c, scale_in=scale_in, gamma=np.ones(c), beta=np.zeros(c), eps=eps,
                                  scale_out=scale_out, z_out=z_out, m0_bits=m0_bits, where="bench")
            t = layernorm_normalize(layernorm_center(q), sqrt_shift=pe["sqrt_shift"], eps_term=pe["eps_term"])
            ratio = 2.0 ** nrng.uniform(0, 5, c) * nrng.choice([-1.0, 1.0], c)  # codes per unit of t
            gamma = ratio * scale_out * 2.0**LN_NORM_BITS / math.sqrt(c)
            beta = scale_out * (nrng.uniform(20, 235, c) - z_out - ratio * t)
        else:
            # gamma per channel: about 1, negative, zero, tiny (fewer bits of G at the largest shift)
            pick = nrng.integers(0, 4, c)
            gamma = np.select([pick == 0, pick == 1, pick == 2],
                              [nrng.normal(1.0, 0.3, c), -nrng.uniform(0.05, 3.0, c), np.zeros(c)],
                              nrng.uniform(-1.0, 1.0, c) * 10.0 ** nrng.uniform(-12, -4, c))
            beta = nrng.normal(0.0, 1.0, c) * rng.choice([0.1, 1.0, 100.0])
        try:
            k = layernorm_params(c=c, scale_in=scale_in, gamma=gamma, beta=beta, eps=eps, scale_out=scale_out, z_out=z_out,
                                 m0_bits=m0_bits, where="bench")
        except RangeError:
            continue
        why = f"S_in={scale_in:.3g} S_out={scale_out:.3g} eps={eps} m0_bits={m0_bits}"
        return {**k, "z_out": z_out, "lo": lo, "hi": hi, "why": why}
    raise AssertionError(f"no LayerNorm constants golden accepts for C={c} in 20 draws")


def check_records(r: Row) -> None:
    """The interface's record ranges (hexgen.tokens' LayerNorm records): a bench bug if broken."""
    g, n, b = (np.asarray(r.consts[f]) for f in ("gain", "shift", "bias"))
    assert np.all(np.abs(g) < 2**31) and np.all((n >= 1) & (n <= 48)) and np.all(np.abs(b) < 2**57), r.describe()
    assert 0 <= r.consts["sqrt_shift"] <= 23 and 0 <= r.consts["eps_term"] < 2**48, r.describe()


def make_row(rng: random.Random, nrng: np.random.Generator, c: int, kind: str, timed: bool) -> Row:
    q = row_codes(rng, c, kind)
    k = row_consts(rng, nrng, q, kind)
    y = layernorm(q, sqrt_shift=k["sqrt_shift"], eps_term=k["eps_term"], gain=k["gain"], shift=k["shift"], bias=k["bias"],
                  z_out=k["z_out"], lo=k["lo"], hi=k["hi"])
    return Row(c, kind, q, k, y, timed)


def stream(rng: random.Random, r: Row, lanes: int) -> tuple[list[dict[str, int]], list[int]]:
    """The input items (both passes; padding lanes and pass-1 records random) and the expected output words."""
    words = -(-r.c // lanes)
    n = words * lanes
    q = np.array([rng.randrange(256) for _ in range(n)], np.int64)  # padding lanes: garbage
    q[:r.c] = r.q
    fields = (("gain_i", "gain", GAIN_W), ("shift_i", "shift", SHIFT_W), ("bias_i", "bias", BIAS_W))
    items: list[dict[str, int]] = []
    for w in range(words):  # pass 1: records of random bits (the unit must not look at them)
        lanes_w = slice(w * lanes, (w + 1) * lanes)
        items.append({"in_data_i": pack(q[lanes_w], 8), **{f: rng.getrandbits(bits * lanes) for f, _, bits in fields}})
    rec: dict[str, list[int]] = {}
    for f, key, bits in fields:  # pass 2: the row's records, random bits in the padding lanes
        rec[f] = [int(v) for v in r.consts[key]] + [rng.getrandbits(bits) for _ in range(n - r.c)]
    for w in range(words):
        lanes_w = slice(w * lanes, (w + 1) * lanes)
        items.append({"in_data_i": pack(q[lanes_w], 8), "gain_i": pack(rec["gain_i"][lanes_w], GAIN_W),
                      "shift_i": pack(rec["shift_i"][lanes_w], SHIFT_W), "bias_i": pack(rec["bias_i"][lanes_w], BIAS_W)})
    y = np.full(n, r.consts["z_out"], np.int64)
    y[:r.c] = r.expected
    return items, [pack(y[w * lanes:(w + 1) * lanes], 8) for w in range(words)]


async def drive(dut: Any, rng: random.Random, items: list[dict[str, int]], p_valid: float) -> None:
    """Offer the items in order on in_valid_i; an offered item stays (valid and payload) until taken."""
    i, valid = 0, False
    while i < len(items):
        if not valid and rng.random() < p_valid:
            valid = True
            for port, v in items[i].items():
                getattr(dut, port).value = v
        dut.in_valid_i.value = int(valid)
        await ReadOnly()
        fire = valid and bool(int(dut.in_ready_o.value))
        await RisingEdge(dut.clk_i)
        if fire:
            i, valid = i + 1, False
    dut.in_valid_i.value = 0


async def monitor(dut: Any, rng: random.Random, n: int, p_ready: float, got: list[int], problems: list[str],
                  limit: int) -> int:
    """Take output words with a random out_ready_i until n are in `got`; returns the edge (1: the first
    after start) that took the last. busy_o must stay high until then."""
    for cycle in range(limit):
        ready = rng.random() < p_ready
        dut.out_ready_i.value = int(ready)
        await ReadOnly()
        if not int(dut.busy_o.value):
            problems.append(f"busy_o low at cycle {cycle} with {len(got)} of {n} words out")
            return -1
        if ready and int(dut.out_valid_o.value):
            v = dut.out_data_o.value
            got.append(int(v) if v.is_resolvable else -1)
        await RisingEdge(dut.clk_i)
        if len(got) == n:
            return cycle + 1
    problems.append(f"timeout: {len(got)} of {n} words out after {limit} cycles")
    return -1


async def run_row(dut: Any, rng: random.Random, r: Row, lanes: int) -> list[str]:
    items, want = stream(rng, r, lanes)
    k = r.consts
    for port, v in (("len_i", r.c), ("sqrt_shift_i", k["sqrt_shift"]), ("eps_term_i", k["eps_term"]), ("z_out_i", k["z_out"]),
                    ("lo_i", k["lo"]), ("hi_i", k["hi"])):
        getattr(dut, port).value = v
    for _ in range(rng.randrange(3)):  # idle cycles between rows
        await RisingEdge(dut.clk_i)
    await ReadOnly()
    if int(dut.busy_o.value) or int(dut.out_valid_o.value):
        return [f"{r.describe()}: busy_o or out_valid_o high before start"]
    await RisingEdge(dut.clk_i)
    dut.start_i.value = 1
    await RisingEdge(dut.clk_i)  # the edge that samples start_i
    dut.start_i.value = 0
    p_valid, p_ready = (1.0, 1.0) if r.timed else (rng.choice([0.3, 0.7, 1.0]), rng.choice([0.3, 0.7]))
    got: list[int] = []
    problems: list[str] = []
    driver = cocotb.start_soon(drive(dut, rng, items, p_valid))
    last = await monitor(dut, rng, len(want), p_ready, got, problems, 40 * (len(items) + 100))
    if not problems:
        await driver
        for cycle in range(3):  # the row is over: idle, nothing more out
            await ReadOnly()
            if int(dut.busy_o.value) or int(dut.out_valid_o.value):
                problems.append(f"busy_o {int(dut.busy_o.value)} out_valid_o {int(dut.out_valid_o.value)} {cycle} cycles "
                                "after the last output word")
                break
            await RisingEdge(dut.clk_i)
    else:
        driver.cancel()
    if got != want[:len(got)] or len(got) != len(want):
        bad = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        if bad < min(len(got), len(want)):
            lane = next(l for l in range(lanes) if (got[bad] >> 8 * l) & 255 != (want[bad] >> 8 * l) & 255)
            ch = bad * lanes + lane
            rtl = "X" if got[bad] < 0 else (got[bad] >> 8 * lane) & 255
            problems.append(f"{len(got)} words out of {len(want)}; word {bad} lane {lane} (channel {ch}"
                            f"{', padding' if ch >= r.c else f', code {int(r.q[ch])}'}): RTL {rtl}, "
                            f"golden {(want[bad] >> 8 * lane) & 255}")
        else:
            problems.append(f"{len(got)} words out, {len(want)} expected")
    if r.timed and not problems and last != layernorm_cycles(r.c, lanes):
        problems.append(f"no stalls: last output word taken {last} edges after start, hexgen.cycles.layernorm_cycles "
                        f"plans {layernorm_cycles(r.c, lanes)} (outputs right: a performance fault)")
    return [f"{r.describe()}: {m}" for m in problems]


@cocotb.test()
async def test_rows_against_golden(dut: Any) -> None:
    seed = bench_seed(dut._log, TEST_FILE)
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    lanes = int(dict(ast.literal_eval(os.environ.get("RTL_PARAMS", "[]"))).get("LANES", 8))
    big = int(os.environ.get("LN_BIG", "2580"))
    lengths = [c for c in dict.fromkeys([2, lanes - 1, lanes, lanes + 1, 192, big]) if c >= 2]
    Clock(dut.clk_i, 10, unit="ns", impl="gpi").start()
    for name in INPUTS:
        getattr(dut, name).value = 0
    dut.rst_i.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk_i)
    dut.rst_i.value = 0
    problems: list[str] = []
    rows = timed = 0
    for c in lengths:
        for kind in KINDS:
            r = make_row(rng, nrng, c, kind, timed=rows % 3 == 0)
            check_records(r)
            problems += await run_row(dut, rng, r, lanes)
            rows += 1
            timed += r.timed
            if problems:
                break
        if problems:
            break
    assert not problems, f"layernorm_unit disagrees with golden (seed {seed}):\n  " + "\n  ".join(problems[:5])
    dut._log.info(f"{rows} rows of C = {', '.join(map(str, lengths))} on {lanes} lanes equal golden's; "
                  f"{timed} timed rows took hexgen.cycles.layernorm_cycles exactly")
