"""GTKWave at the right place (issue 12 items 2-4): a failing layer's waveform, in its failure
bundle with a save file whose marker sits on the clock edge at which the memory port wrote the
first wrong element's word, the unit the diagnosis points at on top, and the RTL's own
requantiser stages read back from the waveform, naming the first stage that differs from
golden's. Real RTL faults of the MUT_SELECT Icarus build (tests/test_diagnose_sim.py)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tb import layer_sim
from tb.engine.waves import TOP
from tb.waves import VIEW_CYCLES, Dump, as_int

pytestmark = pytest.mark.sim

#: fault -> (the first group of the save file, the first requantiser stage that differs)
FAULTS = {
    "ROUND": ("requantizer, lane", "+ 2^(n-1), >> n"),    # the rounding constant one place too low
    "M0": ("requantizer, lane", "M0"),                    # M0 halved on its way into the requantiser
    "ADDR": ("gather", "accumulator (MAC sum)"),          # the activation address one word on
}


def _gtkw(path: str) -> tuple[int, int, list[str]]:
    """(marker time, view start, group titles) of a save file."""
    text = Path(path).read_text()
    marker = int(re.search(r"^\*[-\d.]+ (\d+)", text, re.M).group(1))  # type: ignore[union-attr]
    start = int(re.search(r"^\[timestart\] (\d+)", text, re.M).group(1))  # type: ignore[union-attr]
    return marker, start, re.findall(r"^-(\S.*)$", text, re.M)


@pytest.mark.parametrize("fault", [f if f == "ROUND" else pytest.param(f, marks=pytest.mark.slow) for f in FAULTS])
def test_a_failing_layer_opens_gtkwave_at_its_first_wrong_element(fault: str) -> None:
    """ROUND in make test (WAVES=auto: the normal run, then the layer alone with waves); M0 and
    ADDR (WAVES=1) in make test-slow (make test's three minutes)."""
    group, stage = FAULTS[fault]
    waves = "auto" if fault == "ROUND" else True  # auto: a normal run, then the failing layer alone with waves
    res = layer_sim.run(layers=["conv3"], sim="icarus", model="mobilenetv2", seed=0, defines=("MUT_SELECT",),
                        plusargs=(f"+MUT_{fault}",), run_tag=f"-wv_{fault.lower()}", waves=waves)
    r = res[0]
    assert r["status"] == "FAIL" and r["mismatches"] > 0, r
    bundle = Path(r["bundle"])
    assert Path(r["waves"]).parent == bundle and (bundle / "conv3.fst").is_file() and (bundle / "conv3.gtkw").is_file()
    marker, start, groups = _gtkw(r["waves"])
    assert groups[0].startswith(group), groups
    # the marker is the edge at which the port wrote the first wrong element's word, in this dump
    w0 = r["where"][0]
    d = Dump(bundle / "conv3.fst", [f"{TOP}.u_mem.w_fire", f"{TOP}.u_mem.w_beat_addr", f"{TOP}.wd_cnt_q"], top=TOP)
    out_base = next(s["base_word"] for s in json.loads((Path(r["image_dir"]) / "memory_map.json").read_text())["segments"]
                    if s["layer"] == "conv3" and s["segment"] == "output") - r["mem_offset"]  # where the bench loaded it
    assert marker in d.edges and d.at(f"{TOP}.u_mem.w_fire", marker) == "1"
    assert as_int(d.at(f"{TOP}.u_mem.w_beat_addr", marker)) == out_base + w0["word"]
    assert as_int(d.at(f"{TOP}.wd_cnt_q", marker)) == w0["cycle"]
    period = d.edges[1] - d.edges[0]
    assert start == marker - VIEW_CYCLES * period
    # the RTL's own requantiser registers, read back from the waveform, name the stage
    assert "the RTL's own registers (from the waveform)" in r["report"], r["report"]
    assert f"first stage that differs: {stage}" in r["report"], r["report"]
    if waves == "auto":
        assert "-wv_round-waves" in r["waves"]  # the failing layer's own rerun with waves


@pytest.mark.slow
def test_gtkwave_opens_the_save_file_at_the_marker() -> None:
    """GTKWave itself, headless (xvfb): every signal of the save file resolves in the dump, the
    marker and the view are where the save file says (make test-slow; bootstrap installs gtkwave)."""
    assert shutil.which("gtkwave") and shutil.which("xvfb-run"), "gtkwave and xvfb-run are needed (scripts/bootstrap.sh)"
    res = layer_sim.run(layers=["conv3"], sim="icarus", model="mobilenetv2", seed=0, defines=("MUT_SELECT",),
                        plusargs=("+MUT_ROUND",), run_tag="-wv_gtkwave", waves=True)
    gtkw = res[0]["waves"]
    marker, start, _ = _gtkw(gtkw)
    traces = [l for l in Path(gtkw).read_text().splitlines() if l.startswith(TOP + ".")]
    script = Path(gtkw).with_suffix(".tcl")
    script.write_text('set s [gtkwave::getDisplayedSignals]\nputs "DISPLAYED [llength $s]"\n'
                      'puts "MARKER [gtkwave::getMarker]"\nputs "START [gtkwave::getWindowStartTime]"\ngtkwave::/File/Quit\n')
    out = subprocess.run(["xvfb-run", "-a", "gtkwave", "-S", str(script), gtkw], capture_output=True, text=True, timeout=120).stdout
    assert f"DISPLAYED {len(traces)}" in out and f"MARKER {marker}" in out and f"START {start}" in out, out


@pytest.mark.slow
def test_waves_auto_in_the_environment_does_not_reach_cocotb(monkeypatch: pytest.MonkeyPatch) -> None:
    """make sim WAVES=auto exports WAVES=auto; cocotb's runner reads $WAVES and refuses `auto`."""
    monkeypatch.setenv("WAVES", "auto")
    res = layer_sim.run(layers=["conv3"], sim="icarus", model="mobilenetv2", seed=0, waves="auto", run_tag="-wv_env")
    assert res[0]["status"] == "PASS" and not res[0].get("waves"), res[0]
    assert layer_sim.os.environ["WAVES"] == "auto"  # restored for whoever set it
