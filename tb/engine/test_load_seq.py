"""cocotb bench of rtl/load_seq.sv (the engine's load sequencer) against hexgen's memory map.

Each case is a random conv, depthwise, pointwise or fc layer that fits the hardware description
($HW: a hexgen.hw preset), laid out by hexgen (tb.engine.unit_layers.random_layer), cut into random bands
of output rows and groups of output-channel tiles (hexgen.rules.passes), one pass of which the
unit runs. The bench programs the unit with the pass's rows, k_tiles and bases, the layer's
derived sizes (hexgen.rules.register_needs), takes its
commands with random ready, answers each with a done (tag) after a random delay in order, and
models the compute unit finishing k_tiles at random once their weights, records and input are in.
Checked, with the memory map as the reference:
- every word of the pass's k_tiles' weights, bias and scale and of its input rows (halo included)
  is read exactly once, with its buffer's tag, and nothing else is read;
- each word lands where the buffers mirror their segments (records word for word, the input rows
  as in the input segment of an image of those rows (depthwise: and of the group's channel tiles)
  alone, k_tile t's weights from the start of
  bank t % 2);
- the order: k_tile 0's bias, scale, weights, then the input rows, then each next k_tile's bias,
  scale, weights (depthwise: each k_tile's bias, scale, weights, then its channel tile's rows),
  the input rows one command per entry of hexgen.rules.input_loads, each reading exactly that
  entry's channel tiles and row; weights of k_tile t only once the compute unit has finished
  k_tile t - 2;
- the scoreboards end at the pass's k_tiles and input rows.
A second test runs Q K^T's transposed weight commands (W_TRANSPOSE, hexgen.matmul's runs): each
real key's word of each channel tile of K's token layout read once into its bank word, and the
weights' scoreboard counting the transposer's done (wgt_done_i) only.
Environment: RTL_SEED (default random, printed), HW (preset), LOAD_CASES (layers per run).
"""
from __future__ import annotations

import os
import random
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from hexgen.hw import load_hw
from hexgen.layout import Layout, element_address
from hexgen.plan import act_layout
from hexgen.rules import (KIND_CODES, Pass, descriptor_registers, input_loads, passes, record_words_per_k_tile, tap_rows,
                          register_needs)
from tb.engine.csr import BUFFER_TAGS, READER_STATES
from tb.sim import bench_seed
from tb.engine.unit_layers import KINDS, random_layer

TEST_FILE = "tests/test_rtl_load_seq.py"
TAG = {name: v for v, name in BUFFER_TAGS.items()}
SEGMENT_TAG = {"weights": TAG["TgWgt"], "bias": TAG["TgBias"], "scale": TAG["TgScale"], "input": TAG["TgAct"]}
SQ_DONE = next(v for v, (name, _) in READER_STATES.items() if name == "SqDone")


def loads(regs: dict[str, int], p: Pass) -> list[tuple[range, int]]:
    return input_loads(regs["KIND"] == KIND_CODES["depthwise"], p.c_tiles, p.in_rows, regs["IN_H"])


def command_pattern(regs: dict[str, int], p: Pass) -> list[str]:
    """The documented order: k_tile 0's bias, scale, weights; the input rows; each next k_tile's
    (depthwise: each k_tile's records and weights, then its own channel tile's rows)."""
    recs = ["TgBias", "TgScale", "TgWgt"]
    if regs["KIND"] == KIND_CODES["depthwise"]:
        return [tag for t in range(p.k_tiles) for tag in recs + ["TgAct"] * p.in_rows]
    return recs + ["TgAct"] * len(loads(regs, p)) + recs * (p.k_tiles - 1)


def act_loads_for(regs: dict[str, int], p: Pass, k_tile: int) -> int:
    """Input-row loads that must be in before k_tile can compute: every load holding one of its rows."""
    dw = regs["KIND"] == KIND_CODES["depthwise"]
    return 1 + max(i for i, (tiles, _y) in enumerate(loads(regs, p)) if not dw or k_tile in tiles)


def expected_tag(regs: dict[str, int], p: Pass, i: int) -> int:
    pattern = command_pattern(regs, p)
    return TAG[pattern[i]] if i < len(pattern) else -1


def expected_reads(cfg: Any, mm: dict[str, Any], p: Pass, need: Any, wgt_words: int, step: int = 1) -> dict[str, list[tuple[int, int]]]:
    """(segment word, buffer address) of every word the pass must read, from hexgen's layouts: its
    k_tiles' weights (k_tile t of the pass from the start of bank t % 2) and records (word for
    word), and its input rows, which land where they would in the input segment of an image
    of those rows alone (the activation buffer mirrors the pass's input); a pass of tap rows
    (hexgen.rules.tap_rows) reads its rows `step` (DIL_Y) apart."""
    entry, seg = mm["layers"][0], {s["segment"]: s for s in mm["segments"]}
    rec_wpk = record_words_per_k_tile(cfg.array_rows, cfg.word_bits)
    reads = {"weights": [(p.w_offset + j, (j // need.weight) % 2 * wgt_words + j % need.weight)
                         for j in range(p.k_tiles * need.weight)]}
    for s in ("bias", "scale"):
        reads[s] = [(p.rec_offset + j, j) for j in range(p.k_tiles * rec_wpk)]
    inp = Layout.from_json(seg["input"]["layout"])
    ins = entry["descriptor"]["in_shape"]
    c0 = p.c_tile * cfg.array_rows  # the pass's channel tiles (depthwise: its group's own)
    cs = range(c0, min(ins[0], (p.c_tile + p.c_tiles) * cfg.array_rows), cfg.array_rows)
    if len(ins) == 1:
        reads["input"] = [(element_address(inp, (0, c))[0],) * 2 for c in cs]
    else:
        band = act_layout((min(ins[0] - c0, p.c_tiles * cfg.array_rows), p.in_rows, ins[2]), 1, inp.pad, cfg)
        reads["input"] = [(element_address(inp, (0, c, p.in_y + y * step, x))[0], element_address(band, (0, c - c0, y, x))[0])
                          for c in cs for y in range(p.in_rows) for x in range(ins[2])]
    return {s: sorted((seg[s]["base_word"] + e, b) for e, b in r) for s, r in reads.items()}



async def start_pass(dut: Any, drive: dict[str, int], cmd_ready: int) -> None:
    """The pass's registers on the unit's ports, the scoreboard inputs low, a start pulse, then run."""
    for port, v in drive.items():
        getattr(dut, port).value = v
    dut.cfin_i.value = 0
    dut.done_i.value = 0
    dut.wgt_done_i.value = 0
    dut.cmd_ready_i.value = cmd_ready
    dut.run_i.value = 0
    dut.start_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.start_i.value = 0
    dut.run_i.value = 1

async def run_case(dut: Any, rng: random.Random, cfg: Any, mm: dict[str, Any], wgt_words: int) -> list[str]:
    entry = mm["layers"][0]
    regs = descriptor_registers(entry["descriptor"])
    # a random tiling of the layer into bands and output-channel groups, and one of its passes
    kt_out = register_needs(regs, cfg.array_rows, cfg.word_bits).kt_out
    # (a dilated layer in one-row bands: passes of tap rows, DIL_Y apart in memory)
    band = 1 if regs["DIL_Y"] > 1 else rng.randint(1, regs["OUT_H"])
    regs.update(BAND_ROWS=band, GROUP_KT=rng.randint(1, kt_out))
    need = register_needs(regs, cfg.array_rows, cfg.word_bits)
    all_passes = passes(regs, cfg.array_rows, cfg.word_bits)
    # (of tap rows, a pass of more than one row: their spacing shows)
    p = rng.choice([q for q in all_passes if q.in_rows > 1 or not tap_rows(regs)] or all_passes)
    step = regs["DIL_Y"] if tap_rows(regs) else 1  # a pass of tap rows: its rows DIL_Y apart in memory
    seg = {s["segment"]: s for s in mm["segments"]}
    drive = {"is_dw_i": int(regs["KIND"] == KIND_CODES["depthwise"]), "in_h_i": p.in_rows, "row_step_i": step,
             "in_w_i": regs["IN_W"], "in_plane_i": regs["IN_H"] * regs["IN_W"],
             "ct_in_i": p.c_tiles, "kt_out_i": p.k_tiles, "wgt_need_i": need.weight, "wgt_step_i": need.weight, "w_tr_i": 0,
             "w_base_i": seg["weights"]["base_word"] + p.w_offset, "b_base_i": seg["bias"]["base_word"] + p.rec_offset,
             "s_base_i": seg["scale"]["base_word"] + p.rec_offset, "in_base_i": seg["input"]["base_word"] + p.in_offset}
    await start_pass(dut, drive, cmd_ready=0)
    cmds: list[dict[str, int]] = []
    pending: list[tuple[int, int]] = []  # (cycle due, tag), in order
    cfin, cycle, problems = 0, 0, []
    p_ready = rng.choice([0.3, 0.7, 1.0])
    while True:
        cycle += 1
        if cycle > 20000:
            problems.append(f"timeout: {len(cmds)} commands, sequencer at {int(dut.seg_o.value)}")
            break
        ready = rng.random() < p_ready
        dut.cmd_ready_i.value = int(ready)
        due = bool(pending) and pending[0][0] <= cycle
        dut.done_i.value = int(due)
        dut.done_tag_i.value = pending[0][1] if due else 0
        dut.wgt_done_i.value = int(due and pending[0][1] == TAG["TgWgt"])  # no transposer: the reader's done
        # the compute unit: finishes k_tile cfin some time after its weights, records and input are in
        if (int(dut.wloaded_o.value) > cfin and int(dut.recs_kt_o.value) > cfin
                and int(dut.act_rows_o.value) >= act_loads_for(regs, p, cfin) and rng.random() < 0.2):
            cfin += 1
        dut.cfin_i.value = cfin
        await ReadOnly()
        # no needless wait: the sequencer holds back only the weights of a k_tile whose bank the
        # compute unit still uses (k_tile t waits while fewer than t - 1 k_tiles are finished)
        if not int(dut.cmd_valid_o.value) and int(dut.seg_o.value) != SQ_DONE:
            t = sum(c["tag"] == TAG["TgWgt"] for c in cmds)
            if not (BUFFER_TAGS.get(expected_tag(regs, p, len(cmds))) == "TgWgt" and t >= cfin + 2):
                problems.append(f"cycle {cycle}: no command although none waits for a bank "
                                f"(next {BUFFER_TAGS.get(expected_tag(regs, p, len(cmds)))}, k_tile {t}, {cfin} finished)")
                break
        if int(dut.cmd_valid_o.value) and ready:
            c = {k: int(getattr(dut, f"cmd_{k}_o").value) for k in ("tag", "ext", "ext_stride", "buf", "buf_stride", "len", "rows")}
            c["cfin"] = cfin
            cmds.append(c)
            pending.append((max([cycle + rng.randint(1, 12)] + [d for d, _ in pending[-1:]]), c["tag"]))
        seq_done = int(dut.seg_o.value) == SQ_DONE
        await RisingEdge(dut.clk_i)
        if due:
            pending.pop(0)
        if seq_done and not pending:
            break
    dut.run_i.value = 0
    dut.done_i.value = 0
    dut.wgt_done_i.value = 0
    await RisingEdge(dut.clk_i)
    name = f"{entry['kind']} {regs}, pass {p.band}.{p.group} of {len(all_passes)}"
    # every word the pass needs read once with its tag, into its buffer address; nothing else
    reads: dict[int, list[tuple[int, int]]] = {t: [] for t in BUFFER_TAGS}
    for c in cmds:
        for r in range(c["rows"]):
            for i in range(c["len"]):
                reads[c["tag"]].append((c["ext"] + r * c["ext_stride"] + i, c["buf"] + r * c["buf_stride"] + i))
    for s, want in expected_reads(cfg, mm, p, need, wgt_words, step).items():
        got = sorted(reads[SEGMENT_TAG[s]])
        if got != want:
            bad = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
            problems.append(f"{name}: {s}: {len(got)} words read, {len(want)} expected; first difference at "
                            f"#{bad}: read {got[bad:bad + 1]} (segment word, buffer address), expected {want[bad:bad + 1]}")
    # each input command reads exactly its entry of input_loads: the scoreboard counts commands, and
    # the gather takes load i to hold those rows
    inp = Layout.from_json(seg["input"]["layout"])
    ins = entry["descriptor"]["in_shape"]
    acts = [c for c in cmds if c["tag"] == TAG["TgAct"]]
    for i, ((tiles, y), c) in enumerate(zip(loads(regs, p), acts)):
        chans = [(p.c_tile + t) * cfg.array_rows for t in tiles]
        if len(ins) == 1:
            want_words = sorted(seg["input"]["base_word"] + element_address(inp, (0, ch))[0] for ch in chans)
        else:
            want_words = sorted(seg["input"]["base_word"] + element_address(inp, (0, ch, p.in_y + y * step, x))[0]
                                for ch in chans for x in range(ins[2]))
        got_words = sorted(c["ext"] + r * c["ext_stride"] + j for r in range(c["rows"]) for j in range(c["len"]))
        if got_words != want_words:
            problems.append(f"{name}: input load {i} reads words {got_words[:4]}..., expected channel tiles "
                            f"{list(tiles)} of row {y}: {want_words[:4]}...")
            break
    # order: k_tile 0's records and weights, the input rows, then each next k_tile's
    pattern = command_pattern(regs, p)
    if [BUFFER_TAGS[c["tag"]] for c in cmds] != pattern:
        problems.append(f"{name}: command order {[BUFFER_TAGS[c['tag']] for c in cmds]}, expected {pattern}")
    wgt = [c for c in cmds if c["tag"] == TAG["TgWgt"]]
    for t, c in enumerate(wgt):
        if c["cfin"] < t - 1:
            problems.append(f"{name}: weights of k_tile {t} issued with {c['cfin']} k_tiles finished (bank still in use)")
    final = {"wloaded_o": p.k_tiles, "recs_kt_o": p.k_tiles, "act_rows_o": len(loads(regs, p))}
    for port, v in final.items():
        if int(getattr(dut, port).value) != v:
            problems.append(f"{name}: {port} ends at {int(getattr(dut, port).value)}, expected {v}")
    return problems


@cocotb.test()
async def test_commands_against_the_memory_map(dut: Any) -> None:
    seed = bench_seed(dut._log, TEST_FILE)
    rng = random.Random(seed)
    cfg = load_hw(os.environ.get("HW", "default"))
    Clock(dut.clk_i, 10, unit="ns", impl="gpi").start()
    dut.rst_i.value = 1
    dut.start_i.value = 0
    dut.run_i.value = 0
    for _ in range(2):
        await RisingEdge(dut.clk_i)
    dut.rst_i.value = 0
    problems: list[str] = []
    kinds = set()
    cases = int(os.environ.get("LOAD_CASES", "14"))
    # the kinds in turn, so each is covered; then a dilated conv and depthwise (passes of tap rows)
    for i, kind in enumerate([KINDS[i % len(KINDS)] for i in range(cases)] + ["conv", "depthwise"]):
        # larger images, fc inputs and channel counts than the other unit benches: more rows,
        # bursts across MAX_BURST and k_tiles to sequence
        # every other round of the kinds with packed weights (fewer words per k_tile: the weight commands)
        w_bits = rng.choice([4, 2]) if (i // len(KINDS)) % 2 else 8
        layer, image, _x = random_layer(rng, cfg, kind, max_hw=14, fc_max_c=300,
                                        max_k=4 * cfg.array_rows + 5, w_bits=w_bits,
                                        dilated=i >= cases or (i // len(KINDS)) % 3 == 2)
        mm = image.memory_map()
        kinds.add(mm["layers"][0]["kind"])
        problems += await run_case(dut, rng, cfg, mm, cfg.weight_buf_words)
        if problems:
            break
    assert not problems, f"load_seq disagrees with the memory map (seed {seed}):\n  " + "\n  ".join(problems[:5])
    assert kinds == set(KINDS), f"the cases covered only {kinds}"


@cocotb.test()
async def test_transposed_weights_read_k_where_its_producer_wrote_it(dut: Any) -> None:
    """W_TRANSPOSE (w_tr_i): a Q K^T run's weight commands (hexgen.matmul plans the run: its
    registers, its k_tiles and channel tiles, K's token layout): every real key's word of every
    channel tile is read once for its k_tile, into the bank at (channel tile) x ROWS + (key's lane)
    (the block rtl/wgt_transpose.sv then transposes), ROWS words a channel tile; and k_tile t counts
    as loaded only on wgt_done_i (the transposer's), not on the reader's done of its command."""
    from golden.transformer import MatmulLayer
    from hexgen.plan import plan_layer

    seed = bench_seed(dut._log, TEST_FILE, "transposed")
    rng = random.Random(seed)
    cfg = load_hw(os.environ.get("HW", "default"))
    r = cfg.array_rows
    Clock(dut.clk_i, 10, unit="ns", impl="gpi").start()
    dut.rst_i.value = 1
    dut.start_i.value = 0
    dut.run_i.value = 0
    for _ in range(2):
        await RisingEdge(dut.clk_i)
    dut.rst_i.value = 0
    problems: list[str] = []
    # keys: a partial last k_tile and channel tile, whole tiles, several k_tiles (the bank's turns)
    for t_len, d_len in [(3 * r + 1, 2 * r + 3), (2 * r, r), (rng.randrange(r + 1, 4 * r), rng.randrange(1, 3 * r))]:
        m = rng.randrange(1, 6)
        layer = MatmulLayer(name="qk", inputs=("q", "k"), in_shape=(1, m, d_len), out_shape=(1, m, t_len), module="qk",
                            source="qk", in_shape_b=(1, t_len, d_len), z_a=3, transpose_b=True, m0=1 << 30, n=40, z_out=0,
                            lo=0, hi=255, m0_bits=31)
        plan = plan_layer(layer, cfg, images=1)
        run = plan.descriptor["runs"][0]
        k_lay = dict(plan.layouts)["input2"]
        regs = descriptor_registers(run)
        need = register_needs(regs, r, cfg.word_bits)
        w_base, wgt_words = 1000, cfg.weight_buf_words
        drive = {"is_dw_i": 0, "in_h_i": regs["IN_H"], "row_step_i": 1, "in_w_i": regs["IN_W"],
                 "in_plane_i": regs["IN_H"] * regs["IN_W"], "ct_in_i": need.ct_in, "kt_out_i": need.kt_out,
                 "wgt_need_i": need.weight, "wgt_step_i": regs["W_KT_STRIDE"] or need.weight, "w_tr_i": 1,
                 "w_base_i": w_base + run["w_word"], "b_base_i": 100_000, "s_base_i": 200_000, "in_base_i": 300_000}
        await start_pass(dut, drive, cmd_ready=1)
        cmds: list[dict[str, int]] = []
        wdone_due: list[int] = []  # cycles the transposer's done comes for each weight command
        rdone_due: list[tuple[int, int]] = []  # (cycle, tag) of the reader's done of each command
        cfin, cycle, given = 0, 0, 0  # given: wgt_done_i pulses before this cycle
        while cycle < 5000:
            cycle += 1
            # the reader's done of each command two cycles after it (tagged); the transposer's some
            # cycles after a weight command's: only wgt_done_i counts weights
            rdue = bool(rdone_due) and rdone_due[0][0] <= cycle
            dut.done_i.value = int(rdue)
            dut.done_tag_i.value = rdone_due[0][1] if rdue else 0
            due = bool(wdone_due) and wdone_due[0] <= cycle
            dut.wgt_done_i.value = int(due)
            await ReadOnly()
            if int(dut.wloaded_o.value) != given:
                problems.append(f"T {t_len} D {d_len}: wloaded_o {int(dut.wloaded_o.value)} after {given} wgt_done_i pulses")
                break
            cfin = min(given, cfin + 1) if rng.random() < 0.5 else cfin  # the compute unit finishes loaded k_tiles
            if int(dut.cmd_valid_o.value):
                c = {k: int(getattr(dut, f"cmd_{k}_o").value) for k in ("tag", "ext", "ext_stride", "buf", "buf_stride", "len", "rows")}
                cmds.append(c)
                rdone_due.append((cycle + 2, c["tag"]))
                if c["tag"] == TAG["TgWgt"]:
                    wdone_due.append(cycle + 3 + r)
            seq_done = int(dut.seg_o.value) == SQ_DONE
            await RisingEdge(dut.clk_i)
            dut.cfin_i.value = cfin
            if rdue:
                rdone_due.pop(0)
            if due:
                wdone_due.pop(0)
                given += 1
            if seq_done and not wdone_due and not rdone_due:
                break
        dut.run_i.value = 0
        dut.done_i.value = 0
        dut.wgt_done_i.value = 0
        await RisingEdge(dut.clk_i)
        if int(dut.wloaded_o.value) != need.kt_out:
            problems.append(f"T {t_len} D {d_len}: wloaded_o ends at {int(dut.wloaded_o.value)}, expected {need.kt_out}")
        wgt = [c for c in cmds if c["tag"] == TAG["TgWgt"]]
        if len(wgt) != need.kt_out:
            problems.append(f"T {t_len} D {d_len}: {len(wgt)} weight commands for {need.kt_out} k_tiles")
            break
        for kt, c in enumerate(wgt):
            got = {c["ext"] + i * c["ext_stride"] + j: c["buf"] + i * c["buf_stride"] + j
                   for i in range(c["rows"]) for j in range(c["len"])}
            if len(got) != need.ct_in * r or c["len"] != r:
                problems.append(f"T {t_len} D {d_len} k_tile {kt}: {c['rows']} rows of {c['len']} words, expected "
                                f"{need.ct_in} channel tiles of {r} tokens")
                break
            bank = (kt % 2) * wgt_words
            for ct in range(need.ct_in):
                for j in range(r):
                    key = kt * r + j
                    if key >= t_len:
                        continue  # a padded key: its words feed only padded output channels
                    word = w_base + element_address(k_lay, (0, 0, key, ct * r))[0]
                    if got.get(word) != bank + ct * r + j:
                        problems.append(f"T {t_len} D {d_len} k_tile {kt}: key {key} of channel tile {ct} (word {word}) "
                                        f"read into {got.get(word)}, expected bank word {bank + ct * r + j}")
                        break
        if problems:
            break
    assert not problems, f"load_seq's transposed weights disagree with hexgen (seed {seed}):\n  " + "\n  ".join(problems[:5])
