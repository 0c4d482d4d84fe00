"""RTL regression: burst reader on the external memory model (tb/engine/test_burst_reader.py), both simulators."""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim
PLUSARGS = ["+MEM_INIT=mem_init.hex"]


# Verilator in the slow suite: the memory-port units run on Verilator in every fast layer test of
# the engine (tests/test_engine.py), and make test's three minutes do not hold another build.
@pytest.mark.parametrize("simulator", [pytest.param(s, marks=pytest.mark.slow) if s == "verilator" else s for s in sim.SIMS])
def test_burst_reader(simulator: str) -> None:
    sim.run("burst_reader", simulator, "tb.engine.test_burst_reader", testcase="test_back_to_back", plusargs=PLUSARGS,
            extra_env={"BR_RERUN_K": "not sweep"})


SWEEP = {  # id: (parameters, environment)
    "default": ({}, {"BR_COMMANDS": "60"}),
    "burst1-depth2": ({"MAX_BURST": 1, "DEPTH": 2}, {"BR_COMMANDS": "40"}),
    "w64-burst255-tag1": ({"DATA_W": 64, "MAX_BURST": 255, "TAG_W": 1}, {"BR_COMMANDS": "6", "BR_MAX_LEN": "600"}),
    "burst7-depth4-memq2": ({"MAX_BURST": 7, "DEPTH": 4, "MEM_FIFO_DEPTH": 2, "ADDR_W": 16}, {"BR_COMMANDS": "40"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("simulator", sim.SIMS)
@pytest.mark.parametrize("case", list(SWEEP))
def test_burst_reader_sweep(simulator: str, case: str) -> None:
    params, env = SWEEP[case]
    sim.run("burst_reader", simulator, "tb.engine.test_burst_reader", plusargs=PLUSARGS, parameters=params,
            extra_env={**env, "BR_RERUN_K": f"sweep and {case}"}, run_name=f"sweep-{case}")
