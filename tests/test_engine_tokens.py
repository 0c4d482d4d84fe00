"""A transformer on the engine before issue 28: make layers and make sim take it and say, per
layer, what the engine runs (the head's fc) and why the rest is golden only (a token tensor's kinds
have no engine kind yet; the patch embedding's 8x8 kernel is above the engine's 7), instead of
failing on the first token tensor."""
from __future__ import annotations

import pytest


def test_a_transformers_layers_are_listed_with_what_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from tb import sim_cli

    sim_cli._list_layers("vit_small_test", None)
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip() and " -> " in line}
    assert "RTL" in listed["fc1"], listed["fc1"]
    assert "field KH: kernel 8: 1..7" in listed["conv1"], listed["conv1"]
    assert "add on 2-D tensors (17x64); the vector unit runs [C, H, W] images" in listed["add1"], listed["add1"]
    for name in ("ln1", "linear1", "matmul1", "softmax1", "gelu1", "reshape1", "select1"):
        assert "golden only" in listed[name], listed[name]
