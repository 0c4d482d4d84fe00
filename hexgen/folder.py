"""Writing a whole-model image (hexgen/image.py) to a folder, whole or not at all: the manifest
that marks a folder as hexgen's, the refusal to touch a folder hexgen did not write, the removal of
a stopped run's leftovers (never another process's, never a user's: only what carries hexgen's
marker), the lock, and the replace of the old folder by the new one. Reading a written folder
back: hexgen/check.py.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from hexgen.errors import HexgenError
from hexgen.image import (
    DRAM_FILE, FORMAT, HEADER_FILE, MAP_FILE, TABLE_FILE, Image, dram_header, map_table,
)
from hexgen.memh import memh_text
from hexgen.schema import MANIFEST_SCHEMA, problems_text, validate

#: The marker of a folder hexgen wrote: format, version, and every file's size and sha256.
MANIFEST_FILE = "hexgen.manifest"
MANIFEST_FORMAT = "hexgen-folder"
MANIFEST_VERSION = 1
#: Names of the files hexgen writes into a folder (a segment file is <layer>.<segment>.memh; a
#: target's segments have names of their own, hexgen.target.SEGMENT_NAME).
OWN_FILE = re.compile(
    r"(memory_map\.json|memory_map\.txt|hexgen\.vh|hexgen\.manifest|dram\.memh|"
    r"[A-Za-z0-9_.-]+\.[A-Za-z][A-Za-z0-9_]*\.memh)"
)
#: The marker inside hexgen's temporary folders (`.NAME.tmp-*`, and `.NAME.old-*` while the old
#: folder is moved aside): it holds the folder's own name, so a copy or a renamed folder does not
#: carry it. A folder next to --out is a leftover only with this marker (issue 23: a user's
#: `.out.old-keep2` is not hexgen's, whatever it holds).
LEFTOVER_MARK = "hexgen.leftover"
#: The first line hexgen writes into its lock file `.NAME.lock`; a lock file is removed only when
#: it holds exactly this (a user's file of that name is used as the lock but never written or
#: removed).
LOCK_MARK = "hexgen lock: removed when the writing run ends; a killed run's lock is harmless\n"


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
        allowed = {n for n in names if OWN_FILE.fullmatch(n) or n == LEFTOVER_MARK}
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


def _mark_leftover(d: Path) -> None:
    (d / LEFTOVER_MARK).write_text(d.name + "\n", encoding="utf-8")


def _carries_mark(d: Path) -> bool:
    """Whether `d` holds hexgen's marker written for a folder of exactly this name."""
    try:
        return (d / LEFTOVER_MARK).read_text(encoding="utf-8") == d.name + "\n"
    except (OSError, ValueError):
        return False


def clean_leftovers(out: Path) -> list[Path]:
    """Remove `.NAME.tmp-<pid>-<hex>` / `.NAME.old-<pid>-<hex>` folders next to `out` that killed
    runs left.

    Call with the folder's lock held (write_image does): a live writer of the same folder holds it,
    so what remains is a leftover, unless its name records a PID that is still alive. Only folders
    that carry hexgen's marker for their own name (LEFTOVER_MARK) and hold nothing else but files
    hexgen names the way it names its own are removed; anything else is left alone."""
    pat = re.compile(rf"\.{re.escape(out.name)}\.(tmp|old)-(\d+)-[0-9a-f]+")
    removed: list[Path] = []
    try:
        entries = list(out.parent.iterdir())
    except OSError:
        return removed
    for d in entries:
        m = pat.fullmatch(d.name)
        if not m or d.is_symlink() or not d.is_dir():
            continue
        pid = int(m.group(2))
        if pid != os.getpid() and pid_alive(pid):
            continue
        if not _carries_mark(d) or _foreign_reason(d, partial=True) is not None:
            continue
        shutil.rmtree(d, ignore_errors=True)
        if not d.exists():
            removed.append(d)
    return removed


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive flock on `path`: one writer of a folder at a time; the lock dies with its
    process, so a killed run never blocks the next. hexgen creates the file with LOCK_MARK in it
    and removes it when done, only while it still holds LOCK_MARK: an existing file is locked as it
    is, never truncated, written or removed (it may be a user's)."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, LOCK_MARK.encode())  # before any flock: a lock file hexgen made is marked
        except FileExistsError:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # removed by its holder in between: create it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            same = _same_file(fd, path)
        except BaseException:
            os.close(fd)
            raise
        if same:
            break
        os.close(fd)  # the previous holder removed the file before we locked it: lock the new one
    try:
        yield
    finally:
        try:
            if _same_file(fd, path) and os.pread(fd, len(LOCK_MARK) + 1, 0) == LOCK_MARK.encode():
                os.unlink(path)
        except OSError:
            pass
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    st = os.fstat(fd)
    try:
        cur = os.stat(path)
    except FileNotFoundError:
        return False
    return (cur.st_dev, cur.st_ino) == (st.st_dev, st.st_ino)


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
        _mark_leftover(tmp)  # a run killed from here on leaves a folder the next run may remove
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
            _mark_leftover(old)
        (tmp / LEFTOVER_MARK).unlink()  # not part of the image
        tmp.rename(out)
    except BaseException:
        if old is not None and not out.exists():
            (old / LEFTOVER_MARK).unlink(missing_ok=True)
            old.rename(out)  # put the previous image back
            old = None
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
