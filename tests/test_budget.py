"""Cycle budgets (issue 12 item 6): the check that turns a slow or over-moving layer into a FAIL
(tb/engine/budget.py), and the cycle model's traffic against hexgen's memory map (hexgen.cycles). The
model against measured cycles: tests/test_engine.py (every layer of the default model within a
few percent) and tests/test_budget_sim.py (real RTL performance faults fail their layer)."""
from __future__ import annotations

import json
import math
from typing import Any

import pytest

from hexgen.cycles import BUDGET_SLACK, layer_budget
from hexgen.hw import load_hw
from hexgen.rules import descriptor_registers
from tb.engine.budget import check_budget
from tb.engine.images import prepare_image

#: a pointwise layer 16x6x6 -> 24x6x6 as hexgen's memory map describes it
ENTRY = {"descriptor": {"kind": "pointwise", "in_shape": [16, 6, 6], "out_shape": [24, 6, 6], "kernel": [1, 1],
                        "stride": [1, 1], "padding": [0, 0], "padding_end": [0, 0], "groups": 1, "band_rows": 6,
                        "group_k_tiles": 3, "shift": 0, "lo": 0, "hi": 255, "weight_bits": 8}}
CFG = load_hw("default")


def _result(cycles: int, read: int | None = None, written: int | None = None, status: str = "PASS",
            beats: int = 0, macs: int = 0) -> dict[str, Any]:
    """A layer's result as tb.layer_sim has it: the plan's traffic and counters, off by the given amounts."""
    b = layer_budget(descriptor_registers(ENTRY["descriptor"]), CFG, 8)
    return {"layer": "conv9", "status": status, "cycles": cycles, "words_read": b.read_words if read is None else read,
            "words_written": b.write_words if written is None else written,
            "busy_cycles": b.beats + beats, "macs": b.macs + macs}


def test_a_layer_within_its_budget_passes_and_one_cycle_more_fails() -> None:
    budget = layer_budget(descriptor_registers(ENTRY["descriptor"]), CFG, 8).cycles
    edge = math.floor(budget * (1 + BUDGET_SLACK))
    r = _result(edge)
    check_budget(r, ENTRY, CFG, mem_latency=8, mem_stall=0)
    assert r["status"] == "PASS" and r["budget"] == budget and r["budget_ratio"] == edge / budget
    r = _result(edge + 1)
    check_budget(r, ENTRY, CFG, mem_latency=8, mem_stall=0)
    assert r["status"] == "FAIL"
    assert "outputs equal golden" in r["reason"] and "over the budget" in r["reason"] and f"{budget:,}" in r["reason"]


def test_the_budget_follows_the_memory_latency() -> None:
    at8 = layer_budget(descriptor_registers(ENTRY["descriptor"]), CFG, 8).cycles
    at30 = layer_budget(descriptor_registers(ENTRY["descriptor"]), CFG, 30).cycles
    assert at30 > at8
    r = _result(int(at8 * 1.2))  # slow at latency 8, within the budget at latency 30
    check_budget(r, ENTRY, CFG, mem_latency=30, mem_stall=0)
    assert r["status"] == "PASS" and r["budget"] == at30


@pytest.mark.parametrize("read, written", [(-1, 0), (1, 0), (0, -1), (0, 1)])
def test_other_traffic_than_the_plan_fails_even_with_stalls(read: int, written: int) -> None:
    base = _result(1)
    for stall in (0, 96):
        r = _result(1, base["words_read"] + read, base["words_written"] + written)
        check_budget(r, ENTRY, CFG, mem_latency=8, mem_stall=stall)
        assert r["status"] == "FAIL" and "read" in r["reason"] and "plan" in r["reason"], r


@pytest.mark.parametrize("beats, macs", [(-1, 0), (1, 0), (0, -1), (0, 8)])
def test_other_counts_than_the_plan_fail_even_with_stalls(beats: int, macs: int) -> None:
    for stall in (0, 96):
        r = _result(1, beats=beats, macs=macs)
        check_budget(r, ENTRY, CFG, mem_latency=8, mem_stall=stall)
        assert r["status"] == "FAIL" and "BUSY_CYCLES" in r["reason"] and "MACs" in r["reason"], r


def test_the_plan_counts_beats_and_macs_of_a_convolution_and_none_for_the_vector_unit() -> None:
    conv = layer_budget(descriptor_registers(ENTRY["descriptor"]), CFG, 8)
    assert conv.beats > 0 and conv.macs > 0
    add = dict(ENTRY["descriptor"], kind="add", out_shape=[16, 6, 6])
    vec = layer_budget(descriptor_registers(add), CFG, 8)
    assert (vec.beats, vec.macs) == (0, 0)


def test_with_stalls_only_traffic_and_counters_are_checked() -> None:
    r = _result(10 ** 6)
    check_budget(r, ENTRY, CFG, mem_latency=8, mem_stall=96)
    assert r["status"] == "PASS" and r["budget"] is None


@pytest.mark.parametrize("status", ["FAIL", "UNSUPP"])
def test_a_failed_or_refused_layer_is_left_as_it_is(status: str) -> None:
    r = _result(10 ** 6, status=status)
    check_budget(r, ENTRY, CFG, mem_latency=8, mem_stall=0)
    assert r["status"] == status and "budget" not in r


def test_the_model_moves_the_words_of_hexgens_memory_map() -> None:
    """A layer run in one pass reads its weights, records and input once and writes its output
    once: the model's traffic equals the sizes of the layer's segments in the memory map."""
    cdir, layers, _ = prepare_image("mobilenetv2", 0, None)
    mm = json.loads((cdir / "image" / "memory_map.json").read_text())
    seen = 0
    for e in mm["layers"]:
        if e["descriptor"]["kind"] not in ("conv", "pointwise", "depthwise", "fc") or len(e["passes"]) != 1:
            continue
        words = {s["segment"]: s["words"] for s in mm["segments"] if s["layer"] == e["name"]}
        b = layer_budget(descriptor_registers(e["descriptor"]), CFG, 8)
        assert b.read_words == words["weights"] + words["bias"] + words["scale"] + words["input"], e["name"]
        assert b.write_words == words["output"], e["name"]
        seen += 1
    assert seen >= 15


def test_no_fault_plusarg_is_the_prefix_of_another() -> None:
    """$test$plusargs matches a prefix: +MUT_BANK_WAIT would switch on MUT_BANK as well."""
    import re
    from pathlib import Path

    rtl = Path(__file__).resolve().parent.parent / "rtl"
    names = {m for f in rtl.glob("*.sv") for m in re.findall(r'\$test\$plusargs\("(MUT_\w+)"\)', f.read_text())}
    assert len(names) >= 12, names
    clash = [(a, b) for a in names for b in names if a != b and b.startswith(a)]
    assert not clash, clash
