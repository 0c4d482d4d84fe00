"""RTL regression: the engine's drain + requantizer unit (rtl/drain_requant.sv, bench
tb/engine/test_drain_requant.py): golden's accumulators in, hexgen's expected segment out, at two
hardware descriptions (tiny, a 4x8 array with 32-bit words and four record words per k_tile; edge,
16x16 with 128-bit words) on Icarus, and tiny on
Verilator behind the `slow` marker (its build costs the fast suite ~10 s on a clean clone; the
layer regression runs the unit on Verilator)."""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim


def params(hw: str) -> dict[str, int]:
    return sim.unit_parameters(hw, ("ROWS", "WORD_BITS", "REC_WORDS"))


CASES = [pytest.param("icarus", "tiny", id="icarus-tiny"), pytest.param("icarus", "edge", id="icarus-edge"),
         pytest.param("verilator", "tiny", id="verilator-tiny", marks=pytest.mark.slow)]


@pytest.mark.parametrize("simulator, hw", CASES)
def test_drain_requant(simulator: str, hw: str) -> None:
    sim.run("drain_requant", simulator, "tb.engine.test_drain_requant", parameters=params(hw), extra_env={"HW": hw}, run_name=hw)
