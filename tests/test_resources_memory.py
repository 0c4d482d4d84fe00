"""`make resources MODEL=...` (issue 28 item 7): the memory table hexgen.footprint prints, checked
against what hexgen itself writes, in pure Python (no Yosys: --memory-only).

The KiB printed per layer are the sizes of the segments hexgen.image.build_image lays out for that
layer (Segment.n_bytes), the fit column says what hexgen.plan's BufferNeed and passes say for a
conv / fc layer (and what a transformer layer's whole segments against the buffers give), and a
bad model name is one line and exit status 2 before anything is quantized or synthesised."""
from __future__ import annotations

import re
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest

from hexgen import HardwareConfig, HexgenError, build_image, plan_layer
from hexgen.hw import load_hw
from hexgen.image import Image
from tb.engine import resources

ROOT = Path(__file__).resolve().parent.parent
#: The printed columns and the segments of hexgen's image each one is, written here from the
#: memory map's segment names (not imported from hexgen.footprint).
PRINTED = {"weights": ("weights",), "bias+scale": ("bias", "scale"), "inputs": ("input", "input2"),
           "output": ("output",), "table/rec": ("table", "records")}
#: vgg on a description whose buffers cut its layers both ways: into passes (bands of rows and
#: groups of output-channel tiles) and not at all (conv4's and fc1's weight tile is larger than a bank).
CNN_CFG = HardwareConfig(act_buf_words=200, weight_buf_words=256, bias_buf_words=8, scale_buf_words=8)


@pytest.fixture(scope="module")
def cnn(shipped: Any) -> Any:
    """vgg's golden network (quantized once per session by tests/conftest.py)."""
    from golden import extract

    q = shipped("vgg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return extract(q.qmodel, q.calibration[:2]), q.x_test[:1]


@pytest.fixture(scope="module")
def vit() -> Any:
    from golden.models import load_model
    from hexgen.footprint import load_network

    return load_network("vit_small_test"), load_model("vit_small_test").calibration[:1]


def _printed(net: Any, model: str, hw: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
             cfg: HardwareConfig | None = None) -> tuple[dict[str, list[str]], str]:
    """The table `python -m tb.engine.resources --model M --hw H --memory-only` prints: per layer its
    cells (name, kind, five KiB columns, the fit text), with golden's network handed in."""
    from hexgen import footprint

    monkeypatch.setattr(footprint, "load_network", lambda name, say=None: net)
    if cfg is not None:
        monkeypatch.setattr(resources, "memory_config", lambda *a, **k: cfg)
    assert resources.main(["--model", model, "--hw", hw, "--memory-only"]) == 0
    out = capsys.readouterr().out
    names = {l.name for l in net.layers}
    rows = {}
    for line in out.splitlines():
        cells = line.split(maxsplit=7)
        if cells and cells[0] in names:
            rows[cells[0]] = cells
    assert set(rows) == names, out
    return rows, out


def _image(net: Any, x: Any, cfg: HardwareConfig) -> Image:
    """hexgen's own image of every layer it lays out (data movement is golden only), refused ones too."""
    from hexgen.tokens import not_laid_out

    laid = [l.name for l in net.layers if l.kind not in ("flatten",) and not_laid_out(l) is None]
    return build_image(net, net.quantize_input(x), cfg, layers=laid, check_fit=False)


def _check_sizes(rows: dict[str, list[str]], image: Image) -> int:
    """Every printed KiB of a laid-out layer is its image segments' bytes; returns the cells checked."""
    checked = 0
    for plan in image.plans:
        cells = rows[plan.name]
        for i, (column, segs) in enumerate(PRINTED.items()):
            n_bytes = sum(s.n_bytes for s in image.segments if s.layer == plan.name and s.name in segs)
            want = f"{n_bytes / 1024:,.1f}" if n_bytes else "-"
            assert cells[2 + i] == want, (plan.name, column, cells, n_bytes)
            checked += bool(n_bytes)
    return checked


def test_cnn_sizes_are_hexgens_segments_and_fits_its_buffer_needs(cnn: Any, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    net, x = cnn
    rows, out = _printed(net, "vgg", "default", monkeypatch, capsys, CNN_CFG)
    image = _image(net, x, CNN_CFG)
    assert _check_sizes(rows, image) >= 20
    verdicts = set()
    for layer in net.layers:
        fit = rows[layer.name][7]
        if layer.kind in ("maxpool",):
            assert fit.startswith("vector unit"), fit
            continue
        if layer.kind == "flatten":  # data movement: its output in hexgen's activation layout
            assert fit.startswith("data movement") and rows[layer.name][5] == f"{512 / 1024:.1f}", rows[layer.name]
            continue
        plan = plan_layer(layer, CNN_CFG, check_fit=False)
        try:
            plan_layer(layer, CNN_CFG)
            refused = False
        except HexgenError:
            refused = True
        too_small = [b for b in plan.buffers if not b.fits]
        assert refused == bool(too_small)  # on this description only buffers refuse
        if too_small:
            verdicts.add("does not fit")
            assert fit.startswith("does not fit: "), fit
            for b in too_small:
                name = {"weight": "w", "act": "act", "bias": "rec", "scale": "rec"}[b.buffer]
                assert f"{name} {b.need * CNN_CFG.word_bytes / 1024:.1f}/" in fit, (fit, b)
        else:
            n, bands, groups = len(plan.passes), {p.band for p in plan.passes}, {p.group for p in plan.passes}
            verdicts.add("one pass" if n == 1 else "passes")
            cut = " x ".join(f"{len(k)} {w}s" for k, w in ((bands, "band"), (groups, "group")) if len(k) > 1)
            assert fit.startswith("fits 1 pass:" if n == 1 else f"fits in {n} passes ({cut}):"), (fit, n, cut)
    assert verdicts == {"does not fit", "passes"}, verdicts  # the description cuts the layers both ways
    total = sum(s.n_bytes for s in image.segments if s.name == "weights") / 1024
    assert f"total weights {total:,.1f} KiB" in out


def test_transformer_sizes_are_hexgens_segments_and_whole_segment_passes(vit: Any, monkeypatch: pytest.MonkeyPatch,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    net, x = vit
    cfg = load_hw("tiny")
    rows, out = _printed(net, "vit_small_test", "tiny", monkeypatch, capsys)
    image = _image(net, x, cfg)
    assert _check_sizes(rows, image) >= 60
    # a token layer the engine does not plan yet (the matmul): its largest segment against its buffer, whole
    several = 0
    for plan in image.plans:
        fit = rows[plan.name][7]
        if plan.kind == "linear":  # the MAC array's: hexgen's planned passes, as a conv's
            n = len(plan.passes)
            assert fit.startswith("fits 1 pass:" if n == 1 else f"fits in {n} passes ("), (plan.name, fit, n)
            several += n > 1
        if plan.kind != "matmul":
            continue
        seg = {"weight": "input2", "act": "input"}
        n = max(-(-image.segment(plan.name, s).n_words // cfg.buffer_words(buf)) for buf, s in seg.items())
        assert fit.startswith("fits 1 pass" if n == 1 else f"fits in {n} passes (whole segments)"), (plan.name, fit, n)
    assert several >= 4  # tiny's 2 KiB weight bank: the 12 and 16 KiB linears in groups of output-channel tiles
    # the LayerNorms and softmaxes: the row unit's blocks (hexgen's passes) and what its buffers hold
    for plan in image.plans:
        if plan.kind in ("layernorm", "softmax"):
            fit = rows[plan.name][7]
            assert fit.startswith(f"row unit: {len(plan.passes)} block"), (plan.name, fit)
            assert f"/{cfg.row_buf_words} words" in fit and (plan.kind == "softmax" or f"/{cfg.ln_tiles} tiles" in fit), fit
    # the patch embedding (8x8 kernel, stride 8) is a conv the engine runs; the movement layers listed
    assert rows["conv1"][7].startswith("fits"), rows["conv1"]
    for name in ("reshape1", "permute1", "select1", "cat1"):
        assert rows[name][7].startswith("data movement"), rows[name]
        assert rows[name][5] != "-"
    tables = sum(s.n_bytes for s in image.segments if s.name in ("table", "records")) / 1024
    assert f"tables and LayerNorm records {tables:,.1f} KiB" in out


def test_a_bad_model_is_one_line_before_any_synthesis(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from golden.cli import run_cli

    def no_yosys(*a: Any, **k: Any) -> Any:
        raise AssertionError("Yosys ran for a bad model")

    monkeypatch.setattr(resources, "run_yosys", no_yosys)
    monkeypatch.setattr(resources, "top_parameters", no_yosys)
    for args in (["--model", "no_such_model", "--memory-only"], ["--model", "no_such_model", "--hw", "edge"]):
        assert run_cli("resources", resources.main, args) == 2  # as `python -m tb.engine.resources` ends
        out, err = capsys.readouterr()
        assert out == "" and len(err.strip().splitlines()) == 1, err
        assert re.match(r"resources: error: unknown model 'no_such_model': shipped models are ", err), err


def test_make_passes_model_only_when_given() -> None:
    def dry(*args: str) -> str:
        r = subprocess.run(["make", "-n", "resources", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return [l for l in r.stdout.splitlines() if "tb.engine.resources" in l][-1]

    assert "--model" not in dry()  # as before: the Makefile's default MODEL is not passed
    assert dry("MODEL=deit_tiny", "HW=edge").endswith("--hw edge  --model deit_tiny")
    assert "--model" not in dry("PARAMS=COLS=4", "HW=edge")
