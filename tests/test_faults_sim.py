"""Fault-injection tests of the verdict path (issue 9): each case made `make sim` print a wrong
verdict, lose a run's results or answer with a traceback on the code before the issue was fixed.

The hexgen and golden parts of the same issue are in tests/test_faults_hexgen.py and
tests/test_faults_golden.py.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tb import layer_sim, sim, sim_cli

from tb.engine import accel_build
from tb.toolchain import simulator_env

pytestmark = pytest.mark.sim

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def _cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _one_error_line(r: subprocess.CompletedProcess[str], prog: str) -> str:
    """Exit status 2, no traceback, and exactly one `prog: error:` line on stderr."""
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    errors = [l for l in lines if l.startswith(f"{prog}: error: ")]
    assert len(errors) == 1, r.stderr
    return errors[0]


# ---- 1. a build killed half-way never serves a stale binary ---------------------------------------
TINY = "`timescale 1ns / 1ps\nmodule tiny(input logic clk, output logic [7:0] q);\n  assign q = 8'd{v};\nendmodule\n"
BUILD_SCRIPT = """
import sys
from pathlib import Path
from tb import sim
sim.BUILD = Path(sys.argv[1])
sim.BENCHES["tiny"] = ("tiny", [Path(sys.argv[2])])
print(sim.build("tiny", "verilator"), flush=True)
"""


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.slow  # 7 s of make test's three minutes (two unit builds and a killed make)
def test_build_killed_mid_make_then_reverted_reuses_nothing_stale(tmp_path: Path):
    """Change the RTL, kill -9 the Python during the Verilator build (its make child used to go on
    and link the new binary under the old stamp), revert: the build directory must still hold the
    old binary with its own stamp, and the next build must reuse exactly that."""
    build_root, src = tmp_path / "build", tmp_path / "tiny.sv"
    src.write_text(TINY.format(v=1))
    script = tmp_path / "build_tiny.py"
    script.write_text(BUILD_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.run([PY, str(script), str(build_root), str(src)], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    bdir = Path(first.stdout.strip().splitlines()[-1])
    binary, stamp = bdir / "tiny", bdir / ".stamp"
    good_bin, good_stamp = _sha(binary), stamp.read_text()

    src.write_text(TINY.format(v=2))
    t0 = time.time()
    proc = subprocess.Popen([PY, str(script), str(build_root), str(src)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    # wait until Verilator has written the makefile (make and the compiler are about to run), wherever
    # the build happens, then kill the Python process alone
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if any(p.stat().st_mtime >= t0 for p in build_root.rglob("Vtop.mk")):
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the build finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(4)  # a surviving make would link the new binary within these seconds
    assert _sha(binary) == good_bin, "a killed build changed the binary behind its stamp"
    assert stamp.read_text() == good_stamp

    src.write_text(TINY.format(v=1))  # revert: the stamp matches, and so must the binary
    again = subprocess.run([PY, str(script), str(build_root), str(src)], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert Path(again.stdout.strip().splitlines()[-1]) == bdir
    assert _sha(binary) == good_bin and stamp.read_text() == good_stamp
    # the killed run's temporary folder was removed by the later build; no other folder was touched
    assert not [p.name for p in bdir.parent.iterdir() if ".tmp-" in p.name]


def test_build_key_covers_every_hdl_file_and_define(tmp_path: Path):
    """Content keys: an included header or a define changes the key; the same content keeps it."""
    top, srcs = sim.BENCHES["accel"]
    base = sim._stamp("icarus", top, srcs, {}, ["-DX"])
    assert base == sim._stamp("icarus", top, srcs, {}, ["-DX"])
    assert base != sim._stamp("icarus", top, srcs, {}, ["-DY"])
    assert any(p.name == "accel_csr.svh" for p in sim._hdl_files())  # included, not listed as a source


# ---- 2. X/Z is caught on Verilator, the default simulator -----------------------------------------
def test_z_driven_output_bit_is_refused_on_verilator_and_fails_on_icarus():
    with pytest.raises(sim.BuildError, match=r"rtl/out_writer.sv:\d+: drives a z constant"):
        layer_sim.run(layers=["fc1"], sim="verilator", model="mobilenetv2", seed=0, defines=("MUT_ZBIT",), run_tag="-zbit")
    res = layer_sim.run(layers=["fc1"], sim="icarus", model="mobilenetv2", seed=0, defines=("MUT_ZBIT",), run_tag="-zbit")
    assert res[0]["status"] == "FAIL" and "X/Z" in res[0]["reason"], res[0]
    assert res[0]["diagnosis"][0]["kind"] == "xz", res[0]["report"]  # the classifier names it too


def test_undriven_output_bit_is_refused_on_verilator_and_fails_on_icarus():
    with pytest.raises(sim.BuildError, match="UNDRIVEN"):
        layer_sim.run(layers=["fc1"], sim="verilator", model="mobilenetv2", seed=0, defines=("MUT_UNDRIVEN",), run_tag="-undriven")
    res = layer_sim.run(layers=["fc1"], sim="icarus", model="mobilenetv2", seed=0, defines=("MUT_UNDRIVEN",), run_tag="-undriven")
    assert res[0]["status"] == "FAIL" and "X/Z" in res[0]["reason"], res[0]
    assert res[0]["diagnosis"][0]["kind"] == "xz", res[0]["report"]  # the classifier names it too


def test_x_merge_fails_a_layer_whose_result_depends_on_the_seed():
    """Verilator runs each layer under two random-initialisation seeds: a layer that passes under one
    and fails (or takes other cycles) under the other is FAIL, named X-dependent."""
    ok = {"layer": "conv3", "status": "PASS", "cycles": 492}
    bad = {"layer": "conv3", "status": "FAIL", "cycles": 492, "reason": "3 of 1152 outputs wrong", "mismatches": 3}
    assert layer_sim._x_merge([ok], [ok], (1, 2)) == [ok]
    merged = layer_sim._x_merge([ok], [bad], (1, 2))[0]
    assert merged["status"] == "FAIL" and "X-dependent" in merged["reason"] and "seed 2" in merged["reason"]
    slow = layer_sim._x_merge([ok], [{**ok, "cycles": 500}], (1, 2))[0]
    assert slow["status"] == "FAIL" and "500" in slow["reason"]
    assert layer_sim._x_merge([ok], [], (1, 2))[0]["status"] == "FAIL"


# ---- 3. engine errors are failures; nothing ran is not a pass ------------------------------------
def _overflowing_bias_record(model: str, layer: str, seed: int) -> tuple[int, int]:
    """Word 0 of `layer`'s bias segment with channel 0's record set to the largest mantissa and
    shift hexgen's record layout allows (bias term 2^46: past int32 whatever the accumulator)."""
    import numpy as np

    from hexgen import read_image, to_words

    from tb.engine.images import prepare_image

    cdir, _, _ = prepare_image(model, seed)
    rb = read_image(cdir / "image")
    bias = np.array(rb[(layer, "bias")])
    bias[0] = (2**31 - 1, 15)
    return 0, to_words(bias, rb.layout(layer, "bias"))[0]


def test_engine_error_status_is_a_failure_not_unsupported(capsys: pytest.CaptureFixture[str]):
    index, word = _overflowing_bias_record("mobilenetv2", "fc1", 0)
    res = layer_sim.run(layers=["fc1"], sim="icarus", model="mobilenetv2", seed=0, run_tag="-overflow",
                        pokes={"fc1": [("bias", index, word)]})
    r = res[0]
    assert r["status"] == "FAIL", r
    assert r["reason"].startswith("engine error status: accumulator + bias overflow"), r["reason"]
    assert r["utilisation"] is None and r["port_rd"] is None and r["port_wr"] is None  # no 777600.0%
    row = layer_sim.table(res).splitlines()[-1]
    assert "%" not in row and " FAIL " in row
    assert layer_sim.verdict(res)[0] == 1


# W_TRANSPOSE on a layer that is not an 8-bit 1 x 1 conv or fc (here a depthwise one) would fill the
# weight bank with bytes of the wrong words: the engine refuses it rather than compute a wrong layer
@pytest.mark.parametrize("layer, field, value", [("conv3", "GROUPS", 2), ("conv2", "W_TRANSPOSE", 1)])
def test_descriptor_refused_before_start_is_unsupported_with_the_field(layer: str, field: str, value: int):
    res = layer_sim.run(layers=[layer], sim="icarus", model="mobilenetv2", seed=0,
                        csr_overrides={layer: {field: value}}, run_tag=f"-bad-{field.lower()}")
    assert res[0]["status"] == "UNSUPP"
    assert f"refuses field {field}" in res[0]["reason"] and "before start" in res[0]["reason"]
    assert layer_sim.verdict(res) == (1, "0 passed, 0 failed, 1 unsupported (not run): nothing ran")


def test_run_where_nothing_ran_exits_non_zero(capsys):
    from golden.cli import run_cli

    assert run_cli("sim", sim_cli.main, ["--layer", "flatten1", "--sim", "icarus"]) == 1
    out = capsys.readouterr().out
    assert "nothing ran" in out and "0 passed, 0 failed" in out
    assert "UNSUPP flatten1: golden only" in out


# ---- 4. the image cache follows the model's content, not its file names ----------------------------
FACTORY = """
import torch
from torch import nn
from helper_{tag} import WIDTH


def make():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, WIDTH, 3, padding=1), nn.ReLU(), nn.Conv2d(WIDTH, 8, 1)).eval()
    return model, torch.rand(16, 3, 6, 6)
"""


def test_image_cache_follows_a_changed_helper_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    tag = f"cache{os.getpid()}"
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / f"helper_{tag}.py").write_text("WIDTH = 8\n")
    (tmp_path / "net.py").write_text(FACTORY.format(tag=tag))
    model = f"{tmp_path / 'net.py'}:make"
    first = layer_sim.run(layers=["conv1"], sim="icarus", model=model, seed=0)
    assert first[0]["status"] == "PASS" and first[0]["shape"].endswith("-> 8x6x6"), first[0]
    (tmp_path / f"helper_{tag}.py").write_text("WIDTH = 16\n")
    sys.modules.pop(f"helper_{tag}", None)
    second = layer_sim.run(layers=["conv1"], sim="icarus", model=model, seed=0)
    assert second[0]["status"] == "PASS" and second[0]["shape"].endswith("-> 16x6x6"), second[0]


# ---- 5. two runs at once in one checkout -----------------------------------------------------------
@pytest.mark.slow  # 6 s of make test's three minutes (two engine runs at once)
def test_two_concurrent_runs_keep_their_own_results():
    accel_build.build_accel("verilator")  # built once before, so both runs start together
    cmd = [PY, "-m", "tb.layer_sim", "--sim", "verilator", "--model", "mlp", "--seed", "7"]
    a = subprocess.Popen([*cmd, "--layer", "fc1"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    b = subprocess.Popen([*cmd, "--layer", "fc2"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out_a, out_b = a.communicate(timeout=600)[0], b.communicate(timeout=600)[0]
    assert a.returncode == 0 and b.returncode == 0, out_a + out_b
    for out, mine, other in ((out_a, "fc1", "fc2"), (out_b, "fc2", "fc1")):
        rows = [l for l in out.splitlines() if l.startswith("fc")]
        assert len(rows) == 1 and rows[0].startswith(mine) and " PASS " in rows[0], out
        assert "1 passed, 0 failed" in out and other not in "".join(rows)


# ---- 8, 10. bad input: one line, exit status 2 ----------------------------------------------------
@pytest.mark.parametrize("args, says", [
    (["--mem-stall", "256"], "--mem-stall 256"),
    (["--mem-stall", "-1"], "--mem-stall -1"),
    (["--seed", "-1"], "SEED=-1: a whole number >= 0"),
    (["--model", "nosuch"], "nosuch"),
    (["--model", "x.py"], "x.py"),
    (["--layer", "conv99"], "conv99"),
], ids=["stall256", "stall-1", "seed-1", "nosuch", "nocolon", "nolayer"])
def test_bad_sim_input_is_one_line_and_status_2(args: list[str], says: str, capsys):
    assert says in _one_error_line_here(["--sim", "icarus", *args], capsys)


def test_bad_sim_input_through_the_command_line_is_one_line():
    """The cases above run in this process (a Python with torch costs ~3 s to start); this one
    takes the whole way: python -m tb.layer_sim, its exit status and stderr."""
    assert "conv99" in _one_error_line(_cli("tb.layer_sim", "--sim", "icarus", "--layer", "conv99"), "sim")


def _one_error_line_here(argv: list[str], capsys) -> str:
    """python -m tb.layer_sim's ending (golden.cli.run_cli) in this process: status 2, one line."""
    from golden.cli import run_cli

    capsys.readouterr()
    status = run_cli("sim", sim_cli.main, argv)
    out = capsys.readouterr()
    return _one_error_line(subprocess.CompletedProcess(argv, status, out.out, out.err), "sim")


def test_factory_returning_none_is_one_line(tmp_path: Path, capsys):
    f = tmp_path / "none.py"
    f.write_text("def make():\n    return None\n")
    assert "make()" in _one_error_line_here(["--model", f"{f}:make"], capsys)


@pytest.mark.parametrize("body, says", [
    ("nn.Sequential(nn.Conv2d(1, 4, 3), nn.Sigmoid())", "Sigmoid"),
    ("nn.Sequential(nn.Conv2d(1, 4, 3), nn.Upsample(scale_factor=2, mode='bilinear'))", "bilinear"),
], ids=["sigmoid", "bilinear"])
def test_unsupported_module_in_make_sim_is_one_line(tmp_path: Path, body: str, says: str, capsys):
    f = tmp_path / "bad.py"
    f.write_text(f"import torch\nfrom torch import nn\n\ndef make():\n    return {body}.eval(), torch.rand(4, 1, 8, 8)\n")
    assert says in _one_error_line_here(["--model", f"{f}:make"], capsys)


def test_rerun_command_keeps_the_memory_stall():
    res = layer_sim.run(layers=["conv3"], sim="icarus", model="mobilenetv2", seed=0, defines=("MUT_SELECT",), plusargs=("+MUT_ADDR",),
                        mem_stall=3, run_tag="-mut_addr-stall")
    assert res[0]["status"] == "FAIL"
    assert "MEM_STALL=3" in res[0]["rerun"], res[0]["rerun"]


# ---- 11. packaging: tb says it needs a source checkout; lint never passes on nothing ----------------
def test_installed_tb_without_verilog_says_it_needs_a_checkout(tmp_path: Path):
    site = tmp_path / "site"
    shutil.copytree(ROOT / "tb", site / "tb", ignore=shutil.ignore_patterns("hdl", "__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(site)}
    for args in (["-m", "tb.lint"], ["-m", "tb.layer_sim", "--layer", "conv3"]):
        r = subprocess.run([PY, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "source checkout" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert not (site / "build").exists()


def test_every_tb_package_is_in_the_wheel():
    import tomllib

    from setuptools import find_packages

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    for pkg in ("golden", "hexgen", "tb"):
        missing = {p for p in find_packages(str(ROOT), include=[pkg, f"{pkg}.*"])} - listed
        assert not missing, f"pyproject.toml does not package {sorted(missing)}"


def test_waves_build_passes_the_verilator_x_rules():
    """WAVES=1 builds with every signal public (no accel_tb.vlt): the bench's backdoor write into the
    memory model once counted there as a second driver of its memory (MULTIDRIVEN, an error now).
    Verilating is enough to see it (the slow test below runs the layer with waves)."""
    top, srcs = sim.BENCHES["accel"]
    cmd = ["verilator", "--lint-only", *sim.VERILATOR_ARGS, "--public-flat-rw",
           *accel_build.accel_build_args("verilator", waves=True), f"-I{sim.RTL}", "--top-module", top, *map(str, srcs)]
    r = subprocess.run(cmd, env=simulator_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "%Error" not in r.stderr, r.stderr


@pytest.mark.slow
def test_waves_run_on_verilator_writes_fst_and_save_file():
    """FST with the lz4 headers (bootstrap installs them), VCD without."""
    res = layer_sim.run(layers=["fc1"], sim="verilator", model="mobilenetv2", seed=0, waves=True, run_tag="-waves")
    assert res[0]["status"] == "PASS", res[0]
    ext = ".fst" if accel_build.fst_available() else ".vcd"
    assert res[0]["waves"].endswith("fc1.gtkw") and Path(res[0]["waves"]).with_suffix(ext).is_file()
