"""make sim's layers split into jobs run at once (issue 29): the report of a run in two jobs is the
report of the run in one, failures included, in the order the layers were asked for."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tb import layer_sim

pytestmark = pytest.mark.sim

FIELDS = ("layer", "kind", "status", "cycles", "words_read", "words_written", "mismatches", "budget", "diagnosis")


def _report(res: list[dict]) -> list[tuple]:
    # the reason names the run folder; the rest of it must be the same
    return [tuple(r.get(k) for k in FIELDS) + (re.sub(r"build/layers/\S+", "<run>", r.get("reason", "")),) for r in res]


def test_a_run_in_two_jobs_reports_what_the_run_in_one_does_failures_included():
    layers = ["conv3", "add1", "pool1"]  # +MUT_ROUND fails conv3; the adds and pools pass
    kw = dict(layers=layers, sim="icarus", model="mobilenetv2", seed=0, defines=("MUT_SELECT",), plusargs=("+MUT_ROUND",))
    one = layer_sim.run(**kw, run_tag="-mut_round-jobs1", jobs=1)
    two = layer_sim.run(**kw, run_tag="-mut_round-jobs2", jobs=2)
    statuses = [r["status"] for r in one]
    assert "FAIL" in statuses and "PASS" in statuses, layer_sim.table(one)  # the comparison covers both verdicts
    assert [r["layer"] for r in two] == layers
    assert _report(two) == _report(one), layer_sim.table(two)
    rdir = Path(two[0]["run_dir"])
    jobs = json.loads((rdir / "jobs.json").read_text())
    assert len(jobs) == 2
    assert sorted(n for j in jobs for n in j["layers"]) == sorted(layers)
    for j in jobs:  # each job ran in its own folder, its layers in the run's order
        assert j["layers"] == sorted(j["layers"], key=layers.index)
        assert len(j["key"]) == 64 and j["image_key"] and j["build_key"]
    assert {r["job"] for r in two} == {j["key"][:16] for j in jobs}
    assert (rdir / "job1" / "results.json").is_file() and (rdir / "job2" / "results.json").is_file()
