"""pwfc, the second shipped target (issue 24 item 2), standalone: golden's layers in pwfc's own
layouts (targets/pwfc/layouts.py) through hexgen.build_target_image, run on the RTL through its
cocotb driver (AxiRam, AxiLiteMaster) on Icarus and Verilator, the output words decoded with the
output segment's layout and compared with golden's outputs; a fault (+PWFC_MUT_ZP) must fail.
Expected values are golden's (Network.run), never computed here."""
from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hexgen import Layout, build_target_image, check_image, from_words, write_image  # noqa: E402
from targets.pwfc import layouts, regs  # noqa: E402

#: the layers run: every layer of the MLP; pointwise layers of mobilenetv2 (K=8 in 2 groups of 4,
#: K=96 from C=24, C=96) and its fc (K=10: a partial group and output word)
LAYERS = {"mlp": ["fc1", "fc2", "fc3"], "mobilenetv2": ["conv3", "conv13", "conv15", "fc1"]}
WATCHDOG = 200_000


@pytest.fixture(scope="module")
def images(shipped, tmp_path_factory):  # type: ignore[no-untyped-def]
    """{model: (net, x_q, image folder)}: one test image, pwfc's layouts, checked by hexgen."""
    from golden import extract

    out = {}
    for model, names in LAYERS.items():
        q = shipped(model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = extract(q.qmodel, q.calibration[:2])
            x = net.quantize_input(q.x_test[:1])
        segs = {n: layouts.segments(net, n) for n in names}
        assert all(isinstance(s, dict) for s in segs.values()), segs
        img = build_target_image(net, x, segs, target="pwfc", word_bits=32, model=model)
        folder = write_image(img, tmp_path_factory.mktemp(model) / "image")
        assert check_image(folder) == []
        out[model] = (net, x, folder)
    return out


def _run(sim: str, folder: Path, names: list[str], tmp: Path, defines=(), plusargs=()) -> list[dict]:  # type: ignore[no-untyped-def]
    from targets.pwfc import build

    job, result = tmp / "job.json", tmp / "result.json"
    job.write_text(json.dumps({"image": str(folder), "layers": names, "result": str(result), "watchdog": WATCHDOG}))
    bdir = build.build(sim, defines)
    build.run(sim, bdir, {"PWFC_JOB": str(job)}, plusargs, name=folder.parent.name)
    return json.loads(result.read_text())


def _wrong(net, x, folder: Path, res: dict) -> int:  # type: ignore[no-untyped-def]
    """Elements of the layer's output words that differ from golden's output (pad lanes must be 0)."""
    mm = json.loads((folder / "memory_map.json").read_text())
    seg = next(s for s in mm["segments"] if s["layer"] == res["layer"] and s["segment"] == "out")
    got, problems = from_words(res["words"], Layout.from_json(seg["layout"]))
    want = net.run(x).outputs[res["layer"]]
    return int(np.count_nonzero(got != want)) + len(problems)


@pytest.mark.sim
@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_pwfc_runs_golden_layers(sim: str, images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for model, (net, x, folder) in images.items():
        (tmp_path / model).mkdir()
        results = _run(sim, folder, LAYERS[model], tmp_path / model)
        assert [r["layer"] for r in results] == LAYERS[model]
        for r in results:
            assert r["status"] == "done", (model, r["layer"], r["reason"])
            assert _wrong(net, x, folder, r) == 0, (model, r["layer"])
            assert 0 < r["cycles"] == r["bench_cycles"], (model, r["layer"], r["cycles"], r["bench_cycles"])


@pytest.mark.sim
def test_pwfc_zero_point_fault_fails(images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    net, x, folder = images["mlp"]
    results = _run("icarus", folder, ["fc2"], tmp_path, defines=["PWFC_MUT"], plusargs=["+PWFC_MUT_ZP"])
    assert results[0]["status"] == "done"
    assert _wrong(net, x, folder, results[0]) > 0
    # the same mutant build without the plusarg is the correct design
    results = _run("icarus", folder, ["fc2"], tmp_path, defines=["PWFC_MUT"])
    assert _wrong(net, x, folder, results[0]) == 0


def test_pwfc_regs_svh_is_written_from_regs_py() -> None:
    assert regs.SVH.read_text() == regs.svh_text(), "run: .venv/bin/python -m targets.pwfc.regs"


def test_pwfc_layouts_refuse_what_it_cannot_run(shipped) -> None:  # type: ignore[no-untyped-def]
    from golden import extract

    q = shipped("mobilenetv2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = extract(q.qmodel, q.calibration[:2])
    for l in net.layers:
        got = layouts.segments(net, l.name)
        if l.kind in ("pointwise", "fc"):
            assert isinstance(got, dict), (l.name, got)
        else:
            assert isinstance(got, str) and "\n" not in got and "pwfc runs" in got, (l.name, got)
