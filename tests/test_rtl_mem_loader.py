"""RTL regression: memory loader on the external memory model (tb/engine/test_mem_loader.py), both simulators."""
from __future__ import annotations

from pathlib import Path

import pytest

from tb import sim

pytestmark = pytest.mark.sim
PLUSARGS = ["+MEM_INIT=mem_init.hex", "+MEM_DUMP=mem_dump.hex"]


# Verilator in the slow suite: the memory-port units run on Verilator in every fast layer test of
# the engine (tests/test_engine.py), and make test's three minutes do not hold another build.
@pytest.mark.parametrize("simulator", [pytest.param(s, marks=pytest.mark.slow) if s == "verilator" else s for s in sim.SIMS])
@pytest.mark.parametrize("case", ["test_random_reads", "test_random_writes"])
def test_mem_loader(simulator: str, case: str) -> None:
    sim.run("mem_loader", simulator, "tb.engine.test_mem_loader", testcase=case, plusargs=PLUSARGS)


def test_a_read_word_nobody_asked_for_stops_the_loader(tmp_path: Path) -> None:
    """tb/engine/test_mem_loader.py::test_orphan_read_word offers a read word after a finished command;
    the loader's outstanding checker must stop the run with its message (and a run it does not
    stop fails on its own)."""
    err = tmp_path / "sim_error.txt"
    with pytest.raises(RuntimeError):
        sim.run("mem_loader", "icarus", "tb.engine.test_mem_loader", testcase="test_orphan_read_word",
                plusargs=[*PLUSARGS, f"+SIM_ERROR_FILE={err}"], extra_env={"MEM_FAULT": "orphan"})
    assert err.exists(), "the run failed, but no checker stopped it"
    assert "mem_loader_tb.u_loader.u_chk_outstanding: protocol: data offered with no requested word outstanding" \
        in err.read_text(), err.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("simulator", sim.SIMS)
@pytest.mark.parametrize("params", [{}, {"DATA_W": 64, "MAX_BURST": 1, "MAX_OUTSTANDING": 1},
                                    {"DATA_W": 16, "MAX_BURST": 255, "MAX_OUTSTANDING": 2},
                                    {"LEN_W": 4, "MAX_BURST": 16, "MAX_OUTSTANDING": 4}],
                         ids=["default", "w64-single-word", "w16-burst255", "len4-burst16"])
def test_mem_loader_sweep(simulator: str, params: dict) -> None:
    sim.run("mem_loader", simulator, "tb.engine.test_mem_loader", plusargs=PLUSARGS, parameters=params,
            extra_env={"MEM_COMMANDS": "60", "MEM_MAX_BURST": str(params.get("MAX_BURST", 8))}, run_name="sweep")
