"""Narrow widths on the engine (issue 25 item 3): golden's networks at w4a4 and w2a8 run bit-exact,
layer by layer, on both simulators, with their weights packed as hexgen stores them (4-bit two to a
byte, 2-bit four; register W_BITS, rtl/wgt_unpack.sv). The clamp bounds (lo, hi) come from golden's
records. Expected values are golden's, checked against PyTorch's fake-quantized float at the same
widths in tests/test_golden_bits.py."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hexgen import read_image
from tb import layer_sim
from tb.coverage import holes

pytestmark = pytest.mark.sim

# Icarus takes the small layers (vgg's conv2 alone is 9,400 cycles); Verilator every layer
CASES = [(4, 4, "verilator", None), (4, 4, "icarus", ["conv1", "pool1", "fc2"]),
         (2, 8, "verilator", None), (2, 8, "icarus", ["conv1", "fc1"])]


@pytest.mark.parametrize("w_bits, a_bits, sim, layers", CASES, ids=[f"w{w}a{a}-{s}" for w, a, s, _ in CASES])
def test_vgg_at_narrow_widths_is_bit_exact(w_bits: int, a_bits: int, sim: str, layers: list[str] | None) -> None:
    res = layer_sim.run(model="vgg", sim=sim, seed=0, layers=layers, w_bits=w_bits, a_bits=a_bits, check_reset=True)
    assert res and all(r["status"] == "PASS" for r in res), [(r["layer"], r["status"], r.get("reason")) for r in res]
    assert len(res) == (len(layers) if layers else 8)
    assert all(f"W_BITS={w_bits} A_BITS={a_bits}" in r["rerun"] for r in res), res[0]["rerun"]
    # what ran is the narrow network: codes inside the widths (not an 8-bit image under another name)
    rb = read_image(res[0]["image_dir"], run_golden=False)
    for name in ("conv1", "fc1"):
        w = np.asarray(rb[(name, "weights")])
        assert -(2 ** (w_bits - 1) - 1) <= w.min() and w.max() <= 2 ** (w_bits - 1) - 1 and w.max() > 0, (name, w.min(), w.max())
    # ... stored packed at its width: the descriptor's W_BITS and the weight segment's element width,
    # each k_tile's weights in 1/2 or 1/4 of the words the same layer takes at 8 bits
    mm = json.loads((Path(res[0]["image_dir"]) / "memory_map.json").read_text())
    for entry in (e for e in mm["layers"] if e["kind"] in ("conv", "fc")):
        assert entry["descriptor"]["weight_bits"] == w_bits, entry["descriptor"]
        seg = next(s for s in mm["segments"] if s["layer"] == entry["name"] and s["segment"] == "weights")
        assert seg["layout"]["elem_bits"] == w_bits and seg["layout"]["word_aligned"] == seg["layout"]["order"][1], seg["layout"]
        rows = seg["layout"]["tiles"]["k"]
        vectors = int(np.prod([a["size"] for a in seg["layout"]["strides"][1:]])) // rows  # one k_tile's weight vectors
        assert seg["layout"]["block_words"] * 8 == vectors * w_bits, (entry["name"], seg["layout"]["block_words"], vectors)
    # the coverage bin of the width (tb.coverage: weight_bits) is hit by these runs
    assert w_bits not in holes(res, {e["name"]: e for e in mm["layers"]}, 8, 8).get("weight_bits", []), res
    expected = np.asarray(rb[("conv1", "expected")])
    assert expected.max() <= 2 ** a_bits - 1, expected.max()
    assert json.loads((Path(res[0]["image_dir"]).parent / "layers.json").read_text())["model"] == "vgg"


def test_widths_outside_golden_s_are_one_line():
    from tb.run_settings import RunSettings
    from tb.sim import SimError

    for kw, says in (({"w_bits": 1}, "W_BITS=1: golden quantizes to 2..8 bits"), ({"a_bits": 3}, "A_BITS=3: golden quantizes to 4..8 bits")):
        with pytest.raises(SimError, match=says):
            RunSettings(model="vgg", **kw).check()
    s = RunSettings(model="vgg", w_bits=4, a_bits=4, keep_ends=True)
    assert s.rerun("conv1").endswith("W_BITS=4 A_BITS=4 KEEP_ENDS=1") and "-w4a4-ends8" in s.folder_name()
    assert RunSettings(model="vgg").widths is None  # the 8-bit default's images stay as they were


@pytest.mark.parametrize("sim", ["verilator", "icarus"])
def test_a_network_trained_at_its_widths_is_bit_exact(sim: str) -> None:
    """QAT=1 (golden.qat): the MLP trained at w2a4 runs bit-exact on both simulators; its image is the
    trained network's (other weights than post-training's at the same widths), named and rerun as such."""
    res = layer_sim.run(model="mlp", sim=sim, seed=0, w_bits=2, a_bits=4, qat=True)
    assert len(res) == 3 and all(r["status"] == "PASS" for r in res), [(r["layer"], r["status"], r.get("reason")) for r in res]
    assert all(r["rerun"].endswith("W_BITS=2 A_BITS=4 QAT=1") for r in res) and "-w2a4-qat-" in res[0]["run_dir"]
    ptq = layer_sim.run(model="mlp", sim=sim, seed=0, w_bits=2, a_bits=4, layers=["fc1"])
    trained_w = np.asarray(read_image(res[0]["image_dir"], run_golden=False)[("fc1", "weights")])
    ptq_w = np.asarray(read_image(ptq[0]["image_dir"], run_golden=False)[("fc1", "weights")])
    assert abs(trained_w).max() <= 1 and not np.array_equal(trained_w, ptq_w)
