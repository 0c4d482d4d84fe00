"""RTL regression: the weight transposer (rtl/wgt_transpose.sv, bench tb/engine/test_wgt_transpose.py)
against hexgen's layouts of K (token layout in, fc weight order out, issue 28 item 2) at the three
array sizes of the presets: 8 rows of 64-bit words on Icarus, 16 rows of 128-bit words on
Verilator (both in make test), 4 rows of 32-bit words on Icarus in make test-slow."""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim
SIZES = {"rows8": {"ROWS": 8, "WORD_BITS": 64}, "rows16": {"ROWS": 16, "WORD_BITS": 128},
         "rows4": {"ROWS": 4, "WORD_BITS": 32}}
CASES = [pytest.param("icarus", "rows8", id="icarus-rows8"), pytest.param("verilator", "rows16", id="verilator-rows16"),
         pytest.param("icarus", "rows4", id="icarus-rows4", marks=pytest.mark.slow)]


@pytest.mark.parametrize("simulator, size", CASES)
def test_wgt_transpose(simulator: str, size: str) -> None:
    sim.run("wgt_transpose", simulator, "tb.engine.test_wgt_transpose", parameters=SIZES[size], run_name=size)
