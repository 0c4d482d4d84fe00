"""RTL regression: the vector unit (rtl/vec_unit.sv: residual add, max pool, average and global
average pool; bench tb/test_vec_unit.py) against golden.arith on the external memory model, on both
simulators (8 lanes with 16-word bursts; 16 lanes with 4-word bursts, so window rows span bursts)."""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim
SIZES = {"rows8": {"ROWS": 8, "ADDR_W": 14, "MAX_BURST": 16}, "rows16": {"ROWS": 16, "ADDR_W": 14, "MAX_BURST": 4}}
CASES = [("icarus", "rows8"), ("verilator", "rows16")]


@pytest.mark.parametrize("simulator, size", CASES, ids=[f"{s}-{z}" for s, z in CASES])
def test_vec_unit(simulator: str, size: str) -> None:
    sim.run("vec_unit", simulator, "tb.test_vec_unit", parameters=SIZES[size], plusargs=["+MEM_INIT=mem_init.hex"],
            run_name=size)
