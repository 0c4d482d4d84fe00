"""cocotb bench of rtl/mac_array.sv: random matrices of random sizes (full and partial tiles) against
golden.arith.linear_acc, with random input gaps and output backpressure; per-cell (depthwise) tiles
interleaved with broadcast ones. Run by
tests/test_rtl_mac_array.py on both simulators. Environment: RTL_SEED (default random, printed),
MAC_PROBLEMS (random problems per test).
"""
from __future__ import annotations

import dataclasses
import os
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from tb.engine import mac_vectors as mv
from tb.sim import rerun_command

TEST_FILE = "tests/test_rtl_mac_array.py"


def seed_from_env() -> int:
    s = os.environ.get("RTL_SEED")
    return int(s) if s else random.SystemRandom().randrange(2**31)


def dims(dut) -> tuple[int, int]:
    return len(dut.in_w_i) // 8, len(dut.in_a_i) // 8


#: the input payload: don't-care while in_valid_i is low, so the bench drives junk there
PAYLOAD = ("in_w_i", "in_a_i", "in_cells_i", "in_a_cells_i", "in_z_i", "in_first_i", "in_last_i", "in_cols_i")


def junk(dut, pyr: random.Random) -> None:
    """Random payload (first and last set more often than not): a beat the array takes without
    valid, or a register it trusts from reset, shows up as a column nobody sent."""
    for name in PAYLOAD:
        getattr(dut, name).value = pyr.getrandbits(len(getattr(dut, name))) | (1 if name in ("in_first_i", "in_last_i") and pyr.random() < 0.7 else 0)


async def setup(dut) -> None:
    Clock(dut.clk_i, 10, unit="ns", impl="gpi").start()
    dut.in_valid_i.value = dut.out_ready_i.value = 0
    junk(dut, random.Random(1))
    dut.rst_i.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk_i)
    dut.rst_i.value = 0
    pyr = random.Random(2)
    for cycle in range(4):  # past the pipeline's two stages: nothing was sent, nothing may come out
        junk(dut, pyr)
        await ReadOnly()
        if int(dut.out_valid_o.value):
            raise AssertionError(f"out_valid_o {cycle} cycles after reset with no beat sent (junk on the payload, in_valid_i low)")
        await RisingEdge(dut.clk_i)


async def run_beats(dut, beats: list[mv.Beat], n_out: int, pyr: random.Random, p_valid: float, p_ready: float):
    """Drive `beats` (valid gaps with probability 1 - p_valid) and collect n_out drained columns
    (out_ready with probability p_ready). Returns ([(col, last, [int32 x ROWS])], cycles)."""
    rows, cols = dims(dut)
    cw = len(dut.in_cols_i)
    got = []
    i = 0
    valid = False
    cycles = 0
    while len(got) < n_out:
        cycles += 1
        if cycles > 50 * (len(beats) + n_out) + 100:
            raise AssertionError(f"timeout: {i} of {len(beats)} beats in, {len(got)} of {n_out} columns out")
        if not valid:
            junk(dut, pyr)
        if not valid and i < len(beats) and pyr.random() < p_valid:
            b = beats[i]
            dut.in_w_i.value = b.w
            dut.in_a_i.value = b.a
            dut.in_cells_i.value = int(b.cells)
            dut.in_a_cells_i.value = b.a_cells
            dut.in_z_i.value = b.z
            dut.in_first_i.value = int(b.first)
            dut.in_last_i.value = int(b.last)
            dut.in_cols_i.value = b.cols & ((1 << cw) - 1)
            valid = True
        dut.in_valid_i.value = int(valid)
        dut.out_ready_i.value = int(pyr.random() < p_ready)
        await ReadOnly()
        fire_in = valid and int(dut.in_ready_o.value) == 1
        if int(dut.out_valid_o.value) and int(dut.out_ready_i.value):
            got.append((int(dut.out_col_o.value), int(dut.out_last_o.value),
                        mv.unpack_signed(int(dut.out_acc_o.value), 32, rows)))
        await RisingEdge(dut.clk_i)
        if fire_in:
            i += 1
            valid = False
    dut.in_valid_i.value = 0
    return got, cycles


def check(problem: mv.Problem, got, rows: int, cols: int, seed: int, what: str, extra: str) -> None:
    exp = mv.expected_columns(problem, rows, cols)
    sim = os.environ.get("RTL_SIM", "?")
    errors = []
    if len(got) != len(exp):
        errors.append(f"{len(got)} columns drained, expected {len(exp)}")
    tile_list = mv.tiles(problem, rows, cols)
    for (t, c, e), (gc, glast, g) in zip(exp, got):
        m0, mr, n0, nc = tile_list[t]
        if gc != c or bool(glast) != (c == nc - 1):
            errors.append(f"tile {t} column {c}: out_col_o={gc} out_last_o={glast}")
        for r in range(rows):
            if e[r] is not None and e[r] != g[r]:
                k = problem.shape[1]
                errors.append(
                    f"tile {t} (channels {m0}.., pixels {n0}..) row {r} col {c} = C[{m0 + r},{n0 + c}]: expected {e[r]} "
                    f"got {g[r]} (K={k}, z={problem.z}, w[{m0 + r}]={problem.w[m0 + r].tolist()}, "
                    f"a[:,{n0 + c}]={problem.a[:, n0 + c].tolist()})")
    if errors:
        m, k, n = problem.shape
        raise AssertionError(
            f"{what}: M={m} K={k} N={n} z={problem.z}, {len(errors)} error(s) (seed {seed}, {sim}):\n  "
            + "\n  ".join(errors[:10]) + f"\n  rerun: {rerun_command(TEST_FILE, sim, seed, extra)}")


@cocotb.test()
async def test_random_matrices(dut) -> None:
    """Random M, K, N around the array size (partial tiles), random z, gaps and backpressure."""
    seed = seed_from_env()
    sim = os.environ.get("RTL_SIM", "?")
    dut._log.info("seed %d (rerun: %s)", seed, rerun_command(TEST_FILE, sim, seed, "random"))
    await setup(dut)
    rows, cols = dims(dut)
    rng = np.random.default_rng(seed)
    pyr = random.Random(seed)
    n_prob = int(os.environ.get("MAC_PROBLEMS", "40"))
    macs = 0
    for i in range(n_prob):
        p = mv.random_problem(rng, rows, cols, extreme=(i % 8 == 7))
        beats = mv.tile_beats(p, rows, cols)
        n_out = len(mv.expected_columns(p, rows, cols))
        p_valid, p_ready = [(1.0, 1.0), (0.7, 0.5), (0.9, 0.2), (0.3, 0.9)][i % 4]
        got, _ = await run_beats(dut, beats, n_out, pyr, p_valid, p_ready)
        check(p, got, rows, cols, seed, f"problem {i}", "random")
        m, k, n = p.shape
        macs += m * k * n
    dut._log.info("%d random problems (%d MACs) bit-exact against golden.arith.linear_acc, array %dx%d (seed %d)",
                  n_prob, macs, rows, cols, seed)


@dataclasses.dataclass
class TileJob:
    """One tile of one problem: its beats and expected columns [(column, [ROWS sums or None])]."""

    problem: mv.Problem | mv.CellProblem
    label: str
    index: int
    tile: tuple[int, int, int, int]  # m0, rows used, n0, columns used
    beats: list[mv.Beat]
    expected: list[tuple[int, list[int | None]]]

    def describe(self) -> str:
        m0, mr, n0, nc = self.tile
        mode = "per-cell" if isinstance(self.problem, mv.CellProblem) else "broadcast"
        m, k, n = self.problem.shape
        return (f"{self.label} {mode} M={m} K={k} N={n} z={self.problem.z}, tile {self.index} "
                f"(channels {m0}..{m0 + mr - 1}, pixels {n0}..{n0 + nc - 1})")

    def operands(self, r: int, c: int) -> str:
        ch, px = self.tile[0] + r, self.tile[2] + c
        p = self.problem
        a = p.a[:, ch, px] if isinstance(p, mv.CellProblem) else p.a[:, px]
        return f"C[{ch},{px}]: w={p.w[ch].tolist()} a={a.tolist()}"


def tile_jobs(p: mv.Problem | mv.CellProblem, beats: list[mv.Beat], rows: int, cols: int, label: str) -> list[TileJob]:
    k = p.shape[1]
    exp = mv.expected_columns(p, rows, cols)
    return [TileJob(p, label, t, tile, beats[t * k:(t + 1) * k], [(c, e) for tt, c, e in exp if tt == t])
            for t, tile in enumerate(mv.tiles(p, rows, cols))]


def check_tiles(jobs: list[TileJob], got, rows: int, what: str, seed: int, rerun: str) -> None:
    """Drained columns `got` (run_beats) against the tiles' expected columns, in feed order."""
    errors = []
    exp = [(job, c, e) for job in jobs for c, e in job.expected]
    if len(got) != len(exp):
        errors.append(f"{len(got)} columns drained, expected {len(exp)}")
    for (job, c, e), (gc, glast, g) in zip(exp, got):
        if gc != c or bool(glast) != (c == len(job.expected) - 1):
            errors.append(f"{job.describe()} column {c}: out_col_o={gc} out_last_o={glast}")
        bad = [r for r in range(rows) if e[r] is not None and e[r] != g[r]]
        if bad:
            errors.append(f"{job.describe()} column {c} rows {bad}: expected {[e[r] for r in bad]} "
                          f"got {[g[r] for r in bad]}; {job.operands(bad[0], c)}")
    if errors:
        sim = os.environ.get("RTL_SIM", "?")
        raise AssertionError(f"{what}: {len(errors)} error(s) (seed {seed}, {sim}):\n  " + "\n  ".join(errors[:10])
                             + f"\n  rerun: {rerun}")


@cocotb.test()
async def test_per_cell_activations(dut) -> None:
    """Per-cell mode (in_cells_i = 1, depthwise): rounds of 2-3 random problems, per-cell and broadcast
    mixed, their tiles interleaved so the mode changes from one tile to the next with no gap between
    them (the mode rides on each beat). Random sizes (partial tiles), K, z; extreme operands in 1 round
    of 8, K = 1 in another; random input gaps and drain backpressure. Whatever the array must ignore
    is random: in_a_i in per-cell beats, in_a_cells_i in broadcast beats, the cells of unused rows and
    columns. Every drained column against golden.arith.linear_acc (one channel at a time for per-cell
    tiles: mac_vectors.CellProblem)."""
    seed = seed_from_env()
    sim = os.environ.get("RTL_SIM", "?")
    rerun = rerun_command(TEST_FILE, sim, seed, "per_cell")
    dut._log.info("seed %d (rerun: %s)", seed, rerun)
    await setup(dut)
    rows, cols = dims(dut)
    rng = np.random.default_rng(seed)
    pyr = random.Random(seed)
    n_prob = int(os.environ.get("MAC_PROBLEMS", "40"))
    counts = {"per-cell": 0, "broadcast": 0}
    n_beats = n_cols = n_switch = rnd = 0
    while sum(counts.values()) < n_prob:
        modes = [pyr.random() < 0.5 for _ in range(pyr.choice((2, 3)))]
        if all(modes) or not any(modes):
            modes[pyr.randrange(len(modes))] ^= True  # both modes in every round
        extreme = rnd % 8 == 7
        kmax = 1 if rnd % 8 == 3 else 24
        per_problem = []
        for j, cells in enumerate(modes):
            p: mv.Problem | mv.CellProblem
            if cells:
                p = mv.random_cell_problem(rng, rows, cols, kmax=kmax, extreme=extreme)
                beats = mv.cell_tile_beats(p, rows, cols, rng)
            else:
                p = mv.random_problem(rng, rows, cols, kmax=kmax, extreme=extreme)
                # random bytes on in_a_cells_i, which broadcast beats must ignore
                beats = [dataclasses.replace(b, a_cells=mv.pack(rng.integers(0, 256, rows * cols).tolist(), 8))
                         for b in mv.tile_beats(p, rows, cols)]
            counts["per-cell" if cells else "broadcast"] += 1
            per_problem.append(tile_jobs(p, beats, rows, cols, f"round {rnd} problem {j}"))
        # the problems' tiles interleaved: p0 t0, p1 t0, p2 t0, p0 t1, ...
        jobs = [tl[t] for t in range(max(len(tl) for tl in per_problem)) for tl in per_problem if t < len(tl)]
        beats = [b for job in jobs for b in job.beats]
        n_switch += sum(1 for x, y in zip(beats, beats[1:]) if x.cells != y.cells)
        n_out = sum(len(job.expected) for job in jobs)
        p_valid, p_ready = [(1.0, 1.0), (0.7, 0.5), (0.9, 0.2), (0.3, 0.9)][rnd % 4]
        got, _ = await run_beats(dut, beats, n_out, pyr, p_valid, p_ready)
        check_tiles(jobs, got, rows, f"round {rnd} (p_valid {p_valid}, p_ready {p_ready})", seed, rerun)
        n_beats += len(beats)
        n_cols += n_out
        rnd += 1
    dut._log.info("%d per-cell + %d broadcast problems in %d rounds: %d beats (%d mode changes from one beat to "
                  "the next), %d columns bit-exact against golden.arith.linear_acc, array %dx%d (seed %d)",
                  counts["per-cell"], counts["broadcast"], rnd, n_beats, n_switch, n_cols, rows, cols, seed)


@cocotb.test()
async def test_extremes_and_throughput(dut) -> None:
    """Largest products and long sums (K = 600: |C| up to 19.4e6) and back-to-back tiles: with no
    gaps and out_ready high the array takes one beat per cycle (drain overlaps accumulation)."""
    seed = seed_from_env()
    await setup(dut)
    rows, cols = dims(dut)
    rng = np.random.default_rng(seed)
    pyr = random.Random(seed)
    # latency: a K = 1 tile (first and last on one beat) accepted at edge t -> out_valid_o after t+2
    b = mv.tile_beats(mv.Problem(np.ones((rows, 1), np.int8), np.ones((1, cols), np.uint8), 0), rows, cols)[0]
    dut.in_w_i.value, dut.in_a_i.value, dut.in_z_i.value = b.w, b.a, b.z
    dut.in_first_i.value, dut.in_last_i.value, dut.in_cols_i.value = 1, 1, 0
    dut.in_valid_i.value = 1
    dut.out_ready_i.value = 0
    await RisingEdge(dut.clk_i)
    dut.in_valid_i.value = 0
    for edges in range(1, 10):
        await RisingEdge(dut.clk_i)
        await ReadOnly()
        if int(dut.out_valid_o.value):
            break
    assert edges == 2, f"out_valid_o rose {edges} edges after the last beat was accepted, documented 2 (latency 3)"
    await RisingEdge(dut.clk_i)
    dut.out_ready_i.value = 1
    for _ in range(cols):
        await RisingEdge(dut.clk_i)
    dut.out_ready_i.value = 0
    await ReadOnly()
    assert int(dut.out_valid_o.value) == 0, "drain bank not empty after draining every column"
    await RisingEdge(dut.clk_i)
    for w_val, a_val, z in ((-127, 255, 0), (127, 255, 0), (-127, 0, 255), (127, 0, 255)):
        k = 600
        p = mv.Problem(np.full((rows, k), w_val, np.int8), np.full((k, cols), a_val, np.uint8), z)
        got, _ = await run_beats(dut, mv.tile_beats(p, rows, cols), cols, pyr, 1.0, 1.0)
        check(p, got, rows, cols, seed, f"extreme w={w_val} a={a_val} z={z}", "extremes")
    # back to back: 2 x 2 tiles of K = cols, no gaps: beats accepted one per cycle
    p = mv.Problem(rng.integers(-127, 128, (2 * rows, cols)).astype(np.int8),
                   rng.integers(0, 256, (cols, 2 * cols)).astype(np.uint8), int(rng.integers(0, 256)))
    beats = mv.tile_beats(p, rows, cols)
    got, cycles = await run_beats(dut, beats, len(mv.expected_columns(p, rows, cols)), pyr, 1.0, 1.0)
    check(p, got, rows, cols, seed, "back-to-back tiles", "extremes")
    # K = 1 tiles (first and last on one beat) back to back: the drain (cols cycles) limits the rate
    p = mv.Problem(rng.integers(-127, 128, (rows, 1)).astype(np.int8),
                   rng.integers(0, 256, (1, 6 * cols)).astype(np.uint8), int(rng.integers(0, 256)))
    got, cycles1 = await run_beats(dut, mv.tile_beats(p, rows, cols), 6 * cols, pyr, 1.0, 1.0)
    check(p, got, rows, cols, seed, "K=1 tiles", "extremes")
    dut._log.info("extremes ok; back-to-back: %d beats + drain in %d cycles; K=1 tiles: %d columns in %d cycles",
                  len(beats), cycles, 6 * cols, cycles1)
    assert cycles <= len(beats) + cols + 4, f"back-to-back tiles took {cycles} cycles for {len(beats)} beats"
