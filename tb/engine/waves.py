"""Our engine's waveforms (tb/waves.py has what every target shares): its signal groups, the save
file of a failing layer with the group of the unit the diagnosis points at on top and the
requantizer lane of the first wrong element (an add or a pool: the vector unit's group, and no
requantizer lane), the marker on the clock edge at which the bench's memory port wrote that
element's word (found from the bench's own cycle counter), and the RTL's own requantizer stages
for that element read back from the dump (tb.failure prints them beside golden's).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tb.waves import VIEW_CYCLES, Dump, as_int, copy_dump

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


def save_engine_waves(rdir: Path, layers: list[str], widths: dict[str, int], *, dest: Path,
                      focus: dict[str, Any] | None = None) -> str:
    """tb.waves.save_waves for our engine: the dump copied to dest/<tag>.fst|vcd and dest/<tag>.gtkw
    beside it; "" when the run left no dump. focus (a failing layer): "kind" (the diagnosis),
    "vector", "lane", "addr" and "cycle" (the output word and the cycle, from the start, the port
    wrote it); the marker is found in the dump from them."""
    from vcd.gtkw import GTKWSave

    copied = copy_dump(rdir, layers, dest)
    if copied is None:
        return ""
    dump, gtkw = copied
    groups = list(WAVE_GROUPS)
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
            marker = write_edge(Dump(dump, [f"{TOP}.wd_cnt_q", f"{TOP}.u_mem.w_fire", f"{TOP}.u_mem.w_beat_addr"], top=TOP),
                                int(focus["addr"]), int(focus["cycle"]))
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


def _lane_width(path: str) -> int:
    """Widths of the requantiser's signals (rtl/requant.sv), which the bench does not look up."""
    name = path.rsplit(".", 1)[-1]
    return {"acc": 32, "sum_q1": 32, "m0_q1": 31, "n_q1": 6, "prod_q2": 64, "shr_q3": 64, "y_q4": 8}.get(name, 1 if path.startswith(RQ) else 0)


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
    d = Dump(dump, [*lanes, *ctl, f"{TOP}.wd_cnt_q"], top=TOP)
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


def failure_waves(r: dict[str, Any], rb: Any, dump: Path, widths: dict[str, int], dest: Path) -> dict[str, int | None] | None:
    """The failing layer's waveform and save file into its bundle folder (r["waves"]), the marker
    on the port's write of the first wrong element's word; the RTL's requantiser stages for that
    element (None when the waveform does not reach it)."""
    from hexgen.rules import descriptor_registers, descriptor_runs

    where = r.get("where") or []
    diag = r.get("diagnosis") or []
    focus: dict[str, Any] = {"kind": diag[0]["kind"] if diag else ""}
    w0 = where[0] if where else None
    entry = next((e for e in rb.memory_map["layers"] if e["name"] == r["layer"]), None)
    vector = bool(where) and "vec_lane" in where[0]
    focus["vector"] = vector  # a layer of the vector unit: its group on top, no requantiser lane
    if w0 is not None and w0.get("word") is not None and w0.get("cycle") is not None and entry is not None:
        # the port's address: the output's base where the bench loaded the layer (moved down by its
        # window's first word when it loaded the layer's window alone)
        addr = rb.segment_info(r["layer"], "output")["base_word"] - int(r.get("mem_offset", 0)) + int(w0["word"])
        focus.update(lane=int(w0["vec_lane" if vector else "pe_row"]), addr=addr, cycle=int(w0["cycle"]))
    r["waves"] = save_engine_waves(dump.parent, [r["layer"]], widths, dest=dest, focus=focus)
    if "addr" not in focus or entry is None or vector:  # the requantiser has no part in a vector-unit layer
        return None
    if len(descriptor_runs(entry["descriptor"])) > 1:  # a matmul's heads: which run wrote the word is not traced yet
        return None
    edge = write_edge(Dump(dest / f"{r['layer']}{dump.suffix}", [f"{TOP}.wd_cnt_q", f"{TOP}.u_mem.w_fire",
                                                                  f"{TOP}.u_mem.w_beat_addr"], top=TOP), focus["addr"], focus["cycle"])
    if edge is None:
        return None
    beat = drain_beat(descriptor_registers(entry["descriptor"]), rb.config.array_rows, int(w0["c"]), int(w0["y"]),  # type: ignore[arg-type]
                      int(w0["x"]))  # type: ignore[arg-type]
    return rtl_requant_stages(dest / f"{r['layer']}{dump.suffix}", beat, int(w0["pe_row"]), edge[0])  # type: ignore[arg-type]


def drain_beat(regs: dict[str, int], rows: int, c: int, y: int, x: int) -> int:
    """The requantiser beat (counted from the layer's start) that carries output channel c of
    pixel (y, x): passes in the engine's order (hexgen.rules.passes), each draining its k_tiles
    one after the other, a k_tile its pixels in raster order."""
    from hexgen.rules import passes

    kt, beat = c // rows, 0
    for p in passes(regs, rows):
        if p.k_tile <= kt < p.k_tile + p.k_tiles and p.out_y <= y < p.out_y + p.out_rows:
            return beat + (kt - p.k_tile) * p.npix + (y - p.out_y) * regs["OUT_W"] + x
        beat += p.k_tiles * p.npix
    raise ValueError(f"no pass holds channel {c}, row {y}")
