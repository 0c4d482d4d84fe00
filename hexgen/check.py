"""Reading a written folder back, and checking it: the other half of hexgen/folder.py.

check_image validates everything `make sim` reads: memory_map.json against its schema
(hexgen.schema), config against every layout, each layer's descriptor against its segments (the
layer re-planned and, unless asked not to, re-run through golden), every file's header and words,
hexgen.vh and memory_map.txt regenerated from the map, and every file against its checksum in
hexgen.manifest. read_image returns the arrays of a folder that checks clean. A folder of a
target's own layouts (memory_map.json names a `target`, hexgen.target) is checked the same way but
for the layers: no engine plan; every segment decoded and compared with golden (check_target_layer).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
from numpy.typing import NDArray

from hexgen.config import HardwareConfig
from hexgen.errors import ConfigError, HexFormatError, HexgenError, LayoutError
from hexgen.folder import MANIFEST_FILE, _sha256, read_manifest
from hexgen.image import (
    ENGINE, FORMAT, HEADER_FILE, MAP_FILE, TABLE_FILE, VERSION, dram_header, dtype_text, map_table, segment_file, segment_header,
    verilog_header,
)
from hexgen.layout import Layout, from_words
from hexgen.memh import MemhFile, read_memh
from hexgen.check_layer import check_layer
from hexgen.schema import MAP_SCHEMA, TARGET_MAP_SCHEMA, problems_text, validate
from hexgen.target import check_target_layer


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

    @property
    def target(self) -> str:
        """"engine" for our engine's images; the target's name for an image of its own layouts."""
        return str(self.memory_map.get("target", ENGINE))

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


def _inspect(folder: Path, run_golden: bool = True, only: frozenset[str] | None = None) -> tuple[list[str], ReadBack | None]:
    """Every problem of a folder, and the folder read back (None when the map is unusable).
    only: read and check the segments and descriptors of these layers alone (read_image's layers)."""
    mm = _read_map(folder)
    target = mm.get("target", ENGINE) != ENGINE
    problems = problems_text(MAP_FILE, validate(mm, TARGET_MAP_SCHEMA if target else MAP_SCHEMA))
    cfg: HardwareConfig | None = None
    if not problems:
        try:
            # a target image records only the word width and the alignment (hexgen.target)
            cfg = (HardwareConfig(word_bits=mm["config"]["word_bits"], align_bytes=mm["config"]["align_bytes"]) if target
                   else HardwareConfig.from_json(mm["config"]))
        except ConfigError as exc:
            problems.append(f"{MAP_FILE}: config: {exc}")
    rb: ReadBack | None = None
    if cfg is not None:
        rb = _check_contents(folder, mm, cfg, problems, run_golden, only)
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
                    run_golden: bool = True, only: frozenset[str] | None = None) -> ReadBack:
    wb, wbytes = cfg.word_bits, cfg.word_bytes
    target = mm.get("target", ENGINE) != ENGINE
    arrays: dict[tuple[str, str], NDArray[np.int64]] = {}
    d = mm["dram"]
    dram_words, dram_name = d["words"], d["file"]
    if d["word_bits"] != wb:
        problems.append(f"{MAP_FILE}: dram.word_bits: is {d['word_bits']}, config.word_bits is {wb}")
    if d["bytes"] != dram_words * wbytes:
        problems.append(f"{MAP_FILE}: dram.bytes: is {d['bytes']}, dram.words x {wbytes} bytes is {dram_words * wbytes}")
    dram: MemhFile | None = None
    if only is not None:  # the DRAM file is then checked by its checksum only (_inspect)
        missing = sorted(only - {l["name"] for l in mm["layers"]})
        if missing:
            problems.append(f"{MAP_FILE}: no layer {', '.join(missing)} in layers[]")
    else:
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
        for dim, t in ([] if target else lay.tiles):  # a target's tiles are its own
            if t != cfg.array_rows:
                problems.append(f"{at}.layout.tiles.{dim} ({name}): is {t}; config.array_rows is {cfg.array_rows}")
        if base + n * wbytes > dram_words * wbytes:
            problems.append(f"{at} ({name}): ends at byte {base + n * wbytes}, past the DRAM image ({dram_words * wbytes} bytes)")
            continue
        per_layer.setdefault(seg["layer"], {})[seg["segment"]] = (j, seg, lay)
        covered[bw : bw + n] = True
        if only is not None and seg["layer"] not in only:
            continue
        try:
            f = read_memh(folder / fname, wb, count=n,
                          expect=segment_header(seg["layer"], seg["segment"], lay, base, n, role=seg.get("role", "")))
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
        if only is not None and entry["name"] not in only:
            continue
        if entry["name"] not in layer_names[:i]:
            listed = {sg for (ln, sg) in seen if ln == entry["name"]}
            if target:
                problems += check_target_layer(i, entry, per_layer.get(entry["name"], {}), arrays, mm["images"], run_golden)
                continue
            problems += check_layer(i, entry, per_layer.get(entry["name"], {}), listed, arrays, cfg, mm["images"], run_golden)
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


def read_image(folder: str | os.PathLike[str], *, run_golden: bool = True, layers: Iterable[str] | None = None) -> ReadBack:
    """Read a written folder back into arrays (the inverse of the layout). HexgenError listing every
    problem if the folder does not check clean (check_image).

    run_golden=False skips only check's re-run of golden on each layer's input segment (it imports
    PyTorch: ~2 s per process). The layer bench reads that way: it compares the RTL with the
    expected segment itself, and every file, the expected segment and the descriptors included, is
    still checked against its checksum and the map.

    layers: read (and check) only these layers' segments and descriptors; every file, the DRAM
    image the simulator loads included, is still checked against its checksum in the manifest,
    and the map against its schema. For an image checked whole when it was written (tb's image
    cache): a simulation of a few layers of a 224x224 network read 53 MB of hex text for them
    (5 s a simulator process)."""
    only = None if layers is None else frozenset(layers)
    problems, rb = _inspect(Path(folder), run_golden, only)
    if problems or rb is None:
        raise HexgenError(f"{folder}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    return rb
