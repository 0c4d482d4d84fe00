"""RTL regression: the engine's gather unit (rtl/gather.sv, bench tb/engine/test_gather.py) against
hexgen's address functions and schedule, at two hardware descriptions (tiny, a 4x8 array with
32-bit words; edge, 16x16 with 128-bit words) on Icarus, and tiny on Verilator."""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim


def params(hw: str) -> dict[str, int]:
    return sim.unit_parameters(hw, ("ROWS", "COLS", "WORD_BITS", "ACT_WORDS"))


# Verilator in make test-slow: the engine's Verilator build, in every fast engine test, holds the unit
CASES = [pytest.param("icarus", "tiny", id="icarus-tiny"), pytest.param("icarus", "edge", id="icarus-edge"),
         pytest.param("verilator", "tiny", id="verilator-tiny", marks=pytest.mark.slow)]


@pytest.mark.parametrize("simulator, hw", CASES)
def test_gather(simulator: str, hw: str) -> None:
    sim.run("gather", simulator, "tb.engine.test_gather", parameters=params(hw), extra_env={"HW": hw}, run_name=hw)
