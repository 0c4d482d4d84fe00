"""The transformer operations' integer arithmetic (docs/arithmetic.md, "Transformers"), one pure
function per hardware block, and the extract-time helpers that turn float scales into their
integer constants (once per layer; nothing here rounds a float at run time).

- LayerNorm over the last axis: exact centring `x = C*q - sum(q)`, the variance sum, a restoring
  (digit-by-digit) square root of LN_SQRT_ITERS fixed iterations, one reciprocal per row, a
  per-channel multiplier and bias (gamma, beta, sqrt(C) and 1/S_out folded) and the clamp.
- softmax over the last axis: max subtraction, a 256-entry table of exp as 21-bit fixed point, the
  row sum, one integer division per row, the output codes.
- GELU: a 256-entry table of output codes.
- matmul of two activations: (a - z_a) times the int8 (b - 128), summed exactly, then
  golden.arith.requantize.

Every run-time step is exact int64 (or an exact float carrier of integers, as conv_acc), vectorised
over the elements: the only Python loops run over the square root's bit positions.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from golden import arith
from golden.errors import RangeError, ShapeError

IntArray = NDArray[np.int64]

# ---- LayerNorm -------------------------------------------------------------------------------
#: Iterations of the restoring square root: radicands below 2^(2*LN_SQRT_ITERS) = 2^48, roots of 24 bits.
LN_SQRT_ITERS = 24
#: The row reciprocal is Rr = floor((2^LN_RECIP_BITS - 1) / max(r, 1)), an unsigned 48-bit quotient.
LN_RECIP_BITS = 48
#: Fraction bits of the normalized value t = round(2^LN_NORM_BITS * x / sqrt(V)), |t| <= 2^24.
LN_NORM_BITS = 24
#: Largest per-channel shift n of the LayerNorm output multiplier (keeps the bias term below 2^57).
LN_MAX_SHIFT = 48

# ---- softmax ---------------------------------------------------------------------------------
#: exp table entries are 2^SM_EXP_BITS * exp(-d * S_in) rounded: EXP[0] = 2^20, 21-bit unsigned. (16-bit
#: entries, EXP[0] = 2^15, lose up to (1 + L) / 2^16 of a probability in the row sum: 4 LSB on 1024-long rows.)
SM_EXP_BITS = 20
#: The division's dividend D = round(2^P / S_out) is normalised to 2^51 <= D < 2^52.
SM_DIV_BITS = 52
#: Longest softmax row: the row sum (<= L * 2^20) stays below 2^32.
SM_MAX_ROW = 4095

# ---- matmul ----------------------------------------------------------------------------------
#: The b operand's zero point: its codes minus 128 are its int8 values (code ^ 0x80 in hardware).
MATMUL_Z_B = 128
#: Largest |a - z_a| * |b - 128| product term.
MATMUL_MAX_TERM = 255 * 128


def round_half_even(x: float) -> int:
    return arith.round_half_even(x)


def requant_multiplier(ratio: float, m0_bits: int, where: str) -> tuple[int, int]:
    """(M0, n) with M0 * 2^-n = ratio, the contract's normalisation (golden.arith.quantize_multiplier)."""
    return arith.quantize_multiplier(ratio, m0_bits=m0_bits, where=where)


# =============================================================================================
# Integer square root: restoring, digit by digit, a fixed number of iterations
# =============================================================================================
def isqrt_fixed(v: Any, *, iters: int = LN_SQRT_ITERS) -> IntArray:
    """floor(sqrt(v)) for every 0 <= v < 4^iters, elementwise, in exactly `iters` iterations.

    The classic restoring square root (one result bit per iteration, no divider):
        res = 0; bit = 4^(iters-1)
        repeat iters times: if v >= res + bit: v -= res + bit; res = (res >> 1) + bit
                            else: res >>= 1
                            bit >>= 2
    Invariant (docs/arithmetic.md proves it): after the iteration of bit = 4^j, with y_j =
    floor(sqrt(v0) / 2^j), res = y_j * 4^j and v = v0 - y_j^2 * 4^j; at the end (j = 0) res =
    floor(sqrt(v0)). Widths: v, the remainder and res + bit 2*iters bits, the root iters bits.
    """
    rem = np.array(v, dtype=np.int64, copy=True)
    if rem.size and (int(rem.min()) < 0 or int(rem.max()) >= 1 << (2 * iters)):
        raise RangeError(f"isqrt_fixed: radicand outside 0..4^{iters}-1 (range {rem.min()}..{rem.max()})")
    res = np.zeros_like(rem)
    for j in range(iters - 1, -1, -1):  # over bit positions, never over elements
        trial = res + np.int64(1 << (2 * j))
        ge = rem >= trial
        rem -= np.where(ge, trial, 0)
        res >>= 1
        res += np.where(ge, np.int64(1 << (2 * j)), 0)
    return res


# =============================================================================================
# LayerNorm
# =============================================================================================
def layernorm_max_sumsq(c: int) -> int:
    """The largest sum over a row of (C*q - sum q)^2 with codes q in 0..255: C^3 * 255^2 / 4
    (half the channels at 0, half at 255; floor for odd C, where the true bound is smaller)."""
    return (c**3 * 255 * 255) // 4


def layernorm_params(
    *, c: int, scale_in: float, gamma: Any, beta: Any, eps: float, scale_out: float, z_out: int, m0_bits: int, where: str
) -> dict[str, Any]:
    """The integer constants of a LayerNorm over C channels (arithmetic.md, "LayerNorm"):
    sqrt_shift P (the largest with 4^P * max sum of squares + E < 2^48), eps_term E =
    round_half_even(4^P * C^3 * eps / S_in^2), and per channel the signed multiplier G, shift n and
    bias B of y = ((t*G + B + 2^(n-1)) >> n) + z_out, G * 2^-n = gamma * sqrt(C) / (S_out * 2^24),
    B = round_half_even(b' * 2^n), b' = beta / S_out clamped to +-(257 + |gamma| sqrt(C) / S_out)
    (beyond that every output of the channel is clamped to 0 or 255 anyway)."""
    g = np.asarray(gamma, dtype=np.float64).reshape(-1)
    b = np.asarray(beta, dtype=np.float64).reshape(-1)
    if g.shape != (c,) or b.shape != (c,):
        raise ShapeError(f"{where}: LayerNorm gamma {list(g.shape)} and beta {list(b.shape)} must have C={c} values")
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(b))):
        raise RangeError(f"{where}: LayerNorm gamma or beta is not finite")
    if not (scale_in > 0 and scale_out > 0 and eps >= 0 and math.isfinite(eps)):
        raise RangeError(f"{where}: LayerNorm needs positive scales and eps >= 0 (S_in={scale_in}, S_out={scale_out}, eps={eps})")
    if not 2 <= c or layernorm_max_sumsq(c) >= 1 << (2 * LN_SQRT_ITERS):
        raise RangeError(f"{where}: LayerNorm over C={c} channels: C must be at least 2 and its sum of squares "
                         f"(C^3 * 255^2 / 4) below 2^{2 * LN_SQRT_ITERS}, so C <= 2580")
    lim = 1 << (2 * LN_SQRT_ITERS)
    eps_codes = c**3 * eps / (scale_in * scale_in)  # C^3 * eps in (input code)^2 units
    p = LN_SQRT_ITERS
    while p >= 0:
        e_term = round_half_even(math.ldexp(eps_codes, 2 * p))
        if (layernorm_max_sumsq(c) << (2 * p)) + e_term < lim:
            break
        p -= 1
    if p < 0:
        raise RangeError(f"{where}: LayerNorm eps={eps} is {eps_codes:.3g} squared input codes x C^3: past the "
                         f"square root's 2^{2 * LN_SQRT_ITERS} (the input scale {scale_in:.3g} is too small for eps)")
    ratio = np.abs(g) * math.sqrt(c) / (scale_out * 2.0**LN_NORM_BITS)
    gain = np.zeros(c, np.int64)
    shift = np.full(c, LN_MAX_SHIFT, np.int64)
    for k in range(c):  # per channel, once at extraction
        if ratio[k] == 0.0:
            continue
        if m0_bits - math.frexp(float(ratio[k]))[1] > LN_MAX_SHIFT:
            # a tiny gain: fewer significant bits, at the largest shift (possibly 0)
            m0, n = round_half_even(math.ldexp(float(ratio[k]), LN_MAX_SHIFT)), LN_MAX_SHIFT
        else:
            m0, n = requant_multiplier(float(ratio[k]), m0_bits, f"{where} channel {k}")
        gain[k] = -m0 if g[k] < 0 else m0
        shift[k] = n
    bound = 257.0 + np.abs(g) * math.sqrt(c) / scale_out
    b_out = np.clip(b / scale_out, -bound, bound)
    bias = np.array([round_half_even(math.ldexp(float(v), int(n))) for v, n in zip(b_out, shift)], np.int64)
    return {"sqrt_shift": p, "eps_term": e_term, "gain": gain, "shift": shift, "bias": bias}


def layernorm_center(q: NDArray[np.uint8]) -> IntArray:
    """x = C*q - sum(q) over the last axis: C times the centred codes, exact (no divide by C).
    |x| <= 255 * (C - 1): 17 bits signed at C = 192."""
    qi = q.astype(np.int64)
    return qi * np.int64(q.shape[-1]) - qi.sum(axis=-1, keepdims=True)


def layernorm_normalize(x: IntArray, *, sqrt_shift: int, eps_term: int) -> IntArray:
    """t = round(2^24 * x * 2^P / r) per element, r = floor(sqrt(V)), V = 4^P * sum(x^2) + E:
        V  = (sum_c x^2 << 2P) + E              # < 2^48 (checked at extraction)
        r  = isqrt_fixed(V)                     # 24 iterations, r < 2^24
        Rr = (2^48 - 1) // max(r, 1)            # one division per row, < 2^48
        t  = ((x * Rr) + 2^(s-1)) >> s,  s = 48 - 24 - P   # |x * Rr| <= 2^(48-P), |t| <= 2^24
    """
    return layernorm_scale(x, layernorm_recip(x, sqrt_shift=sqrt_shift, eps_term=eps_term), sqrt_shift=sqrt_shift)


def layernorm_recip(x: IntArray, *, sqrt_shift: int, eps_term: int) -> IntArray:
    """Rr per row (the last axis kept, size 1): V, r and the one division of layernorm_normalize."""
    v = (np.square(x).sum(axis=-1, keepdims=True) << np.int64(2 * sqrt_shift)) + np.int64(eps_term)
    r = isqrt_fixed(v)
    return np.int64((1 << LN_RECIP_BITS) - 1) // np.maximum(r, 1)


def layernorm_scale(x: IntArray, rr: IntArray, *, sqrt_shift: int) -> IntArray:
    """t = ((x * Rr) + 2^(s-1)) >> s, s = 48 - 24 - P: each row's x by its reciprocal Rr."""
    s = LN_RECIP_BITS - LN_NORM_BITS - sqrt_shift
    return (x * rr + np.int64(1 << (s - 1))) >> np.int64(s)


def layernorm_output(t: IntArray, *, gain: IntArray, shift: IntArray, bias: IntArray, z_out: int, lo: int, hi: int
                     ) -> NDArray[np.uint8]:
    """y = clamp(((t*G + B + 2^(n-1)) >> n) + z_out, lo, hi) per channel (the last axis); the sum
    is below 2^58 (|t| <= 2^24, |G| < 2^31, |B| < 2^57)."""
    y = (t * gain + bias + (np.int64(1) << (shift - 1))) >> shift
    return np.clip(y + np.int64(z_out), lo, hi).astype(np.uint8)


def layernorm(q: NDArray[np.uint8], *, sqrt_shift: int, eps_term: int, gain: IntArray, shift: IntArray, bias: IntArray,
              z_out: int, lo: int = 0, hi: int = 255) -> NDArray[np.uint8]:
    """LayerNorm of uint8 codes over the last axis: centre, normalize, requantize (the three blocks)."""
    t = layernorm_normalize(layernorm_center(q), sqrt_shift=sqrt_shift, eps_term=eps_term)
    return layernorm_output(t, gain=gain, shift=shift, bias=bias, z_out=z_out, lo=lo, hi=hi)


# =============================================================================================
# softmax
# =============================================================================================
def softmax_params(*, scale_in: float, scale_out: float, where: str) -> dict[str, Any]:
    """exp_table[d] = round_half_even(2^20 * exp(-d * S_in)) for d = 0..255 (21-bit unsigned,
    exp_table[0] = 2^20), and the division's dividend D = round(2^P / S_out) (round half up), with P
    such that 2^51 <= D < 2^52."""
    if not (scale_in > 0 and math.isfinite(scale_in) and scale_out > 0 and math.isfinite(scale_out)):
        raise RangeError(f"{where}: softmax scales must be positive (S_in={scale_in!r}, S_out={scale_out!r})")
    table = np.array([round_half_even(math.ldexp(math.exp(-d * scale_in), SM_EXP_BITS)) for d in range(256)], np.int64)
    frac, exp = math.frexp(1.0 / scale_out)  # 1/S_out = frac * 2^exp, 0.5 <= frac < 1
    p = SM_DIV_BITS - exp
    dividend = math.floor(math.ldexp(frac, SM_DIV_BITS) + 0.5)
    if dividend == 1 << SM_DIV_BITS:
        dividend, p = dividend >> 1, p - 1
    if not 1 <= p <= arith.MAX_SHIFT:
        raise RangeError(f"{where}: softmax output scale {scale_out:.3g} needs a shift of {p}, outside 1..{arith.MAX_SHIFT}")
    return {"exp_table": table, "dividend": dividend, "shift": p}


def softmax(q: NDArray[np.uint8], *, exp_table: IntArray, dividend: int, shift: int, z_out: int, lo: int = 0,
            hi: int = 255) -> NDArray[np.uint8]:
    """softmax of uint8 codes over the last axis:
        d = max(q) - q                  # 0..255, 8 bits (z_in cancels)
        e = EXP[d]                      # 21-bit unsigned, EXP[0] = 2^20
        S = sum(e)                      # 2^20 <= S <= L * 2^20 (28 bits for L = 197, 32 for L <= 4095)
        R = D // S                      # one integer division per row: 2^19 <= R <= 2^32
        y = clamp(((e*R + 2^(P-1)) >> P) + z_out, lo, hi)     # e*R < 2^52
    """
    e, s = softmax_exp(q, exp_table=exp_table)
    return softmax_output(e, np.int64(dividend) // s, shift=shift, z_out=z_out, lo=lo, hi=hi)


def softmax_exp(q: NDArray[np.uint8], *, exp_table: IntArray) -> tuple[IntArray, IntArray]:
    """e = EXP[max(q) - q] per element and S = sum(e) per row (the last axis kept, size 1)."""
    if q.shape[-1] > SM_MAX_ROW:
        raise RangeError(f"softmax row of {q.shape[-1]} elements; at most {SM_MAX_ROW}")
    d = q.max(axis=-1, keepdims=True) - q  # uint8, no wrap: max >= q
    e = np.asarray(exp_table, np.int64)[d]
    return e, e.sum(axis=-1, keepdims=True)


def softmax_output(e: IntArray, r: IntArray, *, shift: int, z_out: int, lo: int, hi: int) -> NDArray[np.uint8]:
    """y = clamp(((e*R + 2^(P-1)) >> P) + z_out, lo, hi): each row's entries by its reciprocal R."""
    y = (e * r + np.int64(1 << (shift - 1))) >> np.int64(shift)
    return np.clip(y + np.int64(z_out), lo, hi).astype(np.uint8)


# =============================================================================================
# GELU
# =============================================================================================
def gelu_float(x: float) -> float:
    """GELU(x) = x/2 * (1 + erf(x / sqrt(2))), float64 (math.erf), for the extract-time table."""
    return 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0)))


def gelu_table(*, scale_in: float, z_in: int, scale_out: float, z_out: int, lo: int = 0, hi: int = 255) -> NDArray[np.uint8]:
    """table[q] = clamp(z_out + round_half_even(GELU((q - z_in) * S_in) / S_out), lo, hi), q = 0..255."""
    vals = [z_out + round_half_even(gelu_float((q - z_in) * scale_in) / scale_out) for q in range(256)]
    return np.clip(np.array(vals, np.int64), lo, hi).astype(np.uint8)


def lookup(q: NDArray[np.uint8], table: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The output code of each input code: table[q] (a 256-entry ROM)."""
    return table[q]


# =============================================================================================
# matmul of two activations
# =============================================================================================
def matmul_acc(a: NDArray[np.uint8], b: NDArray[np.uint8], *, z_a: int, transpose_b: bool = False) -> IntArray:
    """acc[..., m, n] = sum_k (a[..., m, k] - z_a) * (b[..., k, n] - 128)   (b[..., n, k] with
    transpose_b). Leading axes broadcast. |acc| <= K * 255 * 128, checked to fit int32; computed on
    an exact float carrier (float32 while K * 255 * 128 < 2^24, i.e. K <= 513; float64 otherwise)."""
    k = a.shape[-1]
    if (b.shape[-1] if transpose_b else b.shape[-2]) != k:
        raise ShapeError(f"matmul: a is {list(a.shape)}, b is {list(b.shape)}{' (transposed)' if transpose_b else ''}: "
                         "the inner dimensions differ")
    if k * MATMUL_MAX_TERM > arith.INT32_MAX:
        raise RangeError(f"matmul: K={k} lets the accumulator leave int32 (K * 255 * 128 >= 2^31)")
    dt: Any = np.float32 if k * MATMUL_MAX_TERM < 2**24 else np.float64
    af = a.astype(dt)
    af -= dt(z_a)
    bf = b.astype(dt)
    bf -= dt(MATMUL_Z_B)
    if transpose_b:
        bf = np.swapaxes(bf, -1, -2)
    return np.matmul(af, bf).astype(np.int64)
