"""RTL regression: the engine's gather unit (rtl/gather.sv, bench tb/test_gather.py) against
hexgen's address functions and schedule on both simulators, at two hardware descriptions (tiny,
a 4x8 array with 32-bit words, on Verilator; edge, 16x16 with 128-bit words, on Icarus). The layer
regression runs the gather at the default 8x8."""
from __future__ import annotations

import pytest

from hexgen.hw import load_hw
from tb import sim

pytestmark = pytest.mark.sim


def params(hw: str) -> dict[str, int]:
    cfg = load_hw(hw)
    return {"ROWS": cfg.array_rows, "COLS": cfg.array_cols, "WORD_BITS": cfg.word_bits, "ACT_WORDS": cfg.act_buf_words}


CASES = [("verilator", "tiny"), ("icarus", "edge")]


@pytest.mark.parametrize("simulator, hw", CASES, ids=[f"{s}-{h}" for s, h in CASES])
def test_gather(simulator: str, hw: str) -> None:
    sim.run("gather", simulator, "tb.test_gather", parameters=params(hw), extra_env={"HW": hw}, run_name=hw)
