"""Set-up shared by the unit benches that run a block on the external memory model
(tb/engine/hdl/mem_loader_tb.sv, tb/engine/hdl/burst_reader_tb.sv): the memory image file, the clock, reset."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

#: The image file the harnesses load (+MEM_INIT=mem_init.hex, relative to the run directory).
INIT = Path("mem_init.hex")


async def start_on_ext_mem(dut: Any, image: list[int], data_bits: int, inputs: Iterable[str],
                           low_after_reset: Iterable[str] = ()) -> None:
    """Write `image` as the memory's init file, start a 10 ns clock on clk_i, drive `inputs` to 0,
    reset for three cycles and have the memory model (re)load the file. `low_after_reset`: outputs
    that must read 0 from reset on (a done pulse nobody asked for)."""
    INIT.write_text("\n".join(f"{w:0{(data_bits + 3) // 4}x}" for w in image) + "\n")
    Clock(dut.clk_i, 10, unit="ns", impl="gpi").start()
    for name in inputs:
        getattr(dut, name).value = 0
    dut.rst_i.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk_i)
    dut.rst_i.value = 0
    dut.mem_load_i.value = 1
    for cycle in range(2):
        await ReadOnly()
        high = [n for n in low_after_reset if int(getattr(dut, n).value)]
        if high:
            raise AssertionError(f"{', '.join(high)} high {cycle} cycles after reset, before any command")
        await RisingEdge(dut.clk_i)
        dut.mem_load_i.value = 0
