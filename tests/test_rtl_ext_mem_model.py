"""RTL regression: the benches' external memory model (rtl/ext_mem_model.sv, bench
tb/engine/test_ext_mem_model.py): its latency, ordering, contents, stall rate and stall sequence,
backpressure, and its image file, measured on Icarus."""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim

PARAMETERS = {"ADDR_W": 16, "DATA_W": 32}


def test_ext_mem_model() -> None:
    # reset takes seed 0 (runs as 1) and stall rate 100 from the plusargs; every test but
    # test_reset_seed loads its own at run time
    sim.run("ext_mem_model", "icarus", "tb.engine.test_ext_mem_model", parameters=PARAMETERS,
            plusargs=["+MEM_INIT=mem_init.hex", "+MEM_DUMP=mem_dump.hex", "+MEM_STALL=100", "+MEM_SEED=0"])


def test_ext_mem_model_reset_seed() -> None:
    """A seed other than 0 and 1 at reset (the main run's is 0)."""
    sim.run("ext_mem_model", "icarus", "tb.engine.test_ext_mem_model", testcase="test_reset_seed", run_name="seed",
            parameters=PARAMETERS, plusargs=["+MEM_STALL=200", "+MEM_SEED=2654435769"])
