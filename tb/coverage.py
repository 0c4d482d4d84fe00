"""Functional coverage of the layer space the engine must handle (issue 13 item 3), with
cocotb-coverage: every layer that passes in a run is sampled (tb.layer_sim, in the run's own
process: no simulator time), each process exports its coverage to build/coverage/cov-<pid>.yml,
and `python -m tb.coverage` (make coverage; pytest prints it at the end of make test) merges the
files and prints each cover point's bins with the holes.

Cover points (docs/engine.md, "Functional coverage"): kind; kernel height and width 1..7; stride
per axis 1..4; padding none / symmetric / asymmetric; input and output channels below, at, a
multiple of, and above with a remainder, the array's rows; output pixels below, at, a multiple
of, and above with a remainder, the array's columns; the bias records' shifts (0, 1-7, 8-15); outputs at the lower and the upper
clamp bound; the input and output zero points at 0, at 255 and between.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Mapping

from cocotb_coverage.coverage import CoverPoint, coverage_db, merge_coverage

ROOT = Path(__file__).resolve().parent.parent
COVERAGE = ROOT / "build" / "coverage"
TOP = "engine"

KINDS = ["conv", "pointwise", "depthwise", "fc", "add", "maxpool", "avgpool"]
FILL = ["below", "at", "multiple", "remainder"]
ZP = ["0", "255", "between"]


def _fill(n: int, size: int) -> str:
    return "below" if n < size else "at" if n == size else "multiple" if n % size == 0 else "remainder"


def _zp(z: int) -> str:
    return "0" if z == 0 else "255" if z == 255 else "between"


def features(d: Mapping[str, Any], rows: int, cols: int, r: Mapping[str, Any]) -> dict[str, Any]:
    """The cover points' values of one layer: its memory-map descriptor and its run's result."""
    ins, outs = list(d["in_shape"]), list(d["out_shape"])
    if len(ins) == 1:
        ins, outs = [ins[0], 1, 1], [outs[0], 1, 1]
    pads, pade = list(d.get("padding", [0, 0])), list(d.get("padding_end", [0, 0]))
    pad = "none" if not any(pads + pade) else "symmetric" if pads == pade else "asymmetric"
    return {"kind": d["kind"], "kh": d.get("kernel", [1, 1])[0], "kw": d.get("kernel", [1, 1])[1],
            "sy": d.get("stride", [1, 1])[0], "sx": d.get("stride", [1, 1])[1], "pad": pad,
            "in_c": _fill(ins[0], rows), "out_c": _fill(outs[0], rows), "pixels": _fill(outs[1] * outs[2], cols),
            "clamp_lo": bool(r.get("clamp_lo")), "clamp_hi": bool(r.get("clamp_hi")),
            "z_in": _zp(int(d.get("z_in", 1))), "z_out": _zp(int(d.get("z_out", 1)))}


#: (cover point, value of the features, bins)
POINTS: list[tuple[str, Any, list[Any]]] = [
    ("kind", lambda f: f["kind"], KINDS),
    ("kernel_h", lambda f: f["kh"], list(range(1, 8))),
    ("kernel_w", lambda f: f["kw"], list(range(1, 8))),
    ("stride_y", lambda f: f["sy"], list(range(1, 5))),
    ("stride_x", lambda f: f["sx"], list(range(1, 5))),
    ("padding", lambda f: f["pad"], ["none", "symmetric", "asymmetric"]),
    ("in_channels", lambda f: f["in_c"], FILL),
    ("out_channels", lambda f: f["out_c"], FILL),
    ("pixels", lambda f: f["pixels"], FILL),
    ("clamp_lo_hit", lambda f: f["clamp_lo"], [True]),
    ("clamp_hi_hit", lambda f: f["clamp_hi"], [True]),
    ("z_in", lambda f: f["z_in"], ZP),
    ("z_out", lambda f: f["z_out"], ZP),
]
SHIFTS = ["0", "1-7", "8-15"]


def _shift_bucket(v: int) -> str:
    return "0" if v == 0 else "1-7" if v < 8 else "8-15"


def _sample(f: dict[str, Any]) -> None:
    pass


for _name, _xf, _bins in POINTS:
    _sample = CoverPoint(f"{TOP}.{_name}", xf=_xf, bins=_bins)(_sample)


@CoverPoint(f"{TOP}.bias_shift", xf=lambda b: b, bins=SHIFTS)
def _sample_shift(bucket: str) -> None:
    pass


def holes(results: list[dict[str, Any]], entries: Mapping[str, Mapping[str, Any]], rows: int, cols: int) -> dict[str, list[Any]]:
    """The bins these results leave empty (on their own: not the process's coverage database)."""
    passed = [r for r in results if r.get("status") == "PASS" and r.get("layer") in entries]
    feats = [features(entries[r["layer"]]["descriptor"], rows, cols, r) for r in passed]
    out = {name: [b for b in bins if not any(xf(f) == b for f in feats)] for name, xf, bins in POINTS}
    shifts = {_shift_bucket(v) for r in passed for v in r.get("bias_shifts", [])}
    out["bias_shift"] = [b for b in SHIFTS if b not in shifts]
    return {k: v for k, v in out.items() if v}


def sample_results(results: list[dict[str, Any]], entries: Mapping[str, Mapping[str, Any]], rows: int, cols: int) -> None:
    """Sample every layer that passed, then export this process's coverage (replacing its file)."""
    passed = [r for r in results if r.get("status") == "PASS" and r.get("layer") in entries]
    for r in passed:
        _sample(features(entries[r["layer"]]["descriptor"], rows, cols, r))
        for bucket in sorted({_shift_bucket(v) for v in r.get("bias_shifts", [])}):
            _sample_shift(bucket)
    if passed:
        COVERAGE.mkdir(parents=True, exist_ok=True)
        _export(COVERAGE / f"cov-{os.getpid()}.yml")


def _export(path: Path) -> None:
    """This process's coverage to `path`, atomically: written to a hidden temporary file beside it
    (not matched by cov-*.yml) and renamed over it, so a run killed meanwhile leaves no half file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        coverage_db.export_to_yaml(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


#: The keys of every cover point in an exported file (cocotb_coverage's YAML export).
_ITEM_KEYS = ("at_least", "bins:_hits", "cover_percentage", "coverage", "size", "weight")


def damage(path: Path) -> str | None:
    """Why a coverage file is not a whole export of this module's cover points, or None: a file
    truncated by a killed run (before exports were atomic), edited, or of other cover points."""
    import yaml

    try:
        db = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot be read ({exc})"
    except yaml.YAMLError as exc:
        return f"is not YAML ({str(exc).splitlines()[0]})"
    if not isinstance(db, dict):
        return "is not a coverage database (not a mapping)"
    expected = {f"{TOP}.{name}": len(bins) for name, _, bins in POINTS} | {f"{TOP}.bias_shift": len(SHIFTS)}
    top = db.get(TOP)
    if not isinstance(top, dict) or not all(isinstance(top.get(k), int) for k in ("coverage", "size")):
        return f"has no whole {TOP!r} entry"
    for name, n_bins in sorted(expected.items()):
        item = db.get(name)
        if not isinstance(item, dict):
            return f"has no cover point {name}"
        missing = [k for k in _ITEM_KEYS if k not in item
                   or (k != "bins:_hits" and (not isinstance(item[k], (int, float)) or isinstance(item[k], bool)))]
        if missing:
            return f"has cover point {name} without {', '.join(missing)}"
        hits = item["bins:_hits"]
        if not isinstance(hits, dict) or len(hits) != n_bins or not all(isinstance(v, int) for v in hits.values()):
            return f"has cover point {name} without its {n_bins} bins of hit counts"
    return None


def report(files: list[Path] | None = None) -> str:
    """The merged coverage of the files (default: build/coverage/cov-*.yml) as a table with holes."""
    import yaml

    files = sorted(COVERAGE.glob("cov-*.yml")) if files is None else files
    good = []
    for f in files:
        why = damage(f)
        if why is None:
            good.append(f)
        else:  # one line each; the other files still count
            print(f"coverage: skipped {f}: it {why} (a run killed while writing it?); delete it", file=sys.stderr, flush=True)
    files = good
    if not files:
        return "coverage: no samples (run make test or make sim first)"
    merged = COVERAGE / "merged.yml"
    merged.parent.mkdir(parents=True, exist_ok=True)
    tmp = merged.with_name(f".merged-{os.getpid()}.yml.tmp")
    try:
        merge_coverage(lambda _msg: None, str(tmp), *map(str, files))
        db = yaml.safe_load(tmp.read_text())
        os.replace(tmp, merged)
    finally:
        tmp.unlink(missing_ok=True)
    lines = [f"functional coverage of the layer space ({len(files)} process file(s) merged into {merged}):",
             f"  {'cover point':16s} {'bins hit':>9s}  holes"]
    holes_total = size_total = 0
    for name, item in sorted(db.items()):
        if "bins:_hits" not in item:
            continue
        hits = item["bins:_hits"]
        holes = [str(b) for b, n in hits.items() if not n]
        holes_total += len(holes)
        size_total += len(hits)
        lines.append(f"  {name.split('.', 1)[1]:16s} {len(hits) - len(holes):>4d}/{len(hits):<4d}  {', '.join(holes) or '-'}")
    lines.append(f"  {size_total - holes_total} of {size_total} bins hit, {holes_total} hole(s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    print(report())
    return 0


if __name__ == "__main__":
    from golden.cli import run_cli

    # a read-only or full build/ is one `coverage: error: cannot write ...` line (golden.cli)
    sys.exit(run_cli("coverage", main))
