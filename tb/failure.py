"""What a failing layer's report holds besides the classifier's verdict (tb/diagnose.py), and the
step tb.layer_sim runs on every failing layer (`diagnose_failures`):

- where the first wrong elements belong: k_tile and MAC-array row, pixel tile and column, output
  memory word and lane (hexgen's output layout), and the cycle the memory port wrote the word (the
  bench's Verilog record, tb/hdl/accel_tb.sv `wr_cycle`);
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
        out.append({"c": int(c), "y": int(y), "x": int(x), "expected": int(e[c, y, x]), "got": int(g[c, y, x]),
                    "k_tile": int(c) // ctx.rows, "pe_row": int(c) % ctx.rows, "pixel_tile": p // ctx.cols,
                    "pe_col": p % ctx.cols, "word": word, "lane": int(ctx.lane[c, y, x]) if ctx.lane is not None else None,
                    "cycle": None if cyc is None or cyc == NEVER else cyc, "written": cyc is None or cyc != NEVER})
    return out


def location_table(rows: list[dict[str, int | None]]) -> str:
    if not rows:
        return ""
    head = "  where (c, y, x)     expected  got  k_tile  PE row  pixel tile  PE col    word  lane  written at cycle"
    lines = [head]
    for r in rows:
        cyc = "never" if not r["written"] else ("-" if r["cycle"] is None else f"{r['cycle']:,}")
        word = "-" if r["word"] is None else str(r["word"])
        lane = "-" if r["lane"] is None else str(r["lane"])
        lines.append(f"  {str((r['c'], r['y'], r['x'])):18s} {r['expected']:>8d} {r['got']:>4d} {r['k_tile']:>7d} "
                     f"{r['pe_row']:>7d} {r['pixel_tile']:>11d} {r['pe_col']:>7d} {word:>7s} {lane:>5s}  {cyc}")
    return "\n".join(lines)


def requant_stages(ctx: Context, c: int, y: int, x: int, got: int) -> str:
    """Golden's requantiser stages for one element beside the RTL's value. The bench observes the
    RTL's output only; from it follows the range of accumulators that give it with golden's M0,
    n, z_out and clamp (the first stage golden and the RTL can differ in)."""
    rq = ctx.requant
    if rq is None:
        return ""
    acc, m0, n = int(rq.acc[c, y, x]), int(rq.m0[c]), int(rq.n[c])
    prod = acc * m0
    shifted = (prod + (1 << (n - 1))) >> n
    y_out = min(max(shifted + rq.z_out, rq.lo), rq.hi)
    bias = f"   (bias term {int(rq.bias[c]):,})" if rq.bias is not None else ""
    stages = [("accumulator, bias included", f"{acc:,}{bias}"), (f"x M0 = {m0:,}", f"{prod:,}"),
              (f"+ 2^{n - 1}, >> {n}", f"{shifted:,}"), (f"+ z_out = {rq.z_out}", f"{shifted + rq.z_out:,}"),
              (f"clamp to [{rq.lo}, {rq.hi}]", f"{y_out}   RTL: {got}")]
    lines = [f"  requantizer stages of ({c}, {y}, {x}), golden (the bench observes the RTL's output only):"]
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
    from golden.layers import ConvLayer, LinearLayer
    from hexgen.layout import untile
    lay = rb.layout(layer, "expected")
    expected = as_chw(rb[(layer, "expected")][0])
    pos = untile(np.arange(lay.elements, dtype=np.int64), lay)[0]
    per = max(1, lay.word_bits // lay.elem_bits)
    names = [l.name for l in net.layers]
    i = names.index(layer)
    prev = names[i - 1] if i else None
    ctx = Context(rows=rb.config.array_rows, cols=rb.config.array_cols,
                  initial=as_chw(rb[(layer, "output")][0]), word=as_chw(pos // per), lane=as_chw(pos % per))
    if (layer, "input") in rb.arrays:
        x = rb[(layer, "input")]
        ctx.layer_input = as_chw(x[0])
        g = net.layers[i]
        if isinstance(g, (ConvLayer, LinearLayer)):
            acc = g.accumulate(x.astype(np.uint8))[0]
            r = g.requant
            ctx.requant = Requant(as_chw(np.asarray(acc, np.int64)), np.asarray(r.m0, np.int64), np.asarray(r.n, np.int64),
                                  r.z_out, r.lo, r.hi, np.asarray(g.bias.term, np.int64))
            shape = x.shape[1:]
            ctx.recompute = lambda xin: as_chw(g.forward([np.asarray(xin, np.int64).reshape(1, *shape).astype(np.uint8)])[0])
    if prev is not None and (prev, "expected") in rb.arrays:
        ctx.previous = as_chw(rb[(prev, "expected")][0])
    return expected, ctx


# ---- the step tb.layer_sim runs ---------------------------------------------------------------------
def diagnose_failures(results: list[dict[str, Any]], cdir: Path) -> None:
    """For each failing layer with a saved output (r["got_file"]): the diagnosis (r["diagnosis"]:
    kind, explained, wrong, text), where (r["where"]), both and the requantiser stages appended to
    r["report"], and the failure bundle (r["bundle"]). The image and the network are read once."""
    failing = [r for r in results if r["status"] == "FAIL" and r.get("got_file")]
    if not failing:
        return
    from hexgen.check import read_image
    from tb.bundle import write_bundle

    rb = read_image(cdir / "image", run_golden=False)
    net = pickle.loads((cdir / "net.pkl").read_bytes())
    for r in failing:
        expected, ctx = image_context(rb, net, r["layer"])
        raw = np.load(r["got_file"])  # the output's own shape ([C] for fc)
        got = raw.reshape(expected.shape)
        if r.get("xz_words") and ctx.word is not None:
            ctx.xz = np.isin(ctx.word, r["xz_words"])
        found = diagnose(expected, got, ctx)
        r["diagnosis"] = [{"kind": f.kind, "explained": f.explained, "wrong": f.wrong, "text": f.text} for f in found]
        wcycle = np.load(r["wcycle_file"]) if r.get("wcycle_file") else None
        where = locate(expected, got, ctx, wcycle)
        r["where"] = where
        parts = [r.get("report") or f"{r['layer']}: {r.get('reason', '')}", diagnosis_report(found), location_table(where)]
        if where:
            w0 = where[0]
            parts.append(requant_stages(ctx, int(w0["c"]), int(w0["y"]), int(w0["x"]), int(w0["got"])))  # type: ignore[arg-type]
        r["report"] = "\n".join(p for p in parts if p)
        r["bundle"] = str(write_bundle(r, cdir / "image", expected.reshape(raw.shape), raw, ctx.layer_input, wcycle))
