"""Performance faults fail the regression (issue 12 item 6, issue 13's first class): real RTL
changes that keep every output right but cost cycles, each switched on by a plusarg in the one
MUT_SELECT Icarus build (tests/test_diagnose_sim.py carries the functional faults). Each layer
must FAIL with its outputs equal to golden's and the budget named; without the fault the same
layers pass within their budgets (tests/test_diagnose_sim.py runs the build without plusargs)."""
from __future__ import annotations

import pytest

from tb import layer_sim

pytestmark = pytest.mark.sim

#: fault -> (layer, what it does). $test$plusargs matches a prefix: no name may begin with another's
#: (+MUT_BANK_WAIT switched on MUT_BANK as well)
FAULTS = {
    "GATHER_ALL": ("conv1", "every gather read waits for the whole input image (gather)"),
    "WGT_WAIT": ("conv7", "k_tile t's weights wait for k_tile t - 1 instead of t - 2 (load_seq)"),
}


@pytest.mark.parametrize("fault", [f if f == "GATHER_ALL" else pytest.param(f, marks=pytest.mark.slow) for f in FAULTS])
def test_a_performance_fault_fails_its_layer_with_right_outputs(fault: str) -> None:
    """GATHER_ALL in make test, WGT_WAIT in make test-slow (make test's three minutes)."""
    layer, what = FAULTS[fault]
    res = layer_sim.run(layers=[layer], sim="icarus", model="mobilenetv2", seed=0, defines=("MUT_SELECT",),
                        plusargs=(f"+MUT_{fault}",), run_tag=f"-mut_{fault.lower()}")
    r = res[0]
    assert r["status"] == "FAIL" and r.get("mismatches") == 0, (what, r)
    assert "outputs equal golden" in r["reason"] and "over the budget" in r["reason"], (what, r["reason"])
    assert r["cycles"] > 1.1 * r["budget"], (what, r["cycles"], r["budget"])
