"""The target API (tb.target, issue 24): TARGET= names a shipped target or a user's target.py;
a missing or broken target file is one line and exit 2, never a traceback."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tb import sim_cli, target
from tb.coverage import KINDS

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("body, says", [
    (None, "no such target"),
    ("raise RuntimeError('oops')", "failed to import: RuntimeError: oops"),
    ("import sys\nsys.exit(0)", "failed to import: SystemExit"),
    ("x = 1", "defines no TARGET = tb.target.Target(...)"),
    ("TARGET = 3", "defines no TARGET"),
    ("from pathlib import Path\nfrom tb.sim import HdlBench\nfrom tb.target import Target\n"
     "TARGET = Target(name='mine', summary='s', bench=HdlBench(name='m', top='m', sources=(Path('/nonexistent.sv'),)),"
     " driver=Path(__file__), segments=lambda net, l: 'no', word_bits=32)", "/nonexistent.sv does not exist"),
    ("from pathlib import Path\nfrom tb.sim import HdlBench\nfrom tb.target import Target\n"
     "TARGET = Target(name='engine', summary='s', bench=HdlBench(name='m', top='m', sources=(Path(__file__),)),"
     " driver=Path(__file__), segments=lambda net, l: 'no', word_bits=32)", "TARGET.name 'engine'"),
    ("from pathlib import Path\nfrom tb.sim import HdlBench\nfrom tb.target import Target\n"
     "TARGET = Target(name='mine', summary='s', bench=HdlBench(name='m', top='m', sources=(Path(__file__),)),"
     " driver=Path(__file__), segments=lambda net, l: 'no', word_bits=24)", "TARGET.word_bits 24"),
], ids=["missing", "raises", "exits", "no_target", "not_a_target", "missing_source", "engine_name", "word_bits"])
def test_a_missing_or_broken_target_file_is_one_line(tmp_path, capsys, body, says):
    from golden.cli import run_cli

    f = tmp_path / "mine" / "target.py"
    if body is not None:
        f.parent.mkdir()
        f.write_text(body + "\n")
    assert run_cli("sim", sim_cli.main, ["--target", str(f), "--sim", "icarus"]) == 2
    err = [l for l in capsys.readouterr().err.splitlines() if l.strip()]
    assert len(err) == 1 and err[0].startswith("sim: error: TARGET=") and says in err[0], err


def test_make_targets_lists_the_engine_first_one_a_line():
    r = subprocess.run([sys.executable, "-m", "tb.target"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[0] == "engine"
    assert [l.split()[0] for l in lines] == target.shipped_names()
    assert not any("broken" in l for l in lines), lines


def test_the_engine_is_the_default_target_through_the_same_api(tmp_path):
    """Our engine is a Target like any other (targets/engine/target.py), with a flow of its own
    (tb.engine.engine_flow) that the one runner path calls; "" names it too."""
    from tb.engine.engine_flow import EngineFlow
    from tb.target_flow import DriverFlow

    eng = target.load_target("engine")
    assert eng.name == "engine" and isinstance(eng.run_flow, EngineFlow) and target.load_target("").name == "engine"
    assert eng.bench.top == "accel_tb" and eng.signal_groups, eng
    assert isinstance(target.load_target("pwfc").run_flow, DriverFlow)
    from tb.run_settings import RunSettings

    s = RunSettings(model="mlp", target="path/to/mine/target.py")
    assert s.rerun("fc1").startswith("make sim TARGET=path/to/mine/target.py LAYER=fc1")
    assert s.folder_name().startswith("target_mine-mlp")
    assert "TARGET" not in RunSettings(model="mlp").rerun("fc1")


def test_settings_a_target_does_not_take_are_refused_not_ignored(capsys):
    """MEM_STALL and MEM_LATENCY set the engine's memory model; a target has its own. They were
    silently ignored for a target: a run said nothing of the stalls it never had."""
    from golden.cli import run_cli

    for argv in (["--mem-stall", "9"], ["--mem-latency", "30"], ["--hw", "tiny"]):
        assert run_cli("sim", sim_cli.main, ["--target", "pwfc", "--model", "mlp", "--sim", "icarus", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("sim: error: TARGET=pwfc:") and "does not take" in err, err


def test_a_targets_watchdog_grows_with_the_layer():
    """A fixed 2,000,000-cycle bound would have FAILed a correct target on a layer of many MACs;
    the bound grows with the layer's MACs and words (pwfc takes about one cycle per 5 MACs)."""
    from tb.target_flow import target_watchdog

    mm = {"segments": [{"layer": "big", "words": 40_000}, {"layer": "other", "words": 10**9}]}
    assert target_watchdog(20_000_000, mm, "big") >= 50 * 20_040_000
    assert target_watchdog(0, mm, "big") < target_watchdog(1000, mm, "big")


@pytest.mark.sim
def test_a_targets_cycle_model_sets_budgets_and_its_layers_are_covered(tmp_path, monkeypatch):
    """A target's cycle model (Target.cycle_model) gives each PASS its budget; a layer more than
    budget_slack off it FAILs though its outputs are right. Its passing layers are sampled under
    its own cover points (tb.coverage), apart from the engine's."""
    from tb import coverage, layer_sim

    monkeypatch.setattr(coverage, "COVERAGE", tmp_path / "cov")
    f = tmp_path / "tight" / "target.py"
    f.parent.mkdir()
    # pwfc with a model that halves fc2's cycles: fc2 now takes twice what its designers expect
    f.write_text("from dataclasses import replace\nfrom targets.pwfc.target import TARGET as PWFC\n"
                 "model = lambda net, l: PWFC.cycle_model(net, l) // (2 if l.name == 'fc2' else 1)\n"
                 "TARGET = replace(PWFC, name='pwfc_tight', cycle_model=model)\n")
    res = {r["layer"]: r for r in layer_sim.run(target=str(f), model="mlp", sim="icarus", seed=0, layers=["fc1", "fc2"])}
    fc1, fc2 = res["fc1"], res["fc2"]
    assert fc1["status"] == "PASS" and fc1["budget"] > 0 and abs(fc1["budget_ratio"] - 1) <= 0.10, fc1
    assert fc1["utilisation"] == pytest.approx(64 * 64 / (fc1["cycles"] * 16)), fc1  # 16 MACs a cycle
    assert fc2["status"] == "FAIL" and fc2["mismatches"] == 0, fc2
    assert "over the budget" in fc2["reason"] and "pwfc_tight's cycle model" in fc2["reason"], fc2["reason"]
    text = coverage.report(sorted((tmp_path / "cov").glob("cov-*.yml")))
    mine = text.split("target pwfc_tight:")[1] if "target pwfc_tight:" in text else text
    kind = next(l for l in mine.splitlines() if l.split()[:1] == ["kind"])
    assert kind.split()[1] == f"1/{len(KINDS)}" and "fc" not in kind.split()[2:], kind  # fc1 passed: the fc bin, nothing else
    assert "(pwfc_tight; bins of layers it does not take stay holes)" in text, text


def test_make_sim_refuses_while_a_mutant_is_in_a_targets_verilog(tmp_path, capsys, monkeypatch):
    """A make mutate run killed mid-mutant leaves the mutant in the target's own Verilog: a verdict
    on it is no verdict on the design, so make sim TARGET= refuses in one line naming the file."""
    from golden.cli import run_cli
    from tb import mutant_guard as guard

    monkeypatch.delenv(guard.MUTATE_RUN_ENV, raising=False)
    mine = tmp_path / "mine"
    (mine / "rtl").mkdir(parents=True)
    (mine / "hdl").mkdir()
    core = mine / "rtl" / "core.sv"
    core.write_text("module core; assign x = a - b; endmodule\n")  # the mutant mutate wrote
    guard.backup_of(core).write_text("module core; assign x = a + b; endmodule\n")
    guard.written_of(core).write_bytes(core.read_bytes())
    (mine / "hdl" / "tb.sv").write_text("module tb; endmodule\n")
    (mine / "driver.py").write_text("")
    (mine / "target.py").write_text(
        "from pathlib import Path\nfrom tb.sim import HdlBench\nfrom tb.target import Target\nH = Path(__file__).parent\n"
        "TARGET = Target(name='mine', summary='s', bench=HdlBench(name='m', top='tb', sources=(H / 'rtl/core.sv', H / 'hdl/tb.sv')),"
        " driver=H / 'driver.py', segments=lambda net, l: 'no', word_bits=32, folder=H)\n")
    assert run_cli("sim", sim_cli.main, ["--target", str(mine / "target.py"), "--sim", "icarus", "--model", "mlp"]) == 2
    err = [l for l in capsys.readouterr().err.splitlines() if l.strip()]
    assert len(err) == 1 and "core.sv" in err[0] and "mutant" in err[0], err
    assert core.read_text().endswith("a - b; endmodule\n")  # nothing restored behind the user's back


def test_the_framework_does_not_import_the_engine():
    """tb/ serves every target; our engine's part is tb/engine/, reached through its target record
    (targets/engine/target.py) and Flow like any target's. A framework module that imports the
    engine would tie every target to it again. Likewise golden/ never imports tb/ or cocotb, and
    hexgen/ never imports tb/."""
    import ast

    def imports(path: Path) -> set[str]:
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                names |= {f"{node.module}.{a.name}" for a in node.names}
        return names

    rules = [("tb/*.py", ("tb.engine",)), ("golden/**/*.py", ("tb", "cocotb")), ("hexgen/*.py", ("tb", "cocotb"))]
    bad = []
    for pattern, banned in rules:
        files = sorted(ROOT.glob(pattern))
        assert files, pattern
        for f in files:
            bad += [f"{f.relative_to(ROOT)} imports {n}" for n in sorted(imports(f))
                    if any(n == b or n.startswith(b + ".") for b in banned)]
    assert not bad, bad
