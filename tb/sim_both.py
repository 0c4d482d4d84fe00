"""Cross-simulator check (`make sim SIM=both`): each layer on Icarus and on Verilator, outputs and
cycle counts compared.

The two simulators run the same RTL on the same memory image; a difference is a simulator-
sensitive RTL bug (a race, X handling, an uninitialised register) even when both match golden.
A layer agrees when both verdicts are PASS with the same cycle count (equal outputs follow: both
equal golden). Otherwise the report names the layer, the first output element that differs
between the two, and the first output word the memory port wrote at a different cycle (the
bench's Verilog records when each word was written: tb/engine/hdl/accel_tb.sv `wr_cycle`).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from tb import layer_sim

SIMS = ("icarus", "verilator")


def _load(r: dict[str, Any], key: str) -> np.ndarray | None:
    f = r.get(key)
    return np.load(f) if f and Path(f).is_file() else None


def compare(icarus: list[dict[str, Any]], verilator: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per layer: both verdicts and cycle counts, `agree`, and `difference` in words."""
    by_v = {r["layer"]: r for r in verilator}
    rows = []
    for ri in icarus:
        rv = by_v.get(ri["layer"], {"status": "FAIL", "reason": "not run on Verilator"})
        row = {"layer": ri["layer"], "icarus": ri["status"], "verilator": rv["status"],
               "cycles_icarus": ri.get("cycles"), "cycles_verilator": rv.get("cycles"), "difference": ""}
        diffs = []
        if ri["status"] != rv["status"]:
            diffs.append(f"Icarus {ri['status']}" + (f" ({ri.get('reason')})" if ri.get("reason") else "")
                         + f", Verilator {rv['status']}" + (f" ({rv.get('reason')})" if rv.get("reason") else ""))
        gi, gv = _load(ri, "got_file"), _load(rv, "got_file")
        if gi is not None and gv is not None and gi.shape == gv.shape and not np.array_equal(gi, gv):
            idx = tuple(int(i) for i in np.argwhere(gi != gv)[0])
            diffs.append(f"outputs differ in {int((gi != gv).sum())} elements; first {idx}: Icarus {int(gi[idx])}, "
                         f"Verilator {int(gv[idx])}")
        if ri.get("cycles") is not None and rv.get("cycles") is not None and ri["cycles"] != rv["cycles"]:
            text = f"cycles differ: {ri['cycles']:,} on Icarus, {rv['cycles']:,} on Verilator"
            ci, cv = _load(ri, "wcycle_file"), _load(rv, "wcycle_file")
            if ci is not None and cv is not None and ci.shape == cv.shape and not np.array_equal(ci, cv):
                bad = np.flatnonzero(ci != cv)
                w = int(bad[np.argmin(np.minimum(ci[bad], cv[bad]))])  # the earliest write that differs
                text += f"; first output word written at a different cycle: word {w}, cycle {int(ci[w]):,} on Icarus, " \
                        f"{int(cv[w]):,} on Verilator"
            diffs.append(text)
        if ri["status"] == rv["status"] == "UNSUPP":
            diffs = []
        row["agree"] = not diffs and ri["status"] in ("PASS", "UNSUPP")
        row["difference"] = "; ".join(diffs)
        rows.append(row)
    return rows


def run_both(**kw: Any) -> list[dict[str, Any]]:
    """layer_sim.run on each simulator (same keywords) on one memory image, every layer's output and
    write cycles kept. The image is made once: a factory that is not deterministic would give each
    simulator other weights, and the difference would be the model's, not the simulators'."""
    from tb.run_settings import RunSettings
    from tb.target import load_target

    if "image" not in kw:
        print(f"sim: golden model {kw['model']}, SEED={kw['seed']} ...", flush=True)
        s = RunSettings(**kw)
        target = load_target(s.target)
        layer_sim.refuse_options(s, target)
        kw = {**kw, "image": target.run_flow.image(target, s)}
    res = {s: layer_sim.run(sim=s, record=True, **kw) for s in SIMS}
    return compare(res["icarus"], res["verilator"])


def table(rows: list[dict[str, Any]]) -> str:
    head = f"{'layer':8s} {'Icarus':6s} {'cycles':>9s} {'Verilator':9s} {'cycles':>9s}  result"
    lines = [head, "-" * len(head)]
    for r in rows:
        cyc = lambda v: f"{v:>9,}" if v is not None else f"{'-':>9s}"  # noqa: E731
        lines.append(f"{r['layer']:8s} {r['icarus']:6s} {cyc(r['cycles_icarus'])} {r['verilator']:9s} "
                     f"{cyc(r['cycles_verilator'])}  {'agree' if r['agree'] else 'DIFFER'}")
    for r in rows:
        if r["difference"]:
            lines.append(f"{r['layer']}: {r['difference']}")
    return "\n".join(lines)


def main_both(a: argparse.Namespace, layers: list[str] | None) -> int:
    rows = run_both(layers=layers, model=a.model, seed=a.seed, waves=a.waves, mem_stall=a.mem_stall,
                    mem_latency=a.mem_latency, hw=a.hw, target=a.target, w_bits=a.w_bits, a_bits=a.a_bits,
                    keep_ends=a.keep_ends, qat=a.qat, jobs=a.jobs)
    print(table(rows))
    bad = [r["layer"] for r in rows if not r["agree"]]
    # only UNSUPP layers is nothing run, as in plain make sim (layer_sim.verdict): exit 1
    ran = [r for r in rows if "UNSUPP" not in (r["icarus"], r["verilator"])]
    print(f"\n{len(rows) - len(bad)} layer(s) agree on both simulators, {len(bad)} differ or fail"
          + (f": {', '.join(bad)}" if bad else "") + (": nothing ran" if not ran else ""))
    return 1 if bad or not ran else 0
