"""What a failing layer's report holds besides the classifier's verdict (tb/diagnose.py), and the
step tb.layer_sim runs on every failing layer (`diagnose_failures`):

- where the first wrong elements belong: k_tile and MAC-array row, pixel tile and column, output
  memory word and lane (hexgen's output layout), and the cycle the memory port wrote the word (the
  bench's Verilog record, tb/engine/hdl/accel_tb.sv `wr_cycle`; a target's: the memory writes its driver
  recorded, tb/target_bench.py); with waves, the marker on that write (a target's: no requantiser
  stages, its own signal groups);
- golden's requantiser stages for the first, and the accumulators the RTL's value needs;
- the context the classifier tests its hypotheses with, read from the memory image and golden's
  network once for all the failing layers of a run;
- the failure bundle (tb/bundle.py).
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tb.compare import chw_as, token_rows
from tb.diagnose import Context, IntArray, Requant, acc_bounds, as_chw, diagnose
from tb.diagnose import report as diagnosis_report

# ---- where it happened ------------------------------------------------------------------------------
NEVER = 0xFFFFFFFF  # the bench's write-cycle record of a word the port never wrote


def locate(expected: NDArray[np.integer], got: NDArray[np.integer], ctx: Context,
           wcycle: NDArray[np.integer] | None = None, limit: int = 8) -> list[dict[str, int | None]]:
    """The first wrong elements (raster order per channel) with where they belong: k_tile and
    MAC-array row, pixel tile and MAC-array column, output memory word and lane (hexgen's layout),
    and the cycle since the start at which the memory port wrote that word (the bench's record;
    None: never written)."""
    e, g = as_chw(expected), as_chw(got)
    wrong = e != g
    if ctx.xz is not None:
        wrong = wrong | as_chw(ctx.xz).astype(bool)
    W = e.shape[2]
    out: list[dict[str, int | None]] = []
    for c, y, x in np.argwhere(wrong)[:limit]:
        p = int(y) * W + int(x)
        word = int(ctx.word[c, y, x]) if ctx.word is not None else None
        cyc = int(wcycle[word]) if wcycle is not None and word is not None else None
        row: dict[str, int | None] = {"c": int(c), "y": int(y), "x": int(x), "expected": int(e[c, y, x]),
                                      "got": int(g[c, y, x])}
        if not ctx.on_engine:  # a target: its output word and lane are all that is known of its hardware
            pass
        elif ctx.vector:  # the vector unit: a word is a channel tile of one pixel, worked on lane by lane
            row.update(ch_tile=int(c) // ctx.rows, vec_lane=int(c) % ctx.rows)
        else:
            row.update(k_tile=int(c) // ctx.rows, pe_row=int(c) % ctx.rows, pixel_tile=p // ctx.cols, pe_col=p % ctx.cols)
        row.update(word=word, lane=int(ctx.lane[c, y, x]) if ctx.lane is not None else None,
                   cycle=None if cyc is None or cyc == NEVER else cyc, written=cyc is None or cyc != NEVER)
        out.append(row)
    return out


def location_table(rows: list[dict[str, int | None]]) -> str:
    """The rows of locate(): on the MAC array's tiles and cells, or (a layer of the vector unit,
    rows with "vec_lane") on the vector unit's channel tiles and lanes."""
    if not rows:
        return ""
    vector, engine = "vec_lane" in rows[0], "vec_lane" in rows[0] or "pe_row" in rows[0]
    if not engine:
        head = "  where (c, y, x)     expected  got     word  lane  written at cycle   (the output segment's words)"
    elif vector:
        head = ("  where (c, y, x)     expected  got  channel tile  vector-unit lane    word  lane  written at cycle"
                "   (vector unit: a word is the channels of one pixel, lane-wise)")
    else:
        head = "  where (c, y, x)     expected  got  k_tile  PE row  pixel tile  PE col    word  lane  written at cycle"
    lines = [head]
    for r in rows:
        cyc = "never" if not r["written"] else ("-" if r["cycle"] is None else f"{r['cycle']:,}")
        word = "-" if r["word"] is None else str(r["word"])
        lane = "-" if r["lane"] is None else str(r["lane"])
        where = ("" if not engine else f" {r['ch_tile']:>13d} {r['vec_lane']:>17d}" if vector else
                 f" {r['k_tile']:>7d} {r['pe_row']:>7d} {r['pixel_tile']:>11d} {r['pe_col']:>7d}")
        lines.append(f"  {str((r['c'], r['y'], r['x'])):18s} {r['expected']:>8d} {r['got']:>4d}{where} "
                     f"{word:>7s} {lane:>5s}  {cyc}")
    return "\n".join(lines)


def requant_stages(ctx: Context, c: int, y: int, x: int, got: int, rtl: dict[str, int | None] | None = None) -> str:
    """Golden's requantiser stages for one element beside the RTL's: its own stage registers
    when a waveform holds them (rtl: tb.waves.rtl_requant_stages), naming the first stage that
    differs; else its output only, and the range of accumulators that give that output with
    golden's M0, n, z_out and clamp."""
    rq = ctx.requant
    if rq is None:
        return ""
    acc, m0, n = int(rq.acc[c, y, x]), int(rq.m0[c]), int(rq.n[c])
    prod = acc * m0
    shifted = (prod + (1 << (n - 1))) >> n
    y_out = min(max(shifted + rq.z_out, rq.lo), rq.hi)
    bias = int(rq.bias[c]) if rq.bias is not None else None
    if rtl:
        rows = [("accumulator (MAC sum)", acc - bias if bias is not None else None, rtl.get("acc")),
                ("+ bias term" + (f" {bias:,}" if bias is not None else ""), acc, rtl.get("sum")),
                ("M0", m0, rtl.get("m0")), ("n", n, rtl.get("n")), ("x M0", prod, rtl.get("product")),
                ("+ 2^(n-1), >> n", shifted, rtl.get("shifted")),
                (f"+ z_out {rq.z_out}, clamp to [{rq.lo}, {rq.hi}]", y_out, rtl.get("out"))]
        lines = [f"  requantizer stages of ({c}, {y}, {x}), golden and the RTL's own registers (from the waveform):",
                 f"    {'stage':<34s}{'golden':>24s}{'RTL':>24s}"]
        first = None
        for label, g, v in rows:
            mark = ""
            if g is not None and v is not None and g != v:
                mark = "  <- differs"
                first = first or label
            lines.append(f"    {label:<34s}{'-' if g is None else f'{g:,}':>24s}{'-' if v is None else f'{v:,}':>24s}{mark}")
        lines.append(f"    first stage that differs: {first}" if first else "    every observed stage equals golden's")
        return "\n".join(lines)
    bias_s = f"   (bias term {bias:,})" if bias is not None else ""
    stages = [("accumulator, bias included", f"{acc:,}{bias_s}"), (f"x M0 = {m0:,}", f"{prod:,}"),
              (f"+ 2^{n - 1}, >> {n}", f"{shifted:,}"), (f"+ z_out = {rq.z_out}", f"{shifted + rq.z_out:,}"),
              (f"clamp to [{rq.lo}, {rq.hi}]", f"{y_out}   RTL: {got}")]
    why = "WAVES=auto reads its stages" if ctx.on_engine else "a target's requantizer is not known to int8sim"
    lines = [f"  requantizer stages of ({c}, {y}, {x}), golden (the bench observes the RTL's output only; {why}):"]
    lines += [f"    {label:<30s}{value}" for label, value in stages]
    lo_b, hi_b = acc_bounds(np.array([[[got]]], np.int64), Requant(np.array([[[acc]]]), np.array([m0]), np.array([n]),
                                                                    rq.z_out, rq.lo, rq.hi))
    a_lo, a_hi = int(-((-int(lo_b.item())) // m0)) if m0 else 0, int(int(hi_b.item()) // m0) if m0 else 0
    if m0 and a_lo <= a_hi:
        rng = (f"at most {a_hi:,}" if got <= rq.lo else f"at least {a_lo:,}" if got >= rq.hi else f"{a_lo:,}..{a_hi:,}")
        lines.append(f"    with golden's M0, n, z_out and clamp, the RTL's {got} needs an accumulator of {rng} "
                     f"(golden's: {acc:,}): the accumulator differs, or one of those fields")
    return "\n".join(lines)


# ---- the context of a layer of a memory image ------------------------------------------------------
def image_context(rb: Any, net: Any, layer: str) -> tuple[IntArray, Context]:
    """Golden's output of `layer` and the context to diagnose it with, from the memory image the
    bench ran (rb: hexgen.check.read_image; its input, expected and output segments, hexgen's
    output layout) and golden's network (the layer's accumulators and requantiser fields, the
    previous layer)."""
    from golden.layers import ConvLayer, LinearLayer, MaxPoolLayer
    from hexgen.layout import untile
    seg = {role: segment_of_role(rb, layer, role) for role in ("expected", "output", "input")}
    lay = rb.layout(layer, seg["expected"])
    # a token tensor [.., T, C] as the one-column image the engine computed (tb.compare.token_rows, as_chw)
    expected = as_chw(token_rows(rb[(layer, seg["expected"])][0], lay))
    pos = untile(np.arange(lay.elements, dtype=np.int64), lay)[0]
    per = max(1, lay.word_bits // lay.elem_bits)
    names = [l.name for l in net.layers]
    i = names.index(layer)
    prev = names[i - 1] if i else None
    g = net.layers[i]
    pads = g.pads if isinstance(g, ConvLayer) else (
        (g.padding[0], g.padding[0], g.padding[1], g.padding[1]) if isinstance(g, MaxPoolLayer) else None)
    # a target's image: its output word's lanes stand for the engine's array rows, one pixel a tile
    rows, cols = (rb.config.array_rows, rb.config.array_cols) if rb.target == "engine" else (per, 1)
    ctx = Context(rows=rows, cols=cols,
                  initial=as_chw(token_rows(rb[(layer, seg["output"])][0], lay)), word=as_chw(token_rows(pos // per, lay)),
                  lane=as_chw(token_rows(pos % per, lay)),
                  kind=str(g.kind), pads=tuple(int(p) for p in pads) if pads is not None else None,  # type: ignore[arg-type]
                  on_engine=rb.target == "engine")
    if seg["input"] and (layer, seg["input"]) in rb.arrays:
        x = rb[(layer, seg["input"])]
        ctx.layer_input = as_chw(token_rows(x[0], rb.layout(layer, seg["input"])))
        if g.kind == "gelu":  # a table lookup: its 256 output codes (golden.transformer.GeluLayer)
            ctx.table = np.asarray(getattr(g, "table"), np.int64)
        if g.kind in ("softmax", "layernorm"):  # the row unit: golden's output with a knob of its arithmetic turned
            _row_knobs(ctx, g, x[0].astype(np.uint8), lay)
        if isinstance(g, (ConvLayer, LinearLayer)):
            acc = g.accumulate(x.astype(np.uint8))[0]
            r = g.requant
            ctx.requant = Requant(as_chw(np.asarray(acc, np.int64)), np.asarray(r.m0, np.int64), np.asarray(r.n, np.int64),
                                  r.z_out, r.lo, r.hi, np.asarray(g.bias.term, np.int64))
            shape = x.shape[1:]
            ctx.recompute = lambda xin: as_chw(g.forward([np.asarray(xin, np.int64).reshape(1, *shape).astype(np.uint8)])[0])
        if isinstance(g, ConvLayer) and max(g.kernel) > 1:  # a window whose taps could be read at another spacing
            ctx.dilation = (int(g.dilation[0]), int(g.dilation[1]))
            ctx.at_dilation = lambda d, x=x: as_chw(_at_dilation(g, d, x))
    prev_seg = segment_of_role(rb, prev, "expected") if prev is not None else ""
    if prev is not None and (prev, prev_seg) in rb.arrays:
        ctx.previous = as_chw(token_rows(rb[(prev, prev_seg)][0], rb.layout(prev, prev_seg)))
    return expected, ctx


def _row_knobs(ctx: Context, g: Any, x: Any, lay: Any) -> None:
    """A softmax's or LayerNorm's hypotheses' golden outputs (as the diagnosis's image, like the
    expected output): every row's reciprocal off by delta; a softmax's exp table entry j off by delta."""
    from golden import tf_arith

    view = lambda y: as_chw(token_rows(np.asarray(y, np.int64), lay))  # noqa: E731
    if g.kind == "softmax":
        table = np.asarray(g.exp_table, np.int64)
        e, s = tf_arith.softmax_exp(x, exp_table=table)
        out = dict(shift=g.shift, z_out=g.z_out, lo=g.lo, hi=g.hi)
        ctx.at_reciprocal = lambda d: view(tf_arith.softmax_output(e, np.int64(g.dividend) // s + d, **out))

        def at_entry(j: int, d: int) -> IntArray:
            t = table.copy()
            t[j] += d
            return view(tf_arith.softmax(x, exp_table=t, dividend=g.dividend, **out))

        ctx.at_exp_entry = at_entry
        ctx.exp_entries = view(x.max(axis=-1, keepdims=True) - x)
    else:
        c = tf_arith.layernorm_center(x)
        rr = tf_arith.layernorm_recip(c, sqrt_shift=g.sqrt_shift, eps_term=g.eps_term)
        ctx.at_reciprocal = lambda d: view(tf_arith.layernorm_output(
            tf_arith.layernorm_scale(c, rr + d, sqrt_shift=g.sqrt_shift), gain=np.asarray(g.gain, np.int64),
            shift=np.asarray(g.shift, np.int64), bias=np.asarray(g.bias, np.int64), z_out=g.z_out, lo=g.lo, hi=g.hi))


def _at_dilation(g: Any, d: tuple[int, int], x: Any) -> Any:
    """Golden's conv on input x with its taps d apart (its output size follows)."""
    import dataclasses

    from golden.arith import conv_out_size

    top, bottom, left, right = g.pads
    h, w = (conv_out_size(int(x.shape[2]), top, bottom, int(g.kernel[0]), int(g.stride[0]), d[0]),
            conv_out_size(int(x.shape[3]), left, right, int(g.kernel[1]), int(g.stride[1]), d[1]))
    if min(h, w) < 1:
        raise ValueError(f"dilation {d}: no output")
    other = dataclasses.replace(g, dilation=d, out_shape=(int(g.out_shape[0]), h, w))
    return other.forward([x.astype(np.uint8)])[0]


def segment_of_role(rb: Any, layer: str, role: str) -> str:
    """The segment of `layer` that holds `role`: the engine's segments are named by their role, a
    target's carry it (hexgen.target); "" when the layer has none."""
    if rb.target == "engine":
        return role
    return next((str(s["segment"]) for s in rb.memory_map["segments"] if s["layer"] == layer and s.get("role") == role), "")


# ---- the step tb.layer_sim runs ---------------------------------------------------------------------
def diagnose_failures(results: list[dict[str, Any]], cdir: Path, *, dump: Path | None = None,
                      widths: dict[str, int] | None = None, target: Any = None) -> None:
    """For each failing layer with a saved output (r["got_file"]): the diagnosis (r["diagnosis"]:
    kind, explained, wrong, text), where (r["where"]), both and the requantiser stages appended to
    r["report"], and the failure bundle (r["bundle"]). The image and the network are read once.
    dump (a run with waves): the bundle also gets the waveform and a GTKWave save file marking
    the write of the first wrong element (r["waves"]), and the stages table the RTL's own
    requantiser values for it, read from the waveform where the target's flow can (our engine's:
    tb/engine/waves.py; Flow.failure_waves)."""
    failing = [r for r in results if r["status"] == "FAIL" and r.get("got_file")]
    if not failing:
        return
    from hexgen.check import read_image
    from tb.bundle import FAILURES, write_bundle

    rb = read_image(cdir / "image", run_golden=False, layers=[r["layer"] for r in failing])
    net = pickle.loads((cdir / "net.pkl").read_bytes())
    for r in failing:
        expected, ctx = image_context(rb, net, r["layer"])
        raw = np.load(r["got_file"])  # the output's own shape ([C] for fc, [.., T, C] for tokens)
        rows = token_rows(raw, rb.layout(r["layer"], segment_of_role(rb, r["layer"], "expected")))
        got = as_chw(rows).reshape(expected.shape)
        if r.get("xz_words") and ctx.word is not None:
            ctx.xz = np.isin(ctx.word, r["xz_words"])
        found = diagnose(expected, got, ctx)
        r["diagnosis"] = [{"kind": f.kind, "explained": f.explained, "wrong": f.wrong, "text": f.text} for f in found]
        wcycle = np.load(r["wcycle_file"]) if r.get("wcycle_file") else None
        where = locate(expected, got, ctx, wcycle)
        r["where"] = where
        parts = [r.get("report") or f"{r['layer']}: {r.get('reason', '')}", diagnosis_report(found), location_table(where)]
        rtl: dict[str, int | None] | None = None
        if dump is not None and target is not None:
            note, rtl = target.run_flow.failure_waves(target, r, rb, dump, widths or {}, FAILURES / Path(r["run_dir"]).name / r["layer"])
            parts.append(note)
        if where:
            w0 = where[0]
            parts.append(requant_stages(ctx, int(w0["c"]), int(w0["y"]), int(w0["x"]), int(w0["got"]), rtl))  # type: ignore[arg-type]
        r["report"] = "\n".join(p for p in parts if p)
        r["bundle"] = str(write_bundle(r, cdir / "image", chw_as(expected, rows.shape).reshape(raw.shape), raw, ctx.layer_input, wcycle))


def target_waves(r: dict[str, Any], rb: Any, dump: Path, widths: dict[str, int], dest: Path, top: str, groups: Any) -> str:
    """A target's failing layer: its waveform and save file into the bundle folder (r["waves"]),
    with the target's own groups and the marker at the time its driver saw the
    first wrong element's word written (r["write_ps_file"], converted to the dump's unit); "" or one
    line saying why there is no marker."""
    from tb.waves import Dump, save_waves

    where = r.get("where") or []
    focus: dict[str, Any] = {}
    note = ""
    w0 = where[0] if where else None
    if w0 is None or w0.get("word") is None:
        note = "waves: no marker (the first wrong element's output word is not known)"
    elif not r.get("write_ps_file") or not r.get("period_ps"):
        note = "waves: no marker (the target's driver records no memory writes: docs/targets.md, the driver)"
    else:
        t_ps = int(np.load(r["write_ps_file"])[int(w0["word"])])
        if t_ps < 0:
            note = f"waves: no marker (output word {w0['word']} was never written)"
        else:
            unit = Dump.unit_ps(dump)
            focus = {"time": round(t_ps / unit), "period": max(1, round(int(r["period_ps"]) / unit))}
            edges = Dump(dump, [], top=top).edges  # the harness top's clk ([] when it has none by that name)
            if edges and not edges[0] <= focus["time"] <= edges[-1]:
                note = (f"waves: no marker (the write at {t_ps:,} ps lies outside the dump's clock edges "
                        f"{edges[0] * unit:,.0f}..{edges[-1] * unit:,.0f} ps: a dump of another simulation?)")
                focus = {}
    r["waves"] = save_waves(dump.parent, [r["layer"]], widths, dest=dest, focus=focus or {"time": None}, top=top, groups=groups)
    return note

