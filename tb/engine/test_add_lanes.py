"""cocotb bench of rtl/add_lanes.sv (the residual add datapath) against golden.arith.add_requant.

Parameter sets: (A0, B0, n) from golden.arith.add_params on random scale ratios (0.01..100) at
m0_bits 31, 16 and 8, plus the contract's corners (A0 or B0 = 0 or 2^31 - 1, n = 1 and 63, zero
points 0 and 255, clamp bounds lo > z_out and hi < 255); each set with random activation words,
then words of all-0 and all-255 lanes. Every lane of every word must equal golden's. Environment:
RTL_SEED (default random, printed), RTL_PARAMS (LANES), ADD_CASES (parameter sets per run).
"""
from __future__ import annotations

import ast
import os
import random
from typing import Any

import cocotb
import numpy as np
from cocotb.triggers import Timer

from golden.arith import add_params, add_requant
from tb.sim import bench_seed

TEST_FILE = "tests/test_rtl_add_lanes.py"


def params(rng: random.Random, i: int) -> dict[str, int]:
    z_a, z_b, z_out = (rng.choice([0, 255, rng.randint(0, 255)]) for _ in range(3))
    lo, hi = rng.choice([(0, 255), (z_out, 255), (rng.randint(0, 255), 255), (0, rng.randint(0, 255))])
    lo, hi = min(lo, hi), max(lo, hi)
    if i % 5 == 4:  # the corners of the contract's ranges
        a0, b0 = rng.choice([0, 1, (1 << 31) - 1]), rng.choice([0, 1, (1 << 31) - 1])
        n = rng.choice([1, 2, 40, 62, 63])
    else:
        m0_bits = rng.choice([31, 16, 8])
        a0, b0, n = add_params(10 ** rng.uniform(-2, 2), 10 ** rng.uniform(-2, 2), 1.0, m0_bits=m0_bits, where="bench")
    return {"z_a": z_a, "z_b": z_b, "a0": a0, "b0": b0, "n": n, "z_out": z_out, "lo": lo, "hi": hi}


@cocotb.test()
async def test_against_golden(dut: Any) -> None:
    seed = bench_seed(dut._log, TEST_FILE)
    rng = random.Random(seed)
    lanes = int(dict(ast.literal_eval(os.environ.get("RTL_PARAMS", "[]"))).get("LANES", 8))
    bad: list[str] = []
    words = 0
    for i in range(int(os.environ.get("ADD_CASES", "60"))):
        p = params(rng, i)
        for port in ("z_a", "z_b", "a0", "b0", "n", "z_out", "lo", "hi"):
            getattr(dut, f"{port}_i").value = p[port]
        vectors = [[rng.randrange(256) for _ in range(2 * lanes)] for _ in range(20)]
        vectors += [[0] * 2 * lanes, [255] * 2 * lanes, [0] * lanes + [255] * lanes]
        for v in vectors:
            a, b = np.array(v[:lanes], np.uint8), np.array(v[lanes:], np.uint8)
            dut.a_i.value = sum(int(x) << (8 * l) for l, x in enumerate(a))
            dut.b_i.value = sum(int(x) << (8 * l) for l, x in enumerate(b))
            await Timer(1, "ns")
            got = int(dut.y_o.value)
            want = add_requant(a, b, **p)
            for l in range(lanes):
                if (got >> (8 * l)) & 0xFF != int(want[l]):
                    bad.append(f"{p}: lane {l} a {int(a[l])} b {int(b[l])}: RTL {(got >> (8 * l)) & 0xFF}, golden {int(want[l])}")
                    break
            words += 1
            if len(bad) >= 5:
                break
        if len(bad) >= 5:
            break
    assert not bad, f"add_lanes disagrees with golden.arith.add_requant (seed {seed}):\n  " + "\n  ".join(bad)
    dut._log.info(f"{words} words of {lanes} lanes equal golden's")
