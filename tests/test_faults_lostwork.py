"""Fault-injection tests: issue 23, "Lost work" (and mutate's `--files` outside the checkout).

Each test fails on main before this change (0a7fc6f): there, any mutate command (even --list)
copied a stopped run's backup over a file the user had edited since, and so did the end of a
live run; a backup older mutate left could not be told from a fresh one; nothing told make sim a
mutant was in place (tb/mutant_guard.py did not exist); `--files tb/engine/hdl/accel_tb.sv` was
accepted and a file outside the checkout was a ValueError traceback; and hexgen truncated and
removed a user's `.NAME.lock` and removed user folders named like its leftovers (`.NAME.old-keep2`,
`.NAME.tmp-mine`, `.NAME.old-<dead pid>-<hex>`). No simulator: a tiny Verilog file in a temporary
checkout stands in for rtl/, and a small synthetic image for hexgen's.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_faults_hexgen import DEAD_PID, small_image  # noqa: E402
from hexgen import check_image, write_image  # noqa: E402

from test_mutate import mutate  # noqa: E402  (scripts/mutate.py loaded as a module, once)

SAMPLE = """\
module m (input logic a_i, input logic b_i, output logic y_o);
  assign y_o = a_i == b_i;
endmodule
"""
MUTANT = SAMPLE.replace("==", "!=")


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A checkout with rtl/m.sv and tb/engine/hdl/accel_tb.sv; mutate pointed at it."""
    (tmp_path / "rtl").mkdir()
    (tmp_path / "tb" / "engine" / "hdl").mkdir(parents=True)
    (tmp_path / "rtl" / "m.sv").write_text(SAMPLE)
    (tmp_path / "tb" / "engine" / "hdl" / "accel_tb.sv").write_text(SAMPLE.replace("module m", "module accel_tb"))
    monkeypatch.setattr(mutate, "ROOT", tmp_path)
    monkeypatch.setattr(mutate, "RTL", tmp_path / "rtl")
    monkeypatch.setattr(mutate, "OUT", tmp_path / "build" / "mutate")
    monkeypatch.setattr(mutate, "SIM_BUILDS", tmp_path / "build" / "sim")
    monkeypatch.delenv("INT8SIM_MUTATE_RUN", raising=False)
    yield tmp_path
    while mutate._HELD:  # the lock main() took lives as long as its process: drop it here
        mutate._HELD.pop().close()


def main(*args: str) -> int:
    """mutate's main() as one command: its checkout lock is dropped when it returns, as at exit."""
    try:
        return int(mutate.main(list(args)))
    finally:
        while mutate._HELD:
            mutate._HELD.pop().close()


KILLED_MUTATE = """
import importlib.util, os, signal, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("mutate", {script!r})
mutate = importlib.util.module_from_spec(spec)
sys.modules["mutate"] = mutate
spec.loader.exec_module(mutate)
root = Path({root!r})
mutate.ROOT, mutate.RTL, mutate.OUT = root, root / "rtl", root / "build" / "mutate"
mutate.SIM_BUILDS = root / "build" / "sim"
def killed(sources):  # the mutant is in the file now: the run dies as under kill -9
    os.kill(os.getpid(), signal.{sig})
mutate.builds_ok = killed
m = next(m for m in mutate.sites(root / "rtl" / "m.sv") if m.op == "== -> !=")
mutate.run_mutant(m, [["tests/none.py"]], 60)
"""


def kill_a_run(root: Path, sig: str = "SIGKILL") -> None:
    """A make mutate run in `root`, killed by `sig` while its mutant is in rtl/m.sv."""
    r = subprocess.run([sys.executable, "-c", KILLED_MUTATE.format(script=str(ROOT / "scripts" / "mutate.py"),
                                                                   root=str(root), sig=sig)],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == -getattr(signal, sig), r.stderr
    assert (root / "rtl" / "m.sv").read_text() == MUTANT  # what a kill leaves


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_a_killed_runs_mutant_is_put_back_while_the_file_still_holds_it(checkout: Path, sig: str,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    kill_a_run(checkout, sig)
    assert main("--list") == 0
    assert "restored rtl/m.sv" in capsys.readouterr().out
    assert (checkout / "rtl" / "m.sv").read_text() == SAMPLE
    assert sorted(p.name for p in (checkout / "rtl").iterdir()) == ["m.sv"]  # no backup, record or temporary file


def test_an_edit_made_after_a_kill_is_never_overwritten(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kill_a_run(checkout)
    f = checkout / "rtl" / "m.sv"
    edited = MUTANT + "// the user's work\n"
    f.write_text(edited)
    assert main("--list") == 0  # lists, and says what it left
    err = capsys.readouterr().err
    assert f.read_text() == edited and (checkout / "rtl" / "m.sv.mutate-backup").read_text() == SAMPLE
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "rtl/m.sv:2 was changed after make mutate wrote a mutant" in lines[0], err
    # a run would take the edited file for an original: it refuses in one line
    assert main("--count", "1") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mutate: error: rtl/m.sv:2 was changed") and "Traceback" not in err
    assert main("--restore") == 2 and f.read_text() == edited
    capsys.readouterr()


def test_an_older_mutates_backup_is_not_copied_over_the_file(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A backup from before the record of what was written: whether the file still holds the
    mutant cannot be told, so it is left (the old code copied it over whatever was there)."""
    f = checkout / "rtl" / "m.sv"
    (checkout / "rtl" / "m.sv.mutate-backup").write_text(SAMPLE)
    f.write_text(MUTANT + "// the user's work\n")
    assert main("--list") == 0
    assert f.read_text() == MUTANT + "// the user's work\n" and (checkout / "rtl" / "m.sv.mutate-backup").exists()
    assert "rtl/m.sv was changed after make mutate wrote a mutant" in capsys.readouterr().err


def test_an_edit_made_during_a_run_is_kept_and_stops_the_run(checkout: Path, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    f = checkout / "rtl" / "m.sv"
    f.write_text(SAMPLE.replace("endmodule", "  assign z_o = a_i && b_i;\nendmodule"))  # two sites
    (checkout / "tests").mkdir()
    (checkout / "tests" / "test_ok.py").write_text("def test_ok():\n    pass\n")
    calls = []

    def user_edits(sources: list[Path]) -> tuple[bool, str]:
        calls.append(f.read_text())
        if len(calls) == 2:  # the first mutant is in the file: the user edits it meanwhile
            f.write_text(f.read_text() + "// the user's work\n")
        return len(calls) == 1, "no build"  # rtl/ builds unmutated; the mutant does not

    monkeypatch.setattr(mutate, "builds_ok", user_edits)
    assert main("--count", "0", "--files", "rtl/m.sv", "--tests", "tests/test_ok.py") == 2
    assert len(calls) == 2 and f.read_text() == calls[1] + "// the user's work\n"  # kept, not the backup
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mutate: error: rtl/m.sv:2 was changed after make mutate wrote"), err
    assert "the run stops here" in err and (checkout / "rtl" / "m.sv.mutate-backup").exists()


def test_make_sim_is_told_while_a_mutant_is_in_place(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tb.mutant_guard import mutant_in_place

    assert mutant_in_place(checkout) is None
    kill_a_run(checkout)
    msg = mutant_in_place(checkout)
    assert msg is not None and "\n" not in msg
    assert msg.startswith("rtl/m.sv:2 holds a mutant make mutate wrote (`assign y_o = a_i != b_i;`)"), msg
    assert "scripts/mutate.py --restore" in msg
    monkeypatch.setenv("INT8SIM_MUTATE_RUN", "1")  # mutate's own test sets judge the mutant on purpose
    assert mutant_in_place(checkout) is None
    monkeypatch.delenv("INT8SIM_MUTATE_RUN")
    (checkout / "rtl" / "m.sv").write_text(MUTANT + "// edited\n")  # still unresolved: still refused
    assert "rtl/m.sv:2 was changed after make mutate wrote a mutant" in (mutant_in_place(checkout) or "")
    (checkout / "rtl" / "m.sv").write_text(MUTANT)
    assert main("--restore") == 0
    assert mutant_in_place(checkout) is None and (checkout / "rtl" / "m.sv").read_text() == SAMPLE


def test_a_kill_before_the_mutant_was_written_leaves_nothing_in_place(checkout: Path) -> None:
    from tb.mutant_guard import mutant_in_place

    f = checkout / "rtl" / "m.sv"
    (checkout / "rtl" / "m.sv.mutate-backup").write_text(SAMPLE)
    (checkout / "rtl" / "m.sv.mutate-written").write_text(MUTANT[:20])  # killed while writing the record
    assert mutant_in_place(checkout) is None
    assert mutate.restore_backups() == ([], [])
    assert sorted(p.name for p in (checkout / "rtl").iterdir()) == ["m.sv"] and f.read_text() == SAMPLE


@pytest.mark.parametrize("given", ["tb/engine/hdl/accel_tb.sv", "{outside}"])
def test_files_outside_rtl_are_refused_in_one_line(checkout: Path, tmp_path_factory: pytest.TempPathFactory,
                                                   capsys: pytest.CaptureFixture[str], given: str) -> None:
    """The bench (tb/engine/hdl/) and a file outside the checkout (once a ValueError traceback)."""
    outside = tmp_path_factory.mktemp("elsewhere") / "x.sv"
    outside.write_text(SAMPLE)
    path = given.format(outside=outside)
    assert main("--files", path, "--list") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"mutate: error: --files {checkout / path if given[0] != '{' else path}: "
                                                   "not an rtl/*.sv file of this checkout"), err


def test_files_outside_the_checkout_exit_2_without_a_traceback(tmp_path: Path) -> None:
    """The script itself, as make mutate runs it (only --list: nothing is mutated)."""
    f = tmp_path / "x.sv"
    f.write_text(SAMPLE)
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "mutate.py"), "--files", str(f), "--list"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert "not an rtl/*.sv file of this checkout" in r.stderr


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
