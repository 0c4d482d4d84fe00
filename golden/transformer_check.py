"""golden's transformer records checked against float (issue 27): each layer against the float
operation fed the same dequantized input, and the whole model's output against the float model.

layer_errors: the traced float graph (golden.transformer_plan) is run with every node that a golden
record reproduces (its `source`) given golden's own output, dequantized, as its value for the nodes
after it: each float operation then sees exactly golden's input. Linear and conv use golden's int8
weights dequantized (the error of the integer arithmetic, not of the weights' rounding); everything
else (biases, LayerNorm's gamma and beta, the constants) is float. A record's error is its output
codes against the float result quantized with the record's output qparams (round half to even,
clamped to 0..255), in output LSB.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import fx

from golden.layers import ConvLayer, LinearLayer, Network
from golden.transformer_plan import META


@dataclass(frozen=True)
class LayerError:
    layer: str
    kind: str
    max_lsb: int
    mean_lsb: float
    equal: float  # fraction of outputs equal to the quantized float result

    def __str__(self) -> str:
        return f"{self.layer:10s} {self.kind:14s} max {self.max_lsb:3d} LSB  mean {self.mean_lsb:.4f}  equal {self.equal:.2%}"


def _fake_quant_weights(gm: fx.GraphModule, net: Network) -> fx.GraphModule:
    gm = copy.deepcopy(gm)
    with torch.no_grad():
        for l in net.layers:
            if isinstance(l, (ConvLayer, LinearLayer)):
                mod: Any = gm.get_submodule(l.module)
                scale = torch.from_numpy(np.array(l.weight_scale)).reshape(-1, *([1] * (l.weight.ndim - 1)))
                mod.weight.copy_((torch.from_numpy(np.array(l.weight, np.float64)) * scale).to(mod.weight.dtype))
    return gm


def layer_errors(net: Network, gm: fx.GraphModule, x: torch.Tensor) -> list[LayerError]:
    """Each record of `net` (extracted from `gm`) against its float operation on golden's own inputs."""
    qp = gm.meta[META]["qparams"]
    outs = net.run(net.quantize_input(x)).outputs
    by_source = {l.source: l for l in net.layers}
    rows: list[LayerError] = []
    iq = net.input_quant
    x_q = net.quantize_input(x).astype(np.float64)

    class _Check(fx.Interpreter):
        def run_node(self, n: fx.Node) -> Any:
            if n.op == "placeholder":  # golden's input codes, dequantized
                return torch.from_numpy((x_q - iq.zero_point) * iq.scale).float()
            out = super().run_node(n)
            layer = by_source.get(n.name)
            if layer is None:
                return out
            s, z = qp[n.name]
            codes = outs[layer.name].astype(np.int64)
            ref = np.clip(np.round(out.detach().double().numpy() / s) + z, 0, 255).astype(np.int64)
            diff = np.abs(codes - ref)
            rows.append(LayerError(layer.name, layer.kind, int(diff.max()), float(diff.mean()), float(np.mean(diff == 0))))
            return torch.from_numpy((codes - z) * s).to(out.dtype)

    with torch.no_grad():
        _Check(_fake_quant_weights(gm, net)).run(x)
    return rows


def output_agreement(net: Network, model: torch.nn.Module, x: torch.Tensor) -> tuple[float, float, float]:
    """(class agreement, mean cosine similarity, worst cosine similarity) of golden's dequantized
    output against the float model's, over the batch x."""
    g = net.dequantize_output(net.run(net.quantize_input(x)).output).reshape(len(x), -1)
    with torch.no_grad():
        f = model.eval()(x).double().numpy().reshape(len(x), -1)
    cos = (g * f).sum(1) / (np.linalg.norm(g, axis=1) * np.linalg.norm(f, axis=1) + 1e-30)
    return float(np.mean(g.argmax(1) == f.argmax(1))), float(cos.mean()), float(cos.min())
