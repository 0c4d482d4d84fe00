"""A local build and run of pwfc's harness with cocotb's runner (until the framework's target API
takes over): one build folder per simulator and define set under build/targets/pwfc/, reused while
its sources and arguments are unchanged, made under the same per-simulator lock as tb.sim's builds."""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tb.sim import ICARUS_ARGS, VERILATOR_ARGS, runner_for, xrand_plusargs
from tb.toolchain import SIM_PROCESS_ENV, apply_simulator_env

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BUILD = ROOT / "build" / "targets" / "pwfc"
TOP = "pwfc_tb"
SOURCES = [HERE / "rtl" / f"{m}.sv" for m in ("pwfc_regs", "pwfc_requant", "pwfc_core", "pwfc_axi_master", "pwfc_top")]
SOURCES.append(HERE / "hdl" / "pwfc_tb.sv")


def build(sim: str, defines: Sequence[str] = (), waves: bool = False) -> Path:
    apply_simulator_env()
    args = [*(VERILATOR_ARGS if sim == "verilator" else ICARUS_ARGS), *(f"-D{d}" for d in defines)]
    h = hashlib.sha256(repr((sim, args, waves)).encode())
    for p in [*SOURCES, HERE / "rtl" / "pwfc_regs.svh"]:
        h.update(p.read_bytes())
    key = h.hexdigest()
    bdir = BUILD / (sim + "".join(f"-{d.lower()}" for d in defines) + ("-waves" if waves else ""))
    lock = ROOT / "build" / "sim" / f".build-{sim}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        if (bdir / ".stamp").is_file() and (bdir / ".stamp").read_text() == key:
            return bdir
        tmp = bdir.parent / f".{bdir.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        runner_for(sim).build(sources=[str(s) for s in SOURCES], includes=[str(HERE / "rtl")], hdl_toplevel=TOP,
                              build_dir=str(tmp), build_args=args, always=True, timescale=("1ns", "1ps"), waves=waves,
                              log_file=str(BUILD / f"{bdir.name}.build.log"))
        (tmp / ".stamp").write_text(key)
        shutil.rmtree(bdir, ignore_errors=True)
        tmp.rename(bdir)
    return bdir


def run(sim: str, bdir: Path, env: Mapping[str, str], plusargs: Sequence[str] = (), name: str = "run",
        waves: bool = False) -> Path:
    """Run targets/pwfc/bench.py on a build; the results XML's path."""
    tdir = BUILD / "runs" / f"{bdir.name}-{name}"
    extra = list(plusargs) + (xrand_plusargs(1) if sim == "verilator" else [])
    if waves and sim == "icarus":  # the dump file named at build time lay in the build's temporary folder
        extra.append(f"+dumpfile_path={tdir / (TOP + '.fst')}")
    return runner_for(sim).test(test_module="targets.pwfc.bench", hdl_toplevel=TOP, hdl_toplevel_lang="verilog",
                                build_dir=str(bdir), test_dir=str(tdir),
                                extra_env={"PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path]), **SIM_PROCESS_ENV, **env}, plusargs=extra,
                                waves=waves)
