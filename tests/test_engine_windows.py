"""No memory limit but the layer's own (issue 26 item 1): a per-layer run loads each layer's window
alone (hexgen.image.window_bases: the segments the accelerator reads or writes, packed from word 0;
the expected output, which hexgen lays out between input and output, left out), so a network whose whole
memory image exceeds the bench's external memory still runs layer by layer, and so does a chained
run (which keeps the whole image in memory when it fits); a layer larger than the bench's memory is
refused in one line naming it. Here the bench's memory is cut to 4,096 words
(vgg w4a4's image is 7,872) to show it without a 513x513 network."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from hexgen.image import layer_window, window_bases
from tb import layer_sim
from tb.engine import accel_build, engine_flow
from tb.sim import SimError

pytestmark = pytest.mark.sim


def test_layers_run_in_their_own_windows_when_the_image_does_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accel_build, "ADDR_W", 12)
    monkeypatch.setattr(engine_flow, "MAX_ADDR_W", 12)
    res = layer_sim.run(model="vgg", sim="icarus", seed=0, w_bits=4, a_bits=4, layers=["conv1", "pool1", "fc1"])
    assert [r["status"] for r in res] == ["PASS"] * 3, [(r["layer"], r.get("reason")) for r in res]
    mm = json.loads((Path(res[0]["image_dir"]) / "memory_map.json").read_text())
    assert mm["dram"]["words"] > 4096  # the whole image would not have fit
    # fc1 ran with its segments packed from word 0 (they sit high in the image; the expected output,
    # between its input and output there, left out): its output's words moved down by mem_offset
    fc1 = next(r for r in res if r["layer"] == "fc1")
    segs = {s["segment"]: s for s in mm["segments"] if s["layer"] == "fc1"}
    bases = window_bases(mm, "fc1")
    assert bases["weights"] == 0 and bases["output"] < segs["output"]["base_word"] - segs["weights"]["base_word"]
    assert fc1["mem_offset"] == segs["output"]["base_word"] - bases["output"] > 0


def test_a_chained_run_whose_image_does_not_fit_runs_in_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """A chained run keeps the whole image in memory when it fits; when not, each layer's window is
    loaded, then the RTL's own output of the layer before is written as its input (the mlp: its
    image is 3 windows, the bench's memory cut to the largest); a layer larger than the bench's
    memory is refused in one line naming it."""
    from tb.engine.images import prepare_image

    mm = json.loads((prepare_image("mlp", 0, None, {})[0] / "image" / "memory_map.json").read_text())
    largest = max(layer_window(mm, e["name"])[1] for e in mm["layers"])
    addr_w = (largest - 1).bit_length()
    assert mm["dram"]["words"] > 1 << addr_w  # the whole image would not fit
    monkeypatch.setattr(accel_build, "ADDR_W", addr_w)
    monkeypatch.setattr(engine_flow, "MAX_ADDR_W", addr_w)
    chained = layer_sim.run(model="mlp", sim="icarus", seed=0, chain=1)
    assert len(chained) == 1 and chained[0]["layers_equal"] == chained[0]["layers"] and not chained[0]["problem"], chained
    assert chained[0]["rtl_pred"] == chained[0]["golden_pred"]
    monkeypatch.setattr(engine_flow, "MAX_ADDR_W", addr_w - 1)
    with pytest.raises(SimError, match=rf"layer \w+ of mlp \(its segments, loaded alone\) needs {largest} words; the bench's "
                                       rf"external memory holds at most {1 << (addr_w - 1)}"):
        layer_sim.run(model="mlp", sim="icarus", seed=0, chain=1)
