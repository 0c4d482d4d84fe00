"""RTL regression: requantizer bench (tb/engine/test_requant.py) on Icarus and Verilator.

All tests of one build live in this module (pytest-xdist `--dist loadfile` keeps them on one worker);
the build under build/sim/requant-<sim>-LANES8 is made once and reused (tb/sim.py).
Random vectors per M0 width (16 and 1; plus a fifth of that with mixed widths 1..31): 100,000 under
Verilator, 20,000 under Icarus (Icarus runs this 8-lane datapath ~100x slower); the slow sweep runs 1,000,000 on both.
"""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim
PARAMS = {"LANES": 8}
VECTORS = {"verilator": 100_000, "icarus": 20_000}


@pytest.mark.parametrize("simulator", sim.SIMS)
@pytest.mark.parametrize("case", ["test_corners", "test_random", "test_direct_handshake"])
def test_requant(simulator: str, case: str) -> None:
    sim.run("requant", simulator, "tb.engine.test_requant", testcase=case, parameters=PARAMS,
            extra_env={"REQUANT_VECTORS": str(VECTORS[simulator])})


@pytest.mark.parametrize("simulator", sim.SIMS)
def test_requant_uvm(simulator: str) -> None:
    """pyuvm environment (tb/engine/uvm/requant_env.py): scoreboard vs golden, coverage printed and required."""
    sim.run("requant", simulator, "tb.engine.test_requant_uvm", testcase="RequantUvmTest,RequantUvmRandomOnlyTest",
            parameters=PARAMS)


@pytest.mark.slow
@pytest.mark.parametrize("simulator", sim.SIMS)
def test_requant_sweep(simulator: str) -> None:
    sim.run("requant", simulator, "tb.engine.test_requant", testcase="test_random", parameters=PARAMS,
            extra_env={"REQUANT_VECTORS": "1000000"}, run_name="sweep")


@pytest.mark.slow
@pytest.mark.parametrize("simulator", sim.SIMS)
@pytest.mark.parametrize("lanes", [1, 3])
def test_requant_lanes(simulator: str, lanes: int) -> None:
    """Other lane counts (one lane; an odd count that pads the result word's ovf field)."""
    for case in ("test_corners", "test_random", "test_direct_handshake", "RequantUvmTest"):
        module = "tb.engine.test_requant_uvm" if case.startswith("Requant") else "tb.engine.test_requant"
        sim.run("requant", simulator, module, testcase=case, parameters={"LANES": lanes},
                extra_env={"REQUANT_VECTORS": "20000"})
