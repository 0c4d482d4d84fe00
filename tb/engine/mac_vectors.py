"""Stimulus for the MAC array benches and its expected values from golden/ (no simulator).

A problem is C[M x N] = W[M x K] . (A[K x N] - z): W int8 weights (output channels x dot-product
dimension), A uint8 activations (dot-product dimension x output pixels), z the input zero point. The
expected sums come from golden.arith.linear_acc (pixels as the batch, bias 0), never from a matmul
written in the bench. tile_beats() turns a problem into the array's beats (docs/rtl.md dataflow).

A CellProblem is the per-cell (depthwise) form, run with in_cells_i = 1: C[m, n] = sum_k (A[k, m, n] - z)
* W[m, k], every channel m with its own activations; cell_tile_beats() turns it into beats (cell (r, c)
at byte c*ROWS + r of in_a_cells_i), its expected sums come from linear_acc one channel at a time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tb.engine.golden_ref import arith


@dataclass
class Problem:
    w: np.ndarray  # int8 [M, K]
    a: np.ndarray  # uint8 [K, N]
    z: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return int(self.w.shape[0]), int(self.w.shape[1]), int(self.a.shape[1])

    def expected(self) -> np.ndarray:
        """C [M, N] int64 = golden.arith.linear_acc(A^T, W, 0, z_in=z)^T."""
        m = self.w.shape[0]
        acc = arith.linear_acc(np.ascontiguousarray(self.a.T), self.w, np.zeros(m, np.int64), z_in=self.z)
        return acc.T


@dataclass
class CellProblem:
    """Per-cell (depthwise) problem: W int8 [M, K] (channel x kernel tap), A uint8 [K, M, N]."""

    w: np.ndarray  # int8 [M, K]
    a: np.ndarray  # uint8 [K, M, N]
    z: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return int(self.w.shape[0]), int(self.w.shape[1]), int(self.a.shape[2])

    def expected(self) -> np.ndarray:
        """C [M, N] int64: channel m is golden.arith.linear_acc(A[:, m, :]^T [N, K], W[m] [1, K], 0, z_in=z)."""
        m = self.w.shape[0]
        per_channel = [arith.linear_acc(np.ascontiguousarray(self.a[:, ch, :].T), self.w[ch:ch + 1],
                                        np.zeros(1, np.int64), z_in=self.z)[:, 0] for ch in range(m)]
        return np.stack(per_channel)


@dataclass
class Beat:
    w: int  # packed ROWS x int8
    a: int  # packed COLS x uint8
    z: int
    first: bool
    last: bool
    cols: int
    cells: bool = False  # in_cells_i: per-cell activations from a_cells instead of the broadcast a
    a_cells: int = 0  # packed COLS x ROWS x uint8, cell (r, c) at byte c*ROWS + r


def random_problem(rng: np.random.Generator, rows: int, cols: int, *, kmax: int = 24, kmin: int = 1,
                   extreme: bool = False) -> Problem:
    """Random sizes around the array size (full and partial tiles), narrow-range int8 weights."""
    m = int(rng.integers(1, 2 * rows + 2))
    n = int(rng.integers(1, 2 * cols + 2))
    k = int(rng.integers(kmin, kmax + 1))
    if extreme:
        w = rng.choice(np.array([-127, 127], np.int8), size=(m, k))
        a = rng.choice(np.array([0, 255], np.uint8), size=(k, n))
        z = int(rng.choice([0, 255]))
    else:
        w = rng.integers(-127, 128, (m, k)).astype(np.int8)
        a = rng.integers(0, 256, (k, n)).astype(np.uint8)
        z = int(rng.integers(0, 256))
    return Problem(w, a, z)


def random_cell_problem(rng: np.random.Generator, rows: int, cols: int, *, kmax: int = 24, kmin: int = 1,
                        extreme: bool = False) -> CellProblem:
    """random_problem()'s sizes and value ranges for a per-cell problem (A [K, M, N])."""
    m = int(rng.integers(1, 2 * rows + 2))
    n = int(rng.integers(1, 2 * cols + 2))
    k = int(rng.integers(kmin, kmax + 1))
    if extreme:
        w = rng.choice(np.array([-127, 127], np.int8), size=(m, k))
        a = rng.choice(np.array([0, 255], np.uint8), size=(k, m, n))
        z = int(rng.choice([0, 255]))
    else:
        w = rng.integers(-127, 128, (m, k)).astype(np.int8)
        a = rng.integers(0, 256, (k, m, n)).astype(np.uint8)
        z = int(rng.integers(0, 256))
    return CellProblem(w, a, z)


def tiles(p: Problem | CellProblem, rows: int, cols: int) -> list[tuple[int, int, int, int]]:
    """(m0, rows used, n0, cols used) of every tile, in the order the bench feeds them."""
    m, _, n = p.shape
    return [(m0, min(rows, m - m0), n0, min(cols, n - n0)) for m0 in range(0, m, rows) for n0 in range(0, n, cols)]


def tile_beats(p: Problem, rows: int, cols: int) -> list[Beat]:
    """Beats of every tile: weight column k (zero rows past M), activation row k (z past N)."""
    _, k, _ = p.shape
    beats = []
    for m0, mr, n0, nc in tiles(p, rows, cols):
        for kk in range(k):
            wv = [int(p.w[m0 + r, kk]) if r < mr else 0 for r in range(rows)]
            av = [int(p.a[kk, n0 + c]) if c < nc else p.z for c in range(cols)]
            beats.append(Beat(pack(wv, 8), pack(av, 8), p.z, kk == 0, kk == k - 1, nc))
    return beats


def cell_tile_beats(p: CellProblem, rows: int, cols: int, rng: np.random.Generator) -> list[Beat]:
    """Per-cell beats of every tile: weight column k (zero rows past M), cell (r, c) = A[k, m0+r, n0+c].
    Everything the array must ignore is random: the cells of rows past M (zero weights) and of columns
    past N (not drained), and the broadcast in_a_i."""
    _, k, _ = p.shape
    beats = []
    for m0, mr, n0, nc in tiles(p, rows, cols):
        for kk in range(k):
            wv = [int(p.w[m0 + r, kk]) if r < mr else 0 for r in range(rows)]
            junk = rng.integers(0, 256, (cols, rows))
            cv = [int(p.a[kk, m0 + r, n0 + c]) if r < mr and c < nc else int(junk[c, r])
                  for c in range(cols) for r in range(rows)]
            beats.append(Beat(pack(wv, 8), pack(rng.integers(0, 256, cols).tolist(), 8), p.z, kk == 0, kk == k - 1,
                              nc, cells=True, a_cells=pack(cv, 8)))
    return beats


def expected_columns(p: Problem | CellProblem, rows: int, cols: int) -> list[tuple[int, int, list[int | None]]]:
    """(tile index, column, [ROWS sums]) in drain order; rows past M are None (not compared)."""
    c_exp = p.expected()
    out = []
    for t, (m0, mr, n0, nc) in enumerate(tiles(p, rows, cols)):
        for c in range(nc):
            out.append((t, c, [int(c_exp[m0 + r, n0 + c]) if r < mr else None for r in range(rows)]))
    return out


def pack(vals: list[int], width: int) -> int:
    mask = (1 << width) - 1
    return sum((int(v) & mask) << (width * i) for i, v in enumerate(vals))


def unpack_signed(word: int, width: int, count: int) -> list[int]:
    out = []
    for i in range(count):
        v = (word >> (width * i)) & ((1 << width) - 1)
        out.append(v - (1 << width) if v >> (width - 1) else v)
    return out
