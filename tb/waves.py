"""Waveforms of layer runs: the GTKWave save file, and reading a dump back.

- `save_waves`: the run's dump (Icarus: FST; Verilator: FST when the lz4 headers are installed,
  else VCD) copied to build/waves/<layer>.*, and a save file (written with pyvcd's GTKWSave)
  with the signals in groups. For a failing layer (`focus`) the group of the unit the diagnosis
  points at comes first, with the requantiser lane of the first wrong element (an add or a pool:
  the vector unit's group, and no requantiser lane), a marker sits on
  the clock edge at which the memory port wrote that element's word, and the view is zoomed
  around it. The top and the groups are parameters: our engine's (accel_tb, WAVE_GROUPS) or a
  target's (Target.bench.top, Target.signal_groups; a target without groups gets the harness
  top's own signals); a target's marker is the time its driver saw the word written (tb.failure).
- `Dump`: value changes of chosen signals from an FST (pylibfst) or VCD (vcdvcd) file, and the
  clock edges of the layer; the dump's signals and widths, and its time unit. tb.failure reads the
  RTL's own requantiser stages for the first wrong element from it (`rtl_requant_stages`).
- `record_widths`: what a layer bench (ours, a target's) calls in the simulator: the widths of
  the groups' signals, for the save file.
"""
from __future__ import annotations

import bisect
import math
import re
import shutil
from pathlib import Path
from collections.abc import Sequence
from typing import Any

#: GTKWave groups: (title, [(signal path under the bench top, display format)]).
WAVE_GROUPS = [
    ("control / status", [("u_accel.u_regs.state_q", "dec"), ("u_accel.busy_o", "bin"), ("u_accel.done_o", "bin"),
                          ("u_accel.error_o", "bin"), ("u_accel.u_regs.err_field_q", "dec"), ("u_accel.u_regs.cyc_q", "dec"),
                          ("wd_cnt_q", "dec")]),
    ("layer CSRs", [(f"u_accel.{n}", "dec") for n in ("kind", "in_c", "in_h", "in_w", "out_c", "out_h", "out_w", "kh",
                                                       "kw", "sy", "sx", "pad_top", "pad_bottom", "pad_left", "pad_right", "groups",
                                                       "z_in", "z_out", "lo", "hi")]
                   + [(f"u_accel.{n}", "hex") for n in ("w_base", "b_base", "s_base", "in_base", "out_base")]),
    ("reader / writer", [(f"u_accel.u_load.{n}", "dec") for n in ("seg_q", "kt_q", "y_q")]
                        + [(f"u_accel.{n}", "dec") for n in ("wloaded", "recs_kt", "act_rows", "cfin")]
                        + [("u_accel.u_drain.kt_q", "dec")]
                        + [(f"u_accel.u_writer.{n}", "dec") for n in ("of_cnt_q", "w_ahead_q")]),
    ("gather", [(f"u_accel.u_gather.{n}", "dec") for n in ("g_kt_q", "g_p0_q", "g_step_q", "g_j_q", "g_oy_q", "g_ox_q",
                                                           "g_set_q", "rd_q", "full_q")]),
    ("compute issue", [("u_accel.set_valid", "bin"), ("u_accel.set_kt", "dec"), ("u_accel.set_step", "dec"),
                       ("u_accel.u_compute.lane_q", "dec"), ("u_accel.set_pop", "bin")]),
    ("memory port", [("rreq_valid", "bin"), ("rreq_ready", "bin"), ("rreq_addr", "hex"), ("rreq_len", "dec"),
                     ("rd_valid", "bin"), ("rd_ready", "bin"), ("rd_data", "hex"),
                     ("wreq_valid", "bin"), ("wreq_ready", "bin"), ("wreq_addr", "hex"), ("wreq_len", "dec"),
                     ("wr_valid", "bin"), ("wr_ready", "bin"), ("wr_data", "hex"), ("u_mem.w_fire", "bin"),
                     ("u_mem.w_beat_addr", "hex")]),
    ("MAC array", [("u_accel.mac_in_valid", "bin"), ("u_accel.mac_in_ready", "bin"), ("u_accel.mac_first", "bin"),
                   ("u_accel.mac_last", "bin"), ("u_accel.mac_w", "hex"), ("u_accel.mac_a", "hex"),
                   ("u_accel.mac_out_valid", "bin"), ("u_accel.mac_out_acc", "hex"), ("u_accel.rq_out_valid", "bin"),
                   ("u_accel.rq_out_data", "hex")]),
    # add, max pool and average pool (rtl/vec_unit.sv): its state, the output pixel and window row it
    # is on, its read requests and the words it takes, and the words it gives the writer
    ("vector unit", [(f"u_accel.u_vec.{n}", "dec") for n in ("st_q", "c_q", "oy_q", "ox_q", "ky_q", "xoff_q",
                                                             "words_q", "len_q", "cnt_q", "div_q")]
                    + [("u_accel.u_vec.req_valid_o", "bin"), ("u_accel.u_vec.req_ready_i", "bin"),
                       ("u_accel.u_vec.req_addr_o", "hex"), ("u_accel.u_vec.req_len_o", "dec"),
                       ("u_accel.u_vec.rd_valid_i", "bin"), ("u_accel.u_vec.rd_ready_o", "bin"),
                       ("u_accel.u_vec.rd_data_i", "hex"), ("u_accel.u_vec.out_valid_o", "bin"),
                       ("u_accel.u_vec.out_ready_i", "bin"), ("u_accel.u_vec.out_data_o", "hex"),
                       ("u_accel.u_vec.done_o", "bin")]),
]
#: the title of the vector unit's group: on top for a layer the vector unit runs
VECTOR_GROUP = "vector unit"

RQ = "u_accel.u_drain.u_requant"
#: the requantiser's pipeline (rtl/requant.sv): beat handshakes and, per lane, its stage registers
RQ_CONTROL = [f"{RQ}.{n}" for n in ("in_valid_i", "in_ready_o", "en1", "en2", "en3", "en4", "v_q1", "v_q2", "v_q3", "v_q4")]
RQ_LANE = ("acc", "sum_q1", "m0_q1", "n_q1", "prod_q2", "shr_q3", "y_q4")


def requant_group(lane: int) -> tuple[str, list[tuple[str, str]]]:
    return (f"requantizer, lane {lane}", [(p, "bin") for p in RQ_CONTROL]
            + [(f"{RQ}.g_lane[{lane}].{n}", "signed" if n in ("acc", "sum_q1", "prod_q2", "shr_q3") else "dec") for n in RQ_LANE])


#: the unit a diagnosis kind points at: its group goes first in the save file
UNIT_OF_KIND = {
    "input_shift": "gather", "shift": "gather", "stale_pixel_tile": "gather", "equals_input": "gather", "pixel_tile": "gather",
    "lsb": "requantizer", "offset_per_channel": "requantizer", "factor_per_channel": "requantizer", "clamp": "requantizer",
    "lane_swap": "memory port", "word_range": "memory port", "never_written": "memory port", "xz": "memory port",
    "equals_previous": "memory port", "channel_shift": "reader / writer", "channel_permutation": "reader / writer",
    "pe_row": "MAC array", "pe_column": "MAC array", "k_tile": "compute issue", "stale_k_tile": "compute issue",
    "edge": "gather", "value_range": "MAC array",
}
#: a layer of the vector unit: its group on top, but for what the memory port shows
UNIT_OF_KIND_VECTOR = {"xz": "memory port", "never_written": "memory port", "word_range": "memory port"}
TOP = "accel_tb"
#: the zoomed view: this many clock cycles either side of the marker
VIEW_CYCLES = 24


def found_dump(rdir: Path) -> Path | None:
    found = sorted([*rdir.glob("*.vcd"), *rdir.glob("*.fst")], key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def save_waves(rdir: Path, layers: list[str], widths: dict[str, int], *, dest: Path,
               focus: dict[str, Any] | None = None, top: str | None = None,
               groups: Sequence[tuple[str, Sequence[tuple[str, str]]]] | None = None) -> str:
    """Copy the run's dump to dest/<tag>.fst|vcd and write dest/<tag>.gtkw beside it; the path of
    the save file, or "" when the run left no dump.

    top, groups: the harness top the signal paths are under and the signal groups (a target's
    Target.bench.top and Target.signal_groups); not given: our engine's accel_tb and WAVE_GROUPS.
    A target with no groups gets one group of the harness top's own signals, read from the dump.

    focus (a failing layer). Our engine's: "kind" (the diagnosis), "lane", "addr" and "cycle"
    (the output word and the cycle, from the start, the port wrote it); the marker is found in
    the dump from them. A target's ("time" in it): "time" and "period" (the marker, the clock
    period, in the dump's unit) and optionally "first" (the title of the group to put on top)."""
    from vcd.gtkw import GTKWSave

    src = found_dump(rdir)
    if src is None:
        return ""
    if top is None:
        top, groups = TOP, None
    dest.mkdir(parents=True, exist_ok=True)
    tag = layers[0] if len(layers) == 1 else "all"
    dump = dest / f"{tag}{src.suffix}"
    if src.resolve() != dump.resolve():
        shutil.copy2(src, dump)
    if top != TOP or focus and "time" in focus:  # a target: its groups, the marker where its driver saw the write
        return _save_generic(GTKWSave, dump, dest / f"{tag}.gtkw", top, groups or (), widths, focus)
    groups = list(WAVE_GROUPS if groups is None else groups)
    marker = None
    if focus and focus.get("vector"):  # add / pool: the vector unit, never the idle requantizer
        first = UNIT_OF_KIND_VECTOR.get(str(focus.get("kind", "")), VECTOR_GROUP)
    elif focus:
        groups.append(requant_group(int(focus.get("lane", 0))))
        first = UNIT_OF_KIND.get(str(focus.get("kind", "")), "")
        if first == "requantizer":
            first = groups[-1][0]
    if focus:
        groups.sort(key=lambda g: g[0] != first)  # stable: the unit's group on top, the rest in order
        if focus.get("addr") is not None and focus.get("cycle") is not None:
            marker = write_edge(Dump(dump, [f"{TOP}.wd_cnt_q", f"{TOP}.u_mem.w_fire", f"{TOP}.u_mem.w_beat_addr"]),
                                int(focus["addr"]), int(focus["cycle"]))
    gtkw = dest / f"{tag}.gtkw"
    with gtkw.open("w") as f:
        g = GTKWSave(f)
        g.dumpfile(str(dump))
        g.savefile(str(gtkw))
        if marker is not None:
            t, period = marker
            # GTKWave's zoom: log2 of pixels per time unit; about 1,000 pixels show 2 x VIEW_CYCLES cycles
            g.zoom_markers(math.log2(1000 / (2 * VIEW_CYCLES * period)), marker=t)
            g.timestart(max(0, t - VIEW_CYCLES * period))
        for title, sigs in groups:
            with g.group(title):
                for path, fmt in sigs:
                    w = int(widths.get(path, 0) or _lane_width(path))
                    if w:  # GTKWave names vectors with their range: state_q[3:0]
                        g.trace(f"{TOP}.{path}" + (f"[{w - 1}:0]" if w > 1 else ""), datafmt=fmt)
    return str(gtkw)


def _save_generic(GTKWSave: Any, dump: Path, gtkw: Path, top: str, groups: Sequence[tuple[str, Sequence[tuple[str, str]]]],
                  widths: dict[str, int], focus: dict[str, Any] | None) -> str:
    """A target's save file: its groups (none: one group of the harness top's own signals, from the
    dump), each signal under the name the dump gives it; a signal of a group the dump does not
    hold is left out and named in a comment line. The marker at focus["time"], the view around it."""
    present = Dump.signals(dump, top)
    if not groups:
        own = [(n[len(top) + 1:], "bin" if w == 1 else "hex") for n, (w, _) in present.items() if "." not in n[len(top) + 1:]]
        groups = [(f"{top} (the harness top's signals)", own)]
    groups = list(groups)
    if focus and focus.get("first"):
        groups.sort(key=lambda g: g[0] != focus["first"])  # stable: that group on top, the rest in order
    missing = [p for _, sigs in groups for p, _ in sigs if f"{top}.{p}" not in present]
    with gtkw.open("w") as f:
        g = GTKWSave(f)
        if missing:
            g.comment(f"not in the dump, left out: {', '.join(missing[:8])}" + (f" and {len(missing) - 8} more" if len(missing) > 8 else ""))
        g.dumpfile(str(dump))
        g.savefile(str(gtkw))
        if focus and focus.get("time") is not None:
            t, period = int(focus["time"]), max(1, int(focus.get("period") or 1))
            g.zoom_markers(math.log2(1000 / (2 * VIEW_CYCLES * period)), marker=t)
            g.timestart(max(0, t - VIEW_CYCLES * period))
        for title, sigs in groups:
            with g.group(title):
                for path, fmt in sigs:
                    found = present.get(f"{top}.{path}")
                    if found:
                        g.trace(found[1], datafmt=fmt)
    return str(gtkw)


def record_widths(dut: Any, paths: Sequence[str], dest: Path) -> dict[str, int]:
    """In the simulator (a layer bench, before its layers): the width of each signal of the save
    file's groups (a path under the harness top), 0 for one the simulator does not show (left out
    of the save file), written to dest (the run's wave_signals.json, read by tb.layer_sim)."""
    import json

    widths = {}
    for path in paths:
        h = dut
        try:
            for part in path.split("."):
                h = getattr(h, part)
            widths[path] = len(h)
        except (AttributeError, TypeError):
            widths[path] = 0  # not visible in this simulator: left out of the save file
    dest.write_text(json.dumps(widths))
    return widths


def _lane_width(path: str) -> int:
    """Widths of the requantiser's signals (rtl/requant.sv), which the bench does not look up."""
    name = path.rsplit(".", 1)[-1]
    return {"acc": 32, "sum_q1": 32, "m0_q1": 31, "n_q1": 6, "prod_q2": 64, "shr_q3": 64, "y_q4": 8}.get(name, 1 if path.startswith(RQ) else 0)


# ---- reading a dump --------------------------------------------------------------------------
_RANGE = re.compile(r"\s*\[\d+:\d+\]$")


def _canonical(name: str, top: str = TOP) -> str:
    """<top>.x.y whatever the dumper: no trailing [msb:lsb], no $rootio/TOP scope before the bench."""
    name = _RANGE.sub("", name)
    if name.startswith(top + "."):
        return name
    i = name.find("." + top + ".")  # a whole scope name: top "tb" is not the end of "pwfc_tb"
    return name[i + 1:] if i >= 0 else name


class Dump:
    """Value changes of the chosen signals (full names, <top>.<path>; our engine's top accel_tb
    unless told) and the clock's rising edges (<top>.<clock>), times in the dump's unit
    (`unit_ps`). Values are strings of 0/1/x/z bits."""

    def __init__(self, path: Path, names: list[str], *, top: str = TOP, clock: str = "clk") -> None:
        self.path = path
        self.top = top
        want = set(names) | {f"{top}.{clock}"}
        self.changes: dict[str, tuple[list[int], list[str]]] = {}
        (self._read_fst if path.suffix == ".fst" else self._read_vcd)(want)
        missing = [n for n in names if n not in self.changes]
        if missing:
            raise KeyError(f"{path}: no signal {', '.join(missing[:3])}")
        times, values = self.changes.get(f"{top}.{clock}", ([], []))
        self.edges = [t for t, v in zip(times, values) if v == "1"]

    @staticmethod
    def signals(path: Path, top: str = TOP) -> dict[str, tuple[int, str]]:
        """Every signal of the dump under `top`: its canonical name (<top>.x.y) -> (width, its name
        as GTKWave shows it: the dump's full name, its range without the space: x.y[3:0])."""
        out: dict[str, tuple[int, str]] = {}
        if path.suffix == ".fst":
            import pylibfst.helpers as h
            from pylibfst import ffi, lib

            fst = lib.fstReaderOpen(str(path).encode())
            if fst == ffi.NULL:
                raise OSError(f"{path}: not an FST file")
            try:
                for full, sig in h.get_scopes_signals2(fst)[1].by_name.items():
                    out.setdefault(_canonical(full, top), (int(sig.length), re.sub(r"\s+\[", "[", full)))
            finally:
                lib.fstReaderClose(fst)
        else:
            from vcdvcd import VCDVCD

            vcd = VCDVCD(str(path), only_sigs=True)
            for full in vcd.signals:
                out.setdefault(_canonical(full, top), (int(vcd.data[vcd.references_to_ids[full]].size), re.sub(r"\s+\[", "[", full)))
        return {n: w for n, w in out.items() if n.startswith(top + ".")}

    @staticmethod
    def unit_ps(path: Path) -> float:
        """Picoseconds per time unit of the dump (its timescale: FST's exponent, VCD's $timescale)."""
        if path.suffix == ".fst":
            from pylibfst import ffi, lib

            fst = lib.fstReaderOpen(str(path).encode())
            if fst == ffi.NULL:
                raise OSError(f"{path}: not an FST file")
            try:
                return 10.0 ** (int(lib.fstReaderGetTimescale(fst)) + 12)
            finally:
                lib.fstReaderClose(fst)
        with path.open(errors="replace") as f:
            head = ""
            for line in f:
                head += line
                if "$enddefinitions" in line or len(head) > 1 << 20:
                    break
        m = re.search(r"\$timescale\s+(\d+)\s*(s|ms|us|ns|ps|fs)\s+\$end", head)
        if m is None:  # Icarus and Verilator always write one
            raise ValueError(f"{path}: no $timescale in the VCD header")
        return int(m.group(1)) * {"s": 1e12, "ms": 1e9, "us": 1e6, "ns": 1e3, "ps": 1.0, "fs": 1e-3}[m.group(2)]

    def _add(self, name: str, t: int, v: str) -> None:
        ts, vs = self.changes.setdefault(name, ([], []))
        if ts and ts[-1] == t:
            vs[-1] = v
        else:
            ts.append(t)
            vs.append(v)

    def _read_fst(self, want: set[str]) -> None:
        import pylibfst.helpers as h
        from pylibfst import ffi, lib

        fst = lib.fstReaderOpen(str(self.path).encode())
        if fst == ffi.NULL:
            raise OSError(f"{self.path}: not an FST file")
        try:
            _, sigs = h.get_scopes_signals2(fst)
            handles: dict[int, list[str]] = {}
            for full, sig in sigs.by_name.items():
                name = _canonical(full, self.top)
                if name in want:
                    handles.setdefault(sig.handle, []).append(name)
            lib.fstReaderClrFacProcessMaskAll(fst)
            for hd in handles:
                lib.fstReaderSetFacProcessMask(fst, hd)

            def fixed(_user: Any, t: int, hd: int, val: Any) -> None:
                for n in handles[hd]:
                    self._add(n, t, ffi.string(val).decode())

            def varlen(_user: Any, t: int, hd: int, val: Any, ln: int) -> None:
                for n in handles[hd]:
                    self._add(n, t, bytes(ffi.buffer(val, ln)).decode())

            h.fstReaderIterBlocks2(fst, fixed, varlen)
        finally:
            lib.fstReaderClose(fst)

    def _read_vcd(self, want: set[str]) -> None:
        from vcdvcd import VCDVCD

        names = {full: _canonical(full, self.top) for full in VCDVCD(str(self.path), only_sigs=True).signals}
        chosen = [full for full, n in names.items() if n in want]
        vcd = VCDVCD(str(self.path), signals=chosen, store_tvs=True)
        for full in chosen:
            for t, v in vcd[full].tv:
                self._add(names[full], int(t), str(v))

    def at(self, name: str, t: int) -> str:
        """The value during the cycle that ends at edge time t (the last change before t)."""
        ts, vs = self.changes[name]
        i = bisect.bisect_left(ts, t) - 1
        return vs[i] if i >= 0 else "x"

    def after(self, name: str, t: int) -> str:
        """The value a register holds after the edge at time t."""
        ts, vs = self.changes[name]
        i = bisect.bisect_right(ts, t) - 1
        return vs[i] if i >= 0 else "x"


def as_int(bits: str, signed: bool = False) -> int | None:
    if not bits or any(c not in "01" for c in bits):
        return None
    v = int(bits, 2)
    return v - (1 << len(bits)) if signed and bits[0] == "1" and len(bits) > 1 else v


def write_edge(d: Dump, addr: int, cycle: int) -> tuple[int, int] | None:
    """(time, clock period) of the rising edge at which the memory port wrote word `addr` in the
    cycle `cycle` from the layer's start (the bench's wd_cnt_q), or None if the dump has none."""
    period = d.edges[1] - d.edges[0] if len(d.edges) > 1 else 1
    for t in d.edges:
        if as_int(d.at(f"{TOP}.wd_cnt_q", t)) == cycle and d.at(f"{TOP}.u_mem.w_fire", t) == "1" \
                and as_int(d.at(f"{TOP}.u_mem.w_beat_addr", t)) == addr:
            return t, period
    return None


def rtl_requant_stages(dump: Path, beat: int, lane: int, until: int) -> dict[str, int | None]:
    """The requantiser's own values for beat `beat` (counted from 0 at the layer's start; the
    drain's order) in lane `lane`: each stage register after the edge at which that beat loaded
    it (a stage loads a beat at an edge where it may load, enN, and the stage before holds one).
    `until`: the edge time of the port's write of the beat's word (the layer's start is the last
    edge before it at which the bench's cycle counter was 0)."""
    lanes = [f"{TOP}.{RQ}.g_lane[{lane}].{n}" for n in RQ_LANE]
    ctl = [f"{TOP}.{p}" for p in RQ_CONTROL]
    d = Dump(dump, [*lanes, *ctl, f"{TOP}.wd_cnt_q"])
    edges = [t for t in d.edges if t <= until]
    starts = [t for t in edges if as_int(d.after(f"{TOP}.wd_cnt_q", t)) == 0]
    t0 = starts[-1] if starts else (edges[0] if edges else 0)
    count = [0, 0, 0, 0]
    got: dict[str, int | None] = {}
    prev_valid = [f"{TOP}.{RQ}.in_valid_i", f"{TOP}.{RQ}.v_q1", f"{TOP}.{RQ}.v_q2", f"{TOP}.{RQ}.v_q3"]
    for t in edges:
        if t <= t0:
            continue
        for s in range(4):
            if d.at(f"{TOP}.{RQ}.en{s + 1}", t) == "1" and d.at(prev_valid[s], t) == "1":
                if count[s] == beat:
                    lane_sig = lambda n: f"{TOP}.{RQ}.g_lane[{lane}].{n}"  # noqa: E731
                    if s == 0:
                        got["acc"] = as_int(d.at(lane_sig("acc"), t), signed=True)
                        got["sum"] = as_int(d.after(lane_sig("sum_q1"), t), signed=True)
                        got["m0"] = as_int(d.after(lane_sig("m0_q1"), t))
                        got["n"] = as_int(d.after(lane_sig("n_q1"), t))
                    elif s == 1:
                        got["product"] = as_int(d.after(lane_sig("prod_q2"), t), signed=True)
                    elif s == 2:
                        got["shifted"] = as_int(d.after(lane_sig("shr_q3"), t), signed=True)
                    else:
                        got["out"] = as_int(d.after(lane_sig("y_q4"), t))
                count[s] += 1
        if "out" in got:
            break
    return got
