"""A transformer on the engine (issue 28 item 1): the patch embedding (vit_small_test's 8x8
stride-8 conv; deit_tiny's is 16x16 stride 16) runs as a conv, every linear over tokens runs on the
MAC array as a pointwise conv whose pixels are the tokens (hexgen.rules.engine_shapes), each
attention matmul as one such linear per head whose weights are its b operand (hexgen.matmul), and the
residual adds of token tensors, the position embedding's add of a constant (add_const: the
constant as the add's second input) and the GELUs (a table lookup: the table loaded into the
vector unit's lut_lanes, then the input streamed through it) run on the vector unit, and the
LayerNorms and softmaxes on the row unit (blocks of tokens; a softmax one run a head), per layer on
both simulators and chained. Only the pure reshapes are golden's."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import pytest

from tb import layer_sim

pytestmark = pytest.mark.sim
MODEL = "vit_small_test"
#: what golden computes in a chained run: data movement only (no arithmetic)
MOVEMENT = ("reshape", "permute", "select", "concat_tokens")


def test_a_transformers_layers_are_listed_with_what_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from tb import sim_cli

    sim_cli._list_layers(MODEL, None)
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip() and " -> " in line}
    kinds = {name: line.split()[1] for name, line in listed.items()}
    for name, kind in kinds.items():
        if kind in ("conv", "linear", "matmul", "add", "add_const", "gelu", "fc", "softmax", "layernorm"):
            assert "RTL" in listed[name], listed[name]
        else:
            assert kind in MOVEMENT and "golden only" in listed[name], listed[name]
    assert sum(k == "linear" for k in kinds.values()) == 8 and sum(k == "add" for k in kinds.values()) == 4, kinds
    assert sum(k == "gelu" for k in kinds.values()) == 2, kinds
    assert sum(k == "layernorm" for k in kinds.values()) == 5 and sum(k == "softmax" for k in kinds.values()) == 2, kinds


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_patch_embedding_linears_and_residual_adds_pass(simulator: str) -> None:
    """Every layer the engine takes on Verilator; on Icarus (4-state, slower) one of each kind: the
    patch embedding and its position embedding, one block's attention matmuls (Q K^T and A V, both
    heads), its softmax (both heads, each in blocks of tokens), its output projection and residual add,
    a LayerNorm and its MLP's GELU."""
    layers = None if simulator == "verilator" else ["conv1", "addc1", "ln1", "matmul1", "softmax1", "matmul2", "linear2", "add1",
                                                     "gelu1"]
    res = layer_sim.run(layers=layers, sim=simulator, model=MODEL, seed=0)
    assert res and all(r["status"] == "PASS" for r in res), [(r["layer"], r["status"], r.get("reason")) for r in res]
    kinds = [r["kind"] for r in res]
    assert kinds.count("linear") == (8 if layers is None else 1) and kinds.count("matmul") == (4 if layers is None else 2), kinds
    assert {"conv", "add", "add_const", "gelu"} <= set(kinds), kinds
    assert kinds.count("gelu") == (2 if layers is None else 1), kinds
    assert kinds.count("layernorm") == (5 if layers is None else 1) and kinds.count("softmax") == (2 if layers is None else 1), kinds
    # every layer within its cycle budget, and the model tight: the linears' cycles are the
    # pointwise conv's model over T pixels (hexgen.cycles), not a guess
    loose = [(r["layer"], r["cycles"], r["budget"]) for r in res if not 0.95 <= r["budget_ratio"] <= 1.05]
    assert not loose, loose
    if simulator == "verilator":  # the coverage bins only a transformer hits (tests/test_engine.py pops them)
        from hexgen.hw import load_hw
        from tb.coverage import holes

        mm = json.loads((Path(res[0]["image_dir"]) / "memory_map.json").read_text())
        cfg = load_hw(None)
        empty = holes(res, {e["name"]: e for e in mm["layers"]}, cfg.array_rows, cfg.array_cols)
        assert not {"linear", "matmul", "add_const", "gelu", "softmax", "layernorm"} & set(empty["kind"]), empty["kind"]
        for point in ("kernel_h", "kernel_w"):
            assert "8-16" not in empty[point], (point, empty[point])
        for point in ("stride_y", "stride_x"):
            assert "5-16" not in empty[point], (point, empty[point])


def test_chained_transformer_equals_golden_and_names_what_golden_ran() -> None:
    res = layer_sim.run(sim="verilator", model=MODEL, seed=0, chain=2)
    assert len(res) == 2, res
    for r in res:
        assert r["layers_equal"] == r["layers"] and not r["problem"] and r["rtl_pred"] == r["golden_pred"], r
        # every layer with arithmetic ran on the engine: golden ran the data movement only
        assert r["golden_ran"] == [], r["golden_ran"]
        # and read its inputs where their producers wrote them: Q K^T's K, as A V's V, comes from the
        # qkv linear's output with no layout rewritten by the bench (W_TRANSPOSE, W_XOR)
        assert r["host_steps"] == [], r["host_steps"]


def test_a_lane_fault_in_a_linear_fails_and_reads_as_tokens() -> None:
    """+MUT_LANE (out_writer: lanes 0 and 1 of every output word exchanged) in a linear: FAIL, the
    diagnosis names the lane swap, and the report counts tokens, not image rows."""
    r = layer_sim.run(layers=["linear2"], sim="icarus", model=MODEL, seed=0, defines=("MUT_SELECT",),
                      plusargs=("+MUT_LANE",), run_tag="-mut_lane")[0]
    assert r["status"] == "FAIL" and r["mismatches"] > 0, r.get("reason")
    assert r["diagnosis"] and r["diagnosis"][0]["kind"] == "lane_swap", r["report"]
    assert "(channel, token, column)" in r["report"] and "tokens" in r["report"], r["report"]


def test_a_lane_fault_in_a_matmul_fails_and_reads_as_tokens_of_its_heads() -> None:
    """+MUT_LANE in Q K^T: FAIL, diagnosed as the lane swap, its heads' tokens one after another as
    the engine's runs took them (tb.compare.token_rows), not heads read as channels."""
    r = layer_sim.run(layers=["matmul1"], sim="icarus", model=MODEL, seed=0, defines=("MUT_SELECT",),
                      plusargs=("+MUT_LANE",), run_tag="-mut_lane")[0]
    assert r["status"] == "FAIL" and r["mismatches"] > 0, r.get("reason")
    assert r["diagnosis"] and r["diagnosis"][0]["kind"] == "lane_swap", r["report"]
    assert "(channel, token, column)" in r["report"], r["report"]


def test_a_transposer_index_fault_fails_q_kt_only() -> None:
    """+MUT_TR_INDEX (rtl/wgt_transpose.sv: row and column index swapped on the way out, so K's
    token words reach the bank untransposed): Q K^T, which reads K through the transposer
    (W_TRANSPOSE), FAILs; A V, which does not, PASSes on the same build."""
    res = layer_sim.run(layers=["matmul1", "matmul2"], sim="icarus", model=MODEL, seed=0, defines=("MUT_SELECT",),
                        plusargs=("+MUT_TR_INDEX",), run_tag="-mut_tr_index")
    got = {r["layer"]: r for r in res}
    assert got["matmul1"]["status"] == "FAIL" and got["matmul1"]["mismatches"] > 0, got["matmul1"].get("reason")
    assert got["matmul2"]["status"] == "PASS", got["matmul2"].get("reason")


def test_a_gelu_table_written_a_word_late_fails_and_is_named() -> None:
    """+MUT_GELU_TAB (rtl/vec_unit.sv: every table word written one word later, so the unit reads
    entry q - ROWS): FAIL, and the diagnosis names the table read or written ROWS entries off."""
    r = layer_sim.run(layers=["gelu1"], sim="icarus", model=MODEL, seed=0, defines=("MUT_SELECT",),
                      plusargs=("+MUT_GELU_TAB",), run_tag="-mut_gelu_tab")[0]
    assert r["status"] == "FAIL" and r["mismatches"] > 0, r.get("reason")
    assert r["diagnosis"] and r["diagnosis"][0]["kind"] == "table_offset", r["report"]
    assert "entry -8 from the input code's" in r["report"], r["report"]


def test_a_lane_swap_in_the_row_unit_fails_and_is_named() -> None:
    """+MUT_ROW_LANE_SWAP (rtl/row_unit.sv: lanes 0 and 1 of every output word exchanged) in a
    LayerNorm and a softmax: FAIL, diagnosed as the lane swap over the tokens. (The units' arithmetic
    faults, +MUT_SM_EXP, +MUT_SM_RECIP and +MUT_LN_RECIP, change no output of vit_small_test's
    rows: the row unit's bench shows each on rows built for it, and tests/test_diagnose.py that the
    diagnosis names them.)"""
    res = layer_sim.run(layers=["ln1", "softmax1"], sim="icarus", model=MODEL, seed=0, defines=("MUT_SELECT",),
                        plusargs=("+MUT_ROW_LANE_SWAP",), run_tag="-mut_row_lane_swap")
    assert [r["layer"] for r in res] == ["ln1", "softmax1"], res
    for r in res:
        assert r["status"] == "FAIL" and r["mismatches"] > 0, (r["layer"], r.get("reason"))
        assert r["diagnosis"] and r["diagnosis"][0]["kind"] == "lane_swap", r["report"]
        assert "(channel, token, column)" in r["report"], r["report"]


def test_the_extreme_rows_reach_the_row_unit_and_pass() -> None:
    """scripts/rows_model.py: ln1's and softmax1's inputs hold rows of equal codes, rows of one
    large code among zeros, and codes 0; both PASS on the row unit, and every bin of the coverage
    point `rows` is hit."""
    from hexgen.hw import load_hw
    from tb.coverage import holes

    root = Path(__file__).resolve().parent.parent
    res = layer_sim.run(layers=["ln1", "softmax1"], sim="verilator", model=f"{root / 'scripts' / 'rows_model.py'}:make", seed=0)
    assert all(r["status"] == "PASS" for r in res), [(r["layer"], r["status"], r.get("reason")) for r in res]
    for r in res:
        assert r["row_extremes"] == ["equal", "one large", "code 0"], (r["layer"], r["row_extremes"])
    mm = json.loads((Path(res[0]["image_dir"]) / "memory_map.json").read_text())
    cfg = load_hw(None)
    assert "rows" not in holes(res, {e["name"]: e for e in mm["layers"]}, cfg.array_rows, cfg.array_cols)


def test_row_layers_pass_with_a_stalling_memory() -> None:
    """The row unit's handshakes with the port's read side and the writer under back-pressure: a
    LayerNorm and a softmax PASS with the memory stalling 96 of 256 cycles on every handshake (a
    read request taken without the port's ready, or a word given the writer without its ready,
    loses words and FAILs here; without stalls both are always ready)."""
    res = layer_sim.run(layers=["ln1", "softmax1"], sim="icarus", model=MODEL, seed=0, mem_stall=96, run_tag="-stall")
    assert [r["layer"] for r in res] == ["ln1", "softmax1"], res
    assert all(r["status"] == "PASS" for r in res), [(r["layer"], r["status"], r.get("reason")) for r in res]


def test_row_layers_back_to_back_without_reset_load_their_own_tables() -> None:
    """Softmaxes and LayerNorms one after another with no reset between them, as a driver runs
    them: each run loads its own exp table or records on its first block (a table or records left
    from the layer before, softmax1's in softmax2, would FAIL here: their scales differ)."""
    names = ["ln1", "softmax1", "ln2", "softmax2"]
    res = layer_sim.run(layers=names, sim="verilator", model=MODEL, seed=0, reset_each_layer=False, run_tag="-noreset")
    assert [r["layer"] for r in res] == names, res
    assert all(r["status"] == "PASS" for r in res), [(r["layer"], r["status"], r.get("reason")) for r in res]
    # the precondition: what a stale table or stale records would be differs from the layer's own
    from hexgen.check import read_image

    rb = read_image(Path(res[0]["image_dir"]), run_golden=False, layers=names)
    assert not np.array_equal(rb[("softmax1", "table")], rb[("softmax2", "table")])
    assert not np.array_equal(rb[("ln1", "records")], rb[("ln2", "records")])
