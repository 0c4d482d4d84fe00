"""RTL regression: the engine's compute-issue unit (rtl/compute_issue.sv, bench
tb/engine/test_compute_issue.py): its beats summed as the MAC array sums them equal golden's accumulators,
at two hardware descriptions (tiny, a 4x8 array with 32-bit words; edge, 16x16 with 128-bit
words) on Icarus; tiny on Verilator in make test-slow (its build took 13 s of make test's three
minutes; every fast engine test runs the unit inside Verilator's engine build)."""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim


def params(hw: str) -> dict[str, int]:
    return sim.unit_parameters(hw, ("ROWS", "COLS", "WORD_BITS", "WGT_WORDS", "WGT_WIDTHS"))


CASES = [pytest.param("icarus", "tiny", id="icarus-tiny"), pytest.param("icarus", "edge", id="icarus-edge"),
         pytest.param("verilator", "tiny", id="verilator-tiny", marks=pytest.mark.slow)]


@pytest.mark.parametrize("simulator, hw", CASES)
def test_compute_issue(simulator: str, hw: str) -> None:
    sim.run("compute_issue", simulator, "tb.engine.test_compute_issue", parameters=params(hw), extra_env={"HW": hw}, run_name=hw)
