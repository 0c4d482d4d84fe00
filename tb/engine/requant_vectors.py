"""Stimulus for the requantizer benches, and its expected values from golden/.

Pure functions (no simulator): corner and constrained-random vector sets, the expected outputs
(golden.arith.bias_term + golden.arith.requantize, never the formula written again), and the hex
files the stream harness (tb/engine/hdl/requant_tb.sv) reads and writes.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tb.engine.golden_ref import arith

INT32_MIN, INT32_MAX = arith.INT32_MIN, arith.INT32_MAX
INT16_MIN, INT16_MAX = arith.INT16_MIN, arith.INT16_MAX
M0_MAX = 2**31 - 1
#: Output clamp configurations: (name, function of z -> (lo, hi)) chosen per beat.
CLAMP_MODES = ("none", "relu", "relu6", "random")


@dataclass
class Vectors:
    """Requantizer stimulus, one row per beat, one column per lane.

    acc: raw MAC sum (int32); mant/shift: bias mantissa and shift (bias_term = mant << shift);
    m0, n: per-lane multiplier; z/lo/hi: per beat (shared by the lanes of a beat).
    """

    acc: np.ndarray  # [B, L] int64
    mant: np.ndarray  # [B, L]
    shift: np.ndarray  # [B, L]
    m0: np.ndarray  # [B, L]
    n: np.ndarray  # [B, L]
    z: np.ndarray  # [B]
    lo: np.ndarray  # [B]
    hi: np.ndarray  # [B]

    @property
    def beats(self) -> int:
        return int(self.acc.shape[0])

    @property
    def lanes(self) -> int:
        return int(self.acc.shape[1])

    @property
    def count(self) -> int:
        return self.acc.size

    def total(self) -> np.ndarray:
        """acc + bias_term: the accumulator value the contract requantizes (golden.arith.bias_term)."""
        return self.acc + arith.bias_term(self.mant.ravel(), self.shift.ravel()).reshape(self.acc.shape)

    def row(self, b: int, l: int) -> dict[str, int]:
        return {
            "acc": int(self.acc[b, l]), "bias_mant": int(self.mant[b, l]), "bias_shift": int(self.shift[b, l]),
            "m0": int(self.m0[b, l]), "n": int(self.n[b, l]), "z_out": int(self.z[b]), "lo": int(self.lo[b]),
            "hi": int(self.hi[b]),
        }


def expected(v: Vectors) -> np.ndarray:
    """Golden outputs [B, L] (uint8): golden.arith.requantize per (z_out, lo, hi) group."""
    total = v.total()
    arith.check_int32(total, "requant bench: acc + bias_term")
    out = np.zeros(v.acc.shape, np.uint8)
    zlh = np.stack([v.z, v.lo, v.hi], axis=1)
    keys, inv = np.unique(zlh, axis=0, return_inverse=True)
    inv = inv.ravel()
    for g, (z, lo, hi) in enumerate(keys):
        rows = inv == g
        out[rows] = arith.requantize(
            total[rows].ravel(), m0=v.m0[rows].ravel(), n=v.n[rows].ravel(), z_out=int(z), lo=int(lo), hi=int(hi),
            channel_axis=0,
        ).reshape(-1, v.lanes)
    return out


def _assemble(acc, mant, shift, m0, n, z, lo, hi, lanes: int) -> Vectors:
    """Flat per-vector arrays -> Vectors with `lanes` columns (padded by repeating the first rows).

    z/lo/hi are per beat: the value of a beat's first vector is used for all of its lanes.
    """
    cnt = len(acc)
    beats = -(-cnt // lanes)
    pad = beats * lanes - cnt
    def sq(a):
        a = np.asarray(a, np.int64)
        if pad:
            a = np.concatenate([a, a[:pad] if pad <= cnt else np.resize(a, pad)])
        return a.reshape(beats, lanes)
    zb, lob, hib = (sq(x)[:, 0] for x in (z, lo, hi))
    return Vectors(sq(acc), sq(mant), sq(shift), sq(m0), sq(n), zb, lob, hib)


def clamp_bounds(rng: np.random.Generator, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """lo/hi per vector: none (0, 255), ReLU (z, 255), ReLU6 (z, min(255, z + r)), random lo <= hi."""
    cnt = len(z)
    mode = rng.integers(0, 4, cnt)
    r = rng.integers(1, 256, cnt)
    a = rng.integers(0, 256, cnt)
    b = rng.integers(0, 256, cnt)
    lo = np.select([mode == 0, mode == 1, mode == 2], [0, z, z], np.minimum(a, b))
    hi = np.select([mode == 0, mode == 1, mode == 2], [255, 255, np.minimum(255, z + r)], np.maximum(a, b))
    return lo.astype(np.int64), hi.astype(np.int64)


def random_vectors(rng: np.random.Generator, count: int, lanes: int, m0_bits: int | None) -> Vectors:
    """Constrained-random vectors.

    m0_bits: 16 (default contract width), 1 (power-of-two mode: M0 = 1), None (each vector its own
    width 1..31, so M0 reaches 2^31 - 1). Accumulators are log-uniform in magnitude with both signs
    and the int32 extremes; bias in the three modes (int16 << 0..15, int16, int32) kept so that
    acc + bias_term fits int32 (the contract); n mostly chosen so the output lands near the uint8
    range (real layers), sometimes anywhere in 1..63; 10% exact rounding ties.
    """
    bits = np.full(count, m0_bits) if m0_bits is not None else rng.integers(1, 32, count)
    m0 = np.where(bits == 1, 1, rng.integers(0, 2**31, count) % (1 << np.maximum(bits - 1, 0)) + (1 << (bits - 1)))
    m0 = np.where((m0_bits is None) & (rng.random(count) < 0.05), M0_MAX, m0)
    # accumulator (the sum acc + bias_term): log-uniform magnitude, random sign, some extremes
    mag = np.floor(np.exp2(rng.random(count) * 31.0)).astype(np.int64)
    total = np.where(rng.random(count) < 0.5, -mag, mag)
    ext = rng.random(count)
    total = np.where(ext < 0.02, INT32_MIN, np.where(ext < 0.04, INT32_MAX, np.where(ext < 0.05, 0, total)))
    # n: output magnitude about 2^t with t in -3..10, or anywhere
    log_acc = np.log2(np.maximum(np.abs(total), 1)).astype(np.int64)
    n = log_acc + bits - rng.integers(-3, 11, count)
    n = np.where(rng.random(count) < 0.15, rng.integers(1, 64, count), n)
    n = np.clip(n, 1, 63)
    # exact ties: total * m0 = odd * 2^(n-1) for m0 = odd * 2^t  <=>  total = odd' * 2^(n-1-t)
    tz = np.array([(int(x) & -int(x)).bit_length() - 1 for x in m0], np.int64)
    tie = rng.random(count) < 0.10
    n = np.where(tie, rng.integers(1, 32, count), n)
    e = n - 1 - tz
    ok = tie & (e >= 0) & (e <= 30)
    e_ok = np.where(ok, e, 0)
    odd_lim = np.maximum(1, (1 << (30 - e_ok)) // 2)
    odd = 2 * rng.integers(0, odd_lim) + 1
    tie_val = odd * (1 << e_ok) * np.where(rng.random(count) < 0.5, -1, 1)
    total = np.where(ok, tie_val, total)
    # bias in one of the three modes
    mode = rng.integers(0, 3, count)
    m16 = np.floor(np.exp2(rng.random(count) * 15.0)).astype(np.int64) * np.where(rng.random(count) < 0.5, -1, 1)
    m16 = np.where(rng.random(count) < 0.02, INT16_MIN, np.where(rng.random(count) < 0.02, INT16_MAX, m16))
    m32 = np.floor(np.exp2(rng.random(count) * 31.0)).astype(np.int64) * np.where(rng.random(count) < 0.5, -1, 1)
    mant = np.where(mode == 2, m32, m16)
    shift = np.where(mode == 0, rng.integers(0, 16, count), 0)
    bterm = arith.bias_term(mant, shift)
    acc = total - bterm
    bad = (acc < INT32_MIN) | (acc > INT32_MAX)
    mant = np.where(bad, 0, mant)
    shift = np.where(bad, 0, shift)
    acc = np.where(bad, total, acc)
    # (z_out, lo, hi) from a pool of 256 random configurations (per beat; golden is called per group)
    pz = rng.integers(0, 256, 256)
    pz[:2] = (0, 255)
    plo, phi = clamp_bounds(rng, pz)
    pick = rng.integers(0, 256, count)
    z, lo, hi = pz[pick], plo[pick], phi[pick]
    return _assemble(acc, mant, shift, m0, n, z, lo, hi, lanes)


def corner_vectors(lanes: int) -> Vectors:
    """Deterministic corners: int32 extremes, M0 in {1, 2^15, 2^16-1, 2^30, 2^31-1}, n in {1, 2, 15,
    16, 31, 32, 33, 62, 63}, biases at the ends of every mode, clamp configurations, exact ties."""
    totals = [INT32_MIN, INT32_MIN + 1, -(2**30), -1, 0, 1, 2**30, INT32_MAX]
    biases = [(0, 0), (INT16_MAX, 15), (INT16_MIN, 15), (INT16_MIN, 0), (INT32_MAX, 0), (INT32_MIN, 0), (-1, 15)]
    m0s = [1, 2**15, 2**16 - 1, 2**30, M0_MAX]
    ns = [1, 2, 15, 16, 31, 32, 33, 62, 63]
    zlh = [(0, 0, 255), (128, 0, 255), (255, 0, 255), (0, 128, 255), (77, 77, 255), (77, 77, 107), (3, 200, 100)]
    rows = []
    for t, (bm, bs), m0, n, (z, lo, hi) in itertools.product(totals, biases, m0s, ns, zlh):
        acc = t - (bm << bs)
        if INT32_MIN <= acc <= INT32_MAX:
            rows.append((acc, bm, bs, m0, n, z, lo, hi))
    # exact ties at both signs around every n (M0 odd: acc = +-odd * 2^(n-1) is a tie)
    for n in range(1, 32):
        for m0 in (1, 3, 2**16 - 1, M0_MAX):
            for odd in (1, 3, -1, -3):
                acc = odd * (1 << (n - 1))
                if INT32_MIN <= acc <= INT32_MAX:
                    for z, lo, hi in ((0, 0, 255), (128, 0, 255)):
                        rows.append((acc, 0, 0, m0, n, z, lo, hi))
    # power-of-two mode at every n with and without ties
    for n in range(1, 64):
        for acc in (INT32_MIN, -(1 << min(n - 1, 30)), -5, 5, 1 << min(n - 1, 30), INT32_MAX):
            rows.append((acc, 0, 0, 1, n, 128, 0, 255))
    # group rows so that each beat has one (z, lo, hi): sort by it, pad each group to whole beats
    rows.sort(key=lambda r: (r[5], r[6], r[7]))
    out: list[tuple[int, ...]] = []
    for _, grp in itertools.groupby(rows, key=lambda r: (r[5], r[6], r[7])):
        g = list(grp)
        g += [g[0]] * (-len(g) % lanes)
        out += g
    a = np.array(out, np.int64)
    return _assemble(*(a[:, i] for i in range(8)), lanes=lanes)


def concat(vs: list[Vectors]) -> Vectors:
    return Vectors(*(np.concatenate([getattr(v, f) for v in vs]) for f in ("acc", "mant", "shift", "m0", "n", "z", "lo", "hi")))


# ------------------------------------------------------------------------------------------------
# Files for the stream harness
# ------------------------------------------------------------------------------------------------
def _hex(a: np.ndarray, digits: int) -> np.ndarray:
    mask = (1 << (4 * digits)) - 1
    return np.char.mod(f"%0{digits}x", (np.asarray(a, np.int64) & mask).astype(np.uint64))


def write_vectors(v: Vectors, path: Path) -> None:
    """One line per beat: hi lo z lane[L-1] .. lane[0]; lane = n(2) m0(8) shift(1) mant(8) acc(8) hex digits."""
    lane_hex = np.char.add(
        np.char.add(np.char.add(np.char.add(_hex(v.n, 2), _hex(v.m0, 8)), _hex(v.shift, 1)), _hex(v.mant, 8)),
        _hex(v.acc, 8),
    )
    line = np.char.add(np.char.add(_hex(v.hi, 2), _hex(v.lo, 2)), _hex(v.z, 2))
    for l in range(v.lanes - 1, -1, -1):
        line = np.char.add(line, lane_hex[:, l])
    path.write_text("\n".join(line.tolist()) + "\n")


def read_results(path: Path, beats: int, lanes: int) -> tuple[np.ndarray, np.ndarray]:
    """(outputs [B, L] uint8, ovf [B, L] bool) from the harness's $writememh file."""
    words = []
    for line in path.read_text().splitlines():
        line = line.split("//")[0].strip()
        if line and not line.startswith("@"):
            words += [int(tok, 16) for tok in line.split()]
    if len(words) < beats:
        raise AssertionError(f"{path}: {len(words)} result beats, expected {beats}")
    y = np.zeros((beats, lanes), np.int64)
    ovf = np.zeros((beats, lanes), bool)
    for b, w in enumerate(words[:beats]):
        for l in range(lanes):
            y[b, l] = (w >> (8 * l)) & 0xFF
            ovf[b, l] = (w >> (8 * lanes + l)) & 1
    return y.astype(np.uint8), ovf


# ------------------------------------------------------------------------------------------------
# Classification for functional coverage (golden decides saturation; ties are an input property)
# ------------------------------------------------------------------------------------------------
def _rq(total: int, m0: int, n: int, z: int, lo: int, hi: int) -> int:
    a = np.array([total], np.int64)
    return int(arith.requantize(a, m0=np.array([m0]), n=np.array([n]), z_out=z, lo=lo, hi=hi, channel_axis=0)[0])


def saturation(total: int, m0: int, n: int, z: int, lo: int, hi: int) -> str:
    """'high' if the unclamped result y exceeds hi, 'low' if it is below lo, else 'in range'.

    Decided with golden.arith.requantize only, by moving a bound or the zero point by one:
    clip(y, 0, t) == t <=> y >= t, and clip(y, t, 255) == t <=> y <= t.
    """
    if hi < 255:
        high = _rq(total, m0, n, z, 0, hi + 1) == hi + 1
    else:
        high = _rq(total, m0, n, z - 1, 0, 255) == 255
    if lo > 0:
        low = _rq(total, m0, n, z, lo - 1, 255) == lo - 1
    else:
        low = _rq(total, m0, n, z + 1, 0, 255) == 0
    return "high" if high else "low" if low else "in range"


def is_tie(total: int, m0: int, n: int) -> bool:
    """acc * M0 lies exactly halfway between two multiples of 2^n (the rounding goes up)."""
    return (total * m0) % (1 << n) == (1 << (n - 1))
