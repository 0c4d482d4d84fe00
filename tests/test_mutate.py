"""scripts/mutate.py (make mutate) without a simulator: which lines it mutates, how each change
looks, how a stopped run's file comes back, and how --resume carries results over."""
from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("mutate", ROOT / "scripts" / "mutate.py")
assert _spec and _spec.loader
mutate = importlib.util.module_from_spec(_spec)
sys.modules["mutate"] = mutate  # dataclasses look their module up
_spec.loader.exec_module(mutate)

SAMPLE = """\
module m (input logic a_i, output logic y_o);
  logic b;  // a comment: a == b must not mutate
  assign b = a_i && 1'b1;
`ifdef MUT_SELECT
  assign y_o = b != a_i;
`else
  assign y_o = b == a_i;
`endif
  initial $display("x == y %0d", 3);
endmodule
"""


@pytest.fixture
def rtl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "rtl").mkdir()
    monkeypatch.setattr(mutate, "ROOT", tmp_path)
    monkeypatch.setattr(mutate, "RTL", tmp_path / "rtl")
    monkeypatch.setattr(mutate, "OUT", tmp_path / "out")  # its lock and reports, not the checkout's
    f = tmp_path / "rtl" / "m.sv"
    f.write_text(SAMPLE)
    yield f
    while mutate._HELD:  # the lock main() took lives as long as its process: drop it here
        mutate._HELD.pop().close()  # type: ignore[attr-defined]


def test_sites_skip_the_fault_branches_comments_strings_and_declarations(rtl: Path) -> None:
    got = {(m.line, m.op, m.after.strip()) for m in mutate.sites(rtl)}
    assert got == {
        (3, "&& -> ||", "assign b = a_i || 1'b1;"),
        (3, "1'b1 -> 1'b0", "assign b = a_i && 1'b0;"),
        (7, "== -> !=", "assign y_o = b != a_i;"),   # the real code of an `ifdef MUT_ ... `else
        (9, "3 -> 4", 'initial $display("x == y %0d", 4);'),
    }


def test_each_site_changes_its_line_only_where_it_says(rtl: Path) -> None:
    for m in mutate.sites(rtl):
        assert m.before == SAMPLE.splitlines(keepends=True)[m.line - 1]
        assert m.after != m.before and m.after[: m.col] == m.before[: m.col], m


def test_a_stopped_runs_backup_is_put_back(rtl: Path) -> None:
    backup = rtl.with_name(rtl.name + mutate.BACKUP_SUFFIX)
    mutate.put_mutant(rtl, SAMPLE.replace("==", "!=").encode())  # a run stopped here
    assert mutate.restore_backups() == (["rtl/m.sv"], [])
    assert rtl.read_text() == SAMPLE and not backup.exists()


def test_killing_tests_run_first() -> None:
    kills = {"c.py::t[1]": 3, "b.py::u": 1, "c.py::t[2]": 1, "a.py::v": 2}
    assert mutate.stages(["a.py", "b.py", "c.py"], kills, first=2) == [["c.py::t[1]", "a.py::v"], ["c.py", "a.py", "b.py"]]
    assert mutate.stages(["a.py", "b.py"], {}) == [[], ["a.py", "b.py"]]


def test_the_killers_that_kill_most_for_their_time_run_first() -> None:
    """With make test's stored durations: kills a second first (a 1 s test with 2 kills before a
    30 s test with 3), most kills where no time is known; files by their kills for their time."""
    kills = {"c.py::t[1]": 3, "a.py::v": 2, "b.py::u": 1}
    durations = {"c.py::t[1]": 30.0, "c.py::t[2]": 10.0, "a.py::v": 1.0, "a.py::w": 1.0, "b.py::u": 0.5}
    assert mutate.stages(["a.py", "b.py", "c.py"], kills, first=2, durations=durations) == [
        ["a.py::v", "b.py::u"], ["b.py", "a.py", "c.py"]]  # files: b 1/0.5 s, a 2/2 s, c 3/40 s
    assert mutate.stages(["a.py", "b.py", "c.py"], kills, first=2, durations={}) == [["c.py::t[1]", "a.py::v"], ["c.py", "a.py", "b.py"]]


def test_resume_keeps_results_by_line_text_wherever_the_line_moved(rtl: Path, tmp_path: Path) -> None:
    first = mutate.sites(rtl)
    first[0].outcome, first[0].killed_by = "killed", "tests/test_x.py::t"
    report = tmp_path / "r.json"
    other = mutate.Mutant("rtl/n.sv", 1, 0, "== -> !=", "a == b\n", "a != b\n", "survived")
    report.write_text(json.dumps({"tests": "default", "mutants": [asdict(first[0]), asdict(other)]}))
    rtl.write_text("// a new first line\n" + SAMPLE)  # every line moves down one
    now = mutate.sites(rtl)
    done, todo = mutate.resumed(report, now, "default")
    assert len(todo) == len(now) - 1 and now[0] not in todo
    kept = [m for m in done if m.file == "rtl/m.sv"]
    assert [(m.line, m.outcome, m.killed_by) for m in kept] == [(4, "killed", "tests/test_x.py::t")]
    assert [(m.file, m.line, m.outcome) for m in done if m.file == "rtl/n.sv"] == [("rtl/n.sv", 1, "survived")]  # a site
    # this run did not choose stays in the report


def test_resume_can_judge_the_survivors_again(rtl: Path, tmp_path: Path) -> None:
    a, b = mutate.sites(rtl)[:2]
    a.outcome, a.killed_by, b.outcome = "killed", "tests/test_x.py::t", "survived"
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"tests": "default", "mutants": [asdict(a), asdict(b)]}))
    done, todo = mutate.resumed(report, mutate.sites(rtl), "default", rerun_survivors=True)
    assert [m.outcome for m in done] == ["killed"] and b.key() in {m.key() for m in todo} and a.key() not in {m.key() for m in todo}
    # a survivor on a line not chosen (--lines) stays in the report, judged
    done, todo = mutate.resumed(report, [a], "default", rerun_survivors=True)
    assert [m.outcome for m in done] == ["survived", "killed"] and todo == []


@pytest.mark.parametrize("content, message", [
    (None, "No such file"),
    ('{"tests": "default",\n "mutants": [', ":2: not a mutate report"),
    ('{"tests": "default"}', "not a mutate report (no 'mutants')"),
    ('{"tests": "tests/test_a.py", "mutants": []}', "was run with tests 'tests/test_a.py', not 'default'"),
])
def test_resume_refuses_what_it_cannot_continue_with_one_line(tmp_path: Path, content: str | None, message: str) -> None:
    report = tmp_path / "r.json"
    if content is not None:
        report.write_text(content)
    with pytest.raises(mutate.ResumeError) as e:
        mutate.resumed(report, [], "default")
    assert message in str(e.value) and str(report) in str(e.value)


def test_summary_prints_what_the_reports_hold_and_runs_nothing(rtl: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    a, b = mutate.sites(rtl)[:2]
    a.outcome, a.killed_by, b.outcome = "killed", "tests/test_x.py::t", "survived"
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"tests": "default", "mutants": [asdict(a), asdict(b)]}))
    assert mutate.main(["--count", "0", "--files", str(rtl), "--resume", str(report), "--summary"]) == 0
    out = capsys.readouterr().out
    assert "killed 1, survived 1, could not build 0 (of 2, 2 sites not yet run" in out
    assert f"survived rtl/m.sv:{b.line}: {b.op}" in out and "baseline" not in out


TWINS = """\
module t (input logic a_i, output logic y_o, output logic z_o);
  always_comb begin
    y_o = 1'b1;
    z_o = 1'b1;
    y_o = 1'b1;
  end
endmodule
"""


def test_two_lines_with_the_same_text_are_two_sites_in_a_report(rtl: Path, tmp_path: Path) -> None:
    """ctrl_regs has two `error_d = 1'b1;`: a report's result for one must not judge the other."""
    rtl.write_text(TWINS)
    first, _, last = mutate.sites(rtl)
    assert first.key() != last.key() and (first.nth, last.nth) == (0, 1)
    first.outcome, first.killed_by = "killed", "tests/test_x.py::t"
    old = {k: v for k, v in asdict(first).items() if k != "nth"}  # a report from before nth
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"tests": "default", "mutants": [old]}))
    done, todo = mutate.resumed(report, mutate.sites(rtl), "default")
    assert [(m.line, m.outcome) for m in done] == [(3, "killed")]
    assert [m.line for m in todo] == [4, 5]


def test_a_second_run_in_the_same_checkout_leaves_the_first_runs_mutant_alone(
        rtl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert mutate.hold_checkout(tmp_path / "out" / "running.lock")  # the first run, mutating m.sv
    held = mutate._HELD.pop()
    try:
        backup = rtl.with_name(rtl.name + mutate.BACKUP_SUFFIX)
        mutate.put_mutant(rtl, SAMPLE.replace("==", "!=").encode())
        assert mutate.main(["--count", "0", "--files", str(rtl)]) == 2
        assert "another make mutate is running in this checkout" in capsys.readouterr().err
        report = tmp_path / "r.json"
        report.write_text(json.dumps({"tests": "default", "mutants": []}))
        assert mutate.main(["--count", "0", "--files", str(rtl), "--resume", str(report), "--summary"]) == 0
        assert backup.exists() and "!=" in rtl.read_text()  # the first run's mutant is still in place
    finally:
        held.close()  # type: ignore[attr-defined]
    assert mutate.main(["--count", "0", "--files", str(rtl), "--resume", str(report), "--summary"]) == 0
    assert not backup.exists() and rtl.read_text() == SAMPLE  # now nobody holds it: a stopped run's file


def test_shards_split_what_is_left_to_run(rtl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Workers started together share the sites not yet judged evenly, wherever the judged ones lie."""
    every = mutate.sites(rtl)  # 4 sites
    for m in every[:2]:
        m.outcome, m.killed_by = "killed", "tests/test_x.py::t"
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"tests": "default", "mutants": [asdict(every[0]), asdict(every[1])]}))
    left = []
    for k in (1, 2):
        assert mutate.main(["--count", "0", "--files", str(rtl), "--resume", str(report), "--summary", "--shard", f"{k}/2"]) == 0
        left.append(capsys.readouterr().out)
    assert all("(of 2, 1 sites not yet run" in out for out in left), left


def test_resume_drops_results_of_lines_no_longer_in_the_file(rtl: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A line edited since the report (vr_check's `end else begin` became `end else if (armed_q)
    begin`): its old result judges nothing that exists and must not count in the figures."""
    every = mutate.sites(rtl)
    a, b = every[0], next(m for m in every if m.line != every[0].line)
    a.outcome, a.killed_by, b.outcome = "killed", "tests/test_x.py::t", "survived"
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"tests": "default", "mutants": [asdict(a), asdict(b)]}))
    rtl.write_text(SAMPLE.replace(b.before, b.before.replace("assign", "assign  ")))  # b's line text changed
    assert mutate.main(["--count", "0", "--files", str(rtl), "--resume", str(report), "--summary"]) == 0
    out = capsys.readouterr().out
    assert "1 result(s) dropped, their lines are no longer in rtl/m.sv" in out, out
    assert "killed 1, survived 0, could not build 0 (of 1, " in out, out


def test_only_a_failed_test_kills() -> None:
    """pytest stopping for any other reason (an id it cannot find, nothing collected, an internal
    error) says nothing about the mutant: a stale killer id once 'killed' 140 mutants in 3 s each."""
    out = "F\nFAILED tests/test_p.py::test_x[gather-COLS = 3 must be] - AssertionError: no\n1 failed in 2.1s\n"
    assert mutate.judged(1, out) == ("killed", "tests/test_p.py::test_x[gather-COLS = 3 must be]")
    assert mutate.judged(0, "1 passed\n") == ("passed", "")
    assert mutate.judged(4, "ERROR: not found: tests/test_p.py::test_x[gather\n")[0] == "error"
    assert mutate.judged(5, "no tests ran in 0.1s\n")[0] == "error"
    assert mutate.judged(1, "Interrupted: 1 error during collection\n")[0] == "error"  # no failing test named


def test_resume_reruns_kills_no_failing_test_explains(rtl: Path, tmp_path: Path) -> None:
    a, b, c = mutate.sites(rtl)[:3]
    a.outcome, a.killed_by = "killed", "tests/test_x.py::t"
    b.outcome = "killed"  # an older report's kill with no failing test (pytest could not find an id)
    c.outcome, c.killed_by = "error", "pytest exit code 4: ERROR: not found"
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"tests": "default", "mutants": [asdict(a), asdict(b), asdict(c)]}))
    done, todo = mutate.resumed(report, mutate.sites(rtl), "default")
    assert [m.line for m in done] == [a.line] and {b.key(), c.key()} <= {m.key() for m in todo}


def test_only_real_kills_choose_the_tests_run_first() -> None:
    kills: dict[str, dict[str, int]] = {}
    m = mutate.Mutant("rtl/m.sv", 1, 0, "== -> !=", "a\n", "b\n")
    for outcome, by in (("killed", "tests/a.py::t"), ("killed", "tests/a.py::t"), ("error", "pytest exit code 4: not found"),
                        ("killed (time limit)", ""), ("survived", "")):
        m.outcome, m.killed_by = outcome, by
        mutate.count_kill(kills, m)
    assert kills == {"rtl/m.sv": {"tests/a.py::t": 2}}
