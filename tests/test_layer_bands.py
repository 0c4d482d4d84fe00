"""Layers larger than the engine's buffers run in passes (hexgen.rules.plan_tiling, rtl/band_seq.sv):
bands of output rows with their halo where the input does not fit the activation buffer, groups of
output-channel tiles where the records do not fit the record buffers. Whole networks whose layers
need them run bit-exact: on the default build (4096-word activation buffer, 32 k_tiles of records)
on Verilator, on the `tiny` build (4x8 array, 2048-word activation buffer, 32 k_tiles of 4 records)
on Icarus (built for tests/test_engine_hw.py too)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

pytestmark = pytest.mark.sim


class BandNet(nn.Module):
    """stem: TF 'SAME' 3x3 stride 2 (pads (0, 1)); depthwise 3x3; pointwise stride 2; global pool; fc."""

    def __init__(self, c_in: int, c_stem: int, c_pw: int, stem_k: int) -> None:
        super().__init__()
        self.pad = nn.ZeroPad2d((0, 1, 0, 1)) if stem_k == 3 else nn.Identity()
        self.stem = nn.Conv2d(c_in, c_stem, stem_k, stride=2 if stem_k == 3 else 1)
        self.dw = nn.Conv2d(c_stem, c_stem, 3, padding=1, groups=c_stem)
        self.pw = nn.Conv2d(c_stem, c_pw, 1, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_pw, 10)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.stem(self.pad(x)))
        x = self.relu(self.dw(x))
        x = self.relu(self.pw(x))
        return self.fc(torch.flatten(self.pool(x), 1))


MODEL = """
import torch
from tests.test_layer_bands import BandNet


def make():
    torch.manual_seed(5)
    return BandNet(3, {c_stem}, {c_pw}, {stem_k}).eval(), torch.rand(16, 3, {hw}, {hw})
"""

# simulator: (preset, image side, stem channels, pointwise channels, stem kernel, the layers run)
# and the passes (bands, groups) each layer must take:
CASES = {
    # 90x90x3 input: 8100 words (> 4096) in bands of 45 rows at most; 24x45x45 (6075 words) in bands; 264 channels:
    # 33 k_tiles of records (> 32) in two groups
    "verilator": ("default", 90, 24, 264, 3, None, {"conv1": (3, 1), "conv2": (2, 1), "conv3": (2, 2), "pool1": (1, 1),
                                                  "fc1": (1, 1)}),
    # Icarus is slow: the depthwise layer alone, 132 channels (33 k_tiles of 4) on 11x11: two
    # groups of 17 channel tiles, and a group's own input (17 x 121 = 2057 words) in two bands;
    # bands and groups at once
    "icarus": ("tiny", 11, 132, 16, 1, ["conv2"], {"conv1": (1, 2), "conv2": (2, 2), "conv3": (2, 1), "pool1": (1, 1),
                                                     "fc1": (1, 1)}),
}


@pytest.mark.parametrize("simulator", list(CASES))
def test_layers_larger_than_the_buffers_run_in_passes(tmp_path: Path, simulator: str, capsys: pytest.CaptureFixture[str]) -> None:
    from tb import layer_sim, sim_cli

    preset, hw, c_stem, c_pw, stem_k, layers, want = CASES[simulator]
    f = tmp_path / "band_net.py"
    f.write_text(MODEL.format(hw=hw, c_stem=c_stem, c_pw=c_pw, stem_k=stem_k))
    res = layer_sim.run(layers=layers, sim=simulator, model=f"{f}:make", seed=0, hw=preset)
    assert [r["status"] for r in res] == ["PASS"] * len(layers or want), [(r["layer"], r["status"], r.get("reason")) for r in res]
    mm = json.loads((Path(res[0]["image_dir"]) / "memory_map.json").read_text())
    got = {e["name"]: (1 + max(p["band"] for p in e["passes"]), 1 + max(p["group"] for p in e["passes"])) for e in mm["layers"]}
    assert got == want, f"the layers' (bands, groups) changed: {got}; this test no longer runs what it says"
    # `make layers` shows how each layer runs (the image is cached: no second quantization)
    capsys.readouterr()
    sim_cli._list_layers(f"{f}:make", preset)
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    for name, (bands, groups) in want.items():
        text = "one pass" if bands == groups == 1 else f"{bands * groups} passes: {bands} band(s)"
        assert f"RTL, {text}" in listed[name] and (groups == 1 or f"x {groups} groups" in listed[name]), listed[name]
    assert "golden only" in listed["flatten1"]
