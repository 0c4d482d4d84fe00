"""Whole-model images: per-layer segment files, one DRAM image, the memory map, a Verilog header.
Built here; written whole or not at all by hexgen/folder.py; read back and checked by hexgen/check.py.

A written folder holds:
    memory_map.json      machine-readable map (config, layers, every segment's base, size, layout, file)
    memory_map.txt       the printed table: layer, segment, base, words, bytes
    hexgen.vh            `define's for the RTL and testbench: word width, array size, base addresses
    dram.memh            the whole external memory, word 0 first, every segment at its base
    <layer>.<segment>.memh   each segment on its own (same words as in dram.memh)
    hexgen.manifest      the marker: format, version, size and sha256 of every other file
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from golden.layers import INPUT, ConcatLayer, Layer, Network
from hexgen.concat import concat_arrays
from hexgen.config import HardwareConfig
from hexgen.errors import HexgenError, LayoutError
from hexgen.layout import Layout, to_words
from hexgen.plan import ROLE_TEXT, SEGMENT_TEXT, LayerPlan, engine_runs, is_compute, is_vector, layer_arrays, plan_layer
from hexgen.tokens import is_token_layer, not_laid_out, token_arrays

MAP_FILE = "memory_map.json"
TABLE_FILE = "memory_map.txt"
DRAM_FILE = "dram.memh"
HEADER_FILE = "hexgen.vh"
FORMAT = "hexgen-memory-map"
VERSION = 1
#: memory_map.json's `target`: absent (or "engine") for our engine's images, planned by hexgen.plan;
#: a target's name for an image of a target's own layouts (hexgen.target).
ENGINE = "engine"


def shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(int(s)) for s in shape) if len(shape) else "scalar"


def dtype_text(layout: Layout) -> str:
    if layout.fields:
        return f"record{layout.elem_bits}"
    return f"{'int' if layout.signed else 'uint'}{layout.elem_bits}"


#: Segments the accelerator never reads or writes (the bench compares against them).
NOT_ACCESSED = ("expected",)


def window_bases(memory_map: Mapping[str, Any], layer: str) -> dict[str, int]:
    """Where a bench whose memory holds one layer at a time puts each segment of `layer` the
    accelerator reads or writes (not `expected`, which hexgen lays out between the input and the
    output): one after the other from word 0 in DRAM order, each at the image's segment alignment.
    The layer runs with these bases programmed (the layers are independent test cases)."""
    segs = [s for s in memory_map["segments"] if s["layer"] == layer and s["segment"] not in NOT_ACCESSED]
    if not segs:
        raise KeyError(f"no segment of layer {layer} in the memory map")
    cfg = memory_map["config"]
    align = max(1, int(cfg["align_bytes"]) // (int(cfg["word_bits"]) // 8))
    bases, at = {}, 0
    for s in sorted(segs, key=lambda s: int(s["base_word"])):
        bases[str(s["segment"])] = at
        at += -(-int(s["words"]) // align) * align
    return bases


def layer_window(memory_map: Mapping[str, Any], layer: str) -> tuple[int, int]:
    """(first word in the image, words a bench's memory needs) of one layer's run: its segments
    the accelerator reads or writes, packed as window_bases places them."""
    segs = {str(s["segment"]): s for s in memory_map["segments"] if s["layer"] == layer}
    bases = window_bases(memory_map, layer)
    last = max(bases, key=lambda n: bases[n])
    return min(int(segs[n]["base_word"]) for n in bases), bases[last] + int(segs[last]["words"])


def segment_file(layer: str, segment: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", layer)
    return f"{safe}.{segment}.memh"


def macro_name(*parts: str) -> str:
    return "HEXGEN_" + "_".join(re.sub(r"[^A-Za-z0-9]", "_", p).upper() for p in parts)


@dataclass(frozen=True)
class Segment:
    layer: str
    name: str
    layout: Layout
    base: int  # byte address
    words: tuple[int, ...] = field(repr=False)
    role: str = ""  # a target's segment: which golden array it holds (hexgen.target); "" for the engine's

    @property
    def file(self) -> str:
        return segment_file(self.layer, self.name)

    @property
    def word_bytes(self) -> int:
        return self.layout.word_bits // 8

    @property
    def base_word(self) -> int:
        return self.base // self.word_bytes

    @property
    def n_words(self) -> int:
        return len(self.words)

    @property
    def n_bytes(self) -> int:
        return len(self.words) * self.word_bytes

    def header(self) -> dict[str, object]:
        return segment_header(self.layer, self.name, self.layout, self.base, self.n_words, role=self.role)


def segment_header(layer: str, name: str, lay: Layout, base: int, n_words: int, *, role: str = "") -> dict[str, object]:
    """The `// key: value` header of a segment file (written, and checked by check_image)."""
    h: dict[str, object] = {
        "layer": layer,
        "tensor": name,
        "contents": ROLE_TEXT.get(role, role) if role else SEGMENT_TEXT.get(name, name),
        "shape": shape_text(lay.logical_shape),
        "dtype": dtype_text(lay),
        "layout": lay.describe(),
        "pad": lay.pad,
        "word_bits": lay.word_bits,
        "words": n_words,
        "base": f"0x{base:08x}",
    }
    if lay.fields:
        h["fields"] = " ".join(f"{f.name}[{f.lsb + f.width - 1}:{f.lsb}]{'s' if f.signed else 'u'}" for f in lay.fields)
    return h


def dram_header(model: str, word_bits: int, words: int) -> dict[str, object]:
    return {"layer": "*", "tensor": "dram", "model": model, "word_bits": word_bits, "words": words, "base": "0x00000000"}


def _segment_json(s: Segment, *, role: bool = False) -> dict[str, Any]:
    """A segment's entry in memory_map.json; a target's carries its role (the engine's are named by it)."""
    return {"layer": s.layer, "segment": s.name, **({"role": s.role} if role else {}), "base": s.base,
            "base_hex": f"0x{s.base:08x}", "base_word": s.base_word, "words": s.n_words, "bytes": s.n_bytes,
            "shape": list(s.layout.logical_shape), "dtype": dtype_text(s.layout), "layout": s.layout.to_json(), "file": s.file}


@dataclass
class Image:
    """Everything a folder will hold, in memory."""

    config: HardwareConfig
    model: str
    images: int
    plans: list[LayerPlan]
    segments: list[Segment]
    arrays: dict[tuple[str, str], NDArray[np.int64]] = field(repr=False)
    #: ENGINE, or the name of the target whose layouts the segments follow (hexgen.target)
    target: str = ENGINE
    #: a target image's memory-map entry of each layer (name, kind, golden's record); empty for the engine
    layer_entries: list[dict[str, Any]] = field(default_factory=list, repr=False)
    #: (layer, why) of the layers a transformer's default selection leaves out (golden only)
    skipped: list[tuple[str, str]] = field(default_factory=list, repr=False)

    @property
    def end(self) -> int:
        """First byte after the last segment, rounded up to the alignment."""
        if not self.segments:
            return 0
        last = max(s.base + s.n_bytes for s in self.segments)
        a = self.config.align_bytes
        return -(-last // a) * a

    @property
    def dram_words(self) -> list[int]:
        words = [0] * (self.end // self.config.word_bytes)
        for s in self.segments:
            words[s.base_word : s.base_word + s.n_words] = s.words
        return words

    def segment(self, layer: str, name: str) -> Segment:
        for s in self.segments:
            if s.layer == layer and s.name == name:
                return s
        raise KeyError(f"no segment {layer}.{name}")

    # ---- outputs --------------------------------------------------------------------------
    def memory_map(self) -> dict[str, Any]:
        if self.target != ENGINE:
            return self._target_map()
        return {
            "format": FORMAT,
            "version": VERSION,
            "model": self.model,
            "images": self.images,
            "config": self.config.to_json(),
            "lane_order": "lane 0 in the least significant bits; a wider element spans words least significant word first",
            "dram": {
                "file": DRAM_FILE,
                "words": self.end // self.config.word_bytes,
                "bytes": self.end,
                "word_bits": self.config.word_bits,
                "fill": 0,
            },
            "layers": [
                {
                    "name": p.name,
                    "kind": p.kind,
                    "descriptor": p.descriptor,
                    "schedule": list(p.schedule),
                    "pixel_tile": p.pixel_tile,
                    "buffers": [{"buffer": b.buffer, "what": b.what, "need": b.need, "capacity": b.capacity} for b in p.buffers],
                    "passes": p.passes_json(),
                }
                for p in self.plans
            ],
            "segments": [_segment_json(s) for s in self.segments],
        }

    def _target_map(self) -> dict[str, Any]:
        """A target image's map: no engine plan; per layer golden's record, per segment its role."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "model": self.model,
            "images": self.images,
            "target": self.target,
            "config": {"word_bits": self.config.word_bits, "align_bytes": self.config.align_bytes},
            "lane_order": "lane 0 in the least significant bits; a wider element spans words least significant word first",
            "dram": {
                "file": DRAM_FILE,
                "words": self.end // self.config.word_bytes,
                "bytes": self.end,
                "word_bits": self.config.word_bits,
                "fill": 0,
            },
            "layers": list(self.layer_entries),
            "segments": [_segment_json(s, role=True) for s in self.segments],
        }

    def table(self) -> str:
        return map_table(self.memory_map())

    def verilog_header(self) -> str:
        return verilog_header(self.memory_map())


def verilog_header(mm: Mapping[str, Any]) -> str:
    """hexgen.vh, from a memory map (written, and regenerated by check_image to compare)."""
    c = mm["config"]
    lines = [
        "// Generated by hexgen (python -m hexgen); do not edit. Byte addresses (_BASE), word addresses",
        f"// (_WORD) and sizes in words (_WORDS) of every segment of model {mm['model']}.",
        "`ifndef HEXGEN_VH",
        "`define HEXGEN_VH",
        f"`define HEXGEN_WORD_BITS {c['word_bits']}",
    ]
    if mm.get("target", ENGINE) == ENGINE:
        lines += [
            f"`define HEXGEN_ARRAY_ROWS {c['array_rows']}",
            f"`define HEXGEN_ARRAY_COLS {c['array_cols']}",
            f"`define HEXGEN_WEIGHT_BUF_WORDS {c['weight_buf_words']}",
            f"`define HEXGEN_ACT_BUF_WORDS {c['act_buf_words']}",
            f"`define HEXGEN_BIAS_BUF_WORDS {c['bias_buf_words']}",
            f"`define HEXGEN_SCALE_BUF_WORDS {c['scale_buf_words']}",
        ]
    lines += [
        f"`define HEXGEN_ALIGN_BYTES {c['align_bytes']}",
        f"`define HEXGEN_IMAGES {mm['images']}",
        f"`define HEXGEN_DRAM_WORDS {mm['dram']['words']}",
        f'`define HEXGEN_DRAM_FILE "{mm["dram"]["file"]}"',
    ]
    for s in mm["segments"]:
        m = macro_name(s["layer"], s["segment"])
        lines += [
            f"`define {m}_BASE 32'h{s['base']:08x}",
            f"`define {m}_WORD {s['base_word']}",
            f"`define {m}_WORDS {s['words']}",
        ]
    lines.append("`endif")
    return "\n".join(lines) + "\n"


def map_table(mm: Mapping[str, Any]) -> str:
    """The printed memory map: layer, segment, base, words, bytes (what an address decoder is checked with)."""
    rows = [(s["layer"], s["segment"], s["base_hex"], str(s["words"]), str(s["bytes"])) for s in mm["segments"]]
    head = ("layer", "segment", "base", "words", "bytes")
    w = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    fmt = f"{{:<{w[0]}}}  {{:<{w[1]}}}  {{:<{w[2]}}}  {{:>{w[3]}}}  {{:>{w[4]}}}"
    d = mm["dram"]
    cfg = mm["config"]
    hw = (f"array {cfg['array_rows']}x{cfg['array_cols']}, " if mm.get("target", ENGINE) == ENGINE
          else f"target {mm['target']}, ")
    out = [
        f"model {mm['model']}: {len(mm['layers'])} layers, {len(rows)} segments, word {d['word_bits']} bits, "
        f"{hw}alignment {cfg['align_bytes']} bytes",
        fmt.format(*head),
    ]
    out += [fmt.format(*r) for r in rows]
    out.append(f"dram image: {d['words']} words, {d['bytes']} bytes ({d['file']})")
    return "\n".join(out)


# ---- building ----------------------------------------------------------------------------------
def place(items: Iterable[tuple[LayerPlan, Mapping[str, NDArray[Any]]]], cfg: HardwareConfig, *, model: str, images: int) -> Image:
    """Lay out the given layers' segments one after the other, each base aligned to cfg.align_bytes."""
    plans: list[LayerPlan] = []
    segments: list[Segment] = []
    arrays: dict[tuple[str, str], NDArray[np.int64]] = {}
    addr = 0
    a = cfg.align_bytes
    for plan, arrs in items:
        if plan.layouts and plan.layouts[0][1].word_bits != cfg.word_bits:
            raise LayoutError(f"layer {plan.name}: planned for {plan.layouts[0][1].word_bits}-bit words, config has {cfg.word_bits}")
        plans.append(plan)
        for name, lay in plan.layouts:
            arr = np.asarray(arrs[name], dtype=np.int64)
            words = to_words(arr, lay, where=f"layer {plan.name} {name}")
            segments.append(Segment(plan.name, name, lay, addr, tuple(words)))
            arrays[(plan.name, name)] = arr
            addr += -(-len(words) * cfg.word_bytes // a) * a
    return Image(cfg, model, images, plans, segments, arrays)


def build_image(
    net: Network,
    x_q: NDArray[np.uint8],
    cfg: HardwareConfig,
    *,
    model: str = "",
    layers: Sequence[str] | None = None,
    check_fit: bool = True,
) -> Image:
    """Run golden on x_q [N, ...] and lay out every conv/fc layer (or the named ones). For a
    transformer (a network with token layers, hexgen.tokens) the default is every layer with
    arithmetic: the token layers and the conv/fc layers the engine takes; the others are listed in
    Image.skipped with the reason (a pure reshape, or what the engine refuses).

    Each layer's input segment is the golden output of its producer (the network input for the
    first layer), so layers are independent test cases."""
    x_q = net.check_input(x_q)
    run = net.run(x_q)
    outs: dict[str, NDArray[np.uint8]] = dict(run.outputs)
    outs[INPUT] = x_q
    chosen: list[Layer] = []
    skipped: list[tuple[str, str]] = []
    images = int(x_q.shape[0])
    transformer = any(is_token_layer(l) for l in net.layers)
    if layers is None and not transformer:
        chosen = [l for l in net.layers if is_compute(l)]
    elif layers is None:  # a transformer: every layer with arithmetic (hexgen.tokens) and the conv/fc the engine takes
        for l in net.layers:
            if is_token_layer(l) and not engine_runs(l):
                chosen.append(l)
            elif engine_runs(l):  # the MAC array's, the vector unit's and the row unit's: when the engine takes them
                try:
                    plan_layer(l, cfg, images=images, check_fit=check_fit)
                    chosen.append(l)
                except HexgenError as exc:
                    skipped.append((l.name, str(exc)))
            else:
                skipped.append((l.name, not_laid_out(l) or f"kind {l.kind} is not laid out"))
    else:
        compute = ", ".join(l.name for l in net.layers if is_compute(l) or is_token_layer(l)) or "none"
        if not layers:
            raise LayoutError(f"no layer named; the layers with arithmetic are {compute}")
        for name in layers:
            if name not in net.names:
                raise LayoutError(f"no layer named {name!r}; the layers with arithmetic are {compute}")
            l = net[name]
            if not_laid_out(l) is not None:
                raise LayoutError(f"layer {name}: kind {l.kind} is golden only: {not_laid_out(l)}")
            if not is_compute(l) and not is_vector(l) and not isinstance(l, ConcatLayer) and not is_token_layer(l):
                raise LayoutError(f"layer {name}: kind {l.kind} is not run by the accelerator (conv, fc, add, pooling, "
                                  "upsample and concat, and a transformer's linear, matmul, softmax, gelu, layernorm and "
                                  "add_const only)")
            if any(c.name == name for c in chosen):
                raise LayoutError(f"layer {name} is named twice")
            chosen.append(l)
    items = []
    for l in chosen:
        plan = plan_layer(l, cfg, images=images, check_fit=check_fit)
        if is_token_layer(l):  # a transformer's (hexgen.tokens: golden's token tensors)
            items.append((plan, token_arrays(l, [outs[i] for i in l.inputs], outs[l.name], cfg)))
            continue
        if isinstance(l, ConcatLayer):
            items.append((plan, concat_arrays(l, plan.descriptor, [outs[i] for i in l.inputs], outs[l.name], cfg.channel_tile)))
            continue
        x2 = outs[l.inputs[1]] if len(l.inputs) > 1 else None
        items.append((plan, layer_arrays(l, outs[l.inputs[0]], outs[l.name], x2)))
    image = place(items, cfg, model=model, images=images)
    image.skipped = skipped
    return image

