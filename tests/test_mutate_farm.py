"""make mutate JOBS=N (scripts/mutate_farm.py, issue 29): the mutants on N workers, each in a copy of
the checkout, judge every mutant as one worker does, into one report that --resume takes; a target
outside the checkout is refused (every worker would mutate its one set of files)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import mutate_farm  # noqa: E402


def _mutate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "scripts/mutate.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=1800)


def _report(out: str) -> Path:
    line = [l for l in out.splitlines() if "; report " in l and not l.startswith("[w")][-1]  # the merged one
    return Path(line.rsplit("; report ", 1)[1].rstrip(")"))


def test_merge_keeps_every_judged_mutant_once(tmp_path: Path) -> None:
    def m(line: int, outcome: str) -> dict:
        return {"file": "rtl/x.sv", "line": line, "col": 4, "op": "== -> !=", "before": f"a{line} == b", "after": f"a{line} != b",
                "outcome": outcome, "seconds": 1.0, "killed_by": "t" if outcome == "killed" else "", "nth": 0}
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"seed": 1, "tests": "default", "commit": "c", "mutants": [m(1, "killed"), m(2, "survived")]}))
    b.write_text(json.dumps({"seed": 1, "tests": "default", "commit": "c", "mutants": [m(3, "killed"), m(2, "survived")]}))
    merged = mutate_farm.merge_reports([a, b, tmp_path / "missing.json"], tmp_path / "m.json")
    assert sorted(x["line"] for x in merged["mutants"]) == [1, 2, 3]
    assert json.loads((tmp_path / "m.json").read_text())["tests"] == "default"


def test_the_copy_holds_the_users_files_edits_included() -> None:
    files = mutate_farm.checkout_files(ROOT)
    assert "rtl/gather.sv" in files and "scripts/mutate.py" in files
    assert not any(f.startswith(("build/", ".venv/", ".git/")) for f in files)


def test_a_target_outside_the_checkout_is_refused_with_jobs(tmp_path: Path) -> None:
    import shutil

    user = tmp_path / "my_accel"
    shutil.copytree(ROOT / "targets" / "pwfc", user, ignore=shutil.ignore_patterns("build"))
    r = _mutate("--target", str(user / "target.py"), "--jobs", "2", "--count", "1")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("mutate: error: JOBS=2: TARGET=") and "outside this checkout" in r.stderr


@pytest.mark.slow
@pytest.mark.sim
def test_two_workers_judge_as_one_does(tmp_path: Path) -> None:
    sel = ["--files", "rtl/add_lanes.sv", "--count", "4", "--seed", "3", "--tests", "tests/test_rtl_add_lanes.py"]
    # the one worker in a copy of the checkout too: one worker mutates in place, and the other
    # tests of a parallel make test-slow build this checkout's rtl/ meanwhile (a mutant of
    # add_lanes.sv once broke their accel build: lanes_y with two drivers)
    copy = tmp_path / "one"
    mutate_farm.make_copy(copy, mutate_farm.checkout_files(ROOT))
    one = subprocess.run([str(copy / ".venv" / "bin" / "python"), "scripts/mutate.py", *sel, "--jobs", "1"], cwd=copy,
                         capture_output=True, text=True, timeout=1800)
    assert one.returncode == 0, one.stdout[-2000:] + one.stderr[-2000:]
    two = _mutate(*sel, "--jobs", "2")
    assert two.returncode == 0, two.stdout[-2000:] + two.stderr[-2000:]
    assert "[w1] " in two.stdout and "[w2] " in two.stdout
    key = lambda m: (m["file"], m["line"], m["col"], m["op"])  # noqa: E731
    a = {key(m): m["outcome"] for m in json.loads(_report(one.stdout).read_text())["mutants"]}
    b = {key(m): m["outcome"] for m in json.loads(_report(two.stdout).read_text())["mutants"]}
    assert len(a) == 4 and a == b
    again = subprocess.run([str(copy / ".venv" / "bin" / "python"), "scripts/mutate.py", *sel, "--jobs", "1", "--resume",
                            str(_report(two.stdout))], cwd=copy, capture_output=True, text=True, timeout=1800)  # the merged report resumes
    assert again.returncode == 0 and "0 to go" in again.stdout, again.stdout[-1500:]
