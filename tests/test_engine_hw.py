"""The hardware description (hexgen/hw.py, HW=), build facts and performance counters of the
engine (issue 10 items 1, 2 in part, 5).

Every counter (CYCLES, BUSY_CYCLES, MACS, WORDS_READ, WORDS_WRITTEN) counts from start: read
across layers run back to back without a reset in between, each layer shows its own counts. The
expected word counts come from hexgen's memory map (the engine reads each of a layer's weight,
bias, scale and input words once and writes each output word once), not from a formula here.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hexgen import read_image
from tb import layer_sim
from tb.engine import accel_build
from tb.engine.engine_flow import ENGINE_BENCH

pytestmark = pytest.mark.sim

ROOT = Path(__file__).resolve().parent.parent
COUNTERS = ("cycles", "busy_cycles", "macs", "words_read", "words_written")


def test_counters_clear_on_start_across_layers_without_reset():
    names = ["conv3", "fc1", "conv3", "conv2"]
    res = layer_sim.run(layers=names, sim="icarus", model="mobilenetv2", seed=0, reset_each_layer=False,
                        run_tag="-noreset")
    assert [r["layer"] for r in res] == names and all(r["status"] == "PASS" for r in res), res
    rb = read_image(res[0]["image_dir"], run_golden=False)
    for r in res:
        words = {s: rb.segment_info(r["layer"], s)["words"] for s in ("weights", "bias", "scale", "input", "output")}
        assert r["words_read"] == words["weights"] + words["bias"] + words["scale"] + words["input"], r
        assert r["words_written"] == words["output"], r
    # the same layer again, after two others and no reset: the same counts
    assert {k: res[0][k] for k in COUNTERS} == {k: res[2][k] for k in COUNTERS}


@pytest.mark.parametrize("params, says", [
    ({"ACT_WORDS": 1 << 25}, "ACT_WORDS = 33554432"),
    ({"WGT_WORDS": 3}, "WGT_WORDS = 3"),
    ({"ROWS": 4}, "WORD_BITS = 64 must be ROWS * 8"),
    ({"REC_WORDS": 4}, "REC_WORDS = 4 hold one k_tile's records"),  # 8 words of records per k_tile
    ({"ROWS": 16}, "WORD_BITS = 64 must be ROWS * 8"),
    ({"MAX_BURST": 256}, "MAX_BURST = 256"),
    ({"ADDR_W": 33}, "ADDR_W = 33"),
], ids=["act_words", "wgt_words", "rows4", "rec_words", "rows16", "max_burst", "addr_w"])
def test_accel_top_refuses_parameters_it_cannot_run(params: dict[str, int], says: str):
    """Every constraint the engine relies on is checked in its initial block, naming the parameter;
    tb.engine.accel_build.refuse_parameters (run before every non-default build) turns it into one error."""
    import re

    from hexgen.hw import PRESETS, rtl_parameters
    from tb.sim import SimError

    defaults = rtl_parameters(PRESETS["default"])
    accel_build.refuse_parameters("default", defaults)  # today's sizes elaborate without a word
    with pytest.raises(SimError, match=re.escape(says)):
        accel_build.refuse_parameters("test", {**defaults, **params})


def test_image_laid_out_for_another_build_fails_naming_the_field(tmp_path: Path):
    """The bench reads every build-fact CSR and refuses a memory image hexgen laid out for other sizes."""
    import warnings

    from golden import extract, quantize
    from golden.models import load_model
    from hexgen import HardwareConfig, build_image, write_image

    warnings.filterwarnings("ignore")
    m = load_model("mlp")
    net = extract(quantize(m.float_model, m.calibration), m.calibration[:2])
    cfg = HardwareConfig(act_buf_words=8192)
    image = write_image(build_image(net, net.quantize_input(m.x_test[:1]), cfg, model="mlp"), tmp_path / "image")
    job = {"image_dir": str(image), "layers": ["fc1", "fc2"], "seed": 0, "mem_stall": 0, "mem_latency": 8,
           "macs": {l.name: l.macs for l in net.layers}, "csr_overrides": {}, "pokes": {}, "watchdog_cycles": 0,
           "wave_signals": [], "chain": None, "bench": list(ENGINE_BENCH)}
    (tmp_path / "run").mkdir()
    res = layer_sim._simulate("icarus", accel_build.build_accel("icarus"), tmp_path / "run", job, "", [], False)
    assert res is not None and [r["status"] for r in res] == ["FAIL", "FAIL"], res
    assert "config.act_buf_words = 8192; this accelerator build has ACT_WORDS = 4096" in res[0]["reason"]


BIG_INPUT = """
import torch
from torch import nn


def make():
    torch.manual_seed(3)
    return nn.Sequential(nn.Conv2d(8, 8, 1), nn.ReLU()).eval(), torch.rand(8, 8, 72, 72)
"""


def test_preset_with_larger_buffers_runs_in_one_pass_a_layer_the_default_bands(tmp_path: Path):
    """HW=large: the same description sizes hexgen's layout, the RTL parameters and the bench's
    check; an input image of 5,184 words does not fit the default's 4,096-word activation buffer
    (hexgen plans it in two bands there: tests/test_layer_bands.py runs such layers), and runs in
    one pass on the large preset's 32,768 words."""
    import json

    from hexgen.hw import PRESETS
    from hexgen.rules import descriptor_registers, passes, plan_tiling

    f = tmp_path / "big.py"
    f.write_text(BIG_INPUT)
    model = f"{f}:make"
    large = layer_sim.run(layers=None, sim="icarus", model=model, seed=0, hw="large")
    assert large[0]["status"] == "PASS", large[0]
    assert "HW=large" in large[0]["rerun"]
    mm = json.loads((Path(large[0]["image_dir"]) / "memory_map.json").read_text())
    assert len(mm["layers"][0]["passes"]) == 1
    regs = descriptor_registers(mm["layers"][0]["descriptor"])
    regs.update(plan_tiling(regs, PRESETS["default"]))
    assert len(passes(regs, 8)) == 2


def test_rtl_defaults_are_generated_from_the_description():
    from hexgen.hw import verilog_defaults

    assert (ROOT / "rtl" / "accel_hw.svh").read_text() == verilog_defaults(), "run: python -m hexgen.hw > rtl/accel_hw.svh"


@pytest.mark.parametrize("hw", ["tiny", "edge"])
def test_presets_with_other_array_sizes_run_the_representative_layers(hw: str):
    """4 rows x 8 columns with 32-bit words (a record spans two words) and 16x16 with 128-bit words
    (two records a word): the stem, a depthwise stride-2 layer (tiny), a residual add, the global
    pool and the fc layer bit-exact on Icarus. The whole model on Verilator for both: the slow suite."""
    # conv5 (depthwise, stride 2) at tiny only: at 16x16 Icarus takes 2.7 s on its 403 cycles
    names = ["conv1", "conv5", "add2", "pool1", "fc1"] if hw == "tiny" else ["conv1", "add2", "pool1", "fc1"]
    res = layer_sim.run(layers=names, sim="icarus", model="mobilenetv2", seed=0, hw=hw)
    assert [r["status"] for r in res] == ["PASS"] * len(names), layer_sim.table(res)
    assert all(f"HW={hw}" in r["rerun"] for r in res)


@pytest.mark.slow
@pytest.mark.parametrize("hw", ["tiny", "large", "edge"])
def test_presets_every_layer_on_verilator(hw: str):
    res = layer_sim.run(layers=None, sim="verilator", model="mobilenetv2", seed=0, hw=hw)
    assert res and all(r["status"] == "PASS" for r in res), layer_sim.table(res)


@pytest.mark.parametrize("spec, says", [
    ("huge.json", "HW=huge.json: the engine refuses these sizes: ACT_WORDS = 33554432"),
    ("nosuch", "HW=nosuch: no such preset"),
], ids=["json_refused", "nosuch"])
def test_description_the_engine_cannot_run_is_one_line(tmp_path: Path, spec: str, says: str):
    if spec.endswith(".json"):
        import json

        from hexgen.hw import PRESETS

        (tmp_path / spec).write_text(json.dumps({**PRESETS["default"].to_json(), "act_buf_words": 1 << 25}))
    r = subprocess.run([sys.executable, "-m", "tb.layer_sim", "--model", "mlp", "--sim", "icarus", "--hw", spec],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert says in r.stderr, r.stderr


def test_docs_show_the_presets_as_the_description_has_them():
    from hexgen.hw import table

    assert table() in (ROOT / "docs" / "engine.md").read_text(), "paste `python -m hexgen.hw table` into docs/engine.md"


BEYOND_16_BITS = """
import torch
from torch import nn


def make():
    torch.manual_seed(4)
    return nn.Sequential(nn.Conv2d(16, 8, 1), nn.ReLU()).eval(), torch.rand(4, 16, 200, 200)
"""


@pytest.mark.slow
def test_activation_buffer_past_65536_words_is_addressed_whole(tmp_path: Path):
    """A description with 131,072 activation words and a layer whose input takes 80,000 of them
    (two channel tiles of 200x200): the second tile lies past word 65,536, where 16-bit buffer
    addresses used to wrap. The reader's address width now follows the buffers (BUF_AW)."""
    import json

    from hexgen.hw import PRESETS

    hw = tmp_path / "act128k.json"
    hw.write_text(json.dumps({**PRESETS["default"].to_json(), "act_buf_words": 131072}))
    f = tmp_path / "wide.py"
    f.write_text(BEYOND_16_BITS)
    res = layer_sim.run(layers=None, sim="verilator", model=f"{f}:make", seed=0, hw=str(hw))
    assert [r["status"] for r in res] == ["PASS"], layer_sim.table(res)
    assert res[0]["words_read"] > 65536


def test_bench_memory_holds_the_whole_image() -> None:
    """The layer bench's external memory is sized from the memory image (tb.engine.accel_build.bench_addr_w):
    never smaller than the image (a wrapped address would let the engine read one segment for
    another), the default 2^18 words for every shipped digits model, one build per power of two."""
    aw = accel_build.bench_addr_w
    assert aw(1) == aw(1 << 18) == accel_build.ADDR_W == 18
    assert aw((1 << 18) + 1) == 19 and aw(1_004_728) == 20  # mobilenetv2_224's image: 20 bits
    for words in (1, 5, 1000, (1 << 18) - 1, 1 << 18, (1 << 20) + 3, 1 << 22):
        assert (1 << aw(words)) >= words and (aw(words) == 18 or (1 << (aw(words) - 1)) < words)
