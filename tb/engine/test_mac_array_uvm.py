"""pyuvm test of the MAC array (environment: tb/engine/uvm/mac_env.py, BFM: tb/engine/uvm/bfm.py).

Environment: RTL_SEED (default random, printed), UVM_ITEMS (random problems, default 40; 16 or more
reach every required coverage bin whatever the seed, mac_env.SEQ_KINDS).
"""
from __future__ import annotations

import os
import random

import cocotb
import numpy as np
import pyuvm
from cocotb.triggers import RisingEdge
from pyuvm import ConfigDB, uvm_test

from tb.sim import rerun_command
from tb.engine.uvm.bfm import MacBfm
from tb.engine.uvm.mac_env import TEST_FILE, MacEnv, RandomProblemSeq


def seed_from_env() -> int:
    s = os.environ.get("RTL_SEED")
    return int(s) if s else random.SystemRandom().randrange(2**31)


@pyuvm.test()
class MacUvmTest(uvm_test):
    """Constrained-random problems of random sizes, random valid gaps and drain backpressure."""

    def build_phase(self) -> None:
        self.seed = seed_from_env()
        self.bfm = MacBfm(cocotb.top, self.seed, p_valid=0.85, p_ready=0.5)
        ConfigDB().set(None, "*", "BFM", self.bfm)
        ConfigDB().set(None, "*", "SEED", self.seed)
        ConfigDB().set(None, "*", "NP_RNG", np.random.default_rng(self.seed))
        ConfigDB().set(None, "*", "DIMS", (self.bfm.rows, self.bfm.cols))
        ConfigDB().set(None, "*", "ITEMS", int(os.environ.get("UVM_ITEMS", "40")))
        self.env = MacEnv("env", self)

    def end_of_elaboration_phase(self) -> None:
        self.seq = RandomProblemSeq.create("random")
        sim = os.environ.get("RTL_SIM", "?")
        self.logger.info(f"seed {self.seed} (rerun: {rerun_command(TEST_FILE, sim, self.seed, 'uvm')})")

    async def run_phase(self) -> None:
        self.raise_objection()
        await self.bfm.reset()
        self.bfm.start_bfm()
        await self.seq.start(ConfigDB().get(None, "", "SEQR"))
        # wait until the driver queue is empty and the drain has been quiet for a while
        quiet = 0
        last = -1
        while quiet < 40:
            await RisingEdge(cocotb.top.clk_i)
            if self.bfm.driver_queue.empty() and self.bfm.received == last:
                quiet += 1
            else:
                quiet = 0
            last = self.bfm.received
        self.logger.info(f"{self.bfm.sent} beats sent, {self.bfm.received} columns drained, "
                         f"{self.bfm.stalls} cycles of input backpressure")
        self.drop_objection()
