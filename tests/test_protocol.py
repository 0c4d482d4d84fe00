"""Valid/ready rules of every interface of the engine (issue 13 item 2).

- Structural (Yosys, no simulator): no valid depends combinationally on its own ready. Yosys reads
  rtl/ (small sizes), flattens accel_top and looks for a path from each ready to its valid that
  crosses no flip-flop or memory. A valid that waits for ready (`valid = x && ready`) never shows
  as a broken handshake in simulation; it shows here.
- In simulation, rtl/vr_check.sv in each unit on the channels it drives (and rtl/outstanding_check.sv
  where a unit requests bursts): a valid that was not accepted stays high and keeps its payload; no
  request beyond the unit's bound, no data offered with nothing outstanding. Every run of a unit
  checks them; here a real fault (+MUT_WREQ_DROP: a write request withdrawn after waiting a cycle,
  the MUT_SELECT Icarus build) must stop the layer with the checker naming the interface, and the
  checkers' own bench (tb/engine/hdl/checkers_tb.sv) must be stopped by each broken rule and only then.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tb import layer_sim
from tb.sim import ACCEL_RTL, CHECKERS
from tb.toolchain import simulator_env

ROOT = Path(__file__).resolve().parent.parent

#: (ready, valid) wires of accel_top after flattening: the memory port's channels the engine
#: drives, and the units' streams inside it
PAIRS = [("rreq_ready_i", "rreq_valid_o"), ("wreq_ready_i", "wreq_valid_o"), ("wr_ready_i", "wr_valid_o"),
         ("r_cmd_ready", "r_cmd_valid"), ("r_req_ready", "r_req_valid"), ("mac_in_ready", "mac_in_valid"),
         ("mac_out_ready", "mac_out_valid"), ("w_in_ready", "rq_out_valid"), ("v_req_ready", "v_req_valid"),
         ("w_in_ready", "v_out_valid"), ("w_req_ready", "w_req_valid"),
         ("x_req_ready", "x_req_valid"), ("w_in_ready", "x_out_valid")]
#: cells a combinational path does not cross
STATE_CELLS = "$dff,$adff,$sdff,$dffe,$sdffe,$adffe,$sdffce,$aldff,$aldffe,$dffsr,$dffsre,$mem_v2,$memwr_v2,$memrd_v2"


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys is not installed (scripts/bootstrap.sh installs it)")
def test_no_valid_depends_on_its_ready(tmp_path: Path) -> None:
    out = tmp_path / "paths.txt"
    lines = [f"read_verilog -sv -I{ROOT / 'rtl'} " + " ".join(str(f) for f in ACCEL_RTL),
             # (chparam, then hierarchy, as make resources does: Yosys 0.23's `hierarchy -chparam` stops on an
             # assertion with the row unit's two parameterisations of lut_lanes in the design)
             "chparam -set ROWS 4 -set COLS 4 -set WORD_BITS 32 -set ACT_WORDS 256 -set WGT_WORDS 64 -set REC_WORDS 32 accel_top",
             "hierarchy -top accel_top", "rename -top accel_top",
             "proc", "flatten", "opt_clean"]
    for ready, valid in PAIRS:
        lines.append(f"tee -a {out} select -list w:{ready} %co*:-{STATE_CELLS} w:{valid} %i")
        lines.append(f"tee -a {out} select -list w:{valid}")  # the wire exists (a renamed one would hide a path)
    script = tmp_path / "paths.ys"
    script.write_text("\n".join(lines) + "\n")
    r = subprocess.run(["yosys", "-q", "-s", str(script)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    listed = out.read_text().split()
    found = [v for _, v in PAIRS if listed.count(f"accel_top/{v}") > 1]
    missing = [v for _, v in PAIRS if f"accel_top/{v}" not in listed]
    assert not missing, f"no such wire in the flattened accel_top: {missing}"
    assert not found, f"valid depends combinationally on its ready: {found}"


@pytest.mark.sim
def test_a_withdrawn_request_stops_the_layer_naming_the_interface() -> None:
    res = layer_sim.run(layers=["conv4"], sim="icarus", model="mobilenetv2", seed=0, defines=("MUT_SELECT",),
                        plusargs=("+MUT_WREQ_DROP",), mem_stall=96, run_tag="-mut_wreq_drop")
    r = res[0]
    assert r["status"] == "FAIL", r
    assert "u_writer.u_chk_req" in r["reason"] and "protocol: valid dropped before it was accepted" in r["reason"], r["reason"]


def test_a_third_burst_stops_the_vector_unit_naming_its_limit() -> None:
    """+MUT_VEC_REREAD: an add requests its first a burst again behind b's, three 16-word bursts
    outstanding where the unit's bound is two: vec_unit's outstanding checker must stop the layer
    at the third request, naming its limit of 2 x MAX_BURST words. The layer after it runs in a
    new simulation and passes (issue 23: one stop once failed every later layer "not run")."""
    res = layer_sim.run(layers=["add2", "fc1"], sim="icarus", model="mobilenetv2", seed=0, defines=("MUT_SELECT",),
                        plusargs=("+MUT_VEC_REREAD",), run_tag="-mut_vec_reread")
    r = res[0]
    assert r["status"] == "FAIL", r
    assert "u_vec.u_chk_outstanding: protocol: 48 words outstanding, more than the limit of 32" in r["reason"], r["reason"]
    assert [x["layer"] for x in res] == ["add2", "fc1"] and res[1]["status"] == "PASS", res[1]


# ---------------------------------------------------------------- the checkers' own bench
#: case of tb/engine/hdl/checkers_tb.sv -> (the checker instance that must stop it, its message); the
#: "legal" case walks every rule to its edge and "before_reset" breaks them only before the first reset: neither may be stopped
CHECKER_CASES = {
    "legal": None,
    "before_reset": None,
    "dropped": ("checkers_tb.u_vr", "valid dropped before it was accepted"),
    "payload": ("checkers_tb.u_vr", "payload changed while valid waited for ready"),
    "over_limit": ("checkers_tb.u_outstanding", "5 words outstanding, more than the limit of 4"),
    "orphan_data": ("checkers_tb.u_outstanding", "data offered with no requested word outstanding"),
}
CHECKERS_TB = [*CHECKERS, ROOT / "tb" / "engine" / "hdl" / "checkers_tb.sv"]


def _judge(case: str, rc: int, out: str) -> None:
    want = CHECKER_CASES[case]
    if want is None:
        assert rc == 0 and f"CHECKERS_TB_DONE {case}" in out and "protocol" not in out, out
    else:
        where, what = want
        assert rc != 0 and f"{where}: protocol: {what}" in out and "CHECKERS_TB_DONE" not in out, out


@pytest.fixture(scope="module")
def checkers_icarus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    exe = tmp_path_factory.mktemp("checkers") / "checkers_tb.vvp"
    subprocess.run(["iverilog", "-g2012", f"-I{ROOT / 'rtl'}", "-o", str(exe), *map(str, CHECKERS_TB)], check=True, timeout=120)
    return exe


@pytest.mark.sim
@pytest.mark.parametrize("case", list(CHECKER_CASES))
def test_checkers_stop_each_broken_rule_on_icarus(case: str, checkers_icarus: Path) -> None:
    r = subprocess.run(["vvp", "-n", str(checkers_icarus), f"+CASE={case}"], capture_output=True, text=True, timeout=60)
    _judge(case, r.returncode, r.stdout + r.stderr)


@pytest.mark.sim
@pytest.mark.slow
def test_checkers_stop_each_broken_rule_on_verilator(tmp_path: Path) -> None:
    env = simulator_env()
    build = subprocess.run(["verilator", "--binary", "--timing", "-Wno-fatal", "-o", "checkers_tb", "--Mdir", str(tmp_path),
                            f"-I{ROOT / 'rtl'}", "--top-module", "checkers_tb", *map(str, CHECKERS_TB)],
                           capture_output=True, text=True, timeout=600, env=env)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    for case in CHECKER_CASES:
        r = subprocess.run([str(tmp_path / "checkers_tb"), f"+CASE={case}"], capture_output=True, text=True, timeout=60, env=env)
        _judge(case, r.returncode, r.stdout + r.stderr)
