"""Every module's parameter checks at their edges (issue 13 item 1): each legal extreme elaborates
and runs its initial blocks without an error, and the first illegal value on each side stops with
the module's own message naming the parameter. Icarus elaborates the module alone as the root
(-s, -P); a check that stopped rejecting, or that rejects a legal extreme (MAX_BURST = 255), fails
here in the fast suite."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tb.sim import CHECKERS

ROOT = Path(__file__).resolve().parent.parent
RTL = ROOT / "rtl"

#: one byte a memory word: the smallest buffers per word
BYTE_WORDS = {"ROWS": 1, "WORD_BITS": 8}
#: a value that sizes a vector or array to zero cannot elaborate: no initial block runs to say so,
#: the elaboration itself must fail
ELAB = "elaboration"
#: module -> [(parameters, None for legal, ELAB, or the parameter the module's message must name)]
CASES: dict[str, list[tuple[dict[str, int], str | None]]] = {
    "mem_loader": [({"MAX_BURST": 1, "MAX_OUTSTANDING": 1, "LEN_W": 1}, None), ({"MAX_BURST": 255, "LEN_W": 32}, None),
                   ({"MAX_BURST": 0}, "MAX_BURST"), ({"MAX_BURST": 256}, "MAX_BURST"),
                   ({"MAX_OUTSTANDING": 0}, "MAX_OUTSTANDING"), ({"LEN_W": 0}, ELAB), ({"LEN_W": 33}, "LEN_W")],
    "burst_reader": [({"MAX_BURST": 1, "DEPTH": 2}, None), ({"MAX_BURST": 255}, None), ({"MAX_BURST": 0}, "MAX_BURST"),
                     ({"MAX_BURST": 256}, "MAX_BURST"), ({"DEPTH": 1}, "DEPTH"), ({"DEPTH": 6}, "DEPTH"),
                     ({"BUF_AW": 1}, None), ({"BUF_AW": 31}, None), ({"BUF_AW": 0}, ELAB), ({"BUF_AW": 32}, "BUF_AW = 32")],
    "out_writer": [({"MAX_BURST": 1}, None), ({"MAX_BURST": 255}, None), ({"MAX_BURST": 0}, ELAB),
                   ({"MAX_BURST": 256}, "MAX_BURST")],
    "vec_unit": [({"ROWS": 1, "MAX_BURST": 1, "ADDR_W": 1}, None), ({"MAX_BURST": 255, "ADDR_W": 32}, None),
                 ({"ROWS": 0}, ELAB), ({"MAX_BURST": 0}, ELAB), ({"MAX_BURST": 256}, "MAX_BURST"),
                 ({"ADDR_W": 0}, ELAB), ({"ADDR_W": 33}, "ADDR_W")],
    "ext_mem_model": [({"FIFO_DEPTH": 2}, None), ({"FIFO_DEPTH": 1}, "FIFO_DEPTH"), ({"FIFO_DEPTH": 3}, "FIFO_DEPTH")],
    "mac_array": [({"ROWS": 1, "COLS": 1}, None), ({"ROWS": 0}, ELAB), ({"COLS": 0}, ELAB)],
    "requant": [({"LANES": 1}, None), ({"LANES": 0}, "LANES")],
    "add_lanes": [({"LANES": 1}, None), ({"LANES": 0}, "LANES")],
    # the transformer's units (issue 28 item 3): a table entry of 1..32 bits
    "lut_lanes": [({"LANES": 1, "W": 1}, None), ({"W": 32}, None), ({"LANES": 0}, "LANES"), ({"W": 0}, ELAB), ({"W": 33}, "W = 33"),
                  ({"WR": 256}, None), ({"WR": 0}, "WR = 0"), ({"WR": 257}, "WR = 257")],
    "softmax_unit": [({"LANES": 1}, None), ({"LANES": 0}, "LANES")],
    "layernorm_unit": [({"LANES": 1}, None), ({"LANES": 0}, "LANES")],
    # the row unit: the exp table lands in the staging buffer (1024 / ROWS words), ROWS a multiple of 4
    "row_unit": [({"ROWS": 4, "MAX_BURST": 1, "ADDR_W": 1, "LN_TILES": 1}, None),
                 ({"ROWS": 16, "MAX_BURST": 255, "ADDR_W": 32, "ROW_WORDS": 64}, None),
                 ({"ROWS": 16, "ROW_WORDS": 63}, "ROW_WORDS = 63"), ({"ROWS": 4, "ROW_WORDS": 255}, "ROW_WORDS = 255"),
                 ({"ROWS": 6}, "ROWS = 6"), ({"ROWS": 0}, ELAB), ({"MAX_BURST": 0}, ELAB),
                 ({"MAX_BURST": 256}, "MAX_BURST = 256"), ({"ADDR_W": 33}, "ADDR_W = 33"), ({"LN_TILES": 0}, ELAB)],
    "band_seq": [({"REC_WPK": 1}, None), ({"REC_WPK": 0}, "REC_WPK")],
    # the weight transposer: a word is one ROWS-byte vector
    "wgt_transpose": [({"ROWS": 1, "WORD_BITS": 8, "AW": 1}, None), ({"ROWS": 16, "WORD_BITS": 128}, None),
                      ({"ROWS": 4, "WORD_BITS": 64}, "WORD_BITS = 64 must be ROWS * 8 = 32"), ({"AW": 0}, ELAB)],
    "load_seq": [({"ROWS": 1, "REC_WPK": 1, "WGT_WORDS": 1, "BUF_AW": 16}, None), ({"ROWS": 0}, "ROWS"), ({"REC_WPK": 0}, "REC_WPK"),
                 ({"WGT_WORDS": 0}, "WGT_WORDS"), ({"BUF_AW": 15}, "BUF_AW")],
    # the weight widths a build unpacks: 8, 4 and 2 bits only, at least one
    "wgt_unpack": [({"ROWS": 4, "WORD_BITS": 32, "WGT_WIDTHS": 0x4}, None), ({"WGT_WIDTHS": 0x108}, "WGT_WIDTHS = 'h108"),
                   ({"WGT_WIDTHS": 0}, "WGT_WIDTHS = 'h0"), ({"ROWS": 4, "WORD_BITS": 64}, "WORD_BITS = 64 must be ROWS * 8 = 32")],
    "compute_issue": [({"ROWS": 4, "WORD_BITS": 32}, None), ({"ROWS": 4, "WORD_BITS": 40}, "WORD_BITS = 40 must be ROWS * 8 = 32"),
                      ({"COLS": 1, "WGT_WORDS": 1}, None), ({"COLS": 0}, "COLS"), ({"WGT_WORDS": 3}, "WGT_WORDS")],
    "drain_requant": [({"ROWS": 4, "WORD_BITS": 32}, None), ({"ROWS": 4, "WORD_BITS": 40}, "WORD_BITS = 40 must be ROWS * 8 = 32"),
                      # the record buffers at exactly one k_tile's records (8 words), and one short
                      ({"ROWS": 4, "WORD_BITS": 32, "REC_WORDS": 8}, None),
                      ({"ROWS": 4, "WORD_BITS": 32, "REC_WORDS": 4}, "ROWS * 64 = 256 must be a multiple of WORD_BITS = 32 and "
                                                                      "REC_WORDS = 4 hold one k_tile's records (8 words)")],
    "gather": [({"ROWS": 4, "WORD_BITS": 32}, None), ({"ROWS": 4, "WORD_BITS": 40}, "WORD_BITS = 40 must be ROWS * 8 = 32"),
               ({"COLS": 8, "ACT_WORDS": 8}, None), ({"ACT_WORDS": 3000}, "ACT_WORDS"), ({"COLS": 8, "ACT_WORDS": 4}, "ACT_WORDS"),
               ({"COLS": 1, "ACT_WORDS": 2}, None), ({"COLS": 3, "ACT_WORDS": 8}, "COLS = 3")],
    "desc_check": [({"ROWS": 1, "MAX_K": 1, "WORD_BITS": 64}, None), ({"ROWS": 0}, "ROWS"), ({"MAX_K": 0}, "MAX_K"),
                   ({"ROWS": 8, "WORD_BITS": 48}, "WORD_BITS")],
    "accel_top": [({"MAX_BURST": 255, "MAX_K": 1, "ADDR_W": 32}, None), ({"ROWS": 1, "WORD_BITS": 8, "ADDR_W": 1, "MAX_BURST": 1}, None),
                  ({"MAX_BURST": 0}, ELAB),
                  ({"MAX_BURST": 256}, "MAX_BURST"), ({"ROWS": 0}, ELAB), ({"MAX_K": 0}, "MAX_K"), ({"ADDR_W": 33}, "ADDR_W"),
                  # the buffers' 2^24-word limit, at one byte a word (Icarus holds 0.5-1 GB for each)
                  ({**BYTE_WORDS, "ACT_WORDS": 2 ** 24, "WGT_WORDS": 2 ** 24, "REC_WORDS": 2 ** 24}, None),
                  ({**BYTE_WORDS, "ACT_WORDS": 2 ** 25}, "ACT_WORDS = 33554432"),
                  ({**BYTE_WORDS, "WGT_WORDS": 2 ** 25}, "WGT_WORDS = 33554432"),
                  ({**BYTE_WORDS, "REC_WORDS": 2 ** 25}, "REC_WORDS = 33554432")],
}


#: the modules a module instantiates (the rest are leaves); accel_top takes every file
USES = {"out_writer": ["mem_loader"], "vec_unit": ["add_lanes", "lut_lanes"], "softmax_unit": ["lut_lanes"],
        "row_unit": ["softmax_unit", "layernorm_unit", "lut_lanes"], "drain_requant": ["requant"], "compute_issue": ["wgt_unpack"]}


def _run(module: str, params: dict[str, int], tmp: Path) -> tuple[bool, str]:
    """(elaborated, output of the run or of the failed elaboration)."""
    exe = tmp / f"{module}.vvp"
    files = (sorted(RTL.glob("*.sv")) if module == "accel_top"
             else [*CHECKERS, *(RTL / f"{m}.sv" for m in [module, *USES.get(module, [])])])
    build = subprocess.run(["iverilog", "-g2012", f"-I{RTL}", "-s", module, *[f"-P{module}.{k}={v}" for k, v in params.items()],
                            "-o", str(exe), *map(str, files)], capture_output=True, text=True, timeout=120)
    if build.returncode != 0:
        return False, build.stdout + build.stderr
    run = subprocess.run(["vvp", "-n", str(exe)], capture_output=True, text=True, timeout=60)
    return True, run.stdout + run.stderr


def _id(v: object) -> str:
    """A node id without spaces (make mutate reruns the ids that killed mutants first)."""
    return "".join(c if c.isalnum() or c in "_=" else "_" for c in str(v))[:40]


@pytest.mark.parametrize("module, params, refused", [(m, p, r) for m, cases in CASES.items() for p, r in cases],
                         ids=lambda v: "-".join(f"{k}{x}" for k, x in v.items()) if isinstance(v, dict) else _id(v))
def test_parameter_extremes(module: str, params: dict[str, int], refused: str | None, tmp_path: Path) -> None:
    built, out = _run(module, params, tmp_path)
    if refused is None:
        assert built and "ERROR" not in out and "error" not in out.lower(), out
    elif refused == ELAB:
        assert not built and "greater than zero" in out, out
    else:
        # the module's own check (its scope is the root: "<module>: ..."), not only a submodule's
        mine = [l for l in out.splitlines() if l.startswith("ERROR") and f": {module}: " in l]
        assert built and mine and refused in mine[0].split(f": {module}: ", 1)[1], out
