"""RTL regression: the table unit (rtl/lut_lanes.sv, bench tb/engine/test_lut_lanes.py) against
golden.tf_arith.lookup: GELU tables (W = 8, golden.tf_arith.gelu_table) at 8 lanes (one entry a
write, and 8 a write as the vector unit writes them; 12 a write at 4 lanes) and softmax's
exp tables (W = 21, softmax_params) at 3 lanes on Icarus; GELU at 16 lanes on Verilator in the slow
suite (its build took 4 s without ccache; make test runs lut_lanes on Verilator inside the softmax
unit's bench, tests/test_rtl_softmax_unit.py, at W = 21 and 16 lanes)."""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim
CASES = [pytest.param("icarus", {"LANES": 8, "W": 8}, id="icarus-gelu8"),
         # the vector unit's GELU: a word of 8 codes a write; 12 a write leaves a last group past 255
         pytest.param("icarus", {"LANES": 8, "W": 8, "WR": 8}, id="icarus-gelu8-wr8"),
         pytest.param("icarus", {"LANES": 4, "W": 8, "WR": 12}, id="icarus-gelu4-wr12"),
         pytest.param("icarus", {"LANES": 3, "W": 21}, id="icarus-exp3"),
         pytest.param("verilator", {"LANES": 16, "W": 8}, id="verilator-gelu16", marks=pytest.mark.slow)]


@pytest.mark.parametrize("simulator, params", CASES)
def test_lut_lanes(simulator: str, params: dict[str, int]) -> None:
    sim.run("lut_lanes", simulator, "tb.engine.test_lut_lanes", parameters=params,
            run_name=f"lanes{params['LANES']}-w{params['W']}-wr{params.get('WR', 1)}")
