"""The flow of a target with a driver (tb.target): how tb.layer_sim prepares, builds and reads back
its runs. The image is golden's network in the target's own segments (tb.target_image), the build
its HdlBench under its own folder, the bench the framework's (tb.target_bench: the driver
programs, starts and waits), and after the verdicts its cycle model, when it has one, sets each
layer's budget (tb.budget.check_model_budget).
"""
from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any

from tb.run_settings import RunSettings
from tb.sim import build_bench
from tb.target import Flow, Target
from tb.target_image import prepare_target_image

Image = tuple[Path, list[dict[str, Any]], int]


class DriverFlow(Flow):
    options: frozenset[str] = frozenset({"waves", "reset"})

    def image(self, target: Target, s: RunSettings) -> Image:
        return prepare_target_image(target, s.model, s.seed, s.widths)

    def build(self, target: Target, s: RunSettings, image: Image, waves: bool) -> Path:
        bench = target.bench if target.bench.root else replace(target.bench, root=target.folder / "build" / "sim")
        return build_bench(bench, s.sim, target.parameters, waves=waves,
                           extra_args=[*target.build_args.get(s.sim, ()), *(f"-D{d}" for d in s.defines)],
                           variant=("-waves" if waves else "") + "".join("-" + d.lower() for d in s.defines))

    def job(self, target: Target, s: RunSettings, image: Image, to_run: list[str]) -> dict[str, Any]:
        import json

        cdir, layers, _ = image
        macs = {l["name"]: l["macs"] for l in layers}
        mm = json.loads((cdir / "image" / "memory_map.json").read_text())
        return {"driver": str(target.driver), "bench": ["tb.target_bench", target.bench.top, "TARGET_JOB"],
                "macs_per_cycle": target.macs_per_cycle, "record_all": s.record, "check_reset": s.check_reset,
                "watchdog_cycles": {n: s.watchdog_cycles or target_watchdog(macs[n], mm, n) for n in to_run}}

    def finish(self, target: Target, s: RunSettings, image: Image, results: list[dict[str, Any]]) -> None:
        from tb.coverage import sample_target

        net = pickle.loads((image[0] / "net.pkl").read_bytes())
        if target.cycle_model is not None:
            from tb.budget import check_model_budget

            by_name = {l.name: l for l in net.layers}
            for r in results:
                if r["status"] == "PASS":
                    check_model_budget(r, int(target.cycle_model(net, by_name[r["layer"]])), target.budget_slack,
                                       f"{target.name}'s cycle model")
        sample_target(results, image[0] / "image", net, target.name, target.lanes)  # what still PASSes


def target_watchdog(macs: int, memory_map: dict[str, Any], layer: str) -> int:
    """A target's watchdog for one layer, without a cycle model: 50 cycles for every MAC and for every
    word of its segments, and a margin. A target that does one MAC a cycle and moves every word
    a dozen times over still finishes well inside it; a hung one is stopped."""
    words = sum(int(seg["words"]) for seg in memory_map["segments"] if seg["layer"] == layer)
    return 50 * (macs + words) + 100_000
