"""`make lint`: every Verilog module under rtl/ and tb/engine/hdl/ (and under each shipped target's
targets/<name>/rtl and hdl, with its own folders) through `verilator --lint-only -Wall`
and through Icarus Verilog 11 (`iverilog -g2012 -Wall`), each file's module as the top; the modules
it instantiates are found by name in rtl/ and tb/engine/hdl/ (-y), includes in rtl/ (-I), so one broken
file fails its own lint and that of its users only.

Any warning or error fails (exit status 1), Icarus "sorry" messages included.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from golden.cli import run_cli
from tb.sim import SimError, require_checkout
from tb.toolchain import simulator_env

ROOT = Path(__file__).resolve().parent.parent
#: The folders whose modules see each other (-y, -I): ours, and each shipped target's (targets/<name>/rtl, hdl)
GROUPS: list[tuple[Path, ...]] = [(ROOT / "rtl", ROOT / "tb" / "engine" / "hdl")] + [
    tuple(d for d in (t / "rtl", t / "hdl") if d.is_dir()) for t in sorted((ROOT / "targets").glob("*")) if (t / "rtl").is_dir()]
SOURCES = [src for group in GROUPS for folder in group for src in sorted(folder.glob("*.sv"))]


def _group(src: Path) -> tuple[Path, ...]:
    return next(g for g in GROUPS if src.parent in g)
#: Extra parameter sets linted besides the defaults (edge sizes: one lane, 1x1 array, non-square).
LINT_PARAMS: dict[str, list[dict[str, int]]] = {
    "requant": [{"LANES": 1}],
    "mac_array": [{"ROWS": 1, "COLS": 1}, {"ROWS": 3, "COLS": 5}, {"ROWS": 8, "COLS": 8}],
    "mem_loader": [{"DATA_W": 64, "MAX_BURST": 1, "MAX_OUTSTANDING": 1}, {"LEN_W": 8, "MAX_BURST": 255, "BUF_AW": 4},
                   {"LEN_W": 4, "MAX_BURST": 16, "MAX_OUTSTANDING": 4}],
    "burst_reader": [{"MAX_BURST": 1, "DEPTH": 2}, {"DATA_W": 64, "MAX_BURST": 255, "TAG_W": 1}, {"BUF_AW": 20}],
    "gather": [{"ROWS": 4, "COLS": 8, "WORD_BITS": 32, "ACT_WORDS": 64, "PIX_W": 16},
               {"ROWS": 16, "COLS": 16, "WORD_BITS": 128, "PIX_W": 32}],
    "compute_issue": [{"ROWS": 4, "COLS": 8, "WORD_BITS": 32, "WGT_WORDS": 1}, {"ROWS": 16, "COLS": 16, "WORD_BITS": 128},
                      {"WGT_WIDTHS": 0x100}],
    # builds that unpack fewer weight widths (hexgen's weight_bits): 8-bit only, 4-bit only, 2 and 8
    "wgt_unpack": [{"ROWS": 4, "WORD_BITS": 32, "WGT_WIDTHS": 0x100}, {"ROWS": 16, "WORD_BITS": 128, "WGT_WIDTHS": 0x10},
                   {"WGT_WIDTHS": 0x104}],
    # the transposer at the presets' other array sizes, and one row (a block of one word)
    "wgt_transpose": [{"ROWS": 1, "WORD_BITS": 8, "AW": 1}, {"ROWS": 4, "WORD_BITS": 32}, {"ROWS": 16, "WORD_BITS": 128}],
    "drain_requant": [{"ROWS": 4, "WORD_BITS": 32, "REC_WORDS": 8, "PIX_W": 16},
                      {"ROWS": 16, "WORD_BITS": 128, "REC_WORDS": 1024, "PIX_W": 32}],
    # the pixel counters' widths at both ends (the description's pixel_bits; default 24)
    "band_seq": [{"PIX_W": 16}, {"PIX_W": 32}],
    "desc_check": [{"PIX_W": 16}, {"PIX_W": 32}],
    "ext_mem_model": [{"ADDR_W": 4, "FIFO_DEPTH": 2}, {"DATA_W": 64, "FIFO_DEPTH": 16}],
    # the row unit at its other word widths: one table entry a word (and the table filling IB), four
    "row_unit": [{"ROWS": 4, "MAX_BURST": 1, "LN_TILES": 1}, {"ROWS": 16, "ADDR_W": 32, "MAX_BURST": 5, "ROW_WORDS": 64}],
}


def lint(hw: str | None = None) -> list[str]:
    """Every module with its defaults and LINT_PARAMS; with `hw` (a hexgen.hw preset or path.json),
    accel_top and the layer bench also with that description's sizes."""
    from hexgen.hw import DEFAULT, load_hw, rtl_parameters

    extra: dict[str, list[dict[str, int]]] = {}
    if hw and hw != DEFAULT:
        sizes = rtl_parameters(load_hw(hw))
        extra = {"accel_top": [sizes], "accel_tb": [sizes]}
    env = simulator_env()
    problems: list[str] = []
    for src in SOURCES:
        group = [str(d.relative_to(ROOT)) for d in _group(src)]
        vsearch = [f"-I{group[0]}", *(a for d in reversed(group) for a in ("-y", d))]
        isearch = [f"-I{group[0]}", *(f"-y{d}" for d in reversed(group))]
        top = src.stem
        before = len(problems)
        for params in [{}] + LINT_PARAMS.get(top, []) + extra.get(top, []):
            gflags = [f"-G{k}={v}" for k, v in params.items()]
            cmd = ["verilator", "--lint-only", "-Wall", *vsearch, "+libext+.sv", "--top-module", top, *gflags,
                   str(src.relative_to(ROOT))]
            r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
            out = "\n".join(l for l in (r.stdout + r.stderr).splitlines() if not l.startswith("- V") and "Verilator:" not in l)
            if r.returncode or "%Warning" in out or "%Error" in out:
                problems.append(f"verilator {top} {params or 'defaults'}:\n{out}")
        with tempfile.TemporaryDirectory() as tmp:
            cmd = ["iverilog", "-g2012", "-Wall", "-Wno-timescale", *isearch, "-Y.sv", "-o", f"{tmp}/a.vvp", "-s", top,
                   str(src.relative_to(ROOT))]
            r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        out = (r.stdout + r.stderr).strip()
        if r.returncode or out:
            problems.append(f"iverilog {top}:\n{out}")
        print(f"lint {top}: {'ok' if len(problems) == before else 'FAIL'}")
    return problems


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m tb.lint", description=__doc__)
    p.add_argument("--hw", default="default", help="also lint accel_top and the bench with this hardware description")
    a = p.parse_args(argv)
    require_checkout()
    if not SOURCES:  # never "0 modules, 0 problems": linting nothing is not a pass
        raise SimError(f"lint: no Verilog modules under {ROOT / 'rtl'} or {ROOT / 'tb' / 'hdl'}")
    problems = lint(a.hw)
    for p in problems:
        print(p)
    print(f"lint: {len(SOURCES)} modules, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(run_cli("lint", main))
