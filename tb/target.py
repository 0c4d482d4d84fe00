"""Targets: what int8sim needs to know about one accelerator (docs/targets.md).

A target is a frozen record (Target): its Verilog (an HdlBench: sources with the harness last, top,
include folders; its builds kept under its own folder), the memory layout of each segment of a
layer it runs (hexgen TargetSegments built from hexgen Layouts, or the reason it cannot run the
layer), the word width of its memory, and a cocotb driver module that programs one layer, starts
it, waits for done or error and gives the memory back. A target lives in a file of its own that
defines TARGET; `make sim TARGET=<name>` takes a shipped one (targets/<name>/target.py) and
`TARGET=path/to/target.py` the user's, outside this checkout, with no edit of int8sim.

The driver module (Target.driver, a path) is imported inside the simulator process and gives:
    async def setup(dut, dram_words: list[int], word_bits: int) -> handle
    async def run_layer(handle, layer: dict, bases: dict[str, int], watchdog_cycles: int) -> dict
        {"status": "done" | "error" | "watchdog", "reason": str, "cycles": int, "bench_cycles": int,
         optional: "writes": [(sim time in ps, byte address, bytes), ...], "start_ps": int, "period_ps": int}
    async def check_reset(handle) -> list[str]   (optional) its registers right after reset against their
        documented values: one line a wrong one (make sim runs it first; a wrong one FAILs every layer)
    def read_words(handle, base_byte: int, n: int) -> list[int]
    def write_words(handle, base_byte: int, words: list[int]) -> None
`layer` is the layer's memory-map entry (hexgen.target: golden's record and the segments), `bases`
each segment's byte address. "writes" (optional): the memory writes the accelerator made during the
layer, "start_ps" the time of the clock edge that took start, "period_ps" the clock period; from them
tb.target_bench gives each output word the cycle from start of the last write that covered it (the
diagnosis's "where" table, SIM=both) and its time (the marker of the waves of a failing layer).

How a run is prepared, built and read back is the target's Flow: tb.target_flow.DriverFlow (the
default) does it for every target with a driver; our engine, whose bench and memory plan are its own,
brings tb.engine.engine_flow.EngineFlow. Either way tb.layer_sim runs it on one path: the choice of layers,
UNSUPP rows, the two X seeds, the resumption after a stop, the diagnosis and failure bundle, waves
and the result table are the framework's, the same for every target.
"""
from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tb.sim import HdlBench, SimError

ROOT = Path(__file__).resolve().parent.parent
#: The shipped targets: targets/<name>/target.py, each defining TARGET
SHIPPED = ROOT / "targets"
#: Our own engine: the default target, shipped as targets/engine/target.py (its flow is tb.engine.engine_flow:
#: images planned by hexgen.plan, its bench tb/engine/test_layers.py)
ENGINE = "engine"

#: the make sim settings a flow may take beyond MODEL, SIM, SEED and LAYER (RunSettings fields)
OPTIONS = ("waves", "hw", "mem_stall", "mem_latency", "chain", "csr", "reset")


class Flow:
    """How tb.layer_sim prepares, builds and reads back one target's run. Subclasses give each step."""

    #: the settings of OPTIONS this flow takes; any other one asked for is refused with one line
    options: frozenset[str] = frozenset()

    def image(self, target: "Target", s: Any) -> tuple[Path, list[dict[str, Any]], int]:
        """(cache folder with image/, layers.json and net.pkl; every layer of the network with whether
        the target runs it and why not; the test image's index) for the run's settings."""
        raise NotImplementedError

    def build(self, target: "Target", s: Any, image: tuple[Path, list[dict[str, Any]], int], waves: bool) -> Path:
        """The simulator build that runs the job (reused while its sources are unchanged)."""
        raise NotImplementedError

    def job(self, target: "Target", s: Any, image: tuple[Path, list[dict[str, Any]], int], to_run: list[str]) -> dict[str, Any]:
        """The job's own fields; "bench": [cocotb test module, HDL top, the variable naming the job file]."""
        raise NotImplementedError

    def layer_costs(self, target: "Target", s: Any, image: tuple[Path, list[dict[str, Any]], int], layers: list[str]) -> dict[str, float]:
        """Each layer's work, in any unit: the run splits its layers into jobs of near-equal cost
        (tb.jobs.balance). Default: its MACs and the elements it reads and writes."""
        def elements(shape: list[int]) -> int:
            n = 1
            for d in shape:
                n *= int(d)
            return n

        by_name = {l["name"]: l for l in image[1]}
        return {n: float(by_name[n]["macs"] + elements(by_name[n]["in_shape"]) + elements(by_name[n]["out_shape"])) for n in layers}

    def finish(self, target: "Target", s: Any, image: tuple[Path, list[dict[str, Any]], int], results: list[dict[str, Any]]) -> None:
        """After the verdicts: what the target adds to each row (budgets, coverage). May FAIL a PASS."""

    def save_waves(self, target: "Target", rdir: Path, layers: list[str], widths: dict[str, int], dest: Path) -> str:
        """The run's dump and its GTKWave save file (tb.waves.save_waves: the target's signal groups)."""
        from tb.waves import save_waves

        return save_waves(rdir, layers, widths, dest=dest, top=target.bench.top, groups=target.signal_groups)

    def failure_waves(self, target: "Target", r: dict[str, Any], rb: Any, dump: Path, widths: dict[str, int],
                      dest: Path) -> tuple[str, dict[str, int | None] | None]:
        """A failing layer's waveform and save file into its bundle folder (r["waves"]), the marker at
        its first wrong element's write: (a line for the report, the RTL's requantizer stages or None)."""
        from tb.failure import target_waves

        return target_waves(r, rb, dump, widths, dest, target.bench.top, target.signal_groups), None


@dataclass(frozen=True, kw_only=True)
class Target:
    """One accelerator, as int8sim needs to know it."""

    name: str
    summary: str  # one line for `make targets`
    bench: HdlBench  # its Verilog; bench.root is where its builds go (under its own folder)
    driver: Path  # the cocotb driver module (see the module's docstring)
    segments: Callable[[Any, Any], Mapping[str, Any] | str] | None  # (network, layer) -> {segment: TargetSegment} or why not
    word_bits: int  # the memory's word width (hexgen packs the image in these words)
    parameters: Mapping[str, int] = field(default_factory=dict)  # its build parameters
    build_args: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # per simulator, after tb.sim's own
    folder: Path = ROOT  # where the target's files are (its builds: folder/build)
    #: optional: the layer's cycles as the target's designers expect them ((network, layer) -> cycles):
    #: a PASS whose cycles are off by more than budget_slack either way becomes a FAIL (tb.budget)
    cycle_model: Callable[[Any, Any], int] | None = None
    budget_slack: float = 0.10
    #: optional: GTKWave groups for waves, (title, [(signal path under the harness top, format)])
    signal_groups: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    macs_per_cycle: int = 1  # the MACs it can do a cycle: a layer's utilisation is MACs / (cycles x this)
    lanes: int = 1  # channels it computes side by side: coverage's channel and pixel bins are measured against it
    flow: Flow | None = None  # None: tb.target_flow.DriverFlow (a driver and Target.segments)

    def check(self, where: str) -> None:
        """What a broken target file gives: one line naming the file and the field."""
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", self.name):
            raise SimError(f"{where}: TARGET.name {self.name!r}: a letter, then letters, digits, _ . -")
        if self.word_bits not in (8, 16, 32, 64, 128, 256, 512):
            raise SimError(f"{where}: TARGET.word_bits {self.word_bits}: 8, 16, 32, ... 512")
        for p in (*self.bench.sources, *self.bench.includes, self.driver):
            if not Path(p).exists():
                raise SimError(f"{where}: {p} does not exist (named by TARGET)")
        if self.flow is None and not callable(self.segments):
            raise SimError(f"{where}: TARGET.segments must be a function (network, layer) -> segments or a reason")
        if self.cycle_model is not None and not callable(self.cycle_model):
            raise SimError(f"{where}: TARGET.cycle_model must be a function (network, layer) -> cycles")
        if not 0 < self.budget_slack < 1:
            raise SimError(f"{where}: TARGET.budget_slack {self.budget_slack}: a fraction between 0 and 1")
        if self.macs_per_cycle < 1 or self.lanes < 1:
            raise SimError(f"{where}: TARGET.macs_per_cycle {self.macs_per_cycle}, lanes {self.lanes}: at least 1 each")
        for title, signals in self.signal_groups:
            if not isinstance(title, str) or any(not isinstance(p, str) or fmt not in WAVE_FORMATS for p, fmt in signals):
                raise SimError(f"{where}: TARGET.signal_groups {title!r}: (title, ((path, format), ...)) with a format "
                               f"of {', '.join(WAVE_FORMATS)}")

    @property
    def run_flow(self) -> Flow:
        if self.flow is not None:
            return self.flow
        from tb.target_flow import DriverFlow

        return DriverFlow()


#: the display formats of a signal in a GTKWave group (tb.waves)
WAVE_FORMATS = ("bin", "dec", "hex", "signed")


def target_file(spec: str) -> Path:
    """The file of a target: a shipped name (targets/<name>/target.py) or a path to a .py file."""
    if spec.endswith(".py") or "/" in spec:
        return Path(spec).expanduser().resolve()
    return SHIPPED / spec / "target.py"


def shipped_names() -> list[str]:
    """The shipped targets, the engine first."""
    return [ENGINE] + sorted(p.parent.name for p in SHIPPED.glob("*/target.py") if p.parent.name != ENGINE)


def load_target(spec: str) -> Target:
    """The Target a TARGET= names (our engine for "" or "engine"). A missing or broken target file
    is one SimError line naming it (exit 2 through golden.cli)."""
    path = target_file(spec or ENGINE)
    spec = spec or ENGINE
    if spec == ENGINE and not path.is_file():  # an installed tb/ without the checkout's Verilog and targets
        from tb.sim import require_checkout

        require_checkout()
    if not path.is_file():
        known = ", ".join(shipped_names())
        raise SimError(f"TARGET={spec}: no such target ({path} does not exist); shipped: {known}, or a path to target.py")
    mod_name = f"int8sim_target_{re.sub(r'[^A-Za-z0-9_]', '_', str(path))}"
    spec_obj = importlib.util.spec_from_file_location(mod_name, path)
    if spec_obj is None or spec_obj.loader is None:
        raise SimError(f"TARGET={spec}: {path} cannot be imported as Python")
    mod = importlib.util.module_from_spec(spec_obj)
    sys.modules[mod_name] = mod  # dataclasses look their module up
    # a user's target imports the files beside it; a shipped one its package (targets.<name>)
    for folder in (path.parent, ROOT) if path.is_relative_to(SHIPPED) else (path.parent,):
        if str(folder) not in sys.path:
            sys.path.append(str(folder))
    try:
        spec_obj.loader.exec_module(mod)
    except SimError:
        raise
    except (Exception, SystemExit) as exc:  # the user's file: its error, in one line
        del sys.modules[mod_name]
        raise SimError(f"TARGET={spec}: {path} failed to import: {type(exc).__name__}: {exc}") from None
    target = getattr(mod, "TARGET", None)
    if not isinstance(target, Target):
        raise SimError(f"TARGET={spec}: {path} defines no TARGET = tb.target.Target(...)")
    target.check(f"TARGET={spec}: {path}")
    if target.name == ENGINE and path != SHIPPED / ENGINE / "target.py":
        raise SimError(f"TARGET={spec}: {path}: TARGET.name {ENGINE!r} is int8sim's own engine; name yours otherwise")
    return target


def summary_lines() -> list[str]:
    """`make targets`: one line a target, name first."""
    lines = []
    for name in shipped_names():
        try:
            text = load_target(name).summary
        except SimError as exc:
            text = f"(broken: {exc})"
        lines.append(f"{name:12s} {text}")
    return lines


def main(argv: list[str] | None = None) -> int:
    print("\n".join(summary_lines()))
    return 0


if __name__ == "__main__":  # `make targets`; through the imported module, whose Target the files use
    from golden.cli import run_cli
    from tb import target as _target

    sys.exit(run_cli("targets", _target.main))
