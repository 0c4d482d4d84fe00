"""The transformer operations' integer arithmetic (issue 27 item 2; docs/arithmetic.md, "Transformers"),
checked, not assumed:

- each operation against float: PyTorch's float64 operation on the dequantized input, quantized to
  the output codes with round half to even (torch.round), over the whole input code range (all 256
  codes for GELU; for softmax and LayerNorm random rows and the extreme ones: equal values, one large
  value, the most negative code, the largest variance, several row lengths), for several scale sets;
- against an independent implementation, Hugging Face transformers' I-BERT modules (IntGELU,
  IntSoftmax, IntLayerNorm): golden uses tables and an exact centring where I-BERT uses polynomials
  and a rounded mean, so the two are compared with float and golden must be at least as close;
- the square root against math.isqrt over its whole radicand range (exhaustive below 2^20, every
  square's neighbours on a dense sample up to 2^48);
- the records: from_float's constants are integers within their stated widths, forward is
  deterministic and vectorised (a batch equals its samples one by one), misuse is refused by name.

Set INT8SIM_TF_REPORT=1 and run with -s to print the measured figures docs/arithmetic.md states.
"""
from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from golden import tf_arith
from golden.errors import RangeError, ShapeError
from golden.transformer import GeluLayer, LayerNormLayer, MatmulLayer, SoftmaxLayer, requant_multiplier

ibert = pytest.importorskip("transformers.models.ibert.quant_modules")

REPORT = os.environ.get("INT8SIM_TF_REPORT") == "1"
SEED = int(os.environ.get("INT8SIM_SEED", "0"))


def _say(*args: Any) -> None:
    if REPORT:
        print(*args)


def _codes(real: torch.Tensor, scale: float, z: int) -> np.ndarray:
    """Float values to output codes: round half to even (torch.round), plus z, clamped to 0..255."""
    return torch.clamp(torch.round(real / scale) + z, 0, 255).numpy().astype(np.int64)


def _deq(q: np.ndarray, scale: float, z: int) -> torch.Tensor:
    return torch.from_numpy((q.astype(np.float64) - z) * scale)


def _err(y: np.ndarray, ref: np.ndarray) -> tuple[int, float]:
    d = np.abs(y.astype(np.int64) - ref)
    return int(d.max()), float(np.mean(d == 0))


#: Where golden and float differ by 1, float's value (in output LSB, before rounding) lies this close to
#: a rounding tie k + 1/2: golden's value before its rounding is within TIE_LSB of float's. Measured
#: over seeds 0-3: up to 1.7e-4 (LayerNorm), 5.6e-5 (softmax). The LayerNorm's analysis gives at most
#: ~3e-4 on these scale sets (t's rounding, 2^-25 of a unit, times gamma sqrt(C) / S_out <= ~4,200 LSB;
#: docs/arithmetic.md), so 1e-3 is the bound (the softmax's worst case, every tail entry of a 1024-long
#: row rounded the same way, is 0.24 LSB; random and extreme rows stay far below it).
TIE_LSB = 1e-3


def _off_tie(y: np.ndarray, real: torch.Tensor, scale: float, z: int) -> float:
    """Among the outputs where y differs from float's codes, the largest distance of float's unrounded
    value from a tie k + 1/2 (0 if they agree everywhere)."""
    v = (real / scale).numpy() + z
    bad = y.astype(np.int64) != _codes(real, scale, z)
    return float(np.abs(v[bad] - np.floor(v[bad]) - 0.5).max()) if bad.any() else 0.0


def _meta(**kw: Any) -> dict[str, Any]:
    return {"inputs": ("x",), "module": "m", "source": "s", **kw}


# =============================================================================================
# Integer square root
# =============================================================================================
def test_isqrt_is_exact_floor_sqrt_over_its_whole_radicand_range() -> None:
    iters = tf_arith.LN_SQRT_ITERS
    top = 1 << (2 * iters)  # radicands 0 .. 2^48 - 1 (LayerNorm checks at extraction that V stays below)
    small = np.arange(1 << 20, dtype=np.int64)  # exhaustive below 2^20
    assert np.array_equal(tf_arith.isqrt_fixed(small), np.array([math.isqrt(int(v)) for v in small]))
    rng = np.random.default_rng(SEED)
    k = np.concatenate([np.arange(1, 1 << 12), rng.integers(1, 1 << iters, 150_000),
                        np.arange((1 << iters) - 4096, 1 << iters)]).astype(np.int64)
    sq = k * k
    r_sq, r_below, r_above = (tf_arith.isqrt_fixed(v) for v in (sq, sq - 1, np.minimum(sq + 2 * k, top - 1)))
    assert np.array_equal(r_sq, k) and np.array_equal(r_below, k - 1) and np.array_equal(r_above, k)
    rand = np.concatenate([rng.integers(0, top, 100_000), [0, 1, 2, 3, top - 1, top - 2, (1 << 47), (1 << 47) - 1]])
    assert np.array_equal(tf_arith.isqrt_fixed(rand), np.array([math.isqrt(int(v)) for v in rand]))
    with pytest.raises(RangeError):
        tf_arith.isqrt_fixed(np.array([top]))
    with pytest.raises(RangeError):
        tf_arith.isqrt_fixed(np.array([-1]))


# =============================================================================================
# GELU: every input code
# =============================================================================================
GELU_SCALES = [  # (S_in, z_in, S_out, z_out): an MLP's hidden activations, narrow and wide
    (0.02, 128, 0.015, 20),
    (0.05, 140, 0.03, 12),
    (0.1, 100, 0.08, 5),
    (0.03, 200, 0.01, 30),
]


#: I-BERT's nonlinear ops take their input at accumulator resolution (in I-BERT, the int32 output of the
#: linear layer before them, scale S_a * S_w): IntGELU floors its erf by 2^14, which at 8-bit codes
#: leaves nothing (max error 2.3 in real units at S_in = 0.02). They are given the same real values as
#: golden, at 2^10 times the codes' resolution: x_int = (q - z_in) * 2^10, scaling factor S_in / 2^10.
IBERT_FINER = 2**10


def _ibert_gelu(q: np.ndarray, s_in: float, z_in: int) -> torch.Tensor:
    mod = ibert.IntGELU(quant_mode=True)
    with torch.no_grad():
        y, _ = mod(_deq(q, s_in, z_in), torch.tensor(s_in / IBERT_FINER, dtype=torch.float64))
    return y.double()


@pytest.mark.parametrize("s_in, z_in, s_out, z_out", GELU_SCALES)
def test_gelu_table_against_float_and_ibert_over_every_code(s_in: float, z_in: int, s_out: float, z_out: int) -> None:
    layer = GeluLayer.from_float(**_meta(name="gelu", in_shape=(256,), scale_in=s_in, z_in=z_in, scale_out=s_out, z_out=z_out))
    q = np.arange(256, dtype=np.uint8)
    y = layer.forward([q[None]])[0]
    ref = _codes(F.gelu(_deq(q, s_in, z_in)), s_out, z_out)  # PyTorch's exact-erf GELU, float64
    err, exact = _err(y, ref)
    ref32 = _codes(F.gelu(_deq(q, s_in, z_in).float()).double(), s_out, z_out)  # a float32 model's GELU
    err32, _ = _err(y, ref32)
    ib_err, ib_exact = _err(_codes(_ibert_gelu(q, s_in, z_in), s_out, z_out), ref)
    _say(f"GELU {s_in=} {s_out=}: golden max {err} LSB ({exact:.1%} exact; vs float32 GELU {err32}), "
         f"I-BERT IntGELU max {ib_err} LSB ({ib_exact:.1%} exact)")
    assert err == 0  # the table is the float function rounded: exact
    assert err32 <= 1
    assert ib_err >= err


# =============================================================================================
# softmax: random and extreme rows, several lengths and scales
# =============================================================================================
def _softmax_rows(length: int, rng: np.random.Generator) -> np.ndarray:
    rows = [rng.integers(0, 256, (32, length)), rng.integers(150, 256, (16, length)),
            np.clip(rng.normal(128, 25, (16, length)).round(), 0, 255)]
    eq = np.repeat(np.array([[0], [97], [255]]), length, axis=1)  # a row of equal values
    one = np.zeros((3, length))
    one[:, length // 3] = (1, 40, 255)  # one large value (the rest at the most negative code, 0)
    low = np.full((2, length), 255)
    low[0, -1] = 0  # one most-negative code in a row of the largest
    low[1, : length // 2] = 0
    return np.concatenate([*rows, eq, one, low]).astype(np.uint8)


SOFTMAX_LENGTHS = (1, 2, 7, 64, 197, 1024)
SOFTMAX_SCALES = [(0.01, 30), (0.05, 128), (0.1, 200), (0.25, 10), (1.0, 128)]  # (S_in, z_in)
SOFTMAX_OUT = [(1 / 256, 0), (1 / 255, 0), (0.9 / 255, 3), (0.002, 0)]  # (S_out, z_out); the last saturates


def test_softmax_against_float_over_random_and_extreme_rows() -> None:
    rng = np.random.default_rng(SEED)
    worst, tie, exact_all = 0, 0.0, []
    for length in SOFTMAX_LENGTHS:
        q = _softmax_rows(length, rng)
        for s_in, z_in in SOFTMAX_SCALES:
            prob = torch.softmax(_deq(q, s_in, z_in), dim=-1)
            for s_out, z_out in SOFTMAX_OUT:
                layer = SoftmaxLayer.from_float(**_meta(name="sm", in_shape=(length,), scale_in=s_in, z_in=z_in,
                                                        scale_out=s_out, z_out=z_out))
                y = layer.forward([q])
                err, exact = _err(y, _codes(prob, s_out, z_out))
                worst, tie = max(worst, err), max(tie, _off_tie(y, prob, s_out, z_out))
                exact_all.append(exact)
    _say(f"softmax: golden max {worst} LSB over {len(exact_all)} (length, scales) sets; exact outputs "
         f"{min(exact_all):.2%} (worst set) .. mean {np.mean(exact_all):.3%}; differences within {tie:.2g} LSB of a tie")
    assert worst <= 1 and tie <= TIE_LSB


def _ibert_softmax(q: np.ndarray, s_in: float, z_in: int) -> np.ndarray:
    mod = ibert.IntSoftmax(output_bit=8, quant_mode=True)
    mod.train()  # its 16-bit QuantAct of the exps takes its range from this batch
    with torch.no_grad():
        y, s = mod(_deq(q, s_in, z_in), torch.tensor(s_in / IBERT_FINER, dtype=torch.float64))
    return np.minimum(torch.round(y / s).numpy().astype(np.int64), 255)  # its codes, scale 1/256


@pytest.mark.parametrize("s_in", [0.02, 0.05, 0.1, 0.2])
def test_softmax_at_least_as_close_to_float_as_ibert(s_in: float) -> None:
    rng = np.random.default_rng(SEED + 1)
    z_in = 128
    q = np.concatenate([rng.integers(0, 256, (64, 197)), np.clip(rng.normal(160, 30, (64, 197)).round(), 0, 255)]).astype(np.uint8)
    ref = _codes(torch.softmax(_deq(q, s_in, z_in), dim=-1), 1 / 256, 0)
    layer = SoftmaxLayer.from_float(**_meta(name="sm", in_shape=(197,), scale_in=s_in, z_in=z_in, scale_out=1 / 256, z_out=0))
    err, exact = _err(layer.forward([q]), ref)
    ib_err, ib_exact = _err(_ibert_softmax(q, s_in, z_in), ref)
    _say(f"softmax {s_in=}, 197-long rows, S_out 1/256: golden max {err} LSB ({exact:.2%} exact), "
         f"I-BERT IntSoftmax max {ib_err} LSB ({ib_exact:.2%} exact)")
    assert err <= 1 and err <= ib_err and exact >= ib_exact


# =============================================================================================
# LayerNorm: random and extreme rows, several sizes, gains and scales
# =============================================================================================
def _ln_rows(c: int, rng: np.random.Generator) -> np.ndarray:
    rows = [rng.integers(0, 256, (32, c)), rng.integers(120, 137, (32, c)), np.clip(rng.normal(128, 30, (32, c)).round(), 0, 255)]
    eq = np.repeat(np.array([[0], [128], [255]]), c, axis=1)  # equal values: output beta
    one = np.full((3, c), 100)
    one[:, 0] = (101, 200, 255)  # one large value (the smallest nonzero variance first)
    low = np.full((2, c), 255)
    low[0, c // 3] = 0  # the most negative code among the largest
    low[1, :] = 200
    low[1, c // 2] = 0
    half = np.zeros((2, c))
    half[0, ::2] = 255  # the largest variance (the square root's largest radicand)
    half[1, c // 2:] = 255
    return np.concatenate([*rows, eq, one, low, half]).astype(np.uint8)


LN_SIZES = (2, 3, 64, 192, 768)
LN_IN = [(0.01, 128), (0.05, 120), (0.2, 30)]


def _gains(c: int, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    mixed = rng.normal(0, 1, c)
    mixed[0] = 0.0  # a dead channel
    return {"ones": (np.ones(c), np.zeros(c)), "near-1": (rng.normal(1, 0.2, c), rng.normal(0, 0.3, c)),
            "signed": (mixed, rng.normal(0, 1, c))}


def test_layernorm_against_float_over_random_and_extreme_rows() -> None:
    rng = np.random.default_rng(SEED)
    worst, tie, exact_all, sets = 0, 0.0, [], 0
    for c in LN_SIZES:
        q = _ln_rows(c, rng)
        for s_in, z_in in LN_IN:
            for g, b in _gains(c, rng).values():
                real = F.layer_norm(_deq(q, s_in, z_in), (c,), torch.from_numpy(g), torch.from_numpy(b), 1e-6)
                for s_out, z_out in ((float(real.abs().max()) / 127, 128), (0.02, 128), (0.1, 60)):
                    layer = LayerNormLayer.from_float(**_meta(name="ln", in_shape=(c,), scale_in=s_in, z_in=z_in, gamma=g,
                                                              beta=b, eps=1e-6, scale_out=s_out, z_out=z_out))
                    y = layer.forward([q])
                    err, exact = _err(y, _codes(real, s_out, z_out))
                    worst, tie, sets = max(worst, err), max(tie, _off_tie(y, real, s_out, z_out)), sets + 1
                    exact_all.append(exact)
    _say(f"LayerNorm: golden max {worst} LSB over {sets} (C, scales, gains) sets; exact outputs "
         f"{min(exact_all):.2%} (worst set) .. mean {np.mean(exact_all):.3%}; differences within {tie:.2g} LSB of a tie")
    assert worst <= 1 and tie <= TIE_LSB


def test_layernorm_eps_counts_where_the_variance_is_small() -> None:
    """A large eps (in squared input units, against a row's tiny variance) is in the radicand as E."""
    rng = np.random.default_rng(SEED)
    c, s_in, z_in = 192, 0.01, 128
    q = np.concatenate([rng.integers(126, 131, (32, c)), _ln_rows(c, rng)]).astype(np.uint8)
    g, b = rng.normal(1, 0.2, c), rng.normal(0, 0.3, c)
    for eps in (1e-5, 1e-3, 0.1):
        real = F.layer_norm(_deq(q, s_in, z_in), (c,), torch.from_numpy(g), torch.from_numpy(b), eps)
        s_out = float(real.abs().max()) / 127
        layer = LayerNormLayer.from_float(**_meta(name="ln", in_shape=(c,), scale_in=s_in, z_in=z_in, gamma=g, beta=b,
                                                  eps=eps, scale_out=s_out, z_out=128))
        y = layer.forward([q])
        err, _ = _err(y, _codes(real, s_out, 128))
        assert err <= 1 and _off_tie(y, real, s_out, 128) <= TIE_LSB, (eps, err)


def _ibert_layernorm(q: np.ndarray, z_in: int, g: np.ndarray, b: np.ndarray) -> torch.Tensor:
    """I-BERT's IntLayerNorm on the centred codes q - z_in with scaling factor 1: its x / scaling_factor
    is then exactly the integers (with S_in as the factor, float32's centred x / S is 0.999998 for a
    code step of 1, which its floor makes 0: variance 0 and NaN outputs on a row of one large value).
    A LayerNorm does not depend on its input scale but through eps, which I-BERT does not have."""
    mod = ibert.IntLayerNorm(q.shape[-1], eps=1e-6, output_bit=8, quant_mode=True)
    mod.eval()
    with torch.no_grad():
        mod.weight.copy_(torch.from_numpy(g))
        mod.bias.copy_(torch.from_numpy(b))
        y, _ = mod(torch.from_numpy(q.astype(np.float32) - z_in)[None], torch.tensor(1.0))
    return y[0].double()


@pytest.mark.parametrize("s_in, z_in", LN_IN)
def test_layernorm_at_least_as_close_to_float_as_ibert(s_in: float, z_in: int) -> None:
    """I-BERT's IntLayerNorm (rounded mean, float sqrt floored, 2^31 // std) on the same codes. It has no
    eps (a row of equal values divides by zero) and divides beta by gamma: rows with variance, gains
    away from 0. LN_IN's scales only change the float reference's eps here."""
    rng = np.random.default_rng(SEED + 2)
    c = 192
    q = _ln_rows(c, rng)
    q = q[q.astype(np.int64).std(axis=-1) > 0]
    g, b = rng.normal(1, 0.2, c), rng.normal(0, 0.3, c)
    real = F.layer_norm(_deq(q, s_in, z_in), (c,), torch.from_numpy(g), torch.from_numpy(b), 1e-6)
    s_out, z_out = float(real.abs().max()) / 127, 128
    ref = _codes(real, s_out, z_out)
    layer = LayerNormLayer.from_float(**_meta(name="ln", in_shape=(c,), scale_in=s_in, z_in=z_in, gamma=g, beta=b, eps=1e-6,
                                              scale_out=s_out, z_out=z_out))
    err, exact = _err(layer.forward([q]), ref)
    ib_err, ib_exact = _err(_codes(_ibert_layernorm(q, z_in, g, b), s_out, z_out), ref)
    _say(f"LayerNorm {s_in=} C=192: golden max {err} LSB ({exact:.2%} exact), I-BERT IntLayerNorm max {ib_err} LSB "
         f"({ib_exact:.2%} exact)")
    assert err <= 1 and err <= ib_err and exact >= ib_exact


# =============================================================================================
# matmul of two activations
# =============================================================================================
@pytest.mark.parametrize("transpose_b", [False, True])
def test_matmul_accumulators_exact_and_output_within_one_lsb_of_float(transpose_b: bool) -> None:
    rng = np.random.default_rng(SEED)
    worst = 0
    for heads, m, k, n in ((3, 197, 64, 197), (3, 197, 197, 64), (1, 1, 1, 1), (2, 5, 600, 3)):
        a = rng.integers(0, 256, (2, heads, m, k)).astype(np.uint8)
        b = rng.integers(0, 256, (2, heads, n, k) if transpose_b else (2, heads, k, n)).astype(np.uint8)
        z_a, s_a, s_b = int(rng.integers(0, 256)), 0.04, 0.03
        f = k**-0.5 if transpose_b else 1.0
        bt = torch.from_numpy(b.astype(np.int64) - 128)
        exact = torch.matmul(torch.from_numpy(a.astype(np.int64) - z_a), bt.transpose(-1, -2) if transpose_b else bt)
        real = exact.double() * (s_a * s_b * f)
        s_out, z_out = float(real.abs().max()) / 120, 128
        layer = MatmulLayer.from_float(name="mm", inputs=("a", "b"), in_shape=a.shape[1:], in_shape_b=b.shape[1:], module="m",
                                       source="s", scale_a=s_a, z_a=z_a, scale_b=s_b, z_b=128, transpose_b=transpose_b,
                                       scale_out=s_out, z_out=z_out, out_scale_factor=f)
        assert layer.out_shape == (heads, m, n)
        assert np.array_equal(layer.accumulate(a, b), exact.numpy())
        y = layer.forward([a, b])
        err, _ = _err(y, _codes(real, s_out, z_out))
        worst = max(worst, err)
        assert _off_tie(y, real, s_out, z_out) <= TIE_LSB
    _say(f"matmul (transpose_b={transpose_b}): accumulators exact, output max {worst} LSB from float")
    assert worst <= 1


def test_matmul_extreme_operands_and_wide_k() -> None:
    """The largest terms: a - z_a = 255 against b - 128 = -128, over K = 2000 (a float64 carrier)."""
    k = 2000
    a = np.full((1, 1, 2, k), 255, np.uint8)
    b = np.zeros((1, 1, k, 3), np.uint8)
    acc = tf_arith.matmul_acc(a, b, z_a=0)
    assert np.all(acc == -k * 255 * 128)


# =============================================================================================
# Records
# =============================================================================================
def _records() -> list[Any]:
    rng = np.random.default_rng(SEED)
    c = 192
    return [
        LayerNormLayer.from_float(**_meta(name="ln", in_shape=(197, c), scale_in=0.05, z_in=120, gamma=rng.normal(1, 0.2, c),
                                          beta=rng.normal(0, 0.3, c), eps=1e-6, scale_out=0.03, z_out=128)),
        SoftmaxLayer.from_float(**_meta(name="sm", in_shape=(3, 197, 197), scale_in=0.08, z_in=140, scale_out=1 / 256, z_out=0)),
        GeluLayer.from_float(**_meta(name="gelu", in_shape=(197, 768), scale_in=0.05, z_in=140, scale_out=0.03, z_out=10)),
        MatmulLayer.from_float(name="qk", inputs=("q", "k"), in_shape=(3, 197, 64), in_shape_b=(3, 197, 64), module="m",
                               source="s", scale_a=0.05, z_a=128, scale_b=0.05, z_b=128, transpose_b=True, scale_out=0.1,
                               z_out=128, out_scale_factor=64**-0.5),
    ]


def test_record_constants_are_integers_within_their_widths() -> None:
    ln, sm, gelu, mm = _records()
    assert ln.kind == "layernorm" and sm.kind == "softmax" and gelu.kind == "gelu" and mm.kind == "matmul"
    for arr in (ln.gain, ln.shift, ln.bias, sm.exp_table):
        assert arr.dtype == np.int64 and not arr.flags.writeable
    assert gelu.table.dtype == np.uint8 and gelu.table.shape == (256,) and not gelu.table.flags.writeable
    assert np.all(np.abs(ln.gain) < 2**31) and 1 <= ln.shift.min() and ln.shift.max() <= 48
    assert np.all(np.abs(ln.bias) < 2**57)
    assert 0 <= ln.sqrt_shift <= 24 and (tf_arith.layernorm_max_sumsq(192) << 2 * ln.sqrt_shift) + ln.eps_term < 2**48
    assert sm.exp_table[0] == 2**20 and sm.exp_table.min() >= 0 and np.all(np.diff(sm.exp_table) <= 0)
    assert 2**51 <= sm.dividend < 2**52 and isinstance(sm.dividend, int) and isinstance(sm.shift, int)
    assert 2**30 <= mm.m0 < 2**31 and 1 <= mm.n <= 63 and isinstance(mm.m0, int)
    assert mm.out_shape == (3, 197, 197) and mm.macs == 3 * 197 * 197 * 64
    for r in (ln, sm, gelu, mm):
        assert isinstance(r.describe(), dict)
        with pytest.raises(AttributeError):
            r.z_out = 1  # frozen


def test_forward_is_deterministic_and_a_batch_is_its_samples() -> None:
    rng = np.random.default_rng(SEED)
    for r in _records():
        shapes = [r.in_shape] + ([r.in_shape_b] if isinstance(r, MatmulLayer) else [])
        xs = [rng.integers(0, 256, (3, *s)).astype(np.uint8) for s in shapes]
        t0 = time.perf_counter()
        y = r.forward(xs)
        took = time.perf_counter() - t0
        assert y.dtype == np.uint8 and y.shape == (3, *r.out_shape)
        assert np.array_equal(y, r.forward(xs))
        one = np.concatenate([r.forward([x[i:i + 1] for x in xs]) for i in range(3)])
        assert np.array_equal(y, one)
        assert took < 1.0, f"{r.kind} took {took:.2f} s on 3 samples: not vectorised"


def test_misuse_is_refused_naming_the_layer() -> None:
    base = dict(name="qk", inputs=("q", "k"), in_shape=(3, 197, 64), in_shape_b=(3, 197, 64), module="m", source="s",
                scale_a=0.05, z_a=128, scale_b=0.05, z_b=128, transpose_b=True, scale_out=0.1, z_out=128)
    with pytest.raises(RangeError, match="qk.*zero point 127"):
        MatmulLayer.from_float(**{**base, "z_b": 127})
    with pytest.raises(ShapeError, match="qk.*inner"):
        MatmulLayer.from_float(**{**base, "transpose_b": False})
    with pytest.raises(ShapeError, match="qk.*broadcast"):
        MatmulLayer.from_float(**{**base, "in_shape_b": (2, 197, 64)})
    with pytest.raises(ShapeError, match="ln"):
        LayerNormLayer.from_float(**_meta(name="ln", in_shape=(197, 192), scale_in=0.05, z_in=120, gamma=np.ones(191),
                                          beta=np.zeros(192), eps=1e-6, scale_out=0.03, z_out=128))
    with pytest.raises(RangeError, match="sm"):
        SoftmaxLayer.from_float(**_meta(name="sm", in_shape=(197,), scale_in=0.0, z_in=0, scale_out=1 / 256, z_out=0))
    with pytest.raises(RangeError, match="gelu"):
        GeluLayer.from_float(**_meta(name="gelu", in_shape=(8,), scale_in=0.1, z_in=300, scale_out=0.1, z_out=0))
    assert requant_multiplier(0.25, 31, "x") == (2**30, 32)
