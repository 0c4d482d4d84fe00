"""RTL regression: the engine's load sequencer (rtl/load_seq.sv, bench tb/engine/test_load_seq.py) against
hexgen's memory map on both simulators, at two hardware descriptions (8x8 with 64-bit words and
16x16 with 128-bit words: other k_tile sizes, record packing and weight-bank depths)."""
from __future__ import annotations

import pytest

from hexgen.hw import load_hw
from tb import sim

pytestmark = pytest.mark.sim


def params(hw: str) -> dict[str, int]:
    cfg = load_hw(hw)
    return {"ROWS": cfg.array_rows, "WGT_WORDS": cfg.weight_buf_words, "REC_WPK": cfg.array_rows * 64 // cfg.word_bits, "BUF_AW": 20}


# Verilator in make test-slow: the engine's Verilator build, in every fast engine test, holds the unit
CASES = [pytest.param("icarus", "default", id="icarus-default"),
         pytest.param("verilator", "default", id="verilator-default", marks=pytest.mark.slow),
         pytest.param("icarus", "edge", id="icarus-edge")]


@pytest.mark.parametrize("simulator, hw", CASES)
def test_load_seq(simulator: str, hw: str) -> None:
    sim.run("load_seq", simulator, "tb.engine.test_load_seq", parameters=params(hw), extra_env={"HW": hw}, run_name=hw)
