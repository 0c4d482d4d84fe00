"""RTL regression: the residual add datapath (rtl/add_lanes.sv, bench tb/test_add_lanes.py) against
golden.arith.add_requant, on both simulators (8 and 16 lanes: the default and edge word widths)."""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim
CASES = [("icarus", 8), ("verilator", 16)]


@pytest.mark.parametrize("simulator, lanes", CASES, ids=[f"{s}-{n}" for s, n in CASES])
def test_add_lanes(simulator: str, lanes: int) -> None:
    sim.run("add_lanes", simulator, "tb.test_add_lanes", parameters={"LANES": lanes}, run_name=f"lanes{lanes}")
