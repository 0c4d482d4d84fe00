"""Properties of the integer primitives, and the accumulator checked against PyTorch's float64 conv.

The layer-level agreement with PyTorch's quantized kernels is in test_golden_oracle.py; here each
primitive is held to a property the contract states (normalisation, rounding direction, smallest
shift), or to an independent implementation (torch.nn.functional.conv2d in float64).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from golden import arith


@settings(max_examples=300, deadline=None)
@given(m=st.floats(min_value=1e-9, max_value=1e3, allow_nan=False), bits=st.integers(1, 31))
def test_multiplier_is_normalised_and_rounded_to_half_an_lsb(m, bits):
    try:
        m0, n = arith.quantize_multiplier(m, m0_bits=bits, where="t")
    except arith.RangeError:
        # only when n = bits - exponent(m) (or one less after rounding up) leaves 1..63
        assert m >= 2.0 ** (bits - 2) or m < 2.0 ** (bits - arith.MAX_SHIFT - 1)
        return
    assert 2 ** (bits - 1) <= m0 < 2**bits and 1 <= n <= arith.MAX_SHIFT
    assert abs(math.ldexp(m0, -n) - m) <= math.ldexp(1, -n - 1) * (1 + 1e-12)


@settings(max_examples=300, deadline=None)
@given(b=st.floats(min_value=-(2.0**30) + 2.0**16, max_value=2.0**30 - 2.0**16, allow_nan=False))
def test_int16_shift_picks_the_smallest_shift_that_fits(b):
    codes = arith.encode_bias(np.array([b]), mode="int16_shift", where="t")
    mant, sb = int(codes.mantissa[0]), int(codes.shift[0])
    assert -(2**15) <= mant < 2**15 and 0 <= sb <= 15
    assert abs((mant << sb) - b) <= 2 ** (sb - 1) if sb else abs(mant - b) <= 0.5
    if sb:  # one shift less would not fit
        smaller = float(np.rint(math.ldexp(b, -(sb - 1))))
        assert not -(2**15) <= smaller <= 2**15 - 1


def test_requantize_ties_round_toward_plus_infinity():
    # acc * M0 / 2^n = +-0.5 and +-1.5: the contract's floor((x + 2^(n-1)) / 2^n)
    acc = np.array([[1, -1, 3, -3]], dtype=np.int64).T.reshape(1, 4)
    y = arith.requantize(acc, m0=np.array([1]), n=np.array([1]), z_out=10, lo=0, hi=255, channel_axis=0)
    assert y.tolist() == [[11, 10, 12, 9]]


def test_requantize_extremes_do_not_overflow():
    acc = np.array([[arith.INT32_MIN, arith.INT32_MAX]], dtype=np.int64)
    y = arith.requantize(acc, m0=np.array([2**31 - 1]), n=np.array([62]), z_out=128, lo=0, hi=255, channel_axis=0)
    # by hand: (-2^31 (2^31-1) + 2^61) / 2^62 = -0.5 + 2^-31 -> floor -1 -> 127;
    #          ((2^31-1)^2 + 2^61) / 2^62 = 1.5 - 2^-31 + 2^-62 -> floor 1 -> 129
    assert y.tolist() == [[127, 129]]


@pytest.mark.parametrize(
    "c,k,kh,stride,pad,groups,hw",
    [(3, 8, 3, 2, 1, 1, 9), (8, 8, 3, 1, 1, 8, 7), (8, 16, 3, 2, 1, 8, 8), (6, 9, 5, 1, 2, 3, 10), (80, 4, 3, 1, 1, 1, 5), (600, 3, 1, 1, 0, 1, 3)],
)
@pytest.mark.parametrize("carrier", ["numpy", "torch"])
def test_conv_acc_equals_pytorch_float64_conv(c, k, kh, stride, pad, groups, hw, carrier, monkeypatch):
    """Covers the float32 carrier (K <= 512), the float64 carrier (K = 720, 600) and every grouping
    path, on numpy's convolution (small convs in a process without PyTorch) and on PyTorch's
    (arith._numpy_carrier replaced so that each case takes the path asked for)."""
    monkeypatch.setattr(arith, "_numpy_carrier", lambda macs: carrier == "numpy")
    rng = np.random.default_rng(c * 1000 + k)
    x = rng.integers(0, 256, size=(2, c, hw, hw), dtype=np.uint8)
    w = rng.integers(-127, 128, size=(k, c // groups, kh, kh), dtype=np.int8)
    bias = rng.integers(-(2**20), 2**20, size=k).astype(np.int64)
    z = int(rng.integers(0, 256))
    got = arith.conv_acc(x, w, bias, z_in=z, stride=(stride, stride), padding=(pad, pad), groups=groups)
    xt = torch.from_numpy(x.astype(np.float64) - z)
    ref = F.conv2d(xt, torch.from_numpy(w.astype(np.float64)), torch.from_numpy(bias.astype(np.float64)), stride=stride, padding=pad, groups=groups)
    np.testing.assert_array_equal(got, ref.numpy().astype(np.int64))


def test_numpy_conv_equals_pytorch_float64_conv_on_random_geometries(monkeypatch):
    """The numpy carrier (what a small conv takes) on random layers: groups, depthwise with a channel
    multiplier, kernels 1..5 per axis, strides 1..3 per axis, padding 0..3 on each side (TF 'SAME'
    pads more below and right), channels first and last."""
    monkeypatch.setattr(arith, "_numpy_carrier", lambda macs: True)  # this process has PyTorch: numpy asked for
    r = np.random.default_rng(11)
    for _ in range(150):
        kind = int(r.integers(0, 3))
        groups = int(r.integers(1, 4)) if kind < 2 else int(r.integers(1, 9))
        c = groups * int(r.integers(1, 5)) if kind < 2 else groups
        k = groups * int(r.integers(1, 5)) if kind < 2 else groups * int(r.integers(1, 3))
        kh, kw = (int(v) for v in r.integers(1, 6, size=2))
        h, w = int(r.integers(kh, 12)), int(r.integers(kw, 12))
        pad = tuple(int(v) for v in r.integers(0, 4, size=4))
        stride = tuple(int(v) for v in r.integers(1, 4, size=2))
        x = r.integers(0, 256, size=(2, c, h, w), dtype=np.uint8)
        wt = r.integers(-127, 128, size=(k, c // groups, kh, kw), dtype=np.int8)
        bias = r.integers(-(2**20), 2**20, size=k).astype(np.int64)
        z = int(r.integers(0, 256))
        got = arith.conv_acc(x, wt, bias, z_in=z, stride=stride, padding=pad, groups=groups)
        got_last = arith.conv_acc(x.transpose(0, 2, 3, 1).copy(), wt, bias, z_in=z, stride=stride, padding=pad, groups=groups,
                                  channels_last=True)
        xt = F.pad(torch.from_numpy(x.astype(np.float64) - z), (pad[2], pad[3], pad[0], pad[1]))
        ref = F.conv2d(xt, torch.from_numpy(wt.astype(np.float64)), torch.from_numpy(bias.astype(np.float64)),
                       stride=stride, groups=groups).numpy().astype(np.int64)
        np.testing.assert_array_equal(got, ref)
        np.testing.assert_array_equal(got_last.transpose(0, 3, 1, 2), ref)


def test_linear_acc_equals_pytorch_float64_linear():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, size=(7, 1100), dtype=np.uint8)
    w = rng.integers(-127, 128, size=(13, 1100), dtype=np.int8)
    bias = rng.integers(-1000, 1000, size=13).astype(np.int64)
    got = arith.linear_acc(x, w, bias, z_in=200)
    ref = F.linear(torch.from_numpy(x.astype(np.float64) - 200), torch.from_numpy(w.astype(np.float64)), torch.from_numpy(bias.astype(np.float64)))
    np.testing.assert_array_equal(got, ref.numpy().astype(np.int64))


# --------------------------------------------------------------------------------------------
# Pooling: the window gathering (strided slices) against independent references
# --------------------------------------------------------------------------------------------
POOL_CASES = [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)), ((3, 3), (1, 1), (1, 1)),
              ((2, 3), (1, 2), (0, 1)), ((5, 5), (3, 3), (2, 2)), ((1, 1), (1, 1), (0, 0))]


@pytest.mark.parametrize("kernel,stride,padding", POOL_CASES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_max_pool_equals_pytorch(kernel, stride, padding, channels_last):
    rng = np.random.default_rng(sum(kernel) * 10 + sum(stride) + 100 * sum(padding))
    x = rng.integers(0, 256, size=(3, 5, 11, 9), dtype=np.uint8)
    ref = F.max_pool2d(torch.from_numpy(x.astype(np.float32)), kernel, stride, padding).numpy().astype(np.uint8)
    xin = x.transpose(0, 2, 3, 1) if channels_last else x
    got = arith.max_pool(xin, kernel=kernel, stride=stride, padding=padding, channels_last=channels_last)
    got = got.transpose(0, 3, 1, 2) if channels_last else got
    assert got.dtype == np.uint8 and np.array_equal(got, ref)


@pytest.mark.parametrize("kernel,stride", [(k, s) for k, s, p in POOL_CASES if p == (0, 0)] + [((3, 3), (2, 2))])
@pytest.mark.parametrize("channels_last", [False, True])
def test_avg_pool_windows_equal_global_pool_of_each_window(kernel, stride, channels_last):
    """Each output is golden's global average of its own window (the rounding lives once, in
    golden; this checks that avg_pool gathers the right windows)."""
    rng = np.random.default_rng(7 + sum(kernel) + sum(stride))
    x = rng.integers(0, 256, size=(2, 4, 10, 9), dtype=np.uint8)
    xin = x.transpose(0, 2, 3, 1) if channels_last else x
    got = arith.avg_pool(xin, kernel=kernel, stride=stride, channels_last=channels_last)
    got = got.transpose(0, 3, 1, 2) if channels_last else got
    (kh, kw), (sy, sx) = kernel, stride
    ho, wo = (10 - kh) // sy + 1, (9 - kw) // sx + 1
    assert got.shape == (2, 4, ho, wo)
    for oy in range(ho):
        for ox in range(wo):
            win = x[:, :, oy * sy:oy * sy + kh, ox * sx:ox * sx + kw]
            assert np.array_equal(got[:, :, oy:oy + 1, ox:ox + 1], arith.global_avg_pool(win))
