"""RTL regression: MAC array bench (tb/engine/test_mac_array.py) on Icarus and Verilator.

make test uses one non-square array (4 rows x 6 columns, so a row/column mix-up cannot pass);
the slow sweep adds 1x1 and 8x8 builds and more problems.
"""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim
PARAMS = {"ROWS": 4, "COLS": 6}


@pytest.mark.parametrize("simulator", sim.SIMS)
@pytest.mark.parametrize("case", ["test_random_matrices", "test_per_cell_activations", "test_extremes_and_throughput"])
def test_mac_array(simulator: str, case: str) -> None:
    sim.run("mac_array", simulator, "tb.engine.test_mac_array", testcase=case, parameters=PARAMS)


@pytest.mark.parametrize("simulator", sim.SIMS)
def test_mac_array_uvm(simulator: str) -> None:
    """pyuvm environment (tb/engine/uvm/mac_env.py): scoreboard vs golden, coverage printed and required."""
    sim.run("mac_array", simulator, "tb.engine.test_mac_array_uvm", testcase="MacUvmTest", parameters=PARAMS,
            extra_env={"UVM_ITEMS": "24"})


@pytest.mark.slow
@pytest.mark.parametrize("simulator", sim.SIMS)
@pytest.mark.parametrize("rows,cols", [(1, 1), (8, 8), (4, 6)])
def test_mac_array_sweep(simulator: str, rows: int, cols: int) -> None:
    sim.run("mac_array", simulator, "tb.engine.test_mac_array", parameters={"ROWS": rows, "COLS": cols},
            extra_env={"MAC_PROBLEMS": "300"}, run_name="sweep")
