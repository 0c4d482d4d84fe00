"""pyuvm environment of the requantizer: sequence item (one beat of LANES lanes), constrained-random
sequences, driver, input/output monitors, scoreboard (reference model: golden.arith via
tb.engine.requant_vectors.expected) and a coverage subscriber that prints the coverage it reached.
The cocotb/pyuvm tests that use it are in tb/engine/test_requant_uvm.py.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
from pyuvm import (
    ConfigDB,
    UVMConfigItemNotFound,
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

from tb.engine import requant_vectors as rv
from tb.sim import rerun_command

TEST_FILE = "tests/test_rtl_requant.py"

# ------------------------------------------------------------------------------------------------
# Sequence item and sequences
# ------------------------------------------------------------------------------------------------


class RequantItem(uvm_sequence_item):
    """One input beat: per-lane acc, bias mantissa/shift, M0, n; per-beat z_out, lo, hi."""

    def __init__(self, name: str = "requant_item") -> None:
        super().__init__(name)
        self.beat: dict = {}

    def randomize(self, rng: np.random.Generator, lanes: int, m0_bits: int | None = 16) -> None:
        """Constrained random (tb.engine.requant_vectors.random_vectors: log-uniform accumulators with the
        int32 extremes, bias in the three modes within int32, n near the output range, ties)."""
        self.set_from(rv.random_vectors(rng, lanes, lanes, m0_bits), 0)

    def set_from(self, v: rv.Vectors, b: int) -> None:
        self.beat = {
            "acc": v.acc[b].tolist(), "mant": v.mant[b].tolist(), "shift": v.shift[b].tolist(),
            "m0": v.m0[b].tolist(), "n": v.n[b].tolist(), "z": int(v.z[b]), "lo": int(v.lo[b]), "hi": int(v.hi[b]),
        }

    def __str__(self) -> str:
        return f"{self.get_name()}: {self.beat}"


class RandomSeq(uvm_sequence):
    """Constrained-random beats: M0 of 16 bits, of 1 bit (power of two) and of 1..31 bits."""

    async def body(self) -> None:
        rng = ConfigDB().get(None, "", "NP_RNG")
        lanes = ConfigDB().get(None, "", "LANES")
        count = ConfigDB().get(None, "", "ITEMS")
        for i in range(count):
            item = RequantItem("rand")
            await self.start_item(item)
            item.randomize(rng, lanes, (16, 1, None)[i % 3])
            await self.finish_item(item)


class CornerSeq(uvm_sequence):
    """A random sample of the deterministic corner beats (int32 extremes, M0 max, n = 1 / 63, ties)."""

    async def body(self) -> None:
        rng = ConfigDB().get(None, "", "NP_RNG")
        lanes = ConfigDB().get(None, "", "LANES")
        v = rv.corner_vectors(lanes)
        for b in rng.choice(v.beats, size=min(v.beats, 150), replace=False):
            item = RequantItem("corner")
            await self.start_item(item)
            item.set_from(v, int(b))
            await self.finish_item(item)


class AllSeq(uvm_sequence):
    async def body(self) -> None:
        seqr = ConfigDB().get(None, "", "SEQR")
        await CornerSeq("corners").start(seqr)
        await RandomSeq("random").start(seqr)


# ------------------------------------------------------------------------------------------------
# Components
# ------------------------------------------------------------------------------------------------


class Driver(uvm_driver):
    def start_of_simulation_phase(self) -> None:
        self.bfm = ConfigDB().get(self, "", "BFM")

    async def run_phase(self) -> None:
        while True:
            item = await self.seq_item_port.get_next_item()
            await self.bfm.send(item.beat)
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


class Scoreboard(uvm_component):
    """In-order comparison of output beats with golden outputs of the monitored input beats."""

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
        errors, checked = [], 0
        while self.result_get_port.can_get():
            _, got = self.result_get_port.try_get()
            ok, beat = self.cmd_get_port.try_get()
            if not ok:
                errors.append(f"output beat {got} without an input beat")
                continue
            v = beat_vectors(beat)
            exp = rv.expected(v)[0].tolist()
            checked += 1
            if exp != got["y"] or got["ovf"]:
                errors.append(f"input {beat}: expected {exp} got {got['y']} (ovf {got['ovf']:#x})")
        if self.cmd_get_port.can_get():
            errors.append("input beats without an output beat")
        self.logger.info(f"scoreboard: {checked} beats checked against golden.arith.requantize, {len(errors)} errors")
        if errors:
            for e in errors[:10]:
                self.logger.error(e)
            self.logger.error(f"rerun: {rerun_command(TEST_FILE, sim, seed, 'uvm')}")
        assert not errors and checked > 0, f"{len(errors)} requant scoreboard errors (seed {seed})"


def beat_vectors(beat: dict) -> rv.Vectors:
    one = lambda k: np.array([beat[k]], np.int64)  # noqa: E731
    return rv.Vectors(one("acc"), one("mant"), one("shift"), one("m0"), one("n"),
                      np.array([beat["z"]]), np.array([beat["lo"]]), np.array([beat["hi"]]))


def n_bin(n: int) -> str:
    return "1" if n == 1 else "63" if n == 63 else "2-15" if n < 16 else "16-31" if n < 32 else "32-47" if n < 48 else "48-62"


def z_bin(z: int) -> str:
    return "0" if z == 0 else "255" if z == 255 else "128" if z == 128 else "1-127" if z < 128 else "129-254"


def m0_bin(m0: int) -> str:
    return ("1 (power of two)" if m0 == 1 else "2^31-1 (max)" if m0 == 2**31 - 1 else
            "16 bits" if 2**15 <= m0 < 2**16 else "other widths")


def bias_bin(mant: int, shift: int) -> str:
    if shift:
        return "int16 << 1..15"
    return "0" if mant == 0 else "int16" if -(2**15) <= mant < 2**15 else "int32"


def clamp_bin(z: int, lo: int, hi: int) -> str:
    if (lo, hi) == (0, 255):
        return "none (0, 255)"
    if lo == z:
        return "ReLU (z, 255)" if hi == 255 else "ReLU6 (z, hi < 255)"
    return "other bounds"


COVER_BINS: dict[str, list[str]] = {
    "sign of acc + bias": ["negative", "zero", "positive"],
    "acc extreme": ["INT32_MIN", "INT32_MAX"],
    "saturation": ["high", "low", "in range"],
    "tie": ["exact tie, acc < 0", "exact tie, acc > 0", "no tie"],
    "saturation x sign": ["high, acc < 0", "high, acc >= 0", "low, acc < 0", "low, acc >= 0"],
    "n": ["1", "2-15", "16-31", "32-47", "48-62", "63"],
    "z_out": ["0", "1-127", "128", "129-254", "255"],
    "M0": ["1 (power of two)", "16 bits", "2^31-1 (max)", "other widths"],
    "bias": ["0", "int16", "int16 << 1..15", "int32"],
    "clamp": ["none (0, 255)", "ReLU (z, 255)", "ReLU6 (z, hi < 255)", "other bounds"],
}


class Coverage(uvm_subscriber):
    """Functional coverage of the monitored input beats, per lane. Prints the bins reached."""

    def end_of_elaboration_phase(self) -> None:
        self.hits: dict[str, Counter] = {k: Counter() for k in COVER_BINS}
        self.lanes_seen = 0

    def write(self, beat: dict) -> None:
        z, lo, hi = beat["z"], beat["lo"], beat["hi"]
        for l in range(len(beat["acc"])):
            total = int(beat["acc"][l]) + int(rv.arith.bias_term(np.array([beat["mant"][l]]), np.array([beat["shift"][l]]))[0])
            m0, n = int(beat["m0"][l]), int(beat["n"][l])
            h = self.hits
            h["sign of acc + bias"]["negative" if total < 0 else "zero" if total == 0 else "positive"] += 1
            if total in (rv.INT32_MIN, rv.INT32_MAX):
                h["acc extreme"]["INT32_MIN" if total < 0 else "INT32_MAX"] += 1
            sat = rv.saturation(total, m0, n, z, lo, hi)
            h["saturation"][sat] += 1
            if sat != "in range":
                h["saturation x sign"][f"{sat}, acc {'<' if total < 0 else '>='} 0"] += 1
            if rv.is_tie(total, m0, n):
                h["tie"]["exact tie, acc < 0" if total < 0 else "exact tie, acc > 0"] += 1
            else:
                h["tie"]["no tie"] += 1
            h["n"][n_bin(n)] += 1
            h["z_out"][z_bin(z)] += 1
            h["M0"][m0_bin(m0)] += 1
            h["bias"][bias_bin(int(beat["mant"][l]), int(beat["shift"][l]))] += 1
            h["clamp"][clamp_bin(z, lo, hi)] += 1
            self.lanes_seen += 1

    def report_phase(self) -> None:
        total_bins = sum(len(b) for b in COVER_BINS.values())
        hit = sum(1 for k, bins in COVER_BINS.items() for b in bins if self.hits[k][b])
        lines = [f"requant functional coverage: {hit}/{total_bins} bins ({100.0 * hit / total_bins:.1f}%) "
                 f"over {self.lanes_seen} lane results"]
        missed = []
        for k, bins in COVER_BINS.items():
            cells = []
            for b in bins:
                cells.append(f"{b}: {self.hits[k][b]}")
                if not self.hits[k][b]:
                    missed.append(f"{k}={b}")
            lines.append(f"  {k:20s} " + ", ".join(cells))
        for line in lines:
            self.logger.info(line)
        Path("requant_coverage.json").write_text(json.dumps(
            {"bins_hit": hit, "bins": total_bins, "lanes": self.lanes_seen,
             "hits": {k: dict(v) for k, v in self.hits.items()}}, indent=1))
        self.missed = missed
        try:
            required = ConfigDB().get(self, "", "COVERAGE_REQUIRED")
        except UVMConfigItemNotFound:
            required = True
        if missed and not required:
            self.logger.warning(f"coverage holes (not required in this test): {', '.join(missed)}")
            return
        assert not missed, f"coverage holes: {', '.join(missed)}"


class RequantEnv(uvm_env):
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
