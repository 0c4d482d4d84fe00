"""pyuvm tests of the requantizer (environment: tb/engine/uvm/requant_env.py, BFM: tb/engine/uvm/bfm.py).

Runs on the requant_tb build in direct mode. Environment: RTL_SEED (default random, printed),
UVM_ITEMS (random beats, default 300).
"""
from __future__ import annotations

import os
import random

import numpy as np
import pyuvm
from pyuvm import ConfigDB, uvm_factory, uvm_test
import cocotb

from tb.sim import rerun_command
from tb.engine.uvm.bfm import RequantBfm
from tb.engine.uvm.requant_env import AllSeq, RandomSeq, RequantEnv, TEST_FILE


def seed_from_env() -> int:
    s = os.environ.get("RTL_SEED")
    return int(s) if s else random.SystemRandom().randrange(2**31)


@pyuvm.test()
class RequantUvmTest(uvm_test):
    """Corner sample + constrained-random beats, random valid gaps and output backpressure."""

    def build_phase(self) -> None:
        self.seed = seed_from_env()
        dut = cocotb.top
        self.bfm = RequantBfm(dut, self.seed, p_valid=0.8, p_ready=0.7)
        ConfigDB().set(None, "*", "BFM", self.bfm)
        ConfigDB().set(None, "*", "SEED", self.seed)
        ConfigDB().set(None, "*", "NP_RNG", np.random.default_rng(self.seed))
        ConfigDB().set(None, "*", "LANES", self.bfm.lanes)
        ConfigDB().set(None, "*", "ITEMS", int(os.environ.get("UVM_ITEMS", "300")))
        self.env = RequantEnv("env", self)

    def end_of_elaboration_phase(self) -> None:
        self.seq = AllSeq.create("all")
        sim = os.environ.get("RTL_SIM", "?")
        self.logger.info(f"seed {self.seed} (rerun: {rerun_command(TEST_FILE, sim, self.seed, 'uvm')})")

    async def run_phase(self) -> None:
        self.raise_objection()
        await self.bfm.reset()
        self.bfm.start_bfm()
        # on the sequencer: AllSeq starts its sub-sequences there, a factory override (RandomSeq) runs on it
        await self.seq.start(ConfigDB().get(None, "", "SEQR"))
        await self.bfm.wait_idle(self.bfm.sent + self.bfm.driver_queue.qsize())
        # let the pipeline drain: every accepted beat must come out
        while self.bfm.received < self.bfm.sent:
            await cocotb.triggers.RisingEdge(cocotb.top.clk_i)
        self.logger.info(f"{self.bfm.sent} beats sent, {self.bfm.received} received, "
                         f"{self.bfm.stalls} cycles of input backpressure")
        self.drop_objection()


@pyuvm.test()
class RequantUvmRandomOnlyTest(RequantUvmTest):
    """Same environment, the top sequence replaced through the factory by the random sequence alone,
    with no gaps and no backpressure (full throughput). Coverage holes are reported, not failed."""

    def build_phase(self) -> None:
        uvm_factory().set_type_override_by_type(AllSeq, RandomSeq)
        super().build_phase()
        ConfigDB().set(None, "*", "COVERAGE_REQUIRED", False)
        self.bfm.p_valid = 1.0
        self.bfm.p_ready = 1.0
