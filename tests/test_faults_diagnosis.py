"""Issue 23, "Diagnosis gaps (the same faults)": each gap as a case the classifier now names, each
RTL fault behind it as a switchable fault of the MUT_SELECT build (docs/rtl.md) that the layer run
FAILs, and the flaky required coverage bin of the MAC array's pyuvm bench.
"""
from __future__ import annotations

import numpy as np
import pytest

from tb import mac_vectors as mv
from tb import sim
from tb.uvm import mac_env

# ---------------------------------------------------------------------------------------------
# test_mac_array_uvm: every required coverage bin reached by construction, whatever the seed.
# RTL_SEED=652596593 and 2010 missed "K=2-8" (no item with K in 2..8 among 24 random items).
UVM_PARAMS = {"ROWS": 4, "COLS": 6}  # tests/test_rtl_mac_array.py's build
UVM_ITEMS = 24  # tests/test_rtl_mac_array.py's UVM_ITEMS
FLAKY_SEEDS = (652596593, 2010)


def _monitored(beat: mv.Beat, rows: int, cols: int) -> dict:
    """The dict tb/uvm/bfm.py's monitor gives for a beat the driver sent."""
    def unpack(word: int, count: int, signed: bool) -> list[int]:
        vals = [(word >> (8 * i)) & 0xFF for i in range(count)]
        return [v - 256 if signed and v >= 128 else v for v in vals]
    return {"w": unpack(beat.w, rows, True), "a": unpack(beat.a, cols, False), "z": beat.z,
            "first": int(beat.first), "last": int(beat.last), "cols": beat.cols, "cells": int(beat.cells),
            "a_cells": unpack(beat.a_cells, rows * cols, False)}


def sequence_coverage(seed: int, rows: int, cols: int, items: int) -> set[str]:
    """Bins ("K=2-8", ...) the pyuvm run of this seed reaches, without a simulator: the sequence's items
    (mac_env.plan_item) and the driver's beats (mac_env.item_beats) drawn from the one generator in the
    order the run draws them (each item is planned after the driver has taken the previous one), then
    the coverage subscriber's bins (mac_env.beat_bins / tile_bins) of the monitored beats."""
    rng = np.random.default_rng(seed)
    beats: list[dict] = []
    hit: set[str] = set()
    prev_mode = None
    for i in range(items):
        item = mac_env.plan_item(i, rng, rows, cols)
        for b in mac_env.item_beats(item.problem, rows, cols, rng):
            d = _monitored(b, rows, cols)
            beats.append(d)
            hit.update(f"{c}={v}" for c, v in mac_env.beat_bins(d))
            if d["last"]:
                start = max(j for j, x in enumerate(beats) if x["first"])
                t = mac_env.tiles_from_beats(beats[start:])[-1]
                hit.update(f"{c}={v}" for c, v in mac_env.tile_bins(t, cols, prev_mode))
                prev_mode = t["cells"]
    return hit


REQUIRED = {f"{c}={b}" for c, bins in mac_env.COVER_BINS.items() for b in bins}


# 45: "K=2-8" missed as well; 228 and 531: "operand (a - z)=-255" and "drained columns=1" missed
# with K pinned alone (5000 seeds checked by hand: none misses a bin now)
@pytest.mark.parametrize("seed", FLAKY_SEEDS + (45, 228, 531) + tuple(range(10)))
def test_mac_uvm_sequence_reaches_every_required_bin(seed: int) -> None:
    missed = REQUIRED - sequence_coverage(seed, UVM_PARAMS["ROWS"], UVM_PARAMS["COLS"], UVM_ITEMS)
    assert not missed, f"RTL_SEED={seed}: coverage holes {sorted(missed)}"


def test_mac_uvm_sixteen_items_reach_every_required_bin() -> None:
    """Two rounds of SEQ_KINDS are enough (the extreme items' z is 0, then 255)."""
    assert len(mac_env.SEQ_KINDS) * 2 <= UVM_ITEMS
    for seed in FLAKY_SEEDS:
        missed = REQUIRED - sequence_coverage(seed, UVM_PARAMS["ROWS"], UVM_PARAMS["COLS"], 2 * len(mac_env.SEQ_KINDS))
        assert not missed, f"RTL_SEED={seed}: coverage holes {sorted(missed)}"


def test_mac_uvm_every_round_of_items_reaches_every_k_bin() -> None:
    """Each round of len(SEQ_KINDS) items has an item in every K bin, by its K range alone."""
    bins = mac_env.COVER_BINS["K"]
    rounds = {"1": (1, 1), "2-8": (2, 8), "9-64": (9, 64), "65+": (65, 10**9)}
    assert set(rounds) == set(bins)
    for seed in range(50):
        rng = np.random.default_rng(seed)
        ks = [mac_env.plan_item(i, rng, 4, 6).problem.shape[1] for i in range(len(mac_env.SEQ_KINDS))]
        for b, (lo, hi) in rounds.items():
            assert any(lo <= k <= hi for k in ks), f"seed {seed}: no K in bin {b}: {ks}"


@pytest.mark.sim
@pytest.mark.parametrize("seed", FLAKY_SEEDS)
def test_mac_array_uvm_flaky_seeds(seed: int) -> None:
    """The two seeds that failed "K=2-8" with correct RTL now pass (the bench's own coverage check)."""
    sim.run("mac_array", "icarus", "tb.test_mac_array_uvm", testcase="MacUvmTest", parameters=UVM_PARAMS,
            extra_env={"UVM_ITEMS": str(UVM_ITEMS), "RTL_SEED": str(seed)}, run_name=f"uvm-seed{seed}")
