"""Concatenation along channels in golden/ (issue 26 item 2): torch.cat / torch.concat /
torch.concatenate with dim 1, 2 or more inputs (one of them twice), against PyTorch's own
quantized cat.

FX's native backend makes cat's inputs share the output's observer, so normally every input has
the output's scale and zero point and the concat copies codes: golden equals PyTorch bit for bit.
An input read by two cats can only share one observer, and a converted model can be edited: such
an input is requantized with golden's integer rule (M0 * 2^-n = S_in / S_out, arithmetic.md,
"Concatenation"), PyTorch's quantized::cat dequantizes and quantizes in float. Measured here: they
differ by at most 1, and only at an exact tie, S_in / S_out x (a - z_in) = k + 1/2, where the two
take the codes either side (golden's 16-bit M0 is S_in / S_out rounded, so a tie falls to the side
M0 puts it on, up when M0 * 2^-n is exact; PyTorch's float32 to the side its rounding lands on);
off the ties every code is equal.

Then a small segmentation-style network with every new kind (a dilated conv, concat, nearest
upsampling) through make golden's table, the export, and the engine's memory image (the kinds the
engine does not run are listed as not run with their reason; its other layers get images)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from golden import ConcatLayer, UnsupportedLayerError, arith, extract, quantize
from golden.export import export
from golden.graph import layer_oracle, trace_values
from golden.oracle import compare_layers

CATS: dict[str, Callable[[nn.Module, torch.Tensor], torch.Tensor]] = {
    "two": lambda m, x: torch.cat([m.a(x), m.b(x)], dim=1),
    "one-input-twice": lambda m, x: (lambda y: torch.cat([y, m.b(x), y], 1))(m.a(x)),
    "torch.concat": lambda m, x: torch.concat((m.a(x), m.b(x)), dim=1),
    "torch.concatenate-axis": lambda m, x: torch.concatenate([m.b(x), m.a(x)], axis=1),
    "dim-minus-3": lambda m, x: torch.cat([m.a(x), m.b(x)], -3),
    "network-input": lambda m, x: torch.cat([x, m.a(x)], 1),
}
CHANNELS = {"two": (4, 5), "one-input-twice": (4, 5, 4), "torch.concat": (4, 5), "torch.concatenate-axis": (5, 4),
            "dim-minus-3": (4, 5), "network-input": (3, 4)}


class Cat(nn.Module):
    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 5, 1)
        self.out = nn.Conv2d(sum(CHANNELS[how]), 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(CATS[self.how](self, x))


def _quantized(model: nn.Module, x: torch.Tensor, **kw: Any) -> tuple[Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize(model.eval(), x)
        return q, extract(q, x[:2], **kw)


@pytest.mark.parametrize("how", list(CATS))
def test_a_concat_of_inputs_sharing_its_qparams_is_pytorchs_concatenation_bit_for_bit(how: str) -> None:
    torch.manual_seed(len(how))
    x = torch.randn(8, 3, 7, 9)
    q, net = _quantized(Cat(how), x)
    cat = net["concat1"]
    assert isinstance(cat, ConcatLayer) and cat.kind == "concat"
    assert cat.channels == CHANNELS[how] and cat.offsets == tuple(np.cumsum((0, *CHANNELS[how][:-1])))
    assert cat.out_shape == (sum(CHANNELS[how]), 7, 9)
    assert all(cat.copies) and cat.m0s == (0,) * len(cat.inputs)  # FX shared the output's observer
    if how == "one-input-twice":
        assert cat.inputs[0] == cat.inputs[2] != cat.inputs[1]
    if how == "network-input":
        assert cat.inputs[0] == "input"
    values = trace_values(q, x)
    (ins, want) = layer_oracle(net, values)["concat1"]
    out_q = values[cat.source]
    for x_in, src in zip(ins, cat.inputs):  # verified on the converted graph: each input has the output's qparams
        v = values[net[src].source] if src != "input" else next(t for t in values.values() if getattr(t, "is_quantized", False))
        assert (v.q_scale(), v.q_zero_point()) == (out_q.q_scale(), out_q.q_zero_point())
    assert np.array_equal(want, np.concatenate(ins, axis=1))  # PyTorch's cat is a copy of codes
    assert np.array_equal(cat.forward(ins), want)
    nhwc = cat.forward([i.transpose(0, 2, 3, 1) for i in ins], channels_last=True)  # Network.run's path
    assert np.array_equal(nhwc.transpose(0, 3, 1, 2), want)
    rows = compare_layers(net, q, x)
    assert all(r.within_bound for r in rows), rows
    assert [r.equal == r.elements for r in rows if r.kind == "concat"] == [True]


class TwoCats(nn.Module):
    """z feeds two cats: golden.ptq shares one observer among every cat's inputs and outputs
    (share_cat_observers), so both copy it; an edit of b's converted qparams makes both requantize it."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(3, 5, 1), nn.Conv2d(3, 6, 3, padding=1)
        self.d, self.e, self.f = nn.Conv2d(9, 4, 1), nn.Conv2d(11, 4, 1), nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.b(x)
        return self.f(torch.cat([self.d(torch.cat([self.a(x), z], 1)), self.e(torch.cat([self.c(x), z], 1))], 1))


def _requant_agreement(cat: ConcatLayer, ins: list[np.ndarray], want: np.ndarray) -> tuple[int, int, int]:
    """(elements of requantized inputs, of them equal to PyTorch's, largest difference); asserts
    that copied inputs are exact and that a requantized one differs only at an exact tie
    (S_in / S_out x (a - z_in) = k + 1/2), where each gives one of the two codes either side: golden
    the upper when its M0 * 2^-n is S_in / S_out exactly, else the side M0's rounding puts it on;
    PyTorch the side its float32 dequantize-quantize lands on (most often the even code)."""
    got = cat.forward(ins).astype(np.int64)
    total = equal = worst = 0
    for x, copy, off, ch, z, s in zip(ins, cat.copies, cat.offsets, cat.channels, cat.z_ins, cat.scale_ins):
        g, w = got[:, off : off + ch] - cat.z_out, want[:, off : off + ch].astype(np.int64) - cat.z_out
        if copy:
            assert np.array_equal(g, w), "a copied input differs"
            continue
        v = (x.astype(np.float64) - z) * s / cat.scale_out
        tie = np.abs(v - np.floor(v) - 0.5) < 1e-9
        off_tie = (g != w) & ~tie
        assert not off_tie.any(), f"{cat.name}: {int(off_tie.sum())} differences off a tie"
        at = g != w  # the two codes either side of the tie
        assert (np.abs(np.abs(np.stack([g[at], w[at]]) - v[at]) - 0.5) < 1e-9).all()
        if float(2 * s / cat.scale_out).is_integer():
            assert (g[at] > v[at]).all()  # M0 * 2^-n is S_in / S_out exactly: golden's own tie, rounded up
        total, equal, worst = total + g.size, equal + int((~at).sum()), max(worst, int(np.abs(g - w).max()))
    return total, equal, worst


# (factor on conv b's output scale, shift of its zero point): edits of the converted model's qparams,
# with the share of requantized codes equal to PyTorch's measured here (the rest: ties, see above)
EDITS = {(1.0, -20): 1.0, (0.3, 0): 0.923763, (0.71, 9): 0.991775, (1.93, -40): 0.999718, (3.1, 30): 0.977973,
         (0.5, 0): 0.762109}


@pytest.mark.filterwarnings("ignore:All inputs of this cat operator must share")  # PyTorch's, true of these models
@pytest.mark.parametrize("factor, shift", list(EDITS), ids=[f"x{f}{d:+d}" for f, d in EDITS])
def test_a_concat_input_with_other_qparams_is_requantized_within_one_of_pytorchs_float_cat(factor: float, shift: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 3, 12, 12) * 1.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize(TwoCats().eval(), x)
        q.b.scale, q.b.zero_point = float(q.b.scale) * factor, int(q.b.zero_point) + shift
        net = extract(q, x[:2])
    oracle = layer_oracle(net, trace_values(q, x))
    cats = [l for l in net.layers if isinstance(l, ConcatLayer)]
    assert len(cats) == 3
    total = equal = worst = 0
    for cat in cats:
        ins, want = oracle[cat.name]
        assert want.shape == (64, *cat.out_shape)
        t, e, w = _requant_agreement(cat, ins, want)
        total, equal, worst = total + t, equal + e, max(worst, w)
    requantized = [c.name for c in cats if not all(c.copies)]
    assert requantized == ["concat1", "concat2"]  # z, b's output, in both
    print(f"edit x{factor} {shift:+d}: {equal / total:.4%} of {total:,} requantized codes equal PyTorch's, max |diff| {worst}")
    assert worst <= 1 and equal / total == pytest.approx(EDITS[factor, shift], abs=1e-6)


@pytest.mark.filterwarnings("ignore:All inputs of this cat operator must share")
def test_a_concat_requantizes_with_the_arith_rule() -> None:
    """The requantized input is golden.arith.requantize_codes of its codes, whose rule is
    requantize (arithmetic.md) on (a - z_in): the same M0 / n fields as a conv's output."""
    torch.manual_seed(0)
    x = torch.randn(16, 3, 12, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize(TwoCats().eval(), x)
        q.b.scale = float(q.b.scale) * 0.71  # b's output apart from the cats' shared qparams: requantized
        net = extract(q, x[:2])
    cat = net["concat1"]
    i = cat.copies.index(False)
    m0, n = arith.quantize_multiplier(cat.scale_ins[i] / cat.scale_out, m0_bits=16, where="test")
    assert (cat.m0s[i], cat.ns[i]) == (m0, n)
    ins, _ = layer_oracle(net, trace_values(q, x))[cat.name]
    part = cat.forward(ins)[:, cat.offsets[i] : cat.offsets[i] + cat.channels[i]]
    assert np.array_equal(part, arith.requantize(ins[i].astype(np.int64) - cat.z_ins[i], m0=np.array([m0]), n=np.array([n]),
                                                 z_out=cat.z_out, lo=0, hi=255))


@pytest.mark.parametrize("how, message", [
    (lambda m, x: torch.cat([m.a(x), m.a(x)], 2), r"function cat \(FX node cat\) in the forward of the model \(Refused\): "
                                                  r"concatenation along dim 2; golden concatenates along channels only"),
    (lambda m, x: torch.cat([m.a(x), m.a(x)]), r"function cat \(FX node cat\) .*: concatenation along dim 0"),
], ids=["dim-2", "default-dim-0"])
def test_concatenation_along_another_dim_is_refused_by_quantize_in_one_line(how: Any, message: str) -> None:
    with pytest.raises(UnsupportedLayerError, match=message) as exc:
        quantize(Refused(how).eval(), torch.rand(4, 3, 8, 8))
    assert "\n" not in str(exc.value)


class Refused(nn.Module):
    def __init__(self, how: Any) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3)
        self.how = how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.how(self, x)


def test_a_negative_dim_other_than_channels_is_refused_by_extract_naming_the_node() -> None:
    x = torch.rand(4, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize(Refused(lambda m, x: torch.cat([m.a(x), m.a(x)], -1)).eval(), x)  # the rank is known at extract
    with pytest.raises(UnsupportedLayerError, match=r"\(FX node cat\): concatenation along dim -1; golden concatenates "
                                                    r"along channels only \(dim=1\)") as exc:
        extract(q, x[:2])
    assert "\n" not in str(exc.value)


# ---- every new kind in one network: make golden, the export, the engine's image -------------------

class MiniSeg(nn.Module):
    """stem -> stride-2 conv -> atrous conv; cat(down, atrous) upsampled x2, cat with the stem; head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.down = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.atrous = nn.Conv2d(8, 8, 3, padding=2, dilation=2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.head = nn.Conv2d(24, 4, 1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.relu(self.stem(x))
        d = self.relu(self.down(s))
        u = self.up(torch.cat([d, self.relu(self.atrous(d))], 1))
        return self.head(torch.cat([u, s], 1))


MINISEG = """
import torch
from tests.test_golden_concat import MiniSeg


def make():
    torch.manual_seed(3)
    return MiniSeg().eval(), torch.rand(8, 3, 16, 16)
"""
KINDS = ["conv", "conv", "conv", "concat", "upsample", "concat", "pointwise"]


def test_minisegs_layers_against_pytorch_and_in_make_golden(tmp_path: Path, capsys: Any) -> None:
    from golden.__main__ import main
    from golden.cli import run_cli

    torch.manual_seed(3)
    x = torch.rand(8, 3, 16, 16)
    q, net = _quantized(MiniSeg(), x)
    assert [l.kind for l in net.layers] == KINDS
    assert net["conv3"].dilation == (2, 2) and net["upsample1"].scale == (2, 2)
    assert all(r.within_bound for r in compare_layers(net, q, x))
    f = tmp_path / "miniseg.py"
    f.write_text(MINISEG)
    assert run_cli("golden", main, ["summary", "--model", f"{f}:make"]) == 0
    out = capsys.readouterr().out
    assert "conv 3x3/s1 d2" in out and "upsample x2" in out and "concat1" in out and "golden output codes equal" in out


def test_minisegs_export_reruns_from_its_arrays_with_golden_arith(tmp_path: Path) -> None:
    from tests.test_golden_export import _documented_dtypes

    torch.manual_seed(3)
    x = torch.rand(8, 3, 16, 16)
    _q, net = _quantized(MiniSeg(), x)
    x_q = net.quantize_input(x[:2])
    out = export(net, x_q, tmp_path / "miniseg")
    doc = json.loads((out / "network.json").read_text())
    documented = _documented_dtypes()
    ran = set()
    for entry in doc["layers"]:
        if entry["kind"] not in ("concat", "upsample"):
            continue
        with np.load(out / entry["file"]) as z:
            a = {k: z[k] for k in z.files}
        for k, v in a.items():  # every array named and typed as docs/golden.md's table says (input_<i> as input_0)
            assert v.dtype.name in documented["input_0" if k.startswith("input_") else k], (entry["name"], k)
        if entry["kind"] == "upsample":
            assert entry["scale"] == [2, 2]
            y = arith.upsample_nearest(a["input"], scale=tuple(a["scale"]))
        else:
            ins = [a[k] for k in entry["input_arrays"]]
            assert entry["input_arrays"] == [f"input_{i}" for i in range(len(ins))] and len(ins) == len(entry["inputs"])
            assert a["channels"].tolist() == [i.shape[1] for i in ins] and a["offsets"].tolist() == entry["offsets"]
            y = np.concatenate([i if c else arith.requantize_codes(i, z_in=int(z), m0=int(m), n=int(n), z_out=int(a["z_out"]),
                                                                  lo=int(a["lo"]), hi=int(a["hi"]))
                                for i, c, z, m, n in zip(ins, a["copy"], a["z_in"], a["m0"], a["n"])], axis=1)
        assert np.array_equal(y, a["output"]), entry["name"]
        ran.add(entry["kind"])
    assert ran == {"concat", "upsample"}


def test_miniseg_engine_image_lists_the_kinds_it_does_not_run(tmp_path: Path, monkeypatch: Any) -> None:
    """The engine's memory image (make sim, make layers): the convs it runs (the dilated one too)
    and the upsample are laid out and checked; the concats need no copy (inputs of whole channel
    tiles, their qparams shared) or are golden only, each with the reason."""
    from tb import images
    from tb.engine.images import prepare_image

    monkeypatch.setattr(images, "IMAGES", tmp_path / "images")
    f = tmp_path / "miniseg.py"
    f.write_text(MINISEG)
    cdir, layers, _ = prepare_image(f"{f}:make", 0)
    by = {l["name"]: l for l in layers}
    assert [l["kind"] for l in layers] == KINDS
    engine = [n for n, l in by.items() if l["rtl"]]
    assert engine == ["conv1", "conv2", "conv3", "upsample1", "conv4"], engine
    for name in ("concat1", "concat2"):  # 8 + 8 and 16 + 8 channels: whole tiles of 8 (the default's rows)
        assert not by[name]["rtl"]
        assert by[name]["unsupported"].startswith("by layout, no copy: its inputs"), by[name]
    mm = json.loads((cdir / "image" / "memory_map.json").read_text())
    assert [l["name"] for l in mm["layers"]] == engine


def test_quantization_aware_training_shares_a_cats_observer_too() -> None:
    """golden.qat prepares with the same observer passes as quantize (golden.observe): a cat of an
    upsampled map and a skip is a copy of both inputs' codes after training, as after post-training
    quantization, so the accelerator places them without a copy."""
    from golden.qat import train_qat

    class Neck(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.skip, self.deep = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(3, 4, 3, stride=2, padding=1)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.head = nn.Linear(8 * 6 * 6, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(torch.flatten(torch.cat([self.skip(x), self.up(self.deep(x))], 1), 1))

    torch.manual_seed(0)
    x, y = torch.randn(32, 3, 6, 6), torch.randint(0, 3, (32,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = train_qat(Neck().eval(), x, x, y, epochs=1, freeze_epoch=1)
        net = extract(gm, x[:2])
    (cat,) = [l for l in net.layers if isinstance(l, ConcatLayer)]
    assert all(cat.copies), (cat.m0s, cat.ns)
