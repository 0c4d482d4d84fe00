"""Is a make mutate mutant in the checkout's Verilog? (issue 23, "Lost work")

scripts/mutate.py changes one line of an rtl/ file in place (or, with --target, of a target's own
Verilog: target_sources). Before it does, it leaves two files
next to it: `<file>.mutate-backup` (the original bytes) and `<file>.mutate-written` (the exact
bytes of the mutant it is about to write). A run killed by SIGKILL or SIGTERM leaves both behind,
and the file may hold the mutant. Comparing the file's bytes with those two tells

- "mutant": the file is byte for byte what mutate wrote: putting the backup back loses nothing;
- "original": the file is the backup again: only the two leftover files remain;
- "edited": anything else (the user changed the file since, or a backup from a mutate that did
  not record what it wrote): nobody but the user can tell what to keep, so nothing is restored.

make sim calls mutant_in_place() before it simulates anything (a verdict on a mutant is not a
verdict on the design). Standard library only, so it costs nothing to import.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: where mutate writes mutants (rtl/), and tb/engine/hdl/, where an older mutate accepted the bench
#: (MUTATE_FILES=tb/engine/hdl/accel_tb.sv): a backup it left there is reported too
FOLDERS = ("rtl", "tb/engine/hdl")
BACKUP_SUFFIX = ".mutate-backup"
WRITTEN_SUFFIX = ".mutate-written"
#: the temporary file a mutant or a restored original is written to before it replaces the file
NEW_SUFFIX = ".mutate-new"
#: set by scripts/mutate.py for the test sets it runs on its own mutant: there the mutant is meant
MUTATE_RUN_ENV = "INT8SIM_MUTATE_RUN"


def backup_of(path: Path) -> Path:
    return path.with_name(path.name + BACKUP_SUFFIX)


def written_of(path: Path) -> Path:
    return path.with_name(path.name + WRITTEN_SUFFIX)


def new_of(path: Path) -> Path:
    return path.with_name(path.name + NEW_SUFFIX)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def target_sources(sources: Sequence[Path | str], folder: Path | str, root: Path = ROOT) -> list[Path]:
    """The files of a target (tb.target.Target) make mutate changes: its bench's sources but the
    last (the harness), only those under the target's own folder and none of int8sim's (rtl/,
    tb/engine/hdl/); none at all when the target's folder is this checkout or holds it (its files would be
    int8sim's). Resolved paths, in the bench's order. Takes the bench's sources and the target's
    folder (not the Target), so that this module stays standard library only."""
    folder, root = Path(folder).resolve(), root.resolve()
    if root.is_relative_to(folder):
        return []
    ours = [root / f for f in FOLDERS]
    theirs = [Path(p).resolve() for p in list(sources)[:-1]]
    return [p for p in theirs if p.is_relative_to(folder) and not any(p.is_relative_to(d) for d in ours)]


def target_folders(sources: Sequence[Path | str], folder: Path | str, root: Path = ROOT) -> list[Path]:
    """The folders that hold the files make mutate changes of a target (target_sources), sorted."""
    return sorted({p.parent for p in target_sources(sources, folder, root)})


def left_files(folders: Iterable[Path]) -> list[Path]:
    """The files that have a backup or a record of a mutant next to them, sorted."""
    found: set[Path] = set()
    for d in folders:
        for suffix in (BACKUP_SUFFIX, WRITTEN_SUFFIX):
            found |= {p.with_name(p.name[: -len(suffix)]) for p in d.glob(f"*{suffix}")}
    return sorted(found)


def state(path: Path) -> str:
    """'mutant', 'original' or 'edited' (see the module's docstring) for a file left_files found."""
    now, orig, wrote = _read(path), _read(backup_of(path)), _read(written_of(path))
    if now is not None and now == orig:
        return "original"
    # the record is written whole before the mutant is: a file equal to it holds the mutant
    if now is not None and wrote is not None and now == wrote and orig is not None:
        return "mutant"
    return "edited"


def mutant_line(path: Path) -> tuple[int, str]:
    """(1-based line, its text) of the change between the backup and the mutant; (0, '') unknown."""
    orig, wrote = _read(backup_of(path)), _read(written_of(path))
    if orig is None or wrote is None:
        return 0, ""
    a, b = orig.decode(errors="replace").splitlines(), wrote.decode(errors="replace").splitlines()
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i + 1, y.strip()
    return 0, ""


def describe(path: Path, root: Path = ROOT, target: str = "") -> str:
    """One line: what is left of a mutant at `path` and what to do about it (target: the TARGET=
    whose file it is, named in the restore command)."""
    rel = os.path.relpath(path, root)
    line, text = mutant_line(path)
    where = f"{rel}:{line}" if line else rel
    what = f" (`{text}`)" if text else ""
    backup = os.path.relpath(backup_of(path), root)
    if state(path) == "mutant":
        return (f"{where} holds a mutant make mutate wrote{what} and a stopped run left in place: "
                f".venv/bin/python scripts/mutate.py --restore{f' --target {target}' if target else ''} puts the original back")
    record = os.path.relpath(written_of(path), root)
    if not backup_of(path).exists():
        return (f"{where}: make mutate's record of a mutant{what} is there but its backup {backup} is gone: "
                f"check the file (git diff {rel}), then delete {record}")
    also = f" and {record}" if written_of(path).exists() else ""
    return (f"{where} was changed after make mutate wrote a mutant into it{what}, or the backup is from an older "
            f"make mutate: left as it is; compare it with {backup}, keep what you want, then delete {backup}{also}")


def mutant_in_place(root: Path = ROOT, folders: Iterable[Path] = (), target: str = "") -> str | None:
    """None when no file of rtl/ (or tb/engine/hdl/), nor of `folders` (a target's: target_folders), may
    hold a make mutate mutant; otherwise one line naming the file and line and how to restore it
    (`target`: the TARGET= the folders are of, for the restore command). A file already back to
    its original is not reported (its leftover backup is tidied by the next mutate command).
    Returns None inside make mutate's own runs (MUTATE_RUN_ENV), which judge the mutant on purpose.
    Costs a glob of each folder."""
    if os.environ.get(MUTATE_RUN_ENV):
        return None
    extra = [Path(d) for d in folders]
    left = [p for p in left_files([root / f for f in FOLDERS] + extra) if state(p) != "original"]
    if not left:
        return None
    more = f" (and {len(left) - 1} more file(s) like it)" if len(left) > 1 else ""
    theirs = target if any(left[0].parent == d for d in extra) else ""
    return describe(left[0], root, theirs) + more
