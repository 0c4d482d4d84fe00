"""pwfc's cocotb driver: cocotbext-axi's AxiRam on the AXI4 memory port (preloaded with the
image), its AxiLiteMaster on the register port; program one layer, start, wait for the interrupt
(done or error) or the watchdog. No pytest here: the framework (tb/target_bench.py) calls it.

`layer` is the memory-map entry hexgen wrote ({"name", "kind", "record": golden's record}) with
"segments": {segment name: its memory-map entry (role, shape, ...)}; `bases`: {segment name: byte
address}, the segment names of targets/pwfc/layouts.py.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from math import prod
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, First, RisingEdge, Timer
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam

from targets.pwfc.regs import CTRL_BITS, ERR_CODES, ID_VALUE, REGS, RESET

PERIOD_NS = 10  # the clock setup() starts


@dataclass
class Handle:
    dut: Any
    ram: AxiRam
    regs: AxiLiteMaster
    writes: list[tuple[int, int, int]] = field(default_factory=list)  # pwfc's memory writes: (ps, byte address, bytes)


async def setup(dut: Any, dram_words: list[int], word_bits: int) -> Handle:
    if word_bits != 32:
        raise ValueError(f"pwfc has a 32-bit memory port; the image has {word_bits}-bit words")
    for port in ("m_axi", "s_axil"):  # the models log every transfer at INFO
        logging.getLogger(f"cocotb.{dut._name}.{port}").setLevel(logging.WARNING)
    Clock(dut.clk, PERIOD_NS, "ns", impl="gpi").start(start_high=False)  # pwfc_tb has no clock of its own
    dut.rst.value = 1
    size = max(4096, -(-len(dram_words) * 4 // 4096) * 4096)
    ram = AxiRam(AxiBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, size=size)
    write_words(Handle(dut, ram, None), 0, dram_words)  # type: ignore[arg-type]
    regs = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 2)
    ident = await regs.read_dword(REGS["ID"])
    if ident != ID_VALUE:
        raise RuntimeError(f"pwfc: ID register reads 0x{ident:08x}, not 0x{ID_VALUE:08x}")
    h = Handle(dut, ram, regs)
    write = ram.write_if._write  # AxiRamWrite's hook for each write of a beat: recorded for the framework

    async def recorded(address: int, data: bytes) -> None:
        h.writes.append((get_sim_time("ps"), address, len(data)))
        await write(address, data)

    ram.write_if._write = recorded
    return h


async def check_reset(h: Handle) -> list[str]:
    """Every register right after reset (setup) against its documented value (regs.RESET)."""
    got = {name: await h.regs.read_dword(REGS[name]) for name in RESET}
    return [f"{n} reads 0x{v:x}, documented 0x{RESET[n]:x}" for n, v in got.items() if v != RESET[n]]


def _pixels(layer: dict[str, Any], c: int) -> int:
    """Pixels (images x H x W): the input segment's elements over C, or one image's H x W."""
    inp = [s for s in layer.get("segments", {}).values() if s["role"] == "input"]
    return prod(inp[0]["shape"]) // c if inp else prod(layer["record"]["out_shape"][1:])


async def _when(dut: Any, irq: bool) -> float:
    """Sim time in ps of the edge that takes the CTRL write (irq=False), or of irq rising."""
    while True:
        if irq:
            await RisingEdge(dut.irq)
            return get_sim_time("ps")
        await RisingEdge(dut.clk)
        if dut.s_axil_awvalid.value == 1 and dut.s_axil_awready.value == 1 and int(dut.s_axil_awaddr.value) == REGS["CTRL"]:
            return get_sim_time("ps")


async def run_layer(h: Handle, layer: dict[str, Any], bases: dict[str, int], watchdog_cycles: int) -> dict[str, Any]:
    rec = layer["record"]
    k, c = rec["weight_shape"][:2]
    rq = rec["requant"]
    program = {"C": c, "K": k, "HW": _pixels(layer, c), "Z_IN": rec["z_in"], "Z_OUT": rq["z_out"], "LO": rq["lo"],
               "HI": rq["hi"], "ACT_BASE": bases["acts"], "WGT_BASE": bases["wgt"], "BIAS_BASE": bases["bias"],
               "RQ_BASE": bases["rq"], "OUT_BASE": bases["out"]}
    for name, value in program.items():
        await h.regs.write_dword(REGS[name], value)
    h.writes.clear()
    started, ended = cocotb.start_soon(_when(h.dut, False)), cocotb.start_soon(_when(h.dut, True))
    await h.regs.write_dword(REGS["CTRL"], 1 << CTRL_BITS["START"] | 1 << CTRL_BITS["IRQ_EN"])
    t0 = await started
    await First(ended, Timer(max(watchdog_cycles, 1) * PERIOD_NS, "ns"))
    # from the edge that took START to the edge that raised DONE/ERROR: what CYCLES counts
    bench_cycles = round(((ended.result() if ended.done() else get_sim_time("ps")) - t0) / (PERIOD_NS * 1000))
    ended.cancel()
    ctrl = await h.regs.read_dword(REGS["CTRL"])
    cycles = await h.regs.read_dword(REGS["CYCLES"])
    if not int(h.dut.irq.value):
        h.dut.rst.value = 1  # the layer is abandoned: reset pwfc (the memory keeps its words)
        await ClockCycles(h.dut.clk, 4)
        h.dut.rst.value = 0
        await ClockCycles(h.dut.clk, 2)
        return {"status": "watchdog", "reason": f"no done or error within {watchdog_cycles} cycles (CTRL 0x{ctrl:x})",
                "cycles": cycles, "bench_cycles": bench_cycles}
    if ctrl >> CTRL_BITS["ERROR"] & 1:
        code = ctrl >> CTRL_BITS["ERR_CODE"] & 0xFF
        return {"status": "error", "reason": f"error {code}: {ERR_CODES.get(code, 'unknown')}", "cycles": cycles,
                "bench_cycles": bench_cycles}
    # the layer's memory writes and when it started: the framework finds when each output word was written
    return {"status": "done", "reason": "", "cycles": cycles, "bench_cycles": bench_cycles, "writes": list(h.writes),
            "start_ps": t0, "period_ps": PERIOD_NS * 1000}


def read_words(h: Handle, base_byte: int, n: int) -> list[int]:
    data = h.ram.read(base_byte, 4 * n)
    return [int.from_bytes(data[4 * i : 4 * i + 4], "little") for i in range(n)]


def write_words(h: Handle, base_byte: int, words: list[int]) -> None:
    h.ram.write(base_byte, b"".join(int(w).to_bytes(4, "little") for w in words))
