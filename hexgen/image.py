"""Whole-model images: per-layer segment files, one DRAM image, the memory map, a Verilog header,
and the reader/checker that reads a written folder back.

A written folder holds:
    memory_map.json      machine-readable map (config, layers, every segment's base, size, layout, file)
    memory_map.txt       the printed table: layer, segment, base, words, bytes
    hexgen.vh            `define's for the RTL and testbench: word width, array size, base addresses
    dram.memh            the whole external memory, word 0 first, every segment at its base
    <layer>.<segment>.memh   each segment on its own (same words as in dram.memh)
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from golden.layers import INPUT, Layer, Network
from hexgen.config import HardwareConfig
from hexgen.errors import HexFormatError, HexgenError, LayoutError
from hexgen.layout import Layout, from_words, to_words
from hexgen.memh import MemhFile, memh_text, read_memh
from hexgen.plan import SEGMENT_TEXT, LayerPlan, is_compute, layer_arrays, plan_layer

MAP_FILE = "memory_map.json"
TABLE_FILE = "memory_map.txt"
DRAM_FILE = "dram.memh"
HEADER_FILE = "hexgen.vh"
FORMAT = "hexgen-memory-map"
VERSION = 1


def shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(int(s)) for s in shape) if len(shape) else "scalar"


def dtype_text(layout: Layout) -> str:
    if layout.fields:
        return f"record{layout.elem_bits}"
    return f"{'int' if layout.signed else 'uint'}{layout.elem_bits}"


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
        lay = self.layout
        h: dict[str, object] = {
            "layer": self.layer,
            "tensor": self.name,
            "contents": SEGMENT_TEXT.get(self.name, self.name),
            "shape": shape_text(lay.logical_shape),
            "dtype": dtype_text(lay),
            "layout": lay.describe(),
            "pad": lay.pad,
            "word_bits": lay.word_bits,
            "words": self.n_words,
            "base": f"0x{self.base:08x}",
        }
        if lay.fields:
            h["fields"] = " ".join(f"{f.name}[{f.lsb + f.width - 1}:{f.lsb}]{'s' if f.signed else 'u'}" for f in lay.fields)
        return h


@dataclass
class Image:
    """Everything a folder will hold, in memory."""

    config: HardwareConfig
    model: str
    images: int
    plans: list[LayerPlan]
    segments: list[Segment]
    arrays: dict[tuple[str, str], NDArray[np.int64]] = field(repr=False)

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
                }
                for p in self.plans
            ],
            "segments": [
                {
                    "layer": s.layer,
                    "segment": s.name,
                    "base": s.base,
                    "base_hex": f"0x{s.base:08x}",
                    "base_word": s.base_word,
                    "words": s.n_words,
                    "bytes": s.n_bytes,
                    "shape": list(s.layout.logical_shape),
                    "dtype": dtype_text(s.layout),
                    "layout": s.layout.to_json(),
                    "file": s.file,
                }
                for s in self.segments
            ],
        }

    def table(self) -> str:
        return map_table(self.memory_map())

    def verilog_header(self) -> str:
        c = self.config
        lines = [
            "// Generated by hexgen (python -m hexgen); do not edit. Byte addresses (_BASE), word addresses",
            f"// (_WORD) and sizes in words (_WORDS) of every segment of model {self.model}.",
            "`ifndef HEXGEN_VH",
            "`define HEXGEN_VH",
            f"`define HEXGEN_WORD_BITS {c.word_bits}",
            f"`define HEXGEN_ARRAY_ROWS {c.array_rows}",
            f"`define HEXGEN_ARRAY_COLS {c.array_cols}",
            f"`define HEXGEN_WEIGHT_BUF_WORDS {c.weight_buf_words}",
            f"`define HEXGEN_ACT_BUF_WORDS {c.act_buf_words}",
            f"`define HEXGEN_OUT_BUF_WORDS {c.out_buf_words}",
            f"`define HEXGEN_BIAS_BUF_WORDS {c.bias_buf_words}",
            f"`define HEXGEN_SCALE_BUF_WORDS {c.scale_buf_words}",
            f"`define HEXGEN_ALIGN_BYTES {c.align_bytes}",
            f"`define HEXGEN_IMAGES {self.images}",
            f"`define HEXGEN_DRAM_WORDS {self.end // c.word_bytes}",
            f'`define HEXGEN_DRAM_FILE "{DRAM_FILE}"',
        ]
        for s in self.segments:
            m = macro_name(s.layer, s.name)
            lines += [
                f"`define {m}_BASE 32'h{s.base:08x}",
                f"`define {m}_WORD {s.base_word}",
                f"`define {m}_WORDS {s.n_words}",
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
    out = [
        f"model {mm['model']}: {len(mm['layers'])} layers, {len(rows)} segments, word {d['word_bits']} bits, "
        f"array {cfg['array_rows']}x{cfg['array_cols']}, alignment {cfg['align_bytes']} bytes",
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
    """Run golden on x_q [N, ...] and lay out every conv/fc layer (or the named ones).

    Each layer's input segment is the golden output of its producer (the network input for the
    first layer), so layers are independent test cases."""
    x_q = net.check_input(x_q)
    run = net.run(x_q)
    outs: dict[str, NDArray[np.uint8]] = dict(run.outputs)
    outs[INPUT] = x_q
    chosen: list[Layer] = []
    if layers is None:
        chosen = [l for l in net.layers if is_compute(l)]
    else:
        for name in layers:
            l = net[name]
            if not is_compute(l):
                raise LayoutError(f"layer {name}: kind {l.kind} is not run by the accelerator (conv and fc only)")
            chosen.append(l)
    items = []
    for l in chosen:
        plan = plan_layer(l, cfg, images=int(x_q.shape[0]), check_fit=check_fit)
        items.append((plan, layer_arrays(l, outs[l.inputs[0]], outs[l.name])))
    return place(items, cfg, model=model, images=int(x_q.shape[0]))


# ---- writing -----------------------------------------------------------------------------------
def write_image(image: Image, out_dir: str | os.PathLike[str]) -> Path:
    """Write every file into a temporary folder next to out_dir, then move it into place.

    An existing out_dir is replaced only if it is empty or a hexgen folder (has memory_map.json)."""
    out = Path(out_dir)
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / MAP_FILE).is_file())):
        raise HexgenError(f"{out} exists and is not a hexgen output folder (no {MAP_FILE}); refusing to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    old: Path | None = None
    try:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes 0700; the folder gets the usual permissions
        wb = image.config.word_bits
        for s in image.segments:
            (tmp / s.file).write_text(memh_text(s.words, wb, s.header()), encoding="ascii")
        dram_header = {
            "layer": "*",
            "tensor": "dram",
            "model": image.model,
            "word_bits": wb,
            "words": image.end // image.config.word_bytes,
            "base": "0x00000000",
        }
        (tmp / DRAM_FILE).write_text(memh_text(image.dram_words, wb, dram_header), encoding="ascii")
        mm = image.memory_map()
        (tmp / MAP_FILE).write_text(json.dumps(mm, indent=1) + "\n", encoding="utf-8")
        (tmp / TABLE_FILE).write_text(map_table(mm) + "\n", encoding="utf-8")
        (tmp / HEADER_FILE).write_text(image.verilog_header(), encoding="ascii")
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            old.rmdir()
            out.rename(old)
        tmp.rename(out)
    except BaseException:
        if old is not None and not out.exists():
            old.rename(out)  # put the previous image back
            old = None
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return out


# ---- reading and checking ----------------------------------------------------------------------
@dataclass
class ReadBack:
    """A written folder read back: its memory map and every segment's logical array."""

    folder: Path
    memory_map: dict[str, Any]
    config: HardwareConfig
    arrays: dict[tuple[str, str], NDArray[np.int64]]
    problems: list[str]

    def __getitem__(self, key: tuple[str, str]) -> NDArray[np.int64]:
        return self.arrays[key]

    def segment_info(self, layer: str, segment: str) -> dict[str, Any]:
        """The memory map's entry of one segment (base, base_word, words, bytes, shape, layout, file)."""
        for s in self.memory_map["segments"]:
            if s["layer"] == layer and s["segment"] == segment:
                return dict(s)
        raise KeyError(f"{self.folder}: no segment {layer}.{segment} in the memory map")

    def layout(self, layer: str, segment: str) -> Layout:
        """The layout of one segment, e.g. to decode the output region a simulation wrote:
        `from_words(words_read_back, rb.layout("conv3", "output"))`."""
        return Layout.from_json(self.segment_info(layer, segment)["layout"])

    def layer(self, name: str) -> dict[str, Any]:
        """The memory map's entry of one layer (descriptor for the CSRs, schedule, buffer needs)."""
        for l in self.memory_map["layers"]:
            if l["name"] == name:
                return dict(l)
        raise KeyError(f"{self.folder}: no layer {name} in the memory map")


def _load(folder: Path) -> ReadBack:
    problems: list[str] = []
    mpath = folder / MAP_FILE
    try:
        mm = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HexgenError(f"{mpath}: cannot read the memory map: {exc}") from exc
    if not isinstance(mm, dict) or mm.get("format") != FORMAT:
        raise HexgenError(f"{mpath}: not a hexgen memory map (format is not {FORMAT!r})")
    if mm.get("version") != VERSION:
        raise HexgenError(f"{mpath}: memory map version {mm.get('version')!r}; this hexgen reads version {VERSION}")
    try:
        cfg = HardwareConfig.from_json(mm["config"])
    except (KeyError, TypeError, HexgenError) as exc:
        raise HexgenError(f"{mpath}: bad config: {exc}") from exc
    wb = cfg.word_bits
    arrays: dict[tuple[str, str], NDArray[np.int64]] = {}
    try:
        dram_words = int(mm["dram"]["words"])
        dram_name = str(mm["dram"]["file"])
        segments = sorted(mm["segments"], key=lambda s: int(s["base"]))
        for i, seg in enumerate(segments):
            missing = [k for k in ("layer", "segment", "base", "words", "layout", "file") if k not in seg]
            if missing:
                raise KeyError(f"segment {i} has no {', '.join(missing)}")
    except (KeyError, TypeError, ValueError) as exc:
        raise HexgenError(f"{mpath}: malformed memory map: {exc}") from exc
    dram: MemhFile | None = None
    try:
        dram = read_memh(folder / dram_name, wb, expect={"tensor": "dram", "word_bits": wb}, count=dram_words)
    except HexFormatError as exc:
        problems.append(f"{dram_name}:{exc.line}: {exc.message}")
    covered = np.zeros(dram_words, bool)
    prev_end = 0
    for seg in segments:
        name = f"{seg['layer']}.{seg['segment']}"
        fname = seg["file"]
        base, n = int(seg["base"]), int(seg["words"])
        if base % cfg.align_bytes:
            problems.append(f"{MAP_FILE}: segment {name} base 0x{base:08x} is not aligned to {cfg.align_bytes} bytes")
        if base < prev_end:
            problems.append(f"{MAP_FILE}: segment {name} at 0x{base:08x} overlaps the previous segment (ends at 0x{prev_end:08x})")
        prev_end = max(prev_end, base + n * cfg.word_bytes)
        try:
            lay = Layout.from_json(seg["layout"])
        except (LayoutError, AttributeError) as exc:
            problems.append(f"{MAP_FILE}: segment {name}: {exc}")
            continue
        stored = {k: v for k, v in seg["layout"].items()}
        if stored != lay.to_json():
            bad = sorted(k for k in set(stored) | set(lay.to_json()) if stored.get(k) != lay.to_json().get(k))
            problems.append(f"{MAP_FILE}: segment {name}: layout entries {', '.join(bad)} disagree with the layout they describe")
            continue
        if lay.words != n or lay.word_bits != wb:
            problems.append(f"{MAP_FILE}: segment {name}: layout holds {lay.words} words of {lay.word_bits} bits, map says {n} of {wb}")
            continue
        expect = {
            "layer": seg["layer"],
            "tensor": seg["segment"],
            "shape": shape_text(lay.logical_shape),
            "layout": lay.describe(),
            "word_bits": wb,
            "words": n,
        }
        bw = base // cfg.word_bytes
        covered[bw : bw + n] = True
        try:
            f = read_memh(folder / fname, wb, expect=expect, count=n)
        except HexFormatError as exc:
            problems.append(f"{fname}:{exc.line}: {exc.message}")
            continue
        arr, probs = from_words(f.words, lay)
        for off, msg in probs:
            problems.append(f"{fname}:{f.line_of(off)}: {msg}")
        arrays[(seg["layer"], seg["segment"])] = arr
        if dram is not None:
            got = dram.words[bw : bw + n]
            diff = [i for i in range(min(n, len(got))) if got[i] != f.words[i]]
            if len(got) < n:
                problems.append(f"{dram_name}:{dram.line_of(len(dram.words) - 1)}: segment {name} runs past the end of the image")
            for i in diff[:5]:
                problems.append(
                    f"{dram_name}:{dram.line_of(bw + i)}: word {bw + i} (segment {name} word {i}) differs from {fname}:{f.line_of(i)}"
                )
            if len(diff) > 5:
                problems.append(f"{dram_name}: segment {name}: {len(diff)} words differ from {fname} in all")
    if dram is not None:
        for i in np.flatnonzero(~covered[: len(dram.words)] & (np.array([w != 0 for w in dram.words], bool)))[:5]:
            problems.append(f"{dram_name}:{dram.line_of(int(i))}: word {int(i)} lies between segments and is not 0")
    return ReadBack(folder, mm, cfg, arrays, problems)


def check_image(folder: str | os.PathLike[str]) -> list[str]:
    """Every problem of a written folder, each as `file:line: message` (empty list: all good)."""
    try:
        return _load(Path(folder)).problems
    except HexgenError as exc:
        return [str(exc)]


def read_image(folder: str | os.PathLike[str]) -> ReadBack:
    """Read a written folder back into arrays (the inverse of the layout). HexgenError listing every
    problem if the folder does not check clean."""
    rb = _load(Path(folder))
    if rb.problems:
        raise HexgenError(f"{folder}: {len(rb.problems)} problem(s):\n  " + "\n  ".join(rb.problems))
    return rb
