"""Fault-injection tests: issue 23, "Lost work", item 3: hexgen deletes only what carries its own
marker.

Each test fails on main before this change (0a7fc6f): there, hexgen truncated and removed a user's
`.NAME.lock` and removed user folders named like its leftovers (`.NAME.old-keep2`,
`.NAME.tmp-mine`, `.NAME.old-<dead pid>-<hex>`). A small synthetic image keeps the file fast.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_faults_hexgen import DEAD_PID, small_image  # noqa: E402
from hexgen import check_image, write_image  # noqa: E402


# ---- hexgen: only what carries its own marker is removed ------------------------------------------

def test_a_users_lock_named_file_is_neither_changed_nor_removed(tmp_path: Path) -> None:
    lock = tmp_path / ".out.lock"
    lock.write_text("my notes\n")
    write_image(small_image(), tmp_path / "out")
    assert lock.read_text() == "my notes\n"
    assert check_image(tmp_path / "out") == []


def test_hexgens_own_lock_is_removed(tmp_path: Path) -> None:
    write_image(small_image(), tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_user_folders_named_like_leftovers_are_kept(tmp_path: Path) -> None:
    """Copies of an image the user keeps next to it, named like hexgen's leftovers, old enough and
    holding only hexgen's files (what the old code took for leftovers)."""
    out = write_image(small_image(), tmp_path / "out")
    keep = [tmp_path / n for n in (".out.old-keep2", ".out.tmp-mine", f".out.old-{DEAD_PID}-0123abcd",
                                   f".out.tmp-{DEAD_PID}-cafe0000")]
    hour_ago = time.time() - 3600
    for d in keep:
        shutil.copytree(out, d)
        os.utime(d, (hour_ago, hour_ago))
    write_image(small_image(), out)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out"] + [d.name for d in keep])
    assert all(check_image(d) == [] for d in keep)


KILLED_HEXGEN = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from test_faults_hexgen import small_image
from hexgen import folder, write_image
real = folder._mark_leftover
def die_after_old(d):  # the old folder is moved aside and marked; the run dies before the new one is in
    real(d)
    if ".old-" in d.name:
        os.kill(os.getpid(), signal.SIGKILL)
folder._mark_leftover = die_after_old
write_image(small_image(), {out!r})
"""


def test_leftovers_that_carry_hexgens_marker_are_still_removed(tmp_path: Path) -> None:
    out = write_image(small_image(), tmp_path / "out")
    r = subprocess.run([sys.executable, "-c", KILLED_HEXGEN.format(tests=str(ROOT / "tests"), out=str(out))],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == -signal.SIGKILL, r.stderr
    left = sorted(p.name.split("-")[0] for p in tmp_path.iterdir())
    assert left == [".out.lock", ".out.old", ".out.tmp"], left  # and no `out`: the run died in between
    write_image(small_image(), out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and check_image(out) == []
