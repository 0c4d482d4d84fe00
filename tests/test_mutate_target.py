"""make mutate TARGET=...: a target's own Verilog mutated and judged by its own verdicts
(scripts/mutate.py --target; issue 24 item 2)."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tb import mutant_guard as guard

ROOT = Path(__file__).resolve().parent.parent
PWFC = ROOT / "targets" / "pwfc"
_spec = importlib.util.spec_from_file_location("mutate_for_targets", ROOT / "scripts" / "mutate.py")
assert _spec and _spec.loader
mutate = importlib.util.module_from_spec(_spec)
sys.modules["mutate_for_targets"] = mutate  # dataclasses look their module up
_spec.loader.exec_module(mutate)


def test_a_targets_sites_are_its_own_verilog_not_its_harness_nor_int8sims() -> None:
    run = mutate.load_target_run("pwfc", "mlp")
    assert [p.relative_to(PWFC).as_posix() for p in run.files] == [
        "rtl/pwfc_regs.sv", "rtl/pwfc_requant.sv", "rtl/pwfc_core.sv", "rtl/pwfc_axi_master.sv", "rtl/pwfc_top.sv"]
    assert run.sources[-1] == PWFC / "hdl" / "pwfc_tb.sv" and run.sources[-1] not in run.files  # the harness
    assert run.folders == [PWFC / "rtl"] and run.builds == PWFC / "build" / "sim"
    assert run.tests == "TARGET=pwfc MODEL=mlp SIM=icarus SEED=0"
    core = PWFC / "rtl" / "pwfc_core.sv"
    lines = core.read_text().splitlines()
    found = mutate.sites(core)
    assert found and {m.file for m in found} == {"targets/pwfc/rtl/pwfc_core.sv"}
    assert any(m.op == "+ -> -" and "dot = dot - $signed" in m.after for m in found)
    # the lines of the `ifdef PWFC_MUT branch (pwfc's test-only zero-point fault) are not mutated, its `else is
    fault = {i + 1 for i, l in enumerate(lines) if "mut_zp" in l}
    assert len(fault) == 3 and not fault & {m.line for m in found}
    # int8sim's own files never, whatever a target names: not rtl/, not a target whose folder is the checkout
    assert guard.target_sources([ROOT / "rtl" / "gather.sv", core, PWFC / "hdl" / "pwfc_tb.sv"], PWFC) == [core]
    assert guard.target_sources([ROOT / "rtl" / "gather.sv", core, PWFC / "hdl" / "pwfc_tb.sv"], ROOT) == []


def test_the_guard_covers_a_targets_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """make sim TARGET=... refuses while a mutant of that target's Verilog is in place (a killed run)."""
    monkeypatch.delenv(guard.MUTATE_RUN_ENV, raising=False)
    (tmp_path / "rtl").mkdir()
    theirs = tmp_path / "mine" / "rtl"
    theirs.mkdir(parents=True)
    f = theirs / "core.sv"
    f.write_text("assign y = a == b;\n")
    mutate.put_mutant(f, b"assign y = a != b;\n")  # a run stopped here
    assert guard.mutant_in_place(tmp_path) is None  # the engine's folders alone do not see it
    why = guard.mutant_in_place(tmp_path, [theirs], target="mine/target.py")
    assert why is not None and "core.sv:1 holds a mutant" in why and "--restore --target mine/target.py" in why
    assert guard.target_folders([f, tmp_path / "mine" / "tb.sv"], tmp_path / "mine", tmp_path / "x") == [theirs]


@pytest.mark.parametrize("args, message", [
    (["--target", "no/such/target.py"], "mutate: error: TARGET=no/such/target.py: no such target ("),
    (["--target", "nosuch"], "mutate: error: TARGET=nosuch: no such target ("),
    (["--target", "pwfc", "--tests", "tests/test_x.py"], "mutate: error: --tests (MUTATE_TESTS) is for the engine"),
    (["--model", "mlp"], "mutate: error: --model (MUTATE_MODEL) is for a target"),
])
def test_a_missing_target_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    r = subprocess.run([sys.executable, "scripts/mutate.py", "--list", *args], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and r.stderr.startswith(message) and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_targets_run_is_judged_by_its_verdict_line_only() -> None:
    """Killed: exit 1 naming a FAIL; survived: exit 0 with PASSes and no FAIL; anything else not judged."""
    table = "fc1 fc 64 -> 64 PASS 0 1,846\n"
    assert mutate.judged_target(0, table + "\n3 passed, 0 failed\n", "") == ("passed", "")
    assert mutate.judged_target(0, table + "\n2 passed, 0 failed, 1 unsupported (not run)\n", "") == ("passed", "")
    out = table + "\nFAIL fc2: 31 of 32 elements differ from golden\n  rerun: make sim ...\n\n1 passed, 1 failed\n"
    assert mutate.judged_target(1, out, "") == ("killed", "fc2: 31 of 32 elements differ from golden")
    assert mutate.judged_target(1, "\n0 passed, 0 failed: nothing ran\n", "")[0] == "error"
    assert mutate.judged_target(2, "", "sim: error: build failed: x.sv:3: syntax error\n") == (
        "error", "exit code 2: sim: error: build failed: x.sv:3: syntax error")
    assert mutate.judged_target(1, "Traceback ...\nKeyError: 'x'\n", "")[0] == "error"  # a crash is no kill
    assert mutate.judged_target(0, "3 passed, 1 failed\n", "")[0] == "error"  # a status that contradicts its line
    assert mutate.judged_target(-9, "", "")[0] == "error"


@pytest.mark.sim
def test_a_mutant_of_a_users_target_is_killed_and_its_file_restored(tmp_path: Path) -> None:
    """End to end on Icarus: a copy of pwfc outside the checkout (TARGET=path), one mutant (the MAC
    lanes' `dot + product` made `dot - product`) killed by pwfc's own FAIL on mlp; the file is back
    byte for byte, and the mutant's build is gone while the baseline's stays."""
    mine = tmp_path / "my_accel"
    # its images: the cache hits (not an entry another test is writing at the moment: .<key>.tmp-<pid>-...)
    shutil.copytree(PWFC, mine, ignore=shutil.ignore_patterns("sim", "__pycache__", ".*.tmp-*"))
    core = mine / "rtl" / "pwfc_core.sv"
    original = core.read_bytes()
    line = next(i + 1 for i, l in enumerate(original.decode().splitlines()) if "dot = dot + $signed" in l)
    report = tmp_path / "r.json"
    r = subprocess.run([sys.executable, "scripts/mutate.py", "--target", str(mine / "target.py"), "--lines", f"{core}:{line}",
                        "--report", str(report), "--timeout", "120"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={k: v for k, v in os.environ.items() if k != guard.MUTATE_RUN_ENV})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "killed 1, survived 0, could not build 0 (of 1;" in r.stdout, r.stdout[-2000:]
    (m,) = json.loads(report.read_text())["mutants"]
    assert (m["file"], m["line"], m["op"], m["outcome"]) == (str(core), line, "+ -> -", "killed")
    assert m["killed_by"].startswith("fc1: "), m  # pwfc's own verdict, not a run error
    assert core.read_bytes() == original
    assert not guard.left_files([core.parent])  # no backup nor record of the mutant left
    snapshots = [p for p in (mine / "build" / "sim" / ".src").iterdir() if not p.name.startswith(".")]
    assert len(snapshots) == 1, snapshots  # the baseline's; the mutant's went with it
    assert not (ROOT / "build" / "failures" / "target_my_accel-mlp-icarus-seed0" / "fc1").exists()  # the mutant's bundle
