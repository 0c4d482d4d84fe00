"""Our engine's cycle budgets and memory traffic (a target's budget from its own cycle model is
tb.budget): a layer that computes golden's integers too slowly, or moves
other words than its plan, fails like one that computes them wrong (docs/engine.md, "Cycle
budgets").

- traffic: the words the engine read and wrote (the WORDS_READ, WORDS_WRITTEN counters) must be
  exactly the words hexgen's plan moves (hexgen.cycles); a word read twice or a lost write is a
  bug even when the outputs are right;
- counters: the beats and MACs the engine counted (BUSY_CYCLES, MACS) must be exactly the plan's
  (one beat per real input channel of every step of every pixel tile; ROWS x the tile's columns
  MACs a beat), with or without stalls: a counter that clears or counts wrongly shows here;
- budget: the cycles must be within hexgen.cycles.BUDGET_SLACK of the model's (hexgen.cycles.layer_budget,
  at the run's memory latency), either way: slower is a performance bug, faster than the dataflow
  allows is a limit not honoured (measured: the model is within -3.1% .. +6.2% on 650 layers). Random memory stalls slow a run by an amount
  the model does not know, so with stalls on only the traffic is checked.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from hexgen.config import HardwareConfig
from hexgen.cycles import BUDGET_SLACK, entry_budget


def check_budget(r: dict[str, Any], entry: Mapping[str, Any], cfg: HardwareConfig, *, mem_latency: int,
                 mem_stall: int) -> None:
    """For a layer that ran to done with golden's outputs (status PASS): r["budget"] (the model's
    cycles, None with stalls on) and r["budget_ratio"] (cycles / budget); a PASS becomes a FAIL
    naming the traffic or the cycles that are off. Anything else is left as it is."""
    if r["status"] != "PASS" or r.get("cycles") is None:
        return
    b = entry_budget(entry["descriptor"], cfg, mem_latency)
    # exact, stalls or not: the words moved and the counted beats and MACs against the plan's
    for measured, planned, text in [
        ((r.get("words_read"), r.get("words_written")), (b.read_words, b.write_words),
         "the engine read {} and wrote {} words where the plan (hexgen.cycles) reads {} and writes {}"),
        ((r.get("busy_cycles"), r.get("macs")), (b.beats, b.macs),
         "the counters say {} beats (BUSY_CYCLES) and {} MACs where the plan (hexgen.cycles) issues {} beats and {} MACs"),
    ]:
        if measured != planned:
            r["status"] = "FAIL"
            r["reason"] = "outputs equal golden, but " + text.format(*measured, *planned)
            return
    if mem_stall:
        r["budget"] = r["budget_ratio"] = None
        return
    r["budget"] = b.cycles
    r["budget_ratio"] = r["cycles"] / b.cycles
    if r["cycles"] < b.cycles * (1 - BUDGET_SLACK):
        # faster than the dataflow allows: work skipped, or a limit of the hardware (a bank's one
        # read port, a queue's depth) the simulation does not enforce was not honoured
        r["status"] = "FAIL"
        r["reason"] = (f"outputs equal golden, but {r['cycles']:,} cycles is {r['budget_ratio'] - 1:+.0%} under the budget "
                       f"of {b.cycles:,} (hexgen.cycles at memory latency {mem_latency}; at most {BUDGET_SLACK:.0%} under): "
                       "faster than the dataflow allows, e.g. a port or queue limit not honoured")
        return
    if r["cycles"] > b.cycles * (1 + BUDGET_SLACK):
        r["status"] = "FAIL"
        r["reason"] = (f"outputs equal golden, but {r['cycles']:,} cycles is {r['budget_ratio'] - 1:+.0%} over the budget "
                       f"of {b.cycles:,} (hexgen.cycles at memory latency {mem_latency}; at most "
                       f"{BUDGET_SLACK:.0%} over): a performance bug; read {b.read_words} words, wrote {b.write_words}, "
                       f"the array alone needs {b.array:,} cycles")


# ---- the committed cycle baseline of the shipped models (issue 23) --------------------------------
#: The exact cycles of every layer of the shipped models, as last accepted (`make accept-cycles`).
#: The budget's 10% slack lets a +5% performance fault pass; this file does not: make test holds
#: each run of a shipped model to it, and a change either way fails until it is accepted.
BASELINE_FILE = Path(__file__).resolve().parent.parent.parent / "tests" / "cycle_baseline.json"
#: the runs the baseline holds (model, hardware description, test image); make test runs each whole
BASELINE_RUNS = (("mobilenetv2", "default", 0), ("mlp", "default", 1))


def baseline_key(model: str, hw: str, seed: int, mem_latency: int = 8) -> str:
    return f"{model}/{hw}/seed{seed}/latency{mem_latency}"


def baseline_differences(res: list[dict[str, Any]], model: str, hw: str, seed: int, mem_latency: int = 8) -> list[str]:
    """Each layer of a run whose cycles differ from the accepted baseline (or that it does not
    hold), one line each; [] when every layer took exactly its accepted cycles."""
    import json

    runs = json.loads(BASELINE_FILE.read_text())["runs"] if BASELINE_FILE.is_file() else {}
    key = baseline_key(model, hw, seed, mem_latency)
    want = runs.get(key)
    if want is None:
        return [f"{BASELINE_FILE.name} holds no run {key}: accept one with `make accept-cycles`"]
    out = []
    for r in res:
        accepted = want.get(r["layer"])
        if accepted is None:
            out.append(f"{r['layer']}: not in the baseline of {key}")
        elif r.get("cycles") != accepted:
            got = r.get("cycles")
            delta = f" ({(got - accepted) / accepted:+.1%})" if isinstance(got, int) and accepted else ""
            out.append(f"{r['layer']}: {got} cycles, the accepted baseline is {accepted}{delta}")
    if out:
        out.append("a performance change (either way) fails until it is accepted: `make accept-cycles` rewrites "
                   f"{BASELINE_FILE.relative_to(BASELINE_FILE.parent.parent)} (commit it with the change that explains it)")
    return out
