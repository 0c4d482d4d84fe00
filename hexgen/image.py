"""Whole-model images: per-layer segment files, one DRAM image, the memory map, a Verilog header,
written whole or not at all (the reader and checker of a written folder: hexgen/check.py).

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
from hexgen.errors import HexgenError, LayoutError
from hexgen.layout import Layout, to_words
from hexgen.memh import memh_text
from hexgen.plan import SEGMENT_TEXT, LayerPlan, is_compute, is_vector, layer_arrays, plan_layer
from hexgen.schema import MANIFEST_SCHEMA, problems_text, validate

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
                    "passes": p.passes_json(),
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
            if not is_compute(l) and not is_vector(l):
                raise LayoutError(f"layer {name}: kind {l.kind} is not run by the accelerator (conv, fc, add and pooling only)")
            if any(c.name == name for c in chosen):
                raise LayoutError(f"layer {name} is named twice")
            chosen.append(l)
    items = []
    for l in chosen:
        plan = plan_layer(l, cfg, images=int(x_q.shape[0]), check_fit=check_fit)
        x2 = outs[l.inputs[1]] if len(l.inputs) > 1 else None
        items.append((plan, layer_arrays(l, outs[l.inputs[0]], outs[l.name], x2)))
    return place(items, cfg, model=model, images=int(x_q.shape[0]))


# ---- writing -----------------------------------------------------------------------------------
#: The marker of a folder hexgen wrote: format, version, and every file's size and sha256.
MANIFEST_FILE = "hexgen.manifest"
MANIFEST_FORMAT = "hexgen-folder"
MANIFEST_VERSION = 1
#: Names of the files hexgen writes into a folder (a segment file is <layer>.<segment>.memh).
OWN_FILE = re.compile(
    r"(memory_map\.json|memory_map\.txt|hexgen\.vh|hexgen\.manifest|dram\.memh|"
    r"[A-Za-z0-9_.-]+\.(weights|bias|scale|input|input2|expected|output)\.memh)"
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
