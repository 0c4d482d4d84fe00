"""The shape of every JSON file hexgen writes, as data, and the one function that checks a value
against it.

`MAP_SCHEMA` describes memory_map.json (every field `make sim` and the benches read: presence,
type, range), `MANIFEST_SCHEMA` describes hexgen.manifest (the marker and checksums of a folder
hexgen wrote). `validate(value, schema)` returns one `(field path, problem)` pair per problem,
e.g. `("segments[3].words", "is 'abc' (a string), expected an integer >= 0")`.

Hand-written rather than the `jsonschema` package: the schema is small, the project needs no new
dependency for it, the problems come out in the project's own `file: field: message` form, and the
consistency checks that follow (descriptor against segments, config against layouts) are code
anyway (hexgen.check.check_image).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence, Union

from hexgen.config import BUFFERS, MAX_ALIGN_BYTES, MAX_ARRAY, MAX_BUF_WORDS, MAX_ROW_BUF, PIXEL_BITS, REMOVED_FIELDS, WEIGHT_WIDTHS
from hexgen.layout import ELEM_BITS, WORD_BITS
from hexgen.plan import ROLE_TEXT

Problem = tuple[str, str]


@dataclass(frozen=True)
class Int:
    lo: int | None = None
    hi: int | None = None
    choices: tuple[int, ...] = ()


@dataclass(frozen=True)
class Str:
    choices: tuple[str, ...] = ()
    pattern: str | None = None


@dataclass(frozen=True)
class Bool:
    pass


@dataclass(frozen=True)
class Const:
    value: Any


@dataclass(frozen=True)
class List:
    item: "Spec"
    lens: tuple[int, ...] = ()  # allowed lengths (empty: any)


@dataclass(frozen=True)
class Obj:
    fields: Mapping[str, "Spec"]
    optional: tuple[str, ...] = ()
    extra: bool = False  # other keys allowed
    removed: Mapping[str, str] = field(default_factory=dict)  # fields that once were, and why they are gone


@dataclass(frozen=True)
class Map:
    """An object whose keys are names (matching `key`) and whose values all follow `value`."""

    value: "Spec"
    key: str = r".+"


@dataclass(frozen=True)
class ByKind:
    """An object whose spec its own "kind" field chooses (`default` for the kinds not in `kinds`)."""

    kinds: Mapping[str, "Spec"]
    default: "Spec"


Spec = Union[Int, Str, Bool, Const, List, Obj, Map, ByKind]


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def _show(v: Any) -> str:
    """A value as it appears in the JSON file (shortened)."""
    try:
        text = json.dumps(v)
    except (TypeError, ValueError):
        text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _is(v: Any) -> str:
    return "is null" if v is None else f"is {_show(v)} ({_kind(v)})"


def _int_text(s: Int) -> str:
    if s.choices:
        return "one of " + ", ".join(map(str, s.choices))
    if s.lo is not None and s.hi is not None:
        return f"an integer in {s.lo}..{s.hi}"
    if s.lo is not None:
        return f"an integer >= {s.lo}"
    return "an integer"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def validate(value: Any, spec: Spec, path: str = "") -> list[Problem]:
    """Every place where `value` does not follow `spec`, as (field path, problem)."""
    where = path or "(top level)"
    if isinstance(spec, Const):
        return [] if value == spec.value and type(value) is type(spec.value) else [(where, f"is {_show(value)}, expected {_show(spec.value)}")]
    if isinstance(spec, Int):
        if not isinstance(value, int) or isinstance(value, bool):
            return [(where, f"{_is(value)}, expected {_int_text(spec)}")]
        if (spec.choices and value not in spec.choices) or (spec.lo is not None and value < spec.lo) or (spec.hi is not None and value > spec.hi):
            return [(where, f"is {value}, expected {_int_text(spec)}")]
        return []
    if isinstance(spec, Bool):
        return [] if isinstance(value, bool) else [(where, f"{_is(value)}, expected true or false")]
    if isinstance(spec, Str):
        if not isinstance(value, str):
            return [(where, f"{_is(value)}, expected a string")]
        if spec.choices and value not in spec.choices:
            return [(where, f"is {_show(value)}, expected one of {', '.join(spec.choices)}")]
        if spec.pattern is not None and not re.fullmatch(spec.pattern, value):
            return [(where, f"is {_show(value)}, which is not a valid name here")]
        return []
    if isinstance(spec, List):
        if not isinstance(value, list):
            return [(where, f"{_is(value)}, expected a list")]
        if spec.lens and len(value) not in spec.lens:
            return [(where, f"has {len(value)} entries, expected {' or '.join(map(str, spec.lens))}")]
        out: list[Problem] = []
        for i, v in enumerate(value):
            out += validate(v, spec.item, f"{path}[{i}]")
        return out
    if isinstance(spec, Map):
        if not isinstance(value, dict):
            return [(where, f"{_is(value)}, expected an object")]
        out = []
        for k, v in value.items():
            if not re.fullmatch(spec.key, k):
                out.append((where, f"key {k!r} is not a valid name here"))
            out += validate(v, spec.value, _join(path, k))
        return out
    if isinstance(spec, ByKind):
        kind = value.get("kind") if isinstance(value, dict) else None
        return validate(value, spec.kinds.get(kind, spec.default) if isinstance(kind, str) else spec.default, path)
    assert isinstance(spec, Obj)
    if not isinstance(value, dict):
        return [(where, f"{_is(value)}, expected an object")]
    out = []
    for k, sub in spec.fields.items():
        if k not in value:
            if k not in spec.optional:
                out.append((_join(path, k), "missing"))
            continue
        out += validate(value[k], sub, _join(path, k))
    if not spec.extra:
        for k in value:
            if k in spec.removed:
                out.append((_join(path, k), f"was removed: {spec.removed[k]}"))
            elif k not in spec.fields:
                out.append((_join(path, k), "unknown field"))
    return out


# ---- memory_map.json ---------------------------------------------------------------------------
#: A file name hexgen writes: no folder part, no leading dot.
FILE_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
NAT = Int(lo=0)
POS = Int(lo=1)
BYTE = Int(lo=0, hi=255)
PAIR_POS = List(POS, lens=(2,))

ARRAY = Int(lo=1, hi=MAX_ARRAY)
BUF = Int(lo=1, hi=MAX_BUF_WORDS)
CONFIG_SCHEMA = Obj({
    "array_rows": ARRAY, "array_cols": ARRAY, "word_bits": Int(choices=WORD_BITS),
    "weight_buf_words": BUF, "act_buf_words": BUF, "bias_buf_words": BUF,
    "scale_buf_words": BUF, "align_bytes": Int(lo=1, hi=MAX_ALIGN_BYTES),
    "weight_bits": List(Int(choices=WEIGHT_WIDTHS)),
    "pixel_bits": Int(lo=PIXEL_BITS[0], hi=PIXEL_BITS[1]),
    "row_buf_words": Int(lo=1, hi=MAX_ROW_BUF), "ln_tiles": Int(lo=1, hi=MAX_ROW_BUF),
}, removed=REMOVED_FIELDS, optional=("row_buf_words", "ln_tiles"))

FIELD_SCHEMA = Obj({"name": Str(), "lsb": NAT, "width": POS, "signed": Bool(), "lo": Int(), "hi": Int()})

LAYOUT_SCHEMA = Obj(
    {
        "dims": List(Str()),
        "shape": List(NAT),
        "tiles": Map(POS),
        "order": List(Str()),
        "elem_bits": Int(choices=ELEM_BITS),
        "signed": Bool(),
        "pad": Int(),
        "word_bits": Int(choices=WORD_BITS),
        "word_aligned": Str(),
        "block_words": NAT,
        "strides": List(Obj({"axis": Str(), "size": POS, "stride": NAT})),
        "words": NAT,
        "text": Str(),
        "fields": List(FIELD_SCHEMA),
    },
    optional=("fields", "word_aligned", "block_words"),
)

KINDS = ("conv", "pointwise", "depthwise", "fc", "add", "maxpool", "avgpool", "upsample", "concat")
#: a transformer's kinds hexgen lays out (hexgen.tokens; the engine runs them from issue 28)
TOKEN_KINDS = ("linear", "matmul", "softmax", "gelu", "layernorm", "add_const")
LAYER_DESCRIPTOR_SCHEMA = Obj({
    "kind": Str(choices=KINDS[:-1]),
    # [C, H, W]; an fc's [C]; a transformer's residual add of [T, C] token tensors (hexgen.rules.engine_shapes)
    "in_shape": List(POS, lens=(1, 2, 3)),
    "out_shape": List(POS, lens=(1, 2, 3)),
    "z_in": BYTE,
    "z_out": BYTE,
    "lo": BYTE,
    "hi": BYTE,
    "m0_bits": Int(lo=1, hi=31),
    "bias_mode": Str(choices=("int16_shift", "int16_saturate", "int32")),
    "kernel": PAIR_POS,
    "stride": PAIR_POS,
    "padding": List(NAT, lens=(2,)),
    "padding_end": List(NAT, lens=(2,)),
    "dilation": List(POS, lens=(2,)),
    "groups": POS,
    "band_rows": POS,
    "group_k_tiles": POS,
    "z_in2": BYTE,
    "a0": Int(lo=0, hi=(1 << 31) - 1),
    "b0": Int(lo=0, hi=(1 << 31) - 1),
    "shift": Int(lo=1, hi=63),
    "weight_bits": Int(choices=WEIGHT_WIDTHS),
}, optional=("m0_bits", "bias_mode", "z_in2", "a0", "b0", "shift", "weight_bits", "dilation"))
#: a concat (hexgen.concat): its inputs, and the registers of each run with its word offsets
CONCAT_RUN_SCHEMA = Obj({**{k: v for k, v in LAYER_DESCRIPTOR_SCHEMA.fields.items() if k not in ("m0_bits", "bias_mode", "z_in2", "b0",
                                                                                                   "weight_bits")},
                         "kind": Const("concat"), "in_shape": List(POS, lens=(3,)), "out_shape": List(POS, lens=(3,)),
                         "in_word": NAT, "out_word": NAT})
CONCAT_DESCRIPTOR_SCHEMA = Obj({
    "kind": Const("concat"), "in_shape": List(POS, lens=(3,)), "out_shape": List(POS, lens=(3,)),
    "z_out": BYTE, "lo": BYTE, "hi": BYTE,
    "parts": List(Obj({"input": Str(), "channels": POS, "z_in": BYTE, "m0": Int(lo=0, hi=(1 << 31) - 1), "n": Int(lo=0, hi=63),
                       "run": Bool()})),
    "runs": List(CONCAT_RUN_SCHEMA),
})
#: a transformer's layers (hexgen.tokens): token tensors [.., T, C] of any rank >= 2
SHAPE = List(POS)
INT32 = Int(lo=-(1 << 31), hi=(1 << 31) - 1)
M0 = Int(lo=0, hi=(1 << 31) - 1)
_TOKEN_COMMON: dict[str, Spec] = {"in_shape": SHAPE, "out_shape": SHAPE, "z_out": BYTE, "lo": BYTE, "hi": BYTE}
_ADD_FIELDS = ("z_in2", "a0", "b0", "shift")
_WEIGHT_FIELDS = ("m0_bits", "bias_mode", "weight_bits")


def _engine_tokens(kind: str, *, without: tuple[str, ...], optional: tuple[str, ...] = ()) -> Obj:
    """A transformer layer the engine runs on [T, C] token tensors (hexgen.rules.engine_shapes): the
    engine descriptor's fields but `without`, golden's 2-D shapes."""
    return Obj({**{k: v for k, v in LAYER_DESCRIPTOR_SCHEMA.fields.items() if k not in without},
                "kind": Const(kind), "in_shape": List(POS, lens=(2,)), "out_shape": List(POS, lens=(2,))}, optional=optional)


#: on the MAC array: a pointwise conv's fields
_LINEAR = _engine_tokens("linear", without=_ADD_FIELDS)
#: on the row unit: a one-input add's shape fields (kernel 1, stride 1) over [T, C]
_ROW = _engine_tokens("row", without=_WEIGHT_FIELDS + _ADD_FIELDS)
TOKEN_DESCRIPTOR_SCHEMAS: dict[str, Spec] = {
    "linear": _LINEAR,
    # one linear run per head (hexgen.matmul): its input, weight (b) and output word offsets
    "matmul": Obj({"kind": Const("matmul"), **_TOKEN_COMMON, "in_shape_b": SHAPE, "transpose_b": Bool(), "z_a": BYTE,
                   "z_b": Int(choices=(128,)), "m0": M0, "n": Int(lo=1, hi=63), "m0_bits": Int(lo=1, hi=31),
                   "weight_bits": Int(choices=(8,)),
                   "runs": List(Obj({**_LINEAR.fields, "in_word": NAT, "w_word": NAT, "out_word": NAT,
                                     # A V: V read where its producer wrote it (W_XOR, W_KT_STRIDE)
                                     # Q K^T: K read where its producer wrote it, transposed (W_TRANSPOSE)
                                     "w_xor": Int(choices=(0, 1)), "w_kt_stride": NAT, "w_transpose": Int(choices=(0, 1))},
                                    optional=("w_xor", "w_kt_stride", "w_transpose")))}),
    # on the row unit (hexgen.tokens.plan_token_layer): a one-input add's shape fields over the rows
    # [T, L], the exp table a segment; over [.., T, L] one run per head at its word offsets
    "softmax": Obj({**_ROW.fields, "kind": Const("softmax"), "in_shape": SHAPE, "out_shape": SHAPE,
                    "dividend": Int(lo=1 << 51, hi=(1 << 52) - 1), "shift": Int(lo=1, hi=63),
                    "runs": List(Obj({**_ROW.fields, "kind": Const("softmax"), "dividend": Int(lo=1 << 51, hi=(1 << 52) - 1),
                                      "shift": Int(lo=1, hi=63), "in_word": NAT, "out_word": NAT}, optional=("dilation",)))},
                   optional=("dilation", "runs")),
    # on the vector unit: a one-input add's shape fields (kernel 1, stride 1), its table a segment
    "gelu": _engine_tokens("gelu", without=_WEIGHT_FIELDS + _ADD_FIELDS, optional=("dilation",)),
    "layernorm": Obj({**_ROW.fields, "kind": Const("layernorm"), "sqrt_shift": Int(lo=0, hi=24),
                      "eps_term": Int(lo=0, hi=(1 << 48) - 1), "m0_bits": Int(lo=1, hi=31)}, optional=("dilation",)),
    # on the vector unit: an add's fields, its second input the constant
    "add_const": _engine_tokens("add_const", without=_WEIGHT_FIELDS, optional=("dilation",)),
}
DESCRIPTOR_SCHEMA = ByKind({"concat": CONCAT_DESCRIPTOR_SCHEMA, **TOKEN_DESCRIPTOR_SCHEMAS}, LAYER_DESCRIPTOR_SCHEMA)

LAYER_SCHEMA = Obj({
    "name": Str(),
    "kind": Str(choices=KINDS + TOKEN_KINDS),
    "descriptor": DESCRIPTOR_SCHEMA,
    "schedule": List(Str()),
    "pixel_tile": POS,
    "buffers": List(Obj({"buffer": Str(choices=BUFFERS), "what": Str(), "need": NAT, "capacity": POS})),
    "passes": List(Obj({f: NAT for f in ("band", "group", "out_y", "out_rows", "in_y", "in_rows", "pad_top", "pad_bottom",
                                         "k_tile", "k_tiles", "c_tile", "c_tiles", "npix", "act", "in_offset", "out_offset", "w_offset",
                                         "rec_offset")})),
})

SEGMENT_SCHEMA = Obj({
    "layer": Str(),
    "segment": Str(choices=("weights", "bias", "scale", "table", "records", "input", "input2", "expected", "output")),
    "base": NAT,
    "base_hex": Str(pattern=r"0x[0-9a-f]{8,}"),
    "base_word": NAT,
    "words": NAT,
    "bytes": NAT,
    "shape": List(NAT),
    "dtype": Str(),
    "layout": LAYOUT_SCHEMA,
    "file": Str(pattern=FILE_NAME),
})

DRAM_SCHEMA = Obj({"file": Str(pattern=FILE_NAME), "words": NAT, "bytes": NAT, "word_bits": Int(choices=WORD_BITS), "fill": Const(0)})

MAP_SCHEMA = Obj({
    "format": Str(),
    "version": Int(),
    "model": Str(),
    "images": POS,
    "target": Str(choices=("engine",)),
    "config": CONFIG_SCHEMA,
    "lane_order": Str(),
    "dram": DRAM_SCHEMA,
    "layers": List(LAYER_SCHEMA),
    "segments": List(SEGMENT_SCHEMA),
}, optional=("target",))

#: memory_map.json of an image of a target's own layouts (hexgen.target): `target` names it; per
#: layer golden's record (checked by rebuilding the layer), per segment its role; no engine plan.
TARGET_MAP_SCHEMA = Obj({
    "format": Str(),
    "version": Int(),
    "model": Str(),
    "images": POS,
    "target": Str(pattern=r"[A-Za-z][A-Za-z0-9_.-]*"),
    "config": Obj({"word_bits": Int(choices=WORD_BITS), "align_bytes": Int(lo=1, hi=MAX_ALIGN_BYTES)}),
    "lane_order": Str(),
    "dram": DRAM_SCHEMA,
    "layers": List(Obj({"name": Str(), "kind": Str(), "record": Obj({"class": Str()}, extra=True)})),
    "segments": List(Obj({**SEGMENT_SCHEMA.fields, "segment": Str(pattern=r"[A-Za-z][A-Za-z0-9_]*"),
                          "role": Str(choices=tuple(ROLE_TEXT))})),
})

# ---- hexgen.manifest ---------------------------------------------------------------------------
MANIFEST_SCHEMA = Obj({
    "format": Str(),
    "version": Int(),
    "note": Str(),
    "files": Map(Obj({"bytes": NAT, "sha256": Str(pattern=r"[0-9a-f]{64}")}), key=FILE_NAME),
})


def problems_text(file: str, problems: Sequence[Problem]) -> list[str]:
    """`file: field: problem` lines."""
    return [f"{file}: {p}: {m}" for p, m in problems]


__all__ = ["MANIFEST_SCHEMA", "MAP_SCHEMA", "TARGET_MAP_SCHEMA", "Problem", "Spec", "problems_text", "validate"]
