"""A Brevitas model on the engine (issue 25 item 2: "what FINN users bring"): a network trained in
Brevitas at its own widths, taken by golden as it is (golden.brevitas_import), runs every layer
bit-exact on the RTL, its narrow weights packed. golden's integers equal Brevitas' own forward pass
(tests/test_golden_brevitas.py); here the RTL equals golden."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("brevitas")

from tb import layer_sim  # noqa: E402

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("arch, w, a, layers", [("mlp", 4, 4, 3), ("conv", 2, 8, None)], ids=["mlp-w4a4", "conv-w2a8"])
def test_a_brevitas_network_is_bit_exact_on_the_engine(tmp_path: Path, arch: str, w: int, a: int, layers: int | None) -> None:
    f = tmp_path / "bnet.py"
    f.write_text("from test_golden_brevitas import _trained, _data\n"
                 f"def make():\n    return _trained({arch!r}, {w}, {a}, 'exact'), _data().x_train[:16]\n")
    res = layer_sim.run(model=f"{f}:make", sim="verilator", seed=0)
    assert res and all(r["status"] == "PASS" for r in res), [(r["layer"], r["status"], r.get("reason")) for r in res]
    assert layers is None or len(res) == layers
    mm = json.loads((Path(res[0]["image_dir"]) / "memory_map.json").read_text())
    stored = {e["descriptor"]["weight_bits"] for e in mm["layers"] if e["kind"] in ("conv", "fc")}
    assert stored == {w}, stored  # Brevitas' weight width, packed
