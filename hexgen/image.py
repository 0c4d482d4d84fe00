"""Whole-model images: per-layer segment files, one DRAM image, the memory map, a Verilog header,
and the reader/checker that reads a written folder back.

A written folder holds:
    memory_map.json      machine-readable map (config, layers, every segment's base, size, layout, file)
    memory_map.txt       the printed table: layer, segment, base, words, bytes
    hexgen.vh            `define's for the RTL and testbench: word width, array size, base addresses
    dram.memh            the whole external memory, word 0 first, every segment at its base
    <layer>.<segment>.memh   each segment on its own (same words as in dram.memh)
    hexgen.manifest      the marker: format, version, size and sha256 of every other file
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from golden.layers import INPUT, Layer, Network
from hexgen.config import HardwareConfig
from hexgen.errors import ConfigError, HexFormatError, HexgenError, LayoutError
from hexgen.layout import Layout, from_words, to_words
from hexgen.memh import MemhFile, memh_text, read_memh
from hexgen.plan import DATA_SEGMENTS, SEGMENT_TEXT, SEGMENTS, LayerPlan, is_compute, layer_arrays, plan_layer
from hexgen.schema import MANIFEST_SCHEMA, MAP_SCHEMA, problems_text, validate

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
        return segment_header(self.layer, self.name, self.layout, self.base, self.n_words)


def segment_header(layer: str, name: str, lay: Layout, base: int, n_words: int) -> dict[str, object]:
    """The `// key: value` header of a segment file (written, and checked by check_image)."""
    h: dict[str, object] = {
        "layer": layer,
        "tensor": name,
        "contents": SEGMENT_TEXT.get(name, name),
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
        f"`define HEXGEN_ARRAY_ROWS {c['array_rows']}",
        f"`define HEXGEN_ARRAY_COLS {c['array_cols']}",
        f"`define HEXGEN_WEIGHT_BUF_WORDS {c['weight_buf_words']}",
        f"`define HEXGEN_ACT_BUF_WORDS {c['act_buf_words']}",
        f"`define HEXGEN_OUT_BUF_WORDS {c['out_buf_words']}",
        f"`define HEXGEN_BIAS_BUF_WORDS {c['bias_buf_words']}",
        f"`define HEXGEN_SCALE_BUF_WORDS {c['scale_buf_words']}",
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
        compute = ", ".join(l.name for l in net.layers if is_compute(l)) or "none"
        if not layers:
            raise LayoutError(f"no layer named; the conv/fc layers are {compute}")
        for name in layers:
            if name not in net.names:
                raise LayoutError(f"no layer named {name!r}; the conv/fc layers are {compute}")
            l = net[name]
            if not is_compute(l):
                raise LayoutError(f"layer {name}: kind {l.kind} is not run by the accelerator (conv and fc only: {compute})")
            if any(c.name == name for c in chosen):
                raise LayoutError(f"layer {name} is named twice")
            chosen.append(l)
    items = []
    for l in chosen:
        plan = plan_layer(l, cfg, images=int(x_q.shape[0]), check_fit=check_fit)
        items.append((plan, layer_arrays(l, outs[l.inputs[0]], outs[l.name])))
    return place(items, cfg, model=model, images=int(x_q.shape[0]))


# ---- writing -----------------------------------------------------------------------------------
#: The marker of a folder hexgen wrote: format, version, and every file's size and sha256.
MANIFEST_FILE = "hexgen.manifest"
MANIFEST_FORMAT = "hexgen-folder"
MANIFEST_VERSION = 1
#: Names of the files hexgen writes into a folder (a segment file is <layer>.<segment>.memh).
OWN_FILE = re.compile(
    r"(memory_map\.json|memory_map\.txt|hexgen\.vh|hexgen\.manifest|dram\.memh|"
    r"[A-Za-z0-9_.-]+\.(weights|bias|scale|input|expected|output)\.memh)"
)
#: Leftovers of a killed run are removed only when their name holds no live PID and, for names
#: without a PID (written by hexgen before the marker existed), when they are this old.
LEGACY_LEFTOVER_AGE_S = 600.0


class ImageWriteError(HexgenError, OSError):
    """The operating system refused a write (read-only folder, disk full, a file where a folder
    should be): one line naming the folder; nothing of the run is left behind."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_text(files: Mapping[str, bytes]) -> str:
    return json.dumps(
        {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "note": "written by hexgen (python -m hexgen): the files of this folder, their sizes and sha256; "
            "hexgen replaces this folder only while it holds nothing else",
            "files": {name: {"bytes": len(data), "sha256": _sha256(data)} for name, data in sorted(files.items())},
        },
        indent=1,
    ) + "\n"


def read_manifest(folder: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """The folder's manifest and the problems of the manifest itself (as `hexgen.manifest: ...`)."""
    path = folder / MANIFEST_FILE
    if not path.exists():
        return None, [f"{MANIFEST_FILE}: missing: this folder carries no hexgen marker, so its files cannot be "
                      "checked against the checksums hexgen wrote (write it again with python -m hexgen)"]
    try:
        man = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, [f"{MANIFEST_FILE}: cannot read: {exc}"]
    probs = validate(man, MANIFEST_SCHEMA)
    if not probs:
        if man["format"] != MANIFEST_FORMAT:
            probs.append(("format", f"is {man['format']!r}, expected {MANIFEST_FORMAT!r}"))
        elif man["version"] != MANIFEST_VERSION:
            probs.append(("version", f"is {man['version']!r}; this hexgen reads version {MANIFEST_VERSION}"))
    if probs:
        return None, problems_text(MANIFEST_FILE, probs)
    return man, []


def _foreign_reason(folder: Path, *, partial: bool = False) -> str | None:
    """None if every entry of `folder` is a file hexgen wrote; otherwise why not.

    A finished folder needs its marker (hexgen.manifest) listing every file in it, or, for a folder
    written before the marker existed, a hexgen memory map naming every file in it. A partial
    folder (a temporary folder of a killed run) needs only files named the way hexgen names them."""
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        return f"cannot list it ({exc.strerror or exc})"
    odd = [e.name for e in entries if e.is_symlink() or not e.is_file()]
    if odd:
        return f"it holds {', '.join(odd[:3])}, which hexgen never writes"
    names = {e.name for e in entries}
    if partial:
        allowed = {n for n in names if OWN_FILE.fullmatch(n)}
    elif MANIFEST_FILE in names:
        man, probs = read_manifest(folder)
        if man is None:
            return f"its {MANIFEST_FILE} is not hexgen's ({probs[0]})"
        allowed = set(man["files"]) | {MANIFEST_FILE}
    else:
        try:
            mm = json.loads((folder / MAP_FILE).read_text(encoding="utf-8"))
            ok = isinstance(mm, dict) and mm.get("format") == FORMAT
            allowed = {MAP_FILE, TABLE_FILE, HEADER_FILE, str(mm["dram"]["file"])} | {str(s["file"]) for s in mm["segments"]}
        except (OSError, ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            return f"it has no {MANIFEST_FILE} (hexgen's marker) and no hexgen {MAP_FILE}"
    extra = sorted(names - allowed)
    if extra:
        more = f" and {len(extra) - 3} more" if len(extra) > 3 else ""
        return f"it holds files hexgen did not write: {', '.join(extra[:3])}{more}"
    return None


def pid_alive(pid: int) -> bool:
    """Whether process `pid` still runs (a folder named after it may be in use)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, OSError):
        return False
    return True


def clean_leftovers(out: Path) -> list[Path]:
    """Remove `.NAME.tmp-*` / `.NAME.old-*` folders next to `out` that killed runs left.

    Call with the folder's lock held (write_image does): a live writer of the same folder holds it,
    so what remains is a leftover, unless its name records a PID that is still alive. Only folders
    that hold nothing but hexgen's own files are removed; anything else is left alone."""
    pat = re.compile(rf"\.{re.escape(out.name)}\.(tmp|old)-(?:(\d+)-[0-9a-f]+|([A-Za-z0-9_]+))")
    removed: list[Path] = []
    try:
        entries = list(out.parent.iterdir())
    except OSError:
        return removed
    for d in entries:
        m = pat.fullmatch(d.name)
        if not m or d.is_symlink() or not d.is_dir():
            continue
        if m.group(2) is not None:
            pid = int(m.group(2))
            if pid != os.getpid() and pid_alive(pid):
                continue
        else:  # a name without a PID, from a hexgen that predates it
            try:
                if time.time() - d.stat().st_mtime < LEGACY_LEFTOVER_AGE_S:
                    continue
            except OSError:
                continue
        if _foreign_reason(d, partial=m.group(1) == "tmp") is not None:
            continue
        shutil.rmtree(d, ignore_errors=True)
        if not d.exists():
            removed.append(d)
    return removed


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive flock on `path` (created, and removed again when done): one writer of a folder
    at a time; the lock dies with its process, so a killed run never blocks the next."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            st = os.fstat(fd)
            try:
                cur = os.stat(path)
                same = (cur.st_dev, cur.st_ino) == (st.st_dev, st.st_ino)
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            break
        os.close(fd)  # the previous holder removed the file before we locked it: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
        os.close(fd)


def _first_existing(p: Path) -> Path:
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def write_image(image: Image, out_dir: str | os.PathLike[str]) -> Path:
    """Write every file into a temporary folder next to out_dir, then move it into place.

    The folder gets a marker, hexgen.manifest (format, version, size and sha256 of every file). An
    existing out_dir is replaced only if it is empty or holds only files its marker lists (or,
    written before the marker existed, files its hexgen memory map names); anything else is refused
    with HexgenError and left untouched. Leftovers of killed runs next to out_dir are removed first
    (clean_leftovers). An OSError (read-only folder, disk full, a file in the way) becomes
    ImageWriteError, and nothing of the run is left behind; the previous folder stays as it was."""
    out = Path(out_dir)
    if not out.name or out.name in (".", ".."):
        raise HexgenError(f"--out {out}: name a folder to write (not {str(out)!r})")
    anchor = _first_existing(out.parent)
    if not anchor.is_dir():
        raise ImageWriteError(f"cannot write {out}: {anchor} is a file, not a folder")
    made: list[Path] = []
    p = out.parent
    while p != anchor:
        made.append(p)
        p = p.parent
    try:
        for d in reversed(made):
            d.mkdir()
        with _locked(out.parent / f".{out.name}.lock"):
            clean_leftovers(out)
            _replace(image, out)
    except BaseException as exc:
        for d in made:
            try:
                d.rmdir()
            except OSError:
                break
        if isinstance(exc, OSError) and not isinstance(exc, HexgenError):
            raise ImageWriteError(f"cannot write {out}: {exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")) from exc
        raise
    return out


def _replace(image: Image, out: Path) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise HexgenError(f"{out} exists and is not a folder; refusing to replace it")
    if out.exists() and any(out.iterdir()):
        why = _foreign_reason(out)
        if why is not None:
            raise HexgenError(f"{out} is not a hexgen output folder ({why}); refusing to replace it: choose another --out or empty it")
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    old: Path | None = None
    try:
        wb = image.config.word_bits
        files: dict[str, bytes] = {}
        for s in image.segments:
            files[s.file] = memh_text(s.words, wb, s.header()).encode("ascii")
        files[DRAM_FILE] = memh_text(image.dram_words, wb, dram_header(image.model, wb, image.end // image.config.word_bytes)).encode("ascii")
        mm = image.memory_map()
        files[MAP_FILE] = (json.dumps(mm, indent=1) + "\n").encode("utf-8")
        files[TABLE_FILE] = (map_table(mm) + "\n").encode("utf-8")
        files[HEADER_FILE] = image.verilog_header().encode("ascii")
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        (tmp / MANIFEST_FILE).write_bytes(manifest_text(files).encode("utf-8"))  # last: the folder is complete
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
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


def _read_map(folder: Path) -> dict[str, Any]:
    mpath = folder / MAP_FILE
    if not folder.is_dir():
        raise HexgenError(f"{folder}: no such folder" if not folder.exists() else f"{folder}: not a folder")
    try:
        mm = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HexgenError(f"{mpath}: cannot read the memory map: {exc}") from exc
    if not isinstance(mm, dict) or mm.get("format") != FORMAT:
        raise HexgenError(f"{mpath}: not a hexgen memory map (format is not {FORMAT!r})")
    if mm.get("version") != VERSION:
        raise HexgenError(f"{mpath}: memory map version {mm.get('version')!r}; this hexgen reads version {VERSION}")
    return mm


def _compare_text(folder: Path, name: str, want: str) -> list[str]:
    """A file hexgen derives from the map, against what the map gives: the first differing line."""
    try:
        got = (folder / name).read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        return [f"{name}:0: cannot read: {exc}"]
    g, w = got.splitlines(), want.splitlines()
    for i in range(max(len(g), len(w))):
        a = g[i] if i < len(g) else "<end of file>"
        b = w[i] if i < len(w) else "<end of file>"
        if a != b:
            return [f"{name}:{i + 1}: is {a!r}; the memory map gives {b!r}"]
    return []


def _check_layer(
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
    missing = [s for s in SEGMENTS if s not in listed]
    if missing:
        return out + [f"{where} ({name}): no {', '.join(missing)} segment(s) in segments[]"]
    if any(s not in segs for s in SEGMENTS):
        return out  # a segment entry that is unusable, reported above
    if d["lo"] > d["hi"]:
        out.append(f"{where}.descriptor.lo: {d['lo']} is above hi {d['hi']} (clamp bounds need lo <= hi)")
    ins, outs, (kh, kw), (sy, sx), (py, px), g = d["in_shape"], d["out_shape"], d["kernel"], d["stride"], d["padding"], d["groups"]
    fc = d["kind"] == "fc"
    if fc:
        if len(ins) != 1 or len(outs) != 1:
            out.append(f"{where}.descriptor: an fc layer has 1-element in_shape and out_shape, not {ins} and {outs}")
        if [kh, kw, sy, sx, py, px, g] != [1, 1, 1, 1, 0, 0, 1]:
            out.append(f"{where}.descriptor: an fc layer has kernel [1, 1], stride [1, 1], padding [0, 0], groups 1")
    else:
        if len(ins) != 3 or len(outs) != 3:
            out.append(f"{where}.descriptor: a {d['kind']} layer has 3-element in_shape and out_shape, not {ins} and {outs}")
        else:
            ho, wo = (ins[1] + 2 * py - kh) // sy + 1, (ins[2] + 2 * px - kw) // sx + 1
            if [ho, wo] != outs[1:]:
                out.append(f"{where}.descriptor.out_shape: {outs} does not follow from in_shape {ins}, kernel, stride "
                           f"and padding (gives {outs[0]}x{ho}x{wo})")
            if ins[0] % g or outs[0] % g:
                out.append(f"{where}.descriptor.groups: {g} does not divide the channels ({ins[0]} in, {outs[0]} out)")
            if d["kind"] == "depthwise" and not (g == ins[0] == outs[0] and g > 1):
                out.append(f"{where}.descriptor.kind: depthwise needs groups == in channels == out channels > 1")
            if d["kind"] == "pointwise" and [kh, kw] != [1, 1]:
                out.append(f"{where}.descriptor.kind: pointwise with kernel {[kh, kw]}")
    if out:
        return out
    # golden's layer record from the descriptor and the data segments (zeros where a file was unreadable)
    from golden.arith import BiasCodes
    from golden.errors import GoldenError
    from golden.layers import ConvLayer, LinearLayer, Requant

    w_shape = segs["weights"][2].logical_shape
    k = int(w_shape[0])

    def arr(seg: str, shape: tuple[int, ...]) -> NDArray[np.int64]:
        a = arrays.get((name, seg))
        return a if a is not None and a.shape == shape else np.zeros(shape, np.int64)

    weights = arr("weights", tuple(w_shape))
    bias = arr("bias", (k, 2))
    scale = arr("scale", (k, 2))
    try:
        if np.any(weights < -127) or np.any(weights > 127):
            raise LayoutError("int8 weights outside -127..127")
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
            layer = ConvLayer(**common, stride=(sy, sx), padding=(py, px), groups=g, kind_name=d["kind"])
        plan = plan_layer(layer, cfg, images=images, check_fit=False)
    except (GoldenError, HexgenError, ValueError) as exc:
        return [f"{where} ({name}): the descriptor and the weights segment do not make a layer: {exc}"]
    for key, want in plan.descriptor.items():
        if d[key] != want:
            out.append(f"{where}.descriptor.{key}: is {d[key]!r}; the weights segment (shape {list(w_shape)}) gives {want!r}")
    for seg, lay in plan.layouts:
        j, info, got = segs[seg]
        if got != lay:
            diff = sorted(f for f, v in lay.to_json().items() if info["layout"].get(f) != v)
            out.append(f"{MAP_FILE}: segments[{j}].layout ({name}.{seg}): {', '.join(diff)} disagree with what the "
                       f"descriptor and config give ({lay.describe()}, pad {lay.pad}, {lay.word_bits}-bit words)")
    if entry["schedule"] != list(plan.schedule):
        out.append(f"{where}.schedule: is {entry['schedule']}; the layer gives {list(plan.schedule)}")
    if entry["pixel_tile"] != plan.pixel_tile:
        out.append(f"{where}.pixel_tile: is {entry['pixel_tile']}; config.array_cols {cfg.array_cols} gives {plan.pixel_tile}")
    want_buf = [{"buffer": b.buffer, "what": b.what, "need": b.need, "capacity": b.capacity} for b in plan.buffers]
    if entry["buffers"] != want_buf:
        out.append(f"{where}.buffers: disagree with the layer's needs and config's capacities ({want_buf})")
    for b in plan.buffers:
        if not b.fits:
            out.append(f"{where} ({name}): {b.what} needs {b.need} words of the {b.buffer} buffer, which holds {b.capacity}")
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


def _inspect(folder: Path, run_golden: bool = True) -> tuple[list[str], ReadBack | None]:
    """Every problem of a folder, and the folder read back (None when the map is unusable)."""
    mm = _read_map(folder)
    problems = problems_text(MAP_FILE, validate(mm, MAP_SCHEMA))
    cfg: HardwareConfig | None = None
    if not problems:
        try:
            cfg = HardwareConfig.from_json(mm["config"])
        except ConfigError as exc:
            problems.append(f"{MAP_FILE}: config: {exc}")
    rb: ReadBack | None = None
    if cfg is not None:
        rb = _check_contents(folder, mm, cfg, problems, run_golden)
    # checksums last: every file that differs from what hexgen wrote, whatever was found above
    man, mprobs = read_manifest(folder)
    problems += mprobs
    if man is not None:
        files = man["files"]
        named = [MAP_FILE, TABLE_FILE, HEADER_FILE]
        if cfg is not None:
            named += [mm["dram"]["file"]] + [s["file"] for s in mm["segments"]]
        for n in named:
            if n not in files:
                problems.append(f"{MANIFEST_FILE}: files.{n}: missing (the memory map names {n}); the folder is not as hexgen wrote it")
        for n, info in files.items():
            try:
                data = (folder / n).read_bytes()
            except OSError as exc:
                problems.append(f"{n}: cannot read ({exc.strerror or exc}); {MANIFEST_FILE} lists it")
                continue
            if len(data) != info["bytes"] or _sha256(data) != info["sha256"]:
                problems.append(f"{n}: changed since hexgen wrote it ({len(data)} bytes, sha256 {_sha256(data)[:12]}...; "
                                f"{MANIFEST_FILE} has {info['bytes']} bytes, {info['sha256'][:12]}...)")
    return problems, rb


def _check_contents(folder: Path, mm: dict[str, Any], cfg: HardwareConfig, problems: list[str],
                    run_golden: bool = True) -> ReadBack:
    wb, wbytes = cfg.word_bits, cfg.word_bytes
    arrays: dict[tuple[str, str], NDArray[np.int64]] = {}
    d = mm["dram"]
    dram_words, dram_name = d["words"], d["file"]
    if d["word_bits"] != wb:
        problems.append(f"{MAP_FILE}: dram.word_bits: is {d['word_bits']}, config.word_bits is {wb}")
    if d["bytes"] != dram_words * wbytes:
        problems.append(f"{MAP_FILE}: dram.bytes: is {d['bytes']}, dram.words x {wbytes} bytes is {dram_words * wbytes}")
    dram: MemhFile | None = None
    try:
        dram = read_memh(folder / dram_name, wb, expect=dram_header(mm["model"], wb, dram_words), count=dram_words)
    except HexFormatError as exc:
        problems.append(f"{dram_name}:{exc.line}: {exc.message}")
    covered = np.zeros(dram_words, bool)
    prev_end = 0
    layer_names = [l["name"] for l in mm["layers"]]
    for i, n in enumerate(layer_names):
        if n in layer_names[:i]:
            problems.append(f"{MAP_FILE}: layers[{i}].name: {n!r} appears twice")
    per_layer: dict[str, dict[str, tuple[int, Mapping[str, Any], Layout]]] = {}
    seen: set[tuple[str, str]] = set()
    order = sorted(range(len(mm["segments"])), key=lambda j: int(mm["segments"][j]["base"]))
    for j in order:
        seg = mm["segments"][j]
        at = f"{MAP_FILE}: segments[{j}]"
        name = f"{seg['layer']}.{seg['segment']}"
        fname = seg["file"]
        base, n = seg["base"], seg["words"]
        if (seg["layer"], seg["segment"]) in seen:
            problems.append(f"{at}: segment {name} appears twice")
            continue
        seen.add((seg["layer"], seg["segment"]))
        if seg["layer"] not in layer_names:
            problems.append(f"{at}.layer: {seg['layer']!r} is not in layers[]")
        if base % cfg.align_bytes:
            problems.append(f"{MAP_FILE}: segment {name} base 0x{base:08x} is not aligned to {cfg.align_bytes} bytes")
        if base < prev_end:
            problems.append(f"{MAP_FILE}: segment {name} at 0x{base:08x} overlaps the previous segment (ends at 0x{prev_end:08x})")
        prev_end = max(prev_end, base + n * wbytes)
        try:
            lay = Layout.from_json(seg["layout"])
        except (LayoutError, AttributeError) as exc:
            problems.append(f"{at}.layout ({name}): {exc}")
            continue
        stored = dict(seg["layout"])
        if stored != lay.to_json():
            bad = sorted(k for k in set(stored) | set(lay.to_json()) if stored.get(k) != lay.to_json().get(k))
            problems.append(f"{MAP_FILE}: segment {name}: layout entries {', '.join(bad)} disagree with the layout they describe")
            continue
        if lay.words != n or lay.word_bits != wb:
            problems.append(f"{MAP_FILE}: segment {name}: layout holds {lay.words} words of {lay.word_bits} bits, map says {n} of {wb}")
            continue
        bw = base // wbytes
        for field_, got, want in (
            ("base_word", seg["base_word"], bw),
            ("base_hex", seg["base_hex"], f"0x{base:08x}"),
            ("bytes", seg["bytes"], n * wbytes),
            ("shape", seg["shape"], list(lay.logical_shape)),
            ("dtype", seg["dtype"], dtype_text(lay)),
            ("file", fname, segment_file(seg["layer"], seg["segment"])),
        ):
            if got != want:
                problems.append(f"{at}.{field_} ({name}): is {got!r}; base {base}, words {n} and the layout give {want!r}")
        for dim, t in lay.tiles:
            if t != cfg.array_rows:
                problems.append(f"{at}.layout.tiles.{dim} ({name}): is {t}; config.array_rows is {cfg.array_rows}")
        if base + n * wbytes > dram_words * wbytes:
            problems.append(f"{at} ({name}): ends at byte {base + n * wbytes}, past the DRAM image ({dram_words * wbytes} bytes)")
            continue
        per_layer.setdefault(seg["layer"], {})[seg["segment"]] = (j, seg, lay)
        covered[bw : bw + n] = True
        try:
            f = read_memh(folder / fname, wb, expect=segment_header(seg["layer"], seg["segment"], lay, base, n), count=n)
        except HexFormatError as exc:
            problems.append(f"{fname}:{exc.line}: {exc.message}")
            continue
        arr, probs = from_words(f.words, lay)
        for off, msg in probs:
            problems.append(f"{fname}:{f.line_of(off)}: {msg}")
        arrays[(seg["layer"], seg["segment"])] = arr
        if dram is not None:
            got_w = dram.words[bw : bw + n]
            diff = [i for i in range(min(n, len(got_w))) if got_w[i] != f.words[i]]
            for i in diff[:5]:
                problems.append(
                    f"{dram_name}:{dram.line_of(bw + i)}: word {bw + i} (segment {name} word {i}) differs from {fname}:{f.line_of(i)}"
                )
            if len(diff) > 5:
                problems.append(f"{dram_name}: segment {name}: {len(diff)} words differ from {fname} in all")
    if dram is not None:
        for i in np.flatnonzero(~covered[: len(dram.words)] & (np.array([w != 0 for w in dram.words], bool)))[:5]:
            problems.append(f"{dram_name}:{dram.line_of(int(i))}: word {int(i)} lies between segments and is not 0")
    for i, entry in enumerate(mm["layers"]):
        if entry["name"] not in layer_names[:i]:
            listed = {sg for (ln, sg) in seen if ln == entry["name"]}
            problems += _check_layer(i, entry, per_layer.get(entry["name"], {}), listed, arrays, cfg, mm["images"], run_golden)
    problems += _compare_text(folder, HEADER_FILE, verilog_header(mm))
    problems += _compare_text(folder, TABLE_FILE, map_table(mm) + "\n")
    return ReadBack(folder, mm, cfg, arrays, problems)


def check_image(folder: str | os.PathLike[str]) -> list[str]:
    """Every problem of a written folder, each as `file:line: message` or `file: field: message`
    (empty list: all good). Checks everything `make sim` reads: memory_map.json against its schema
    (hexgen.schema), config against every layout, each layer's descriptor against its segments and
    golden, every file's header and words, hexgen.vh and memory_map.txt against the map, and every
    file against its checksum in hexgen.manifest."""
    try:
        return _inspect(Path(folder))[0]
    except HexgenError as exc:
        return [str(exc)]


def read_image(folder: str | os.PathLike[str], *, run_golden: bool = True) -> ReadBack:
    """Read a written folder back into arrays (the inverse of the layout). HexgenError listing every
    problem if the folder does not check clean (check_image).

    run_golden=False skips only check's re-run of golden on each layer's input segment (it imports
    PyTorch: ~2 s per process). The layer bench reads that way: it compares the RTL with the
    expected segment itself, and every file, the expected segment and the descriptors included, is
    still checked against its checksum and the map."""
    problems, rb = _inspect(Path(folder), run_golden)
    if problems or rb is None:
        raise HexgenError(f"{folder}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    return rb
