"""cocotb bench of a target (tb.target): run the job's layers through the target's own driver and
compare every output element with golden's. The framework's side of the seam: the driver programs,
starts and waits (its module's setup / run_layer / read_words); this module decodes the output
segment with its recorded layout, compares, and writes one result per layer in tb.layer_sim's
format (status PASS or FAIL and the reason; UNSUPP is decided before the simulation).

A layer FAILs on: an error or the watchdog (the driver's status), a CYCLES count the driver's own
count does not confirm, any wrong output element (tb.compare).

A failing layer's output is saved (<layer>.got.npy) and, when the driver recorded the layer's memory
writes ("writes", "start_ps", "period_ps" in run_layer's dict), the cycle from start at which each
output word was last written (<layer>.wcycle.npy, as the engine's bench saves it: all ones for a
word never written) and that write's time in ps (<layer>.write_ps.npy, -1: never), for the
diagnosis's "where" table, SIM=both and the waves' marker (tb.failure).
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

import cocotb
import numpy as np

from hexgen import from_words, read_image
from hexgen.memh import read_memh
from tb.compare import compare, write_results


def _driver(path: str) -> Any:
    if str(Path(path).parent) not in sys.path:  # the driver imports the files beside it
        sys.path.append(str(Path(path).parent))
    spec = importlib.util.spec_from_file_location("int8sim_target_driver", path)
    assert spec is not None and spec.loader is not None, path
    mod = importlib.util.module_from_spec(spec)
    sys.modules["int8sim_target_driver"] = mod
    spec.loader.exec_module(mod)
    return mod


def segment_of(rb: Any, layer: str, role: str) -> str:
    """The name of the layer's segment that holds `role` (hexgen.target roles)."""
    for s in rb.memory_map["segments"]:
        if s["layer"] == layer and s.get("role") == role:
            return str(s["segment"])
    raise KeyError(f"layer {layer} has no segment of role {role!r}")


async def run_layer(dut: Any, rb: Any, drv: Any, h: Any, name: str, job: dict[str, Any]) -> dict[str, Any]:
    word_bytes = rb.config.word_bits // 8
    layer = rb.layer(name)
    bases = {s["segment"]: int(s["base_word"]) * word_bytes for s in rb.memory_map["segments"] if s["layer"] == name}
    result: dict[str, Any] = {"layer": name, "kind": layer["kind"], "array_size": int(job.get("macs_per_cycle", 1))}
    out = await drv.run_layer(h, layer, bases, int(job["watchdog_cycles"][name]))
    result["cycles"] = out.get("cycles")
    if out["status"] != "done":
        what = "watchdog" if out["status"] == "watchdog" else "engine error status"
        result.update(status="FAIL", reason=f"{what}: {out.get('reason', '')}".rstrip(": "))
        return result
    if out.get("bench_cycles") is not None and out.get("cycles") != out["bench_cycles"]:
        result.update(status="FAIL", reason=f"the target's cycle counter reads {out.get('cycles')}, but the driver counted "
                                            f"{out['bench_cycles']} cycles from start to done")
        return result
    seg_out, seg_exp = segment_of(rb, name, "output"), segment_of(rb, name, "expected")
    info = rb.segment_info(name, seg_out)
    words = drv.read_words(h, int(info["base_word"]) * word_bytes, int(info["words"]))
    got, problems = from_words(words, rb.layout(name, seg_out))
    m = compare(name, rb[(name, seg_exp)][0], got[0])  # one test image: [1, ...]
    result.update(status="PASS" if m.ok else "FAIL", mismatches=m.wrong, elements=m.total, report=m.report(),
                  padding_problems=[p for _, p in problems][:5])
    if m.ok and problems:
        result.update(status="FAIL", reason="padding lanes of the output segment: " + problems[0][1])
    if not m.ok:
        result["reason"] = f"{m.wrong} of {m.total} outputs wrong"
    if not m.ok or job.get("record_all"):  # what the target wrote: the diagnosis (tb.failure), SIM=both
        got_file = Path(job["results"]).with_name(f"{name}.got.npy")
        np.save(got_file, np.asarray(got[0], np.int64))
        result["got_file"] = str(got_file)
        if out.get("writes") is not None and out.get("start_ps") is not None and out.get("period_ps"):
            # and when each output word was written, from the driver's record of the memory's writes
            wcycle, wps = write_cycles(out["writes"], int(out["start_ps"]), int(out["period_ps"]),
                                       int(info["base_word"]) * word_bytes, int(info["words"]), word_bytes)
            cycle_file, ps_file = (Path(job["results"]).with_name(f"{name}.{k}.npy") for k in ("wcycle", "write_ps"))
            np.save(cycle_file, wcycle)
            np.save(ps_file, wps)
            result.update(wcycle_file=str(cycle_file), write_ps_file=str(ps_file), start_ps=int(out["start_ps"]),
                          period_ps=int(out["period_ps"]))
    return result


#: a word never written, in the write-cycle array (tb.failure.NEVER: the engine bench's all-ones record)
NEVER = 0xFFFFFFFF


def write_cycles(writes: list[Any], start_ps: int, period_ps: int, base_byte: int, n_words: int,
                 word_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per word of a segment (n_words from base_byte): the clock cycle, counted from the edge that
    took start, of the last write that covered any of its bytes (NEVER: none did), and that write's
    simulation time in ps (-1: none). writes: the driver's (time in ps, byte address, bytes), in any order."""
    wcycle = np.full(n_words, NEVER, np.int64)
    wps = np.full(n_words, -1, np.int64)
    for t, addr, nbytes in sorted(((int(t), int(a), int(n)) for t, a, n in writes), key=lambda w: w[0]):
        first, last = (addr - base_byte) // word_bytes, (addr + max(nbytes, 1) - 1 - base_byte) // word_bytes
        lo, hi = max(first, 0), min(last, n_words - 1)
        if lo <= hi:  # a write outside the segment is not its business
            wcycle[lo:hi + 1] = round((t - start_ps) / period_ps)
            wps[lo:hi + 1] = t
    return wcycle, wps


@cocotb.test()
async def run_target_layers(dut: Any) -> None:
    job = json.loads(Path(os.environ["TARGET_JOB"]).read_text())
    try:
        # checked whole (golden included) when written; its layers read (every file against its checksum)
        rb = read_image(job["image_dir"], run_golden=False, layers=job["layers"])
        drv = _driver(job["driver"])
        dram = read_memh(Path(job["image_dir"]) / "dram.memh", rb.config.word_bits).words
    except Exception as exc:  # no layer can run: said once by tb.layer_sim
        Path(job["results"]).with_suffix(".setup_error").write_text(f"{type(exc).__name__}: {exc}")
        raise
    if job.get("wave_signals"):  # waves: the widths of the target's signal groups, for the save file
        from tb.waves import record_widths

        record_widths(dut, job["wave_signals"], Path(job["results"]).with_name("wave_signals.json"))
    h = await drv.setup(dut, list(dram), rb.config.word_bits)
    # the registers right after reset against their documented values (make sim; the driver's own
    # check_reset, optional): a wrong reset value fails every layer of the run, naming the register
    wrong = await drv.check_reset(h) if job.get("check_reset") and hasattr(drv, "check_reset") else []
    if wrong:
        write_results(job, [{"layer": n, "kind": rb.layer(n)["kind"], "status": "FAIL", "reason": f"after reset: {wrong[0]}"}
                            for n in job["layers"]])
        raise AssertionError("; ".join(wrong))
    results = []
    prog = job.get("progress") or {"offset": 0, "total": len(job["layers"]), "tag": ""}
    for name in job["layers"]:
        r = await run_layer(dut, rb, drv, h, name, job)
        results.append(r)
        print(f"[{prog['offset'] + len(results)}/{prog['total']}{prog['tag']}] {name}: {r['status']} cycles {r.get('cycles', 0)}"
              + (f" ({r['reason']})" if r.get("reason") else ""), flush=True)
        write_results(job, results)
    failed = [r["layer"] for r in results if r["status"] != "PASS"]
    assert not failed, f"layers failed: {', '.join(failed)}"
