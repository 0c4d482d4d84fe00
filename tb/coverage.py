"""Functional coverage of the layer space a target must handle (issue 13 item 3; every target's
own since issue 24), with cocotb-coverage: every layer that passes in a run is sampled (the
target's flow, in the run's own process: no simulator time) under the target's cover points
(`engine.kind`, `pwfc.kind`, ...), each process exports its coverage to build/coverage/cov-<pid>.yml,
and `python -m tb.coverage` (make coverage; pytest prints it at the end of make test) merges the
files and prints each cover point's bins with the holes.

Cover points (docs/engine.md, "Functional coverage"): kind; kernel height and width 1..7 and 8-16;
stride per axis 1..4 and 5-16; padding none / symmetric / asymmetric; input and output channels below, at, a
multiple of, and above with a remainder, the array's rows; output pixels below, at, a multiple
of, and above with a remainder, the array's columns; the bias records' shifts (0, 1-7, 8-15); outputs at the lower and the upper
clamp bound; the input and output zero points at 0, at 255 and between; a padded layer's input zero
point 0 and not 0 (the padding holds z_in); the width its weights are stored at (8, and 4 and 2
packed: the unpacker's paths); a conv's dilation (1; 2; 3 to 7; 8 and more: DeepLab's atrous rates),
the largest of its two axes.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Mapping

from cocotb_coverage.coverage import CoverPoint, coverage_db, merge_coverage

from hexgen.rules import engine_shapes

ROOT = Path(__file__).resolve().parent.parent
COVERAGE = ROOT / "build" / "coverage"
TOP = "engine"

KINDS = ["conv", "pointwise", "depthwise", "fc", "add", "maxpool", "avgpool", "upsample", "concat", "linear", "matmul", "add_const", "gelu", "softmax", "layernorm"]
#: kernel sides past 7 and strides past 4 (a transformer's patch embedding: 16x16, stride 16) share a bin each
KERNELS: list[Any] = [*range(1, 8), "8-16"]
STRIDES: list[Any] = [*range(1, 5), "5-16"]


def _kernel(v: int) -> Any:
    return v if v < 8 else "8-16"


def _stride(v: int) -> Any:
    return v if v < 5 else "5-16"
FILL = ["below", "at", "multiple", "remainder"]
ZP = ["0", "255", "between"]


def _fill(n: int, size: int) -> str:
    return "below" if n < size else "at" if n == size else "multiple" if n % size == 0 else "remainder"


def _zp(z: int) -> str:
    return "0" if z == 0 else "255" if z == 255 else "between"


def features(d: Mapping[str, Any], rows: int, cols: int, r: Mapping[str, Any]) -> dict[str, Any]:
    """The cover points' values of one layer: its memory-map descriptor and its run's result."""
    ins, outs = engine_shapes(d)  # the images the engine computes (an fc's 1x1, tokens as pixels)
    pads, pade = list(d.get("padding", [0, 0])), list(d.get("padding_end", [0, 0]))
    pad = "none" if not any(pads + pade) else "symmetric" if pads == pade else "asymmetric"
    return {"kind": d["kind"], "kh": d.get("kernel", [1, 1])[0], "kw": d.get("kernel", [1, 1])[1],
            "sy": d.get("stride", [1, 1])[0], "sx": d.get("stride", [1, 1])[1], "pad": pad,
            "in_c": _fill(ins[0], rows), "out_c": _fill(outs[0], rows), "pixels": _fill(outs[1] * outs[2], cols),
            "clamp_lo": bool(r.get("clamp_lo")), "clamp_hi": bool(r.get("clamp_hi")),
            "z_in": _zp(int(d.get("z_in", 1))), "z_out": _zp(int(d.get("z_out", 1))),
            # padding holds z_in: a padded layer whose z_in is 0 cannot show padding with 0 instead
            # (since clamps are folded, a conv after ReLU6 reads zero point 0)
            "pad_z_in": None if pad == "none" else "0" if int(d.get("z_in", 1)) == 0 else "not 0",
            # conv and fc layers only (add and pooling have no weights)
            "w_bits": d.get("weight_bits"),
            # conv and depthwise layers only (fc, add and pooling have no window to dilate)
            "dilation": _dilation(d) if d["kind"] in ("conv", "pointwise", "depthwise") else None,
            # concat layers only (hexgen.concat): what its runs did to the inputs they put in place
            "concat": _concat(d) if d["kind"] == "concat" else None,
            # softmax and LayerNorm only: the extreme rows their input held (tb.engine.test_layers row_extremes)
            "rows": [f"{d['kind']} {b}" for b in r.get("row_extremes", [])] if d["kind"] in ("softmax", "layernorm") else []}


def _concat(d: Mapping[str, Any]) -> str:
    runs = d.get("runs", [])
    if any(run["a0"] for run in runs):
        return "requantized"
    return "lanes shifted" if any(run["out_shape"][0] != run["in_shape"][0] for run in runs) else "copied"


def _dilation(d: Mapping[str, Any]) -> str:
    v = max(d.get("dilation", [1, 1]))
    return "1" if v == 1 else "2" if v == 2 else "3-7" if v < 8 else "8+"


#: (cover point, value of the features, bins)
POINTS: list[tuple[str, Any, list[Any]]] = [
    ("kind", lambda f: f["kind"], KINDS),
    ("kernel_h", lambda f: _kernel(f["kh"]), KERNELS),
    ("kernel_w", lambda f: _kernel(f["kw"]), KERNELS),
    ("stride_y", lambda f: _stride(f["sy"]), STRIDES),
    ("stride_x", lambda f: _stride(f["sx"]), STRIDES),
    ("padding", lambda f: f["pad"], ["none", "symmetric", "asymmetric"]),
    ("in_channels", lambda f: f["in_c"], FILL),
    ("out_channels", lambda f: f["out_c"], FILL),
    ("pixels", lambda f: f["pixels"], FILL),
    ("clamp_lo_hit", lambda f: f["clamp_lo"], [True]),
    ("clamp_hi_hit", lambda f: f["clamp_hi"], [True]),
    ("z_in", lambda f: f["z_in"], ZP),
    ("z_out", lambda f: f["z_out"], ZP),
    ("padded_z_in", lambda f: f["pad_z_in"], ["0", "not 0"]),
    ("weight_bits", lambda f: f["w_bits"], [8, 4, 2]),
    ("dilation", lambda f: f["dilation"], ["1", "2", "3-7", "8+"]),
    ("concat", lambda f: f["concat"], ["lanes shifted", "requantized"]),
]
#: the extreme rows of a softmax's and a LayerNorm's input: every code of a row equal, one code at
#: least 128 above the others, a code 0 (the most negative value); a layer is sampled once per bin
#: its input holds (scripts/rows_model.py hits them all)
ROW_BINS = [f"{kind} {b}" for kind in ("softmax", "layernorm") for b in ("equal", "one large", "code 0")]
SHIFTS = ["0", "1-7", "8-15"]


def _shift_bucket(v: int) -> str:
    return "0" if v == 0 else "1-7" if v < 8 else "8-15"


def _samplers(top: str) -> tuple[Any, Any, Any]:
    """The sampling functions of one target's cover points (`<top>.<point>`), made once a process:
    cocotb-coverage's points are named, and a target's bins are its own."""
    if top not in _SAMPLERS:
        def sample(f: dict[str, Any]) -> None:
            pass

        def sample_shift(bucket: str) -> None:
            pass

        for name, xf, bins in POINTS:
            sample = CoverPoint(f"{top}.{name}", xf=xf, bins=bins)(sample)
        _SAMPLERS[top] = (sample, CoverPoint(f"{top}.bias_shift", xf=lambda b: b, bins=SHIFTS)(sample_shift),
                          CoverPoint(f"{top}.rows", xf=lambda b: b, bins=ROW_BINS)(_sample_row))
    return _SAMPLERS[top]


def _sample_row(bucket: str) -> None:
    pass


_SAMPLERS: dict[str, tuple[Any, Any, Any]] = {}
_samplers(TOP)  # the engine's points exist in every process's export (a run that sampled none included)


def holes(results: list[dict[str, Any]], entries: Mapping[str, Mapping[str, Any]], rows: int, cols: int) -> dict[str, list[Any]]:
    """The bins these results leave empty (on their own: not the process's coverage database)."""
    passed = [r for r in results if r.get("status") == "PASS" and r.get("layer") in entries]
    feats = [features(entries[r["layer"]]["descriptor"], rows, cols, r) for r in passed]
    out = {name: [b for b in bins if not any(xf(f) == b for f in feats)] for name, xf, bins in POINTS}
    shifts = {_shift_bucket(v) for r in passed for v in r.get("bias_shifts", [])}
    out["bias_shift"] = [b for b in SHIFTS if b not in shifts]
    rows = {b for f in feats for b in f["rows"]}
    out["rows"] = [b for b in ROW_BINS if b not in rows]
    return {k: v for k, v in out.items() if v}


def sample_results(results: list[dict[str, Any]], entries: Mapping[str, Mapping[str, Any]], rows: int, cols: int,
                   top: str = TOP) -> None:
    """Sample every layer that passed (entries: each layer's {"descriptor": ...}), under the cover
    points of `top` (the target's name), then export this process's coverage (replacing its file)."""
    sample, sample_shift, sample_row = _samplers(top)
    passed = [r for r in results if r.get("status") == "PASS" and r.get("layer") in entries]
    for r in passed:
        f = features(entries[r["layer"]]["descriptor"], rows, cols, r)
        sample(f)
        for bucket in sorted({_shift_bucket(v) for v in r.get("bias_shifts", [])}):
            sample_shift(bucket)
        for bucket in f["rows"]:
            sample_row(bucket)
    if passed:
        COVERAGE.mkdir(parents=True, exist_ok=True)
        _export(COVERAGE / f"cov-{os.getpid()}.yml")


def golden_descriptor(layer: Any) -> dict[str, Any]:
    """A target's layer in the fields features() reads, from golden's layer itself (a target has no
    engine descriptor): shapes, kernel, stride, padding and zero points."""
    from golden.export import layer_geometry

    g = layer_geometry(layer)
    d: dict[str, Any] = {"kind": layer.kind, "in_shape": g["in_shape"], "out_shape": g["out_shape"],
                         "z_in": g.get("zero_point_in", g.get("zero_point_a", 1)), "z_out": g.get("zero_point_out", 1)}
    if "kernel" in g:
        d.update(kernel=g["kernel"], stride=g["stride"])
    if getattr(layer, "w_bits", None) is not None:  # a target's weights at their codes' width
        d["weight_bits"] = int(layer.w_bits)
    if "pads" in g:  # (top, bottom, left, right)
        top_, bottom, left, right = g["pads"]
        d.update(padding=[top_, left], padding_end=[bottom, right])
    elif "padding" in g:
        d.update(padding=list(g["padding"]), padding_end=list(g["padding"]))
    return d


def sample_target(results: list[dict[str, Any]], image_dir: Path, net: Any, top: str, lanes: int) -> None:
    """A target's passing layers, sampled under its own cover points: the layer space from golden's
    layers, the clamp bins from golden's expected output (a PASS equals it), the bias shifts from
    golden's records; channels and pixels are measured against the target's `lanes`."""
    from hexgen import read_image

    rb = read_image(image_dir, run_golden=False, layers=[r["layer"] for r in results if r.get("status") == "PASS"])
    by_name = {l.name: l for l in net.layers}
    entries: dict[str, dict[str, Any]] = {}
    rows = []
    for r in results:
        if r.get("status") != "PASS" or r["layer"] not in by_name:
            continue
        layer = by_name[r["layer"]]
        entries[layer.name] = {"descriptor": golden_descriptor(layer)}
        expected = next((rb[(layer.name, s["segment"])] for s in rb.memory_map["segments"]
                         if s["layer"] == layer.name and s.get("role") == "expected"), None)
        rq = getattr(layer, "requant", None)
        row = dict(r)
        if expected is not None and rq is not None:
            row.update(clamp_lo=int((expected == rq.lo).sum()), clamp_hi=int((expected == rq.hi).sum()))
        bias = getattr(layer, "bias", None)
        if bias is not None and hasattr(bias, "shift"):
            row["bias_shifts"] = sorted({int(v) for v in bias.shift})
        rows.append(row)
    sample_results(rows, entries, lanes, lanes, top=top)


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
    # one whole entry a target whose points the file holds (the engine's, pwfc's, ...), each with all its points
    tops = sorted({str(k).split(".", 1)[0] for k in db})
    whole = [t for t in tops if isinstance(db.get(t), dict) and all(isinstance(db[t].get(k), int) for k in ("coverage", "size"))]
    if not whole or len(whole) != len(tops):
        broken = [t for t in tops if t not in whole]
        return f"has no whole {(broken or [TOP])[0]!r} entry"
    expected = {f"{t}.{name}": len(bins) for t in whole for name, _, bins in POINTS} | {f"{t}.bias_shift": len(SHIFTS) for t in whole}
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
    tops = sorted({name.split(".", 1)[0] for name, item in db.items() if "bins:_hits" in item}, key=lambda t: (t != TOP, t))
    for top in tops:  # the engine first, then each target's own points, each with its own total
        holes_total = size_total = 0
        if len(tops) > 1:
            lines.append(f"  target {top}:")
        for name, item in sorted(db.items()):
            if "bins:_hits" not in item or name.split(".", 1)[0] != top:
                continue
            hits = item["bins:_hits"]
            holes = [str(b) for b, n in hits.items() if not n]
            holes_total += len(holes)
            size_total += len(hits)
            lines.append(f"  {name.split('.', 1)[1]:16s} {len(hits) - len(holes):>4d}/{len(hits):<4d}  {', '.join(holes) or '-'}")
        lines.append(f"  {size_total - holes_total} of {size_total} bins hit, {holes_total} hole(s)"
                     + (f" ({top}; bins of layers it does not take stay holes)" if top != TOP else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    print(report())
    return 0


if __name__ == "__main__":
    from golden.cli import run_cli

    # a read-only or full build/ is one `coverage: error: cannot write ...` line (golden.cli)
    sys.exit(run_cli("coverage", main))
