"""`make sim SIM=both` (tb/sim_both.py): each layer on Icarus and on Verilator, outputs and cycles
compared; a difference names the layer, the first differing element and the first output word
written at a different cycle."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tb import layer_sim
from tb.sim import ROOT
from tb.sim_both import compare, table

pytestmark = pytest.mark.sim


def test_both_simulators_agree_on_the_engine() -> None:
    r = subprocess.run([sys.executable, "-m", "tb.layer_sim", "--sim", "both", "--model", "mlp", "--layer", "fc2"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "1 layer(s) agree on both simulators, 0 differ" in r.stdout, r.stdout
    assert "fc2      PASS" in r.stdout and "DIFFER" not in r.stdout


@pytest.mark.slow  # two more simulator runs; the fast tests cover the CLI and the comparison
def test_a_timing_difference_names_the_first_word_written_at_another_cycle() -> None:
    """The same layers, run with memory stalls on one side only: the outputs agree, the cycle
    counts do not, and the report names the earliest output word written at another cycle."""
    ic = layer_sim.run(layers=["fc1"], sim="icarus", model="mlp", seed=0, record=True)
    vl = layer_sim.run(layers=["fc1"], sim="verilator", model="mlp", seed=0, record=True, mem_stall=60, xcheck=False)
    rows = compare(ic, vl)
    assert not rows[0]["agree"] and rows[0]["icarus"] == rows[0]["verilator"] == "PASS", rows
    d = rows[0]["difference"]
    assert "cycles differ" in d and "first output word written at a different cycle: word" in d, d
    assert "outputs differ" not in d and "DIFFER" in table(rows)


def test_different_outputs_and_verdicts_are_named(tmp_path) -> None:
    got_i, got_v = np.arange(24).reshape(2, 3, 4), np.arange(24).reshape(2, 3, 4)
    got_v[1, 2, 0] = 99
    files = {}
    for name, a in (("i", got_i), ("v", got_v)):
        files[name] = tmp_path / f"{name}.npy"
        np.save(files[name], a)
    ic = [{"layer": "conv3", "status": "PASS", "cycles": 100, "got_file": str(files["i"])}]
    vl = [{"layer": "conv3", "status": "FAIL", "reason": "1 of 24 outputs wrong", "cycles": 100, "got_file": str(files["v"])}]
    d = compare(ic, vl)[0]["difference"]
    assert "Icarus PASS, Verilator FAIL (1 of 24 outputs wrong)" in d, d
    assert "first (1, 2, 0): Icarus 20, Verilator 99" in d, d
