"""`make accept-cycles`: run every layer of the shipped models' baseline runs (tb.engine.budget.BASELINE_RUNS)
on Verilator and rewrite tests/cycle_baseline.json with their exact cycles, printing what changed.

The file is what make test holds the same runs to, cycle for cycle (tb.engine.budget.baseline_differences):
a performance change either way fails until it is accepted here and committed with its reason.
Only a run in which every layer PASSes is accepted.
"""
from __future__ import annotations

import json
import sys

from golden.cli import run_cli
from tb import layer_sim
from tb.engine.budget import BASELINE_FILE, BASELINE_RUNS, baseline_key
from tb.sim import SimError


def main(argv: list[str] | None = None) -> int:
    old = json.loads(BASELINE_FILE.read_text())["runs"] if BASELINE_FILE.is_file() else {}
    runs: dict[str, dict[str, int]] = {}
    for model, hw, seed in BASELINE_RUNS:
        print(f"accept-cycles: {model} on {hw}, test image {seed} ...", flush=True)
        res = layer_sim.run(layers=None, sim="verilator", model=model, seed=seed, hw=hw, xcheck=False, quiet=True,
                            run_tag="-accept-cycles")
        bad = [r for r in res if r["status"] == "FAIL"]
        if bad:
            raise SimError(f"{model}: {bad[0]['layer']} FAILs ({bad[0].get('reason', '')}): only a run whose every layer "
                           "passes is accepted")
        key = baseline_key(model, hw, seed)
        runs[key] = {r["layer"]: r["cycles"] for r in res if r["status"] == "PASS"}
        before = old.get(key, {})
        for layer, cyc in runs[key].items():
            if before.get(layer) != cyc:
                print(f"  {layer}: {before.get(layer, 'new')} -> {cyc}")
    note = ("exact cycles of every layer of the shipped models (memory latency 8, no stalls), held by make test; "
            "rewrite with `make accept-cycles` and commit with the change that explains it")
    BASELINE_FILE.write_text(json.dumps({"note": note, "runs": runs}, indent=1, sort_keys=True) + "\n")
    print(f"accept-cycles: wrote {BASELINE_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("accept-cycles", main))
