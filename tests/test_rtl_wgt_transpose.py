"""RTL regression: the weight transposer (rtl/wgt_transpose.sv, bench tb/engine/test_wgt_transpose.py)
against hexgen's layouts of K (token layout in, fc weight order out, issue 28 item 2) at the three
array sizes of the presets: 8 rows of 64-bit words on Icarus, 16 rows of 128-bit words on
Verilator (both in make test), 4 rows of 32-bit words on Icarus in make test-slow."""
from __future__ import annotations

from pathlib import Path

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


def test_a_command_ending_inside_a_block_stops_the_unit(tmp_path: Path) -> None:
    """tb/engine/test_wgt_transpose.py::test_a_command_ending_inside_a_block ends a transposed weight
    command one word short of a block; the unit's checker must stop the run with its message (and
    a run it does not stop fails on its own)."""
    err = tmp_path / "sim_error.txt"
    with pytest.raises(RuntimeError):
        sim.run("wgt_transpose", "icarus", "tb.engine.test_wgt_transpose", parameters=SIZES["rows8"],
                testcase="test_a_command_ending_inside_a_block", run_name="partial",
                plusargs=[f"+SIM_ERROR_FILE={err}"], extra_env={"TR_FAULT": "partial"})
    assert err.exists(), "the run failed, but no checker stopped it"
    assert "protocol: a weight command ended inside a block of ROWS words" in err.read_text(), err.read_text()
