"""The flow of int8sim's own engine (targets/engine/target.py) through tb.layer_sim: what differs
from a target with a driver (tb.target_flow) is the engine's, and lives here.

- image: golden's network laid out by hexgen's plan for the hardware description (HW=), cached by
  content (tb/engine/images.py); sizes the engine refuses are refused before golden runs;
- build: the layer bench (tb/engine/hdl/accel_tb.sv around accel_top) with the description's sizes and a
  memory as large as the image (tb.engine.accel_build);
- job: the bench's own options (memory stalls and latency, chained images, CSR overrides and
  pokes for the fault tests, the reset-value check), read by tb/engine/test_layers.py, its driver;
- finish: utilisation and memory-port occupancy, the traffic, counters and cycle budget against
  hexgen's cycle model (tb/engine/budget.py), and functional coverage (tb.coverage);
- waves: its save files and the RTL's requantizer stages of a failing layer (tb/engine/waves.py).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hexgen.image import layer_window
from tb.engine.accel_build import MAX_ADDR_W, bench_addr_w, build_accel, refuse_parameters
from tb.run_settings import RunSettings
from tb.sim import SimError, require_checkout
from tb.target import Flow, Target

Image = tuple[Path, list[dict[str, Any]], int]
#: the engine's cocotb bench: (test module, HDL top, the variable naming the job file)
ENGINE_BENCH = ("tb.engine.test_layers", "accel_tb", "LAYER_JOB")


class EngineFlow(Flow):
    options = frozenset({"waves", "hw", "mem_stall", "mem_latency", "chain", "csr", "reset"})

    def image(self, target: Target, s: RunSettings) -> Image:
        require_checkout()
        from hexgen.hw import load_hw, rtl_parameters
        from tb.engine.images import prepare_image

        cfg = load_hw(s.hw)  # an unknown preset or a bad file: one line before anything runs
        if not s.default_hw:  # and sizes the engine refuses, before golden and hexgen run
            refuse_parameters(str(s.hw), rtl_parameters(cfg))
        return prepare_image(s.model, s.seed, s.hw, s.widths)

    def build(self, target: Target, s: RunSettings, image: Image, waves: bool) -> Path:
        mm = _memory_map(image)
        words, what = _bench_words(mm, s)
        addr_w = bench_addr_w(words)
        if addr_w > MAX_ADDR_W:
            raise SimError(f"{what} needs {words} words; the bench's external memory holds at most {1 << MAX_ADDR_W}")
        return build_accel(s.sim, waves=waves, defines=s.defines, hw=s.hw, addr_w=addr_w)

    def job(self, target: Target, s: RunSettings, image: Image, to_run: list[str]) -> dict[str, Any]:
        cdir, all_layers, _ = image
        return {
            "bench": list(ENGINE_BENCH), "seed": s.seed, "mem_stall": s.mem_stall, "mem_latency": s.mem_latency,
            "macs": {l["name"]: l["macs"] for l in all_layers},
            "csr_overrides": {k: dict(v) for k, v in s.csr_overrides.items()}, "pokes": {k: list(v) for k, v in s.pokes.items()},
            "watchdog_cycles": s.watchdog_cycles, "reset_each_layer": s.reset_each_layer, "record_all": s.record,
            "check_reset": s.check_reset,
            # one layer's segments in memory at a time, its bases moved down to 0 (a chained run keeps
            # the whole image in memory when it fits the bench's, and runs in windows when not)
            "windows": _in_windows(_memory_map(image), s),
            "chain": {"images": s.chain, "npz": str(cdir / "chain.npz"), "net": str(cdir / "net.pkl")} if s.chain else None,
        }

    def layer_costs(self, target: Target, s: RunSettings, image: Image, layers: list[str]) -> dict[str, float]:
        """hexgen's cycle model of each layer (the budget make sim checks): within a few percent of
        the measured cycles, where MACs miss the memory-bound layers (depthwise, fc)."""
        from hexgen.cycles import entry_budget
        from hexgen.hw import load_hw

        cfg = load_hw(s.hw)
        entries = {e["name"]: e for e in _memory_map(image)["layers"]}
        return {n: float(entry_budget(entries[n]["descriptor"], cfg, s.mem_latency).cycles) for n in layers}

    def finish(self, target: Target, s: RunSettings, image: Image, results: list[dict[str, Any]]) -> None:
        from hexgen.hw import load_hw
        from tb.engine.budget import check_budget
        from tb.coverage import sample_results

        cfg = load_hw(s.hw)
        entries = {e["name"]: e for e in _memory_map(image)["layers"]}
        for r in results:
            ran = r["status"] == "PASS" or (r["status"] == "FAIL" and "mismatches" in r)
            # memory port occupancy: words moved per cycle on the read and on the write channel (each
            # moves at most one); near 100% the layer is bound by memory traffic, not by the array
            r["port_rd"] = r["words_read"] / r["cycles"] if ran and r.get("cycles") else None
            r["port_wr"] = r["words_written"] / r["cycles"] if ran and r.get("cycles") else None
        for r in results:  # a layer run with its CSRs overridden runs another dataflow than its plan's
            if r["layer"] not in s.csr_overrides:
                check_budget(r, entries[r["layer"]], cfg, mem_latency=s.mem_latency, mem_stall=s.mem_stall)
        sample_results([r for r in results if r["layer"] not in s.csr_overrides], entries, cfg.array_rows, cfg.array_cols)


    def save_waves(self, target: Target, rdir: Path, layers: list[str], widths: dict[str, int], dest: Path) -> str:
        from tb.engine.waves import save_engine_waves

        return save_engine_waves(rdir, layers, widths, dest=dest)

    def failure_waves(self, target: Target, r: dict[str, Any], rb: Any, dump: Path, widths: dict[str, int],
                      dest: Path) -> tuple[str, dict[str, int | None] | None]:
        from tb.engine.waves import failure_waves

        return "", failure_waves(r, rb, dump, widths, dest)


def _in_windows(mm: dict[str, Any], s: RunSettings) -> bool:
    """Whether the bench loads each layer's window alone: always per layer; a chained run (whose
    inputs are the RTL's own outputs, written by the bench before each layer) when its whole image
    does not fit the bench's largest memory."""
    return not s.chain or bench_addr_w(int(mm["dram"]["words"])) > MAX_ADDR_W


def _bench_words(mm: dict[str, Any], s: RunSettings) -> tuple[int, str]:
    """The words the bench's memory must hold, and what needs them (for the refusal)."""
    if not _in_windows(mm, s):
        return int(mm["dram"]["words"]), f"the memory image of {s.model}"
    windows = {e["name"]: layer_window(mm, e["name"])[1] for e in mm["layers"]}
    name = max(windows, key=lambda n: windows[n])
    return windows[name], f"layer {name} of {s.model} (its segments, loaded alone)"


def _memory_map(image: Image) -> dict[str, Any]:
    mm: dict[str, Any] = json.loads((image[0] / "image" / "memory_map.json").read_text())
    return mm
