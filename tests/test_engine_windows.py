"""No memory limit but the layer's own (issue 26 item 1): a per-layer run loads each layer's window
alone (hexgen.image.layer_window: its segments but the expected output, which hexgen lays out one
after the other), every base moved down by the window's first word, so a network whose whole
memory image exceeds the bench's external memory still runs layer by layer; a chained run, which
keeps the whole image, is refused in one line. Here the bench's memory is cut to 4,096 words
(vgg w4a4's image is 7,872) to show it without a 513x513 network."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

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
    # fc1 ran at addresses moved down by its window's first word (its segments sit high in the image)
    fc1 = next(r for r in res if r["layer"] == "fc1")
    assert fc1["mem_offset"] > 0 and fc1["mem_offset"] == min(s["base_word"] for s in mm["segments"] if s["layer"] == "fc1")
    with pytest.raises(SimError, match=r"the memory image of vgg needs \d+ words; the bench's external memory holds at most 4096"):
        layer_sim.run(model="vgg", sim="icarus", seed=0, w_bits=4, a_bits=4, chain=1)
