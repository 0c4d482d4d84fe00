"""RTL regression: the engine's control registers and main FSM (rtl/ctrl_regs.sv, bench
tb/engine/test_ctrl_regs.py) against the CSR map (tb/engine/csr.py) on Icarus with the default build facts and
those of the edge preset, and on Verilator (edge) behind the `slow` marker (the layer regression runs the unit on Verilator)."""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim

CASES = [pytest.param("icarus", "default", id="icarus-default"), pytest.param("icarus", "edge", id="icarus-edge"),
         pytest.param("verilator", "edge", id="verilator-edge", marks=pytest.mark.slow)]


@pytest.mark.parametrize("simulator, hw", CASES)
def test_ctrl_regs(simulator: str, hw: str) -> None:
    params = sim.unit_parameters(hw, ("ROWS", "COLS", "ACT_WORDS", "WGT_WORDS", "REC_WORDS", "WGT_WIDTHS", "ROW_WORDS",
                                                           "LN_TILES"))
    sim.run("ctrl_regs", simulator, "tb.engine.test_ctrl_regs", parameters=params, run_name=hw)
