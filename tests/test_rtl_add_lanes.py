"""RTL regression: the residual add datapath (rtl/add_lanes.sv, bench tb/engine/test_add_lanes.py) against
golden.arith.add_requant: 8 lanes on Icarus; 16 lanes on Verilator in the slow suite (make test
runs add_lanes on Verilator inside the vector unit's bench, tests/test_rtl_vec_unit.py, and in
every add layer of the default model)."""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim
CASES = [("icarus", 8), pytest.param("verilator", 16, marks=pytest.mark.slow)]


@pytest.mark.parametrize("simulator, lanes", CASES, ids=["icarus-8", "verilator-16"])
def test_add_lanes(simulator: str, lanes: int) -> None:
    sim.run("add_lanes", simulator, "tb.engine.test_add_lanes", parameters={"LANES": lanes}, run_name=f"lanes{lanes}")
