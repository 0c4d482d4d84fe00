"""cocotb bench of rtl/burst_reader.sv on rtl/ext_mem_model.sv (tb/engine/hdl/burst_reader_tb.sv).

Seeded random 2D read commands (tag, ext address and stride, buffer address and stride, row lengths
around MAX_BURST, 1..6 rows, addresses wrapping) are offered back to back: the next command is on
the port in the cycle after the previous one is taken. The memory's latency, stall rate and seed
change between groups of commands without draining (cfg_* ports). One coroutine samples the ports
once per clock (it also presents the commands) and checks, as it goes:
- every buffer write (tag, address, data) against the expected stream: command after command, row
  after row, the data read from the memory image this test wrote (ext address -> word); nothing
  extra, and no X/Z on buf_tag_o/buf_addr_o/buf_data_o while buf_valid_o is 1;
- the requests: each burst's (address, length) as the command splits into bursts of at most
  MAX_BURST words per row, at most DEPTH bursts in flight, and cmd_ready_o high exactly when every
  burst of the previous command has been requested;
- done_o: one pulse per command, with its tag, in the cycle its last word is written (not before,
  not after); words_read_o at each done and at the end;
- rd_ready_o is 1 in every cycle.
Run by tests/test_rtl_burst_reader.py. Environment: RTL_SEED, BR_COMMANDS (commands per group),
BR_MAX_LEN (longest row), RTL_PARAMS (the build's parameters, set by tb.sim.run).
"""
from __future__ import annotations

import ast
import os
import random
from dataclasses import dataclass

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from tb.engine.ext_mem import start_on_ext_mem
from tb.sim import rerun_command

TEST_FILE = "tests/test_rtl_burst_reader.py"
#: burst_reader_tb's parameter defaults (RTL_PARAMS overrides them, as the build did)
DEFAULTS = {"ADDR_W": 12, "DATA_W": 32, "MAX_BURST": 16, "DEPTH": 8, "TAG_W": 2, "MEM_FIFO_DEPTH": 16}
BUF_MASK = 0xFFFF


def seed_from_env() -> int:
    s = os.environ.get("RTL_SEED")
    return int(s) if s else random.SystemRandom().randrange(2**31)


def params_from_env() -> dict[str, int]:
    p = dict(DEFAULTS)
    p.update(dict(ast.literal_eval(os.environ.get("RTL_PARAMS", "[]"))))
    return p


@dataclass(frozen=True)
class Cmd:
    tag: int
    ext: int
    ext_stride: int
    buf: int
    buf_stride: int
    row_len: int
    rows: int


@dataclass(frozen=True)
class Word:
    cmd: int   # command index
    row: int
    col: int
    tag: int
    addr: int
    data: int
    ext: int


class Fail(AssertionError):
    pass


class Bench:
    def __init__(self, dut, seed: int) -> None:
        self.dut = dut
        self.seed = seed
        self.sim = os.environ.get("RTL_SIM", "?")
        self.rerun_k = os.environ.get("BR_RERUN_K", "")
        self.rng = random.Random(seed)
        p = params_from_env()
        self.aw, self.dw, self.tw = p["ADDR_W"], p["DATA_W"], p["TAG_W"]
        self.max_burst, self.depth = p["MAX_BURST"], p["DEPTH"]
        self.mem_fifo = p["MEM_FIFO_DEPTH"]
        for name, width in (("cmd_ext_addr_i", self.aw), ("buf_data_o", self.dw), ("buf_tag_o", self.tw)):
            if len(getattr(dut, name)) != width:
                raise Fail(f"{name} is {len(getattr(dut, name))} bits, RTL_PARAMS say {width}")
        self.mem_words = 1 << self.aw
        self.image = [self.rng.randrange(2**self.dw) for _ in range(self.mem_words)]

    def fail(self, msg: str) -> None:
        raise Fail(f"{msg}\n  (seed {self.seed}, {self.sim}) rerun: "
                   f"{rerun_command(TEST_FILE, self.sim, self.seed, self.rerun_k)}")

    # ------------------------------------------------------------------ stimulus and expectations
    def random_cmd(self, max_len: int) -> Cmd:
        r, mb = self.rng, self.max_burst
        row_len = r.choice([1, 2, mb - 1, mb, mb + 1, 2 * mb, 2 * mb + 1, r.randrange(1, max_len + 1),
                            r.randrange(1, max_len + 1)])
        row_len = max(1, min(row_len, max_len))
        rows = r.choice([1, r.randrange(1, 7), r.randrange(1, 7)])
        ext = r.randrange(self.mem_words) if r.random() < 0.85 else self.mem_words - r.randrange(1, 8)
        ext_stride = r.choice([row_len, row_len + r.randrange(0, 40), r.randrange(self.mem_words), 0])
        buf = r.randrange(BUF_MASK + 1) if r.random() < 0.85 else BUF_MASK + 1 - r.randrange(1, 8)
        buf_stride = r.choice([row_len, row_len + r.randrange(0, 40), r.randrange(BUF_MASK + 1)])
        return Cmd(r.randrange(1 << self.tw), ext, ext_stride % self.mem_words, buf, buf_stride % (BUF_MASK + 1),
                   row_len, rows)

    def words_of(self, k: int, c: Cmd) -> list[Word]:
        out = []
        for row in range(c.rows):
            for col in range(c.row_len):
                ext = (c.ext + row * c.ext_stride + col) % self.mem_words
                out.append(Word(k, row, col, c.tag, (c.buf + row * c.buf_stride + col) & BUF_MASK, self.image[ext], ext))
        return out

    def bursts_of(self, c: Cmd) -> list[tuple[int, int]]:
        """(ext address, length) of each burst, in request order."""
        out = []
        for row in range(c.rows):
            base = (c.ext + row * c.ext_stride) % self.mem_words
            for off in range(0, c.row_len, self.max_burst):
                out.append(((base + off) % self.mem_words, min(self.max_burst, c.row_len - off)))
        return out

    # ------------------------------------------------------------------ set-up
    async def setup(self) -> None:
        inputs = (
            "mem_load_i", "cfg_load_i", "cfg_latency_i", "cfg_stall_i", "cfg_seed_i", "cmd_valid_i",
            "cmd_tag_i", "cmd_ext_addr_i", "cmd_ext_stride_i", "cmd_buf_addr_i", "cmd_buf_stride_i",
            "cmd_row_len_i", "cmd_rows_i",
        )
        await start_on_ext_mem(self.dut, self.image, self.dw, inputs)

    # ------------------------------------------------------------------ the run
    async def run(self, cmds: list[Cmd], groups: list[tuple[int, int, int, float]]) -> dict[str, int]:
        """Offer `cmds` back to back and check every cycle. groups: (first command, latency, stall,
        gap probability): the memory configuration switches when that command is first offered."""
        dut = self.dut
        n = len(cmds)
        words = [w for k, c in enumerate(cmds) for w in self.words_of(k, c)]
        last_word = []          # index in `words` of each command's last word
        i = 0
        for c in cmds:
            i += c.rows * c.row_len
            last_word.append(i - 1)
        bursts = []             # (command, ext address, length, index of its last word in `words`)
        burst_end = []          # index in `bursts` one past each command's last burst
        wi = 0
        for k, c in enumerate(cmds):
            for addr, length in self.bursts_of(c):
                wi += length
                bursts.append((k, addr, length, wi - 1))
            burst_end.append(len(bursts))
        group_at = {g[0]: g[1:] for g in groups}

        cycle = 0
        offered = -1            # index of the command on the port (valid high), -1: none
        accepted = 0            # commands taken so far
        gap = 0.0
        wp = 0                  # next expected word
        rp = 0                  # next expected burst request
        bp = 0                  # oldest burst with words still to come
        dp = 0                  # next expected done
        last_progress = 0
        max_inflight = 0
        at_depth = 0            # cycles with DEPTH bursts in flight
        overlaps = 0            # commands whose first burst was requested before the previous one's last word
        zero_gap = 0            # commands taken in the cycle right after the previous one's last request
        last_req_cycle = -10
        cfg_pulse = False
        drain_until = None
        limit = 400 * len(words) + 5000

        while True:
            # ---- drive (after the edge)
            if cfg_pulse:
                dut.cfg_load_i.value = 0
                cfg_pulse = False
            if offered < 0 and accepted == n:
                dut.cmd_valid_i.value = 0
            elif offered < 0:
                if accepted in group_at:
                    latency, stall, gap = group_at.pop(accepted)
                    dut.cfg_latency_i.value = latency
                    dut.cfg_stall_i.value = stall
                    dut.cfg_seed_i.value = self.rng.randrange(1, 2**32)
                    dut.cfg_load_i.value = 1
                    cfg_pulse = True
                if gap == 0.0 or self.rng.random() >= gap:
                    c = cmds[accepted]
                    dut.cmd_tag_i.value = c.tag
                    dut.cmd_ext_addr_i.value = c.ext
                    dut.cmd_ext_stride_i.value = c.ext_stride
                    dut.cmd_buf_addr_i.value = c.buf
                    dut.cmd_buf_stride_i.value = c.buf_stride
                    dut.cmd_row_len_i.value = c.row_len
                    dut.cmd_rows_i.value = c.rows
                    dut.cmd_valid_i.value = 1
                    offered = accepted
                else:
                    dut.cmd_valid_i.value = 0

            # ---- sample (this cycle's values, acted on at the coming edge)
            await ReadOnly()
            v_valid, v_done, v_req = dut.buf_valid_o.value, dut.done_o.value, dut.req_fire_o.value
            v_rdy, v_cmd_rdy = dut.rd_ready_o.value, dut.cmd_ready_o.value
            for name, v in (("buf_valid_o", v_valid), ("done_o", v_done), ("req_fire_o", v_req),
                            ("rd_ready_o", v_rdy), ("cmd_ready_o", v_cmd_rdy)):
                if not v.is_resolvable:
                    self.fail(f"cycle {cycle}: {name} = {v} (X/Z)")
            if int(v_rdy) != 1:
                self.fail(f"cycle {cycle}: rd_ready_o = 0 (must always be 1)")
            buf_valid, done, req, cmd_ready = int(v_valid), int(v_done), int(v_req), int(v_cmd_rdy)

            # in flight as the reader counts them: requested, last word not yet written
            inflight = rp - bp
            max_inflight = max(max_inflight, inflight)
            if inflight == self.depth:
                at_depth += 1
            if inflight > self.depth or (req and inflight >= self.depth):
                self.fail(f"cycle {cycle}: {inflight} bursts in flight{' and another requested' if req else ''} "
                          f"(DEPTH {self.depth})")

            # cmd_ready_o: high exactly when every burst of the last command taken has been requested
            all_req = accepted == 0 or rp >= burst_end[accepted - 1]
            if bool(cmd_ready) != all_req:
                if cmd_ready:
                    self.fail(f"cycle {cycle}: cmd_ready_o = 1 with {burst_end[accepted - 1] - rp} burst(s) of "
                              f"command {accepted - 1} not yet requested")
                self.fail(f"cycle {cycle}: cmd_ready_o = 0 although every burst of command {accepted - 1} "
                          f"was requested (last at cycle {last_req_cycle})")
            cmd_fire = offered >= 0 and cmd_ready
            if cmd_fire and last_req_cycle == cycle - 1 and accepted > 0:
                zero_gap += 1

            if req:
                if drain_until is not None:
                    self.fail(f"cycle {cycle}: request after the last command was fully requested")
                addr, length = int(dut.req_addr_o.value), int(dut.req_len_o.value)
                if rp >= len(bursts):
                    self.fail(f"cycle {cycle}: extra request addr {addr} len {length} after all {len(bursts)} bursts")
                k, eaddr, elen, _ = bursts[rp]
                if k >= accepted:
                    self.fail(f"cycle {cycle}: request addr {addr} len {length} before command {k} was taken")
                if (addr, length) != (eaddr, elen):
                    self.fail(f"cycle {cycle}: burst {rp} (command {k} {cmds[k]}): requested addr {addr} len "
                              f"{length}, expected addr {eaddr} len {elen} (MAX_BURST {self.max_burst})")
                if k > 0 and rp == burst_end[k - 1] and wp <= last_word[k - 1]:
                    overlaps += 1
                rp += 1
                last_req_cycle = cycle

            if buf_valid:
                vt, va, vd = dut.buf_tag_o.value, dut.buf_addr_o.value, dut.buf_data_o.value
                if not (vt.is_resolvable and va.is_resolvable and vd.is_resolvable):
                    self.fail(f"cycle {cycle}: buf_valid_o = 1 with X/Z: tag {vt} addr {va} data {vd} "
                              f"(expected word {wp})")
                got = (int(vt), int(va), int(vd))
                if wp >= len(words):
                    self.fail(f"cycle {cycle}: extra buffer write tag {got[0]} addr {got[1]} data {got[2]:x} "
                              f"after all {len(words)} words")
                w = words[wp]
                if got != (w.tag, w.addr, w.data):
                    self.fail(f"cycle {cycle}: buffer write {wp} = command {w.cmd} {cmds[w.cmd]} row {w.row} word "
                              f"{w.col} (ext {w.ext}): expected tag {w.tag} addr {w.addr} data {w.data:x}, got tag "
                              f"{got[0]} addr {got[1]} data {got[2]:x}")
                if bp >= rp:
                    self.fail(f"cycle {cycle}: word {wp} written before its burst was requested")
                last_progress = cycle

            if done:
                vtag = dut.done_tag_o.value
                if not vtag.is_resolvable:
                    self.fail(f"cycle {cycle}: done_o = 1 with done_tag_o = {vtag}")
                if dp >= n:
                    self.fail(f"cycle {cycle}: extra done pulse (tag {vtag}) after all {n} commands")
                if not buf_valid or wp != last_word[dp]:
                    where = f"word {wp} written" if buf_valid else "no word written"
                    self.fail(f"cycle {cycle}: done_o for command {dp} {cmds[dp]} with {where}; its last word is "
                              f"word {last_word[dp]}")
                if int(vtag) != cmds[dp].tag:
                    self.fail(f"cycle {cycle}: done_tag_o = {int(vtag)} for command {dp}, expected {cmds[dp].tag}")
                wr = int(dut.words_read_o.value)
                if wr != wp:
                    self.fail(f"cycle {cycle}: words_read_o = {wr} at the done of command {dp}, expected {wp}")
                dp += 1
            elif buf_valid and dp < n and wp == last_word[dp]:
                self.fail(f"cycle {cycle}: last word of command {dp} {cmds[dp]} written without done_o")

            if buf_valid:
                if wp == bursts[bp][3]:
                    bp += 1
                wp += 1

            # ---- end: every done seen, then a quiet stretch with nothing more
            if dp == n and drain_until is None:
                drain_until = cycle + 2 * 40 + 50
            if drain_until is not None and cycle >= drain_until:
                break
            if cycle > limit or cycle - last_progress > 20000:
                self.fail(f"timeout at cycle {cycle}: {accepted} of {n} commands taken, {rp} of {len(bursts)} "
                          f"bursts requested, {wp} of {len(words)} words written, {dp} dones")

            await RisingEdge(dut.clk_i)
            cycle += 1
            if cmd_fire:
                accepted += 1
                offered = -1

        wr = int(dut.words_read_o.value)  # still in the last cycle's ReadOnly phase
        if wr != len(words):
            self.fail(f"words_read_o = {wr} at the end, expected {len(words)}")
        if not int(dut.cmd_ready_o.value):
            self.fail("cmd_ready_o = 0 at the end")
        await RisingEdge(dut.clk_i)
        return {"commands": n, "words": len(words), "bursts": len(bursts), "cycles": cycle,
                "max_inflight": max_inflight, "cycles_at_depth": at_depth, "overlaps": overlaps,
                "zero_gap": zero_gap}


@cocotb.test()
async def test_back_to_back(dut) -> None:
    """Random 2D read commands back to back under changing memory latency and stalls."""
    seed = seed_from_env()
    b = Bench(dut, seed)
    dut._log.info("seed %d (rerun: %s)", seed, rerun_command(TEST_FILE, b.sim, seed, b.rerun_k))
    await b.setup()
    per_group = int(os.environ.get("BR_COMMANDS", "16"))
    max_len = int(os.environ.get("BR_MAX_LEN", "40"))
    # (latency, stall /256, gap probability between commands): corners first, then random settings;
    # the last group leaves random gaps between commands (cmd_valid low)
    settings = [(0, 0, 0.0), (40, 0, 0.0), (1, 230, 0.0)]
    settings += [(b.rng.randrange(0, 41), b.rng.choice([0, b.rng.randrange(1, 231)]), 0.0) for _ in range(4)]
    settings += [(b.rng.randrange(0, 41), b.rng.randrange(0, 129), 0.3)]
    cmds = [b.random_cmd(max_len) for _ in range(per_group * len(settings))]
    groups = [(g * per_group, *s) for g, s in enumerate(settings)]
    st = await b.run(cmds, groups)
    mb = b.max_burst
    lens = {c.row_len for c in cmds}
    dut._log.info("%d commands, %d words, %d bursts in %d cycles; row lengths %d..%d (MAX_BURST %d); up to %d "
                  "bursts in flight (DEPTH %d, %d cycles at it); %d commands requested while the previous one's "
                  "data was in flight, %d taken right after the previous one's last request (seed %d)",
                  st["commands"], st["words"], st["bursts"], st["cycles"], min(lens), max(lens), mb,
                  st["max_inflight"], b.depth, st["cycles_at_depth"], st["overlaps"], st["zero_gap"], seed)
    # coverage: the stimulus must have reached the cases the bench is for
    holes = []
    if max_len > mb and not any(c.row_len > mb for c in cmds):
        holes.append("no row longer than MAX_BURST")
    if mb > 1 and not any(c.row_len < mb for c in cmds):
        holes.append("no row shorter than MAX_BURST")
    if not any(c.rows > 1 for c in cmds):
        holes.append("no command of several rows")
    if b.mem_fifo >= b.depth and st["cycles_at_depth"] == 0:
        holes.append(f"DEPTH ({b.depth}) bursts never in flight")
    if st["overlaps"] == 0 or st["zero_gap"] == 0:
        holes.append("commands never overlapped (not back to back)")
    if holes:
        b.fail("coverage holes: " + "; ".join(holes))
