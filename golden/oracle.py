"""Golden measured against PyTorch's own quantized kernels, layer by layer.

Each golden layer is fed PyTorch's uint8 inputs of that layer (identical integer inputs), and its
output is compared with PyTorch's uint8 output. arithmetic.md's bound: at least 99.5% of outputs
equal and none off by more than 1 (conv / fc, for int32 and int16_shift bias, m0_bits >= 16).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import fx

from golden.graph import layer_oracle, trace_values
from golden.layers import Network

MIN_EQUAL_FRACTION = 0.995
MAX_ABS_DIFF = 1


@dataclass(frozen=True)
class LayerAgreement:
    layer: str
    kind: str
    elements: int
    equal: int
    max_abs_diff: int

    @property
    def equal_fraction(self) -> float:
        return self.equal / self.elements if self.elements else 1.0

    @property
    def within_bound(self) -> bool:
        return self.equal_fraction >= MIN_EQUAL_FRACTION and self.max_abs_diff <= MAX_ABS_DIFF

    def __str__(self) -> str:
        return (
            f"{self.layer:10s} {self.kind:10s} {self.equal_fraction:9.5%} equal of {self.elements:>8,}  "
            f"max |diff| {self.max_abs_diff}"
        )


def compare_layers(net: Network, quantized_model: fx.GraphModule, x: torch.Tensor) -> list[LayerAgreement]:
    """Per-layer agreement of golden with PyTorch on the float batch x."""
    oracle = layer_oracle(net, trace_values(quantized_model, x))
    res = []
    for layer in net.layers:
        ins, expected = oracle[layer.name]
        got = layer.forward(ins)
        diff = np.abs(got.astype(np.int64) - expected.astype(np.int64))
        res.append(LayerAgreement(layer.name, layer.kind, int(diff.size), int((diff == 0).sum()), int(diff.max(initial=0))))
    return res


def top1_agreement(net: Network, quantized_model: fx.GraphModule, x: torch.Tensor) -> float:
    from golden.graph import torch_int8_output

    q = torch_int8_output(quantized_model, x).reshape(x.shape[0], -1).argmax(1).numpy()
    g = net.predict(net.quantize_input(x))
    return float(np.mean(q == g))
