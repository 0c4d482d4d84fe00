"""golden's networks of several outputs (golden.layers.Network.output_names): a detector's heads."""
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
from golden.layers import Network
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
