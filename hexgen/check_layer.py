"""One layer of a written folder against its memory-map entry (hexgen/check.py checks the folder).

check_layer: a conv / fc layer's descriptor against its segments; golden's layer record is rebuilt
from the descriptor and the weights, bias and scale segments, planned again (hexgen.plan) and
compared with the map field by field, and run on the input segment to give the expected segment.
check_vector_layer: the same for an add or pooling layer, rebuilt from its descriptor alone.
check_token_layer: a transformer's layer (hexgen.tokens), rebuilt from its descriptor and its
parameter segments (weights, bias, scale; the tables and LayerNorm records decoded).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from numpy.typing import NDArray

from golden.arith import conv_out_size
from golden.layers import conv_kind
from hexgen.config import HardwareConfig
from hexgen.errors import HexgenError, LayoutError
from hexgen.image import MAP_FILE
from hexgen.layout import Layout
from hexgen.plan import DATA_SEGMENTS, VECTOR_SEGMENTS, plan_layer, segments_of
from hexgen.tokens import TOKEN_KINDS


def check_layer(
    i: int,
    entry: Mapping[str, Any],
    segs: Mapping[str, tuple[int, Mapping[str, Any], Layout]],
    listed: set[str],
    arrays: Mapping[tuple[str, str], NDArray[np.int64]],
    cfg: HardwareConfig,
    images: int,
    run_golden: bool = True,
) -> list[str]:
    """One layer's entry against its segments: golden's record is rebuilt from the descriptor and
    the data segments, planned again (hexgen.plan) and compared with the map field by field, and
    run (golden) on the input segment to give the expected segment (unless run_golden is off)."""
    name = entry["name"]
    where = f"{MAP_FILE}: layers[{i}]"
    d = entry["descriptor"]
    out: list[str] = []
    if entry["kind"] != d["kind"]:
        out.append(f"{where}.kind: is {entry['kind']!r}, the descriptor says {d['kind']!r}")
    missing = [s for s in segments_of(d["kind"]) if s not in listed]
    if missing:
        return out + [f"{where} ({name}): no {', '.join(missing)} segment(s) in segments[]"]
    if any(s not in segs for s in segments_of(d["kind"])):
        return out  # a segment entry that is unusable, reported above
    if d["kind"] == "concat":
        return out + check_concat_layer(i, entry, segs, arrays, cfg, images, run_golden)
    if d["kind"] in TOKEN_KINDS:
        return out + check_token_layer(i, entry, segs, arrays, cfg, images, run_golden)
    if d["kind"] in VECTOR_SEGMENTS:
        return out + check_vector_layer(i, entry, segs, arrays, cfg, images, run_golden)
    if d["lo"] > d["hi"]:
        out.append(f"{where}.descriptor.lo: {d['lo']} is above hi {d['hi']} (clamp bounds need lo <= hi)")
    ins, outs, (kh, kw), (sy, sx), (py, px), g = d["in_shape"], d["out_shape"], d["kernel"], d["stride"], d["padding"], d["groups"]
    pb, pr = d["padding_end"]
    dy, dx = d.get("dilation", (1, 1))  # a memory map from before dilation ran: taps adjacent
    fc = d["kind"] == "fc"
    if fc:
        if len(ins) != 1 or len(outs) != 1:
            out.append(f"{where}.descriptor: an fc layer has 1-element in_shape and out_shape, not {ins} and {outs}")
        if [kh, kw, sy, sx, py, px, pb, pr, g] != [1, 1, 1, 1, 0, 0, 0, 0, 1]:
            out.append(f"{where}.descriptor: an fc layer has kernel [1, 1], stride [1, 1], padding [0, 0], "
                       "padding_end [0, 0], groups 1")
    else:
        if len(ins) != 3 or len(outs) != 3:
            out.append(f"{where}.descriptor: a {d['kind']} layer has 3-element in_shape and out_shape, not {ins} and {outs}")
        else:
            ho, wo = conv_out_size(ins[1], py, pb, kh, sy, dy), conv_out_size(ins[2], px, pr, kw, sx, dx)
            if [ho, wo] != outs[1:]:
                out.append(f"{where}.descriptor.out_shape: {outs} does not follow from in_shape {ins}, kernel, dilation, "
                           f"stride and padding (gives {outs[0]}x{ho}x{wo})")
            if ins[0] % g or outs[0] % g:
                out.append(f"{where}.descriptor.groups: {g} does not divide the channels ({ins[0]} in, {outs[0]} out)")
            kind = conv_kind(ins[0], g, (kh, kw))
            if d["kind"] != kind:
                out.append(f"{where}.descriptor.kind: {d['kind']}, but {ins[0]} input channels, groups {g} and kernel "
                           f"{kh}x{kw} make it {kind}")
    if out:
        return out
    # golden's layer record from the descriptor and the data segments (zeros where a file was unreadable)
    from golden.arith import BiasCodes
    from golden.errors import GoldenError
    from golden.layers import ConvLayer, LinearLayer, Requant, set_widths

    missing = [f for f in ("m0_bits", "bias_mode") if f not in d]
    if missing:
        return [f"{where}.descriptor ({name}): a {d['kind']} layer needs {', '.join(missing)}"]
    w_shape = segs["weights"][2].logical_shape
    k = int(w_shape[0])

    def arr(seg: str, shape: tuple[int, ...]) -> NDArray[np.int64]:
        a = arrays.get((name, seg))
        return a if a is not None and a.shape == shape else np.zeros(shape, np.int64)

    weights = arr("weights", tuple(w_shape))
    bias = arr("bias", (k, 2))
    scale = arr("scale", (k, 2))
    w_bits = int(d.get("weight_bits", 8))
    q = (1 << (w_bits - 1)) - 1
    try:
        if np.any(weights < -q) or np.any(weights > q):
            raise LayoutError(f"{w_bits}-bit weights outside -{q}..{q}")
        codes = BiasCodes(d["bias_mode"], bias[:, 0], bias[:, 1], 0)
        rq = Requant(scale[:, 0], scale[:, 1], d["z_out"], d["lo"], d["hi"], d["m0_bits"])
        common: dict[str, Any] = dict(
            name=name, inputs=("input",), in_shape=tuple(ins), out_shape=tuple(outs), module=name, source=name,
            weight=weights.astype(np.int8), bias=codes, requant=rq, z_in=d["z_in"], weight_scale=np.ones(k),
        )
        layer: ConvLayer | LinearLayer
        if fc:
            layer = LinearLayer(**common)
        else:
            layer = ConvLayer(**common, stride=(sy, sx), padding=(py, px), groups=g, kind_name=d["kind"],
                              pad_end=None if (pb, pr) == (py, px) else (pb, pr), dilation=(dy, dx))
        if w_bits != 8:
            set_widths(layer, 8, w_bits)  # the width the weights are stored at: the plan stores them so again
        plan = plan_layer(layer, cfg, images=images, check_fit=False)
    except (GoldenError, HexgenError, ValueError) as exc:
        return [f"{where} ({name}): the descriptor and the weights segment do not make a layer: {exc}"]
    for key, want in plan.descriptor.items():
        have = d.get(key, [1, 1] if key == "dilation" else None)  # dilation: absent before issue 26
        if have != want:
            out.append(f"{where}.descriptor.{key}: is {have!r}; the weights segment (shape {list(w_shape)}) gives {want!r}")
    for seg, lay in plan.layouts:
        j, info, got = segs[seg]
        if got != lay:
            diff = sorted(f for f, v in lay.to_json().items() if info["layout"].get(f) != v)
            out.append(f"{MAP_FILE}: segments[{j}].layout ({name}.{seg}): {', '.join(diff)} disagree with what the "
                       f"descriptor and config give ({lay.describe()}, pad {lay.pad}, {lay.word_bits}-bit words)")
    out += _mac_plan_differences(where, name, entry, plan, cfg)
    if out or not all((name, s) in arrays for s in DATA_SEGMENTS):
        return out
    x, exp = arrays[(name, "input")], arrays[(name, "expected")]
    o = arrays.get((name, "output"))
    if o is not None and o.shape == exp.shape and np.any(o != 255 - exp):
        out.append(f"{segs['output'][1]['file']}: the output region is not pre-filled with ~expected "
                   f"({int(np.count_nonzero(o != 255 - exp))} elements differ)")
    if not run_golden:
        return out
    try:
        y = np.asarray(layer.forward([x.astype(np.uint8)]), np.int64)
    except (GoldenError, HexgenError, ValueError) as exc:
        return [f"{where} ({name}): golden cannot run the layer on its input segment: {exc}"]
    bad = np.argwhere(y != exp)
    if len(bad):
        at = tuple(int(v) for v in bad[0])
        out.append(
            f"{where}.descriptor ({name}): golden run on the descriptor and the {', '.join(DATA_SEGMENTS[:4])} segments "
            f"differs from {segs['expected'][1]['file']} in {len(bad)} of {exp.size} elements (first at {list(at)}: "
            f"golden {int(y[at])}, file {int(exp[at])})"
        )
    return out


def _plan_differences(where: str, name: str, d: Mapping[str, Any], plan: Any,
                      segs: Mapping[str, tuple[int, Mapping[str, Any], Layout]]) -> list[str]:
    """The descriptor's fields and the segments' layouts against the layer planned again."""
    out = [f"{where}.descriptor.{key}: is {d.get(key)!r}; the layer gives {want!r}"
           for key, want in plan.descriptor.items() if d.get(key) != want]
    for seg, lay in plan.layouts:
        j, _info, have = segs[seg]
        if have != lay:
            out.append(f"{MAP_FILE}: segments[{j}].layout ({name}.{seg}): disagrees with what the descriptor and config give "
                       f"({lay.describe()}, pad {lay.pad})")
    return out


def _golden_differences(where: str, name: str, y: NDArray[np.int64], exp: NDArray[np.int64], run_on: str,
                        segs: Mapping[str, tuple[int, Mapping[str, Any], Layout]]) -> list[str]:
    """Golden's output y, run on `run_on`, against the expected segment: one line at the first difference."""
    bad = np.argwhere(y != exp) if y.shape == exp.shape else np.argwhere(np.ones(exp.shape, bool))
    if not len(bad):
        return []
    at = tuple(int(v) for v in bad[0])
    return [f"{where}.descriptor ({name}): golden run on {run_on} differs from {segs['expected'][1]['file']} in "
            f"{len(bad)} of {exp.size} elements (first at {list(at)}: golden {int(y[at]) if y.shape == exp.shape else '-'}, "
            f"file {int(exp[at])})"]


def check_vector_layer(
    i: int,
    entry: Mapping[str, Any],
    segs: Mapping[str, tuple[int, Mapping[str, Any], Layout]],
    arrays: Mapping[tuple[str, str], NDArray[np.int64]],
    cfg: HardwareConfig,
    images: int,
    run_golden: bool,
) -> list[str]:
    """An add, pooling or upsample layer: golden's record rebuilt from the descriptor, planned again and
    compared with the map, and run on the input segment(s) to give the expected segment."""
    from golden.errors import GoldenError
    from golden.layers import AddLayer, AvgPoolLayer, Layer, MaxPoolLayer, UpsampleLayer

    name, d = entry["name"], entry["descriptor"]
    where = f"{MAP_FILE}: layers[{i}]"
    common: dict[str, Any] = dict(name=name, inputs=("input", "input2") if d["kind"] == "add" else ("input",),
                                  in_shape=tuple(d["in_shape"]), out_shape=tuple(d["out_shape"]), module=name, source=name)
    layer: Layer
    try:
        if d["kind"] == "add":
            missing = [f for f in ("z_in2", "a0", "b0", "shift") if f not in d]
            if missing:
                return [f"{where}.descriptor ({name}): an add layer needs {', '.join(missing)}"]
            layer = AddLayer(**common, z_a=d["z_in"], z_b=d["z_in2"], a0=d["a0"], b0=d["b0"], n=d["shift"], z_out=d["z_out"],
                             lo=d["lo"], hi=d["hi"])
        elif d["kind"] == "maxpool":
            layer = MaxPoolLayer(**common, kernel=tuple(d["kernel"]), stride=tuple(d["stride"]), padding=tuple(d["padding"]))
        elif d["kind"] == "upsample":  # the factors in the stride
            layer = UpsampleLayer(**common, scale=tuple(d["stride"]))
        else:
            layer = AvgPoolLayer(**common, kernel=tuple(d["kernel"]), stride=tuple(d["stride"]))
        plan = plan_layer(layer, cfg, images=images, check_fit=False)
    except (GoldenError, HexgenError, ValueError, TypeError) as exc:
        return [f"{where} ({name}): the descriptor does not make a {d['kind']} layer: {exc}"]
    out = _plan_differences(where, name, d, plan, segs)
    if entry["passes"] != plan.passes_json():
        out.append(f"{where}.passes: a layer of the vector unit runs in one pass")
    data = [s for s in segments_of(d["kind"]) if s != "output"]
    if out or not run_golden or not all((name, s) in arrays for s in data):
        return out
    xs = [arrays[(name, s)].astype(np.uint8) for s in data if s.startswith("input")]
    y = np.asarray(layer.forward(xs), np.int64)
    return out + _golden_differences(where, name, y, arrays[(name, "expected")], "the descriptor and the input segment(s)", segs)


def check_concat_layer(
    i: int,
    entry: Mapping[str, Any],
    segs: Mapping[str, tuple[int, Mapping[str, Any], Layout]],
    arrays: Mapping[tuple[str, str], NDArray[np.int64]],
    cfg: HardwareConfig,
    images: int,
    run_golden: bool,
) -> list[str]:
    """A concat's runs (hexgen.concat): golden's record rebuilt from the descriptor's parts, planned
    again and compared with the map; its inputs taken back from the input segment and the placed
    channels of the output region, golden run on them to give the expected segment, and the output
    region ~expected everywhere else."""
    from golden.errors import GoldenError
    from hexgen.concat import concat_from_descriptor, split_inputs

    name, d = entry["name"], entry["descriptor"]
    where = f"{MAP_FILE}: layers[{i}]"
    try:
        layer = concat_from_descriptor(name, dict(d))
        plan = plan_layer(layer, cfg, images=images, check_fit=False)
    except (GoldenError, HexgenError, ValueError, TypeError, KeyError) as exc:
        return [f"{where} ({name}): the descriptor does not make a concat layer: {exc}"]
    out = _plan_differences(where, name, d, plan, segs)
    if out or not run_golden or not all((name, s) in arrays for s in ("input", "expected", "output")):
        return out
    exp, o = arrays[(name, "expected")], arrays[(name, "output")]
    xs = split_inputs(dict(d), arrays[(name, "input")], o, cfg.channel_tile)
    y = np.asarray(layer.forward([x.astype(np.uint8) for x in xs]), np.int64)
    out += _golden_differences(where, name, y, exp, "the descriptor, the input segment and the placed channels", segs)
    placed = np.zeros(exp.shape[1], bool)
    for part, offset in zip(d["parts"], layer.offsets):
        placed[offset:offset + part["channels"]] |= not part["run"]
    run_ch = ~placed
    if np.any(o[:, run_ch] != 255 - exp[:, run_ch]):
        out.append(f"{segs['output'][1]['file']}: the output region is not pre-filled with ~expected where the runs write")
    return out


def _mac_plan_differences(where: str, name: str, entry: Mapping[str, Any], plan: Any, cfg: HardwareConfig) -> list[str]:
    """A MAC-array layer's (conv, fc, a transformer's linear) schedule, pixel tile, passes and
    buffers in the map against its plan."""
    out = []
    if entry["schedule"] != list(plan.schedule):
        out.append(f"{where}.schedule: is {entry['schedule']}; the layer gives {list(plan.schedule)}")
    if entry["pixel_tile"] != plan.pixel_tile:
        out.append(f"{where}.pixel_tile: is {entry['pixel_tile']}; config.array_cols {cfg.array_cols} gives {plan.pixel_tile}")
    if entry["passes"] != plan.passes_json():
        out.append(f"{where}.passes: disagree with the bands and groups the descriptor gives "
                   f"(band_rows {plan.descriptor['band_rows']}, group_k_tiles {plan.descriptor['group_k_tiles']})")
    want_buf = [{"buffer": b.buffer, "what": b.what, "need": b.need, "capacity": b.capacity} for b in plan.buffers]
    if entry["buffers"] != want_buf:
        out.append(f"{where}.buffers: disagree with the layer's needs and config's capacities ({want_buf})")
    for b in plan.buffers:
        if not b.fits:
            out.append(f"{where} ({name}): {b.what} needs {b.need} words of the {b.buffer} buffer, which holds {b.capacity}")
    return out


def check_token_layer(
    i: int,
    entry: Mapping[str, Any],
    segs: Mapping[str, tuple[int, Mapping[str, Any], Layout]],
    arrays: Mapping[tuple[str, str], NDArray[np.int64]],
    cfg: HardwareConfig,
    images: int,
    run_golden: bool,
) -> list[str]:
    """A transformer's layer (hexgen.tokens): golden's record rebuilt from the descriptor and the
    parameter segments (tables and records decoded), planned again and compared with the map, and
    run on the input segment(s) (a matmul's b taken back from its weight order) to give the
    expected segment; the output region ~expected."""
    from golden.errors import GoldenError
    from golden.transformer import MatmulLayer
    from hexgen.plan import plan_layer
    from hexgen.tokens import golden_inputs, token_layer_from

    name, d = entry["name"], entry["descriptor"]
    where = f"{MAP_FILE}: layers[{i}]"
    segments = segments_of(d["kind"])
    params = [s for s in segments if s not in ("input", "input2", "expected", "output")]
    got = {s: arrays[(name, s)] for s in segments if (name, s) in arrays}
    if any(s not in got for s in params):
        return []  # a parameter segment that could not be read, reported already
    try:
        layer = token_layer_from(name, dict(d), got)
        plan = plan_layer(layer, cfg, images=images, check_fit=False)  # the linear: the MAC array's
    except (GoldenError, HexgenError, ValueError, TypeError, KeyError) as exc:
        files = ", ".join(f"{segs[s][1]['file']} ({s})" for s in params)
        return [f"{where} ({name}): the descriptor and {files or 'the descriptor alone'} do not make a {d['kind']} layer: {exc}"]
    out = _plan_differences(where, name, d, plan, segs)
    out += [f"{where}.descriptor.{key}: unknown field" for key in d if key not in plan.descriptor]
    if d["kind"] in ("linear", "matmul"):  # on the MAC array: a pointwise conv over the tokens (a matmul: per head)
        out += _mac_plan_differences(where, name, entry, plan, cfg)
    elif plan.passes:  # the vector unit's (add_const: an add of the constant)
        if entry["passes"] != plan.passes_json():
            out.append(f"{where}.passes: a layer of the vector unit runs in one pass")
    elif entry["schedule"] or entry["passes"] or entry["buffers"]:
        out.append(f"{where}: a {d['kind']} layer has no schedule, buffers or passes yet (the engine runs it from issue 28)")
    records = []  # a matmul's records: what the engine requantizes with, the descriptor's m0 and n (reported last)
    if isinstance(layer, MatmulLayer) and all(s in got for s in ("bias", "scale")):
        from hexgen.matmul import matmul_records

        for s, want in matmul_records(layer).items():
            if got[s].shape != want.shape or np.any(got[s] != want):
                records.append(f"{where} ({name}): the {s} segment ({segs[s][1]['file']}) is not "
                               f"{'0' if s == 'bias' else 'the descriptor m0 and n'} on every output channel")
    data = [s for s in segments if s not in ("output", "bias", "scale")]  # what golden runs on
    if out or not all(s in got for s in data):
        return out + records
    exp, o = got["expected"], got.get("output")
    if o is not None and o.shape == exp.shape and np.any(o != 255 - exp):
        out.append(f"{segs['output'][1]['file']}: the output region is not pre-filled with ~expected "
                   f"({int(np.count_nonzero(o != 255 - exp))} elements differ)")
    if not run_golden:
        return out + records
    try:
        y = np.asarray(layer.forward(golden_inputs(layer, got, cfg)), np.int64)
    except (GoldenError, HexgenError, ValueError) as exc:
        return out + [f"{where} ({name}): golden cannot run the layer on its input segment(s): {exc}"] + records
    run_on = f"the descriptor and the {', '.join(s for s in data if s != 'expected')} segments"
    return out + _golden_differences(where, name, y, exp, run_on, segs) + records
