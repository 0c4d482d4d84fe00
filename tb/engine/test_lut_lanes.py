"""cocotb bench of rtl/lut_lanes.sv (a 256-entry table read by every lane) against golden.tf_arith.lookup.

W = 8: the GELU unit. Each parameter set is a table from golden.tf_arith.gelu_table: random
scale_in (1e-3..1), z_in, scale_out (1e-3..1), z_out and clamp bounds, and the extremes (scale_in
1e-3 and 1, z_in 0 and 255, scale_out 1e-3 (every output clamped but near zero) and 1, z_out 0 and
255, lo > z_out, hi < 255). W = 21: softmax's exp table, golden.tf_arith.softmax_params'
exp_table over S_in 1e-3..1 (and S_in 1, whose entries fall to 0 past d = 15).
Each set is written through the write port, WR entries a write (WR = 1, or a word of codes as the
vector unit's GELU writes them; groups in random order, a last group's entries past 255 garbage that
must be dropped) (the previous set's entries stay until overwritten, so
a lost write reads the old table), then the port is given random addresses and data with we_i low
for a few cycles (they must not write), then all 256 codes are read in every lane (lane l reads
code (k + 97 l) mod 256 at step k): every lane of every read equals golden.tf_arith.lookup.
Environment: RTL_SEED (default random, printed), RTL_PARAMS (LANES, W, WR), LUT_CASES (sets per run).
"""
from __future__ import annotations

import ast
import os
import random
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, Timer

from golden.tf_arith import gelu_table, lookup, softmax_params
from tb.sim import bench_seed

TEST_FILE = "tests/test_rtl_lut_lanes.py"


def gelu_set(rng: random.Random, i: int) -> dict[str, Any]:
    """gelu_table's arguments: the extremes first, then random ones."""
    corners = [
        {"scale_in": 1e-3, "z_in": 0, "scale_out": 1e-3, "z_out": 0, "lo": 0, "hi": 255},
        {"scale_in": 1.0, "z_in": 255, "scale_out": 1.0, "z_out": 255, "lo": 0, "hi": 255},
        {"scale_in": 1.0, "z_in": 0, "scale_out": 1e-3, "z_out": 128, "lo": 0, "hi": 255},
        {"scale_in": 0.05, "z_in": 128, "scale_out": 0.02, "z_out": 10, "lo": 20, "hi": 200},
    ]
    if i < len(corners):
        return corners[i]
    z_out = rng.choice([0, 255, rng.randrange(256)])
    lo, hi = rng.choice([(0, 255), (z_out, 255), (0, rng.randrange(256)), (rng.randrange(256), 255)])
    return {"scale_in": 10 ** rng.uniform(-3, 0), "z_in": rng.choice([0, 255, rng.randrange(256)]),
            "scale_out": 10 ** rng.uniform(-3, 0), "z_out": z_out, "lo": min(lo, hi), "hi": max(lo, hi)}


def table_for(rng: random.Random, w: int, i: int) -> tuple[str, np.ndarray]:
    if w == 8:
        p = gelu_set(rng, i)
        return f"gelu_table({p})", gelu_table(**p)
    if w == 21:
        s_in = 1.0 if i == 0 else 1e-3 if i == 1 else 10 ** rng.uniform(-3, 0)
        s_out = rng.choice([1 / 256, 1 / 255, 10 ** rng.uniform(-3, -1)])
        return f"softmax_params(scale_in={s_in}, scale_out={s_out}) exp_table", \
            softmax_params(scale_in=s_in, scale_out=s_out, where="bench")["exp_table"]
    raise AssertionError(f"lut_lanes bench: W = {w}; it checks W = 8 (GELU) and W = 21 (exp) tables")


@cocotb.test()
async def test_tables_against_golden(dut: Any) -> None:
    seed = bench_seed(dut._log, TEST_FILE)
    rng = random.Random(seed)
    p = {"LANES": 8, "W": 8, "WR": 1, **dict(ast.literal_eval(os.environ.get("RTL_PARAMS", "[]")))}
    lanes, w, wr = p["LANES"], p["W"], p["WR"]
    Clock(dut.clk_i, 10, unit="ns", impl="gpi").start()
    dut.we_i.value = 0
    dut.q_i.value = 0
    bad: list[str] = []
    cases = int(os.environ.get("LUT_CASES", "8"))
    for i in range(cases):
        name, table = table_for(rng, w, i)
        assert int(table.max()) < 1 << w and int(table.min()) >= 0, f"{name} does not fit {w} bits"
        await RisingEdge(dut.clk_i)
        groups = -(-256 // wr)
        for a in rng.sample(range(groups), groups):  # every entry once, WR a write, in random order
            dut.we_i.value = 1
            dut.waddr_i.value = a
            # entries past 255 (the last group's): garbage, dropped
            dut.wdata_i.value = sum((int(table[e]) if e < 256 else rng.getrandbits(w)) << (w * k)
                                    for k, e in enumerate(range(a * wr, a * wr + wr)))
            await RisingEdge(dut.clk_i)
        dut.we_i.value = 0
        for _ in range(4):  # the port busy with other values, not enabled: no write
            dut.waddr_i.value = rng.randrange(256)
            dut.wdata_i.value = rng.getrandbits(w * wr)
            await RisingEdge(dut.clk_i)
        for k in range(256):
            q = np.array([(k + 97 * l) % 256 for l in range(lanes)], np.uint8)
            dut.q_i.value = sum(int(x) << (8 * l) for l, x in enumerate(q))
            await Timer(1, "ns")
            v = dut.y_o.value
            want = lookup(q, table)
            if not v.is_resolvable:
                bad.append(f"{name}: codes {q.tolist()} read {v} (X or Z)")
                break
            got = int(v)
            for l in range(lanes):
                if (got >> (w * l)) & ((1 << w) - 1) != int(want[l]):
                    bad.append(f"{name}: lane {l} code {int(q[l])}: RTL {(got >> (w * l)) & ((1 << w) - 1)}, "
                               f"golden {int(want[l])}")
                    break
            if len(bad) >= 5:
                break
        if len(bad) >= 5:
            break
    assert not bad, f"lut_lanes disagrees with golden.tf_arith.lookup (seed {seed}):\n  " + "\n  ".join(bad)
    dut._log.info(f"{cases} tables of {w}-bit entries: all 256 codes in each of {lanes} lanes equal golden's")
