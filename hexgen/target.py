"""Images of a target's own layouts: the caller says how each segment lies in memory, hexgen places
the segments, writes the folder, and checks it by a round trip against golden.

    from hexgen import Layout, TargetSegment, build_target_image, check_image, write_image
    acts = Layout(("n", "c", "y", "x"), (1, 16, 12, 12), (("c", 4),), ("n", "y", "x", "c_tile", "c_lane"),
                  8, False, 0, 32)                            # channel-last, 4 channels a 32-bit word
    layouts = {"conv3": {"acts": TargetSegment("input", acts), "w": TargetSegment("weights", w_layout), ...}}
    image = build_target_image(net, x_q, layouts, target="mypw", word_bits=32)
    write_image(image, "build/mypw/image")
    check_image("build/mypw/image")                           # [] when every segment decodes to golden's array

A segment has any name (a letter, then letters, digits, _) and a *role*: which of golden's arrays it
holds (ROLES). Its layout is a `Layout` (or the JSON form memory_map.json records), whose logical
array is golden's array in golden's axis order; axes of size 1 may be left out (pointwise weights
[K, C, 1, 1] as [K, C]). bias and scale are per output channel: a record layout names golden's
columns by its fields' names (bias: term, mantissa, shift; scale: m0, n), a plain bias layout holds
the term (mantissa << shift, what the accumulator starts from).

The memory map records per segment its role and layout, and per layer golden's record (every field
but the weights, which are a segment), so check_image needs nothing else: it decodes every segment,
rebuilds the layer from its record and the weights segment, runs golden on the input segment(s) and
compares each segment with golden's array for its role. Our engine's images (hexgen.plan) carry no
`target` in their map and keep their own checks (hexgen.check_layer).

Every malformed input is a problem line naming the layer and segment (TargetLayoutError.problems);
nothing the caller gives raises anything else.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence, Union

import numpy as np
from numpy.typing import NDArray

from golden.arith import BiasCodes
from golden.layers import (
    INPUT, AddLayer, AvgPoolLayer, ConvLayer, FlattenLayer, Layer, LinearLayer, MaxPoolLayer, Network, Requant,
)
from hexgen.config import HardwareConfig
from hexgen.errors import HexgenError, LayoutError
from hexgen.image import ENGINE, MAP_FILE, Image, Segment
from hexgen.layout import Layout, elem_range, to_words
from hexgen.plan import ROLE_TEXT

#: What a segment may hold: golden's arrays of one layer (hexgen.plan.ROLE_TEXT says each).
ROLES = tuple(ROLE_TEXT)
#: Per-output-channel roles: golden's columns, which a record layout picks by its fields' names.
COLUMNS = {"bias": ("term", "mantissa", "shift"), "scale": ("m0", "n")}
#: The column a plain (non-record) layout of a per-channel role holds.
PLAIN_COLUMN = {"bias": "term"}
#: A segment name (it names a file and a Verilog macro) and a target name.
SEGMENT_NAME = r"[A-Za-z][A-Za-z0-9_]*"
TARGET_NAME = r"[A-Za-z][A-Za-z0-9_.-]*"
LAYER_CLASSES: dict[str, type[Layer]] = {
    c.__name__: c for c in (ConvLayer, LinearLayer, AddLayer, MaxPoolLayer, AvgPoolLayer, FlattenLayer)
}

GoldenValue = Union[NDArray[np.int64], dict[str, NDArray[np.int64]]]


@dataclass(frozen=True)
class TargetSegment:
    """One segment of a target's layout.

    role: which golden array it holds (ROLES). layout: a Layout, or its JSON form (Layout.to_json).
    array: the values to write; None takes golden's array for the role (given, it must equal it).
    base: a byte address the target needs the segment at; None lets hexgen place it."""

    role: str
    layout: Layout | Mapping[str, Any]
    array: Any = None
    base: int | None = None


class TargetLayoutError(HexgenError, ValueError):
    """A target's layouts that hexgen cannot build: `problems` holds one line per problem, each
    naming the layer and segment."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} problem(s) in the target's layouts:\n  " + "\n  ".join(self.problems))


# ---- what golden gives for each role -------------------------------------------------------------
def roles_of(layer: Layer) -> tuple[str, ...]:
    """The roles a segment of this layer may have."""
    ins = ("input", "input2")[: len(layer.inputs)]
    if isinstance(layer, (ConvLayer, LinearLayer)):
        return ("weights", "bias", "scale") + ins + ("expected", "output", "accumulators")
    return ins + ("expected", "output")


def required_roles(layer: Layer) -> tuple[str, ...]:
    """The roles the round trip needs: the input(s) golden runs on, the expected output it gives,
    and a conv/fc layer's weights (every other field of the layer is in the memory map)."""
    ins = ("input", "input2")[: len(layer.inputs)]
    return (("weights",) if isinstance(layer, (ConvLayer, LinearLayer)) else ()) + ins + ("expected",)


def golden_values(layer: Layer, xs: Sequence[NDArray[Any]], *, y: NDArray[Any] | None = None,
                  acc: NDArray[Any] | None = None) -> dict[str, GoldenValue]:
    """golden's array for every role of `layer` run on xs (uint8 [N, *shape] each, golden's NCHW):
    the one place a role names golden's array. y and acc: the layer's output and accumulators when
    the caller has them from Network.run already."""
    x8 = [np.asarray(x).astype(np.uint8) for x in xs]
    out = np.asarray(layer.forward(x8) if y is None else y, np.int64)
    v: dict[str, GoldenValue] = {"input": x8[0].astype(np.int64), "expected": out, "output": 255 - out}
    if len(x8) > 1:
        v["input2"] = x8[1].astype(np.int64)
    if isinstance(layer, (ConvLayer, LinearLayer)):
        v["weights"] = layer.weight.astype(np.int64)
        v["bias"] = {"term": layer.bias.term.astype(np.int64), "mantissa": layer.bias.mantissa.astype(np.int64),
                     "shift": layer.bias.shift.astype(np.int64)}
        v["scale"] = {"m0": layer.requant.m0.astype(np.int64), "n": layer.requant.n.astype(np.int64)}
        v["accumulators"] = np.asarray(layer.accumulate(x8[0]) if acc is None else acc, np.int64)
    return v


def fit_shape(a: NDArray[Any], shape: Sequence[int]) -> NDArray[Any] | None:
    """`a` in `shape` when the two differ only by axes of size 1 (golden's [K, C, 1, 1] pointwise
    weights as [K, C]); None otherwise."""
    shape = tuple(int(s) for s in shape)
    if tuple(a.shape) == shape:
        return a
    if [s for s in a.shape if s != 1] == [s for s in shape if s != 1]:
        return a.reshape(shape)
    return None


def role_array(role: str, lay: Layout, values: Mapping[str, GoldenValue]) -> NDArray[np.int64]:
    """golden's array for `role` in the layout's logical shape; LayoutError saying why it does not fit."""
    v = values[role]
    if isinstance(v, dict):
        if lay.fields:
            names = [f.name for f in lay.fields]
            unknown = [n for n in names if n not in v]
            if unknown:
                raise LayoutError(f"record field(s) {', '.join(unknown)} name none of golden's {role} columns "
                                  f"({', '.join(v)})")
            for f in lay.fields:
                lo, hi = elem_range(f.width, f.signed)
                bad = np.flatnonzero((v[f.name] < lo) | (v[f.name] > hi))
                if bad.size:
                    k = int(bad[0])
                    raise LayoutError(f"record field {f.name} ({f.width}-bit {'signed' if f.signed else 'unsigned'}) "
                                      f"cannot hold golden's {f.name} of channel {k}, {int(v[f.name][k])}")
            full = np.stack([v[n] for n in names], axis=-1)
            got, want = fit_shape(full, lay.logical_shape), full.shape
        elif role in PLAIN_COLUMN:
            col = v[PLAIN_COLUMN[role]]
            got, want = fit_shape(col, lay.shape), col.shape
        else:
            raise LayoutError(f"golden's {role} is per-channel fields ({', '.join(v)}): give a record layout whose "
                              "fields are named after them")
    else:
        if lay.fields:
            raise LayoutError(f"a record layout (fields {', '.join(f.name for f in lay.fields)}) for golden's {role}, "
                              f"which is an array of shape {list(v.shape)}, not per-channel fields")
        got, want = fit_shape(v, lay.shape), v.shape
    if got is None:
        raise LayoutError(f"layout shape {list(lay.logical_shape)} does not hold golden's {role} of shape {list(want)}")
    return np.asarray(got, np.int64)


def first_difference(got: NDArray[Any], want: NDArray[Any]) -> str | None:
    """`N of M elements (first at [i, ...]: golden a, got b)`, or None when equal."""
    bad = np.argwhere(np.asarray(got) != np.asarray(want))
    if not len(bad):
        return None
    at = tuple(int(i) for i in bad[0])
    return f"{len(bad)} of {want.size} elements (first at {list(at)}: golden {int(want[at])}, got {int(got[at])})"


# ---- golden's record in the memory map -----------------------------------------------------------
def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v


def record_json(layer: Layer) -> dict[str, Any]:
    """golden's record of a layer as JSON, every field but its name and weights (the weights are
    a segment; `weight_shape` says their shape in golden)."""
    d: dict[str, Any] = {"class": type(layer).__name__}
    for f in dataclasses.fields(layer):
        if f.name in ("name", "module", "source", "weight", "weight_scale"):
            continue
        v = getattr(layer, f.name)
        if isinstance(v, BiasCodes):
            d[f.name] = {"mode": v.mode, "mantissa": v.mantissa.tolist(), "shift": v.shift.tolist(), "saturated": int(v.saturated)}
        elif isinstance(v, Requant):
            d[f.name] = {"m0": v.m0.tolist(), "n": v.n.tolist(), "z_out": int(v.z_out), "lo": int(v.lo), "hi": int(v.hi),
                         "m0_bits": int(v.m0_bits)}
        else:
            d[f.name] = _plain(v)
    if isinstance(layer, (ConvLayer, LinearLayer)):
        d["weight_shape"] = [int(s) for s in layer.weight.shape]
    return d


def record_from_json(name: str, d: Mapping[str, Any], weight: NDArray[Any] | None) -> Layer:
    """The inverse of record_json, the weights given. Raises whatever a malformed record makes
    golden raise (the checker reports it as a problem line)."""
    cls = LAYER_CLASSES[d["class"]]
    kw: dict[str, Any] = {"name": name, "module": name, "source": name}
    for f in dataclasses.fields(cls):
        if f.name in kw or f.name in ("weight", "weight_scale") or f.name not in d:
            continue
        v = d[f.name]
        if f.name == "bias":
            v = BiasCodes(str(v["mode"]), np.asarray(v["mantissa"], np.int64), np.asarray(v["shift"], np.int64), int(v["saturated"]))
        elif f.name == "requant":
            v = Requant(np.asarray(v["m0"], np.int64), np.asarray(v["n"], np.int64), int(v["z_out"]), int(v["lo"]), int(v["hi"]),
                        int(v["m0_bits"]))
        elif isinstance(v, list):
            v = tuple(tuple(x) if isinstance(x, list) else x for x in v)
        kw[f.name] = v
    if issubclass(cls, (ConvLayer, LinearLayer)):
        if weight is None:
            raise LayoutError("no weights segment")
        kw["weight"] = weight
        kw["weight_scale"] = np.ones(int(weight.shape[0]) if weight.ndim else 0)
    return cls(**kw)


# ---- building ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Placed:
    layer: str
    name: str
    role: str
    layout: Layout
    words: tuple[int, ...]
    array: NDArray[np.int64]
    base: int | None


def build_target_image(
    net: Network,
    x_q: NDArray[np.uint8],
    layouts: Mapping[str, Mapping[str, TargetSegment]],
    *,
    target: str,
    word_bits: int,
    align_bytes: int = 64,
    model: str = "",
) -> Image:
    """An image of the layers named in `layouts` ({layer: {segment name: TargetSegment}}), each
    segment in the caller's layout, holding golden's array for its role (golden run on x_q, uint8
    [N, ...]); write it with hexgen.write_image. Segments are placed in golden's layer order, in the
    caller's order within a layer, each at the next multiple of align_bytes not taken (or at its
    fixed base). TargetLayoutError lists every problem of the input, one line each."""
    problems: list[str] = []
    if not isinstance(target, str) or not re.fullmatch(TARGET_NAME, target) or target == ENGINE:
        problems.append(f"target {target!r}: a target's name is a letter, then letters, digits, _ . or -, and not {ENGINE!r} "
                        "(our engine's images are planned by hexgen.build_image)")
    cfg = HardwareConfig(word_bits=word_bits, align_bytes=align_bytes)
    x_q = net.check_input(x_q)
    if not isinstance(layouts, Mapping):
        raise TargetLayoutError(problems + [f"layouts: is a {type(layouts).__name__}, expected a mapping "
                                            "{layer name: {segment name: TargetSegment}}"])
    if not layouts:
        problems.append("layouts: no layer given")
    for lname in layouts:
        if not isinstance(lname, str) or lname not in net.names:
            problems.append(f"layer {lname!r}: golden's network has no such layer (its layers: {', '.join(net.names)})")
    chosen = [l for l in net.layers if l.name in layouts]
    run = net.run(x_q, accumulators=True) if chosen else None
    outs: dict[str, NDArray[Any]] = {INPUT: x_q, **(run.outputs if run else {})}
    placed: list[_Placed] = []
    entries: list[dict[str, Any]] = []
    for l in chosen:
        segs = layouts[l.name]
        if not isinstance(segs, Mapping):
            problems.append(f"layer {l.name}: is a {type(segs).__name__}, expected a mapping {{segment name: TargetSegment}}")
            continue
        values = golden_values(l, [outs[i] for i in l.inputs], y=outs[l.name],
                               acc=run.accumulators.get(l.name) if run else None)
        problems += _layer_segments(l, segs, values, cfg, placed)
        entries.append({"name": l.name, "kind": l.kind, "record": record_json(l)})
    if not problems:
        problems += _check_bases(placed, cfg)
    if problems:
        raise TargetLayoutError(problems)
    segments = _place(placed, cfg)
    arrays = {(p.layer, p.name): p.array for p in placed}
    return Image(cfg, model, int(x_q.shape[0]), [], segments, arrays, target=target, layer_entries=entries)


def _layer_segments(l: Layer, segs: Mapping[str, Any], values: Mapping[str, GoldenValue], cfg: HardwareConfig,
                    placed: list[_Placed]) -> list[str]:
    """One layer's segments, checked and encoded (appended to `placed`); the problems, one line each."""
    problems: list[str] = []
    names: dict[str, str] = {}
    roles: dict[str, str] = {}
    for sname, spec in segs.items():
        at = f"layer {l.name} segment {sname!r}"
        if not isinstance(sname, str) or not re.fullmatch(SEGMENT_NAME, sname):
            problems.append(f"{at}: a segment name is a letter, then letters, digits or _ (it names a file and a Verilog macro)")
            continue
        if sname.lower() in names:
            problems.append(f"{at}: the same name as segment {names[sname.lower()]!r} but for case (their files and "
                            "Verilog macros would be one)")
            continue
        names[sname.lower()] = sname
        if not isinstance(spec, TargetSegment):
            problems.append(f"{at}: is a {type(spec).__name__}, expected a TargetSegment(role, layout, array=None, base=None)")
            continue
        role = spec.role
        if not isinstance(role, str) or role not in ROLES:
            problems.append(f"{at}: unknown role {role!r}; roles are {', '.join(ROLES)}")
            continue
        at = f"{at} (role {role})"
        if role not in roles_of(l):
            problems.append(f"{at}: a {l.kind} layer has no {role} (its roles: {', '.join(roles_of(l))})")
            continue
        if role in roles:
            problems.append(f"{at}: role {role} is segment {roles[role]!r}'s already")
            continue
        roles[role] = sname
        try:
            lay = spec.layout if isinstance(spec.layout, Layout) else Layout.from_json(spec.layout)
        except (LayoutError, AttributeError, TypeError, ValueError) as exc:
            problems.append(f"{at}: layout: {exc}")
            continue
        if lay.word_bits != cfg.word_bits:
            problems.append(f"{at}: layout of {lay.word_bits}-bit words in an image of {cfg.word_bits}-bit words")
            continue
        if spec.base is not None and (not isinstance(spec.base, int) or isinstance(spec.base, bool) or spec.base < 0
                                      or spec.base % cfg.align_bytes):
            problems.append(f"{at}: base {spec.base!r} is not a byte address >= 0 aligned to {cfg.align_bytes} bytes")
            continue
        try:
            want = role_array(role, lay, values)
            arr = want
            if spec.array is not None:
                arr = np.asarray(spec.array)
                if arr.dtype.kind not in "iub":
                    raise LayoutError(f"array of dtype {arr.dtype} is not an integer array")
            words = to_words(arr, lay, where=at)
        except (LayoutError, TypeError, ValueError, OverflowError) as exc:
            msg = str(exc)
            problems.append(msg if msg.startswith(at) else f"{at}: {msg}")
            continue
        diff = first_difference(arr.astype(np.int64), want)
        if diff is not None:
            problems.append(f"{at}: the array given differs from golden's {role} in {diff}")
            continue
        placed.append(_Placed(l.name, sname, role, lay, tuple(words), want, spec.base))
    missing = [r for r in required_roles(l) if r not in roles]
    if missing and not problems:  # a segment refused above may be the one with that role
        problems.append(f"layer {l.name}: no segment with role {', '.join(missing)} (the round trip runs golden on the "
                        "input(s) and the weights and compares the expected output)")
    return problems


def _nbytes(p: _Placed, cfg: HardwareConfig) -> int:
    return len(p.words) * cfg.word_bytes


def _check_bases(placed: Sequence[_Placed], cfg: HardwareConfig) -> list[str]:
    """Segments at fixed bases that overlap one another."""
    fixed = sorted((p for p in placed if p.base is not None), key=lambda p: int(p.base or 0))
    out = []
    for a, b in zip(fixed, fixed[1:]):
        end = int(a.base or 0) + _nbytes(a, cfg)
        if int(b.base or 0) < end:
            out.append(f"layer {b.layer} segment {b.name!r} (role {b.role}): base 0x{b.base:08x} overlaps segment "
                       f"{a.layer}.{a.name} (0x{a.base:08x}..0x{end:08x})")
    return out


def _place(placed: Sequence[_Placed], cfg: HardwareConfig) -> list[Segment]:
    """Bases: a fixed one as given; the others at the next aligned address free of every segment."""
    a = cfg.align_bytes
    taken = [(int(p.base), int(p.base) + _nbytes(p, cfg)) for p in placed if p.base is not None]
    out: list[Segment] = []
    cursor = 0
    for p in placed:
        if p.base is not None:
            base = int(p.base)
        else:
            base, size = cursor, _nbytes(p, cfg)
            while True:
                clash = [e for s, e in taken if s < base + max(size, 1) and base < e]
                if not clash:
                    break
                base = -(-max(clash) // a) * a
            taken.append((base, base + size))
            cursor = -(-(base + size) // a) * a
        out.append(Segment(p.layer, p.name, p.layout, base, p.words, role=p.role))
    return out


# ---- checking a written folder ------------------------------------------------------------------------
def check_target_layer(
    i: int,
    entry: Mapping[str, Any],
    segs: Mapping[str, tuple[int, Mapping[str, Any], Layout]],
    arrays: Mapping[tuple[str, str], NDArray[np.int64]],
    images: int,
    run_golden: bool = True,
) -> list[str]:
    """One layer of a target image: golden's layer rebuilt from its record and the weights segment,
    run on the input segment(s), and every segment compared with golden's array for its role
    (run_golden=False: only the fields the record gives, and the output region against ~expected)."""
    name = entry["name"]
    where = f"{MAP_FILE}: layers[{i}] ({name})"
    out: list[str] = []
    by_role: dict[str, str] = {}
    for sname, (j, info, _lay) in segs.items():
        role = info["role"]
        if role in by_role:
            out.append(f"{MAP_FILE}: segments[{j}] ({name}.{sname}): role {role} is segment {by_role[role]!r}'s already")
        else:
            by_role[role] = sname
    rec = entry["record"]
    weight: NDArray[Any] | None = None
    try:
        if "weights" in by_role and (name, by_role["weights"]) in arrays:
            w = arrays[(name, by_role["weights"])]
            weight = fit_shape(w, rec["weight_shape"])
            if weight is None:
                return out + [f"{where}: the weights segment {by_role['weights']!r} of shape {list(w.shape)} does not hold "
                              f"golden's weights of shape {rec['weight_shape']}"]
            if np.any(weight < -128) or np.any(weight > 127):
                return out + [f"{where}: the weights segment {by_role['weights']!r} holds values outside int8"]
        layer = record_from_json(name, rec, weight)
    except Exception as exc:  # a malformed record: whatever golden raises is reported, never raised
        return out + [f"{where}.record: golden cannot make a layer of it: {type(exc).__name__}: {exc}"]
    if layer.kind != entry["kind"]:
        out.append(f"{where}.kind: is {entry['kind']!r}; the record makes a {layer.kind} layer")
    for sname, (j, info, _lay) in segs.items():
        if info["role"] not in roles_of(layer):
            out.append(f"{MAP_FILE}: segments[{j}] ({name}.{sname}): a {layer.kind} layer has no {info['role']}")
    missing = [r for r in required_roles(layer) if r not in by_role]
    if missing:
        out.append(f"{where}: no segment with role {', '.join(missing)}")
    if out or not all((name, by_role[r]) in arrays for r in required_roles(layer)):
        return out  # an unreadable segment is reported where it was read
    xs: list[NDArray[Any]] = []
    for r in ("input", "input2")[: len(layer.inputs)]:
        x = fit_shape(arrays[(name, by_role[r])], (images, *layer.in_shape))
        if x is None or np.any(x < 0) or np.any(x > 255):
            return [f"{where}: segment {by_role[r]!r} (role {r}) does not hold {images} uint8 input(s) of shape "
                    f"{list(layer.in_shape)}"]
        xs.append(x)
    if run_golden:
        try:
            values = golden_values(layer, xs)
        except Exception as exc:  # a record golden accepts but cannot run on
            return [f"{where}: golden cannot run the layer on its input segment(s): {type(exc).__name__}: {exc}"]
    else:
        y = fit_shape(arrays[(name, by_role["expected"])], (images, *layer.out_shape))
        if y is None:
            return [f"{where}: segment {by_role['expected']!r} (role expected) does not hold {images} output(s) of shape "
                    f"{list(layer.out_shape)}"]
        values = golden_values(layer, xs, y=y, acc=np.zeros(y.shape, np.int64))
    for sname, (j, info, lay) in segs.items():
        role = info["role"]
        if (name, sname) not in arrays or (not run_golden and role in ("expected", "accumulators")):
            continue
        try:
            want = role_array(role, lay, values)
        except LayoutError as exc:
            out.append(f"{MAP_FILE}: segments[{j}] ({name}.{sname}, role {role}): {exc}")
            continue
        diff = first_difference(arrays[(name, sname)], want)
        if diff is not None:
            out.append(f"{info['file']}: segment {name}.{sname} (role {role}) differs from golden's {role} in {diff}")
    return out


__all__ = [
    "COLUMNS", "ROLES", "TargetLayoutError", "TargetSegment", "build_target_image", "check_target_layer", "golden_values",
    "record_from_json", "record_json", "role_array",
]
