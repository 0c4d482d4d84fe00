"""cocotb bench of rtl/softmax_unit.sv (one row's softmax: max, exp table and sum, one division,
output pass; the row streamed three times) against golden.tf_arith.softmax, cycles included.

Parameter sets: golden.tf_arith.softmax_params over S_in 1e-3..1 (the first sets at S_in = 1,
whose table falls to 0 past d = 15, and 1e-3, a nearly flat one) and S_out 1/256, 1/255, 1/128,
2^-12, 0.5 or random in 1e-3..1e-1; z_out 0 with bounds 0..255 in two sets of three, in the third
a random z_out with lo above it and hi at most 40 above lo (both clamps reached). Each set's exp
table is written through the unit's table port.
Rows: every length of 1, LANES - 1, LANES, LANES + 1, 197 and a long one (4095 = SM_MAX_ROW, the
largest sum S, for the rows of equal codes; 1000..1500 for the others) with every kind of row (all
codes equal, one large code among small ones, all 0, all 255, random), shuffled over the sets. The
Then rounding-tie rows: rows of equal codes (S = L 2^20, every e = 2^20) of 1, LANES + 1, 197
and 4095 codes, each with a dividend and shift (tie_params) that put e R + 2^(P-1) exactly on a
multiple of 2^P, or one e below it: a quotient R one too small (first) or one too large (second)
changes the output code there, where a random row would need a tie to show it. The
last word's padding lanes carry random codes (different in each pass), which the unit must ignore;
so do the data lines while in_valid_i is low.
Every other row is timed: the source offers a word every cycle and the output is always ready, and
each output word must be taken at the cycle hexgen.cycles.softmax_out_cycles gives, the last at
hexgen.cycles.softmax_cycles (a unit a cycle slower, outputs still right, fails here). The other
rows have random input gaps and output ready (back-pressure). Every output word, padding lanes
(z_out) included, must equal golden.tf_arith.softmax's row; the unit takes exactly the row's three
passes of words and gives exactly ceil(L / LANES) words, busy_o high from start until the last is
taken, then is idle (busy_o low, nothing offered).
The harness (tb/engine/hdl/softmax_unit_tb.sv) checks both streams' valid/ready rules.
Environment: RTL_SEED (default random, printed), RTL_PARAMS (LANES), SM_SETS (parameter sets).
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

from golden.tf_arith import SM_MAX_ROW, softmax, softmax_params
from hexgen.cycles import softmax_cycles, softmax_out_cycles
from tb.sim import bench_seed

TEST_FILE = "tests/test_rtl_softmax_unit.py"
KINDS = ("equal", "one_large", "zeros", "ones255", "random")


def param_set(rng: random.Random, i: int) -> dict[str, Any]:
    s_in = 1.0 if i == 0 else 1e-3 if i == 1 else 10 ** rng.uniform(-3, 0)
    s_out = rng.choice([1 / 256, 1 / 256, 1 / 255, 1 / 128, 2.0 ** -12, 0.5, 10 ** rng.uniform(-3, -1)])
    p = softmax_params(scale_in=s_in, scale_out=s_out, where="bench")
    z_out, lo, hi = 0, 0, 255
    if i % 3 == 2:  # both bounds bite: lo above z_out (small codes), hi a little above lo (large ones)
        z_out = rng.randrange(200)
        lo = z_out + rng.randint(1, 20)
        hi = min(255, lo + rng.randint(0, 40))
    return {"name": f"S_in={s_in:.4g} S_out={s_out:.4g} z_out={z_out} lo={lo} hi={hi}", "exp_table": p["exp_table"],
            "dividend": p["dividend"], "shift": p["shift"], "z_out": z_out, "lo": lo, "hi": hi}


def tie_params(rng: random.Random, length: int, below: bool) -> tuple[int, int]:
    """(D, P) for a row of `length` equal codes (S = length * 2^20, e = 2^20): R = D // S with
    2^20 R = 2^(P-1) modulo 2^P (a rounding tie: R - 1 rounds down), or with `below` 2^20 less
    (R + 1 reaches the tie and rounds up); 2^51 <= D < 2^52, P such that the code is below 256."""
    s = length << 20
    r_lo, r_hi = -(-(1 << 51) // s), ((1 << 52) - 1) // s
    p = 20 + r_hi.bit_length() - 7
    step, off = 1 << (p - 20), (1 << (p - 21)) - (1 if below else 0)
    r = rng.randrange(-(-(r_lo - off) // step), (r_hi - off) // step) * step + off
    d = r * s + rng.randrange(s)
    assert (1 << 51) <= d < (1 << 52) and d // s == r
    return d, p


def row_of(rng: random.Random, kind: str, length: int) -> np.ndarray:
    if kind == "equal":
        return np.full(length, rng.randrange(256), np.uint8)
    if kind == "one_large":
        r = np.array([rng.randrange(0, 21) for _ in range(length)], np.uint8)
        r[rng.randrange(length)] = rng.randrange(200, 256)
        return r
    if kind == "zeros":
        return np.zeros(length, np.uint8)
    if kind == "ones255":
        return np.full(length, 255, np.uint8)
    return np.array([rng.randrange(256) for _ in range(length)], np.uint8)


def words_of(codes: list[int], lanes: int) -> list[int]:
    return [sum(c << (8 * l) for l, c in enumerate(codes[i:i + lanes])) for i in range(0, len(codes), lanes)]


def padded(row: np.ndarray, lanes: int, pad: list[int]) -> list[int]:
    """The row's codes with its last word's lanes filled from `pad`."""
    n = -(-len(row) // lanes) * lanes - len(row)
    return [int(x) for x in row] + pad[:n]


async def source(dut: Any, words: list[int], rng: random.Random, p_gap: float, bits: int) -> None:
    """Offer `words` in order on the input stream: a word is offered after a random gap and held
    until taken (the harness's checker enforces it); random data while in_valid_i is low."""
    i, valid = 0, False
    while i < len(words):
        if not valid:
            valid = rng.random() >= p_gap
        dut.in_valid_i.value = int(valid)
        dut.in_data_i.value = words[i] if valid else rng.getrandbits(bits)
        await ReadOnly()
        fire = valid and bool(int(dut.in_ready_o.value))
        await RisingEdge(dut.clk_i)
        if fire:
            i, valid = i + 1, False
    dut.in_valid_i.value = 0


async def sink(dut: Any, n: int, rng: random.Random, p_ready: float, limit: int
               ) -> tuple[list[int], list[int], list[int]]:
    """Take `n` output words with a random ready: (words, the cycles they were taken at, counted
    from the edge that sampled start_i as 0, the cycles busy_o was low before the last was taken).
    Stops after `limit` cycles."""
    got: list[int] = []
    at: list[int] = []
    idle: list[int] = []
    cycle = 1
    while len(got) < n and cycle <= limit:
        ready = rng.random() < p_ready
        dut.out_ready_i.value = int(ready)
        await ReadOnly()
        if not int(dut.busy_o.value):
            idle.append(cycle)
        if ready and int(dut.out_valid_o.value):
            v = dut.out_data_o.value
            got.append(int(v) if v.is_resolvable else -1)
            at.append(cycle)
        await RisingEdge(dut.clk_i)
        cycle += 1
    dut.out_ready_i.value = 0
    return got, at, idle


async def load_table(dut: Any, table: np.ndarray) -> None:
    for a in range(256):
        dut.tbl_we_i.value = 1
        dut.tbl_addr_i.value = a
        dut.tbl_data_i.value = int(table[a])
        await RisingEdge(dut.clk_i)
    dut.tbl_we_i.value = 0


async def run_row(dut: Any, rng: random.Random, lanes: int, p: dict[str, Any], kind: str, row: np.ndarray,
                  timed: bool) -> list[str]:
    """One row through the unit; the problems found (empty: it equals golden)."""
    length = len(row)
    want_row = softmax(row[None], exp_table=p["exp_table"], dividend=p["dividend"], shift=p["shift"],
                       z_out=p["z_out"], lo=p["lo"], hi=p["hi"])[0]
    want = words_of(padded(want_row, lanes, [p["z_out"]] * lanes), lanes)
    passes = [words_of(padded(row, lanes, [rng.randrange(256) for _ in range(lanes)]), lanes) for _ in range(3)]
    for port, v in (("len_i", length), ("dividend_i", p["dividend"]), ("shift_i", p["shift"]), ("z_out_i", p["z_out"]),
                    ("lo_i", p["lo"]), ("hi_i", p["hi"])):
        getattr(dut, port).value = v
    await ReadOnly()
    if int(dut.busy_o.value):
        return [f"{kind} row of {length}: busy_o high before start"]
    await RisingEdge(dut.clk_i)
    dut.start_i.value = 1
    await RisingEdge(dut.clk_i)  # cycle 0: the edge that samples start_i
    dut.start_i.value = 0
    p_gap, p_ready = (0.0, 1.0) if timed else (rng.choice([0.2, 0.5]), rng.choice([0.3, 0.7]))
    src = cocotb.start_soon(source(dut, [w for ws in passes for w in ws], rng, p_gap, 8 * lanes))
    limit = 8 * (3 * len(want) + 60) + 200
    got, at, idle = await sink(dut, len(want), rng, p_ready, limit)
    problems = []
    where = f"{p['name']}, {kind} row of {length}{' (timed)' if timed else ''}"
    if idle:
        problems.append(f"{where}: busy_o low at cycle {idle[0]} after start, before the last output word was taken")
    if not src.done():
        problems.append(f"{where}: the unit took only part of the three passes' {3 * len(want)} input words")
        src.cancel()
    for _ in range(3):  # then idle: nothing more offered, nothing more taken
        await ReadOnly()
        if int(dut.out_valid_o.value) or int(dut.busy_o.value) or int(dut.in_ready_o.value):
            problems.append(f"{where}: after the last word, out_valid_o {dut.out_valid_o.value}, busy_o "
                            f"{dut.busy_o.value}, in_ready_o {dut.in_ready_o.value} (all must be 0)")
            break
        await RisingEdge(dut.clk_i)
    if got != want:
        bad = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        if bad < min(len(got), len(want)):
            g = [(got[bad] >> (8 * l)) & 0xFF for l in range(lanes)]
            w = [(want[bad] >> (8 * l)) & 0xFF for l in range(lanes)]
            problems.append(f"{where}: word {bad} lanes {g}, golden {w} (input {row[bad * lanes:(bad + 1) * lanes].tolist()})")
        else:
            problems.append(f"{where}: {len(got)} output words in {limit} cycles, {len(want)} expected")
    if timed and not problems:
        plan = softmax_out_cycles(length, lanes)
        if at != plan or at[-1] != softmax_cycles(length, lanes):
            late = next((i for i, (a, b) in enumerate(zip(at, plan)) if a != b), len(plan) - 1)
            problems.append(f"{where}: no stalls, output always ready: word {late} of {len(at)} taken at cycle {at[late]} "
                            f"where hexgen.cycles.softmax_out_cycles plans {plan[late]}; the last at {at[-1]}, "
                            f"softmax_cycles({length}, {lanes}) = {softmax_cycles(length, lanes)} (outputs right: a performance fault)")
    return problems


@cocotb.test()
async def test_rows_against_golden(dut: Any) -> None:
    seed = bench_seed(dut._log, TEST_FILE)
    rng = random.Random(seed)
    lanes = int(dict(ast.literal_eval(os.environ.get("RTL_PARAMS", "[]"))).get("LANES", 8))
    Clock(dut.clk_i, 10, unit="ns", impl="gpi").start()
    for name in ("len_i", "dividend_i", "shift_i", "z_out_i", "lo_i", "hi_i", "tbl_we_i", "tbl_addr_i", "tbl_data_i",
                 "start_i", "in_valid_i", "in_data_i", "out_ready_i"):
        getattr(dut, name).value = 0
    dut.rst_i.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk_i)
    dut.rst_i.value = 0
    lengths = sorted({1, max(lanes - 1, 1), lanes, lanes + 1, 197}) + ["long"]
    combos = [(k, n) for n in lengths for k in KINDS]
    rng.shuffle(combos)
    sets = int(os.environ.get("SM_SETS", "6"))
    problems: list[str] = []
    rows = 0
    for i in range(sets):
        p = param_set(rng, i)
        await load_table(dut, p["exp_table"])
        for kind, n in combos[i::sets]:
            if n == "long":  # the longest row at the largest sum; other long rows of random length
                n = SM_MAX_ROW if kind in ("equal", "zeros", "ones255") else rng.randint(1000, 1500)
            problems += await run_row(dut, rng, lanes, p, kind, row_of(rng, kind, int(n)), timed=rows % 2 == 0)
            rows += 1
            if problems:
                break
        if problems:
            break
    for n in ([] if problems else [1, lanes + 1, 197, SM_MAX_ROW]):
        for below in (False, True):
            d, shift = tie_params(rng, n, below)
            p = {**p, "name": f"tie{' - e' if below else ''} D={d} P={shift}", "dividend": d, "shift": shift,
                 "z_out": 0, "lo": 0, "hi": 255}
            problems += await run_row(dut, rng, lanes, p, "equal", row_of(rng, "equal", n), timed=rows % 2 == 0)
            rows += 1
    assert not problems, f"softmax_unit disagrees with golden.tf_arith.softmax (seed {seed}):\n  " + "\n  ".join(problems[:5])
    dut._log.info(f"{rows} rows of {lanes}-lane words over {sets} parameter sets equal golden's, the timed ones at "
                  "hexgen.cycles.softmax_cycles")
