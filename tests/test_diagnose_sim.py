"""Real RTL faults, each caught and diagnosed as its own kind (tb.diagnose, issue 12 item 1).

One Icarus build with MUT_SELECT carries every fault; a plusarg (+MUT_<name>) switches one on
for a run (rtl/*.sv, `ifdef MUT_SELECT`); ADDR, ZP and ROUND run in make test, the other five in
make test-slow (make test's three minutes). Each run fails the layer, and the classifier's first
finding is the fault's kind, explaining (nearly) every wrong element. The faults that a Verilator
build must refuse (MUT_ZBIT, MUT_UNDRIVEN: X/Z) are compile-time variants in tests/test_faults_sim.py,
which checks their diagnosis (kind "xz") too.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tb import layer_sim

#: fault -> (layer, the kind the classifier must name first, what the fault is)
FAULTS = {
    "ADDR": ("conv1", "input_shift", "the activation address one word on (gather)"),
    "ZP": ("conv1", "offset_per_channel", "the zero point plus one reaches the MAC array (accel_top)"),
    "ROUND": ("conv1", "lsb", "the rounding constant one place too low (requant)"),
    "CLAMP": ("conv1", "clamp", "a value clamped up to lo comes out as lo + 1 (requant)"),
    "M0": ("conv1", "factor_per_channel", "M0 halved (requant)"),
    "LANE": ("conv1", "lane_swap", "lanes 0 and 1 of every output word exchanged (out_writer)"),
    "PE": ("conv1", "pe_row", "the MAC cell at row 1, column 2 adds nothing (mac_array)"),
    "BANK": ("conv1", "k_tile", "k_tile 1 computes from weight bank 0 (compute_issue)"),
}


#: the faults make test runs (the engine's original three); the others run in make test-slow
FAST = ("ADDR", "ZP", "ROUND")


@pytest.mark.parametrize("fault", [f if f in FAST else pytest.param(f, marks=pytest.mark.slow) for f in FAULTS])
def test_rtl_fault_is_caught_and_diagnosed_as_its_kind(fault: str) -> None:
    layer, kind, what = FAULTS[fault]
    res = layer_sim.run(layers=[layer], sim="icarus", model="mobilenetv2", seed=0, defines=("MUT_SELECT",),
                        plusargs=(f"+MUT_{fault}",), run_tag=f"-mut_{fault.lower()}")
    r = res[0]
    assert r["status"] == "FAIL" and r["mismatches"] > 0, (what, r.get("reason"))
    assert "rerun: " not in r["report"] and r["rerun"].startswith(f"make sim LAYER={layer}")
    found = r["diagnosis"]
    assert found and "diagnosis:" in r["report"], (what, r["report"])
    first = found[0]
    if kind == "pe_row":  # a cell is one row and one column: both confinements, nothing else first
        assert {f["kind"] for f in found[:2]} == {"pe_row", "pe_column"}, (what, r["report"])
        assert "row 1" in r["report"] and "column 2" in r["report"], r["report"]
    else:
        assert first["kind"] == kind, (what, r["report"])
    assert first["explained"] >= 0.95 * first["wrong"], (what, r["report"])
    if kind == "lsb":  # a rounding fault is not taken for a zero point or an M0
        assert not {"offset_per_channel", "factor_per_channel"} & {f["kind"] for f in found}, r["report"]
    # where: the first wrong elements with their tiles, cell, word and the cycle the port wrote it
    # (the bench's Verilog record), inside the layer's run; the requantizer stages of the first
    where = r["where"]
    assert where and all(w["written"] and 0 < w["cycle"] < r["cycles"] for w in where), (what, r["report"])
    assert "written at cycle" in r["report"] and "requantizer stages of" in r["report"], r["report"]
    if kind == "pe_row":
        assert all((w["pe_row"], w["pe_col"]) == (1, 2) for w in where), r["report"]
    if kind == "k_tile":
        assert all(w["k_tile"] == 1 for w in where), r["report"]


def test_a_tap_spacing_fault_reads_as_the_dilation_it_used(tmp_path: Path) -> None:
    """Issue 26: with +MUT_DIL the gather reads a dilated window's taps adjacent (rtl/gather.sv);
    the atrous layer fails and the diagnosis names the dilation the RTL computed, 1x1."""
    f = tmp_path / "atrous.py"  # small: Icarus runs the engine at about a thousand cycles a second
    f.write_text("import torch\nfrom torch import nn\n\ndef make():\n    torch.manual_seed(2)\n"
                 "    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=2, dilation=2), nn.ReLU()).eval(), torch.rand(4, 3, 12, 10)\n")
    r = layer_sim.run(layers=["conv1"], sim="icarus", model=f"{f}:make", seed=0, defines=("MUT_SELECT",),
                      plusargs=("+MUT_DIL",), run_tag="-mut_dil")[0]
    assert r["status"] == "FAIL" and r["mismatches"] > 0, r.get("reason")
    first = r["diagnosis"][0]
    assert first["kind"] == "dilation" and "dilation 1x1, the layer's is 2x2" in r["report"], r["report"]
    assert first["explained"] >= 0.95 * first["wrong"], r["report"]


def test_a_concat_input_one_lane_off_reads_as_a_channel_shift(tmp_path: Path) -> None:
    """Issue 26: with +MUT_CAT_LANE a concat run puts its input one lane too high (rtl/vec_unit.sv);
    the concat fails and the diagnosis names the channel shift of that input's channels."""
    f = tmp_path / "cat.py"  # 4 + 8 channels: the second input starts 4 lanes into a tile of 8
    f.write_text("import torch\nfrom torch import nn\n\nclass Cat(nn.Module):\n"
                 "    def __init__(self):\n        super().__init__()\n"
                 "        self.a = nn.Conv2d(3, 4, 1)\n        self.b = nn.Conv2d(3, 8, 1)\n        self.c = nn.Conv2d(12, 4, 1)\n"
                 "    def forward(self, x):\n        return self.c(torch.cat([self.a(x), self.b(x)], dim=1))\n\n"
                 "def make():\n    torch.manual_seed(3)\n    return Cat().eval(), torch.rand(4, 3, 6, 5)\n")
    r = layer_sim.run(layers=["concat1"], sim="icarus", model=f"{f}:make", seed=0, defines=("MUT_SELECT",),
                      plusargs=("+MUT_CAT_LANE",), run_tag="-mut_cat_lane")[0]
    assert r["status"] == "FAIL" and r["mismatches"] > 0, r.get("reason")
    first = r["diagnosis"][0]
    assert first["kind"] == "channel_shift", r["report"]
    # each of the input's channels lands one higher; channel 4 (its first) takes a lane of the kept word
    assert first["explained"] >= 0.8 * first["wrong"] and "channel c-1" in r["report"], r["report"]


def test_without_a_plusarg_the_fault_build_passes() -> None:
    """The MUT_SELECT build with no fault switched on is the engine: a layer passes on it (so each
    failure above is its fault's, not the build's)."""
    res = layer_sim.run(layers=["conv1", "add2"], sim="icarus", model="mobilenetv2", seed=0, defines=("MUT_SELECT",),
                        run_tag="-mut_none")
    assert [r["status"] for r in res] == ["PASS", "PASS"], layer_sim.table(res)


def test_a_failing_layer_leaves_a_bundle() -> None:
    """build/failures/<run>/<layer>/: report.md (diagnosis, where, rerun), expected / got / input
    / wcycle .npy and the layer's segment files; got.npy is what the RTL wrote (it differs from
    expected.npy where the report says)."""
    import json
    from pathlib import Path

    import numpy as np

    res = layer_sim.run(layers=["conv3"], sim="icarus", model="mobilenetv2", seed=0, defines=("MUT_SELECT",),
                        plusargs=("+MUT_ROUND",), run_tag="-mut_round-bundle")
    r = res[0]
    b = Path(r["bundle"])
    assert b.parts[-2:] == (Path(r["run_dir"]).name, "conv3") and b.parent.parent.name == "failures", b
    report = (b / "report.md").read_text()
    assert "diagnosis:" in report and "written at cycle" in report and r["rerun"] in report, report
    e, g = np.load(b / "expected.npy"), np.load(b / "got.npy")
    assert e.shape == g.shape and int((e != g).sum()) == r["mismatches"]
    mm = json.loads((Path(r["image_dir"]) / "memory_map.json").read_text())
    seg = {s["segment"]: s for s in mm["segments"] if s["layer"] == "conv3"}
    layer = next(l for l in mm["layers"] if l["name"] == "conv3")
    assert list(np.load(b / "input.npy").shape) == list(layer["descriptor"]["in_shape"])
    assert np.load(b / "wcycle.npy").size == seg["output"]["words"]
    png = (b / "heatmap.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000 and "heatmap.png" in report
    assert sorted(p.name for p in (b / "segments").iterdir()) == sorted(
        f"conv3.{s}.memh" for s in ("weights", "bias", "scale", "input", "expected", "output")), list((b / "segments").iterdir())
