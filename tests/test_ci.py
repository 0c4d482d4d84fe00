"""The CI workflow users run (.github/workflows/regression.yml, docs/ci.md; issue 29 item 5): shards
of make test by stored durations, one report of all of them (scripts/ci_report.py)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import ci_report  # noqa: E402
from tb.coverage import KINDS  # noqa: E402

WORKFLOW = ROOT / ".github" / "workflows" / "regression.yml"


def test_the_workflow_runs_every_shard_and_reports_them_all() -> None:
    wf = yaml.safe_load(WORKFLOW.read_text())
    splits = int(wf["env"]["SPLITS"])
    shard = wf["jobs"]["shard"]
    assert shard["strategy"]["matrix"]["group"] == list(range(1, splits + 1))
    runs = " ".join(s.get("run", "") for s in shard["steps"])
    assert "make bootstrap" in runs and "make test-shard SPLITS=${{ env.SPLITS }} GROUP=${{ matrix.group }}" in runs
    report = wf["jobs"]["report"]
    assert report["if"] == "always()" and set(report["needs"]) == {"shard", "mutate"}
    assert any("scripts/ci_report.py" in s.get("run", "") for s in report["steps"])
    # this repository's own CI is still the README's command
    assert (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1] == "make test"


def test_the_stored_durations_name_tests_that_exist() -> None:
    durations = json.loads((ROOT / "tests" / ".test_durations").read_text())
    assert len(durations) > 500 and all(v >= 0 for v in durations.values())
    files = {k.split("::")[0] for k in durations}
    assert all((ROOT / f).is_file() for f in files), sorted(f for f in files if not (ROOT / f).is_file())


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="{errors}" failures="{failures}" skipped="0" tests="{tests}" time="{time}">
{cases}
</testsuite></testsuites>"""


def _shard(folder: Path, group: int, tests: int, failing: list[str], seconds: float) -> None:
    folder.mkdir(parents=True)
    cases = "\n".join(f'<testcase classname="tests.test_x" name="test_{i}" time="0.1"/>' for i in range(tests - len(failing)))
    cases += "\n".join(f'<testcase classname="tests.test_y" name="{n}" time="0.1"><failure message="assert 1 == 2&#10;more">'
                       f"trace</failure></testcase>" for n in failing)
    (folder / f"junit-{group}.xml").write_text(JUNIT.format(errors=0, failures=len(failing), tests=tests, time=seconds, cases=cases))


def _coverage(folder: Path, kind_hits: dict[str, int], template: Path) -> None:
    """A whole export of the engine's cover points (tb.coverage's own, every count zeroed) with these
    hits of `kind`."""
    db = yaml.safe_load(template.read_text())
    db = {k: v for k, v in db.items() if k.split(".", 1)[0] == "engine"}
    for item in db.values():
        if "bins:_hits" in item:
            item["bins:_hits"] = {b: 0 for b in item["bins:_hits"]}
    db["engine.kind"]["bins:_hits"].update(kind_hits)
    (folder / "coverage-1").mkdir()
    (folder / "coverage-1" / "cov-1.yml").write_text(yaml.safe_dump(db))


def test_the_report_merges_the_shards_tests_coverage_and_mutants(tmp_path: Path) -> None:
    a, b = tmp_path / "shard-1", tmp_path / "shard-2"
    _shard(a, 1, 10, [], 40.0)
    _shard(b, 2, 12, ["test_broken[p1]"], 42.5)
    from tb import coverage

    template = tmp_path / "template.yml"
    coverage._export(template)
    _coverage(a, {"conv": 3}, template)
    _coverage(b, {"fc": 1}, template)
    mut = {"seed": 1, "tests": "default", "commit": "c", "mutants": [
        {"file": "rtl/x.sv", "line": 3, "col": 1, "op": "== -> !=", "before": "a == b", "after": "a != b", "outcome": "survived",
         "seconds": 1.0, "killed_by": "", "nth": 0}]}
    (b / "mutate-20261207.json").write_text(json.dumps(mut))
    status, text = ci_report.report([a, b])
    assert status == 1
    assert "2 shard(s), 22 tests: 21 passed, 1 failed, 0 error(s), 0 skipped" in text
    assert "FAIL tests/test_y.py::test_broken[p1]: assert 1 == 2" in text
    assert "42.5 s" in text
    kind = next(l for l in text.splitlines() if l.strip().startswith("kind"))
    assert kind.split()[1] == f"2/{len(KINDS)}", text  # conv from one shard, fc from the other
    holes = kind.split(f"/{len(KINDS)}", 1)[1]
    assert "conv" not in holes and "fc" not in holes.split(", "), kind  # not holes
    assert "1 mutants from 1 report(s): killed 0, survived 1" in text and "survived rtl/x.sv:3: == -> !=" in text
    (b / "junit-2.xml").write_text(JUNIT.format(errors=0, failures=0, tests=12, time=1, cases=""))
    assert ci_report.report([a, b])[0] == 0


def test_a_shard_that_wrote_no_results_is_not_a_pass(tmp_path: Path) -> None:
    a = tmp_path / "shard-1"
    a.mkdir()
    (a / "junit-1.xml").write_text("<testsuites><testsuite")  # killed while writing
    status, text = ci_report.report([a])
    assert status == 1 and "cannot read the JUnit file" in text
    empty = tmp_path / "shard-2"
    empty.mkdir()
    assert ci_report.report([empty])[0] == 1  # no test ran
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "ci_report.py"), str(tmp_path / "nope")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip() == f"ci_report: error: no such folder: {tmp_path / 'nope'}"
