"""cocotb layer bench: run conv/fc layers on the accelerator and compare them with golden.

One simulation runs every layer of the job (one build, one process): for each layer it resets the
engine (unless the job runs layers back to back), writes the CSRs from hexgen's memory map, reads
the engine's descriptor check (DESC_CHECK: a refused layer is UNSUPP and never started), starts,
waits for one signal (done, error or the bench's Verilog watchdog; no Python per cycle), reads the
output region back (one $writememh of the bench) and compares every element with golden's expected
output. Before the first layer it compares every build-fact CSR with the image's hexgen config. The job comes from tb/layer_sim.py as JSON ($LAYER_JOB);
per-layer results go to the job's results file.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge, Timer

import numpy as np

from hexgen import from_words, read_image, to_words
from hexgen.image import window_bases
from hexgen.config import WEIGHT_WIDTHS, widths_of_mask
from hexgen.plan import is_compute, is_vector, segments_of
from tb.compare import compare, token_rows, write_results
from hexgen.rules import descriptor_runs
from hexgen.tokens import b_weights, is_token_layer
from tb.engine.csr import CSR, ERR_BIAS_OVERFLOW, ID_VALUE, RESET, STATES, UNITS_FIELDS, field_name, run_csrs, units_text

CLOCK_NS = 10
#: the bits of UNITS that its fields own
UNITS_MASK = sum(((1 << w) - 1) << lsb for _, lsb, w, _ in UNITS_FIELDS)


async def write_csr(dut: Any, name: str, value: int) -> None:
    dut.csr_addr_i.value = CSR[name]
    dut.csr_wdata_i.value = int(value) & 0xFFFFFFFF
    dut.csr_we_i.value = 1
    await RisingEdge(dut.clk)
    dut.csr_we_i.value = 0


async def read_csr(dut: Any, name: str) -> int:
    dut.csr_addr_i.value = CSR[name]
    await Timer(1, "ps")
    return int(dut.csr_rdata_o.value)


async def reset_values(dut: Any, facts: dict[str, int]) -> list[str]:
    """What reads other than its documented value right after reset: every CSR (tb.engine.csr RESET, 0
    otherwise; the build facts; DESC_CHECK the field the rule book refuses in the all-reset
    descriptor; UNITS 0: every unit idle on k_tile 0), and busy, done and error."""
    from hexgen import HardwareConfig
    from hexgen.rules import REGISTERS, engine_refusal

    regs = {n: RESET.get(n, 0) for n in REGISTERS}
    cfg = HardwareConfig(array_rows=facts["ROWS"], array_cols=facts["COLS"], word_bits=facts["ROWS"] * 8,
                         act_buf_words=facts["ACT_WORDS"], weight_buf_words=facts["WGT_WORDS"],
                         bias_buf_words=facts["REC_WORDS"], scale_buf_words=facts["REC_WORDS"],
                         weight_bits=widths_of_mask(facts["WGT_WIDTHS"]) or WEIGHT_WIDTHS, pixel_bits=facts["PIX_W"],
                         row_buf_words=facts["ROW_WORDS"], ln_tiles=facts["LN_TILES"])
    refused = engine_refusal(regs, cfg)
    want = {**{n: RESET.get(n, 0) for n in CSR}, **facts, "ID": ID_VALUE, "DESC_CHECK": CSR[refused[0]] if refused else 0}
    out = [f"after reset, {n} reads 0x{got:x}, documented 0x{want[n]:x}"
           for n in CSR for got in [await read_csr(dut, n)] if got != want[n]]
    out += [f"after reset, {port} is {int(getattr(dut, port).value)}" for port in ("busy_o", "done_o", "error_o")
            if int(getattr(dut, port).value) != 0]
    return out


async def reset(dut: Any, job: dict[str, Any]) -> None:
    dut.rst_i.value = 1
    dut.csr_we_i.value = 0
    dut.csr_addr_i.value = 0
    dut.csr_wdata_i.value = 0
    dut.mem_load_i.value = 0
    dut.mem_cfg_load_i.value = 1
    dut.mem_latency_i.value = int(job.get("mem_latency", 8))
    dut.mem_stall_i.value = int(job.get("mem_stall", 0))
    dut.mem_seed_i.value = (int(job.get("seed", 1)) & 0xFFFFFFFF) or 1  # any SEED >= 0 (xorshift32: never 0)
    dut.xfer_first_i.value = 0
    dut.xfer_dump_i.value = 0
    dut.xfer_cycles_i.value = 0
    dut.xfer_clear_i.value = 0
    dut.xfer_load_i.value = 0
    dut.xfer_last_i.value = 0
    dut.watchdog_cycles_i.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst_i.value = 0
    await RisingEdge(dut.clk)
    dut.mem_cfg_load_i.value = 0


async def read_words(dut: Any, base: int, n: int, xfer_file: str, *, cycles: bool = False) -> tuple[list[int], list[str], list[int]]:
    """n words from the external memory model, through one $writememh of the bench (tb/engine/hdl/accel_tb.sv);
    X/Z words are reported (text, and their offsets from base), never read as 0. cycles: instead of
    the words, the cycle (since the start) at which each was last written (all ones: never)."""
    if n == 0:
        return [], [], []
    path = Path(xfer_file)
    path.unlink(missing_ok=True)
    port = dut.xfer_cycles_i if cycles else dut.xfer_dump_i
    dut.xfer_first_i.value = base
    dut.xfer_last_i.value = base + n - 1
    port.value = 1
    await RisingEdge(dut.clk)
    port.value = 0
    await ReadOnly()  # the edge's always blocks, the dump among them, have run
    lines = [t for t in (line.strip() for line in path.read_text().splitlines()) if t and not t.startswith(("//", "@"))]
    if len(lines) != n:
        raise RuntimeError(f"{path}: {len(lines)} words dumped for {n} from 0x{base:x}")
    words, bad, bad_at = [], [], []
    for i, t in enumerate(lines):
        if any(c in "xXzZ" for c in t):
            bad.append(f"word {i} (address 0x{base + i:x}) = {t}")
            bad_at.append(i)
            words.append(0)
        else:
            words.append(int(t, 16))
    await RisingEdge(dut.clk)  # out of the read-only phase
    return words, bad, bad_at


async def load_file(dut: Any, base: int, n: int, memh: Path, xfer_file: str) -> None:
    """A .memh file of n words (hexgen's segment file: its // header lines are comments to
    $readmemh) into the external memory model from word `base`, through one $readmemh of the bench."""
    if n <= 0:
        return
    shutil.copyfile(memh, xfer_file)
    await _load_xfer(dut, base, n)


async def write_words(dut: Any, base: int, words: list[int], xfer_file: str, word_bits: int) -> None:
    """Words into the external memory model, through one $readmemh of the bench."""
    if not words:
        return
    Path(xfer_file).write_text("".join(f"{w:0{word_bits // 4}x}\n" for w in words))
    await _load_xfer(dut, base, len(words))


async def _load_xfer(dut: Any, base: int, n: int) -> None:
    """The bench's $readmemh of the transfer file into words base .. base + n - 1. Waits until the
    edge's always blocks have run (ReadOnly) before returning: cocotb may resume at the edge before
    Icarus has run the block that reads the file, and the next transfer rewrites that file (seen:
    a layer's segments loaded back to back read the next segment's words on Icarus)."""
    dut.xfer_first_i.value = base
    dut.xfer_last_i.value = base + n - 1
    dut.xfer_load_i.value = 1
    await RisingEdge(dut.clk)
    await ReadOnly()
    await Timer(1, "ns")  # out of the read-only phase, before the next edge
    dut.xfer_load_i.value = 0


def watchdog_limit(layer: dict[str, Any], cfg: Any, *, macs: int, words: int, mem_latency: int, mem_stall: int) -> int:
    """The watchdog's bound for one layer: 50x the ideal work (MACs over the array, words moved) and
    4x the cycle model's time at the run's memory latency (hexgen.cycles), plus a margin, all
    stretched by the memory's stalls (it is ready on (256 - stall) of 256 cycles): a stuck engine
    is stopped, a slow one or a slow memory (MEM_STALL up to 255, MEM_LATENCY up to 65535) is not."""
    from hexgen.cycles import entry_budget

    modelled = entry_budget(layer["descriptor"], cfg, mem_latency).cycles
    work = 50 * (macs // (cfg.array_rows * cfg.array_cols) + words) + 4 * modelled + 20_000
    return min(work * 256 // (256 - mem_stall), 2**32 - 1)


def counters_against_bench(counters: dict[str, int], bench: dict[str, int], array_size: int) -> str:
    """What is wrong with the engine's performance counters of a layer that ran to done, held to
    what the bench counted itself (tb/engine/hdl/accel_tb.sv: cycles from start to done, words the memory
    port moved) and to what they cannot exceed; "" when nothing is. The cycle budget and the
    traffic check (tb/engine/budget.py) read these counters, so they must not be trusted to count themselves."""
    pairs = [("CYCLES", counters["CYCLES"], "cycles from start to done", bench["cycles"]),
             ("WORDS_READ", counters["WORDS_READ"], "words read through the memory port", bench["rd_words"]),
             ("WORDS_WRITTEN", counters["WORDS_WRITTEN"], "words written through the memory port", bench["wr_words"])]
    for csr, got, what, want in pairs:
        if got != want:
            return f"the engine's {csr} counter reads {got:,}, but the bench counted {want:,} {what}"
    # one beat a cycle at most, and at most the whole array's MACs in each
    if counters["BUSY_CYCLES"] > counters["CYCLES"]:
        return f"BUSY_CYCLES reads {counters['BUSY_CYCLES']:,}, more than the layer's {counters['CYCLES']:,} cycles"
    if counters["MACS"] > counters["CYCLES"] * array_size:
        return (f"MACS reads {counters['MACS']:,}, more than {counters['CYCLES']:,} cycles x {array_size} multipliers "
                "can do")
    return ""


async def run_layer(dut: Any, rb: Any, name: str, job: dict[str, Any], x_in: Any = None, x_in2: Any = None) -> dict[str, Any]:
    """Run one layer. x_in (chained runs): the input to write first (x_in2: a residual add's second
    input); the result then carries the decoded output ("got") instead of a comparison with the
    image's expected output."""
    layer = rb.layer(name)
    # windows: the layer's own segments alone in memory, packed from word 0 (hexgen.image.window_bases);
    # otherwise the whole image is in memory at its own addresses
    image_bases = {s: int(rb.segment_info(name, s)["base_word"]) for s in segments_of(layer["kind"]) if s != "expected"}
    bases = window_bases(rb.memory_map, name) if job.get("windows") else image_bases
    offset = image_bases["output"] - bases["output"]  # where the output's words are in the image, for waves
    # the engine is reset before every layer unless the job says otherwise (the counter test runs
    # layers back to back, as a driver would)
    if job.get("reset_each_layer", True) or not job.get("_started"):
        await reset(dut, job)
    job["_started"] = True
    if job.get("windows"):
        for seg, base in bases.items():  # each segment file as hexgen wrote it, through one $readmemh
            await load_file(dut, base, int(rb.segment_info(name, seg)["words"]),
                            rb.folder / rb.segment_info(name, seg)["file"], job["xfer_file"])
    if x_in is not None and layer["kind"] == "concat":  # x_in: every input; see _concat_segments
        for seg, arr in _concat_segments(rb, name, x_in).items():
            await write_words(dut, bases[seg], to_words(arr, rb.layout(name, seg)), job["xfer_file"], rb.config.word_bits)
    elif x_in is not None:
        await write_words(dut, bases["input"], to_words(np.asarray(x_in, np.int64), rb.layout(name, "input")),
                          job["xfer_file"], rb.config.word_bits)
    host_step = False  # the bench rewrote an input into another layout before the layer ran
    if x_in2 is not None:
        if layer["kind"] == "matmul" and not layer["descriptor"]["runs"][0].get("w_xor"):
            # only on a description whose words are not one byte per array row (hexgen.matmul.
            # transposable): Q K^T's K into the weight order, minus 128, a host step. Otherwise b's
            # codes go in as they come (A V: W_XOR, W_KT_STRIDE; Q K^T: W_TRANSPOSE too)
            x_in2 = b_weights(x_in2, bool(layer["descriptor"]["transpose_b"]))
            host_step = True
        await write_words(dut, bases["input2"], to_words(np.asarray(x_in2, np.int64), rb.layout(name, "input2")),
                          job["xfer_file"], rb.config.word_bits)
    # test hook (tests/test_faults_sim.py): words of a segment replaced before start, e.g. a bias
    # record that drives the engine into its overflow error
    for seg, index, value in job.get("pokes", {}).get(name, []):
        await write_words(dut, bases[seg] + int(index), [int(value)], job["xfer_file"], rb.config.word_bits)
    overrides = job.get("csr_overrides", {}).get(name, {})
    result: dict[str, Any] = {"layer": name, "kind": layer["kind"], "array_size": job["array_size"], "mem_offset": offset,
                              "host_step": host_step}
    expected = rb[(name, "expected")][0]
    macs = int(job["macs"][name])
    words = sum(rb.segment_info(name, s)["words"] for s in bases)
    limit_cycles = int(job.get("watchdog_cycles") or watchdog_limit(layer, rb.config, macs=macs, words=words,
                                                                    mem_latency=int(job.get("mem_latency", 8)),
                                                                    mem_stall=int(job.get("mem_stall", 0))))
    dut.watchdog_cycles_i.value = limit_cycles
    # the output region's write-cycle record starts at "never written" (tb/engine/hdl/accel_tb.sv wr_cycle)
    out_info = rb.segment_info(name, "output")
    dut.xfer_first_i.value = bases["output"]
    dut.xfer_last_i.value = bases["output"] + max(out_info["words"], 1) - 1
    dut.xfer_clear_i.value = 1
    await RisingEdge(dut.clk)
    dut.xfer_clear_i.value = 0
    # a layer is one run of the engine, a concat one per input the vector unit puts in place
    # (hexgen.concat), in order; the counters restart at each start and are summed
    runs = descriptor_runs(layer["descriptor"])
    summed = ("CYCLES", "BUSY_CYCLES", "MACS", "WORDS_READ", "WORDS_WRITTEN")
    totals = dict.fromkeys(summed, 0)
    result["wall_s"] = 0.0
    for k, run in enumerate(runs):
        which = f"run {k + 1} of {len(runs)}: " if len(runs) > 1 else ""
        for csr, value in run_csrs(dict(run), bases):
            await write_csr(dut, csr, overrides.get(csr, value))
        # The engine's own descriptor check, read before start: a layer it refuses is UNSUPP (with the
        # field); once started, any error status is a FAIL.
        refused = await read_csr(dut, "DESC_CHECK")
        if refused:
            result.update(status="UNSUPP", reason=f"{which}the engine refuses field {field_name(refused)} (descriptor check before start)")
            return result
        t0 = time.perf_counter()
        await write_csr(dut, "CTRL", 1)
        # one trigger: done, error or the bench's watchdog (tb/engine/hdl/accel_tb.sv) ends the wait
        await RisingEdge(dut.finished_o)
        result["wall_s"] += time.perf_counter() - t0
        await ReadOnly()
        await RisingEdge(dut.clk)
        counters = {k: await read_csr(dut, k) for k in (*summed, "STATE", "UNITS", "PASS")}
        # UNITS bits outside its fields (tb.engine.csr.UNITS_FIELDS) read 0
        stray = counters["UNITS"] & ~UNITS_MASK & 0xFFFFFFFF
        if stray:
            result.update(status="FAIL", reason=f"{which}UNITS has bits outside its fields set: 0x{stray:08x}")
            return result
        if int(dut.watchdog_o.value) and not int(dut.done_o.value) and not int(dut.error_o.value):
            state = STATES.get(counters["STATE"], str(counters["STATE"]))
            where = f"band {counters['PASS'] & 0xFFFF}, group {counters['PASS'] >> 16}"
            result.update(status="FAIL", reason=f"{which}watchdog: no done after {limit_cycles} cycles; engine state {state}, "
                                                f"{where} ({units_text(counters['UNITS'])})")
            return result
        if int(dut.error_o.value):
            f = await read_csr(dut, "ERR_FIELD")
            what = field_name(f) if f == ERR_BIAS_OVERFLOW else f"field {field_name(f)} refused at start"
            result.update(status="FAIL", reason=f"{which}engine error status: {what} (ERR_FIELD 0x{f:02x})")
            return result
        wrong_count = counters_against_bench(counters, {k: int(getattr(dut, f"bench_{k}_q").value) for k in ("cycles", "rd_words", "wr_words")},
                                             job["array_size"])
        if wrong_count:
            result.update(status="FAIL", reason=which + wrong_count)
            return result
        for c in summed:
            totals[c] += counters[c]
        result.update({c.lower(): counters[c] for c in ("STATE", "UNITS", "PASS")})
    result.update({c.lower(): v for c, v in totals.items()})
    info = rb.segment_info(name, "output")
    words, bad, bad_at = await read_words(dut, bases["output"], info["words"], job["xfer_file"])
    # Decoded with the expected output's layout: its padding lanes hold z_out, which is what the
    # engine must write there (padded channels have M0 = 0, so they requantise to z_out).
    got, problems = from_words(words, rb.layout(name, "expected"))
    if x_in is not None:
        result.update(status="FAIL" if bad else "PASS", got=got, reason="X/Z in the output" if bad else "")
        return result
    lay = rb.layout(name, "expected")  # a matmul's heads: their tokens one after another (tb.compare.token_rows)
    m = compare(name, token_rows(expected, lay), token_rows(got[0], lay))
    g0 = np.asarray(got[0])
    result.update(
        status="PASS" if m.ok else "FAIL",
        mismatches=m.wrong,
        elements=m.total,
        # functional coverage (tb.coverage): outputs at the clamp bounds
        clamp_lo=int((g0 == layer["descriptor"]["lo"]).sum()),
        clamp_hi=int((g0 == layer["descriptor"]["hi"]).sum()),
        bias_shifts=sorted({int(v) for v in np.asarray(rb[(name, "bias")])[:, 1]}) if (name, "bias") in rb.arrays else [],
        row_extremes=row_extremes(rb[(name, "input")][0]) if layer["kind"] in ("softmax", "layernorm") else [],
        report=m.report(),
        padding_problems=[p for _, p in problems][:5],
    )
    if m.ok and problems:
        result.update(status="FAIL", reason="padding lanes of the output region do not hold z_out: " + problems[0][1])
    if not m.ok:
        result["reason"] = f"{m.wrong} of {m.total} outputs wrong"
    if not m.ok or bad or job.get("record_all"):  # what the RTL wrote: the diagnosis (tb.diagnose), SIM=both (tb.sim_both)
        got_file = Path(job["results"]).with_name(f"{name}.got.npy")
        np.save(got_file, np.asarray(got[0], np.int64))
        # and when the port wrote each output word (cycles since the start), recorded by the bench's Verilog
        wcycle, _, _ = await read_words(dut, bases["output"], info["words"], job["xfer_file"], cycles=True)
        cycle_file = Path(job["results"]).with_name(f"{name}.wcycle.npy")
        np.save(cycle_file, np.asarray(wcycle, np.int64))
        result.update(got_file=str(got_file), wcycle_file=str(cycle_file), xz_words=bad_at)
    if bad:  # X/Z words were decoded as 0 above; they fail the layer whatever they compared as
        result.update(status="FAIL", reason=f"X/Z in {len(bad)} output word(s): " + "; ".join(bad[:3]))
        result["report"] = result["report"] + "\n  X/Z words (read as 0 above): " + "; ".join(bad[:10])
    return result


def row_extremes(x: Any) -> list[str]:
    """The extreme rows a softmax's or LayerNorm's input holds (the coverage bins of tb.coverage.ROW_BINS;
    a row: the last axis): every code equal; one code at least 128 above all the others; a code 0
    (the most negative value of the row's scale)."""
    rows = np.asarray(x, np.int64).reshape(-1, np.asarray(x).shape[-1])
    top2 = np.sort(rows, axis=1)[:, -2:] if rows.shape[1] > 1 else np.concatenate([rows, rows], axis=1)
    out = []
    if np.any(rows.max(axis=1) == rows.min(axis=1)):
        out.append("equal")
    if rows.shape[1] > 1 and np.any(top2[:, 1] - top2[:, 0] >= 128):
        out.append("one large")
    if np.any(rows == 0):
        out.append("code 0")
    return out


def _concat_segments(rb: Any, name: str, xs: list[Any]) -> dict[str, Any]:
    """A chained concat's segments from its inputs (the RTL's outputs): the inputs its runs put in
    place, and its output region as the image pre-filled it but for the inputs placed by layout,
    which hold what their producers wrote (hexgen.concat)."""
    from hexgen.concat import concat_arrays, concat_from_descriptor

    d = rb.layer(name)["descriptor"]
    prefill = np.asarray(rb[(name, "output")], np.int64)
    arrs = concat_arrays(concat_from_descriptor(name, d), d, [np.asarray(x, np.int64) for x in xs], 255 - prefill,
                         rb.config.channel_tile)
    return {"input": arrs["input"], "output": arrs["output"]}


async def run_chain(dut: Any, rb: Any, job: dict[str, Any]) -> None:
    """CHAIN=1: every layer in network order, the RTL's own outputs fed forward (golden runs the
    layers the RTL does not), one result per image: prediction and layers equal to golden."""
    import pickle

    net = pickle.loads(Path(job["chain"]["net"]).read_bytes())
    data = np.load(job["chain"]["npz"])
    # the layers the memory image holds run on the RTL; a layer the accelerator refused runs in
    # golden and is named in each image's golden_ran (the chain is then not all RTL, and make sim
    # says so beside its verdict)
    compute = {l["name"] for l in rb.memory_map["layers"]}
    # (a transformer's layer with arithmetic that the engine refused, hexgen.tokens, is named too)
    refused = [l.name for l in net.layers if (is_compute(l) or is_vector(l) or is_token_layer(l)) and l.name not in compute]
    results = []
    # the images of this job (tb.layer_sim splits a chained run's images into jobs); all by default
    indices = job["chain"].get("indices", range(int(job["chain"]["images"])))
    for i in [i for i in indices if i < len(data["x_q"])]:
        x = data["x_q"][i : i + 1]
        gold = net.run(x).outputs
        vals: dict[str, Any] = {"input": x}
        equal, first_diff = 0, ""
        problem = ""  # what the RTL got wrong or did not finish (layers it refused are golden_ran)
        host_steps: list[str] = []  # layers whose input the bench rewrote into another layout first
        for layer in net.layers:
            ins = [vals[s] for s in layer.inputs]
            if layer.name in compute:
                if layer.kind == "concat":  # every input (its runs' and the ones placed by layout)
                    r = await run_layer(dut, rb, layer.name, job, x_in=ins)
                else:
                    r = await run_layer(dut, rb, layer.name, job, x_in=ins[0], x_in2=ins[1] if len(ins) > 1 else None)
                if r["status"] != "PASS":
                    problem = problem or f"{layer.name}: {r.get('reason', '')}"
                if r.get("host_step"):
                    host_steps.append(layer.name)
                out = np.asarray(r.get("got", np.zeros((1, *layer.out_shape))), np.int64).reshape(1, *layer.out_shape)
                out = np.clip(out, 0, 255).astype(np.uint8)
            else:
                out = layer.forward(ins)
            vals[layer.name] = out
            if np.array_equal(out, gold[layer.name]):
                equal += 1
            elif not first_diff:
                first_diff = layer.name
        y = vals[net.output_name]
        res = {
            "image": i, "label": int(data["labels"][i]), "rtl_pred": int(y.reshape(-1).argmax()),
            "golden_pred": int(data["golden_pred"][i]), "layers": len(net.layers), "layers_equal": equal,
            "first_diff": first_diff, "problem": problem, "golden_ran": refused, "host_steps": host_steps,
        }
        results.append(res)
        print(f"[image {i + 1}/{int(job['chain']['images'])}] label {res['label']} RTL {res['rtl_pred']} "
              f"golden {res['golden_pred']} layers equal {equal}/{len(net.layers)}"
              + (f" first differing {first_diff}" if first_diff else ""), flush=True)
        write_results(job, results)
    assert all(r["layers_equal"] == r["layers"] for r in results), "the chained RTL run differs from golden"


@cocotb.test()
async def run_layers(dut: Any) -> None:
    job = json.loads(Path(os.environ["LAYER_JOB"]).read_text())
    if os.environ.get("HDL_CLOCK") != "1":  # otherwise the bench generates its own clock
        Clock(dut.clk_i, CLOCK_NS, unit="ns", impl="gpi").start()
    try:
        # checked whole (golden included) when written; a per-layer run reads its layers only (every
        # file still against its checksum), a chained run every layer
        rb = read_image(job["image_dir"], run_golden=False, layers=None if job.get("chain") else job["layers"])
    except Exception as exc:  # no layer can run: said once by tb.layer_sim, not as a stop in the first layer
        Path(job["results"]).with_suffix(".setup_error").write_text(f"{type(exc).__name__}: {exc}")
        raise
    await reset(dut, job)
    # the memory image must be laid out for this build: hexgen's config against every build-fact CSR
    facts = {n: await read_csr(dut, n) for n in ("ROWS", "COLS", "ACT_WORDS", "WGT_WORDS", "REC_WORDS", "WGT_WIDTHS", "PIX_W",
                                                  "ROW_WORDS", "LN_TILES")}
    # every CSR and status output right after reset, against its documented value (tb.engine.csr): make sim
    # and the tests that ask (45 register reads a simulator process)
    wrong_reset = await reset_values(dut, facts) if job.get("check_reset") else []
    if wrong_reset:
        write_results(job, [{"layer": n, "kind": rb.layer(n)["kind"], "status": "FAIL", "reason": wrong_reset[0]}
                             for n in job["layers"]])
        raise AssertionError("; ".join(wrong_reset))
    rows, cols = facts["ROWS"], facts["COLS"]
    cfg = rb.config
    pairs = [("array_rows", cfg.array_rows, "ROWS", rows), ("array_cols", cfg.array_cols, "COLS", cols),
             ("word_bits", cfg.word_bits, "ROWS x 8", rows * 8),
             ("act_buf_words", cfg.act_buf_words, "ACT_WORDS", facts["ACT_WORDS"]),
             ("weight_buf_words", cfg.weight_buf_words, "WGT_WORDS", facts["WGT_WORDS"]),
             ("bias_buf_words", cfg.bias_buf_words, "REC_WORDS", facts["REC_WORDS"]),
             ("scale_buf_words", cfg.scale_buf_words, "REC_WORDS", facts["REC_WORDS"]),
             ("weight_bits", cfg.weight_bits, "WGT_WIDTHS", widths_of_mask(facts["WGT_WIDTHS"])),
             ("pixel_bits", cfg.pixel_bits, "PIX_W", facts["PIX_W"]),
             ("row_buf_words", cfg.row_buf_words, "ROW_WORDS", facts["ROW_WORDS"]), ("ln_tiles", cfg.ln_tiles, "LN_TILES", facts["LN_TILES"])]
    wrong = [f"memory image {job['image_dir']} is laid out for config.{field} = {want}; this accelerator "
             f"build has {csr} = {got}" for field, want, csr, got in pairs if want != got]
    if wrong:  # every layer fails, naming the field (no layer of this image can run on this build)
        write_results(job, [{"layer": n, "kind": rb.layer(n)["kind"], "status": "FAIL", "reason": wrong[0]} for n in job["layers"]])
        raise AssertionError(wrong[0])
    job["array_size"] = rows * cols
    if job.get("chain"):
        await run_chain(dut, rb, job)
        return
    if job.get("wave_signals"):
        from tb.waves import record_widths

        record_widths(dut, job["wave_signals"], Path(job["results"]).with_name("wave_signals.json"))
    results = []
    for name in job["layers"]:
        r = await run_layer(dut, rb, name, job)
        results.append(r)
        prog = job.get("progress") or {"offset": 0, "total": len(job["layers"]), "tag": ""}  # tb.layer_sim
        line = f"[{prog['offset'] + len(results)}/{prog['total']}{prog['tag']}] {name}: {r['status']} cycles {r.get('cycles', 0)}"
        print(line + (f" ({r['reason']})" if r.get("reason") else ""), flush=True)  # progress, at any log level
        write_results(job, results)
    failed = [r["layer"] for r in results if r["status"] != "PASS"]
    assert not failed, f"layers failed: {', '.join(failed)}"
