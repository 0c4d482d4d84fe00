"""The early word on what will not fit (hexgen.fit, issue 26 item 1): from the float model's shapes,
before quantization, the layers the engine will refuse and the memory windows a bench cannot hold.
It must agree with the verdict hexgen's plan gives after quantization (the same refusal field for
every layer the engine would run) and never ask for more memory than hexgen then lays out (the
estimate leaves alignment out), or it would refuse a network that runs."""
from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import pytest

from golden import extract
from golden.models import load_model
from golden.qat import quantized_model
from hexgen import HexgenError, build_image, plan_layer
from hexgen.fit import fit_layers, fit_report
from hexgen.hw import load_hw
from hexgen.image import layer_window
from hexgen.plan import is_compute, is_vector


@pytest.mark.parametrize("model, act_words", [("vgg", 4096), ("vgg", 64), ("mobilenetv2", 4096), ("mobilenetv2", 40),
                                               ("mlp", 4096)])
def test_the_shapes_give_the_plans_verdicts_and_at_most_its_windows(model: str, act_words: int) -> None:
    warnings.filterwarnings("ignore")
    cfg = replace(load_hw("default"), act_buf_words=act_words)
    m = load_model(model)
    shapes = fit_layers(m.float_model, m.calibration, cfg) or []
    net = extract(quantized_model(m), m.calibration[:2])
    engine = [l for l in net.layers if is_compute(l) or is_vector(l)]
    # modules by their path; residual adds (graph nodes, named anew by quantization) in network order
    fits = {f.where: f for f in shapes if f.kind != "add"}
    fits.update(zip([l.module for l in engine if l.kind == "add"], [f for f in shapes if f.kind == "add"]))
    assert engine and {l.module for l in engine} == set(fits), (sorted(fits), [l.module for l in engine])
    runs, refused = [], 0
    for l in engine:
        try:
            plan_layer(l, cfg)
            verdict = None
        except HexgenError as exc:
            verdict = str(exc)
        f = fits[l.module]
        assert (f.refusal is None) == (verdict is None), (l.name, f.refusal, verdict)
        if verdict is None:
            runs.append(l)
        else:
            refused += 1
            # the plan names the engine's field, or (a buffer it checks first) the same figures
            figures = [w for w in f.refusal[1].split() if w.isdigit()] if f.refusal else []
            assert f.refusal is not None and (f"field {f.refusal[0]}" in verdict or all(w in verdict for w in figures)), \
                (l.name, f.refusal, verdict)
    assert runs
    if act_words < 4096:  # the small buffer must refuse some layer, or the comparison above tested only "runs"
        assert refused, model
    mm = build_image(net, net.quantize_input(m.calibration[:1]), cfg, model=model, layers=[l.name for l in runs]).memory_map()
    for l in runs:
        assert fits[l.module].window_words <= layer_window(mm, l.name)[1], l.name


def test_the_report_names_the_layer_field_and_figure() -> None:
    m = load_model("vgg")
    lines = fit_report(m.float_model, m.calibration, replace(load_hw("default"), act_buf_words=64), memory_words=1024,
                       prog="sim")
    assert "sim: fit: features.2 (conv 16x16x16 -> 16x16x16) will not run on the engine: BAND_ROWS: a band of 1 output rows " \
           "reads 3 input rows, 96 words of the act buffer, which holds 64" in lines
    assert any(l.startswith("sim: fit: classifier.0 (fc 512 -> 64) needs at least ") and l.endswith(" the bench's holds 1,024")
               for l in lines)
    assert lines[-1].startswith("sim: fit: 8 layer(s) for the engine checked from the model's shapes in ")


def test_make_sim_refuses_a_window_larger_than_the_bench_before_quantizing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The 513x513 case of the issue, small: a layer's window larger than the bench's memory is one
    line before anything is quantized (quantization here would raise)."""
    from golden import qat
    from tb.engine import accel_build, images
    from tb.sim import SimError

    f = tmp_path / "wide.py"
    f.write_text("import torch\nfrom torch import nn\n\ndef make():\n    torch.manual_seed(0)\n"
                 "    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()).eval(), torch.rand(2, 3, 40, 40)\n")

    def never(*_a: object, **_k: object) -> None:
        raise AssertionError("quantized before the fit check")

    monkeypatch.setattr(qat, "quantized_model", never)
    monkeypatch.setattr(accel_build, "MAX_ADDR_W", 10)
    with pytest.raises(SimError, match=r"^0 \(conv 3x40x40 -> 8x40x40\) needs at least 3,\d{3} words of memory; the bench's "
                                       r"holds 1,024 \(its segments, loaded alone; nothing was quantized\)$"):
        images.prepare_image(f"{f}:make", 0, None, {})


def test_a_transformers_engine_layers_are_checked_from_its_shapes() -> None:
    """vit_small_test: the early word sees every linear over tokens (a pointwise conv over its T
    tokens, hexgen.rules.engine_shapes), every matmul (its one head's linear), every GELU and every
    add of token tensors (the residual adds and the position embedding's), in network order, with
    hexgen's verdict and at most its windows."""
    warnings.filterwarnings("ignore")
    cfg = load_hw("default")
    m = load_model("vit_small_test")
    shapes = fit_layers(m.float_model, m.calibration, cfg) or []
    net = extract(quantized_model(m), m.calibration[:2])
    mm = build_image(net, net.quantize_input(m.calibration[:1]), cfg, model="vit_small_test").memory_map()
    for kinds, fit_kind in ((("linear",), "linear"), (("matmul",), "matmul"), (("gelu",), "gelu"), (("add", "add_const"), "add")):
        layers = [l for l in net.layers if l.kind in kinds]
        fits = [f for f in shapes if f.kind == fit_kind]
        assert len(layers) == len(fits) > 0, (kinds, [f.text() for f in fits])
        for l, f in zip(layers, fits):
            # a matmul's: one head's rows and reduction (a's last two axes)
            want = list(l.in_shape[-2:]) if fit_kind == "matmul" else list(l.in_shape)
            assert f.refusal is None and list(f.in_shape) == want, (l.name, f.text(), f.refusal)
            assert f.window_words <= layer_window(mm, l.name)[1], l.name
