"""RTL regression: the engine's descriptor check unit (rtl/desc_check.sv, bench tb/engine/test_desc_check.py)
against hexgen.rules on both simulators, at three array sizes: today's (8 rows, the default preset's
buffers), 4 rows with small buffers, and 32 rows of 32-bit words, so that a rule written for one size
cannot pass."""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim
SIZES = {
    "rows8": {"ROWS": 8, "ACT_WORDS": 4096, "WGT_WORDS": 2048, "REC_WORDS": 256},
    # ... and a build that unpacks 8- and 4-bit weights only (2-bit weights are refused: W_BITS), with
    # 16-bit pixel counters (the default is 24; 32 below: each limit met exactly where registers reach it)
    "rows4": {"ROWS": 4, "WORD_BITS": 32, "ACT_WORDS": 1024, "WGT_WORDS": 512, "REC_WORDS": 64, "MAX_K": 5,
              "WGT_WIDTHS": (1 << 8) | (1 << 4), "PIX_W": 16, "ROW_WORDS": 256, "LN_TILES": 6},
    # a word narrower than a k_tile's bytes (hexgen accepts it; the unit's rule is ROWS * 64 a multiple of
    # WORD_BITS): 64 words of records per k_tile, where ROWS * 64 / WORD_BITS is not 8
    "rows32-word32": {"ROWS": 32, "WORD_BITS": 32, "ACT_WORDS": 1024, "WGT_WORDS": 512, "REC_WORDS": 256, "PIX_W": 32},
}


# both sizes on Icarus; today's size on Verilator in make test-slow (its Verilator build took 16 s of
# make test's three minutes; the engine's Verilator build, in every fast engine test, holds the unit)
CASES = [pytest.param("icarus", "rows8", id="icarus-rows8"), pytest.param("icarus", "rows4", id="icarus-rows4"),
         pytest.param("icarus", "rows32-word32", id="icarus-rows32-word32"),
         pytest.param("verilator", "rows8", id="verilator-rows8", marks=pytest.mark.slow)]


@pytest.mark.parametrize("simulator, size", CASES)
def test_desc_check(simulator: str, size: str) -> None:
    sim.run("desc_check", simulator, "tb.engine.test_desc_check", parameters=SIZES[size], run_name=size)


@pytest.mark.slow
def test_desc_check_small_on_verilator() -> None:
    sim.run("desc_check", "verilator", "tb.engine.test_desc_check", parameters=SIZES["rows4"], run_name="rows4")
