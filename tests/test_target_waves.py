"""Waves for a target, through the target API (issue 24 item 2): WAVES=auto puts a failing layer's
waveform in its failure bundle with a save file of the target's own signal groups and a marker at
the time its driver saw the first wrong element's output word written (the driver records its
memory's writes; tb/target_bench.py turns them into each output word's write cycle and time);
WAVES=1 gives the dump and a save file whose every signal is in it, on Icarus (FST) and Verilator.
pwfc's +PWFC_MUT_ZP fault (the zero point off by one) is the failing layer."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from tb import layer_sim
from tb.target import load_target
from tb.target_bench import NEVER, write_cycles
from tb.waves import VIEW_CYCLES, Dump, as_int, save_waves

TOP = "pwfc_tb"
PERIOD_PS = 10_000  # targets/pwfc/driver.py's clock


def _gtkw(path: Path) -> tuple[int | None, int | None, list[str], list[str]]:
    """(marker time, view start, group titles, traced signal names) of a save file (a group's title
    stands on the line that opens it and on the one that closes it)."""
    text = path.read_text()
    marker = re.search(r"^\*[-\d.]+ (\d+)", text, re.M)
    start = re.search(r"^\[timestart\] (\d+)", text, re.M)
    return (int(marker.group(1)) if marker else None, int(start.group(1)) if start else None,
            re.findall(r"^-(\S.*)$", text, re.M)[::2], [l for l in text.splitlines() if l.startswith(TOP + ".")])


@pytest.mark.sim
def test_a_failing_target_layer_opens_gtkwave_where_its_first_wrong_word_was_written(tmp_path: Path) -> None:
    groups = load_target("pwfc").signal_groups
    res = layer_sim.run(target="pwfc", model="mlp", sim="icarus", seed=0, layers=["fc2"], defines=("PWFC_MUT",),
                        plusargs=("+PWFC_MUT_ZP",), run_tag="-wv_zp", waves="auto")
    r = res[0]
    assert r["status"] == "FAIL" and r["mismatches"] > 0, r  # the verdict is the first run's
    bundle = Path(r["bundle"])
    dump = bundle / "fc2.fst"
    assert Path(r["waves"]).parent == bundle and dump.is_file(), r.get("waves")
    marker, start, titles, traces = _gtkw(Path(r["waves"]))
    # pwfc's groups in its order, every signal of the first one in the dump and in the save file
    assert titles == [t for t, _ in groups], titles
    present = Dump.signals(dump, TOP)
    assert all(f"{TOP}.{p}" in present for p, _ in groups[0][1]), [p for p, _ in groups[0][1] if f"{TOP}.{p}" not in present]
    assert len(traces) == sum(len(s) for _, s in groups) and all(t in {n for _, n in present.values()} for t in traces)
    # each output word's write cycle (the first run's file) and the "where" table's cycle column
    w0 = r["where"][0]
    wcycle = np.load(r["wcycle_file"])
    assert w0["written"] and w0["cycle"] == int(wcycle[w0["word"]]) and 0 < w0["cycle"] <= r["cycles"], (w0, r["cycles"])
    row = next(l for l in r["report"].splitlines() if l.lstrip().startswith(str((w0["c"], w0["y"], w0["x"]))))
    assert "written at cycle" in r["report"] and row.rstrip().endswith(f"{w0['cycle']:,}"), row
    # the marker: the time the driver saw that word written (the waves rerun's record) ...
    rerun = json.loads((Path(r["run_dir"] + "-waves") / "results.json").read_text())[0]
    unit = Dump.unit_ps(dump)
    assert unit == 1.0  # Icarus' FST: 1 ps (the builds' 1ns/1ps)
    assert marker is not None and marker * unit == int(np.load(rerun["write_ps_file"])[w0["word"]]), (marker, rerun)
    assert (marker * unit - rerun["start_ps"]) / rerun["period_ps"] == w0["cycle"]
    # ... and, read from the dump alone, an edge at which pwfc's AXI write channel took a beat of
    # that word, holding the wrong element in its lane
    d = Dump(dump, [f"{TOP}.m_axi_{n}" for n in ("awvalid", "awready", "awaddr", "wvalid", "wready", "wdata")], top=TOP)
    period = d.edges[1] - d.edges[0]
    assert period * unit == PERIOD_PS and marker in d.edges and start == marker - VIEW_CYCLES * period

    def fire(ch: str, t: int) -> bool:
        return d.at(f"{TOP}.m_axi_{ch}valid", t) == "1" and d.at(f"{TOP}.m_axi_{ch}ready", t) == "1"

    assert fire("w", marker)
    aw = max(t for t in d.edges if t <= marker and fire("aw", t))  # the burst's address; a word a W beat
    beats = sum(fire("w", t) for t in d.edges if aw <= t <= marker)
    mm = json.loads((Path(r["image_dir"]) / "memory_map.json").read_text())
    out_base = next(s["base_word"] for s in mm["segments"] if s["layer"] == "fc2" and s.get("role") == "output") * 4
    assert as_int(d.at(f"{TOP}.m_axi_awaddr", aw)) + 4 * (beats - 1) == out_base + 4 * w0["word"]
    assert (as_int(d.at(f"{TOP}.m_axi_wdata", marker)) >> 8 * w0["lane"]) & 0xFF == w0["got"] != w0["expected"]
    # a target with no signal groups: one group of the harness top's own signals, all in the dump
    gtkw = save_waves(bundle, ["fc2"], {}, dest=tmp_path, top=TOP, groups=())
    _, _, titles, traces = _gtkw(Path(gtkw))
    assert len(titles) == 1 and f"{TOP}.clk" in traces and f"{TOP}.m_axi_wdata[31:0]" in traces, traces
    assert all("." not in t[len(TOP) + 1:] for t in traces)


@pytest.mark.sim
def test_waves_1_on_verilator_gives_a_dump_and_a_save_file_of_its_signals() -> None:
    groups = load_target("pwfc").signal_groups
    res = layer_sim.run(target="pwfc", model="mlp", sim="verilator", seed=0, layers=["fc3"], run_tag="-wv1", waves=True)
    r = res[0]
    assert r["status"] == "PASS", r
    text = Path(r["waves"]).read_text()
    dump = Path(re.search(r'^\[dumpfile\] "(.*)"$', text, re.M).group(1))  # type: ignore[union-attr]
    assert dump.is_file() and dump.suffix in (".fst", ".vcd"), dump
    marker, _, titles, traces = _gtkw(Path(r["waves"]))
    assert marker is None and titles == [t for t, _ in groups]  # a PASS: no marker
    names = {n for _, n in Dump.signals(dump, TOP).values()}
    assert len(traces) == sum(len(s) for _, s in groups) and set(traces) <= names, sorted(set(traces) - names)
    d = Dump(dump, [], top=TOP)  # Verilator's dump unit, read from the dump, gives the driver's clock
    assert (d.edges[1] - d.edges[0]) * Dump.unit_ps(dump) == PERIOD_PS


def test_write_cycles_take_the_last_write_of_each_word() -> None:
    # 4 words at byte 0x100, 4-byte words, start at 1,000 ps, 100 ps a cycle
    writes = [(1_900, 0x104, 4), (1_500, 0x100, 8), (2_000, 0x0FC, 6), (3_000, 0x200, 4)]
    wcycle, wps = write_cycles(writes, 1_000, 100, 0x100, 4, 4)
    # word 0: 0x0FC..0x101 at 2,000 (a write across the segment's start); word 1: 1,900, after
    # the 8-byte write at 1,500; words 2 and 3 never (0x200 is outside)
    assert wcycle.tolist() == [10, 9, NEVER, NEVER] and wps.tolist() == [2_000, 1_900, -1, -1]


def test_the_time_unit_of_a_vcd_is_read_from_its_header(tmp_path: Path) -> None:
    for scale, ps in (("1ps", 1.0), ("10 ns", 10_000.0), ("1us", 1e6)):
        (tmp_path / "a.vcd").write_text(f"$timescale {scale} $end\n$scope module t $end\n$var wire 1 ! clk $end\n"
                                        "$upscope $end\n$enddefinitions $end\n#0\n0!\n")
        assert Dump.unit_ps(tmp_path / "a.vcd") == ps
    (tmp_path / "a.vcd").write_text("$scope module t $end\n$var wire 1 ! clk $end\n$upscope $end\n$enddefinitions $end\n")
    with pytest.raises(ValueError, match="no \\$timescale"):
        Dump.unit_ps(tmp_path / "a.vcd")
