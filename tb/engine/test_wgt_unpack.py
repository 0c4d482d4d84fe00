"""cocotb bench of rtl/wgt_unpack.sv (a weight-bank word to the ROWS int8 weights of one beat)
against hexgen.layout's packing (unpack_words: the little-endian bit stream hexgen writes).

For each W_BITS register value 0..15 and each vector of a word (sel 0..3): words where every lane
holds the same code, for every code of the width (so each lane meets every value, the most negative
and -1 included), a walking one over the word's bits, and random words. Widths the build unpacks
(WGT_WIDTHS, the hardware description's weight_bits) must give exactly the unpacked, sign-extended
vector; every other W_BITS value (refused by desc_check before a layer runs) zeros. Environment:
RTL_SEED (default random, printed), RTL_PARAMS (ROWS, WORD_BITS, WGT_WIDTHS).
"""
from __future__ import annotations

import ast
import os
import random
from typing import Any

import cocotb
from cocotb.triggers import Timer

from hexgen.config import HardwareConfig
from hexgen.layout import pack_words, unpack_words
from tb.sim import bench_seed

TEST_FILE = "tests/test_rtl_wgt_unpack.py"
DEFAULTS = {"ROWS": 8, "WORD_BITS": 64, "WGT_WIDTHS": HardwareConfig().weight_widths_mask}


def expected(word: int, w_bits: int, sel: int, rows: int, word_bits: int, widths: int) -> int:
    """The int8 lanes the MAC array must see, as one ROWS x 8-bit value."""
    if not widths >> w_bits & 1 or w_bits not in (2, 4, 8) or sel >= 8 // w_bits:
        return 0
    elems = unpack_words([word], w_bits, word_bits, signed=True)
    vec = elems[sel * rows:(sel + 1) * rows]
    return int(pack_words(vec, 8, word_bits)[0])


@cocotb.test()
async def test_against_hexgen_packing(dut: Any) -> None:
    seed = bench_seed(dut._log, TEST_FILE)
    rng = random.Random(seed)
    p = {**DEFAULTS, **dict(ast.literal_eval(os.environ.get("RTL_PARAMS", "[]")))}
    rows, wb, widths = p["ROWS"], p["WORD_BITS"], p["WGT_WIDTHS"]
    bad: list[str] = []
    checked = 0
    for w_bits in range(16):
        elem = w_bits if w_bits in (2, 4, 8) else 8
        codes = range(-(1 << (elem - 1)), 1 << (elem - 1))
        # every lane at every code of the width (packed as hexgen packs them), a walking one, random words
        words = [pack_words([c] * (wb // elem), elem, wb)[0] for c in codes]
        words += [1 << b for b in range(wb)] + [rng.getrandbits(wb) for _ in range(40)]
        for sel in range(4):
            if w_bits in (2, 4, 8) and sel >= 8 // w_bits and sel:
                continue  # no such vector in the word (the compute unit never asks for it)
            dut.w_bits_i.value = w_bits
            dut.sel_i.value = sel
            for xor in (0, 1):  # W_XOR: 8-bit weights stored as codes of zero point 128 (a matmul's b)
                dut.xor_i.value = xor
                for word in words:
                    dut.word_i.value = word
                    await Timer(1, "ns")
                    got = int(dut.vec_o.value)
                    want = expected(word, w_bits, sel, rows, wb, widths)
                    if xor and w_bits == 8 and widths >> 8 & 1:
                        # the byte as a code of b: code - 128 (hexgen.tokens.b_weights' inverse of b_codes)
                        codes = unpack_words([word], 8, wb, signed=False)
                        want = int(pack_words([int(c) - 128 for c in codes], 8, wb)[0])
                    checked += 1
                    if got != want:
                        bad.append(f"W_BITS {w_bits} W_XOR {xor} sel {sel} word 0x{word:0{wb // 4}x}: RTL 0x{got:0{wb // 4}x}, "
                                   f"hexgen 0x{want:0{wb // 4}x}")
                    if len(bad) >= 6:
                        break
    assert not bad, f"wgt_unpack disagrees with hexgen.layout (seed {seed}, WGT_WIDTHS 0x{widths:x}):\n  " + "\n  ".join(bad)
    dut._log.info(f"{checked} words agree (WGT_WIDTHS 0x{widths:x})")
