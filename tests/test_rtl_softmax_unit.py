"""RTL regression: the softmax unit (rtl/softmax_unit.sv, bench tb/engine/test_softmax_unit.py,
harness tb/engine/hdl/softmax_unit_tb.sv) against golden.tf_arith.softmax and its cycles against
hexgen.cycles.softmax_cycles: 8 lanes and 3 lanes (not a power of two; rows of 2, 3, 4) on Icarus,
16 lanes on Verilator (its build: 5.6 s without ccache, 1.5 s with it, build and run)."""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim
CASES = [pytest.param("icarus", 8, id="icarus-lanes8"), pytest.param("icarus", 3, id="icarus-lanes3"),
         pytest.param("verilator", 16, id="verilator-lanes16")]


@pytest.mark.parametrize("simulator, lanes", CASES)
def test_softmax_unit(simulator: str, lanes: int) -> None:
    sim.run("softmax_unit", simulator, "tb.engine.test_softmax_unit", parameters={"LANES": lanes}, run_name=f"lanes{lanes}")
