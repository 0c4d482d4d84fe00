"""Bus functional models for the pyuvm environments, kept apart from the UVM classes (as in pyuvm's
TinyALU example): cocotb queues between the UVM side and three coroutines per DUT, a driver (valid
with random gaps, out_ready with random backpressure), an input monitor and an output monitor. The
monitors sample the DUT's ports in the ReadOnly phase and report every handshake.
"""
from __future__ import annotations

import random

import cocotb
from cocotb.clock import Clock
from cocotb.queue import Queue, QueueEmpty
from cocotb.triggers import ReadOnly, RisingEdge


def _pack(vals, width: int) -> int:
    mask = (1 << width) - 1
    return sum((int(v) & mask) << (width * i) for i, v in enumerate(vals))


def _unpack(word: int, width: int, count: int, signed: bool) -> list[int]:
    out = []
    for i in range(count):
        v = (word >> (width * i)) & ((1 << width) - 1)
        out.append(v - (1 << width) if signed and v >> (width - 1) else v)
    return out


class _BfmBase:
    IN_SIGNALS: tuple[str, ...] = ()

    def __init__(self, dut, seed: int, p_valid: float = 0.8, p_ready: float = 0.7) -> None:
        self.dut = dut
        self.rng = random.Random(seed)
        self.p_valid = p_valid
        self.p_ready = p_ready
        self.driver_queue: Queue = Queue(maxsize=4)
        self.cmd_mon_queue: Queue = Queue()
        self.result_mon_queue: Queue = Queue()
        self.sent = 0
        self.received = 0
        self.holding = False  # the driver holds a beat not yet accepted
        self.stalls = 0  # cycles with in_valid high and in_ready low

    async def reset(self) -> None:
        Clock(self.dut.clk_i, 10, unit="ns", impl="gpi").start()
        for name in self.IN_SIGNALS:
            getattr(self.dut, name).value = 0
        self.dut.rst_i.value = 1
        for _ in range(3):
            await RisingEdge(self.dut.clk_i)
        self.dut.rst_i.value = 0
        await RisingEdge(self.dut.clk_i)

    def start_bfm(self) -> None:
        cocotb.start_soon(self.driver_bfm())
        cocotb.start_soon(self.cmd_mon_bfm())
        cocotb.start_soon(self.result_mon_bfm())

    async def send(self, beat) -> None:
        await self.driver_queue.put(beat)

    async def get_cmd(self):
        return await self.cmd_mon_queue.get()

    async def get_result(self):
        return await self.result_mon_queue.get()

    async def wait_idle(self, expected_results: int, timeout_cycles: int = 100_000) -> None:
        for _ in range(timeout_cycles):
            # the driver may hold a beat it took from the queue and that is not accepted yet: it
            # is neither queued nor sent, so the count asked for cannot include it
            if self.received >= expected_results and self.driver_queue.empty() and not self.holding:
                return
            await RisingEdge(self.dut.clk_i)
        raise AssertionError(f"timeout: {self.received} of {expected_results} results after {timeout_cycles} cycles")

    def apply(self, beat) -> None:  # drive one beat's fields
        raise NotImplementedError

    async def driver_bfm(self) -> None:
        dut = self.dut
        beat = None
        while True:
            if beat is None and self.rng.random() < self.p_valid:
                try:
                    beat = self.driver_queue.get_nowait()
                    self.apply(beat)
                except QueueEmpty:
                    beat = None
            self.holding = beat is not None
            dut.in_valid_i.value = int(beat is not None)
            dut.out_ready_i.value = int(self.rng.random() < self.p_ready)
            await ReadOnly()
            accepted = beat is not None and int(dut.in_ready_o.value) == 1
            if beat is not None and not accepted:
                self.stalls += 1
            await RisingEdge(dut.clk_i)
            if accepted:
                beat = None
                self.sent += 1
                self.holding = False


class RequantBfm(_BfmBase):
    """requant_tb in direct mode (mode_i = 0). Beat: dict of per-lane lists and per-beat ints."""

    IN_SIGNALS = ("mode_i", "load_i", "dump_i", "start_i", "count_i", "seed_i", "stall_i", "bp_i", "in_valid_i",
                  "in_acc_i", "in_bias_mant_i", "in_bias_shift_i", "in_m0_i", "in_n_i", "in_z_out_i", "in_lo_i",
                  "in_hi_i", "out_ready_i")

    def __init__(self, dut, seed: int, **kw) -> None:
        super().__init__(dut, seed, **kw)
        self.lanes = len(dut.out_ovf_o)

    def apply(self, beat: dict) -> None:
        d = self.dut
        d.in_acc_i.value = _pack(beat["acc"], 32)
        d.in_bias_mant_i.value = _pack(beat["mant"], 32)
        d.in_bias_shift_i.value = _pack(beat["shift"], 4)
        d.in_m0_i.value = _pack(beat["m0"], 31)
        d.in_n_i.value = _pack(beat["n"], 6)
        d.in_z_out_i.value = beat["z"]
        d.in_lo_i.value = beat["lo"]
        d.in_hi_i.value = beat["hi"]

    async def cmd_mon_bfm(self) -> None:
        d, L = self.dut, self.lanes
        while True:
            await ReadOnly()
            if int(d.in_valid_i.value) and int(d.in_ready_o.value):
                self.cmd_mon_queue.put_nowait({
                    "acc": _unpack(int(d.in_acc_i.value), 32, L, True),
                    "mant": _unpack(int(d.in_bias_mant_i.value), 32, L, True),
                    "shift": _unpack(int(d.in_bias_shift_i.value), 4, L, False),
                    "m0": _unpack(int(d.in_m0_i.value), 31, L, False),
                    "n": _unpack(int(d.in_n_i.value), 6, L, False),
                    "z": int(d.in_z_out_i.value), "lo": int(d.in_lo_i.value), "hi": int(d.in_hi_i.value),
                })
            await RisingEdge(d.clk_i)

    async def result_mon_bfm(self) -> None:
        d, L = self.dut, self.lanes
        held = None  # output offered but not taken last cycle: must stay valid and unchanged
        while True:
            await ReadOnly()
            valid = int(d.out_valid_o.value)
            if held is not None:
                assert valid and int(d.out_data_o.value) == held, "requant dropped or changed out_data_o before out_ready_i"
            if int(d.out_fire_o.value):
                self.result_mon_queue.put_nowait({"y": _unpack(int(d.out_data_o.value), 8, L, False),
                                                  "ovf": int(d.out_ovf_o.value)})
                self.received += 1
            held = int(d.out_data_o.value) if valid and not int(d.out_fire_o.value) else None
            await RisingEdge(d.clk_i)


class MacBfm(_BfmBase):
    """mac_array. Beat: tb.engine.mac_vectors.Beat (broadcast or per-cell). Input monitor reports beats, output
    monitor columns."""

    IN_SIGNALS = ("in_valid_i", "in_w_i", "in_a_i", "in_cells_i", "in_a_cells_i", "in_z_i", "in_first_i", "in_last_i",
                  "in_cols_i", "out_ready_i")

    def __init__(self, dut, seed: int, **kw) -> None:
        super().__init__(dut, seed, **kw)
        self.rows = len(dut.in_w_i) // 8
        self.cols = len(dut.in_a_i) // 8

    def apply(self, beat) -> None:
        d = self.dut
        d.in_w_i.value = beat.w
        d.in_a_i.value = beat.a
        d.in_cells_i.value = int(beat.cells)
        d.in_a_cells_i.value = beat.a_cells
        d.in_z_i.value = beat.z
        d.in_first_i.value = int(beat.first)
        d.in_last_i.value = int(beat.last)
        d.in_cols_i.value = beat.cols & ((1 << len(d.in_cols_i)) - 1)

    async def cmd_mon_bfm(self) -> None:
        d = self.dut
        while True:
            await ReadOnly()
            if int(d.in_valid_i.value) and int(d.in_ready_o.value):
                self.cmd_mon_queue.put_nowait({
                    "w": _unpack(int(d.in_w_i.value), 8, self.rows, True),
                    "a": _unpack(int(d.in_a_i.value), 8, self.cols, False),
                    "z": int(d.in_z_i.value), "first": int(d.in_first_i.value), "last": int(d.in_last_i.value),
                    "cols": int(d.in_cols_i.value) or self.cols,
                    # per-cell mode: cell (r, c) at a_cells[c * ROWS + r]
                    "cells": int(d.in_cells_i.value),
                    "a_cells": _unpack(int(d.in_a_cells_i.value), 8, self.rows * self.cols, False),
                })
            await RisingEdge(d.clk_i)

    async def result_mon_bfm(self) -> None:
        d = self.dut
        held = None  # column offered but not taken last cycle: must stay valid and unchanged
        while True:
            await ReadOnly()
            valid = int(d.out_valid_o.value)
            if held is not None:
                assert valid and (int(d.out_acc_o.value), int(d.out_col_o.value)) == held, \
                    "mac_array dropped or changed its output column before out_ready_i"
            held = (int(d.out_acc_o.value), int(d.out_col_o.value)) if valid and not int(d.out_ready_i.value) else None
            if valid and int(d.out_ready_i.value):
                self.result_mon_queue.put_nowait({"col": int(d.out_col_o.value), "last": int(d.out_last_o.value),
                                                  "acc": _unpack(int(d.out_acc_o.value), 32, self.rows, True)})
                self.received += 1
            await RisingEdge(d.clk_i)
