"""Randomly drawn single layers (seeded) against PyTorch's quantized kernels.

Shapes, kernel sizes, strides, padding, groups (normal, depthwise, grouped, pointwise), input
distributions (so scales and zero points vary), activations, residual adds and fully connected
layers. Seeds are in the test ids: `pytest tests/test_golden_random.py -k seed17` reruns one.
"""
from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from golden import extract, quantize
from golden.oracle import compare_layers

N_CONV = 40
N_FC = 12
N_ADD = 8


class Residual(nn.Module):
    def __init__(self, c: int, k: int) -> None:
        super().__init__()
        self.a = nn.Conv2d(c, c, k, padding=k // 2)
        self.b = nn.Conv2d(c, c, 1)
        self.act = nn.ReLU()

    def forward(self, x):  # type: ignore[no-untyped-def]
        y = self.a(x)
        return self.act(y + self.b(y))


def _act(rng: random.Random) -> list[nn.Module]:
    return [[], [nn.ReLU()], [nn.ReLU6()]][rng.randrange(3)]


def _input(rng: random.Random, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    lo = rng.uniform(-3.0, 1.0)
    width = rng.uniform(0.2, 6.0)
    x = torch.rand(shape, generator=g) * width + lo
    if rng.random() < 0.3:  # all-positive input: zero point 0
        x = x - x.min()
    return x


def random_conv(seed: int) -> tuple[nn.Module, torch.Tensor, str]:
    rng = random.Random(seed)
    torch.manual_seed(seed)
    k = rng.choice([1, 3, 3, 5])
    c = rng.choice([1, 3, 4, 8, 13, 16, 32])
    mode = rng.choice(["normal", "depthwise", "grouped", "pointwise"])
    if mode == "depthwise" and c > 1:
        groups, kout = c, c * rng.choice([1, 1, 2])
    elif mode == "grouped" and c % 2 == 0 and c >= 4:
        groups = rng.choice([g for g in (2, 4) if c % g == 0])
        kout = groups * rng.choice([1, 2, 3])
    else:
        groups, kout = 1, rng.choice([1, 5, 8, 16, 24])
    if mode == "pointwise":
        k = 1
    stride = rng.choice([1, 1, 2])
    pad = rng.randint(0, k // 2)
    hw = rng.randint(max(k, 3), 14)
    conv = nn.Conv2d(c, kout, k, stride=stride, padding=pad, groups=groups, bias=rng.random() < 0.85)
    with torch.no_grad():
        conv.weight.mul_(rng.uniform(0.3, 3.0))
        if conv.bias is not None:
            conv.bias.uniform_(-2.0, 2.0)
    model = nn.Sequential(conv, *_act(rng)).eval()
    x = _input(rng, (48, c, hw, hw), seed)
    desc = f"conv c{c} k{kout} {k}x{k} s{stride} p{pad} g{groups} {hw}x{hw}"
    return model, x, desc


def random_fc(seed: int) -> tuple[nn.Module, torch.Tensor, str]:
    rng = random.Random(seed)
    torch.manual_seed(seed)
    c, k = rng.randint(1, 300), rng.randint(1, 64)
    model = nn.Sequential(nn.Linear(c, k), *_act(rng)).eval()
    return model, _input(rng, (64, c), seed), f"fc {c}->{k}"


def random_add(seed: int) -> tuple[nn.Module, torch.Tensor, str]:
    rng = random.Random(seed)
    torch.manual_seed(seed)
    c, k, hw = rng.choice([2, 8, 16]), rng.choice([1, 3]), rng.randint(3, 9)
    return Residual(c, k).eval(), _input(rng, (32, c, hw, hw), seed), f"residual c{c} {k}x{k} {hw}x{hw}"


def _check(model: nn.Module, x: torch.Tensor, desc: str) -> None:
    calib, test = x[: len(x) // 2], x[len(x) // 2 :]
    qm = quantize(model, calib)
    net = extract(qm, calib[:2])
    rows = compare_layers(net, qm, test)
    print(desc, *(f"\n  {r}" for r in rows))
    bad = [r for r in rows if not r.within_bound]
    assert not bad, f"{desc}: " + "; ".join(str(r) for r in bad)


@pytest.mark.parametrize("seed", range(N_CONV), ids=lambda s: f"seed{s}")
def test_random_conv_layer(seed):
    _check(*random_conv(seed))


@pytest.mark.parametrize("seed", range(1000, 1000 + N_FC), ids=lambda s: f"seed{s}")
def test_random_fc_layer(seed):
    _check(*random_fc(seed))


@pytest.mark.parametrize("seed", range(2000, 2000 + N_ADD), ids=lambda s: f"seed{s}")
def test_random_residual_add(seed):
    _check(*random_add(seed))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 600), ids=lambda s: f"seed{s}")
def test_random_conv_layer_sweep(seed):
    _check(*random_conv(seed))
