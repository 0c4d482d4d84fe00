"""RTL regression: the LayerNorm unit (rtl/layernorm_unit.sv, bench tb/engine/test_layernorm_unit.py)
against golden.tf_arith.layernorm, rows of C = 2 .. 2580 with random stalls on both streams and
cycle-exact timing (hexgen.cycles.layernorm_cycles): 8 lanes on Icarus (about 4 s); 16 lanes on
Verilator (about 2.5 s from a clean build with Verilator's runtime objects cached, as make test has
them; 7.6 s the first time, when they are compiled)."""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim
CASES = [pytest.param("icarus", 8, id="icarus-8"), pytest.param("verilator", 16, id="verilator-16")]


@pytest.mark.parametrize("simulator, lanes", CASES)
def test_layernorm_unit(simulator: str, lanes: int) -> None:
    sim.run("layernorm_unit", simulator, "tb.engine.test_layernorm_unit", parameters={"LANES": lanes},
            run_name=f"lanes{lanes}")
