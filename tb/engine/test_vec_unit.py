"""cocotb bench of rtl/vec_unit.sv (residual add, max pool, average and global average pool, nearest
upsampling by whole factors, 1..4 and now and then 13, per axis, and one input of a concatenation
put in its place) on the external memory model (tb/engine/hdl/vec_unit_tb.sv), against golden.

Each case is a random layer: add (A0, B0, n from golden.arith.add_params; zero points and clamp
bounds at random), max pool (kernel 1..3, stride 1..3, padding up to kernel / 2), average pool
(kernel 1..3, stride 1..3), global average pool, or a concat run (an input of 1..3 tiles, L = 0..ROWS - 1
lanes into its first output tile after L channels kept from the word there, whose other lanes are
garbage; copied or requantized, against golden.layers.ConcatLayer of the kept channels and the
input), or a GELU (golden.tf_arith.gelu_table at random scales, zero points and clamp bounds,
loaded from its table segment, hexgen.tokens.gelu_table_layout; on a token tensor [T, C] as the
one-column image [C, T, 1], C not a multiple of ROWS half the time, the input's padding lanes
garbage: the output's must be z_out whatever they hold; golden.tf_arith.lookup), on 1..3 channel
tiles (partial tiles included)
of images up to 9 x 21 (rows longer than MAX_BURST words). Tensors are laid out with hexgen's
activation layout (hexgen.plan.act_layout); golden runs on the tensors with their channels padded
to whole tiles with the layout's pad value, so the padding lanes are golden's results too. The
output stream must equal the expected tensor's words in order; done_o pulses once, after the last
word; words_read_o equals the read words the harness saw taken (an add: each input word once).
The memory's latency changes between cases. Every other group of four cases (one of each kind) is
timed: the memory never stalls, the output is always ready, and each output word must leave at
the cycle hexgen.cycles.vector_unit_pushes gives, done_o the cycle after the last (a state that
takes a cycle too many, outputs still right, fails here). The other cases stall the memory at
random and make the output's ready random.
Environment: RTL_SEED (default random, printed), RTL_PARAMS (ROWS, ADDR_W, MAX_BURST), VEC_CASES.
"""
from __future__ import annotations

import ast
import os
import random
from typing import Any

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

from golden import arith
from golden.tf_arith import gelu_table, lookup
from hexgen.config import HardwareConfig
from hexgen.cycles import gelu_table_words, vector_unit_pushes
from hexgen.layout import to_words
from hexgen.plan import act_layout
from golden.layers import ConcatLayer
from hexgen.rules import KIND_CODES
from hexgen.tokens import gelu_table_layout
from tb.engine.ext_mem import start_on_ext_mem
from tb.sim import bench_seed

TEST_FILE = "tests/test_rtl_vec_unit.py"
#: the cases in turn, with the KIND register's code (hexgen.rules) each is run with
OPS = {"add": KIND_CODES["add"], "maxpool": KIND_CODES["maxpool"], "avgpool": KIND_CODES["avgpool"],
       "global": KIND_CODES["avgpool"], "upsample": KIND_CODES["upsample"], "concat": KIND_CODES["concat"],
       "gelu": KIND_CODES["gelu"]}
INPUTS = ("start_i", "kind_i", "ct_i", "kt_i", "in_c_i", "out_c_i", "in_h_i", "in_w_i", "out_h_i", "out_w_i", "kh_i", "kw_i", "sy_i", "sx_i", "pad_top_i",
          "pad_left_i", "in_base_i", "in2_base_i", "z_a_i", "z_b_i", "a0_i", "b0_i", "n_i", "z_out_i", "lo_i", "hi_i",
          "out_ready_i", "mem_load_i", "cfg_load_i", "cfg_latency_i", "cfg_stall_i", "cfg_seed_i")


def padded(x: np.ndarray, rows: int, pad: int) -> np.ndarray:
    """[C, H, W] with its channels padded to whole tiles with `pad` (what the layout's lanes hold)."""
    c = x.shape[0]
    out = np.full((-(-c // rows) * rows, *x.shape[1:]), pad, np.uint8)
    out[:c] = x
    return out


def random_case(rng: random.Random, rows: int, kind: str) -> dict[str, Any]:
    c, h, w = rng.randint(1, 3 * rows), rng.randint(1, 9), rng.randint(1, 21)
    r: dict[str, Any] = {"kind": kind, "c": c, "h": h, "w": w, "kh": 1, "kw": 1, "sy": 1, "sx": 1, "pad": 0,
                         "z_a": rng.randrange(256), "z_b": 0, "a0": 0, "b0": 0, "n": 1, "z_out": 0, "lo": 0, "hi": 255}
    x = np.array([[[rng.randrange(256) for _ in range(w)] for _ in range(h)] for _ in range(c)], np.uint8)
    xp = padded(x, rows, r["z_a"])
    r["inputs"] = [xp]
    if kind == "concat":  # at most 3 rows: its tiles (up to 4 with the lanes moved up) make the words
        return concat_case(rng, rows, r, x[:, :3])
    if kind == "gelu":
        return gelu_case(rng, rows, r)
    if kind == "add":
        r["z_b"], r["z_out"] = rng.randrange(256), rng.randrange(256)
        r["lo"] = rng.choice([0, r["z_out"]])
        r["hi"] = rng.choice([255, max(r["lo"], rng.randrange(256))])
        r["a0"], r["b0"], r["n"] = arith.add_params(10 ** rng.uniform(-1.5, 1.5), 10 ** rng.uniform(-1.5, 1.5), 1.0,
                                                    m0_bits=rng.choice([31, 16]), where="bench")
        b = np.array([[[rng.randrange(256) for _ in range(w)] for _ in range(h)] for _ in range(c)], np.uint8)
        bp = padded(b, rows, r["z_b"])
        r["inputs"].append(bp)
        y = arith.add_requant(xp, bp, z_a=r["z_a"], z_b=r["z_b"], a0=r["a0"], b0=r["b0"], n=r["n"], z_out=r["z_out"],
                              lo=r["lo"], hi=r["hi"])
    elif kind == "global":
        r["kh"], r["kw"] = h, w
        y = arith.global_avg_pool(xp[None])[0]
    elif kind == "upsample":  # factors 1..4 per axis (STRIDE_Y, STRIDE_X), now and then one large
        r["sy"], r["sx"] = rng.choice([1, 2, 3, 4, 13]), rng.choice([1, 2, 3, 4, 13])
        y = arith.upsample_nearest(xp[None], scale=(r["sy"], r["sx"]))[0]
    else:
        r["kh"], r["kw"] = rng.randint(1, min(3, h)), rng.randint(1, min(3, w))
        r["sy"], r["sx"] = rng.randint(1, 3), rng.randint(1, 3)
        if kind == "maxpool":
            r["pad"] = rng.randint(0, min(r["kh"], r["kw"]) // 2)
            y = arith.max_pool(xp[None], kernel=(r["kh"], r["kw"]), stride=(r["sy"], r["sx"]), padding=(r["pad"], r["pad"]))[0]
        else:
            y = arith.avg_pool(xp[None], kernel=(r["kh"], r["kw"]), stride=(r["sy"], r["sx"]))[0]
    r["expected"] = y
    return r


def concat_case(rng: random.Random, rows: int, r: dict[str, Any], x: np.ndarray) -> dict[str, Any]:
    """A concat run: input x ([C, H, W]) after L = lanes kept channels, in the output tile whose word
    the unit reads at in2_base (its lanes from L on are garbage the run must overwrite)."""
    c, h, w = x.shape
    r["h"] = h
    lanes = rng.choice([0, rng.randrange(rows)])
    r["z_out"] = rng.randrange(256)
    copy = rng.random() < 0.3
    if copy:
        r["z_a"], m0, n = r["z_out"], 0, 0
        r["lo"], r["hi"] = 0, 255
    else:
        m0, n = arith.quantize_multiplier(10 ** rng.uniform(-1.5, 1.5), m0_bits=rng.choice([31, 16]), where="bench")
        r["lo"] = rng.choice([0, r["z_out"]])
        r["hi"] = rng.choice([255, max(r["lo"], rng.randrange(256))])
    r.update(lanes=lanes, a0=m0, n=max(n, 1), b0=rng.randrange(1 << 31), z_b=rng.randrange(256))
    kept = np.array([[[rng.randrange(256) for _ in range(w)] for _ in range(h)] for _ in range(rows)], np.uint8)
    r["inputs"] = [padded(x, rows, r["z_a"]), kept]
    if lanes == 0:
        y = x if copy else arith.requantize_codes(x[None], z_in=r["z_a"], m0=m0, n=n, z_out=r["z_out"], lo=r["lo"], hi=r["hi"])[0]
    else:
        cat = ConcatLayer(name="cat", inputs=("kept", "x"), in_shape=(lanes, h, w), out_shape=(lanes + c, h, w), module="",
                          source="", channels=(lanes, c), z_ins=(r["z_out"], r["z_a"]), m0s=(0, m0), ns=(0, n),
                          z_out=r["z_out"], lo=r["lo"], hi=r["hi"])
        y = cat.forward([kept[None, :lanes], x[None]])[0]
    r["expected"] = padded(y, rows, r["z_out"])
    r["out_c"] = lanes + c
    return r


def gelu_case(rng: random.Random, rows: int, r: dict[str, Any]) -> dict[str, Any]:
    """A GELU on [T, C] tokens (the one-column image [C, T, 1]): golden's table at random scales,
    C not a multiple of ROWS half the time, the input's padding lanes garbage."""
    c = rng.randint(1, 3 * rows)
    if rng.random() < 0.5 and c % rows == 0:
        c = c - rng.randint(1, rows - 1) if rows > 1 else c
    t = rng.randint(1, 40)
    z_out = rng.randrange(256)
    lo, hi = rng.choice([(0, 255), (0, 255), (rng.randrange(256), 255), (0, rng.randrange(256))])
    table = gelu_table(scale_in=10 ** rng.uniform(-3, 0), z_in=r["z_a"], scale_out=10 ** rng.uniform(-3, 0), z_out=z_out,
                       lo=min(lo, hi), hi=max(lo, hi))
    x = np.array([[[rng.randrange(256)] for _ in range(t)] for _ in range(c)], np.uint8)
    xp = padded(x, rows, 0)
    xp[c:] = np.array([rng.randrange(256) for _ in range(xp[c:].size)], np.uint8).reshape(xp[c:].shape)
    r.update(c=c, h=t, w=1, z_out=z_out, lo=min(lo, hi), hi=max(lo, hi), table=table, inputs=[xp])
    r["expected"] = padded(lookup(x, table), rows, z_out)  # golden.tf_arith.lookup; padding lanes z_out
    return r


async def run_case(dut: Any, rng: random.Random, p: dict[str, int], cfg: HardwareConfig, kind: str,
                   timed: bool) -> list[str]:
    rows = p["ROWS"]
    r = random_case(rng, rows, kind)
    words_in = [to_words(t[None], act_layout(t.shape, 1, 0, cfg)) for t in r["inputs"]]
    if kind == "gelu":  # its table, read at in2_base
        words_in.append(to_words(np.asarray(r["table"], np.int64), gelu_table_layout(cfg)))
    bases = [rng.randrange(0, 64)]
    if len(words_in) > 1:
        bases.append(bases[0] + len(words_in[0]) + rng.randrange(0, 64))
    image = [rng.getrandbits(8 * rows) for _ in range(bases[-1] + len(words_in[-1]) + 64)]  # garbage around
    for base, ws in zip(bases, words_in):
        image[base:base + len(ws)] = ws
    y = r["expected"]
    want = to_words(y[None], act_layout(y.shape, 1, 0, cfg))
    await start_on_ext_mem(dut, image, 8 * rows, INPUTS)
    latency = rng.choice([0, 1, 8, 23])
    dut.cfg_latency_i.value = latency
    dut.cfg_stall_i.value = 0 if timed else rng.choice([0, 40, 200])
    dut.cfg_seed_i.value = rng.randrange(1, 1 << 31)
    dut.cfg_load_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.cfg_load_i.value = 0
    out_c = r.get("out_c", r["c"])
    drive = {"kind_i": OPS[r["kind"]], "ct_i": -(-r["c"] // rows), "kt_i": -(-out_c // rows), "in_c_i": r["c"],
             "out_c_i": out_c, "in_h_i": r["h"], "in_w_i": r["w"], "out_h_i": y.shape[1],
             "out_w_i": y.shape[2], "kh_i": r["kh"], "kw_i": r["kw"], "sy_i": r["sy"], "sx_i": r["sx"],
             "pad_top_i": r["pad"], "pad_left_i": r["pad"], "in_base_i": bases[0], "in2_base_i": bases[-1],
             "z_a_i": r["z_a"], "z_b_i": r["z_b"], "a0_i": r["a0"], "b0_i": r["b0"], "n_i": r["n"], "z_out_i": r["z_out"],
             "lo_i": r["lo"], "hi_i": r["hi"]}
    for port, v in drive.items():
        getattr(dut, port).value = v
    dut.start_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.start_i.value = 0
    got: list[int] = []
    pushed_at: list[int] = []  # the cycles (0: the one after start) the output words were taken
    done_at = -1
    dones, problems, reads = 0, [], 0
    p_ready = 1.0 if timed else rng.choice([0.3, 1.0])
    for cycle in range(200 * len(want) * (r["kh"] * r["kw"] + 2) + 2000):
        ready = rng.random() < p_ready
        dut.out_ready_i.value = int(ready)
        await ReadOnly()
        if int(dut.done_o.value):
            dones += 1
            done_at = cycle
            if len(got) != len(want):
                problems.append(f"done_o after {len(got)} of {len(want)} words")
        reads += int(dut.rd_fire_o.value)
        if int(dut.out_valid_o.value) and ready:
            v = dut.out_data_o.value
            got.append(int(v) if v.is_resolvable else -1)
            pushed_at.append(cycle)
        await RisingEdge(dut.clk_i)
        if dones or problems:
            break
    for _ in range(3):  # nothing more after done
        await ReadOnly()
        if int(dut.out_valid_o.value) or int(dut.done_o.value):
            problems.append("output or done after done")
            break
        await RisingEdge(dut.clk_i)
    if dones != 1:
        problems.append(f"done_o pulsed {dones} times")
    # the WORDS_READ counter: every word taken from the read channel; an add reads each input word once
    if int(dut.words_read_o.value) != reads:
        problems.append(f"words_read_o {int(dut.words_read_o.value)}, {reads} read words taken")
    if r["kind"] == "add" and reads != sum(len(w) for w in words_in):
        problems.append(f"{reads} words read for an add of two {len(words_in[0])}-word tensors")
    if r["kind"] == "gelu" and reads != gelu_table_words(rows) + len(want):
        problems.append(f"{reads} words read for a GELU of {len(want)} words and a {gelu_table_words(rows)}-word table")
    if r["kind"] == "concat" and reads != (1 if r["lanes"] == 0 else 2) * len(want):
        problems.append(f"{reads} words read for a concat run of {len(want)} output words, L = {r['lanes']}")
    if got != want:
        bad = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        problems.append(f"{len(got)} words out, {len(want)} expected; first difference at word {bad}: "
                        f"{got[bad] if bad < len(got) else None!r:} vs {want[bad] if bad < len(want) else None!r}")
    if timed and not problems:
        regs = {"KIND": OPS[r["kind"]], "IN_C": r["c"], "OUT_C": out_c, "IN_H": r["h"], "IN_W": r["w"], "OUT_H": y.shape[1],
                "OUT_W": y.shape[2], "KH": r["kh"], "KW": r["kw"], "STRIDE_Y": r["sy"], "STRIDE_X": r["sx"],
                "PAD_TOP": r["pad"], "PAD_LEFT": r["pad"]}
        plan = vector_unit_pushes(regs, rows, latency, p["MAX_BURST"])
        if pushed_at != plan or done_at != plan[-1] + 1:
            late = next((i for i, (a, b) in enumerate(zip(pushed_at, plan)) if a != b), min(len(plan), len(pushed_at)) - 1)
            problems.append(f"at memory latency {latency}, no stalls, output always ready: word {late} of "
                            f"{len(pushed_at)} left at cycle {pushed_at[late]} where hexgen.cycles.vector_unit_pushes "
                            f"plans cycle {plan[late]} ({len(plan)} words planned); done_o at {done_at}, planned {plan[-1] + 1} "
                            f"(outputs right: a performance fault)")
    name = {k: v for k, v in r.items() if k not in ("inputs", "expected", "table")}
    return [f"{name}: {m}" for m in problems]


@cocotb.test()
async def test_layers_against_golden(dut: Any) -> None:
    seed = bench_seed(dut._log, TEST_FILE)
    rng = random.Random(seed)
    p = {"ROWS": 8, "ADDR_W": 14, "MAX_BURST": 16, **dict(ast.literal_eval(os.environ.get("RTL_PARAMS", "[]")))}
    cfg = HardwareConfig(array_rows=p["ROWS"], word_bits=8 * p["ROWS"])
    problems: list[str] = []
    cases = int(os.environ.get("VEC_CASES", "28"))
    for i in range(cases):  # the kinds in turn, so each is covered
        problems += await run_case(dut, rng, p, cfg, list(OPS)[i % len(OPS)], timed=(i // len(OPS)) % 2 == 0)
        if problems:
            break
    assert not problems, f"vec_unit disagrees with golden (seed {seed}):\n  " + "\n  ".join(problems[:5])
    dut._log.info(f"{cases} layers equal golden's ({', '.join(OPS)} in turn)")
