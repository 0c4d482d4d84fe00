"""Concatenation and nearest upsampling on the engine (issue 26 items 2 and 4).

- upsample runs on the vector unit (KIND 6: STRIDE_Y / STRIDE_X hold the factors; each input word
  read once per output row and given STRIDE_X times), bit-exact against golden;
- a concat whose inputs are copies (FX's shared observer) starting whole channel tiles needs no
  copy: its inputs' producers write at word offsets of the concatenated tensor
  (hexgen.concat.concat_placement) and the consumer reads them as one tensor. That the placement is
  exact is checked on hexgen's own layout: the inputs' words at those offsets are the concat's words,
  padding lanes included;
- an input that starts inside a channel tile is put in place by a run of the vector unit (KIND
  concat, hexgen.concat): the concat runs on the engine, per layer and chained.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

MODEL = """
import torch
from torch import nn


class Neck(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.deep = nn.Conv2d(16, 8, 3, stride=2, padding=1)
        self.deep2 = nn.Conv2d(16, 8, 3, stride=2, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.side = nn.Conv2d(16, 12, 1)
        self.head = nn.Conv2d(24, 8, 1)
        self.head2 = nn.Conv2d(20, 4, 1)
        self.relu = nn.ReLU()

    def forward(self, x):
        s = self.relu(self.stem(x))
        d = self.up(self.relu(self.deep(s)))
        a = self.head(torch.cat([s, d], dim=1))  # 16 + 8: the second input starts tile 2 (rows 8)
        f = nn.functional.interpolate(self.relu(self.deep2(s)), scale_factor=2, mode="nearest")
        b = self.head2(torch.cat([self.relu(self.side(s)), f], dim=1))  # 12 + 8: the second inside a tile
        return torch.cat([a, b], dim=1)  # 8 + 4


def make():
    torch.manual_seed(6)
    return Neck().eval(), torch.rand(8, 3, 12, 10)
"""


def _network(tmp_path: Path):
    from golden.models import load_model
    from golden.qat import quantized_model
    from golden import extract

    f = tmp_path / "neck.py"
    f.write_text(MODEL)
    m = load_model(f"{f}:make")
    return f, m, extract(quantized_model(m), m.calibration[:2])


def test_a_tile_aligned_concat_of_copies_is_its_inputs_side_by_side(tmp_path: Path) -> None:
    from golden.layers import ConcatLayer
    from hexgen.hw import load_hw
    from hexgen.layout import to_words
    from hexgen.concat import concat_placement
    from hexgen.plan import act_layout

    _f, m, net = _network(tmp_path)
    cfg = load_hw("default")
    cats = [l for l in net.layers if isinstance(l, ConcatLayer)]
    assert len(cats) == 3
    out = net.run(net.quantize_input(m.calibration[:1])).outputs
    placed = 0
    for cat in cats:
        where = concat_placement(cat, cfg)
        if isinstance(where, str):
            assert where == "input(s) upsample2 (at channel 12, inside a tile of 8) put in place by the vector unit", where
            continue
        placed += 1
        words = to_words(out[cat.name], act_layout(cat.out_shape, 1, cat.z_out, cfg))
        for src, at in zip(cat.inputs, where):
            mine = to_words(out[src], act_layout(net[src].out_shape, 1, cat.z_out, cfg))
            assert list(words[at:at + len(mine)]) == list(mine), (cat.name, src, at)
        assert sum(len(to_words(out[s], act_layout(net[s].out_shape, 1, cat.z_out, cfg))) for s in cat.inputs) \
            == len(words)
    assert placed == 2  # s + d (16 + 8) and a + b (8 + 4); side + f (12 + 8) is not tile-aligned
    assert all(all(c.copies) for c in cats)  # golden.ptq shares one observer per cat, through the upsamples


@pytest.mark.sim
def test_upsample_runs_and_concats_are_placed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tb import layer_sim, sim_cli

    f = tmp_path / "neck.py"
    f.write_text(MODEL)
    res = layer_sim.run(sim="verilator", model=f"{f}:make", seed=0)
    got = {r["layer"]: r["status"] for r in res}
    assert got == dict.fromkeys(["conv1", "conv2", "upsample1", "conv3", "conv4", "upsample2", "concat2", "conv5", "conv6"],
                                "PASS"), \
        [(r["layer"], r["status"], r.get("reason")) for r in res]
    mm = json.loads((Path(res[0]["image_dir"]) / "memory_map.json").read_text())
    up = next(e for e in mm["layers"] if e["kind"] == "upsample")
    assert up["descriptor"]["stride"] == [2, 2] and up["descriptor"]["kernel"] == [1, 1]
    from tb.coverage import holes

    cat = next(e for e in mm["layers"] if e["kind"] == "concat")
    assert [(p["run"], p["channels"]) for p in cat["descriptor"]["parts"]] == [(False, 12), (True, 8)]
    assert cat["descriptor"]["runs"][0]["out_shape"][0] == 4 + 8  # 4 lanes kept, then the 8 channels of f
    empty = holes(res, {e["name"]: e for e in mm["layers"]}, 8, 8)
    assert "upsample" not in empty["kind"] and "concat" not in empty["kind"] and empty["concat"] == ["requantized"], empty
    capsys.readouterr()
    sim_cli._list_layers(f"{f}:make", None)
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    cats = [line for name, line in listed.items() if " concat " in line]
    assert sum("by layout, no copy: its inputs" in c for c in cats) == 2, cats
    assert sum("1 run(s) of the vector unit put" in c and "placed by layout" in c for c in cats) == 1, cats
    # chained: the RTL's own outputs through the whole network, the concats placed (in memory order)
    chained = layer_sim.run(sim="verilator", model=f"{f}:make", seed=0, chain=1)
    assert chained[0]["layers_equal"] == chained[0]["layers"] == 11 and not chained[0]["golden_ran"], chained


@pytest.mark.sim
# PyTorch's int8 cat warns of inputs quantized apart (when golden's oracle runs it): this test's point
@pytest.mark.filterwarnings("ignore:All inputs of this cat operator must share the same quantization parameters")
def test_requantized_concat_inputs_run_on_the_vector_unit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model quantized without one observer per cat (as a model converted elsewhere may be: FX
    alone requantizes a cat's input after an upsample) has concat inputs quantized apart from the
    output; each is put in place by a requantizing run (hexgen.concat), per layer and chained."""
    import golden.ptq
    from golden.layers import ConcatLayer
    from hexgen.hw import load_hw
    from tb import layer_sim
    from tb.coverage import holes
    from tb.engine.images import _write_image

    f, m, _ = _network(tmp_path)
    # the image is written here, not in the cache: its key would not say that the pass was left out
    monkeypatch.setattr(golden.ptq, "share_cat_observers", lambda prepared: 0)
    layers = _write_image(m, 0, load_hw("default"), tmp_path, "", {})
    net = __import__("pickle").loads((tmp_path / "net.pkl").read_bytes())
    cats = [l for l in net.layers if isinstance(l, ConcatLayer)]
    assert sum(not c for cat in cats for c in cat.copies) >= 2, [cat.copies for cat in cats]
    ran = {l["name"] for l in layers if l["rtl"] and l["kind"] == "concat"}
    assert ran == {cat.name for cat in cats if not all(cat.copies)}, layers
    res = layer_sim.run(image=(tmp_path, layers, 0), sim="verilator", model=f"{f}:make", seed=0)
    assert all(r["status"] == "PASS" for r in res), [(r["layer"], r["status"], r.get("reason")) for r in res]
    mm = json.loads((tmp_path / "image" / "memory_map.json").read_text())
    runs = [run for e in mm["layers"] if e["kind"] == "concat" for run in e["descriptor"]["runs"]]
    assert any(run["a0"] and run["out_shape"][0] > run["in_shape"][0] for run in runs), runs  # requantized and shifted
    assert holes(res, {e["name"]: e for e in mm["layers"]}, 8, 8)["concat"] == ["lanes shifted"]  # every run requantizes
    chained = layer_sim.run(image=(tmp_path, layers, 0), sim="verilator", model=f"{f}:make", seed=0, chain=1)
    assert chained[0]["layers_equal"] == chained[0]["layers"] == 11 and not chained[0]["golden_ran"], chained


def test_what_a_concat_run_must_write_starts_unlike_golden(tmp_path: Path) -> None:
    """The verdict of a concat: its output region starts as ~expected wherever a run writes (every
    element differs from golden's, so a run that did not happen, or stopped short, FAILs the layer)
    and as the inputs' own codes where they are placed by layout (what their producers wrote); the
    run inputs are in the input segment, each padded to whole tiles with its zero point."""
    import numpy as np

    from golden.layers import ConcatLayer
    from hexgen.concat import concat_arrays, concat_descriptor
    from hexgen.hw import load_hw

    _f, m, net = _network(tmp_path)
    cfg = load_hw("default")
    out = net.run(net.quantize_input(m.calibration[:1])).outputs
    cat = next(l for l in net.layers if isinstance(l, ConcatLayer) and l.channels == (12, 8))
    d = concat_descriptor(cat, cfg)
    arrs = concat_arrays(cat, d, [out[i] for i in cat.inputs], out[cat.name], cfg.channel_tile)
    y = out[cat.name].astype(np.int64)
    assert np.array_equal(arrs["output"][:, :12], y[:, :12])  # side: placed by layout, its producer's codes
    assert np.all(arrs["output"][:, 12:] != y[:, 12:])  # upsample2's channels: the run must write each
    x = out[cat.inputs[1]].astype(np.int64)
    assert arrs["input"].shape[1] == 8 and np.array_equal(arrs["input"], x)  # 8 channels: one whole tile
    assert d["runs"][0]["out_word"] == 1 * 12 * 10 and d["runs"][0]["out_shape"][0] == 4 + 8  # tile 1, 4 lanes kept
