"""Waveforms of layer runs, for every target: the GTKWave save file, and reading a dump back.

- `save_waves`: the run's dump (Icarus: FST; Verilator: FST when the lz4 headers are installed,
  else VCD) copied to build/waves/<layer>.*, and a save file (written with pyvcd's GTKWSave)
  with the target's signal groups (Target.signal_groups; none: the harness top's own signals).
  For a failing layer a marker sits at the time the first wrong element's word was written (its
  driver saw it: tb.failure) and the view is zoomed around it. Our engine's save files (the
  unit the diagnosis points at on top, the requantizer lane, the marker found from the bench's
  own counters) are tb/engine/waves.py's.
- `Dump`: value changes of chosen signals from an FST (pylibfst) or VCD (vcdvcd) file, and the
  clock edges of the layer; the dump's signals and widths, and its time unit.
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

#: the zoomed view: this many clock cycles either side of the marker
VIEW_CYCLES = 24


def found_dump(rdir: Path) -> Path | None:
    found = sorted([*rdir.glob("*.vcd"), *rdir.glob("*.fst")], key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def save_waves(rdir: Path, layers: list[str], widths: dict[str, int], *, dest: Path, top: str,
               groups: Sequence[tuple[str, Sequence[tuple[str, str]]]], focus: dict[str, Any] | None = None) -> str:
    """Copy the run's dump to dest/<tag>.fst|vcd and write dest/<tag>.gtkw beside it; the path of
    the save file, or "" when the run left no dump.

    top, groups: the harness top the signal paths are under and the signal groups
    (Target.bench.top and Target.signal_groups). A target with no groups gets one group of the
    harness top's own signals, read from the dump. (Our engine's save files, with the unit the
    diagnosis points at on top and its requantizer lane, are tb/engine/waves.py's.)

    focus (a failing layer): "time" and "period" (the marker, the clock period, in the dump's unit)
    and optionally "first" (the title of the group to put on top)."""
    from vcd.gtkw import GTKWSave

    copied = copy_dump(rdir, layers, dest)
    if copied is None:
        return ""
    dump, gtkw = copied
    return _save_generic(GTKWSave, dump, gtkw, top, groups or (), widths, focus)


def copy_dump(rdir: Path, layers: list[str], dest: Path) -> tuple[Path, Path] | None:
    """The run's dump copied to dest/<tag>.fst|vcd (tag: the layer, or "all"), and the path its save
    file gets beside it; None when the run left no dump."""
    src = found_dump(rdir)
    if src is None:
        return None
    dest.mkdir(parents=True, exist_ok=True)
    tag = layers[0] if len(layers) == 1 else "all"
    dump = dest / f"{tag}{src.suffix}"
    if src.resolve() != dump.resolve():
        shutil.copy2(src, dump)
    return dump, dest / f"{tag}.gtkw"


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


# ---- reading a dump --------------------------------------------------------------------------
_RANGE = re.compile(r"\s*\[\d+:\d+\]$")


def _canonical(name: str, top: str) -> str:
    """<top>.x.y whatever the dumper: no trailing [msb:lsb], no $rootio/TOP scope before the bench."""
    name = _RANGE.sub("", name)
    if name.startswith(top + "."):
        return name
    i = name.find("." + top + ".")  # a whole scope name: top "tb" is not the end of "pwfc_tb"
    return name[i + 1:] if i >= 0 else name


class Dump:
    """Value changes of the chosen signals (full names, <top>.<path>, top the harness's) and the clock's rising edges (<top>.<clock>), times in the dump's unit
    (`unit_ps`). Values are strings of 0/1/x/z bits."""

    def __init__(self, path: Path, names: list[str], *, top: str, clock: str = "clk") -> None:
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
    def signals(path: Path, top: str) -> dict[str, tuple[int, str]]:
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
