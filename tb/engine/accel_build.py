"""The layer bench's simulator build (tb/engine/hdl/accel_tb.sv around accel_top): its parameters from
the hardware description, the engine's own refusal of sizes it cannot run (before any build), the
memory model's address width from the image's size, and the simulator-specific arguments. One
build serves every layer of every model; tb.sim.build reuses it while the RTL is unchanged.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tb.sim import SimError
from tb.toolchain import fst_available

ROOT = Path(__file__).resolve().parent.parent.parent
RTL = ROOT / "rtl"
TB_HDL = ROOT / "tb" / "engine" / "hdl"
ADDR_W = 18  # word-address width of the bench's external memory model (a build parameter of accel_tb), at least
#: A layer whose window (hexgen.image.layer_window; a chained run: the whole image) is larger gets a
#: bench whose memory is the next power of two, up to 2^MAX_ADDR_W
#: words (a build of its own, kept beside the default one): 4M words of 128 bits is 64 MiB.
MAX_ADDR_W = 22


def bench_addr_w(words: int) -> int:
    """The bench memory's address width for `words` words in memory at once."""
    return max(ADDR_W, (max(words, 1) - 1).bit_length())


def build_accel(sim: str, *, waves: bool = False, defines: tuple[str, ...] = (), hw: str | None = None,
                addr_w: int = ADDR_W) -> Path:
    """Build (or reuse, tb.sim.build) the layer bench for `sim`; one build serves every layer of
    every model. `defines` build a variant for the mutation tests (MUT_SELECT: faults chosen at run time by
    plusargs, e.g. +MUT_ROUND; MUT_ZBIT, MUT_UNDRIVEN: faults a Verilator build must refuse).
    `hw` names the hardware description (hexgen.hw preset or path.json): its sizes are the
    build's parameters (those of the default preset are the RTL's own defaults, rtl/accel_hw.svh).

    HDL_CLOCK: the bench makes its own clock, so no Python (or VPI) call happens per clock edge;
    Verilator then needs --timing. cocotb makes every signal public (--public-flat-rw), which costs
    Verilator most of its optimisation (measured: 4-8x slower than the same RTL in a plain harness);
    accel_tb.vlt makes only the bench top public. Waveform builds keep every signal visible."""
    from hexgen.hw import DEFAULT, PRESETS, load_hw, rtl_parameters
    from tb.sim import build

    sizes = rtl_parameters(load_hw(hw))
    defaults = rtl_parameters(PRESETS[DEFAULT])
    params: dict[str, object] = {"ADDR_W": addr_w, **{k: v for k, v in sizes.items() if v != defaults[k]}}
    if len(params) > 1:
        refuse_parameters(hw or DEFAULT, sizes)
    args = accel_build_args(sim, waves=waves, defines=defines)
    variant = ("-waves" if waves else "") + "".join("-" + d.lower() for d in defines)
    t0 = time.time()
    bdir = build("accel", sim, params, extra_args=args, waves=waves, variant=variant)
    if time.time() - t0 > 2:
        print(f"sim: built the accelerator for {sim} in {time.time() - t0:.1f} s (reused while the RTL is unchanged)", flush=True)
    return bdir


def accel_build_args(sim: str, *, waves: bool = False, defines: tuple[str, ...] = ()) -> list[str]:
    """The layer bench's own build arguments (after tb.sim's common ones). cocotb's Verilator runner
    adds --vpi --public-flat-rw itself; without waves, accel_tb.vlt narrows that to the bench top."""
    args = ["-DHDL_CLOCK", *(f"-D{d}" for d in defines)]
    if sim == "verilator":
        # --timing; and VL_USER_FINISH: tb/engine/hdl/verilator_main.cpp's quiet vl_finish (no stray line)
        args += ["--timing", "-CFLAGS", "-DVL_USER_FINISH"]
        if not waves:
            args += ["--no-public-flat-rw", str(TB_HDL / "accel_tb.vlt")]
        elif fst_available():  # FST: a whole layer's dump stays small (VCD without the lz4 headers)
            args.append("--trace-fst")
    return args


def refuse_parameters(hw: str, sizes: dict[str, int]) -> None:
    """The RTL's own parameter checks (accel_top's initial block), run before a build: Icarus
    elaborates accel_top with these sizes (about a second) and a refusal becomes one error line
    naming the preset, instead of a simulation that stops at time 0. Once per sizes and process."""
    key = (hw, tuple(sorted(sizes.items())))
    if key in _ACCEPTED:
        return
    _refuse_parameters(hw, sizes)
    _ACCEPTED.add(key)


_ACCEPTED: set[tuple[str, tuple[tuple[str, int], ...]]] = set()


def _refuse_parameters(hw: str, sizes: dict[str, int]) -> None:
    import subprocess

    from tb.sim import ACCEL_RTL

    srcs = [str(f) for f in ACCEL_RTL]
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "check.vvp"
        cmd = ["iverilog", "-g2012", f"-I{RTL}", "-s", "accel_top", *[f"-Paccel_top.{k}={v}" for k, v in sizes.items()],
               "-o", str(exe), *srcs]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise SimError(f"HW={hw}: accel_top does not elaborate with {sizes}: {r.stderr.strip().splitlines()[0]}")
        run = subprocess.run(["vvp", "-n", str(exe)], capture_output=True, text=True, timeout=60)
    for line in (run.stdout + run.stderr).splitlines():
        if "accel_top" in line and ("ERROR" in line.upper() or "must" in line):
            msg = line.split("accel_top:", 1)[-1].strip()
            raise SimError(f"HW={hw}: the engine refuses these sizes: {msg}")
