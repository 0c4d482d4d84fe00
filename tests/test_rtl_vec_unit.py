"""RTL regression: the vector unit (rtl/vec_unit.sv: residual add, max pool, average and global
average pool, nearest upsampling, a concat run, a GELU (its table loaded into rtl/lut_lanes.sv); bench
tb/engine/test_vec_unit.py) against golden on the external memory model, on both
simulators (8 lanes with 16-word bursts; 16 lanes with 5-word bursts, so window rows span bursts and
a burst length is not a power of two, where a remainder's truncation to the length's bits shows)."""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim
SIZES = {"rows8": {"ROWS": 8, "ADDR_W": 14, "MAX_BURST": 16}, "rows16": {"ROWS": 16, "ADDR_W": 14, "MAX_BURST": 5}}
# Verilator in make test-slow (its build took 6 s of make test's three minutes; the engine's
# Verilator build, in every fast engine test, runs the unit's adds and pools)
CASES = [pytest.param("icarus", "rows8", id="icarus-rows8"), pytest.param("icarus", "rows16", id="icarus-rows16"),
         pytest.param("verilator", "rows16", id="verilator-rows16", marks=pytest.mark.slow)]


@pytest.mark.parametrize("simulator, size", CASES)
def test_vec_unit(simulator: str, size: str) -> None:
    sim.run("vec_unit", simulator, "tb.engine.test_vec_unit", parameters=SIZES[size], plusargs=["+MEM_INIT=mem_init.hex"],
            run_name=size)
