"""RTL regression: the benches' external memory model (rtl/ext_mem_model.sv, bench
tb/test_ext_mem_model.py): its latency, ordering, contents and stall rate measured on Icarus."""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim


def test_ext_mem_model() -> None:
    sim.run("ext_mem_model", "icarus", "tb.test_ext_mem_model", parameters={"ADDR_W": 16, "DATA_W": 32})
