"""A target's cycle budget (tb.target.Target.cycle_model): a layer that computes golden's integers
in cycles its designers' model does not expect fails like one that computes them wrong. Our engine's
own budgets, traffic and counter checks against hexgen's cycle model are tb/engine/budget.py."""
from __future__ import annotations

from typing import Any


def check_model_budget(r: dict[str, Any], model_cycles: int, slack: float, source: str) -> None:
    """A target's budget (tb.target.Target.cycle_model): r["budget"], r["budget_ratio"], and a PASS
    whose cycles are more than `slack` off the model's, either way, becomes a FAIL naming both."""
    if r["status"] != "PASS" or r.get("cycles") is None or model_cycles <= 0:
        return
    r["budget"] = model_cycles
    r["budget_ratio"] = r["cycles"] / model_cycles
    if abs(r["budget_ratio"] - 1) > slack:
        which = "over" if r["cycles"] > model_cycles else "under"
        r["status"] = "FAIL"
        r["reason"] = (f"outputs equal golden, but {r['cycles']:,} cycles is {r['budget_ratio'] - 1:+.0%} {which} the budget "
                       f"of {model_cycles:,} ({source}; at most {slack:.0%} either way)")
