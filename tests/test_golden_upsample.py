"""Nearest upsampling in golden/ (issue 26 item 4): nn.Upsample(mode='nearest') and
F.interpolate(mode='nearest') by whole factors per axis (scale_factor, or a size that is a whole
multiple of the input's), against PyTorch's own quantized interpolate, bit for bit.

golden.quantize calls nn.Upsample as F.interpolate, which FX's native backend runs on the
quantized tensor with its input's qparams (checked here on the converted graph), so the record
(UpsampleLayer) copies codes. Anything else (bilinear, a factor that is not whole, a size that is
not a multiple) is refused in one line naming the module or node."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from golden import UnsupportedLayerError, UpsampleLayer, extract, quantize
from golden.graph import layer_oracle, trace_values
from golden.oracle import compare_layers

UP: dict[str, Callable[[nn.Module, torch.Tensor], torch.Tensor]] = {
    "Upsample-x2": lambda m, y: m.up2(y),
    "Upsample-size": lambda m, y: m.up_size(y),  # 9x9 -> 18x27
    "interpolate-x3": lambda m, y: F.interpolate(y, scale_factor=3),
    "interpolate-2x3": lambda m, y: F.interpolate(y, scale_factor=(2, 3), mode="nearest"),
    "interpolate-size": lambda m, y: F.interpolate(y, size=(36, 18)),  # 9x9 -> 36x18
    "two-in-a-row": lambda m, y: F.interpolate(m.up2(y), scale_factor=2.0),
}
SCALES = {"Upsample-x2": [(2, 2)], "Upsample-size": [(2, 3)], "interpolate-x3": [(3, 3)], "interpolate-2x3": [(2, 3)],
          "interpolate-size": [(4, 2)], "two-in-a-row": [(2, 2), (2, 2)]}


class Up(nn.Module):
    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.up2 = nn.Upsample(scale_factor=2, mode="nearest")
        self.up_size = nn.Upsample(size=(18, 27))
        self.out = nn.Conv2d(6, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(UP[self.how](self, F.relu(self.conv(x))))


def _quantized(model: nn.Module, x: torch.Tensor) -> tuple[Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize(model.eval(), x)
        return q, extract(q, x[:2])


@pytest.mark.parametrize("how", list(UP))
def test_nearest_upsampling_copies_pytorchs_codes_bit_for_bit(how: str) -> None:
    torch.manual_seed(len(how))
    m = Up(how).eval()
    x = torch.randn(8, 3, 9, 9)
    q, net = _quantized(m, x)
    ups = [l for l in net.layers if isinstance(l, UpsampleLayer)]
    assert [u.scale for u in ups] == SCALES[how]
    assert [l.kind for l in net.layers] == ["conv", *["upsample"] * len(ups), "conv"]
    values = trace_values(q, x)
    oracle = layer_oracle(net, values)
    for u in ups:
        # PyTorch's quantized interpolate keeps its input's qparams: a copy of codes
        src = net[u.inputs[0]].source
        assert (values[u.source].q_scale(), values[u.source].q_zero_point()) == (values[src].q_scale(), values[src].q_zero_point())
        (x_in,), want = oracle[u.name]
        c, h, w = u.in_shape
        assert u.out_shape == (c, h * u.scale[0], w * u.scale[1]) and want.shape == (8, *u.out_shape)
        assert np.array_equal(u.forward([x_in]), want), u.name
        # the channels-last path Network.run takes, on the same codes
        nhwc = u.forward([x_in.transpose(0, 2, 3, 1)], channels_last=True)
        assert np.array_equal(nhwc.transpose(0, 3, 1, 2), want), u.name
    rows = {r.layer: r for r in compare_layers(net, q, x)}
    assert all(r.within_bound for r in rows.values()), rows
    assert all(rows[u.name].equal == rows[u.name].elements > 0 for u in ups)
    with torch.no_grad():
        assert tuple(net.layers[-1].out_shape) == tuple(m(x).shape[1:])


def test_upsampling_the_network_input_reads_the_input_codes() -> None:
    class InputUp(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(F.interpolate(x, scale_factor=2))

    torch.manual_seed(1)
    x = torch.rand(4, 3, 5, 5)
    q, net = _quantized(InputUp(), x)
    up = net["upsample1"]
    assert up.inputs == ("input",) and up.scale == (2, 2)
    codes = net.quantize_input(x)
    assert np.array_equal(net.run(codes)["upsample1"], trace_values(q, x)[up.source].int_repr().numpy())
    assert np.array_equal(net.run(codes)["upsample1"][:, :, 1::2, ::2], codes)


REFUSED_AT_QUANTIZE = {
    "bilinear": (lambda m, y: m.bilinear(y), r"module 'bilinear' \(Upsample\): mode='bilinear'; golden upsamples by nearest neighbour only"),
    "by-1.5": (lambda m, y: F.interpolate(y, scale_factor=1.5),
               r"function interpolate \(FX node interpolate\) in the forward of the model \(Refused\): scale_factor=1.5; "
               r"golden upsamples by whole factors"),
    "align-corners": (lambda m, y: F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=True),
                      r"function interpolate \(FX node interpolate\) .*: mode='bilinear'; golden upsamples by nearest"),
}


class Refused(nn.Module):
    def __init__(self, how: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bilinear = nn.Upsample(scale_factor=2, mode="bilinear")
        self.how = how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.how(self, self.conv(x))


@pytest.mark.parametrize("case", list(REFUSED_AT_QUANTIZE))
def test_other_upsampling_is_refused_by_quantize_in_one_line(case: str) -> None:
    how, message = REFUSED_AT_QUANTIZE[case]
    with pytest.raises(UnsupportedLayerError, match=message) as exc:
        quantize(Refused(how).eval(), torch.rand(4, 3, 8, 8))
    assert "\n" not in str(exc.value)


def test_a_size_that_is_no_whole_multiple_is_refused_by_extract_naming_the_node() -> None:
    m = Refused(lambda m, y: F.interpolate(y, size=(10, 12))).eval()  # 6x6 -> 10x12
    x = torch.rand(4, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize(m, x)
    with pytest.raises(UnsupportedLayerError, match=r"\(FX node interpolate\): upsampling 6x6 to 10x12 is not by whole "
                                                    r"factors per axis") as exc:
        extract(q, x[:2])
    assert "\n" not in str(exc.value)


def test_bilinear_in_a_model_the_user_converted_is_refused_by_extract() -> None:
    from torch.ao.quantization import QConfigMapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    from golden.ptq import contract_qconfig

    m = Refused(lambda m, y: F.interpolate(y, scale_factor=2, mode="bilinear")).eval()
    x = torch.rand(4, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare_fx(m, QConfigMapping().set_global(contract_qconfig()), example_inputs=(x[:1],))
        prepared(x)
        q = convert_fx(prepared)
    with pytest.raises(UnsupportedLayerError, match=r"FX node interpolate\): mode='bilinear'; golden upsamples by nearest"):
        extract(q, x[:2])


def test_make_golden_refuses_bilinear_in_one_line(tmp_path: Path, capsys: Any) -> None:
    from golden.__main__ import main
    from golden.cli import run_cli

    f = tmp_path / "bilinear.py"
    f.write_text("import torch\nfrom torch import nn\n\n\ndef make():\n    torch.manual_seed(0)\n"
                 "    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.Upsample(scale_factor=2, mode='bilinear')).eval(), "
                 "torch.rand(4, 1, 8, 8)\n")
    assert run_cli("golden", main, ["summary", "--model", f"{f}:make"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("golden: error: "), err
    assert "module '1' (Upsample): mode='bilinear'" in err[0] and "Traceback" not in err[0]
