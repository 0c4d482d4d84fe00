"""The generated model MODEL=yolo_small (golden/models/yolo_small.py): a YOLO-style detector at
320x320 (residual backbone, an FPN neck that upsamples and concatenates, two heads), and golden's
networks of several outputs (golden.layers.Network.output_names) that its two heads need."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from golden import extract, quantize
from golden.__main__ import main
from golden.errors import ShapeError, UnsupportedLayerError
from golden.graph import torch_int8_output, torch_int8_outputs
from golden.layers import AddLayer, ConcatLayer, ConvLayer, Network, UpsampleLayer
from golden.models import GENERATED, load_model
from golden.models.mobilenetv2_224 import calibration_images
from golden.models.yolo_small import DEAD, YoloSmall, generate, load
from golden.oracle import compare_layers


class TwoHeads(nn.Module):
    """A detector in miniature: two heads at two strides, the deeper upsampled and concatenated."""

    def __init__(self, returns: str = "tuple") -> None:
        super().__init__()
        self.returns = returns
        self.a, self.b = nn.Conv2d(3, 8, 3, 2, 1), nn.Conv2d(8, 8, 3, 2, 1)
        self.h1, self.h2 = nn.Conv2d(8, 5, 1), nn.Conv2d(16, 6, 1)

    def forward(self, x: torch.Tensor):  # type: ignore[no-untyped-def]
        a = F.relu(self.a(x))
        b = F.relu(self.b(a))
        h1, h2 = self.h1(b), self.h2(torch.cat([F.interpolate(b, scale_factor=2), a], dim=1))
        if self.returns == "nested":
            return h1, (h2, b)
        return [h1, h2] if self.returns == "list" else (h1, h2)


def two_heads(returns: str = "tuple") -> tuple[Network, torch.fx.GraphModule, torch.Tensor]:
    torch.manual_seed(0)
    model, x = TwoHeads(returns).eval(), torch.rand(4, 3, 16, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize(model, x)
        return extract(q, x[:2]), q, x


@pytest.mark.parametrize("returns", ["tuple", "list"])
def test_a_network_of_several_outputs(returns: str) -> None:
    net, q, x = two_heads(returns)
    assert net.output_names == ("conv3", "conv4") and net.output_name == "conv3"
    assert [net[n].module for n in net.output_names] == ["h1", "h2"]
    torch_outs = torch_int8_outputs(q, x)
    assert [tuple(t.shape[1:]) for t in torch_outs] == [(5, 4, 4), (6, 8, 8)]
    assert torch.equal(torch_int8_output(q, x), torch_outs[0])
    res = net.run(net.quantize_input(x))
    for name, t in zip(net.output_names, torch_outs):
        scale, zero_point = net.output_qparams(name)
        assert (scale, zero_point) == (net[name].scale_out, net[name].requant.z_out)  # type: ignore[attr-defined]
        assert np.allclose(net.dequantize_output(res[name], name), t.numpy(), atol=scale)  # within one code
    assert net.output_qparams() == (net.output_scale, net.output_zero_point)
    assert "outputs conv3, conv4;" in net.table()
    assert all(r.within_bound for r in compare_layers(net, q, x))
    with pytest.raises(KeyError, match="conv1 is not an output|'conv1' is not an output"):
        net.output_qparams("conv1")
    with pytest.raises(ShapeError, match="output 'conv9' is not a layer"):
        Network(layers=net.layers, input_quant=net.input_quant, output_name="conv3", output_scale=1.0, output_zero_point=0,
                bias_mode=net.bias_mode, m0_bits=net.m0_bits, extra_outputs=(("conv9", 1.0, 0),))


def test_the_export_names_every_output() -> None:
    from golden.export import geometry

    net, _, _ = two_heads()
    doc = geometry(net)
    assert doc["outputs"] == [{"layer": n, "scale": net.output_qparams(n)[0], "zero_point": net.output_qparams(n)[1]}
                              for n in ("conv3", "conv4")]
    assert doc["output"] == doc["outputs"][0]


def test_a_nested_output_is_refused_in_one_line() -> None:
    with pytest.raises(UnsupportedLayerError, match="the model returns tuples holding a tuple; golden takes a tensor, "
                                                    "or a tuple or list of tensors"):
        two_heads("nested")


def test_summary_compares_each_output(tmp_path, capsys) -> None:
    (tmp_path / "heads.py").write_text(
        "import torch\nfrom torch import nn\n\n\nclass Heads(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.a, self.h1, self.h2 = nn.Conv2d(3, 8, 3, 2, 1), nn.Conv2d(8, 5, 1), nn.Conv2d(8, 6, 1)\n\n"
        "    def forward(self, x):\n        a = nn.functional.relu(self.a(x))\n        return self.h1(a), self.h2(a)\n\n\n"
        "def make():\n    torch.manual_seed(0)\n    return Heads().eval(), torch.rand(4, 3, 16, 16)\n")
    assert main(["summary", "--model", f"{tmp_path / 'heads.py'}:make"]) == 0
    out = capsys.readouterr().out
    assert "outputs 5x8x8, 6x8x8 are not a vector of class scores" in out
    assert "golden output conv2 codes equal PyTorch int8's on" in out and "golden output conv3 codes equal" in out
    assert "all 3 layers within the bound" in out


def test_architecture_at_320() -> None:
    model = YoloSmall()
    assert sum(p.numel() for p in model.parameters()) == 1_497_222
    out1, out2 = model.to("meta")(torch.empty(1, 3, 320, 320, device="meta"))  # shapes only (MACs: golden's, below)
    assert (tuple(out1.shape), tuple(out2.shape)) == ((1, 75, 10, 10), (1, 75, 20, 20))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 21 and sum(c.stride == (2, 2) for c in convs) == 5
    # TF 'SAME' on even sides: every stride-2 conv pads right and bottom (mobilenetv2_224's conv)
    assert sum(isinstance(m, nn.ZeroPad2d) and m.padding == (0, 1, 0, 1) for m in model.modules()) == 5
    with pytest.raises(ValueError, match="multiple of 32"):
        YoloSmall(300)


def test_generated_weights_are_deterministic_with_dead_channels() -> None:
    a, calibration = load()  # what MODEL=yolo_small loads
    assert GENERATED["yolo_small"][1] == load.__module__ and tuple(calibration.shape) == (16, 3, 320, 320)
    b, c = generate(calibration=calibration), generate(seed=1, calibration=calibration)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.head2_out.weight, c.head2_out.weight)
    convs = [m for m in a.modules() if isinstance(m, nn.Conv2d)]
    dead = [int((m.weight.flatten(1).abs().sum(1) == 0).sum()) for m in convs]
    assert {i: n for i, n in enumerate(dead) if n} == dict(DEAD)


def test_trained_weights_load_through_a_factory(tmp_path) -> None:
    trained = YoloSmall()
    with torch.no_grad():
        for p in trained.parameters():
            p.uniform_(-0.1, 0.1)
    torch.save(trained.state_dict(), tmp_path / "weights.pt")
    (tmp_path / "mine.py").write_text(
        "from golden.models.yolo_small import load\n\n\n"
        f"def make():\n    return load({str(tmp_path / 'weights.pt')!r}, size=64)\n")
    loaded = load_model(f"{tmp_path / 'mine.py'}:make")
    got = loaded.float_model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in trained.state_dict().items())
    assert tuple(loaded.calibration.shape[1:]) == (3, 64, 64)
    assert {"to_c4.0.1.weight", "to_c4.7.conv.1.0.weight", "to_c5.1.conv.0.0.bias", "merge.0.weight",
            "head1_out.weight", "head2_out.bias"} <= set(got)


def test_golden_matches_pytorchs_kernels_at_320() -> None:
    x = calibration_images(4, size=320)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize(generate(calibration=x), x)
        net = extract(q, x[:2])
    assert sum(isinstance(l, ConvLayer) for l in net.layers) == 21 and sum(isinstance(l, AddLayer) for l in net.layers) == 5
    assert sum(l.macs for l in net.compute_layers()) == 420_684_800
    (up,) = [l for l in net.layers if isinstance(l, UpsampleLayer)]
    (cat,) = [l for l in net.layers if isinstance(l, ConcatLayer)]
    assert (up.scale, up.in_shape, up.out_shape) == ((2, 2), (64, 10, 10), (64, 20, 20))
    assert cat.inputs[0] == up.name and cat.channels == (64, 128) and all(cat.copies)
    assert net[cat.inputs[1]].kind == "add"  # C4, the last residual add at stride 16, read by the cat and the next conv
    assert [(net[n].module, net[n].out_shape) for n in net.output_names] == [("head1_out", (75, 10, 10)), ("head2_out", (75, 20, 20))]
    rows = compare_layers(net, q, x[:1])
    bad = [str(r) for r in rows if not r.within_bound]
    assert not bad, "golden outside the bound of PyTorch's int8 kernels:\n" + "\n".join(bad)


def test_make_models_lists_the_generated_models(capsys) -> None:
    assert main(["models"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names[-5:] == ["mobilenetv2_224", "deeplabv3_513", "yolo_small", "deit_tiny", "vit_small_test"] == list(GENERATED)
