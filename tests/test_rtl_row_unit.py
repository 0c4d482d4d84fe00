"""RTL regression: the row unit (rtl/row_unit.sv: softmax and LayerNorm layers over token tensors in
external memory, a block of tokens staged at a time; bench tb/engine/test_row_unit.py, harness
tb/engine/hdl/row_unit_tb.sv) against golden.tf_arith on the external memory model, its cycles
against hexgen.cycles.row_unit_pushes: 8 and 4 lanes on Icarus (4: one exp table entry a word, the
table filling the staging buffer), 16 lanes with 5-word bursts on Verilator. Then each run-time
fault of the MUT_SELECT build once (Icarus, 8 lanes): the bench wants it to change the output. And a
block that overruns the buffers must stop the simulation with the unit's contract check."""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim
SIZES = {"rows8": {"ROWS": 8, "ADDR_W": 14, "MAX_BURST": 16}, "rows4": {"ROWS": 4, "ADDR_W": 14, "MAX_BURST": 16},
         "rows16": {"ROWS": 16, "ADDR_W": 14, "MAX_BURST": 5}}
CASES = [pytest.param("icarus", "rows8", id="icarus-rows8"), pytest.param("icarus", "rows4", id="icarus-rows4"),
         pytest.param("verilator", "rows16", id="verilator-rows16")]
FAULTS = ["MUT_ROW_LANE_SWAP", "MUT_SM_EXP", "MUT_SM_RECIP", "MUT_LN_RECIP"]


@pytest.mark.parametrize("simulator, size", CASES)
def test_row_unit(simulator: str, size: str) -> None:
    sim.run("row_unit", simulator, "tb.engine.test_row_unit", parameters=SIZES[size], plusargs=["+MEM_INIT=mem_init.hex"],
            run_name=size)


@pytest.mark.parametrize("fault", FAULTS)
def test_row_unit_fault_reached(fault: str) -> None:
    sim.run("row_unit", "icarus", "tb.engine.test_row_unit", parameters=SIZES["rows8"], defines=["MUT_SELECT"],
            plusargs=["+MEM_INIT=mem_init.hex", f"+{fault}"], extra_env={"ROW_FAULT": fault}, run_name=fault.lower())


#: the bench's ROW_CONTRACT cases (tb.engine.test_row_unit.CONTRACT) at 8 lanes, 16-word bursts, and
#: the values the unit's $error must name
CONTRACT = {"buffers": "nb = 16, W = 17, len = 136, is_ln = 0", "burst": "nb = 17, W = 1, len = 8, is_ln = 0",
            "empty": "nb = 0, W = 1, len = 8, is_ln = 0", "zero": "nb = 1, W = 0, len = 0, is_ln = 0", "words": "nb = 1, W = 2, len = 17, is_ln = 0",
            "tiles": "nb = 1, W = 65, len = 520, is_ln = 1"}


@pytest.mark.parametrize("case", CONTRACT)
def test_row_unit_contract_check(case: str, capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        sim.run("row_unit", "icarus", "tb.engine.test_row_unit", parameters=SIZES["rows8"],
                plusargs=["+MEM_INIT=mem_init.hex"], extra_env={"ROW_CONTRACT": case}, run_name=f"contract-{case}")
    out = capfd.readouterr().out
    assert f"block outside the contract: {CONTRACT[case]}" in out, out[-2000:]
