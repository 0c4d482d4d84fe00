"""The oracle holds PyTorch's average pools to the contract's rounding (issue 23).

`python -m golden oracle` flagged every average pool with an even window "outside the bound" and
exited 1: PyTorch rounds an exact tie (window sum / N = k + 1/2) to even, the contract (golden, the
RTL, LiteRT) half up. The oracle now moves PyTorch's half-to-even ties up to the contract's value,
and nothing else: any other difference still counts against the bound.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from golden import arith, extract, quantize
from golden.cli import run_cli
from golden.__main__ import main
from golden.oracle import compare_layers, hold_ties_to_contract


def _pool_net(pool: nn.Module, size: int) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), pool, nn.Flatten()).eval()
    return model, torch.rand(32, 3, size, size, generator=torch.Generator().manual_seed(1))


def _pool_row(pool: nn.Module, size: int):
    model, x = _pool_net(pool, size)
    qm = quantize(model, x)
    net = extract(qm, x[:2])
    return next(r for r in compare_layers(net, qm, x) if r.kind == "avgpool")


def test_hold_ties_to_contract_moves_only_ties_rounded_to_even():
    # N = 4. Sums 2, 6, 10: ties 0.5, 1.5, 2.5 (contract 1, 2, 3; half to even 0, 2, 2). Sum 3: 0.75, no tie.
    sums = np.array([2, 6, 10, 3, 2, 6, 10])
    torch_out = np.array([0, 2, 2, 1, 1, 1, 3])  # the last three: a tie rounded neither way PyTorch does
    held, ties, to_even = hold_ties_to_contract(torch_out, sums, 4)
    assert held.tolist() == [1, 2, 3, 1, 1, 1, 3]
    assert (ties, to_even) == (6, 2)


def test_odd_window_has_no_ties():
    held, ties, to_even = hold_ties_to_contract(np.array([0, 1, 1]), np.array([4, 9, 13]), 9)
    assert held.tolist() == [0, 1, 1] and (ties, to_even) == (0, 0)


@pytest.mark.parametrize("pool, size", [(nn.AvgPool2d(2), 8), (nn.AvgPool2d(4, stride=2), 12), (nn.AvgPool2d(6), 6),
                                        (nn.AdaptiveAvgPool2d(1), 6)], ids=["2x2", "4x4-s2", "global-6", "adaptive-6"])
def test_even_window_pool_is_within_bound(pool, size):
    row = _pool_row(pool, size)
    assert row.ties_to_even > 0, row  # the case the issue describes is exercised
    assert row.within_bound and row.max_abs_diff == 0, row


def test_a_golden_that_rounds_ties_down_is_still_caught(monkeypatch):
    monkeypatch.setattr(arith, "avg_round", lambda s, cnt: ((s + (cnt - 1) // 2) // cnt).astype(np.uint8))
    row = _pool_row(nn.AvgPool2d(2), 8)
    assert row.ties > 0 and not row.within_bound, row


def test_a_golden_off_by_one_off_the_ties_is_still_caught(monkeypatch):
    real = arith.avg_round

    def off(s, cnt):
        y = real(s, cnt).astype(np.int64)
        no_tie = (2 * s) % (2 * cnt) != cnt
        return np.where(no_tie & (y < 255), y + 1, y).astype(np.uint8)

    monkeypatch.setattr(arith, "avg_round", off)
    row = _pool_row(nn.AvgPool2d(2), 8)
    assert not row.within_bound, row


def test_oracle_command_exits_0_on_an_even_window_pool(tmp_path, capsys):
    f = tmp_path / "net.py"
    f.write_text("import torch\nfrom torch import nn\n\ndef make():\n    torch.manual_seed(0)\n"
                 "    return (nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten()),\n"
                 "            torch.rand(32, 3, 8, 8, generator=torch.Generator().manual_seed(1)))\n")
    status = run_cli("golden", main, ["oracle", "--model", f"{f}:make"])
    out = capsys.readouterr().out
    assert status == 0, out
    pool = next(line for line in out.splitlines() if "pool1" in line)
    assert "outside the bound" not in pool and "half to even, held to half up" in pool, out
