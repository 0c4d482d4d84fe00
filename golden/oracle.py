"""Golden measured against PyTorch's own quantized kernels, layer by layer.

Each golden layer is fed PyTorch's uint8 inputs of that layer (identical integer inputs), and its
output is compared with PyTorch's uint8 output. arithmetic.md's bound: at least 99.5% of outputs
equal and none off by more than 1 (conv / fc, for int32 and int16_shift bias, m0_bits >= 16).

Average pools: the contract rounds an exact tie (window sum / N = k + 1/2) up, to k + 1, as golden,
the RTL and LiteRT do; PyTorch rounds it to even, to k when k is even. So where PyTorch gave k at a
tie with k even, its output is held to the contract (k + 1) before the comparison, and the number of
such outputs is reported. Nothing else is adjusted: any other difference, a tie PyTorch rounded some
other way, or a golden that does not give k + 1 at a tie, still counts against the bound.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import fx

from golden.graph import layer_oracle, trace_values
from golden.layers import AvgPoolLayer, Network

MIN_EQUAL_FRACTION = 0.995
MAX_ABS_DIFF = 1


@dataclass(frozen=True)
class LayerAgreement:
    layer: str
    kind: str
    elements: int
    equal: int
    max_abs_diff: int
    #: average pools: outputs whose exact average is a tie (k + 1/2), and those of them where
    #: PyTorch rounded half to even (k, k even), held to the contract's half up (k + 1)
    ties: int = 0
    ties_to_even: int = 0

    @property
    def equal_fraction(self) -> float:
        return self.equal / self.elements if self.elements else 1.0

    @property
    def within_bound(self) -> bool:
        return self.equal_fraction >= MIN_EQUAL_FRACTION and self.max_abs_diff <= MAX_ABS_DIFF

    def __str__(self) -> str:
        ties = (f"  ({self.ties:,} ties; PyTorch rounded {self.ties_to_even:,} half to even, held to half up)"
                if self.ties else "")
        return (
            f"{self.layer:10s} {self.kind:10s} {self.equal_fraction:9.5%} equal of {self.elements:>8,}  "
            f"max |diff| {self.max_abs_diff}{ties}"
        )


def hold_ties_to_contract(expected: np.ndarray, sums: np.ndarray, count: int) -> tuple[np.ndarray, int, int]:
    """PyTorch's average-pool outputs `expected` with its ties-to-even held to the contract's half up.

    `sums` are the window sums and `count` the elements per window (golden's own, on the same
    inputs). At a tie, sum / count = k + 1/2: half to even gives k when k is even, the contract
    k + 1. Only those outputs change, by +1. Returns (held outputs, ties, outputs changed)."""
    exp = expected.astype(np.int64)
    tie = (2 * sums) % (2 * count) == count
    k = sums // count
    to_even = tie & (exp == k) & (k % 2 == 0)
    return exp + to_even, int(tie.sum()), int(to_even.sum())


def compare_layers(net: Network, quantized_model: fx.GraphModule, x: torch.Tensor) -> list[LayerAgreement]:
    """Per-layer agreement of golden with PyTorch on the float batch x."""
    oracle = layer_oracle(net, trace_values(quantized_model, x))
    res = []
    for layer in net.layers:
        ins, expected = oracle[layer.name]
        got = layer.forward(ins)
        exp = expected.astype(np.int64)
        ties = to_even = 0
        if isinstance(layer, AvgPoolLayer):
            exp, ties, to_even = hold_ties_to_contract(exp, *layer.window_sums(ins))
        diff = np.abs(got.astype(np.int64) - exp)
        res.append(LayerAgreement(layer.name, layer.kind, int(diff.size), int((diff == 0).sum()), int(diff.max(initial=0)),
                                  ties, to_even))
    return res


def top1_agreement(net: Network, quantized_model: fx.GraphModule, x: torch.Tensor) -> float:
    from golden.graph import torch_int8_output

    q = torch_int8_output(quantized_model, x).reshape(x.shape[0], -1).argmax(1).numpy()
    g = net.predict(net.quantize_input(x))
    return float(np.mean(q == g))
