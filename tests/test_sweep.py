"""make sweep (scripts/sweep.py, issue 25 item 4): accuracy against bit widths and the accumulator
bits each width needs (golden.arith.accumulator_bits: the bound is reached, never passed)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from golden import arith
from golden.cli import run_cli

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import sweep  # noqa: E402


@pytest.mark.parametrize("w_bits,in_bits,z_in", [(8, 8, 0), (8, 8, 200), (4, 4, 3), (2, 8, 255), (3, 5, 17)])
def test_the_accumulator_bound_is_reached_by_the_worst_input_and_never_passed(w_bits, in_bits, z_in):
    """A 3x3 conv on 4 channels: the worst input (every activation at the end farther from z_in),
    weights at the top code with the sign that adds up and the largest bias reach exactly the bound's
    bits (bound = the bits of that sum + a sign bit); random inputs and weights stay within it."""
    qmax, wmax = (1 << in_bits) - 1, (1 << (w_bits - 1)) - 1
    k_dot = 4 * 3 * 3
    far = 0 if z_in > qmax - z_in else qmax  # the activation farther from z_in
    sign = 1 if far > z_in else -1
    w = np.full((1, 4, 3, 3), sign * wmax, np.int8)
    bias = np.array([1000], np.int64)
    x = np.full((1, 4, 3, 3), far, np.uint8)
    acc = arith.conv_acc(x, w, bias, z_in=z_in, stride=(1, 1), padding=(0, 0), groups=1)
    bits = arith.accumulator_bits(bias, k_dot, in_bits=in_bits, z_in=z_in, w_bits=w_bits)
    assert int(acc.max()) == 1000 + k_dot * abs(far - z_in) * wmax
    assert int(np.abs(acc).max()).bit_length() + 1 == bits  # reached
    rng = np.random.default_rng(w_bits * 100 + in_bits)
    for _ in range(50):
        xr = rng.integers(0, qmax + 1, (2, 4, 5, 5), dtype=np.uint8)
        wr = rng.integers(-wmax, wmax + 1, (3, 4, 3, 3)).astype(np.int8)
        br = rng.integers(-1000, 1001, 3).astype(np.int64)
        a = arith.conv_acc(xr, wr, br, z_in=z_in, stride=(1, 1), padding=(1, 1), groups=1)
        assert int(np.abs(a).max()).bit_length() + 1 <= arith.accumulator_bits(br, k_dot, in_bits=in_bits, z_in=z_in, w_bits=w_bits)


def test_sweep_writes_accuracies_accumulators_and_a_plot(tmp_path: Path, capsys):
    # two epochs of quantization-aware training (the sweep's default is 6): the same columns and checks
    assert sweep.main(["--model", "mlp", "--w-bits", "4,8", "--a-bits", "8", "--out", str(tmp_path), "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    res = json.loads((tmp_path / "mlp.json").read_text())
    assert (tmp_path / "mlp.png").stat().st_size > 10_000
    assert len(res["post_training"]) == 4 and len(res["trained"]) == 4 and res["test_images"] == 360
    assert "quantization-aware training (golden.qat), every layer at w/a:" in out
    assert f"float {res['float_accuracy']:.2%}" in out and "post-training, every layer at w/a:" in out
    by = {(r["w_bits"], r["keep_ends"]): r for r in res["post_training"]}
    for r in res["post_training"] + res["trained"]:
        assert 0.5 < r["accuracy"] <= 1.0  # the MLP classifies digits at 4 and 8 bits
        for n in r["accumulators"]:
            assert n["measured_bits"] <= n["bound_bits"], n
    # narrower weights need a narrower accumulator, layer by layer (the first and last stay at 8 with keep_ends)
    assert all(a["bound_bits"] < b["bound_bits"] for a, b in zip(by[(4, False)]["accumulators"], by[(8, False)]["accumulators"]))
    ends = by[(4, True)]["accumulators"]
    assert ends[0]["w_bits"] == ends[-1]["w_bits"] == 8


def test_bad_widths_are_one_line(capsys):
    assert run_cli("sweep", sweep.main, ["--model", "mlp", "--w-bits", "1,4"]) == 2
    assert capsys.readouterr().err.strip() == "sweep: error: --w-bits '1,4': golden quantizes to 2..8 bits"
    assert run_cli("sweep", sweep.main, ["--model", "mlp", "--a-bits", "x"]) == 2
    assert capsys.readouterr().err.strip() == "sweep: error: --a-bits 'x': comma-separated whole numbers"
