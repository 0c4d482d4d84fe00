"""cocotb bench of rtl/ctrl_regs.sv (the engine's control registers and main FSM) against the CSR
map (tb/engine/csr.py: addresses, bits, reset values, states, counters from start).

Checked:
- after reset every register reads its documented value (RESET, 0 otherwise; the build facts;
  UNITS, DESC_CHECK and PASS pass the units' inputs through), and the FSM is idle;
- each writable register keeps exactly its BITS (random values, read back masked); addresses
  outside the map read 0; writes while busy are ignored;
- the FSM: a start with a refused descriptor goes check -> error with ERR_FIELD = the field and
  no run_start; a good one pulses run_start once and runs until the writer's last word: of a pass
  that is not the last, next_pass and back through check (run_start again), of the last pass,
  done; or an overflow (error: CTRL's error bit, error_o, ERR_FIELD = ERR_BIAS_OVERFLOW); a start
  while busy is ignored; start from done and from error works, and clears ERR_FIELD (0 while
  running and when done); CYCLES counts the cycles of check and run and clears on start;
  WORDS_READ / WORDS_WRITTEN count from start (the units' counts run from reset), BUSY_CYCLES
  and MACS pass the compute unit's counts through.
Environment: RTL_SEED (default random, printed), RTL_PARAMS (the build's parameters).
"""
from __future__ import annotations

import ast
import os
import random
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from tb.engine.csr import BITS, CSR, ERR_BIAS_OVERFLOW, ID_VALUE, RESET, STATES
from tb.sim import bench_seed

TEST_FILE = "tests/test_rtl_ctrl_regs.py"
STATE = {name: v for v, name in STATES.items()}
INPUTS = ("bad_field_i", "ovf_i", "written_i", "last_pass_i", "pass_i", "beats_i", "macs_i", "words_read_i",
          "words_written_i", "units_i")


class Bus:
    def __init__(self, dut: Any) -> None:
        self.dut = dut

    async def write(self, name: str, value: int) -> None:
        d = self.dut
        d.csr_we_i.value, d.csr_addr_i.value, d.csr_wdata_i.value = 1, CSR[name], value
        await RisingEdge(d.clk_i)
        d.csr_we_i.value = 0

    async def read(self, name: str | int) -> int:
        d = self.dut
        d.csr_addr_i.value = CSR[name] if isinstance(name, str) else name
        await ReadOnly()
        v = int(d.csr_rdata_o.value)
        await RisingEdge(d.clk_i)
        return v


async def start(bus: Bus) -> None:
    await bus.write("CTRL", 1)


@cocotb.test()
async def test_registers_and_fsm_follow_the_csr_map(dut: Any) -> None:
    seed = bench_seed(dut._log, TEST_FILE, "")
    rng = random.Random(seed)
    params = dict(ast.literal_eval(os.environ.get("RTL_PARAMS", "[]")))
    Clock(dut.clk_i, 10, unit="ns", impl="gpi").start()
    dut.csr_we_i.value = 0
    dut.csr_addr_i.value = 0
    dut.csr_wdata_i.value = 0
    for port in INPUTS:
        getattr(dut, port).value = 0
    dut.units_i.value = 0x5A5A1234
    dut.pass_i.value = 0x00030002
    dut.rst_i.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk_i)
    dut.rst_i.value = 0
    bus = Bus(dut)
    problems: list[str] = []

    def expect(what: str, got: int, want: int) -> None:
        if got != want:
            problems.append(f"{what}: {got:#x}, expected {want:#x}")

    # reset values
    facts = {"ID": ID_VALUE, "ROWS": params.get("ROWS", 8), "COLS": params.get("COLS", 8),
             "ACT_WORDS": params.get("ACT_WORDS", 4096), "WGT_WORDS": params.get("WGT_WORDS", 1024),
             "REC_WORDS": params.get("REC_WORDS", 256), "WGT_WIDTHS": params.get("WGT_WIDTHS", 0x114),
             "PIX_W": params.get("PIX_W", 24), "ROW_WORDS": params.get("ROW_WORDS", 256), "LN_TILES": params.get("LN_TILES", 64),
             "UNITS": 0x5A5A1234, "PASS": 0x00030002}
    for name in CSR:
        expect(f"{name} after reset", await bus.read(name), facts.get(name, RESET.get(name, 0)))
    expect("state_o after reset", int(dut.state_o.value), STATE["StIdle"])
    for port in ("busy_o", "done_o", "error_o", "start_o", "run_start_o", "run_o", "next_pass_o"):
        expect(f"{port} after reset", int(getattr(dut, port).value), 0)
    unmapped = [a for a in range(256) if a not in CSR.values()]
    for a in rng.sample(unmapped, 8):
        expect(f"unmapped address {a}", await bus.read(a), 0)

    # every writable register keeps exactly its bits
    values = {}
    for name, bits in BITS.items():
        v = rng.getrandbits(32)
        await bus.write(name, v)
        values[name] = v & ((1 << bits) - 1)
    for name in BITS:
        expect(f"{name} read back", await bus.read(name), values[name])
    expect("the descriptor output kind_o", int(dut.kind_o.value), values["KIND"])
    expect("the descriptor output hi_o", int(dut.hi_o.value), values["HI"])
    expect("the descriptor output w_bits_o", int(dut.w_bits_o.value), values["W_BITS"])

    # a refused descriptor: check -> error, ERR_FIELD = the field, never run
    dut.bad_field_i.value = CSR["STRIDE_X"]
    dut.words_read_i.value, dut.words_written_i.value = 1000, 2000
    await start(bus)
    await ReadOnly()
    expect("state after a start", int(dut.state_o.value), STATE["StCheck"])
    expect("run_start_o with a refused field", int(dut.run_start_o.value), 0)
    await RisingEdge(dut.clk_i)
    await ReadOnly()
    expect("state after a refused check", int(dut.state_o.value), STATE["StError"])
    await RisingEdge(dut.clk_i)
    expect("ERR_FIELD after a refused check", await bus.read("ERR_FIELD"), CSR["STRIDE_X"])
    expect("CTRL after a refused check", await bus.read("CTRL"), 0b100)

    # a good descriptor runs until the writer's last word; CYCLES, WORDS_* from start
    dut.bad_field_i.value = 0
    await start(bus)  # from StError
    pulses, cycles = 0, rng.randint(5, 40)
    for c in range(cycles):
        await ReadOnly()
        pulses += int(dut.run_start_o.value)
        if c == 0:
            expect("error_o after a start", int(dut.error_o.value), 0)
        await RisingEdge(dut.clk_i)
        if c == 3:  # writes while busy are ignored, to every descriptor register, and a second start
            for name, bits in BITS.items():
                await bus.write(name, (values[name] ^ 0x5A5A5A5A ^ 1) & ((1 << bits) - 1))
            await start(bus)
            dut.words_read_i.value, dut.words_written_i.value = 1000 + 37, 2000 + 11
            dut.beats_i.value, dut.macs_i.value = 123, 456
    expect("run_start pulses", pulses, 1)
    expect("state while running", int(dut.state_o.value), STATE["StRun"])
    expect("KIND after a write while busy", await bus.read("KIND"), values["KIND"])
    expect("CTRL while running", await bus.read("CTRL"), 0b001)
    # a start clears the refused check's field: a running (and later a done) layer reports none
    expect("ERR_FIELD while running after an error", await bus.read("ERR_FIELD"), 0)
    # the last word of a pass that is not the layer's last: the next pass, back through check
    dut.written_i.value = 1
    await ReadOnly()
    expect("next_pass_o on the last word of a pass that is not the last", int(dut.next_pass_o.value), 1)
    await RisingEdge(dut.clk_i)
    dut.written_i.value = 0
    await ReadOnly()
    expect("state after a pass that is not the last", int(dut.state_o.value), STATE["StCheck"])
    expect("run_start_o for the next pass", int(dut.run_start_o.value), 1)
    expect("done_o between passes", int(dut.done_o.value), 0)
    await RisingEdge(dut.clk_i)
    await ReadOnly()
    expect("state while the next pass runs", int(dut.state_o.value), STATE["StRun"])
    await RisingEdge(dut.clk_i)
    # the last pass's last word: done
    dut.last_pass_i.value = 1
    dut.written_i.value = 1
    await ReadOnly()
    expect("next_pass_o on the last pass's last word", int(dut.next_pass_o.value), 0)
    await RisingEdge(dut.clk_i)
    dut.written_i.value = 0
    await ReadOnly()
    expect("state after the last word", int(dut.state_o.value), STATE["StDone"])
    await RisingEdge(dut.clk_i)
    cyc = await bus.read("CYCLES")
    expect("CTRL when done", await bus.read("CTRL"), 0b010)
    expect("ERR_FIELD when done", await bus.read("ERR_FIELD"), 0)
    # CYCLES: the clock edges after the start's while in check or run, the done edge included:
    # the loop's, the ignored writes' and start's, the three reads' while running, the first pass's
    # last word, the next pass's check and one cycle of its run, the last word's
    expect("CYCLES", cyc, cycles + len(BITS) + 1 + 3 + 3 + 1)
    expect("WORDS_READ", await bus.read("WORDS_READ"), 37)
    expect("WORDS_WRITTEN", await bus.read("WORDS_WRITTEN"), 11)
    expect("BUSY_CYCLES", await bus.read("BUSY_CYCLES"), 123)
    expect("MACS", await bus.read("MACS"), 456)
    for name in BITS:  # none of the writes while busy was taken
        expect(f"{name} after a write while busy", await bus.read(name), values[name])

    # from done, an overflow: error with ERR_BIAS_OVERFLOW; CYCLES starts again from 0
    await start(bus)
    for _ in range(3):
        await RisingEdge(dut.clk_i)
    expect("CYCLES restarted by start", await bus.read("CYCLES"), 3)
    dut.ovf_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.ovf_i.value = 0
    expect("ERR_FIELD after an overflow", await bus.read("ERR_FIELD"), ERR_BIAS_OVERFLOW)
    expect("STATE after an overflow", await bus.read("STATE"), STATE["StError"])
    expect("CTRL after an overflow", await bus.read("CTRL"), 0b100)
    expect("error_o after an overflow", int(dut.error_o.value), 1)
    dut.bad_field_i.value = 7
    expect("DESC_CHECK passes desc_check through", await bus.read("DESC_CHECK"), 7)

    assert not problems, f"ctrl_regs disagrees with tb/engine/csr.py (seed {seed}):\n  " + "\n  ".join(problems[:8])
