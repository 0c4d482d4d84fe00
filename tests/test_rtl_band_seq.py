"""RTL regression: the engine's band sequencer (rtl/band_seq.sv, bench tb/engine/test_band_seq.py) against
hexgen.rules.passes, on Icarus at two array sizes (8 rows with 64-bit words, 4 rows with 32-bit
words: other k_tile sizes move every channel-tile offset); on Verilator in the slow suite (the
banded layer runs of tests/test_layer_bands.py build the whole engine on both simulators)."""
from __future__ import annotations

import pytest

from tb import sim

pytestmark = pytest.mark.sim
ROWS = {"rows8": 8, "rows4": 4}


@pytest.mark.parametrize("size", list(ROWS))
def test_band_seq(size: str) -> None:
    sim.run("band_seq", "icarus", "tb.engine.test_band_seq", parameters={"REC_WPK": 8}, extra_env={"ROWS": str(ROWS[size])},
            run_name=size)


@pytest.mark.slow
def test_band_seq_on_verilator() -> None:
    sim.run("band_seq", "verilator", "tb.engine.test_band_seq", parameters={"REC_WPK": 8}, extra_env={"ROWS": "8"},
            run_name="rows8")
