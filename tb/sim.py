"""Build and run the cocotb benches with cocotb's Python runner (both simulators).

One build directory per (block, simulator, parameter set) under build/sim/, reused while its sources,
parameters and arguments are unchanged (a content hash in `.stamp`), and guarded by a file lock so
concurrent pytest-xdist workers never build the same directory twice, never use a half-built one, and
never run two builds at once.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shlex
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from tb.toolchain import SIM_PROCESS_ENV, apply_simulator_env

ROOT = Path(__file__).resolve().parent.parent
RTL = ROOT / "rtl"
TB_HDL = ROOT / "tb" / "hdl"
BUILD = ROOT / "build" / "sim"
SIMS = ("icarus", "verilator")

#: Verilog sources of each bench top level (rtl/ first, then the harness).
BENCHES: dict[str, tuple[str, list[Path]]] = {
    "requant": ("requant_tb", [RTL / "requant.sv", TB_HDL / "requant_tb.sv"]),
    "mac_array": ("mac_array", [RTL / "mac_array.sv"]),
    "mem_loader": ("mem_loader_tb", [RTL / "mem_loader.sv", RTL / "ext_mem_model.sv", TB_HDL / "mem_loader_tb.sv"]),
    "burst_reader": ("burst_reader_tb", [RTL / "burst_reader.sv", RTL / "ext_mem_model.sv",
                                         TB_HDL / "burst_reader_tb.sv"]),
    # the layer bench (tb/layer_sim.py): the accelerator and the external memory model
    "accel": ("accel_tb", [RTL / "accel_top.sv", RTL / "mac_array.sv", RTL / "requant.sv", RTL / "mem_loader.sv",
                           RTL / "burst_reader.sv",
                           RTL / "ext_mem_model.sv", TB_HDL / "accel_tb.sv"]),
}
#: Files a bench depends on besides its sources (included headers, Verilator control files).
#: Verilator main loops other than cocotb's (tb/hdl/verilator_main.cpp: quiet time slots skip the
#: VPI calls that only matter after Python has run; for the layer bench, where Python sleeps
#: through a whole layer).
BENCH_MAIN: dict[str, Path] = {"accel": TB_HDL / "verilator_main.cpp"}
BENCH_DEPS: dict[str, list[Path]] = {"accel": [RTL / "accel_csr.svh", TB_HDL / "accel_tb.vlt", TB_HDL / "verilator_main.cpp"]}

#: Arguments every Verilator build gets: assertions on (style.md), warnings printed but not fatal
#: (make lint is the place where warnings fail).
VERILATOR_ARGS = ["--assert", "-Wno-fatal", "-O3", "--x-assign", "fast", "--x-initial", "fast"]
ICARUS_ARGS = ["-g2012"]


def build_dir(block: str, sim: str, parameters: Mapping[str, object] | None = None, variant: str = "") -> Path:
    tag = "".join(f"-{k}{v}" for k, v in sorted((parameters or {}).items()))
    return BUILD / f"{block}-{sim}{tag}{variant}"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _stamp(sim: str, top: str, sources: Sequence[Path], parameters: Mapping[str, object], args: Sequence[str]) -> str:
    h = hashlib.sha256()
    h.update(repr((sim, top, sorted(parameters.items()), list(args), os.environ.get("WAVES", ""))).encode())
    for src in sources:
        h.update(str(src).encode())
        h.update(src.read_bytes())
    return h.hexdigest()


def build(
    block: str,
    sim: str,
    parameters: Mapping[str, object] | None = None,
    *,
    extra_args: Sequence[str] = (),
    waves: bool | None = None,
    variant: str = "",
) -> Path:
    """Build (or reuse) the bench of `block` for `sim`; returns its build directory.

    extra_args go to the simulator after the common ones (defines, Verilator options); a build
    with extra_args lives in its own directory, named by `variant`. waves defaults to $WAVES."""
    from cocotb_tools.runner import get_runner

    apply_simulator_env()
    params = dict(parameters or {})
    top, sources = BENCHES[block]
    bdir = build_dir(block, sim, params, variant)
    args = (VERILATOR_ARGS if sim == "verilator" else ICARUS_ARGS) + list(extra_args)
    if waves is None:
        waves = os.environ.get("WAVES", "0") == "1"
    key = _stamp(sim, top, [*sources, *BENCH_DEPS.get(block, [])], params, [*args, f"waves={waves}"])
    stamp = bdir / ".stamp"
    # One global lock: at most one simulator build at a time on the machine (two cores), and no
    # worker ever uses a half-built directory.
    with _locked(BUILD / ".build.lock"):
        if stamp.is_file() and stamp.read_text() == key and (bdir / (top if sim == "verilator" else "sim.vvp")).exists():
            return bdir
        # the cached runtime objects are built without --timing; timing builds compile their own
        cached = sim == "verilator" and "--timing" not in args
        if sim == "verilator":
            runner = _verilator_runner(touch_runtime=cached and _seed_runtime(bdir), main=BENCH_MAIN.get(block))
        else:
            runner = get_runner(sim)
        runner.build(
            sources=[str(s) for s in sources],
            includes=[str(RTL)],
            hdl_toplevel=top,
            build_dir=str(bdir),
            parameters=params,
            build_args=list(args),
            always=True,
            timescale=("1ns", "1ps"),
            waves=waves,
        )
        stamp.write_text(key)
        if cached:
            _save_runtime(bdir)
    return bdir


#: Verilator's runtime objects do not depend on the design: compiled once, copied into every new
#: Verilator build directory (with their make dependency files and times, so make keeps them).
_RUNTIME = ("verilated", "verilated_dpi", "verilated_vpi", "verilated_threads")
_RUNTIME_CACHE = BUILD / ".verilator-runtime"


def _seed_runtime(bdir: Path) -> bool:
    if not all((_RUNTIME_CACHE / f"{n}.o").is_file() for n in _RUNTIME):
        return False
    bdir.mkdir(parents=True, exist_ok=True)
    for n in _RUNTIME:
        for ext in (".o", ".d"):
            src = _RUNTIME_CACHE / (n + ext)
            if src.is_file():
                shutil.copy2(src, bdir / (n + ext))
    return True


def _verilator_runner(*, touch_runtime: bool, main: Path | None):
    """cocotb's Verilator runner with two optional changes to its build commands: touch the seeded
    runtime objects between verilating and make (verilated.mk makes them depend on the freshly
    written Vtop.mk), and compile `main` instead of cocotb's verilator.cpp (BENCH_MAIN)."""
    from cocotb_tools.runner import Verilator

    class ProjectVerilator(Verilator):
        def _build_command(self):
            cmds = super()._build_command()
            if main is not None:
                cocotb_main = [c for c in cmds[0] if c.endswith("verilator.cpp") and "cocotb" in c]
                if len(cocotb_main) != 1:
                    raise RuntimeError(f"cannot find cocotb's verilator.cpp in the build command: {cmds[0]}")
                cmds[0] = [str(main) if c == cocotb_main[0] else c for c in cmds[0]]
            if touch_runtime:
                objs = [str(Path(self.build_dir) / f"{n}.o") for n in _RUNTIME]
                cmds = [cmds[0], ["touch", *objs], *cmds[1:]]
            return cmds

    return ProjectVerilator()


def _save_runtime(bdir: Path) -> None:
    if all((_RUNTIME_CACHE / f"{n}.o").is_file() for n in _RUNTIME):
        return
    _RUNTIME_CACHE.mkdir(parents=True, exist_ok=True)
    for n in _RUNTIME:
        for ext in (".o", ".d"):
            if (bdir / (n + ext)).is_file():
                shutil.copy2(bdir / (n + ext), _RUNTIME_CACHE / (n + ext))


def run(
    block: str,
    sim: str,
    test_module: str,
    *,
    testcase: str | None = None,
    parameters: Mapping[str, object] | None = None,
    extra_env: Mapping[str, str] | None = None,
    plusargs: Sequence[str] = (),
    run_name: str | None = None,
) -> Path:
    """Run cocotb tests of `test_module` on the (reused) build; fails the calling pytest test on failure."""
    from cocotb_tools.runner import get_runner

    apply_simulator_env()
    params = dict(parameters or {})
    bdir = build(block, sim, params)
    top, _ = BENCHES[block]
    tdir = bdir / f"run-{run_name or testcase or 'all'}"
    env = {"RTL_SIM": sim, "RTL_BLOCK": block, "RTL_PARAMS": repr(sorted(params.items())), **SIM_PROCESS_ENV}
    env.update(extra_env or {})
    runner = get_runner(sim)
    return runner.test(
        test_module=test_module,
        hdl_toplevel=top,
        hdl_toplevel_lang="verilog",
        build_dir=str(bdir),
        test_dir=str(tdir),
        testcase=testcase,
        parameters=params,
        extra_env=env,
        plusargs=list(plusargs),
        waves=os.environ.get("WAVES", "0") == "1",
    )


def rerun_command(test_file: str, sim: str, seed: int, extra: str = "") -> str:
    """The shell command that reruns one bench with one seed (printed by failing benches)."""
    sel = f" -k {shlex.quote(sim + (' and ' + extra if extra else ''))}"
    return f"RTL_SEED={seed} .venv/bin/python -m pytest -o addopts='' {test_file}{sel}"
