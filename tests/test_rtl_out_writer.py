"""RTL regression: the engine's output writer (rtl/out_writer.sv, bench tb/engine/test_out_writer.py) on
both simulators: 64-bit words with 16-word bursts, and 32-bit words with 4-word bursts (the FIFO
then holds 8 words, so a region's bursts wait on it)."""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim
SIZES = {"w64": {"ADDR_W": 18, "WORD_BITS": 64, "MAX_BURST": 16}, "w32": {"ADDR_W": 16, "WORD_BITS": 32, "MAX_BURST": 4}}
CASES = [("icarus", "w64"), ("icarus", "w32"), ("verilator", "w64")]


# Verilator in the slow suite: the memory-port units run on Verilator in every fast layer test of
# the engine (tests/test_engine.py), and make test's three minutes do not hold another build.
@pytest.mark.parametrize("simulator, size", [pytest.param(s, z, marks=pytest.mark.slow) if s == "verilator" else (s, z)
                                             for s, z in CASES], ids=[f"{s}-{z}" for s, z in CASES])
def test_out_writer(simulator: str, size: str) -> None:
    sim.run("out_writer", simulator, "tb.engine.test_out_writer", parameters=SIZES[size], run_name=size)
