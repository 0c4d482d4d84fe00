"""The layer runner behind `make sim`: run a model's layers on the accelerator RTL and compare them
with golden (the command line is tb.sim_cli; `python -m tb.layer_sim` runs it).

Steps: the memory image of one test image (tb/images.py: cached by the model's content), the
simulator build (tb.sim.build: cached by content), every chosen layer in one simulation (twice on
Verilator, one X seed each; a new simulation after one that stopped), a result per layer: PASS,
FAIL or UNSUPP. A run is one record, tb.run_settings.RunSettings; on failure the run folder, the
image and (with waves) the waveform are kept, and the command that reruns the case with every
option that changed it is written from that record.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from tb.accel_build import MAX_ADDR_W, bench_addr_w, build_accel, refuse_parameters
from tb.images import prepare_image
from tb.run_settings import RunSettings
from tb.sim import SimError, build_bench, require_checkout, runner_for, xrand_plusargs
from tb.target import Target, load_target
from tb.target_image import prepare_target_image
from tb.toolchain import SIM_PROCESS_ENV, apply_simulator_env
from tb.waves import WAVE_GROUPS, found_dump, save_waves

ROOT = Path(__file__).resolve().parent.parent
TOP = "accel_tb"
RUNS = ROOT / "build" / "layers"
@contextmanager
def _run_dir(base: Path) -> Iterator[Path]:
    """An exclusive run folder: `base`, or base-2, base-3, ... while another run holds it (two
    `make sim` at once in one checkout never share results)."""
    base.parent.mkdir(parents=True, exist_ok=True)
    for i in range(1, 100):
        rdir = base if i == 1 else base.with_name(f"{base.name}-{i}")
        rdir.mkdir(parents=True, exist_ok=True)
        fh = open(rdir / ".lock", "w")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            continue
        try:
            if i > 1:
                print(f"sim: {base} is in use by another run; this run's files go to {rdir}", flush=True)
            yield rdir
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()
        return
    raise SimError(f"sim: 99 runs hold {base}-*; remove stale runs or wait")


#: the layer bench of a job: (cocotb test module, HDL top level, the environment variable naming
#: the job file); a target's bench is tb.target_bench on the target's own harness (job["bench"])
ENGINE_BENCH = ("tb.test_layers", TOP, "LAYER_JOB")


def _simulate(sim: str, bdir: Path, rdir: Path, job: dict[str, Any], name: str, plusargs: list[str], waves: bool) -> list[dict[str, Any]] | None:
    """One simulator process over the job; its per-layer results, or None if it wrote none."""
    test_module, toplevel, job_var = job.get("bench") or ENGINE_BENCH
    results = rdir / f"results{name}.json"
    setup_error = results.with_suffix(".setup_error")  # the bench could not read the image (tb/test_layers.py)
    for old in (results, rdir / "sim_errors.txt", setup_error):
        if old.exists():
            old.unlink()
    xfer = rdir / f"xfer{name}.hex"  # the bench's bulk transfers to and from the memory model
    job = {**job, "results": str(results), "xfer_file": str(xfer)}
    (rdir / f"job{name}.json").write_text(json.dumps(job, indent=1))
    try:
        runner_for(sim).test(
            test_module=test_module,
            hdl_toplevel=toplevel,
            hdl_toplevel_lang="verilog",
            build_dir=str(bdir),
            test_dir=str(rdir),
            extra_env={job_var: str(rdir / f"job{name}.json"), "PYTHONPATH": str(ROOT), "HDL_CLOCK": "1", **SIM_PROCESS_ENV,
                       # cocotb's own chatter off unless asked for (SIM_VERBOSE=1); the bench prints progress
                       **({} if os.environ.get("SIM_VERBOSE") == "1" else {"COCOTB_LOG_LEVEL": "WARNING", "GPI_LOG_LEVEL": "WARNING"})},
            plusargs=[f"+MEM_INIT={Path(job['image_dir']) / 'dram.memh'}", f"+XFER_FILE={xfer}",
                      f"+SIM_ERROR_FILE={rdir / 'sim_errors.txt'}", *plusargs],
            waves=waves,
            results_xml=str(rdir / f"results{name}.xml"),
        )
    except (SystemExit, RuntimeError):
        pass  # a failing test (or a dead simulator) raises; the per-layer results say what happened
    if setup_error.is_file():
        first = setup_error.read_text().strip().splitlines() or ["?"]
        raise SimError(f"the layer bench could not read the memory image {job['image_dir']}: {first[0]}")
    if not results.exists():
        return None
    try:
        out: list[dict[str, Any]] = json.loads(results.read_text())
    except json.JSONDecodeError as exc:  # the bench writes it whole (a temporary file, renamed): a full disk
        raise SimError(f"{results}: the bench's results are not whole ({exc.msg} at line {exc.lineno}); is the disk full?") from None
    return out


def _x_merge(first: list[dict[str, Any]], second: list[dict[str, Any]] | None, seeds: tuple[int, int]) -> list[dict[str, Any]]:
    """A layer passes on Verilator only if it passes under both random-initialisation seeds with the
    same cycle count: otherwise some bit the result depends on was never driven or reset (an X on
    a 4-state simulator), which one 2-state run would show as whatever value it happened to get."""
    again = {r["layer"]: r for r in (second or [])}
    merged = []
    for r in first:
        r2 = again.get(r["layer"])
        if r["status"] != "PASS":
            merged.append(r)
        elif r2 is None:
            merged.append({**r, "status": "FAIL", "reason": f"not run under the second X seed {seeds[1]} (the simulation stopped)"})
        elif r2["status"] != "PASS":
            merged.append({**r2, "reason": f"X-dependent: passes with Verilator's random initial values under seed {seeds[0]}, "
                                          f"fails under seed {seeds[1]} ({r2.get('reason', r2['status'])}): an undriven or "
                                          "never-reset bit reaches the result (X on a 4-state simulator)"})
        elif r2.get("cycles") != r.get("cycles"):
            merged.append({**r, "status": "FAIL", "reason": f"X-dependent: {r.get('cycles')} cycles under X seed {seeds[0]}, "
                                                            f"{r2.get('cycles')} under seed {seeds[1]}: an undriven or never-reset "
                                                            "bit steers the engine"})
        else:
            merged.append(r)
    return merged


def run(settings: RunSettings | None = None, /, *, image: tuple[Path, list[dict[str, Any]], int] | None = None,
        **fields: Any) -> list[dict[str, Any]]:
    """Run the chosen layers (default: every conv/fc, add and pool layer) and return one result per
    layer: status PASS, FAIL or UNSUPP (refused before start, with the reason), nothing else.

    settings: the run (tb.run_settings.RunSettings), or its fields as keywords. chain > 0: instead
    feed the RTL's own outputs forward through the whole network for `chain` test images (golden
    runs the layers the RTL does not) and return one result per image. image: a memory image
    prepare_image made already (tb.sim_both runs one image on both simulators, and the WAVES=auto
    rerun the image of its first run: a factory that is not deterministic gives other weights
    each call)."""
    s = settings if settings is not None else RunSettings(**fields)
    if settings is not None and fields:
        raise TypeError(f"run() takes a RunSettings or its fields, not both ({', '.join(fields)})")
    s.check()
    target = load_target(s.target)  # a missing or broken target file: one line
    if target is not None:
        if s.chain or s.waves is True or not s.default_hw or s.mem_stall or s.mem_latency != 8:
            raise SimError(f"TARGET={s.target}: CHAIN, WAVES=1, HW=, MEM_STALL and MEM_LATENCY are for the engine so far "
                           "(a target brings its own sizes and memory model)")
        if image is None:
            print(f"sim: golden model {s.model}, SEED={s.seed}, target {target.name} ...", flush=True)
            image = prepare_target_image(target, s.model, s.seed)
        with _run_dir(RUNS / s.folder_name()) as rdir, _waves_env(False):
            return _run_target_in(rdir, image, s, target)
    require_checkout()
    from hexgen.hw import load_hw, rtl_parameters

    cfg = load_hw(s.hw)  # an unknown preset or a bad file: one line before anything runs
    if not s.default_hw:  # and sizes the engine refuses, before golden and hexgen run
        refuse_parameters(str(s.hw), rtl_parameters(cfg))
    if image is None:
        print(f"sim: golden model {s.model}, SEED={s.seed} ...", flush=True)
        image = prepare_image(s.model, s.seed, s.hw)
    with _run_dir(RUNS / s.folder_name()) as rdir, _waves_env(s.waves is True):
        res = _run_in(rdir, image, s)
    if s.waves != "auto" or s.chain:
        return res
    # WAVES=auto: each failing layer again, alone, with waves: its bundle gets the waveform marked
    # at the first wrong element and the RTL's own requantiser stages (tb.failure)
    failed = [r for r in res if r["status"] == "FAIL"]
    for r in failed[:AUTO_WAVES_MOST]:
        print(f"sim: {r['layer']} failed: rerunning it alone with waves (WAVES=auto) ...", flush=True)
        again = run(replace(s, layers=(r["layer"],), waves=True, quiet=True, run_tag=s.run_tag + "-waves", xcheck=False,
                            record=False, check_reset=False), image=image)[0]
        if again["status"] != "FAIL":  # the verdict stays the first run's
            r["report"] = (r.get("report") or "") + f"\n  rerun alone with waves: {again['status']} (not reproduced; waves: {again.get('waves')})"
            continue
        for k in ("waves", "bundle", "report", "where", "diagnosis"):
            if again.get(k):
                r[k] = again[k]
    for r in failed[AUTO_WAVES_MOST:]:
        r["report"] = (r.get("report") or "") + f"\n  (WAVES=auto reruns the first {AUTO_WAVES_MOST} failing layers only: {r['rerun']} WAVES=1)"
    return res


@contextmanager
def _waves_env(waves: bool) -> Iterator[None]:
    """cocotb's runner takes $WAVES over its own argument, and refuses `auto` (make sim WAVES=auto
    exports it): for this run, $WAVES says what `waves` says; restored afterwards, so a later
    unit-bench build in the same process does not inherit it."""
    before = os.environ.get("WAVES")
    os.environ["WAVES"] = "1" if waves else "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("WAVES", None)
        else:
            os.environ["WAVES"] = before


#: WAVES=auto reruns at most this many failing layers with waves (each is a run of its own)
AUTO_WAVES_MOST = 3


def _run_in(rdir: Path, image: tuple[Path, list[dict[str, Any]], int], s: RunSettings) -> list[dict[str, Any]]:
    layers, sim, model, seed, hw, chain = s.layers, s.sim, s.model, s.seed, s.hw, s.chain
    waves, xcheck = s.waves is True, s.x_check
    t0 = time.time()
    cdir, all_layers, idx = image
    print(f"sim: test image {idx}, memory image in {cdir / 'image'}, run files in {rdir}", flush=True)
    by_name = {l["name"]: l for l in all_layers}
    names = [l["name"] for l in all_layers if l["rtl"]]
    # default: every conv/fc layer, those hexgen cannot lay out as UNSUPP rows with the reason
    chosen = [l["name"] for l in all_layers if l.get("compute", l["rtl"])] if not layers else layers
    unknown = [n for n in chosen if n not in by_name]
    if unknown:
        raise SimError(f"no layer {', '.join(unknown)} in {model}; its layers: {', '.join(by_name)}")
    rerun = s.rerun
    shape = lambda l: "x".join(map(str, l["in_shape"])) + " -> " + "x".join(map(str, l["out_shape"]))  # noqa: E731
    refused = [{"layer": n, "kind": by_name[n]["kind"], "status": "UNSUPP", "reason": by_name[n]["unsupported"],
                "shape": shape(by_name[n]), "golden_macs": by_name[n]["macs"], "rerun": rerun(n), "run_dir": str(rdir),
                "image_dir": str(cdir / "image")}
               for n in chosen if not by_name[n]["rtl"]]
    to_run = [n for n in chosen if by_name[n]["rtl"]]
    if chain and not names:
        raise SimError(f"model {model}: no layer runs on the accelerator, nothing to chain")
    if not to_run and not chain:
        return refused
    mm = json.loads((cdir / "image" / "memory_map.json").read_text())
    addr_w = bench_addr_w(int(mm["dram"]["words"]))
    if addr_w > MAX_ADDR_W:
        raise SimError(f"the memory image of {model} needs {mm['dram']['words']} words; the bench's external memory "
                       f"holds at most {1 << MAX_ADDR_W}")
    from hexgen.hw import load_hw

    cfg = load_hw(hw)
    bdir = build_accel(sim, waves=waves, defines=s.defines, hw=hw, addr_w=addr_w)
    job = {
        "image_dir": str(cdir / "image"), "layers": to_run, "seed": seed,
        "mem_stall": s.mem_stall, "mem_latency": s.mem_latency, "macs": {l["name"]: l["macs"] for l in all_layers},
        "csr_overrides": {k: dict(v) for k, v in s.csr_overrides.items()}, "pokes": {k: list(v) for k, v in s.pokes.items()},
        "watchdog_cycles": s.watchdog_cycles, "reset_each_layer": s.reset_each_layer, "record_all": s.record,
        "check_reset": s.check_reset,
        "wave_signals": [p for _, sigs in WAVE_GROUPS for p, _ in sigs] if waves else [],
        "chain": {"images": chain, "npz": str(cdir / "chain.npz"), "net": str(cdir / "net.pkl")} if chain else None,
    }
    apply_simulator_env()
    seeds = (2 * seed + 1, 2 * seed + 2)
    plus = (xrand_plusargs(seeds[0]) if sim == "verilator" else []) + list(s.plusargs)
    if sim == "icarus" and waves:
        plus.append(f"+dumpfile_path={rdir / (TOP + '.fst')}")
    if chain:
        print(f"sim: chained run of {model} on {sim}: {chain} image(s), RTL outputs fed forward ...", flush=True)
    else:
        print(f"sim: running {len(to_run)} layer(s) on {sim}" + (f", twice (X seeds {seeds[0]} and {seeds[1]})" if xcheck else "")
              + (f"; {len(refused)} more UNSUPP (not run)" if refused else "") + " ...", flush=True)
    if chain:
        res = _simulate(sim, bdir, rdir, job, "", plus, waves)
        if res is None:
            raise SimError(f"the chained simulation wrote no results; see {rdir}")
        print(f"sim: {len(res)} image(s) in {time.time() - t0:.1f} s", flush=True)
        return res
    kinds = {n: by_name[n]["kind"] for n in to_run}
    tag = f" X seed {seeds[0]}" if xcheck and sim == "verilator" else ""
    res = _simulate_resuming(sim, bdir, rdir, job, "", plus, waves, kinds, rerun, tag)
    if xcheck and sim == "verilator":
        again = [r["layer"] for r in res if r["status"] == "PASS"]
        res2 = _simulate_resuming(sim, bdir, rdir, {**job, "layers": again}, "-xseed2", xrand_plusargs(seeds[1]) + list(s.plusargs),
                                  waves, kinds, rerun, f" X seed {seeds[1]}") if again else []
        res = _x_merge(res, res2, seeds)
    for r in res:
        l = by_name[r["layer"]]
        r["shape"] = shape(l)
        r["golden_macs"] = l["macs"]
        # utilisation and port occupancy only for a layer that ran to done (an error or a watchdog
        # stops the counters at a meaningless point). Array size from the build's ROWS/COLS CSRs.
        ran = r["status"] == "PASS" or (r["status"] == "FAIL" and "mismatches" in r)
        # MAC utilisation: conv and fc layers only (add and pooling do no MACs)
        r["utilisation"] = l["macs"] / (r["cycles"] * r["array_size"]) if ran and r.get("cycles") and l["macs"] else None
        # memory port occupancy: words moved per cycle on the read and on the write channel (each
        # moves at most one); near 100% the layer is bound by memory traffic, not by the array
        r["port_rd"] = r["words_read"] / r["cycles"] if ran and r.get("cycles") else None
        r["port_wr"] = r["words_written"] / r["cycles"] if ran and r.get("cycles") else None
        r["rerun"] = rerun(r["layer"])
        r["run_dir"] = str(rdir)
        r["image_dir"] = str(cdir / "image")
    from tb.failure import diagnose_failures

    widths = json.loads((rdir / "wave_signals.json").read_text()) if waves and (rdir / "wave_signals.json").is_file() else {}
    # failing layers: diagnosis, where, requantiser stages, bundle (with waves: the waveform marked
    # at the first wrong element, and the RTL's own requantiser stages read from it)
    diagnose_failures(res, cdir, dump=found_dump(rdir) if waves else None, widths=widths)
    from tb.budget import check_budget

    entries = {e["name"]: e for e in mm["layers"]}
    for r in res:  # a layer run with its CSRs overridden runs another dataflow than its plan's
        if r["layer"] not in s.csr_overrides:
            check_budget(r, entries[r["layer"]], cfg, mem_latency=s.mem_latency, mem_stall=s.mem_stall)
    from tb.coverage import sample_results

    sample_results([r for r in res if r["layer"] not in s.csr_overrides], entries, cfg.array_rows, cfg.array_cols)
    # in the order asked for (a layer may be asked for twice: the counter test runs back to back)
    pending = res + refused
    ordered = []
    for n in chosen:
        i = next((i for i, r in enumerate(pending) if r["layer"] == n), None)
        if i is not None:
            ordered.append(pending.pop(i))
    res = ordered + pending
    if waves:
        gtkw = save_waves(rdir, to_run, widths, dest=ROOT / "build" / "waves")
        for r in res:
            if r.get("waves") and len(to_run) == 1:  # `make waves LAYER=` opens the failure's marked view
                shutil.copy2(r["waves"], gtkw)
            r.setdefault("waves", gtkw)
    print(f"sim: {len(to_run)} layer(s) run" + (f", {len(refused)} UNSUPP" if refused else "")
          + f" in {time.time() - t0:.1f} s", flush=True)
    return res


def _run_target_in(rdir: Path, image: tuple[Path, list[dict[str, Any]], int], s: RunSettings, target: Target) -> list[dict[str, Any]]:
    """A target's layers (tb.target) through its driver on the framework's bench (tb.target_bench):
    the verdicts, X seeds, resuming after a stop and the result rows of the engine's runs."""
    t0 = time.time()
    cdir, all_layers, idx = image
    print(f"sim: test image {idx}, memory image in {cdir / 'image'}, run files in {rdir}", flush=True)
    by_name = {l["name"]: l for l in all_layers}
    chosen = [l["name"] for l in all_layers if l["compute"]] if not s.layers else list(s.layers)
    unknown = [n for n in chosen if n not in by_name]
    if unknown:
        raise SimError(f"no layer {', '.join(unknown)} in {s.model}; its layers: {', '.join(by_name)}")
    shape = lambda l: "x".join(map(str, l["in_shape"])) + " -> " + "x".join(map(str, l["out_shape"]))  # noqa: E731
    rows = {n: {"shape": shape(by_name[n]), "golden_macs": by_name[n]["macs"], "rerun": s.rerun(n), "run_dir": str(rdir),
                "image_dir": str(cdir / "image")} for n in chosen}
    refused = [{"layer": n, "kind": by_name[n]["kind"], "status": "UNSUPP", "reason": by_name[n]["unsupported"], **rows[n]}
               for n in chosen if not by_name[n]["rtl"]]
    to_run = [n for n in chosen if by_name[n]["rtl"]]
    if not to_run:
        return refused
    defines = [f"-D{d}" for d in s.defines]
    bench = target.bench if target.bench.root else replace(target.bench, root=target.folder / "build" / "sim")
    bdir = build_bench(bench, s.sim, target.parameters, extra_args=[*target.build_args.get(s.sim, ()), *defines],
                       variant="".join("-" + d.lower() for d in s.defines))
    mm = json.loads((cdir / "image" / "memory_map.json").read_text())
    job = {"image_dir": str(cdir / "image"), "layers": to_run, "driver": str(target.driver),
           "watchdog_cycles": {n: s.watchdog_cycles or target_watchdog(by_name[n]["macs"], mm, n) for n in to_run},
           "bench": ["tb.target_bench", target.bench.top, "TARGET_JOB"]}
    apply_simulator_env()
    seeds = (2 * s.seed + 1, 2 * s.seed + 2)
    xcheck = s.x_check and s.sim == "verilator"
    plus = (xrand_plusargs(seeds[0]) if s.sim == "verilator" else []) + list(s.plusargs)
    print(f"sim: running {len(to_run)} layer(s) of target {target.name} on {s.sim}"
          + (f", twice (X seeds {seeds[0]} and {seeds[1]})" if xcheck else "") + " ...", flush=True)
    kinds = {n: by_name[n]["kind"] for n in to_run}
    res = _simulate_resuming(s.sim, bdir, rdir, job, "", plus, False, kinds, s.rerun, f" X seed {seeds[0]}" if xcheck else "")
    if xcheck:
        again = [r["layer"] for r in res if r["status"] == "PASS"]
        res2 = _simulate_resuming(s.sim, bdir, rdir, {**job, "layers": again}, "-xseed2", xrand_plusargs(seeds[1]) + list(s.plusargs),
                                  False, kinds, s.rerun, f" X seed {seeds[1]}") if again else []
        res = _x_merge(res, res2, seeds)
    for r in res:
        r.update(rows[r["layer"]])
    from tb.failure import diagnose_failures

    diagnose_failures(res, cdir)  # the diagnosis, where and the failure bundle of each failing layer
    pending, ordered = res + refused, []
    for n in chosen:
        i = next((i for i, r in enumerate(pending) if r["layer"] == n), None)
        if i is not None:
            ordered.append(pending.pop(i))
    print(f"sim: {len(to_run)} layer(s) run" + (f", {len(refused)} UNSUPP" if refused else "")
          + f" in {time.time() - t0:.1f} s", flush=True)
    return ordered + pending


def target_watchdog(macs: int, memory_map: dict[str, Any], layer: str) -> int:
    """A target's watchdog for one layer, without a cycle model: 50 cycles for every MAC and for every
    word of its segments, and a margin. A target that does one MAC a cycle and moves every word
    a dozen times over still finishes well inside it; a hung one is stopped."""
    words = sum(int(seg["words"]) for seg in memory_map["segments"] if seg["layer"] == layer)
    return 50 * (macs + words) + 100_000


#: a run whose simulations stop this many times runs no more of its layers (each stop costs a new
#: simulator process; a fault that stops every layer is seen by then)
MOST_STOPS = 8


def _simulate_resuming(sim: str, bdir: Path, rdir: Path, job: dict[str, Any], name: str, plusargs: list[str], waves: bool,
                       kinds: dict[str, str], rerun: Any, tag: str) -> list[dict[str, Any]]:
    """The job's layers in one simulation, or more: a simulation that stops in a layer (a protocol
    checker's $fatal, a crash) fails that layer with what stopped it, and the layers after it run
    in a new simulation, since layers are independent test cases (one stop once made every later
    layer "FAIL not run"). Results in the job's order; a layer may stand twice in a job."""
    todo, out, total = list(job["layers"]), [], len(job["layers"])
    for stop in range(MOST_STOPS + 1):
        part = name + (f"-resume{stop}" if stop else "")
        progress = {"offset": total - len(todo), "total": total, "tag": tag}
        res = _simulate(sim, bdir, rdir, {**job, "layers": todo, "progress": progress}, part, plusargs, waves) or []
        out += res
        if len(res) >= len(todo):
            return out
        stopped = todo[len(res)]
        # a check in the Verilog that stopped the simulation (rtl/vr_check.sv) names itself here
        errors = (rdir / "sim_errors.txt").read_text().strip() if (rdir / "sim_errors.txt").is_file() else ""
        why = (f"the simulation stopped in this layer: {errors.splitlines()[0]}" if errors
               else f"the simulation stopped in this layer without a result (simulator log: {rdir})")
        out.append({"layer": stopped, "kind": kinds[stopped], "status": "FAIL", "reason": why, "rerun": rerun(stopped),
                    "run_dir": str(rdir), "stopped": True})
        todo = todo[len(res) + 1:]
        if not todo:
            return out
        if stop < MOST_STOPS:
            print(f"sim: the simulation stopped in {stopped}; the {len(todo)} layer(s) after it run in a new simulation", flush=True)
    for n in todo:
        out.append({"layer": n, "kind": kinds[n], "status": "FAIL", "rerun": rerun(n), "run_dir": str(rdir),
                    "reason": f"not run: the simulation stopped {MOST_STOPS + 1} times before this layer (see the layers above)"})
    return out


def _pct(v: float | None, width: int, digits: int) -> str:
    return f"{'-':>{width}s}" if v is None else f"{v:>{width}.{digits}%}"


def table(res: list[dict[str, Any]], net_golden_only: list[str] | None = None) -> str:
    head = (f"{'layer':8s} {'kind':10s} {'shape':24s} {'result':6s} {'wrong':>7s} {'cycles':>9s} {'budget':>9s} {'vs':>5s} "
            f"{'MACs':>10s} {'util':>6s} {'rd':>5s} {'wr':>5s}")
    lines = [head, "-" * len(head)]
    for r in res:
        cycles = f"{r['cycles']:>9,}" if r.get("cycles") is not None and r["status"] != "UNSUPP" else f"{'-':>9s}"
        # the cycle model's budget (tb.budget) and the measured cycles against it
        budget = f"{r['budget']:>9,}" if r.get("budget") else f"{'-':>9s}"
        vs = f"{r['budget_ratio'] - 1:>+5.0%}" if r.get("budget_ratio") else f"{'-':>5s}"
        lines.append(
            f"{r['layer']:8s} {r.get('kind', ''):10s} {r.get('shape', ''):24s} {r['status']:6s} "
            f"{r.get('mismatches', '-')!s:>7s} {cycles} {budget} {vs} {r.get('golden_macs', 0):>10,} "
            f"{_pct(r.get('utilisation'), 6, 1)} {_pct(r.get('port_rd'), 5, 0)} {_pct(r.get('port_wr'), 5, 0)}"
        )
    if net_golden_only:
        lines.append(f"golden only (not run in RTL): {', '.join(net_golden_only)}")
    return "\n".join(lines)


def verdict(res: list[dict[str, Any]]) -> tuple[int, str]:
    """Exit status and the closing line: 1 on any FAIL, and when nothing ran at all."""
    passed = sum(r["status"] == "PASS" for r in res)
    failed = sum(r["status"] == "FAIL" for r in res)
    unsupp = sum(r["status"] == "UNSUPP" for r in res)
    other = [r["status"] for r in res if r["status"] not in ("PASS", "FAIL", "UNSUPP")]
    if other:  # three outcomes and only three
        raise AssertionError(f"unknown layer status {other[0]!r}")
    line = f"{passed} passed, {failed} failed" + (f", {unsupp} unsupported (not run)" if unsupp else "")
    if passed + failed == 0:
        return 1, line + ": nothing ran"
    return (1 if failed else 0), line


if __name__ == "__main__":  # python -m tb.layer_sim: the command line lives in tb.sim_cli
    from tb.sim_cli import cli

    sys.exit(cli())
