"""pwfc, the second shipped target (issue 24 item 2), through the framework's target API: `make sim
TARGET=pwfc` runs golden's pointwise and fc layers in pwfc's own layouts (targets/pwfc/layouts.py,
hexgen.build_target_image) on its RTL through its cocotb driver (AxiRam, AxiLiteMaster), on Icarus
and on Verilator (two X seeds), with the runner's verdicts; the other layers are UNSUPP with the
reason. A fault (+PWFC_MUT_ZP) fails and is diagnosed as its kind; a target file outside this
checkout runs with TARGET=path.
Expected values are golden's (the image's expected segments, checked against golden when written)."""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest

from targets.pwfc import layouts, regs
from tb import layer_sim

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.sim
@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_pwfc_runs_the_mlp_and_the_pointwise_layers_of_the_default_model(sim: str) -> None:
    res = layer_sim.run(target="pwfc", model="mlp", sim=sim, seed=0, check_reset=True)  # as make sim runs it
    assert [(r["layer"], r["status"]) for r in res] == [("fc1", "PASS"), ("fc2", "PASS"), ("fc3", "PASS")], \
        [r.get("reason") for r in res]
    # pointwise layers of K=8 (2 groups of 4), K=96 from C=24 and C=96, fc1 (K=10: a partial group and
    # word) and a depthwise one pwfc refuses; make sim TARGET=pwfc runs all 20 (11 PASS, 9 UNSUPP)
    res = layer_sim.run(target="pwfc", model="mobilenetv2", sim=sim, seed=0, layers=["conv3", "conv5", "conv13", "conv15", "fc1"])
    for r in res:
        if r["kind"] in ("pointwise", "fc"):
            assert r["status"] == "PASS", (r["layer"], r.get("reason"))
        else:  # pwfc refuses the rest before anything runs, with its reason
            assert r["status"] == "UNSUPP" and "pwfc runs" in r["reason"], r
    assert all("TARGET=pwfc" in r["rerun"] for r in res)


@pytest.mark.sim
def test_a_zero_point_fault_in_pwfc_fails_its_layers() -> None:
    res = layer_sim.run(target="pwfc", model="mlp", sim="icarus", seed=0, layers=["fc2"], defines=("PWFC_MUT",),
                        plusargs=("+PWFC_MUT_ZP",), run_tag="-mut_zp")
    assert res[0]["status"] == "FAIL" and res[0]["mismatches"] > 0, res[0]
    assert "outputs wrong" in res[0]["reason"] and "pattern" in res[0]["report"], res[0]
    # diagnosed as its kind, as the engine's own zero-point fault is (tests/test_diagnose_sim.py), and bundled
    assert res[0]["diagnosis"][0]["kind"] == "offset_per_channel", res[0]["diagnosis"]
    assert res[0]["diagnosis"][0]["explained"] == res[0]["mismatches"], res[0]["diagnosis"]
    assert (Path(res[0]["bundle"]) / "report.md").is_file(), res[0].get("bundle")
    # located by pwfc's output words and lanes, not by our engine's MAC array
    assert "where (c, y, x)" in res[0]["report"] and "PE row" not in res[0]["report"], res[0]["report"]
    assert all(set(w) >= {"word", "lane"} and "pe_row" not in w for w in res[0]["where"]), res[0]["where"]
    # the same fault build without the plusarg is the correct design
    res = layer_sim.run(target="pwfc", model="mlp", sim="icarus", seed=0, layers=["fc2"], defines=("PWFC_MUT",),
                        run_tag="-mut_none")
    assert res[0]["status"] == "PASS", res[0]


@pytest.mark.sim
def test_a_wrong_reset_value_fails_the_run_through_the_drivers_reset_check() -> None:
    """+PWFC_MUT_RESET: HW resets to 1, not 0 (a mutant make mutate found surviving: the driver writes
    HW before every start, so no layer shows it). The driver's check_reset, which make sim runs
    first, reads every register back after reset: each layer FAILs naming the register."""
    res = layer_sim.run(target="pwfc", model="mlp", sim="icarus", seed=0, layers=["fc1", "fc2"], defines=("PWFC_MUT",),
                        plusargs=("+PWFC_MUT_RESET",), check_reset=True, run_tag="-mut_reset")
    assert [r["status"] for r in res] == ["FAIL", "FAIL"], res
    assert all(r["reason"] == "after reset: HW reads 0x1, documented 0x0" for r in res), [r["reason"] for r in res]
    res = layer_sim.run(target="pwfc", model="mlp", sim="icarus", seed=0, layers=["fc1"], defines=("PWFC_MUT",),
                        plusargs=("+PWFC_MUT_RESET",), run_tag="-mut_reset_unchecked")
    assert res[0]["status"] == "PASS", res[0]  # the layers alone cannot see it


@pytest.mark.sim
def test_a_target_outside_the_checkout_runs_with_target_path(tmp_path: Path) -> None:
    """A user's target: its own folder, its target.py naming Verilog and a driver beside it (here
    pwfc's, copied), its builds and images under its own folder, no edit of int8sim."""
    mine = tmp_path / "my_accel"
    shutil.copytree(ROOT / "targets" / "pwfc", mine, ignore=shutil.ignore_patterns("build", "__pycache__"))
    text = (mine / "target.py").read_text().replace('name="pwfc"', 'name="my_accel"')
    (mine / "target.py").write_text(text)
    res = layer_sim.run(target=str(mine / "target.py"), model="mlp", sim="icarus", seed=0, layers=["fc3"])
    assert res[0]["status"] == "PASS", res[0]
    assert (mine / "build" / "sim").is_dir() and (mine / "build" / "images").is_dir()
    assert res[0]["rerun"].startswith(f"make sim TARGET={mine / 'target.py'} LAYER=fc3")


def test_pwfc_regs_svh_is_written_from_regs_py() -> None:
    assert regs.SVH.read_text() == regs.svh_text(), "run: .venv/bin/python -m targets.pwfc.regs"


def test_pwfc_layouts_refuse_what_it_cannot_run(shipped) -> None:  # type: ignore[no-untyped-def]
    from golden import extract

    q = shipped("mobilenetv2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = extract(q.qmodel, q.calibration[:2])
    for l in net.layers:
        got = layouts.segments(net, l.name)
        if l.kind in ("pointwise", "fc"):
            assert isinstance(got, dict), (l.name, got)
        else:
            assert isinstance(got, str) and "\n" not in got and "pwfc runs" in got, (l.name, got)
