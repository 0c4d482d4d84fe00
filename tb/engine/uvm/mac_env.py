"""pyuvm environment of the MAC array: sequence item (one matrix problem C = W . (A - z) of random
size, or its per-cell (depthwise) form, mac_vectors.CellProblem), constrained-random sequences,
driver (tiles the problem into beats, docs/rtl.md dataflow), input/output monitors, scoreboard that
rebuilds every tile from the monitored beats and checks the drained columns against
golden.arith.linear_acc, and a coverage subscriber.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pyuvm import (
    ConfigDB,
    uvm_analysis_port,
    uvm_component,
    uvm_driver,
    uvm_env,
    uvm_get_port,
    uvm_sequence,
    uvm_sequence_item,
    uvm_sequencer,
    uvm_subscriber,
    uvm_tlm_analysis_fifo,
)

from tb.engine import mac_vectors as mv
from tb.engine.golden_ref import arith
from tb.sim import rerun_command

TEST_FILE = "tests/test_rtl_mac_array.py"


class MacItem(uvm_sequence_item):
    """One problem: W int8 [M, K], A uint8 [K, N] (broadcast mode) or [K, M, N] (per-cell mode,
    in_cells_i = 1), zero point z."""

    def __init__(self, name: str = "mac_item") -> None:
        super().__init__(name)
        self.problem: mv.Problem | mv.CellProblem | None = None

    @property
    def cells(self) -> bool:
        return isinstance(self.problem, mv.CellProblem)

    def randomize(self, rng: np.random.Generator, rows: int, cols: int, kind: str = "random", z: int | None = None,
                  k: tuple[int, int] | None = None) -> None:
        """kind: random (K <= 24), extreme (operands at +-127 x +-255), long (K in 65..300), k1 (K = 1),
        cells (per-cell mode, K <= 24); z forces the zero point, k = (kmin, kmax) the range of K."""
        if kind == "cells":
            kmin, kmax = k or (1, 24)
            self.problem = mv.random_cell_problem(rng, rows, cols, kmin=kmin, kmax=kmax)
        elif kind == "extreme":
            kmin, kmax = k or (1, 64)
            self.problem = mv.random_problem(rng, rows, cols, kmin=kmin, kmax=kmax, extreme=True)
        elif kind == "long":
            self.problem = mv.random_problem(rng, rows, cols, kmin=65, kmax=300)
        elif kind == "k1":
            p = mv.random_problem(rng, rows, cols, kmax=1)
            self.problem = p
        else:
            kmin, kmax = k or (1, 24)
            self.problem = mv.random_problem(rng, rows, cols, kmin=kmin, kmax=kmax)
        if z is not None:
            self.problem.z = z

    def __str__(self) -> str:
        m, k, n = self.problem.shape if self.problem else (0, 0, 0)
        mode = "per-cell" if self.cells else "broadcast"
        return f"{self.get_name()}: {mode} M={m} K={k} N={n} z={self.problem.z if self.problem else None}"


@dataclass(frozen=True)
class Pins:
    """What an item of the sequence fixes instead of drawing it (plan_item)."""

    k: tuple[int, int] | None = None  # K drawn from kmin..kmax
    z: tuple[int, int] | None = None  # z drawn from lo..hi
    # M = ROWS + 1, N = COLS + 2: a full and a partial tile each way (zero-weight rows past M, a
    # zero sum, padding columns with a = z, a partial drain)
    partial: bool = False
    n1: bool = False  # N = 1 (a drain of one column)


# The items of RandomProblemSeq, in the order it cycles through them. What is pinned makes every
# bin of COVER_BINS reached by construction in 16 items (two rounds; the extreme items' z is 0 in
# the first and 255 in the second), whatever the seed: with everything drawn, a run of 24 items
# missed "K=2-8" on about 1 seed in 120 (RTL_SEED=652596593 and 2010), "drained columns=1" or
# "operand (a - z)=-255" on about 1 in 600.
SEQ_KINDS: tuple[tuple[str, Pins], ...] = (
    ("random", Pins(k=(2, 8), z=(1, 127), partial=True)), ("cells", Pins(k=(9, 24), z=(128, 254))),
    ("extreme", Pins(k=(2, 64))), ("random", Pins()), ("k1", Pins(n1=True)),
    ("cells", Pins(k=(2, 8))), ("long", Pins()), ("random", Pins(k=(9, 24))))


def plan_item(i: int, rng: np.random.Generator, rows: int, cols: int) -> MacItem:
    """Item i of RandomProblemSeq: its kind and pins from SEQ_KINDS, the rest drawn from rng."""
    kind, pins = SEQ_KINDS[i % len(SEQ_KINDS)]
    item = MacItem("problem")
    # extreme problems alternate z = 0 and z = 255 (the operand extremes -255 and +255)
    item.randomize(rng, rows, cols, kind, z=(0, 255)[(i // len(SEQ_KINDS)) % 2] if kind == "extreme" else None,
                   k=pins.k)
    p = item.problem
    if pins.z is not None:
        p.z = int(rng.integers(pins.z[0], pins.z[1] + 1))
    if pins.partial and isinstance(p, mv.Problem):
        k = p.shape[1]
        p.w = rng.integers(-127, 128, (rows + 1, k)).astype(np.int8)
        p.a = rng.integers(0, 256, (k, cols + 2)).astype(np.uint8)
    if pins.n1 and isinstance(p, mv.Problem):
        p.a = np.ascontiguousarray(p.a[:, :1])
    if kind == "extreme":
        # one operand at the extreme of this z, and both weight extremes (K >= 2)
        p.a.flat[0] = 255 - p.z
        p.w.flat[0], p.w.flat[-1] = -127, 127
    return item


class RandomProblemSeq(uvm_sequence):
    """Random sizes (partial tiles), with extreme-value, long-K, K=1 and per-cell problems mixed in (the
    driver feeds them back to back, so the mode changes between consecutive tiles). Every 8 items
    reach every bin of COVER_BINS (SEQ_KINDS)."""

    async def body(self) -> None:
        rng = ConfigDB().get(None, "", "NP_RNG")
        rows, cols = ConfigDB().get(None, "", "DIMS")
        count = ConfigDB().get(None, "", "ITEMS")
        for i in range(count):
            planned = plan_item(i, rng, rows, cols)
            item = MacItem("problem")
            await self.start_item(item)
            item.problem = planned.problem
            await self.finish_item(item)


def item_beats(p: mv.Problem | mv.CellProblem, rows: int, cols: int, rng: np.random.Generator) -> list[mv.Beat]:
    """The beats the driver sends for one problem (docs/rtl.md dataflow)."""
    return (mv.cell_tile_beats(p, rows, cols, rng) if isinstance(p, mv.CellProblem)
            else mv.tile_beats(p, rows, cols))


class Driver(uvm_driver):
    def start_of_simulation_phase(self) -> None:
        self.bfm = ConfigDB().get(self, "", "BFM")
        self.rng = ConfigDB().get(None, "", "NP_RNG")

    async def run_phase(self) -> None:
        rows, cols = self.bfm.rows, self.bfm.cols
        while True:
            item = await self.seq_item_port.get_next_item()
            p = item.problem
            beats = item_beats(p, rows, cols, self.rng)
            for beat in beats:
                await self.bfm.send(beat)
            self.seq_item_port.item_done()


class Monitor(uvm_component):
    def __init__(self, name, parent, method_name: str) -> None:
        super().__init__(name, parent)
        self.method_name = method_name

    def build_phase(self) -> None:
        self.ap = uvm_analysis_port("ap", self)

    def start_of_simulation_phase(self) -> None:
        self.get_method = getattr(ConfigDB().get(self, "", "BFM"), self.method_name)

    async def run_phase(self) -> None:
        while True:
            self.ap.write(await self.get_method())


def tiles_from_beats(beats: list[dict]) -> list[dict]:
    """Group monitored beats into tiles (first .. last) -> {w [R, K], a [K, C], z, cols, cells, a_cells
    [K, R, C]}; the mode (cells) is the first beat's."""
    tiles, cur = [], None
    for b in beats:
        if b["first"] or cur is None:
            cur = {"w": [], "a": [], "a_cells": [], "z": b["z"], "cells": b["cells"]}
        cur["w"].append(b["w"])
        cur["a"].append(b["a"])
        cur["a_cells"].append(b["a_cells"])
        if b["z"] != cur["z"]:
            cur["z_changed"] = True
        if b["last"]:
            w = np.array(cur["w"], np.int8).T
            # monitored as COLS x ROWS bytes per beat -> [K, ROWS, COLS]
            a_cells = np.array(cur["a_cells"], np.uint8).reshape(w.shape[1], -1, w.shape[0]).transpose(0, 2, 1)
            tiles.append({"w": w, "a": np.array(cur["a"], np.uint8), "z": cur["z"], "cols": b["cols"],
                          "z_changed": cur.get("z_changed", False), "cells": bool(cur["cells"]),
                          "a_cells": a_cells})
            cur = None
    return tiles


def tile_expected(t: dict) -> np.ndarray:
    """Sums [ROWS, COLS] of one tile from golden.arith.linear_acc: pixels as the batch, or in per-cell
    mode one row (channel) at a time (mac_vectors.CellProblem)."""
    if t["cells"]:
        return mv.CellProblem(t["w"], t["a_cells"], t["z"]).expected()
    rows = t["w"].shape[0]
    return arith.linear_acc(np.ascontiguousarray(t["a"].T), t["w"], np.zeros(rows, np.int64), z_in=t["z"]).T


class Scoreboard(uvm_component):
    def build_phase(self) -> None:
        self.cmd_fifo = uvm_tlm_analysis_fifo("cmd_fifo", self)
        self.result_fifo = uvm_tlm_analysis_fifo("result_fifo", self)
        self.cmd_get_port = uvm_get_port("cmd_get_port", self)
        self.result_get_port = uvm_get_port("result_get_port", self)
        self.cmd_export = self.cmd_fifo.analysis_export
        self.result_export = self.result_fifo.analysis_export

    def connect_phase(self) -> None:
        self.cmd_get_port.connect(self.cmd_fifo.get_export)
        self.result_get_port.connect(self.result_fifo.get_export)

    def check_phase(self) -> None:
        seed = ConfigDB().get(None, "", "SEED")
        sim = os.environ.get("RTL_SIM", "?")
        beats, cols_out = [], []
        while self.cmd_get_port.can_get():
            beats.append(self.cmd_get_port.try_get()[1])
        while self.result_get_port.can_get():
            cols_out.append(self.result_get_port.try_get()[1])
        errors, checked = [], 0
        it = iter(cols_out)
        for ti, t in enumerate(tiles_from_beats(beats)):
            exp = tile_expected(t)
            for c in range(t["cols"]):
                got = next(it, None)
                if got is None:
                    errors.append(f"tile {ti}: column {c} never drained")
                    break
                checked += 1
                if got["col"] != c or got["acc"] != exp[:, c].tolist() or got["last"] != (c == t["cols"] - 1):
                    a = (f"a[:,:,{c}]={t['a_cells'][:, :, c].tolist()}" if t["cells"]
                         else f"a[:,{c}]={t['a'][:, c].tolist()}")
                    errors.append(f"tile {ti} ({'per-cell' if t['cells'] else 'broadcast'}, K={t['a'].shape[0]}, "
                                  f"z={t['z']}) column {c}: expected {exp[:, c].tolist()} "
                                  f"got {got['acc']} (out_col {got['col']}, last {got['last']}); "
                                  f"w={t['w'].tolist()} {a}")
        extra = list(it)
        if extra:
            errors.append(f"{len(extra)} columns drained beyond the tiles")
        self.logger.info(f"scoreboard: {checked} columns of {len(beats)} beats checked against golden.arith.linear_acc, "
                         f"{len(errors)} errors")
        if errors:
            for e in errors[:10]:
                self.logger.error(e)
            self.logger.error(f"rerun: {rerun_command(TEST_FILE, sim, seed, 'uvm')}")
        assert not errors and checked > 0, f"{len(errors)} mac_array scoreboard errors (seed {seed})"


COVER_BINS: dict[str, list[str]] = {
    "K": ["1", "2-8", "9-64", "65+"],
    "drained columns": ["1", "partial (2..COLS-1)", "full"],
    "zero-weight rows (partial M)": ["none", "some"],
    "z": ["0", "1-127", "128-254", "255"],
    "sum sign": ["negative", "zero", "positive"],
    "operand (a - z)": ["-255", "+255", "0", "other"],
    "weight": ["-127", "+127", "0", "other"],
    "tile mode": ["broadcast", "per-cell"],
    "mode change between tiles": ["broadcast -> per-cell", "per-cell -> broadcast"],
}


def beat_bins(beat: dict) -> list[tuple[str, str]]:
    """(cover point, bin) of each operand of one monitored beat."""
    out = []
    for a in beat["a_cells"] if beat["cells"] else beat["a"]:
        d = a - beat["z"]
        out.append(("operand (a - z)", "-255" if d == -255 else "+255" if d == 255 else "0" if d == 0 else "other"))
    for w in beat["w"]:
        out.append(("weight", "-127" if w == -127 else "+127" if w == 127 else "0" if w == 0 else "other"))
    return out


def tile_bins(t: dict, cols: int, prev_mode: bool | None) -> list[tuple[str, str]]:
    """(cover point, bin) of one tile (tiles_from_beats), prev_mode: the previous tile's mode."""
    k = t["a"].shape[0]
    c = t["cols"]
    z = t["z"]
    out = [("K", "1" if k == 1 else "2-8" if k <= 8 else "9-64" if k <= 64 else "65+"),
           ("drained columns", "1" if c == 1 else "full" if c == cols else "partial (2..COLS-1)"),
           ("zero-weight rows (partial M)", "some" if (~t["w"].any(axis=1)).any() else "none"),
           ("tile mode", "per-cell" if t["cells"] else "broadcast"),
           ("z", "0" if z == 0 else "255" if z == 255 else "1-127" if z < 128 else "128-254")]
    if prev_mode is not None and prev_mode != t["cells"]:
        out.append(("mode change between tiles", "broadcast -> per-cell" if t["cells"] else "per-cell -> broadcast"))
    for s in tile_expected(t)[:, :c].ravel():
        out.append(("sum sign", "negative" if s < 0 else "zero" if s == 0 else "positive"))
    return out


class Coverage(uvm_subscriber):
    """Coverage of the monitored beats (operands) and of the tiles they form."""

    def end_of_elaboration_phase(self) -> None:
        self.hits: dict[str, Counter] = {k: Counter() for k in COVER_BINS}
        self.beats: list[dict] = []
        self.cols = ConfigDB().get(None, "", "DIMS")[1]
        self.prev_mode: bool | None = None

    def write(self, beat: dict) -> None:
        self.beats.append(beat)
        for cover, b in beat_bins(beat):
            self.hits[cover][b] += 1
        if beat["last"]:
            t = tiles_from_beats(self._tile_beats())[-1]
            for cover, b in tile_bins(t, self.cols, self.prev_mode):
                self.hits[cover][b] += 1
            self.prev_mode = t["cells"]

    def _tile_beats(self) -> list[dict]:
        i = len(self.beats) - 1
        while i > 0 and not self.beats[i]["first"]:
            i -= 1
        return self.beats[i:]

    def report_phase(self) -> None:
        total_bins = sum(len(b) for b in COVER_BINS.values())
        hit = sum(1 for k, bins in COVER_BINS.items() for b in bins if self.hits[k][b])
        self.logger.info(f"mac_array functional coverage: {hit}/{total_bins} bins ({100.0 * hit / total_bins:.1f}%) "
                         f"over {len(self.beats)} beats")
        missed = []
        for k, bins in COVER_BINS.items():
            self.logger.info(f"  {k:30s} " + ", ".join(f"{b}: {self.hits[k][b]}" for b in bins))
            missed += [f"{k}={b}" for b in bins if not self.hits[k][b]]
        Path("mac_coverage.json").write_text(json.dumps(
            {"bins_hit": hit, "bins": total_bins, "hits": {k: dict(v) for k, v in self.hits.items()}}, indent=1))
        assert not missed, f"coverage holes: {', '.join(missed)}"


class MacEnv(uvm_env):
    def build_phase(self) -> None:
        self.seqr = uvm_sequencer("seqr", self)
        ConfigDB().set(None, "*", "SEQR", self.seqr)
        self.driver = Driver.create("driver", self)
        self.cmd_mon = Monitor("cmd_mon", self, "get_cmd")
        self.result_mon = Monitor("result_mon", self, "get_result")
        self.scoreboard = Scoreboard("scoreboard", self)
        self.coverage = Coverage("coverage", self)

    def connect_phase(self) -> None:
        self.driver.seq_item_port.connect(self.seqr.seq_item_export)
        self.cmd_mon.ap.connect(self.scoreboard.cmd_export)
        self.cmd_mon.ap.connect(self.coverage.analysis_export)
        self.result_mon.ap.connect(self.scoreboard.result_export)
