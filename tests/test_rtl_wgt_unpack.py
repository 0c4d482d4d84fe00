"""RTL regression: the weight unpacker (rtl/wgt_unpack.sv, bench tb/engine/test_wgt_unpack.py) against
hexgen.layout's packing at two array sizes and four builds: every width (8 rows), 8- and 4-bit only
(4 rows, 32-bit words; 2-bit must give zeros), 4- and 2-bit only (8-bit must give zeros: make mutate
found a build without it untested) and 16 rows of 128-bit words on Verilator."""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim
SIZES = {
    "rows8": {"ROWS": 8, "WORD_BITS": 64, "WGT_WIDTHS": (1 << 8) | (1 << 4) | (1 << 2)},
    "rows4-w84": {"ROWS": 4, "WORD_BITS": 32, "WGT_WIDTHS": (1 << 8) | (1 << 4)},
    "rows8-w42": {"ROWS": 8, "WORD_BITS": 64, "WGT_WIDTHS": (1 << 4) | (1 << 2)},
    "rows16": {"ROWS": 16, "WORD_BITS": 128, "WGT_WIDTHS": (1 << 8) | (1 << 4) | (1 << 2)},
}
CASES = [pytest.param("icarus", "rows8", id="icarus-rows8"), pytest.param("icarus", "rows4-w84", id="icarus-rows4-w84"),
         pytest.param("icarus", "rows8-w42", id="icarus-rows8-w42"),
         pytest.param("verilator", "rows16", id="verilator-rows16", marks=pytest.mark.slow)]


@pytest.mark.parametrize("simulator, size", CASES)
def test_wgt_unpack(simulator: str, size: str) -> None:
    sim.run("wgt_unpack", simulator, "tb.engine.test_wgt_unpack", parameters=SIZES[size], run_name=size)
