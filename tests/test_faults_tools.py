"""Tools around the simulator that must end in one line, not a traceback (issue 23).

- scripts/bench_sim.py (`make bench-sim`): a network or hardware description that does not exist
  printed a traceback; now one `bench-sim: error:` line and status 2, before anything is built.
- tb/coverage.py (`make coverage`): a `build/coverage/cov-*.yml` truncated by a killed run made
  every later report fail; now a damaged file is skipped with one line naming it, and each process
  writes its file atomically (a temporary file renamed over it), so a kill cannot leave one.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tb import coverage

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("args, expect", [
    (["--network", "nonexist"], "unknown model 'nonexist'"),
    (["--hw", "nosuch"], "HW=nosuch: no such preset"),
    (["--hw", "/nonexistent/hw.json"], "HW=/nonexistent/hw.json: /nonexistent/hw.json does not exist"),
], ids=["network", "hw-name", "hw-file"])
def test_bench_sim_bad_input_is_one_line_and_status_2(args, expect):
    env = {k: v for k, v in os.environ.items() if k != "INT8SIM_DEBUG"}
    r = subprocess.run([sys.executable, "scripts/bench_sim.py", *args], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env=env)
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench-sim: error: ") and expect in lines[0], r.stderr
    assert r.stdout == ""  # refused before anything was built or printed


@pytest.fixture
def cov_dir(tmp_path, monkeypatch):
    d = tmp_path / "coverage"
    d.mkdir()
    monkeypatch.setattr(coverage, "COVERAGE", d)
    return d


def _whole(d: Path, name: str) -> Path:
    f = d / name
    coverage._export(f)  # this process's coverage database as it stands (nothing is sampled here)
    return f


def test_a_whole_export_is_not_damaged(cov_dir):
    assert coverage.damage(_whole(cov_dir, "cov-1.yml")) is None


def test_truncated_coverage_files_are_skipped_with_one_line_each(cov_dir, capsys):
    text = _whole(cov_dir, "cov-1.yml").read_bytes()
    last_line = text.rstrip(b"\n").rfind(b"\n") + 1
    cuts = [*range(0, last_line, max(1, last_line // 40)), last_line, len(text) - 3]
    for cut in cuts:
        (cov_dir / f"cov-9{cut:05d}.yml").write_bytes(text[:cut])
    for cut in cuts:
        assert coverage.damage(cov_dir / f"cov-9{cut:05d}.yml") is not None, cut
    out = coverage.report()
    err = capsys.readouterr().err.splitlines()
    assert "(1 process file(s) merged" in out and "bins hit" in out, out
    assert len(err) == len(cuts), err
    for cut, line in zip(cuts, err):
        assert line.startswith(f"coverage: skipped {cov_dir / f'cov-9{cut:05d}.yml'}: it "), line
    assert coverage.main() == 0  # make coverage: the report, not a traceback


def test_only_damaged_files_left_is_no_samples(cov_dir, capsys):
    (cov_dir / "cov-5.yml").write_text("engine:\n  cover_percentage: 52.73\n  cov")
    assert coverage.report().startswith("coverage: no samples")
    assert capsys.readouterr().err.count("\n") == 1


def test_export_killed_midway_leaves_no_coverage_file(cov_dir, monkeypatch):
    def killed(path: str) -> None:
        Path(path).write_text("engine:\n  cover_percentage: 52.73\n")  # half written, then the kill
        raise KeyboardInterrupt

    monkeypatch.setattr(coverage.coverage_db, "export_to_yaml", killed)
    with pytest.raises(KeyboardInterrupt):
        coverage._export(cov_dir / "cov-7.yml")
    assert list(cov_dir.iterdir()) == []
