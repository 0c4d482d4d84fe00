"""`make resources` (tb/engine/resources.py) on a small build of accel_top: every unit is there, the
multipliers and memory bits are the design's, and refused parameters are one line and exit 2.

Runs Yosys (Debian's `yosys`, installed by scripts/bootstrap.sh), no simulator; marker `sim` like
the other tests that need an EDA tool. The synthesis (~7 s) runs in make test-slow; the refused
parameters (no synthesis) in make test.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tb.sim import ROOT

pytestmark = [
    pytest.mark.sim,
    pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys is not installed "
                       "(apt-get install -y yosys; scripts/bootstrap.sh does it as root)"),
]

#: A small build (~4 s, not the ~10 s of today's sizes): ROWS stays 8 (today's RTL refuses any
#: other), the array is 8 x 2 (not square), the buffers are small powers of two, each of more than
#: 64 words (tb.engine.resources.SMALL_MEM_WORDS: smaller arrays are not counted as block-RAM memory).
SMALL = {"COLS": 2, "ACT_WORDS": 256, "WGT_WORDS": 128, "REC_WORDS": 128}
UNITS = ("accel_top", "mac_array", "requant", "mem_loader", "burst_reader", "row_unit", "softmax_unit", "layernorm_unit")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tb.engine.resources", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    """One synthesis: the printed table and the same figures as JSON (--json FILE)."""
    out = tmp_path_factory.mktemp("resources") / "small.json"
    r = run(*(f"--param={k}={v}" for k, v in SMALL.items()), "--json", str(out))
    assert r.returncode == 0, r.stderr
    return r.stdout, json.loads(out.read_text())


@pytest.fixture(scope="module")
def small(small_run: tuple[str, dict]) -> dict:
    return small_run[1]


@pytest.mark.slow
def test_every_unit_has_cells(small: dict) -> None:
    units = small["units"]
    assert set(UNITS) <= set(units), f"units in the table: {sorted(units)}"
    assert "ext_mem_model" not in units  # a testbench model, not hardware
    for name in UNITS:
        assert units[name]["instances"] >= 1 and units[name]["cells"] > 0, (name, units[name])
    assert small["total"]["cells"] == sum(u["cells"] for u in units.values())
    assert small["total"]["ff_bits"] > 0


@pytest.mark.slow
def test_parameters_are_the_bench_build_with_overrides(small: dict) -> None:
    from tb.engine.accel_build import ADDR_W

    p = small["parameters"]
    assert {k: p[k] for k in SMALL} == SMALL
    assert p["ADDR_W"] == ADDR_W
    assert p["WORD_BITS"] == p["ROWS"] * 8


@pytest.mark.slow
def test_mac_array_has_one_multiplier_per_cell(small: dict) -> None:
    p = small["parameters"]
    mac = small["units"]["mac_array"]
    assert mac["mults"] == p["ROWS"] * p["COLS"]  # every cell (r, c) multiplies once per beat
    assert mac["dsp48"] == p["ROWS"] * p["COLS"]  # 9 x 8 bits: one DSP48 each


@pytest.mark.slow
def test_accel_top_memory_bits_are_its_buffers(small: dict) -> None:
    p = small["parameters"]
    # the units' buffers, all of WORD_BITS words: act_buf [ACT_WORDS] (gather.sv), wgt_buf
    # [2 * WGT_WORDS] (compute_issue.sv), bias_buf and scale_buf [REC_WORDS] (drain_requant.sv);
    # the vector unit's GELU table, 256 codes of 8 bits (lut_lanes.sv's table_q); the row unit's
    # staging buffers ib_q and ob_q [ROW_WORDS] (row_unit.sv) and the softmax unit's exp table, 256
    # entries of 21 bits (its lut_lanes' table_q). Counted over accel_top and the units under it;
    # every other array is of 64 words or fewer (the row unit's LN_TILES = 64 record entries among them).
    expect = (p["ACT_WORDS"] * p["WORD_BITS"] + 2 * p["WGT_WORDS"] * p["WORD_BITS"]
              + 2 * p["REC_WORDS"] * p["WORD_BITS"] + 256 * 8 + 2 * p["ROW_WORDS"] * p["WORD_BITS"] + 256 * 21)
    memories = [m for u in small["units"].values() for m in u["memories"]]
    assert small["total"]["mem_bits"] == expect, memories
    assert sorted(m["name"] for m in memories) == ["act_buf", "bias_buf", "ib_q", "ob_q", "scale_buf", "table_q", "table_q",
                                                   "wgt_buf"]
    # 256 x 64, 256 (2 x 128) x 64, 128 x 64 twice, ib_q and ob_q 256 x 64: two 512 x 36 blocks
    # each (BRAM18 rule); the tables 256 x 8 and 256 x 21: one each
    assert small["total"]["bram18"] == 2 + 2 + 2 + 2 + 2 + 2 + 1 + 1


@pytest.mark.slow
def test_the_row_units_are_in_accel_top(small: dict) -> None:
    """The row unit and its softmax and LayerNorm units (issue 28) are accel_top's: one e x R
    multiplier a lane in softmax (21 x 33 bits), at least three a lane in LayerNorm."""
    rows = small["parameters"]["ROWS"]
    units = small["units"]
    assert all(units[u]["instances"] == 1 and units[u]["cells"] > 0 for u in ("row_unit", "softmax_unit", "layernorm_unit")), units
    assert units["softmax_unit"]["mults"] == rows and units["layernorm_unit"]["mults"] >= 3 * rows, units


@pytest.mark.slow
def test_table_names_every_unit(small_run: tuple[str, dict]) -> None:
    table, data = small_run
    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines() if line.strip()}
    assert set(UNITS) | {"total"} <= set(rows), table
    assert rows["mac_array"][-2] == str(data["units"]["mac_array"]["mults"])  # the mults column


@pytest.mark.parametrize("args", [("--param", "ROWS=4"), ("--param", "WGT_WORDS=3"), ("--param", "NOPE=1"),
                                  ("--param", "REC_WORDS=4"), ("--hw", "nope")])
def test_refused_parameters_are_one_line(args: tuple[str, str]) -> None:
    r = run(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("resources: error: "), r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    if args[1] == "ROWS=4":  # the RTL's own check, with its values
        assert "WORD_BITS = 64 must be ROWS * 8 = 32" in lines[0]
    if args[1] == "WGT_WORDS=3":  # only the check that fired, not the others of the initial block
        assert "WGT_WORDS = 3 must be a power of two" in lines[0] and "ACT_WORDS = " not in lines[0]
    if args[1] == "REC_WORDS=4":  # a k_tile's records (8 words) do not fit
        assert "REC_WORDS = 4 hold one k_tile's records" in lines[0], lines[0]
