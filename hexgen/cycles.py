"""The engine's cycle budget: an analytic model of a layer's cycles, from the layer's registers,
the hardware description and the memory's read latency, following docs/engine.md's dataflow.

`make sim` prints it beside the measured cycles, and a layer that takes more than BUDGET_SLACK
over it fails (tb.layer_sim): a performance bug fails the regression like a functional one.

The model walks what the engine overlaps, at the grain of its scoreboards, not of its signals:
- the read side moves one word a cycle after the memory's latency, in the load sequencer's order
  (hexgen.rules.input_loads): k_tile 0's records and weights, the input rows, then each next
  k_tile's records and weights, which wait until the compute unit has finished k_tile t - 2;
  transposed weights (W_TRANSPOSE) are ROWS words of each channel tile, in the bank ROWS cycles
  after the last of them (rtl/wgt_transpose.sv);
- the compute unit runs a pixel tile in one beat per real input channel and kernel position
  (depthwise: per kernel position), once its k_tile's weights and the tile's input rows are in;
- the array drains a tile one pixel a cycle into the requantiser, while the next tile computes;
- the write side moves one word a cycle, a burst of MAX_BURST words once all of them are drained;
- passes (bands, groups) run one after the other;
- the vector unit's state machine (rtl/vec_unit.sv) walks its bursts one at a time: its own
  cycles are exact (vector_unit_pushes, checked cycle for cycle by the unit's bench).
The constants below stand for the units' pipeline depths, a few cycles each; their values were
chosen once, for all presets, to fit the measured cycles of the shipped models (a search over
small integers), not read off the RTL. The model's error on every layer measured is in
docs/engine.md.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Mapping

from hexgen.config import HardwareConfig
from hexgen.rules import (KIND_CODES, MAX_BURST, ROW_KINDS, VECTOR_KINDS, descriptor_registers, descriptor_runs, input_loads, passes,
                          record_words_per_k_tile, register_needs, tap_rows)

#: A layer fails its budget when it takes more than this over the model.
BUDGET_SLACK = 0.10
#: read requests the bench's memory queues (tb/engine/hdl ext_mem_model's FIFO_DEPTH)
MEM_QUEUE = 4

# pipeline depths (cycles; fitted, see above)
START = 1        # start to the first read request on the port
GATHER = 1       # the last input word a tile reads in its buffer to the tile's first beat
DRAIN = 2        # a tile's last beat to its first pixel leaving the array
REQUANT = 2      # a drained pixel to its word in the writer's FIFO
WRITE = 1        # a burst's last word in the FIFO to its first word on the port
DONE = 2         # the last word written to done
PASS_GAP = 2     # one pass done to the next pass's first request
BANK = 2         # k_tile t - 2 computed to the request of k_tile t's weights
TRANSPOSE = 0    # a transposed k_tile's last block out of the transposer to its weights counted in


@dataclass(frozen=True)
class Budget:
    cycles: int       # the model's cycles for the layer
    array: int        # the array's own cycles (beats, or drained columns if more)
    read_words: int
    write_words: int
    beats: int = 0    # the MAC array's beats (the BUSY_CYCLES counter): one per real input channel of a step
    macs: int = 0     # its MACs (the MACS counter): every beat, ROWS lanes by the tile's columns


def layer_budget(r: Mapping[str, int], cfg: HardwareConfig, mem_latency: int = 8) -> Budget:
    """The model's cycles for one layer (registers as hexgen.rules.descriptor_registers gives)."""
    if r["KIND"] in VECTOR_KINDS:
        return _vector_budget(r, cfg, mem_latency)
    if r["KIND"] in ROW_KINDS:
        return _row_budget(r, cfg, mem_latency)
    return _conv_budget(r, cfg, mem_latency)


def entry_budget(d: Mapping[str, Any], cfg: HardwareConfig, mem_latency: int = 8) -> Budget:
    """The model of a layer descriptor (memory map `layers[].descriptor`): its runs' budgets summed
    (hexgen.rules.descriptor_runs; the engine's counters restart at each run's start)."""
    bs = [layer_budget(descriptor_registers(run), cfg, mem_latency) for run in descriptor_runs(d)]
    return Budget(*(sum(getattr(b, f) for b in bs) for f in ("cycles", "array", "read_words", "write_words", "beats", "macs")))


def _conv_budget(r: Mapping[str, int], cfg: HardwareConfig, lat: int) -> Budget:
    rows, cols, wb = cfg.array_rows, cfg.array_cols, cfg.word_bits
    n = register_needs(r, rows, wb)
    rec = 2 * record_words_per_k_tile(rows, wb)  # bias and scale records of one k_tile
    # beats of one step per channel tile: its real channels (depthwise: one beat per step)
    ct_beats = [1] if n.depthwise else [min(rows, r["IN_C"] - c * rows) for c in range(n.ct_in)]
    t = 0
    arr = rd_words = wr_words = beats = macs = 0
    # a pass of tap rows (hexgen.rules.tap_rows) holds its taps as adjacent rows: the gather walks them 1 apart
    walk = {**r, "DIL_Y": 1} if tap_rows(r) else r
    for p in passes(r, rows, wb):
        t += START if t == 0 else PASS_GAP
        # ---- read side: the arrival time of each command's last word
        rd = ReadSide(t, lat)
        w_in = [0] * p.k_tiles
        rows_in: dict[tuple[int, int], int] = {}
        loads = input_loads(n.depthwise, p.c_tiles, p.in_rows, r["IN_H"])
        per_tile = len(loads) // p.c_tiles if n.depthwise else len(loads)
        # compute of k_tile t needs its weights; its weights need k_tile t - 2 finished
        c_end = [0] * p.k_tiles
        d_end_prev = 0
        tile_words: list[tuple[int, int]] = []  # (time the tile's last word is in the FIFO, words)
        comp = 0
        steps_of: dict[int, list[tuple[int, int]]] = {}
        by_rows = r["IN_H"] > 1 or n.depthwise
        for kt in range(p.k_tiles):
            rd.command(rec // 2)
            rd.command(rec // 2)
            # the weights' bank is free once k_tile t - 2 is computed
            after = c_end[kt - 2] + BANK if kt >= 2 else 0
            if r.get("W_TRANSPOSE"):
                # ROWS tokens of each channel tile; the last block leaves the transposer ROWS cycles
                # after its last word (rtl/wgt_transpose.sv)
                w_in[kt] = rd.command(rows, rows=n.ct_in, after=after) + rows + TRANSPOSE
            else:
                w_in[kt] = rd.command(n.weight, after=after)
            my_loads = loads[kt * per_tile:(kt + 1) * per_tile] if n.depthwise else (loads if kt == 0 else [])
            for tiles, y in my_loads:
                if r["IN_H"] == 1 and not n.depthwise:  # one row of every channel tile's words
                    got = rd.command(len(tiles) * r["IN_W"])
                else:
                    got = rd.command(r["IN_W"], rows=len(tiles))
                rows_in[(tiles[0] if n.depthwise else 0, y)] = got
            # ---- compute and drain of the k_tile's pixel tiles
            for p0 in range(0, p.npix, cols):
                ncol = min(cols, p.npix - p0)
                if p0 not in steps_of:  # the same for every k_tile of the pass
                    steps_of[p0] = _tile_steps(walk, p.in_rows, p.pad_top, p0, ncol, ct_beats, cols)
                steps = steps_of[p0]
                tile = sum(c for _, c in steps)
                # the input row a step's window row ky reads last (an image of one row: one load)
                oy_last = (p0 + ncol - 1) // r["OUT_W"]
                row = lambda ky: (kt if n.depthwise else 0,  # noqa: E731
                                  min(p.in_rows - 1, max(0, oy_last * r["STRIDE_Y"] - p.pad_top + ky * walk["DIL_Y"]))
                                  if by_rows else 0)
                comp = max(comp, w_in[kt])
                if rows_in[row(r["KH"] - 1)] + GATHER <= comp:
                    comp += tile
                else:  # rows still arriving: each window row's steps wait for their row
                    for ky, c in steps:
                        comp = max(comp, rows_in[row(ky)] + GATHER) + c
                d_start = max(comp + DRAIN, d_end_prev)
                d_end_prev = d_start + ncol
                tile_words.append((d_end_prev + REQUANT, ncol))
                arr += max(tile, ncol)
                tile_beats = r["KH"] * r["KW"] * sum(ct_beats)
                beats += tile_beats
                macs += tile_beats * ncol * rows
            c_end[kt] = comp
        t = max(_write_side(tile_words), comp) + DONE
        rd_words += p.k_tiles * (rec + n.weight) + p.act
        wr_words += sum(w for _, w in tile_words)
    return Budget(t, arr, rd_words, wr_words, beats, macs)


def _tile_steps(r: Mapping[str, int], in_rows: int, pad_top: int, p0: int, ncol: int, ct_beats: list[int],
                cols: int) -> list[tuple[int, int]]:
    """A pixel tile's cycles in the compute unit, per channel tile and window row ky in the
    gather's order: (ky, cycles). A step (channel tile, ky, kx) takes its beats or the gather's
    cycles for its columns, whichever is more (rtl/gather.sv fills one register set while the
    compute unit issues the other). Each cycle the gather takes the longest run of next columns
    whose words sit in different banks (word address modulo COLS; a padding column reads
    nothing), so it never needs more cycles than the tile has columns."""
    kh, kw = r["KH"], r["KW"]
    if min(ct_beats) >= ncol:
        return [(ky, kw * b) for b in ct_beats for ky in range(kh)]
    pix = [divmod(p0 + j, r["OUT_W"]) for j in range(ncol)]
    runs = [[1] * kw for _ in range(kh)]
    for ky in range(kh):
        for kx in range(kw):
            used: set[int] = set()
            for oy, ox in pix:
                iy = oy * r["STRIDE_Y"] + ky * r["DIL_Y"] - pad_top  # taps DIL apart (a dilated window)
                ix = ox * r["STRIDE_X"] + kx * r["DIL_X"] - r["PAD_LEFT"]
                if 0 <= iy < in_rows and 0 <= ix < r["IN_W"]:
                    bank = (iy * r["IN_W"] + ix) % cols
                    if bank in used:
                        runs[ky][kx], used = runs[ky][kx] + 1, set()
                    used.add(bank)
    return [(ky, sum(max(b, n) for n in runs[ky])) for b in ct_beats for ky in range(kh)]


class ReadSide:
    """The read side of the memory port: rtl/burst_reader.sv cuts each row of a command into bursts
    of at most MAX_BURST words and requests them one a cycle; the memory (tb/engine/hdl's ext_mem_model)
    queues MEM_QUEUE requests, starts a burst `latency` cycles after its request at the earliest
    and returns one word a cycle, bursts in order."""

    def __init__(self, start: int, latency: int) -> None:
        self.req = start        # the earliest cycle of the next request
        self.last = start       # the cycle of the last word returned so far
        self.lat = latency
        self.pops: deque[int] = deque(maxlen=MEM_QUEUE)  # the cycles the last bursts left the memory's queue

    def command(self, row_words: int, rows: int = 1, after: int = 0) -> int:
        """Request a command no earlier than `after`; the cycle its last word arrives."""
        self.req = max(self.req, after)
        for _ in range(rows):
            for k in range(0, row_words, MAX_BURST):
                if len(self.pops) == MEM_QUEUE:
                    self.req = max(self.req, self.pops[0] + 1)
                first = max(self.req + self.lat, self.last + 1)
                self.last = first + min(MAX_BURST, row_words - k) - 1
                self.pops.append(self.last)
                self.req += 1
        return self.last + 1


def _write_side(words: list[tuple[int, int]]) -> int:
    """The cycle the writer's last word is written: `words` are (cycle they are in its FIFO,
    how many), in order; a burst of MAX_BURST words (the last: the rest) is requested once all of
    its words are in, and the write side moves one word a cycle."""
    end = pending = 0
    for ready, n in words:
        pending += n
        while pending >= MAX_BURST:
            end = max(end, ready + WRITE) + MAX_BURST
            pending -= MAX_BURST
    if pending:
        end = max(end, words[-1][0] + WRITE) + pending
    return end


def vector_unit_pushes(r: Mapping[str, int], rows: int, latency: int, max_burst: int = MAX_BURST) -> list[int]:
    """The cycles at which rtl/vec_unit.sv gives each output word, counted from its first cycle after
    start (0), for a memory that never stalls (tb/engine/hdl's ext_mem_model: a burst's first word
    max(1, latency) + 1 cycles after its request, then one a cycle) and an output that is always
    ready; the unit's done_o is high the cycle after the last. Exact, state by state (the unit
    bench, tb/engine/test_vec_unit.py, checks it cycle for cycle):
    - add, per chunk of k <= max_burst words: a's request (1 cycle), b's (1), a's words after the
      latency, b's words right behind them, then the k output words, one a cycle;
    - pool, per output pixel and window row: a row outside the image costs 1 cycle; a row inside
      it, per burst of k <= max_burst words, its request (1), the latency, its k words; then
      (average) the 32-cycle division, and the word (1);
    - upsample, per output pixel: the first of each run of STRIDE_X copies along a row reads its
      input word (request, latency, the word) before its word (1); the others are given one a cycle;
    - concat, per output tile and chunk of k <= max_burst words of it: an add's chunk, or with L = 0
      (OUT_C = IN_C) one stream only: its request (1), the latency, its k words, the k outputs;
    - gelu: first the table (gelu_table_words words), per burst of k <= max_burst words its request
      (1), the latency, its k words (each written into the table as it arrives); then a concat run's
      chunks with L = 0."""
    wait = max(1, latency)  # request accepted to its first word
    pushes: list[int] = []
    t = 0
    ct = -(-r["IN_C"] // rows)
    if r["KIND"] == KIND_CODES["add"]:
        left = ct * r["IN_H"] * r["IN_W"]
        while left:
            k = min(max_burst, left)
            t += 1 + wait + 2 * k  # VReqA, VReqB, then a's and b's words (VRxA, VRxB)
            pushes += range(t, t + k)  # VPush
            t += k
            left -= k
        return pushes
    if r["KIND"] == KIND_CODES["gelu"]:  # the table's bursts, one at a time
        left = gelu_table_words(rows)
        while left:
            k = min(max_burst, left)
            t += 1 + wait + k  # VTabReq, VTabRx
            left -= k
    if r["KIND"] in (KIND_CODES["concat"], KIND_CODES["gelu"]):  # an add's chunks within each output tile; one stream when L = 0
        one = r["OUT_C"] == r["IN_C"]
        for _ in range(-(-r["OUT_C"] // rows)):
            left = r["IN_H"] * r["IN_W"]
            while left:
                k = min(max_burst, left)
                t += 1 + wait + (1 if one else 2) * k
                pushes += range(t, t + k)
                t += k
                left -= k
        return pushes
    div = 32 if r["KIND"] == KIND_CODES["avgpool"] else 0
    pixel_cycles = []  # per output pixel of a channel tile: its cycles up to its word (every tile walks the same windows)
    if r["KIND"] == KIND_CODES["upsample"]:
        row = [1 + wait + 1 if ox % r["STRIDE_X"] == 0 else 0 for ox in range(r["OUT_W"])]
        pixel_cycles = row * r["OUT_H"]
    for rows_read in (_pool_windows(r) if r["KIND"] != KIND_CODES["upsample"] else []):
        c = div  # VDiv
        for xw in rows_read:
            if not xw:
                c += 1  # VReqA, nothing to read
            for k0 in range(0, xw, max_burst):
                c += 1 + wait + min(max_burst, xw - k0)  # VReqA, VRxA
        pixel_cycles.append(c)
    for _ in range(ct):  # [c_tile][oy][ox]
        for c in pixel_cycles:
            t += c
            pushes.append(t)  # VPush
            t += 1
    return pushes


def _pool_windows(r: Mapping[str, int]) -> list[list[int]]:
    """A pool's output pixels of one channel tile ([oy][ox]): the words each window row reads, its
    columns inside the image (0: the row lies outside the image, or no column is inside)."""
    out = []
    for oy in range(r["OUT_H"]):
        for ox in range(r["OUT_W"]):
            x0 = ox * r["STRIDE_X"] - r["PAD_LEFT"]
            xw = max(0, min(x0 + r["KW"], r["IN_W"]) - max(x0, 0))
            out.append([xw if 0 <= oy * r["STRIDE_Y"] + ky - r["PAD_TOP"] < r["IN_H"] else 0 for ky in range(r["KH"])])
    return out


def gelu_table_words(rows: int) -> int:
    """The words of a GELU table as hexgen lays it out (hexgen.tokens.gelu_table_layout) in the
    engine's words of `rows` bytes."""
    from hexgen.tokens import table_layout

    return table_layout(8, rows * 8).words


def _vector_read_words(r: Mapping[str, int], rows: int) -> int:
    """The words the vector unit reads: an add each word of both inputs once, a pool every window
    row's in-image words of every output pixel, a GELU its table and each input word once."""
    ct = -(-r["IN_C"] // rows)
    if r["KIND"] == KIND_CODES["gelu"]:
        return gelu_table_words(rows) + ct * r["IN_H"] * r["IN_W"]
    if r["KIND"] == KIND_CODES["add"]:
        return 2 * ct * r["IN_H"] * r["IN_W"]
    if r["KIND"] == KIND_CODES["concat"]:  # per output word, the input's (and, when L > 0, the tile before's)
        return (1 if r["OUT_C"] == r["IN_C"] else 2) * -(-r["OUT_C"] // rows) * r["IN_H"] * r["IN_W"]
    if r["KIND"] == KIND_CODES["upsample"]:  # each input word once per output row it spreads over
        return ct * r["OUT_H"] * r["IN_W"]
    return ct * sum(sum(w) for w in _pool_windows(r))


def _vector_budget(r: Mapping[str, int], cfg: HardwareConfig, lat: int) -> Budget:
    """The vector unit's words (vector_unit_pushes) after the engine's start, through the write side."""
    pushes = vector_unit_pushes(r, cfg.array_rows, lat)
    # a word is in the writer's FIFO the cycle after the unit gives it
    done = _write_side([(START + c + 1, 1) for c in pushes]) + DONE
    return Budget(done, 0, _vector_read_words(r, cfg.array_rows), len(pushes))


def _row_budget(r: Mapping[str, int], cfg: HardwareConfig, lat: int) -> Budget:
    """The row unit's passes (blocks of tokens, hexgen.rules.passes), one after another: each from
    its start through the unit's output words (row_unit_pushes; the table or records loaded on
    the first) and the write side."""
    ln = r["KIND"] == KIND_CODES["layernorm"]
    t = rd_words = wr_words = 0
    for p in passes(r, cfg.array_rows, cfg.word_bits):
        t += START if t == 0 else PASS_GAP
        pushes = row_unit_pushes(ln, r["IN_C"], p.npix, p.band == 0, cfg.array_rows, lat)
        t = _write_side([(t + c + 1, 1) for c in pushes]) + DONE
        rd_words += row_unit_read_words(ln, r["IN_C"], p.npix, p.band == 0, cfg.array_rows)
        wr_words += len(pushes)
    return Budget(t, 0, rd_words, wr_words)


# ---- softmax unit (rtl/softmax_unit.sv) ----
#: the softmax unit's divider steps: one quotient bit per bit of the dividend D < 2^52
#: (golden.tf_arith.SM_DIV_BITS)
SM_DIV_CYCLES = 52


def softmax_words(length: int, lanes: int) -> int:
    """Words of one pass over a softmax row of `length` codes, `lanes` a word: ceil(L / LANES)."""
    return -(-length // lanes)


def softmax_out_cycles(length: int, lanes: int) -> list[int]:
    """The cycles at which rtl/softmax_unit.sv's output words are taken, counted from the edge that
    samples start_i (cycle 0), with an input that is never empty and an output always ready:

        W = ceil(L / LANES)                      words per pass (the row is sent three times)
        cycles 1 .. W                            pass 1 (max), one word a cycle
        cycles W + 1 .. 2W                       pass 2 (exp table, sum), one word a cycle
        cycles 2W + 1 .. 2W + 52                 the division D // S, one quotient bit a cycle
                                                 (SM_DIV_CYCLES; in_ready_o low)
        cycles 2W + 53 .. 3W + 52                pass 3 words taken, one a cycle
        + 1                                      the output register: word i leaves at 2W + 54 + i
    """
    w = softmax_words(length, lanes)
    return [2 * w + SM_DIV_CYCLES + 2 + i for i in range(w)]


def softmax_cycles(length: int, lanes: int) -> int:
    """Cycles from start (the edge that samples start_i) to the last output word taken, no stalls:
    3 W + SM_DIV_CYCLES + 1 with W = ceil(L / LANES) words per pass (softmax_out_cycles)."""
    return 3 * softmax_words(length, lanes) + SM_DIV_CYCLES + 1

# ---- LayerNorm unit (rtl/layernorm_unit.sv) ----
def layernorm_cycles(channels: int, lanes: int) -> int:
    """Cycles of one LayerNorm row on rtl/layernorm_unit.sv with no stalls (input always valid,
    output always ready): clock edges after the one that samples start_i, through the one that
    takes the row's last output word. Exact (tb/engine/test_layernorm_unit.py checks it):

        2 * W + 2 + LN_SQRT_ITERS + LN_RECIP_BITS + 3,    W = ceil(channels / lanes)

    - W words of pass 1 (S and Q), one a cycle;
    - 2 cycles for the variance: C*Q - S^2, then the radicand V = (C * (C*Q - S^2) << 2P) + E;
    - LN_SQRT_ITERS = 24 cycles of the restoring square root (one root bit each);
    - LN_RECIP_BITS = 48 cycles of the restoring divider (2^48 - 1) // max(r, 1), one quotient bit each;
    - W words of pass 2, one a cycle;
    - 3 cycles of the output pipeline (the word and its records, t, the output word) after the
      last pass-2 word is taken.
    """
    from golden.tf_arith import LN_RECIP_BITS, LN_SQRT_ITERS

    words = -(-channels // lanes)
    return 2 * words + 2 + LN_SQRT_ITERS + LN_RECIP_BITS + 3


# ---- row unit (rtl/row_unit.sv): softmax and LayerNorm over token tensors in memory ----
#: words of one channel tile's LayerNorm records: ROWS records of 128 bits (hexgen.tokens, the
#: "records" layout: two 64-bit elements a channel, [c_tile][c_lane]) in words of 8 ROWS bits
ROW_REC_WORDS = 16
#: the row unit's table unpacking: one of the 256 exp entries written a cycle
ROW_UNPACK_CYCLES = 256


def row_unit_read_words(is_ln: bool, length: int, nb: int, first: bool, rows: int) -> int:
    """The words rtl/row_unit.sv reads for one block of `nb` tokens of rows of `length` (W =
    ceil(length / rows) words): the block once (W bursts of nb words), and on the run's first block
    the exp table (hexgen.tokens.table_layout(32, ..)'s words) or W tiles of LayerNorm records."""
    from hexgen.tokens import table_layout

    w = softmax_words(length, rows)
    params = 0
    if first:
        params = w * ROW_REC_WORDS if is_ln else table_layout(32, rows * 8, "d").words
    return params + w * nb


def row_unit_pushes(is_ln: bool, length: int, nb: int, first: bool, rows: int, latency: int,
                    max_burst: int = MAX_BURST) -> list[int]:
    """The cycles at which rtl/row_unit.sv gives each output word of a block, counted as
    vector_unit_pushes counts (0: the unit's first cycle after start; a memory that never stalls, a
    burst's first word max(1, latency) + 1 cycles after its request; the output always ready);
    done_o is high the cycle after the last. Exact (tb/engine/test_row_unit.py checks it), phase
    after phase:
    - first block only, the parameters: per burst of k <= max_burst words of the table or the
      records, its request (1), the latency, its k words; softmax then writes the table's 256
      entries, one a cycle (ROW_UNPACK_CYCLES);
    - the block: per channel tile (W of them) one burst of nb words: request, latency, nb words;
    - per token: a cycle to start the math unit, then the unit's own cycles with its input never
      empty and output always ready (softmax_cycles, layernorm_cycles: through its last word);
    - the W nb output words, one a cycle."""
    wait = max(1, latency)
    w = softmax_words(length, rows)
    t = 0
    if first:
        left = row_unit_read_words(is_ln, length, 0, True, rows)  # the parameters' words
        while left:
            k = min(max_burst, left)
            t += 1 + wait + k
            left -= k
        if not is_ln:
            t += ROW_UNPACK_CYCLES
    t += w * (1 + wait + nb)
    row = layernorm_cycles(length, rows) if is_ln else softmax_cycles(length, rows)
    t += nb * (1 + row)
    return list(range(t, t + w * nb))
