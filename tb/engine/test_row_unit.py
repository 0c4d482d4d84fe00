"""cocotb bench of rtl/row_unit.sv (softmax and LayerNorm layers over token tensors in external
memory, a block of tokens staged at a time) on the external memory model
(tb/engine/hdl/row_unit_tb.sv), against golden.tf_arith.softmax and golden.tf_arith.layernorm.

Each case is a layer [T, C] (T up to 40 tokens) of softmax or LayerNorm, row length 1 (LayerNorm:
2), ROWS - 1, ROWS + 1, 197 or a long one (the longest whose W words fill the buffers for a block of
one or two tokens). Constants: softmax_params through the softmax unit bench's draws
(tb.engine.test_softmax_unit.param_set), LayerNorm's through the LayerNorm unit bench's
(tb.engine.test_layernorm_unit.row_consts); the tokens' rows cycle through each bench's kinds (all
equal, one large, all 0, all 255 / half 0 half 255, random; LayerNorm's zoom rows). The tensors are laid
out with hexgen.tokens.token_layout and hexgen.layout.to_words, the input's padding lanes random
garbage (laid out as a tensor of whole channel tiles), the exp table and the records as
hexgen.tokens.plan_token_layer lays out the golden layer's. The layer runs as blocks of nb tokens
(nb random up to MAX_BURST and ROW_WORDS / W; the last block shorter), first_i on the first only.
Each block's output stream must equal the expected tensor's words of its tokens, channel tile
major (padding lanes z_out); done_o pulses once, the cycle after the last word; words_read_o grows
by hexgen.cycles.row_unit_read_words, and so does the harness's count of read words taken.
Every other case is timed: the memory never stalls, the output is always ready, and each output
word must leave at the cycle hexgen.cycles.row_unit_pushes gives (a state a cycle too long, the
outputs still right, fails here). The others stall the memory and the output's ready at random.
The memory's latency changes between cases.

Faults (ROW_FAULT=<name>, the MUT_SELECT build run with +<name>, tests/test_rtl_row_unit.py): one
small case where the fault must show, chosen for it (a row with d = 1 entries where golden with
the entry one larger differs; a rounding tie for the softmax reciprocal; zoom rows for LayerNorm's),
and the run passes when the unit's output differs from golden (the fault is reachable).
Environment: RTL_SEED (default random, printed), RTL_PARAMS (ROWS, ADDR_W, MAX_BURST, ROW_WORDS,
LN_TILES), ROW_CASES (layers, default 10: each length once per operation), ROW_FAULT.
"""
from __future__ import annotations

import ast
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge, SimTimeoutError, with_timeout

from golden.tf_arith import (LN_NORM_BITS, LN_RECIP_BITS, SM_MAX_ROW, isqrt_fixed, layernorm, layernorm_center,
                              layernorm_output, softmax, softmax_params)
from golden.transformer import LayerNormLayer, SoftmaxLayer
from hexgen.config import HardwareConfig
from hexgen.cycles import row_unit_pushes, row_unit_read_words
from hexgen.layout import to_words
from hexgen.tokens import ln_records, plan_token_layer, token_layout
from tb.engine import test_layernorm_unit as ln_bench
from tb.engine import test_softmax_unit as sm_bench
from tb.engine.ext_mem import start_on_ext_mem
from tb.sim import bench_seed

TEST_FILE = "tests/test_rtl_row_unit.py"
INPUTS = ("start_i", "is_ln_i", "first_i", "len_i", "ct_i", "rows_i", "plane_i", "in_base_i", "tab_base_i", "dividend_i",
          "shift_i", "sqrt_shift_i", "eps_term_i", "z_out_i", "lo_i", "hi_i", "out_ready_i", "mem_load_i", "cfg_load_i",
          "cfg_latency_i", "cfg_stall_i", "cfg_seed_i")
LN_MAX_C = 2580  # golden.tf_arith.layernorm_params' longest row


@dataclass(frozen=True)
class Layer:
    """A softmax or LayerNorm layer on [T, C] tokens, its golden output and its parameter segment."""

    is_ln: bool
    x: np.ndarray                 # [T, C] uint8
    expected: np.ndarray          # [T, C] golden
    regs: dict[str, int]          # the unit's constant inputs (dividend_i .. hi_i)
    params: list[int]             # the exp table's or the records' words
    name: str
    exp: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # softmax: the exp table's entries
    ln: dict[str, Any] = field(default_factory=dict)  # LayerNorm: layernorm_params' constants

    @property
    def t(self) -> int:
        return int(self.x.shape[0])

    @property
    def c(self) -> int:
        return int(self.x.shape[1])


def softmax_layer(rng: random.Random, t: int, length: int, i: int, cfg: HardwareConfig,
                  rows_of: list[np.ndarray] | None = None, p: dict[str, Any] | None = None) -> Layer:
    p = p or sm_bench.param_set(rng, i)
    kinds = sm_bench.KINDS
    x = np.stack(rows_of if rows_of is not None else
                 [sm_bench.row_of(rng, kinds[(k + i) % len(kinds)], length) for k in range(t)])
    y = softmax(x, exp_table=p["exp_table"], dividend=p["dividend"], shift=p["shift"], z_out=p["z_out"], lo=p["lo"], hi=p["hi"])
    layer = SoftmaxLayer(name="sm", inputs=("x",), in_shape=x.shape, out_shape=x.shape, module="", source="",
                         exp_table=p["exp_table"], dividend=p["dividend"], shift=p["shift"], z_out=p["z_out"], lo=p["lo"],
                         hi=p["hi"])
    table = to_words(np.asarray(p["exp_table"], np.int64), dict(plan_token_layer(layer, cfg, 1).layouts)["table"])
    regs = {"dividend_i": p["dividend"], "shift_i": p["shift"], "z_out_i": p["z_out"], "lo_i": p["lo"], "hi_i": p["hi"]}
    return Layer(False, x, y, regs, table, f"softmax T={t} L={length} {p['name']}", np.asarray(p["exp_table"], np.int64))


def layernorm_layer(rng: random.Random, nrng: np.random.Generator, t: int, c: int, i: int, cfg: HardwareConfig,
                    kinds: tuple[str, ...] = ln_bench.KINDS) -> Layer:
    ks = [kinds[(k + i) % len(kinds)] for k in range(t)]
    x = np.stack([ln_bench.row_codes(rng, c, k) for k in ks])
    k = ln_bench.row_consts(rng, nrng, x[0], ks[0])  # constants (zoom rows: tuned to the first token's row)
    y = layernorm(x, sqrt_shift=k["sqrt_shift"], eps_term=k["eps_term"], gain=k["gain"], shift=k["shift"], bias=k["bias"],
                  z_out=k["z_out"], lo=k["lo"], hi=k["hi"])
    layer = LayerNormLayer(name="ln", inputs=("x",), in_shape=x.shape, out_shape=x.shape, module="", source="",
                           sqrt_shift=k["sqrt_shift"], eps_term=k["eps_term"], gain=k["gain"], shift=k["shift"],
                           bias=k["bias"], z_out=k["z_out"], lo=k["lo"], hi=k["hi"])
    recs = to_words(ln_records(layer), dict(plan_token_layer(layer, cfg, 1).layouts)["records"])
    regs = {"sqrt_shift_i": k["sqrt_shift"], "eps_term_i": k["eps_term"], "z_out_i": k["z_out"], "lo_i": k["lo"],
            "hi_i": k["hi"]}
    return Layer(True, x, y, regs, recs, f"layernorm T={t} C={c} {ks[0]}.. {k['why']}", ln=k)


@dataclass(frozen=True)
class Block:
    t0: int     # its first token
    nb: int     # its tokens
    first: bool


async def run_block(dut: Any, rng: random.Random, lay: Layer, blk: Block, bases: tuple[int, int], rows: int,
                    want_all: list[int], latency: int, timed: bool, max_burst: int) -> tuple[list[str], list[int]]:
    """One block through the unit: the problems found and the output words."""
    w = -(-lay.c // rows)
    tab_base, in_base = bases
    drive = {"is_ln_i": int(lay.is_ln), "first_i": int(blk.first), "len_i": lay.c, "ct_i": w, "rows_i": blk.nb,
             "plane_i": lay.t, "in_base_i": in_base + blk.t0, "tab_base_i": tab_base, **lay.regs}
    for port, v in drive.items():
        getattr(dut, port).value = v
    p_ready = 1.0 if timed else rng.choice([0.3, 0.7])
    dut.out_ready_i.value = int(timed)
    read0, seen0 = int(dut.words_read_o.value), int(dut.reads_o.value)
    dut.start_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.start_i.value = 0
    plan = row_unit_pushes(lay.is_ln, lay.c, blk.nb, blk.first, rows, latency, max_burst)
    want = [want_all[k * lay.t + blk.t0 + b] for k in range(w) for b in range(blk.nb)]
    where = f"block of tokens {blk.t0}..{blk.t0 + blk.nb - 1}{' (first)' if blk.first else ''}{' (timed)' if timed else ''}"
    problems: list[str] = []
    try:
        await with_timeout(RisingEdge(dut.out_valid_o), 10 * (4 * plan[0] + 2000), "ns")
    except SimTimeoutError:
        pass
    got: list[int] = []
    at: list[int] = []
    done_at, dones = -1, 0
    for _ in range(20 * len(want) + 100):
        ready = rng.random() < p_ready
        dut.out_ready_i.value = int(ready)
        await ReadOnly()
        if int(dut.done_o.value):
            dones += 1
            done_at = int(dut.cycle_o.value)
            break
        if ready and int(dut.out_valid_o.value):
            v = dut.out_data_o.value
            got.append(int(v) if v.is_resolvable else -1)
            at.append(int(dut.cycle_o.value))
        await RisingEdge(dut.clk_i)
    await RisingEdge(dut.clk_i)
    for _ in range(2):  # then idle: nothing more offered
        await ReadOnly()
        if int(dut.out_valid_o.value) or int(dut.done_o.value) or int(dut.busy_o.value):
            problems.append(f"{where}: out_valid_o, done_o or busy_o high after done")
            break
        await RisingEdge(dut.clk_i)
    if int(dut.idle_gap_o.value):
        problems.append(f"{where}: busy_o low in a cycle between start and done_o")
    if dones != 1 or len(got) != len(want):
        problems.append(f"{where}: {len(got)} of {len(want)} words out, done_o {'seen' if dones else 'not seen'}")
    reads = row_unit_read_words(lay.is_ln, lay.c, blk.nb, blk.first, rows)
    read, seen = int(dut.words_read_o.value) - read0, int(dut.reads_o.value) - seen0
    if read != reads or seen != reads:
        problems.append(f"{where}: words_read_o grew by {read}, the port moved {seen} words, "
                        f"hexgen.cycles.row_unit_read_words gives {reads}")
    if got != want[:len(got)]:
        bad = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)
        k, b = divmod(bad, blk.nb)
        g = "X" if got[bad] < 0 else [(got[bad] >> (8 * l)) & 255 for l in range(rows)]
        e = [(want[bad] >> (8 * l)) & 255 for l in range(rows)]
        problems.append(f"{where}: word {bad} (token {blk.t0 + b}, channel tile {k}) lanes {g}, golden {e}")
    if timed and not problems and (at != plan or done_at != plan[-1] + 1):
        late = next((i for i, (a, b) in enumerate(zip(at, plan)) if a != b), len(plan) - 1)
        problems.append(f"{where} at memory latency {latency}, no stalls, output always ready: word {late} of {len(at)} "
                        f"left at cycle {at[late]} where hexgen.cycles.row_unit_pushes plans {plan[late]}; done_o at "
                        f"{done_at}, planned {plan[-1] + 1} (outputs right: a performance fault)")
    if blk.first and not lay.is_ln and not problems:
        problems += table_problems(dut, lay)
    return problems, got


def table_problems(dut: Any, lay: Layer) -> list[str]:
    """The softmax unit's exp table after a first block: each entry must be the layer's (softmax
    hardly shows a table scaled by a constant, such as entries read a bit off: S and R scale with it)."""
    table = dut.u_row.u_sm.u_exp.table_q
    for e in range(256):
        v = table[e].value
        got = int(v) if v.is_resolvable else -1
        if got != int(lay.exp[e]):
            return [f"exp table entry {e} in softmax_unit is {got if got >= 0 else 'X'}, the layer's {int(lay.exp[e])}"]
    return []


def blocks_of(rng: random.Random, t: int, rows_cap: int, full: bool) -> list[Block]:
    """The layer's tokens as blocks of nb (rows_cap if full, else random up to it), the last shorter."""
    nb = rows_cap if full else rng.randint(max(1, rows_cap // 2), rows_cap)
    return [Block(t0, min(nb, t - t0), t0 == 0) for t0 in range(0, t, nb)]


async def run_layer(dut: Any, rng: random.Random, p: dict[str, int], cfg: HardwareConfig, lay: Layer, timed: bool,
                    full: bool = False) -> tuple[list[str], bool]:
    """The layer's blocks (full: of as many tokens as the buffers and a burst take) on a fresh
    memory image: (problems, whether any output word differed)."""
    rows = p["ROWS"]
    w = -(-lay.c // rows)
    xg = np.array([[rng.randrange(256) for _ in range(w * rows)] for _ in range(lay.t)], np.uint8)
    xg[:, :lay.c] = lay.x  # the padding lanes: garbage
    words_in = to_words(xg, token_layout(xg.shape, 0, cfg, None))
    want_all = to_words(lay.expected, token_layout(lay.expected.shape, lay.regs["z_out_i"], cfg, None))
    tab_base = rng.randrange(0, 64)
    in_base = tab_base + len(lay.params) + rng.randrange(0, 64)
    image = [rng.getrandbits(8 * rows) for _ in range(in_base + len(words_in) + 64)]  # garbage around
    image[tab_base:tab_base + len(lay.params)] = lay.params
    image[in_base:in_base + len(words_in)] = words_in
    await start_on_ext_mem(dut, image, 8 * rows, INPUTS, low_after_reset=("done_o",))
    latency = rng.choice([0, 1, 8, 23])
    dut.cfg_latency_i.value = latency
    dut.cfg_stall_i.value = 0 if timed else rng.choice([40, 120])
    dut.cfg_seed_i.value = rng.randrange(1, 1 << 31)
    dut.cfg_load_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.cfg_load_i.value = 0
    cap = min(p["MAX_BURST"], p["ROW_WORDS"] // w)
    differ = False
    for blk in blocks_of(rng, lay.t, cap, full):
        problems, got = await run_block(dut, rng, lay, blk, (tab_base, in_base), rows, want_all, latency, timed,
                                        p["MAX_BURST"])
        differ = differ or any("golden" in m for m in problems)
        if problems:
            return [f"{lay.name}: {m}" for m in problems], differ
        for _ in range(rng.randrange(3)):  # idle cycles between blocks
            await RisingEdge(dut.clk_i)
    return [], differ


def params_of() -> dict[str, int]:
    return {"ROWS": 8, "ADDR_W": 14, "MAX_BURST": 16, "ROW_WORDS": 256, "LN_TILES": 64,
            **dict(ast.literal_eval(os.environ.get("RTL_PARAMS", "[]")))}


def long_length(p: dict[str, int], is_ln: bool) -> int:
    """A long row whose W words fill the buffers for one token (LayerNorm: the record buffer's
    LN_TILES tiles), at most golden's longest row."""
    rows = p["ROWS"]
    return min(p["ROW_WORDS"] * rows, LN_MAX_C if is_ln else SM_MAX_ROW, p["LN_TILES"] * rows if is_ln else SM_MAX_ROW)


@cocotb.test()
async def test_layers_against_golden(dut: Any) -> None:
    if os.environ.get("ROW_FAULT"):
        return await fault_case(dut, os.environ["ROW_FAULT"])
    if os.environ.get("ROW_CONTRACT"):
        return await contract_case(dut)
    seed = bench_seed(dut._log, TEST_FILE)
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    p = params_of()
    rows = p["ROWS"]
    cfg = HardwareConfig(array_rows=rows, word_bits=8 * rows)
    lengths: list[int | str] = [1, max(rows - 1, 1), rows + 1, 197, "long"]
    cases = int(os.environ.get("ROW_CASES", str(2 * len(lengths))))
    problems: list[str] = []
    for i in range(cases):
        is_ln = i % 2 == 1
        n = lengths[(i // 2) % len(lengths)]
        length = long_length(p, is_ln) if isinstance(n, str) else max(n, 2 if is_ln else 1)
        length = min(length, p["ROW_WORDS"] * rows, p["LN_TILES"] * rows if is_ln else length)  # small builds
        t = 2 if n == "long" else rng.randint(12, 40) if length < 100 else rng.randint(6, 14)
        lay = (layernorm_layer(rng, nrng, t, length, i, cfg) if is_ln else softmax_layer(rng, t, length, i, cfg))
        t0 = time.perf_counter()
        problems += (await run_layer(dut, rng, p, cfg, lay, timed=(i + i // 2) % 2 == 0, full=(i // 2) % 2 == 0))[0]
        dut._log.info(f"{lay.name[:40]}: {time.perf_counter() - t0:.2f} s")
        if problems:
            break
    assert not problems, f"row_unit disagrees with golden (seed {seed}):\n  " + "\n  ".join(problems[:5])
    dut._log.info(f"{cases} layers (softmax and LayerNorm in turn, rows of {lengths}) equal golden's on {rows}-lane words")


def exp_fault_case(rng: random.Random, rows: int) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Softmax constants and two rows (one code v, the others v - 1: entries d = 0 and d = 1) on
    which golden with exp_table[1] one larger (+MUT_SM_EXP) gives another output: the table of a
    parameter set of the softmax bench, a dividend and shift that put the d = 1 lanes' e R next to
    a rounding boundary (the entry's +1 moves a code by about 1e-4: only there does it show)."""
    p = sm_bench.param_set(rng, 0)
    table = p["exp_table"]
    bad = table.copy()
    bad[1] += 1
    v = rng.randint(1, 255)
    row = np.array([v] + [v - 1] * rows, np.uint8)
    s = int(table[0]) + rows * int(table[1])
    shift = (int(table[1]) * 3 * (1 << 50) // s).bit_length() - 8  # codes of about 128..255 at D ~ 1.5 2^51
    for m in range(60, 200):  # the boundary between codes m - 1 and m: e R + 2^(P-1) = m 2^P
        r0 = ((m << shift) - (1 << (shift - 1))) // int(table[1])
        for d in (r * s + k for r in range(r0 - 1, r0 + 3) for k in (0, s - 1)):
            if not (1 << 51) <= d < (1 << 52):
                continue
            args = dict(dividend=d, shift=shift, z_out=0, lo=0, hi=255)
            if np.any(softmax(row[None], exp_table=bad, **args) != softmax(row[None], exp_table=table, **args)):
                return {**p, **args, "name": f"d = 1 next to a rounding boundary: D={d} P={shift}"}, [row, row]
    raise AssertionError("no dividend found where the exp entry d = 1 shows")


def layernorm_rr_plus_one(lay: Layer) -> np.ndarray:
    """golden.tf_arith.layernorm with the reciprocal one larger (the model of +MUT_LN_RECIP), from
    golden's own steps: the bench looks for a case where the fault must show."""
    k = lay.ln
    x = layernorm_center(lay.x)
    v = (np.square(x).sum(axis=-1, keepdims=True) << np.int64(2 * k["sqrt_shift"])) + np.int64(k["eps_term"])
    rr = np.int64((1 << LN_RECIP_BITS) - 1) // np.maximum(isqrt_fixed(v), 1) + 1
    sh = LN_RECIP_BITS - LN_NORM_BITS - k["sqrt_shift"]
    t = (x * rr + np.int64(1 << (sh - 1))) >> np.int64(sh)
    return layernorm_output(t, gain=k["gain"], shift=k["shift"], bias=k["bias"], z_out=k["z_out"], lo=k["lo"], hi=k["hi"])


async def fault_case(dut: Any, fault: str) -> None:
    """The MUT_SELECT build with +<fault>: one small case on which the fault must change the output."""
    seed = bench_seed(dut._log, TEST_FILE, fault)
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    p = params_of()
    rows = p["ROWS"]
    cfg = HardwareConfig(array_rows=rows, word_bits=8 * rows)
    if fault == "MUT_LN_RECIP":  # zoom rows (every bit of t shows) on which Rr + 1 changes golden's output
        for _ in range(50):
            lay = layernorm_layer(rng, nrng, 4, 197, 0, cfg, kinds=("random-zoom",))
            if np.any(layernorm_rr_plus_one(lay) != lay.expected):
                break
        else:
            raise AssertionError("no zoom layer in 50 where Rr + 1 changes golden's output")
    elif fault == "MUT_SM_RECIP":  # equal codes on a rounding tie that R + 1 reaches
        d, shift = sm_bench.tie_params(rng, rows + 1, True)
        table = np.array([1 << 20] + [0] * 255, np.int64)  # equal codes read entry 0 only
        tie = {"name": f"tie D={d} P={shift}", "exp_table": table, "dividend": d, "shift": shift, "z_out": 0, "lo": 0,
               "hi": 255}
        lay = softmax_layer(rng, 2, rows + 1, 0, cfg, rows_of=[np.full(rows + 1, 7, np.uint8)] * 2, p=tie)
    elif fault == "MUT_SM_EXP":
        sm, pair = exp_fault_case(rng, rows)
        lay = softmax_layer(rng, 2, rows + 1, 0, cfg, rows_of=pair, p=sm)
    else:  # MUT_ROW_LANE_SWAP: rows whose lanes 0 and 1 differ (codes 255 and 200) at a fine output scale
        sm = softmax_params(scale_in=0.05, scale_out=1 / 256, where="bench")
        row = np.array([255, 200] + [rng.randrange(256) for _ in range(197 - 2)], np.uint8)
        lay = softmax_layer(rng, 2, 197, 0, cfg, rows_of=[row, row],
                            p={**sm, "name": "S_in=0.05 S_out=1/256", "z_out": 0, "lo": 0, "hi": 255})
    problems, differ = await run_layer(dut, rng, p, cfg, lay, timed=False)
    assert differ, f"+{fault}: the unit's output equals golden on {lay.name} (seed {seed}): the fault is not reached"
    dut._log.info(f"+{fault} changes the output: {problems[0][:300]}")


#: ROW_CONTRACT cases: (is_ln, len, W, nb) of a block outside the contract, each one rule broken
CONTRACT = {
    "buffers": lambda p: (0, (p["ROW_WORDS"] // p["MAX_BURST"] + 1) * p["ROWS"], p["ROW_WORDS"] // p["MAX_BURST"] + 1,
                          p["MAX_BURST"]),                                     # nb W > ROW_WORDS
    "burst": lambda p: (0, p["ROWS"], 1, p["MAX_BURST"] + 1),                  # nb > MAX_BURST
    "empty": lambda p: (0, p["ROWS"], 1, 0),                                   # nb = 0
    "zero": lambda p: (0, 0, 0, 1),                                            # W = 0 (len 0)
    "words": lambda p: (0, 2 * p["ROWS"] + 1, 2, 1),                           # W != ceil(len / ROWS)
    "tiles": lambda p: (1, (p["LN_TILES"] + 1) * p["ROWS"], p["LN_TILES"] + 1, 1),  # LayerNorm W > LN_TILES
}


async def contract_case(dut: Any) -> None:
    """ROW_CONTRACT=<case>: a block outside the contract (CONTRACT): the unit's simulation check must
    stop the run at its start (this test fails if it runs on)."""
    p = params_of()
    is_ln, length, w, nb = CONTRACT[os.environ["ROW_CONTRACT"]](p)
    await start_on_ext_mem(dut, [0] * 16, 8 * p["ROWS"], INPUTS)
    for port, v in {"is_ln_i": is_ln, "len_i": length, "ct_i": w, "rows_i": nb, "plane_i": 16}.items():
        getattr(dut, port).value = v
    dut.start_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.start_i.value = 0
    for _ in range(5):
        await RisingEdge(dut.clk_i)
    raise AssertionError(f"a block of nb = {nb}, W = {w}, len = {length}, is_ln = {is_ln} ran on")
