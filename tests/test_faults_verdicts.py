"""Issue 23, "Verdicts you can trust, round 2": each case printed a wrong verdict (or a FAIL of
correct RTL) on the code before it was fixed. Simulator tests are marked `sim`.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tb import sim, sim_cli

ROOT = Path(__file__).resolve().parent.parent

# ---- 1. a build is keyed by exactly the text the compiler read ------------------------------------
TINY = '`timescale 1ns / 1ps\nmodule tiny;\n  initial $display("VALUE=%0d", {v});\nendmodule\n'


def _tiny_value(bdir: Path) -> str:
    out = subprocess.run(["vvp", "-n", str(bdir / "sim.vvp")], capture_output=True, text=True, timeout=60).stdout
    return next(l for l in out.splitlines() if l.startswith("VALUE="))


@pytest.mark.sim
def test_source_edited_during_a_build_never_leaves_a_build_keyed_by_other_text(tmp_path, monkeypatch):
    """The issue's probe: the file is `buggy` when the build starts, put back `good` while the
    compiler runs, then made `buggy` again. The old build keyed the buggy text and compiled the
    good one, so the next run reused a good binary for buggy sources and PASSed. Now the compiler
    reads a snapshot of the bytes the key names: the binary is of the buggy text, and the rerun
    reuses exactly that."""
    src = tmp_path / "tiny.sv"
    monkeypatch.setattr(sim, "BUILD", tmp_path / "build")
    monkeypatch.setitem(sim.BENCHES, "tiny", ("tiny", [src]))
    real_run_cmds = sim.run_cmds

    def edit_while_compiling(cmds, cwd, env, stdout=None):
        src.write_text(TINY.format(v=1))  # the good file is back while the compiler runs
        try:
            real_run_cmds(cmds, cwd, env, stdout)
        finally:
            src.write_text(TINY.format(v=666))  # and the buggy one again afterwards

    src.write_text(TINY.format(v=666))
    monkeypatch.setattr(sim, "run_cmds", edit_while_compiling)
    bdir = sim.build("tiny", "icarus")
    monkeypatch.setattr(sim, "run_cmds", real_run_cmds)
    assert _tiny_value(bdir) == "VALUE=666", "the build compiled other text than its key names"
    assert sim.build("tiny", "icarus") == bdir  # the sources equal the key: reused
    assert _tiny_value(bdir) == "VALUE=666"
    src.write_text(TINY.format(v=1))
    assert _tiny_value(sim.build("tiny", "icarus")) == "VALUE=1"  # and an edit rebuilds


@pytest.mark.sim
def test_compiler_errors_name_the_source_not_its_snapshot(tmp_path, monkeypatch):
    src = tmp_path / "tiny.sv"
    src.write_text("`timescale 1ns / 1ps\nmodule tiny;\n  this is not verilog;\nendmodule\n")
    monkeypatch.setattr(sim, "BUILD", tmp_path / "build")
    monkeypatch.setitem(sim.BENCHES, "tiny", ("tiny", [src]))
    with pytest.raises(sim.BuildError) as e:
        sim.build("tiny", "icarus")
    assert f"{src}:3" in str(e.value), str(e.value)
    assert "/.src/" not in str(e.value).split(" (full log:")[0]


# ---- 2. the engine's counters are held to the bench's own count -----------------------------------
def test_counters_are_held_to_the_bench_and_to_what_they_cannot_exceed():
    from tb.engine.test_layers import counters_against_bench

    good = {"CYCLES": 500, "WORDS_READ": 300, "WORDS_WRITTEN": 40, "BUSY_CYCLES": 400, "MACS": 400 * 64}
    bench = {"cycles": 500, "rd_words": 300, "wr_words": 40}
    assert counters_against_bench(good, bench, 64) == ""
    assert "CYCLES counter reads 0" in counters_against_bench({**good, "CYCLES": 0}, bench, 64)
    assert "WORDS_READ" in counters_against_bench({**good, "WORDS_READ": 299}, bench, 64)
    assert "WORDS_WRITTEN" in counters_against_bench({**good, "WORDS_WRITTEN": 41}, bench, 64)
    assert "BUSY_CYCLES" in counters_against_bench({**good, "BUSY_CYCLES": 501}, bench, 64)
    assert "MACS" in counters_against_bench({**good, "MACS": 500 * 64 + 1}, bench, 64)


@pytest.mark.sim
def test_a_cycle_counter_stuck_at_zero_fails_the_layer():
    """The issue's fault (`||` to `&&` in ctrl_regs' CYCLES counter) kept CYCLES at 0, and make sim
    showed PASS with "cycles 0": the budget trusted the engine's own counter. It is +MUT_CYCLES_STUCK
    of the MUT_SELECT build; the same build without it passes (tests/test_diagnose_sim.py)."""
    from tb import layer_sim

    res = layer_sim.run(layers=["conv3", "add1"], sim="icarus", model="mobilenetv2", seed=0, defines=("MUT_SELECT",),
                        plusargs=("+MUT_CYCLES_STUCK",), run_tag="-mut_cycles_stuck", waves=False)
    for r in res:
        assert r["status"] == "FAIL", r
        assert "CYCLES counter reads 0" in r["reason"] and "bench counted" in r["reason"], r["reason"]


# ---- 5. any SEED >= 0 is valid: Verilator refused +verilator+seed+ from 2^31 up ----------------
def test_verilator_seed_of_any_seed_is_in_verilators_range_and_the_x_seeds_differ():
    for seed in (0, 1, 2**30, 2**31 - 2, 2**31 - 1, 2**31, 99999999999, 10**30):
        a, b = sim.verilator_seed(2 * seed + 1), sim.verilator_seed(2 * seed + 2)
        assert 1 <= a < 2**31 and 1 <= b < 2**31 and a != b, (seed, a, b)


@pytest.mark.sim
def test_a_seed_beyond_2_to_the_31_passes_correct_rtl():
    from tb import layer_sim

    res = layer_sim.run(layers=["fc1"], sim="verilator", model="mobilenetv2", seed=99999999999)
    assert [r["status"] for r in res] == ["PASS"], res[0].get("reason")


# ---- 6. the watchdog allows for the memory settings -------------------------------------------
@pytest.mark.sim
@pytest.mark.parametrize("stall,latency", [(255, 8), (0, 20000)])
def test_slowest_documented_memory_settings_pass_correct_rtl(stall: int, latency: int):
    """MEM_STALL=255 and MEM_LATENCY=20000, inside their documented ranges, FAILed correct RTL on
    the watchdog (up to 252 and 2000 passed)."""
    from tb import layer_sim

    layers = ["fc1", "pool1"] if stall else ["fc1"]  # every read burst waits 20,000 cycles: one layer is enough
    res = layer_sim.run(layers=layers, sim="verilator", model="mobilenetv2", seed=3, mem_stall=stall, xcheck=False,
                        mem_latency=latency, run_tag=f"-slowmem{stall}-{latency}")  # one X seed: the watchdog is the point
    assert [r["status"] for r in res] == ["PASS"] * len(layers), [r.get("reason") for r in res]


def test_watchdog_limit_grows_with_stalls_and_latency():
    from hexgen import read_image
    from tb.engine.images import prepare_image
    from tb.engine.test_layers import watchdog_limit

    cdir, _, _ = prepare_image("mobilenetv2", 0)
    rb = read_image(cdir / "image", run_golden=False)
    layer = rb.layer("fc1")
    base = watchdog_limit(layer, rb.config, macs=640, words=100, mem_latency=8, mem_stall=0)
    assert watchdog_limit(layer, rb.config, macs=640, words=100, mem_latency=8, mem_stall=255) >= 256 * base
    slow = watchdog_limit(layer, rb.config, macs=640, words=100, mem_latency=20000, mem_stall=0)
    assert slow > base + 20000 * 4


# ---- lost work 1: make sim refuses to run while a make mutate mutant is in place -----------------
def test_make_sim_refuses_while_a_mutant_is_in_place(monkeypatch, capsys):
    from golden.cli import run_cli
    from tb import layer_sim, mutant_guard

    msg = "rtl/gather.sv:86 holds a mutant make mutate wrote; run scripts/mutate.py --restore"
    monkeypatch.setattr(mutant_guard, "mutant_in_place", lambda **kw: msg)
    ran = []
    monkeypatch.setattr(layer_sim, "run", lambda **kw: ran.append(kw) or [])
    assert run_cli("sim", sim_cli.main, ["--layer", "conv3"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"sim: error: {msg}" and not ran


# ---- 3. the image key covers every tensor golden reads, not state_dict() -------------------------
class _Model:
    """what golden.models.load_model returns, enough for the image key"""

    def __init__(self, float_model, calibration):
        self.float_model, self.calibration, self.x_test, self.y_test = float_model, calibration, None, None


def _conv_net(kind: str):
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(0)
    w = torch.randn(4, 1, 3, 3, generator=gen)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            if kind == "nonpersistent":
                self.register_buffer("w", w.clone(), persistent=False)
            elif kind == "attribute":
                self.w = w.clone()
            else:
                self.ws = [w.clone()]

        def forward(self, x):
            return F.relu(F.conv2d(x, self.w if kind != "list" else self.ws[0]))

    return Net()


@pytest.mark.parametrize("kind", ["nonpersistent", "attribute", "list"])
def test_image_key_changes_with_weights_outside_state_dict(kind: str):
    """A model whose weights are a non-persistent buffer or a plain tensor attribute (used with
    F.conv2d) kept its image key when they changed: make sim reported the old model's results."""
    import torch

    from hexgen.hw import load_hw
    from tb.images import _image_key

    cfg, calib = load_hw("default"), torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    net = _conv_net(kind)
    before = _image_key(_Model(net, calib), 0, cfg)
    assert before == _image_key(_Model(net, calib), 0, cfg)
    with torch.no_grad():
        (net.w if kind != "list" else net.ws[0])[0, 0, 0, 0] += 0.5
    assert _image_key(_Model(net, calib), 0, cfg) != before


# ---- 9. a damaged cache entry is made again, with one line ------------------------------------
@pytest.mark.parametrize("victim", ["image/dram.memh", "layers.json"])
def test_an_edited_cached_image_is_made_again(tmp_path, monkeypatch, capsys, victim: str):
    """One digit changed in a cached .memh made every later run FAIL "simulation stopped" until
    build/images was deleted by hand; an edited layers.json silently turned a layer into UNSUPP."""
    from tb import images
    from tb.engine import images as engine_images

    monkeypatch.setattr(images, "IMAGES", tmp_path / "images")
    cdir, layers, _ = engine_images.prepare_image("mlp", 0)
    target = cdir / victim
    good = target.read_bytes()
    text = good.decode()
    if victim == "layers.json":
        bad = text.replace('"rtl": true', '"rtl": false', 1)
    else:
        i = next(i for i, c in enumerate(text) if c in "0123456789abcdef" and i > 100)
        bad = text[:i] + ("1" if text[i] != "1" else "2") + text[i + 1:]
    assert bad != text
    target.write_text(bad)
    capsys.readouterr()
    again, layers2, _ = engine_images.prepare_image("mlp", 0)
    out = capsys.readouterr().out
    assert again == cdir and layers2 == layers
    assert f"{victim} was changed since it was written" in out and "making it again" in out, out
    assert target.read_bytes() == good
    engine_images.prepare_image("mlp", 0)  # and the rebuilt entry is reused quietly
    assert "damaged" not in capsys.readouterr().out


# ---- 7, 8. SIM=both: one image for both simulators; nothing ran is exit 1 -------------------------
def test_sim_both_runs_one_image_on_both_simulators(monkeypatch):
    """A factory that is not deterministic gave each simulator other weights: SIM=both reported a
    difference that was the model's. The image is now made once and given to both runs."""
    from tb import layer_sim, sim_both
    from tb.engine import images as engine_images

    made, got = [], []
    monkeypatch.setattr(engine_images, "prepare_image", lambda *a: made.append(a) or (Path(f"/img{len(made)}"), [], 0))
    monkeypatch.setattr(layer_sim, "run", lambda **kw: got.append((kw["sim"], kw["image"])) or [])
    sim_both.run_both(layers=None, model="x.py:make", seed=0, hw=None)
    assert len(made) == 1 and [s for s, _ in got] == ["icarus", "verilator"] and got[0][1] is got[1][1]


def test_layer_sim_run_given_an_image_does_not_make_another(monkeypatch):
    from tb import layer_sim
    from tb.engine.engine_flow import EngineFlow

    def no_prepare(*a):
        raise AssertionError("the engine's flow made an image although one was given")

    seen = []
    monkeypatch.setattr(EngineFlow, "image", no_prepare)
    monkeypatch.setattr(layer_sim, "_run_in", lambda rdir, image, settings, target: seen.append(image) or [])
    img = (Path("/nowhere"), [], 0)
    assert layer_sim.run(layers=["fc1"], sim="icarus", model="mlp", seed=0, image=img, run_tag="-given-image") == []
    assert seen == [img]


def test_sim_both_with_only_unsupported_layers_exits_1(capsys):
    from golden.cli import run_cli

    assert run_cli("sim", sim_cli.main, ["--sim", "both", "--model", "mlp", "--layer", "flatten1"]) == 1
    assert "nothing ran" in capsys.readouterr().out


# ---- misleading: argument errors are one line; bad make settings are refused, not ignored --------
@pytest.mark.parametrize("argv, says", [
    (["--sim", "vcs"], "argument --sim: invalid choice: 'vcs'"),
    (["--seed", "abc"], "SEED='abc': a whole number >= 0"),
    (["--seed", "-1"], "SEED=-1: a whole number >= 0"),
    (["--hw"], "argument --hw: expected one argument"),
    (["--waves", "maybe"], "argument --waves: invalid choice: 'maybe'"),
    (["--chain-setting", "yes"], "CHAIN='yes'"),
    (["--chain-setting", "1", "--chain", "0"], "CHAIN_IMAGES=0: a chained run needs at least one image"),
], ids=["sim", "seed_text", "seed_negative", "hw_empty", "waves", "chain", "chain_images"])
def test_bad_settings_are_one_error_line(argv, says, capsys, monkeypatch):
    from golden.cli import run_cli
    from tb import layer_sim

    monkeypatch.setattr(layer_sim, "run", lambda **kw: pytest.fail(f"ran with {kw}"))
    assert run_cli("sim", sim_cli.main, argv) == 2
    err = [l for l in capsys.readouterr().err.splitlines() if l.strip()]
    assert len(err) == 1 and err[0].startswith("sim: error: ") and says in err[0], err


def test_make_passes_waves_and_chain_as_given():
    """WAVES=maybe and CHAIN=yes were silently ignored by the Makefile's filters."""
    for setting, flag in (("WAVES=maybe", "--waves maybe"), ("CHAIN=yes", "--chain-setting yes"), ("WAVES=0", "--waves 0")):
        r = subprocess.run(["make", "-n", "sim", setting], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert flag in r.stdout, (setting, r.stdout)


def test_a_chained_run_has_its_own_run_folder(monkeypatch, capsys):
    from golden.cli import run_cli
    from tb import layer_sim

    tags = []
    monkeypatch.setattr(layer_sim, "run", lambda **kw: tags.append(kw.get("run_tag")) or [])
    run_cli("sim", sim_cli.main, ["--chain-setting", "1", "--chain", "2", "--model", "mlp"])
    assert tags == ["-chain"]


def test_chained_summary_with_a_golden_layer_does_not_contradict_itself(monkeypatch, capsys):
    """An image whose layers all equal golden, with one layer the accelerator refused run in
    golden, was counted failed ("0 passed, 11 failed") under "RTL top-1 equals golden on 11/11"."""
    from tb import layer_sim

    rows = [{"image": i, "label": 1, "rtl_pred": 1, "golden_pred": 1, "layers": 30, "layers_equal": 30,
             "first_diff": "", "problem": "", "golden_ran": ["pool1"]} for i in range(3)]
    monkeypatch.setattr(layer_sim, "run", lambda **kw: rows)
    import argparse

    a = argparse.Namespace(sim="verilator", model="m", seed=0, mem_stall=0, mem_latency=8, chain=3, hw="default",
                           w_bits=8, a_bits=8, keep_ends=False, qat=False, jobs=1)
    assert sim_cli.main_chain(a) == 0
    out = capsys.readouterr().out
    assert "3 passed, 0 failed (golden ran pool1 on every image" in out, out
    rows[1] = {**rows[1], "layers_equal": 29, "first_diff": "conv3"}
    assert sim_cli.main_chain(a) == 1
    assert "2 passed, 1 failed" in capsys.readouterr().out


def test_make_layers_refuses_a_description_make_sim_refuses(tmp_path):
    """make layers listed "RTL" for every layer of a hardware description that make sim refuses."""
    import json
    import sys

    from hexgen.hw import PRESETS

    (tmp_path / "huge.json").write_text(json.dumps({**PRESETS["default"].to_json(), "act_buf_words": 1 << 25}))
    r = subprocess.run([sys.executable, "-m", "tb.layer_sim", "--list", "--model", "mlp", "--hw", "huge.json"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "HW=huge.json: the engine refuses these sizes" in r.stderr and "RTL" not in r.stdout, (r.stdout, r.stderr)


# ---- one line, not a traceback: the machine refusing a write ---------------------------------
def test_a_full_disk_or_read_only_build_is_one_line(capsys):
    import errno

    from golden.cli import run_cli

    def write_full(argv):
        Path("/dev/full").write_text("x" * 100000)  # the kernel's always-full device: ENOSPC
        return 0

    assert run_cli("sim", write_full, []) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sim: error: cannot write") and "No space left on device" in err and "\n" not in err, err

    def read_only(argv):
        raise OSError(errno.EROFS, "Read-only file system", "build/layers/x/results.json")

    assert run_cli("coverage", read_only, []) == 2
    assert capsys.readouterr().err.strip() == "coverage: error: cannot write build/layers/x/results.json: Read-only file system"

    def bug(argv):
        raise OSError(errno.EBADF, "Bad file descriptor")

    with pytest.raises(OSError):  # a bug of the tool keeps its traceback
        run_cli("sim", bug, [])


def test_half_written_bench_results_are_one_line(tmp_path, monkeypatch):
    from tb import layer_sim

    rdir = tmp_path / "run"
    rdir.mkdir()

    class Runner:
        def test(self, **kw):
            (rdir / "results.json").write_text('[{"layer": "conv1", "sta')

    monkeypatch.setattr(layer_sim, "runner_for", lambda sim: Runner())
    with pytest.raises(layer_sim.SimError, match=r"results.json: the bench's results are not whole .*disk full"):
        layer_sim._simulate("icarus", tmp_path, rdir, {"image_dir": str(tmp_path), "bench": ["tb.engine.test_layers", "accel_tb", "LAYER_JOB"]},
                            "", [], False)


# ---- faults that passed: a CSR written while busy ----------------------------------------------
@pytest.mark.sim
def test_a_residual_add_csr_written_while_busy_fails_the_unit_bench(capfd):
    """Only KIND was written while busy: with the five residual-add CSRs taking writes while busy
    (+MUT_ADD_CSR_BUSY of the MUT_SELECT build) everything passed. The bench now writes every
    descriptor CSR while busy; the same bench without the fault passes (tests/test_rtl_ctrl_regs.py)."""
    params = sim.unit_parameters("default", ("ROWS", "COLS", "ACT_WORDS", "WGT_WORDS", "REC_WORDS"))
    with pytest.raises(SystemExit):
        sim.run("ctrl_regs", "icarus", "tb.engine.test_ctrl_regs", parameters=params, run_name="mut_add_csr_busy",
                defines=("MUT_SELECT",), plusargs=("+MUT_ADD_CSR_BUSY",))
    out = capfd.readouterr()
    text = out.out + out.err
    for name in ("IN2_BASE", "Z_IN2", "ADD_A0", "ADD_B0", "ADD_SHIFT"):
        assert f"{name} after a write while busy" in text, name
    assert "KIND after a write while busy" not in text


# ---- faults that passed: +5% cycles under the 10% budget ------------------------------------------
@pytest.mark.sim
def test_a_five_percent_performance_fault_fails_the_cycle_baseline():
    """One idle write cycle per burst (+MUT_WR_IDLE, out_writer) costs conv4 29 cycles (+4.3%) and
    passed the 10% budget; the committed baseline holds the exact cycles (make test checks the
    shipped models' runs against it in tests/test_engine.py)."""
    from tb import layer_sim
    from tb.engine.budget import baseline_differences

    res = layer_sim.run(layers=["conv4", "fc1"], sim="icarus", model="mobilenetv2", seed=0, defines=("MUT_SELECT",),
                        plusargs=("+MUT_WR_IDLE",), run_tag="-mut_wr_idle")
    assert [r["status"] for r in res] == ["PASS", "PASS"], [r.get("reason") for r in res]  # the budget lets it through
    diffs = baseline_differences(res, "mobilenetv2", "default", 0)
    assert any(d.startswith("conv4: ") and "the accepted baseline is" in d for d in diffs), diffs
    assert "make accept-cycles" in diffs[-1]


def test_the_baseline_names_a_faster_layer_too():
    from tb.engine.budget import BASELINE_FILE, baseline_differences

    import json

    accepted = json.loads(BASELINE_FILE.read_text())["runs"]["mobilenetv2/default/seed0/latency8"]
    res = [{"layer": n, "cycles": c} for n, c in accepted.items()]
    assert baseline_differences(res, "mobilenetv2", "default", 0) == []
    res[0] = {**res[0], "cycles": res[0]["cycles"] - 1}
    assert baseline_differences(res, "mobilenetv2", "default", 0)[0].startswith(f"{res[0]['layer']}: ")
    assert "holds no run" in baseline_differences(res, "mobilenetv2", "tiny", 0)[0]


# ---- faults that passed: a broken bank-conflict check, faster than the hardware can be -----------
@pytest.mark.sim
def test_two_reads_of_one_activation_bank_in_a_cycle_stop_the_layer():
    """+MUT_NO_CLASH (the gather's bank-clash check off) gave right outputs in fewer cycles: the
    simulated activation buffer had a read port per column. rtl/bank_check.sv now holds the
    gather's reads to one per bank a cycle; the build without the fault passes conv1 (a stride-2
    stem, where columns clash) in tests/test_engine.py."""
    from tb import layer_sim

    res = layer_sim.run(layers=["conv1"], sim="icarus", model="mobilenetv2", seed=0, defines=("MUT_SELECT",),
                        plusargs=("+MUT_NO_CLASH",), run_tag="-mut_no_clash")
    assert res[0]["status"] == "FAIL", res[0]
    assert "u_gather.u_chk_banks: protocol: bank" in res[0]["reason"] and "read twice in one cycle" in res[0]["reason"], res[0]


def test_the_budget_is_two_sided():
    """Being faster than the budget never failed; a layer more than BUDGET_SLACK under it is
    faster than the dataflow allows."""
    import json

    from hexgen import HardwareConfig
    from hexgen.cycles import BUDGET_SLACK, layer_budget
    from hexgen.rules import descriptor_registers
    from tb.engine.budget import check_budget
    from tb.engine.images import prepare_image

    cdir, _, _ = prepare_image("mobilenetv2", 0)
    mm = json.loads((cdir / "image" / "memory_map.json").read_text())
    entry = next(e for e in mm["layers"] if e["name"] == "conv3")
    cfg = HardwareConfig.from_json(mm["config"])
    b = layer_budget(descriptor_registers(entry["descriptor"]), cfg, 8)

    def verdict(cycles: int) -> dict:
        r = {"status": "PASS", "cycles": cycles, "words_read": b.read_words, "words_written": b.write_words,
             "busy_cycles": b.beats, "macs": b.macs}
        check_budget(r, entry, cfg, mem_latency=8, mem_stall=0)
        return r

    assert verdict(b.cycles)["status"] == "PASS"
    fast = verdict(int(b.cycles * (1 - BUDGET_SLACK)) - 1)
    assert fast["status"] == "FAIL" and "under the budget" in fast["reason"], fast
    assert verdict(int(b.cycles * (1 + BUDGET_SLACK)) + 1)["status"] == "FAIL"


# ---- probes of our own: a damaged simulator build is built again, not run -------------------------
@pytest.mark.sim
def test_a_damaged_cached_build_is_built_again(tmp_path, monkeypatch, capsys):
    """The build cache's executable edited (or truncated) behind its stamp was run as it was: every
    later run failed until build/ was deleted by hand. Now it is built again, with one line."""
    src = tmp_path / "tiny.sv"
    src.write_text(TINY.format(v=7))
    monkeypatch.setattr(sim, "BUILD", tmp_path / "build")
    monkeypatch.setitem(sim.BENCHES, "tiny", ("tiny", [src]))
    bdir = sim.build("tiny", "icarus")
    vvp = bdir / "sim.vvp"
    vvp.write_text(vvp.read_text().replace("VALUE=", "VALUX=", 1))
    capsys.readouterr()
    assert sim.build("tiny", "icarus") == bdir
    assert "sim.vvp was changed since it was built" in capsys.readouterr().out
    assert _tiny_value(bdir) == "VALUE=7"


def test_the_image_cache_is_the_users_and_can_be_moved(monkeypatch, tmp_path):
    """Images are shared by a user's checkouts (content-keyed: tb.images._image_key covers golden/,
    hexgen/ and the maker's code), in $INT8SIM_CACHE, else $XDG_CACHE_HOME/int8sim, else ~/.cache/int8sim."""
    from tb import images

    monkeypatch.setenv("INT8SIM_CACHE", str(tmp_path / "mine"))
    assert images.cache_root() == tmp_path / "mine"
    monkeypatch.delenv("INT8SIM_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert images.cache_root() == tmp_path / "xdg" / "int8sim"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert images.cache_root() == tmp_path / "home" / ".cache" / "int8sim"
