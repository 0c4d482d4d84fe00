"""cocotb bench of rtl/mem_loader.sv on rtl/ext_mem_model.sv (tb/engine/hdl/mem_loader_tb.sv).

Random commands (addresses, lengths crossing burst boundaries and wrapping), memory latencies from
0 to 40 cycles, random memory stalls and random backpressure / gaps on the buffer and source side.
Reads: every word reaches the buffer stream exactly once, in order, at the right buffer address
with the image's data. Writes: the memory dump equals the image with the written words, and a read
back returns them. Run by tests/test_rtl_mem_loader.py. Environment: RTL_SEED, MEM_COMMANDS.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from tb.engine.ext_mem import start_on_ext_mem
from tb.sim import rerun_command

TEST_FILE = "tests/test_rtl_mem_loader.py"
DUMP = Path("mem_dump.hex")


def seed_from_env() -> int:
    s = os.environ.get("RTL_SEED")
    return int(s) if s else random.SystemRandom().randrange(2**31)


class Bench:
    def __init__(self, dut, seed: int, extra: str) -> None:
        self.dut = dut
        self.seed = seed
        self.extra = extra
        self.rng = random.Random(seed)
        self.aw = len(dut.cmd_ext_addr_i)
        self.depth = 1 << self.aw
        self.bw = len(dut.cmd_buf_addr_i)
        self.max_burst = int(os.environ.get("MEM_MAX_BURST", "8"))  # the build's MAX_BURST
        self.dw = len(dut.src_data_i)
        self.max_len = (1 << len(dut.cmd_len_i)) - 1
        self.image = [self.rng.randrange(2**self.dw) for _ in range(self.depth)]
        self.words_read = 0
        self.words_written = 0

    def fail(self, msg: str) -> None:
        sim = os.environ.get("RTL_SIM", "?")
        raise AssertionError(f"{msg}\n  (seed {self.seed}, {sim}) rerun: {rerun_command(TEST_FILE, sim, self.seed, self.extra)}")

    async def setup(self) -> None:
        inputs = (
            "mem_load_i", "mem_dump_i", "cfg_load_i", "cfg_latency_i", "cfg_stall_i", "cfg_seed_i",
            "cmd_valid_i", "cmd_write_i", "cmd_ext_addr_i", "cmd_buf_addr_i", "cmd_len_i", "buf_wr_ready_i",
            "src_valid_i", "src_data_i", "rd_orphan_i",
        )
        await start_on_ext_mem(self.dut, self.image, self.dw, inputs, low_after_reset=("cmd_done_o", "busy_o"))

    async def configure(self, latency: int, stall: int) -> None:
        dut = self.dut
        dut.cfg_latency_i.value = latency
        dut.cfg_stall_i.value = stall
        dut.cfg_seed_i.value = self.rng.randrange(1, 2**32)
        dut.cfg_load_i.value = 1
        await RisingEdge(self.dut.clk_i)
        dut.cfg_load_i.value = 0

    async def command(self, write: bool, ext: int, buf: int, length: int, p_ready: float, data: list[int] | None = None):
        """Run one command to completion; returns the buffer writes [(addr, data)] seen (reads)."""
        dut = self.dut
        got: list[tuple[int, int]] = []
        src_i = 0
        src_valid = False
        dut.cmd_write_i.value = int(write)
        dut.cmd_ext_addr_i.value = ext
        dut.cmd_buf_addr_i.value = buf
        dut.cmd_len_i.value = length
        dut.cmd_valid_i.value = 1
        issued = False
        done = False
        cycles = 0
        limit = 200 + length * 300
        while not done:
            cycles += 1
            if cycles > limit:
                self.fail(f"timeout: {'write' if write else 'read'} ext={ext} buf={buf} len={length}: "
                          f"{len(got) if not write else src_i} of {length} words after {cycles} cycles")
            dut.buf_wr_ready_i.value = int(self.rng.random() < p_ready)
            if write and not src_valid and src_i < length and self.rng.random() < p_ready:
                dut.src_data_i.value = data[src_i]
                src_valid = True
            dut.src_valid_i.value = int(src_valid)
            await ReadOnly()
            if not issued and int(dut.cmd_ready_o.value):
                issued = True
                cmd_fire = True
            else:
                cmd_fire = False
            if int(dut.buf_wr_valid_o.value) and int(dut.buf_wr_ready_i.value):
                got.append((int(dut.buf_wr_addr_o.value), int(dut.buf_wr_data_o.value)))
            src_fire = src_valid and int(dut.src_ready_o.value)
            if int(dut.req_fire_o.value):
                n = int(dut.req_len_o.value)
                if not 1 <= n <= self.max_burst:
                    self.fail(f"burst of {n} words (MAX_BURST {self.max_burst})")
            if int(dut.cmd_done_o.value):
                done = True
            if not write and int(dut.buf_wr_valid_o.value) and not issued:
                self.fail("buffer write before the command was accepted")
            await RisingEdge(dut.clk_i)
            if cmd_fire:
                dut.cmd_valid_i.value = 0
            if src_fire:
                src_i += 1
                src_valid = False
        dut.src_valid_i.value = 0
        if write and src_i != length:
            self.fail(f"write ext={ext} len={length}: done after {src_i} source words")
        return got, cycles

    def check_read(self, ext: int, buf: int, length: int, got: list[tuple[int, int]], what: str) -> None:
        exp = [((buf + i) % (1 << self.bw), self.image[(ext + i) % self.depth]) for i in range(length)]
        if got != exp:
            first = next((i for i, (g, e) in enumerate(zip(got, exp)) if g != e), min(len(got), len(exp)))
            g = got[first] if first < len(got) else None
            e = exp[first] if first < len(exp) else None
            self.fail(f"{what}: read ext={ext} buf={buf} len={length}: {len(got)} words arrived, expected {length}; "
                      f"first difference at word {first}: expected (addr, data) {e}, got {g}")

    async def check_counters(self) -> None:
        await ReadOnly()
        r, w = int(self.dut.words_read_o.value), int(self.dut.words_written_o.value)
        if (r, w) != (self.words_read, self.words_written):
            self.fail(f"counters words_read={r} words_written={w}, expected {self.words_read}, {self.words_written}")
        await RisingEdge(self.dut.clk_i)


CONFIGS = [  # (memory latency, memory stall /256, buffer/source ready probability)
    (0, 0, 1.0), (1, 0, 1.0), (8, 64, 0.8), (30, 0, 0.3), (3, 200, 1.0), (40, 128, 0.5), (0, 255, 0.9), (5, 32, 0.1),
]


@cocotb.test()
async def test_random_reads(dut) -> None:
    """Random read commands under every latency/stall/backpressure configuration."""
    seed = seed_from_env()
    sim = os.environ.get("RTL_SIM", "?")
    dut._log.info("seed %d (rerun: %s)", seed, rerun_command(TEST_FILE, sim, seed, "reads"))
    b = Bench(dut, seed, "reads")
    await b.setup()
    n_cmd = int(os.environ.get("MEM_COMMANDS", "6"))
    words = 0
    for latency, stall, p_ready in CONFIGS:
        if stall == 255:
            stall = 230  # 255/256 stalls would only make the run slow
        await b.configure(latency, stall)
        for _ in range(n_cmd):
            length = b.rng.choice([1, 2, b.max_burst - 1, b.max_burst, b.max_burst + 1, b.rng.randrange(1, 120)])
            length = max(1, min(length, b.max_len))
            ext = b.rng.randrange(b.depth) if b.rng.random() < 0.8 else b.depth - b.rng.randrange(1, 5)
            buf = b.rng.randrange(1 << b.bw)
            got, _ = await b.command(False, ext, buf, length, p_ready)
            b.check_read(ext, buf, length, got, f"latency {latency} stall {stall} ready {p_ready}")
            b.words_read += length
            words += length
    # a zero-length command completes at once and moves nothing
    got, cycles = await b.command(False, 5, 5, 0, 1.0)
    assert not got and cycles <= 3, f"zero-length command: {got}, {cycles} cycles"
    await b.check_counters()
    dut._log.info("reads: %d commands, %d words, each once and in order (seed %d)", n_cmd * len(CONFIGS), words, seed)


@cocotb.test()
async def test_random_writes(dut) -> None:
    """Random write commands (random source gaps), then a dump and read-back of every written range."""
    seed = seed_from_env()
    b = Bench(dut, seed, "writes")
    await b.setup()
    n_cmd = int(os.environ.get("MEM_COMMANDS", "6"))
    ranges = []
    for latency, stall, p_ready in CONFIGS[: 4]:
        await b.configure(latency, min(stall, 230))
        for _ in range(n_cmd):
            length = min(b.rng.randrange(1, 60), b.max_len)
            ext = b.rng.randrange(b.depth)
            data = [b.rng.randrange(2**b.dw) for _ in range(length)]
            await b.command(True, ext, 0, length, p_ready, data)
            for i, d in enumerate(data):
                b.image[(ext + i) % b.depth] = d
            b.words_written += length
            ranges.append((ext, length))
    dut.mem_dump_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.mem_dump_i.value = 0
    await RisingEdge(dut.clk_i)
    dumped = [int(l, 16) for l in DUMP.read_text().splitlines() if l.strip() and not l.startswith("//")]
    diff = [a for a in range(b.depth) if dumped[a] != b.image[a]]
    if diff:
        a = diff[0]
        b.fail(f"memory after writes: {len(diff)} words differ, first at {a}: expected {b.image[a]:08x} got {dumped[a]:08x}")
    await b.configure(7, 100)
    for ext, length in ranges[-8:]:
        got, _ = await b.command(False, ext, 0, length, 0.6)
        b.check_read(ext, 0, length, got, "read-back")
        b.words_read += length
    await b.check_counters()
    dut._log.info("writes: %d commands, %d words written, dump and read-back equal (seed %d)", len(ranges), b.words_written, seed)


# Only when asked for (MEM_FAULT=orphan): its success is the simulation stopping, which would end
# every test after it in a run of the whole module (the sweeps).
@cocotb.test(skip=os.environ.get("MEM_FAULT") != "orphan")
async def test_orphan_read_word(dut) -> None:
    """A faulty memory: after a read command is done, one more read word, nobody asked for. The
    loader's outstanding checker must stop the simulation (tests/test_rtl_mem_loader.py reads its
    message); reaching the end of this test means it did not."""
    b = Bench(dut, 1, "orphan")
    await b.setup()
    await b.configure(2, 0)
    got, _ = await b.command(False, 16, 0, 3, 1.0)
    b.check_read(16, 0, 3, got, "before the orphan word")
    dut.rd_orphan_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.rd_orphan_i.value = 0
    for _ in range(5):
        await RisingEdge(dut.clk_i)
    raise AssertionError("a read word with nothing outstanding did not stop the simulation")
