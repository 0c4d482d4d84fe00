"""The layer runner behind `make sim`: run a model's layers on the accelerator RTL and compare them
with golden (the command line is tb.sim_cli; `python -m tb.layer_sim` runs it).

Steps: the memory image of one test image (its target's flow; cached by the model's content, tb/images.py), the
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
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from tb.jobs import Job, balance, run_jobs
from tb.run_settings import RunSettings
from tb.sim import SimError, runner_for, xrand_plusargs
from tb.target import ENGINE, OPTIONS, Target, load_target
from tb.toolchain import SIM_PROCESS_ENV, apply_simulator_env
from tb.waves import found_dump

ROOT = Path(__file__).resolve().parent.parent
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


def _simulate(sim: str, bdir: Path, rdir: Path, job: dict[str, Any], name: str, plusargs: list[str], waves: bool) -> list[dict[str, Any]] | None:
    """One simulator process over the job; its per-layer results, or None if it wrote none."""
    # the layer bench of the job (its flow's): (cocotb test module, HDL top, the variable naming the job file)
    test_module, toplevel, job_var = job["bench"]
    results = rdir / f"results{name}.json"
    setup_error = results.with_suffix(".setup_error")  # the bench could not read the image (tb/engine/test_layers.py)
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
            # the whole image at time 0, unless the bench loads each layer's window itself ("windows")
            plusargs=[*([] if job.get("windows") else [f"+MEM_INIT={Path(job['image_dir']) / 'dram.memh'}"]), f"+XFER_FILE={xfer}",
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
    """Run the chosen layers (default: every conv/fc, add and pool layer) on the target (tb.target:
    our engine unless settings.target names another) and return one result per layer: status
    PASS, FAIL or UNSUPP (refused before start, with the reason), nothing else.

    settings: the run (tb.run_settings.RunSettings), or its fields as keywords. chain > 0 (the
    engine): instead feed the RTL's own outputs forward through the whole network for `chain` test
    images (golden runs the layers the RTL does not) and return one result per image. image: a
    memory image the target's flow made already (tb.sim_both runs one image on both simulators,
    and the WAVES=auto rerun the image of its first run: a factory that is not deterministic gives
    other weights each call)."""
    s = settings if settings is not None else RunSettings(**fields)
    if settings is not None and fields:
        raise TypeError(f"run() takes a RunSettings or its fields, not both ({', '.join(fields)})")
    s.check()
    target = load_target(s.target)  # a missing or broken target file: one line
    flow = target.run_flow
    refuse_options(s, target)
    if image is None:
        print(f"sim: golden model {s.model}, SEED={s.seed}" + (f", target {target.name}" if target.name != ENGINE else "")
              + " ...", flush=True)
        image = flow.image(target, s)
    with _run_dir(RUNS / s.folder_name()) as rdir, _waves_env(s.waves is True):
        res = _run_in(rdir, image, s, target)
    if s.waves != "auto" or s.chain or "waves" not in flow.options:
        return res
    # WAVES=auto: each failing layer again, alone, with waves: its bundle gets the waveform marked
    # at the first wrong element (and, on the engine, the RTL's own requantiser stages: tb.failure)
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


def refuse_options(s: RunSettings, target: Target) -> None:
    """A setting the target's flow does not take is one line, not silently ignored."""
    asked = {"waves": s.waves is True, "hw": not s.default_hw, "mem_stall": s.mem_stall != 0, "mem_latency": s.mem_latency != 8,
             "chain": s.chain > 0, "csr": bool(s.csr_overrides or s.pokes), "reset": s.check_reset}
    names = {"waves": "WAVES=1", "hw": "HW=", "mem_stall": "MEM_STALL", "mem_latency": "MEM_LATENCY", "chain": "CHAIN",
             "csr": "CSR overrides and pokes", "reset": "the reset-value check"}
    refused = [names[o] for o in OPTIONS if asked[o] and o not in target.run_flow.options]
    if refused:
        raise SimError(f"TARGET={s.target}: target {target.name} does not take {', '.join(refused)} "
                       "(a target brings its own sizes and memory model)")


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


def _run_in(rdir: Path, image: tuple[Path, list[dict[str, Any]], int], s: RunSettings, target: Target) -> list[dict[str, Any]]:
    flow = target.run_flow
    waves = s.waves is True
    t0 = time.time()
    cdir, all_layers, idx = image
    print(f"sim: test image {idx}, memory image in {cdir / 'image'}, run files in {rdir}", flush=True)
    by_name = {l["name"]: l for l in all_layers}
    # default: every conv/fc, add and pool layer, those the target cannot run as UNSUPP rows with the reason
    chosen = [l["name"] for l in all_layers if l.get("compute", l["rtl"])] if not s.layers else list(s.layers)
    unknown = [n for n in chosen if n not in by_name]
    if unknown:
        raise SimError(f"no layer {', '.join(unknown)} in {s.model}; its layers: {', '.join(by_name)}")
    shape = lambda l: "x".join(map(str, l["in_shape"])) + " -> " + "x".join(map(str, l["out_shape"]))  # noqa: E731
    rows = {n: {"shape": shape(by_name[n]), "golden_macs": by_name[n]["macs"], "rerun": s.rerun(n), "run_dir": str(rdir),
                "image_dir": str(cdir / "image")} for n in by_name}
    refused = [{"layer": n, "kind": by_name[n]["kind"], "status": "UNSUPP", "reason": by_name[n]["unsupported"], **rows[n]}
               for n in chosen if not by_name[n]["rtl"]]
    to_run = [n for n in chosen if by_name[n]["rtl"]]
    if s.chain and not any(l["rtl"] for l in all_layers):
        raise SimError(f"model {s.model}: no layer runs on the accelerator, nothing to chain")
    if not to_run and not s.chain:
        return refused
    bdir = flow.build(target, s, image, waves)
    groups = target.signal_groups
    job = {"image_dir": str(cdir / "image"), "layers": to_run,
           "wave_signals": [p for _, sigs in groups for p, _ in sigs] if waves else [], **flow.job(target, s, image, to_run)}
    apply_simulator_env()
    seeds = (2 * s.seed + 1, 2 * s.seed + 2)
    xcheck = s.x_check and s.sim == "verilator"
    plus = (xrand_plusargs(seeds[0]) if s.sim == "verilator" else []) + list(s.plusargs)
    if s.sim == "icarus" and waves:
        plus.append(f"+dumpfile_path={rdir / (target.bench.top + '.fst')}")
    of = f" of target {target.name}" if target.name != ENGINE else ""
    if s.chain:
        return _run_chain(rdir, s, bdir, job, plus, waves, t0)
    kinds = {n: by_name[n]["kind"] for n in to_run}
    # the layers split into jobs of near-equal work, one simulation each, run at once on the
    # machine's cores (JOBS=N); one job where the layers must share one simulation: waves (one dump),
    # a layer asked for twice or layers run without a reset between them (the counter tests)
    one_sim = waves or len(set(to_run)) < len(to_run) or not s.reset_each_layer
    if one_sim or s.jobs == 1:
        shards = [to_run]
    else:
        cost = flow.layer_costs(target, s, image, sorted(set(to_run)))
        shards = balance([(n, cost[n]) for n in to_run], s.jobs)
    jobs = [Job(model=s.model, target=s.target, hw=str(s.hw or "default"), sim=s.sim, seed=s.seed, widths=s.widths_tag(),
                layers=tuple(part), defines=tuple(s.defines), image_key=cdir.name, build_key=_build_key(bdir))
            for part in shards]
    print(f"sim: running {len(to_run)} layer(s){of} on {s.sim}" + (f", twice (X seeds {seeds[0]} and {seeds[1]})" if xcheck else "")
          + (f", in {len(jobs)} simulations at once" if len(jobs) > 1 else "")
          + (f"; {len(refused)} more UNSUPP (not run)" if refused else "") + " ...", flush=True)

    def run_job(i: int) -> list[dict[str, Any]]:
        jdir = rdir if len(jobs) == 1 else rdir / f"job{i + 1}"
        jdir.mkdir(exist_ok=True)
        part = f", job {i + 1}/{len(jobs)}" if len(jobs) > 1 else ""
        jjob = {**job, "layers": list(jobs[i].layers)}
        out = _simulate_resuming(s.sim, bdir, jdir, jjob, "", plus, waves, kinds, s.rerun, (f" X seed {seeds[0]}" if xcheck else "") + part)
        if xcheck:
            again = [r["layer"] for r in out if r["status"] == "PASS"]
            out2 = _simulate_resuming(s.sim, bdir, jdir, {**jjob, "layers": again}, "-xseed2", xrand_plusargs(seeds[1]) + list(s.plusargs),
                                      waves, kinds, s.rerun, f" X seed {seeds[1]}{part}") if again else []
            out = _x_merge(out, out2, seeds)
        for r in out:
            r["job"] = jobs[i].key[:16]
        return out

    parts = run_jobs(run_job, range(len(jobs)), len(jobs))
    (rdir / "jobs.json").write_text(json.dumps([{"key": j.key, **asdict(j), "results": [r["status"] for r in p]}
                                                for j, p in zip(jobs, parts)], indent=1))
    res = [r for p in parts for r in p]
    for r in res:
        r.update(rows[r["layer"]])
        l = by_name[r["layer"]]
        # utilisation and port occupancy only for a layer that ran to done (an error or a watchdog
        # stops the counters at a meaningless point). MAC utilisation: conv and fc layers only (add
        # and pooling do no MACs), over the MACs the target can do a cycle (array_size, its bench's)
        ran = r["status"] == "PASS" or (r["status"] == "FAIL" and "mismatches" in r)
        r["utilisation"] = l["macs"] / (r["cycles"] * r["array_size"]) if ran and r.get("cycles") and l["macs"] else None
    from tb.failure import diagnose_failures

    widths = json.loads((rdir / "wave_signals.json").read_text()) if waves and (rdir / "wave_signals.json").is_file() else {}
    # failing layers: diagnosis, where, requantiser stages, bundle (with waves: the waveform marked
    # at the first wrong element, and the RTL's own requantiser stages read from it)
    diagnose_failures(res, cdir, dump=found_dump(rdir) if waves else None, widths=widths, target=target)
    flow.finish(target, s, image, res)  # the target's own: budgets, traffic, coverage
    # in the order asked for (a layer may be asked for twice: the counter test runs back to back)
    pending = res + refused
    ordered = []
    for n in chosen:
        i = next((i for i, r in enumerate(pending) if r["layer"] == n), None)
        if i is not None:
            ordered.append(pending.pop(i))
    res = ordered + pending
    if waves:
        gtkw = flow.save_waves(target, rdir, to_run, widths, ROOT / "build" / "waves")
        for r in res:
            if r.get("waves") and len(to_run) == 1:  # `make waves LAYER=` opens the failure's marked view
                shutil.copy2(r["waves"], gtkw)
            r.setdefault("waves", gtkw)
    print(f"sim: {len(to_run)} layer(s) run" + (f", {len(refused)} UNSUPP" if refused else "")
          + f" in {time.time() - t0:.1f} s", flush=True)
    return res


def _run_chain(rdir: Path, s: RunSettings, bdir: Path, job: dict[str, Any], plus: list[str], waves: bool, t0: float) -> list[dict[str, Any]]:
    """CHAIN=1: the images split into jobs of consecutive images (one simulation each, at once; one
    with waves), each image's result from the job that ran it, in image order."""
    n = s.chain
    parts = 1 if waves else max(1, min(s.jobs, n))
    chunks = [list(range(n * i // parts, n * (i + 1) // parts)) for i in range(parts)]
    jobs = [Job(model=s.model, target=s.target, hw=str(s.hw or "default"), sim=s.sim, seed=s.seed, widths=s.widths_tag(),
                layers=tuple(f"image{i}" for i in c), defines=tuple(s.defines), image_key=Path(job["image_dir"]).parent.name,
                build_key=_build_key(bdir)) for c in chunks]
    print(f"sim: chained run of {s.model} on {s.sim}: {n} image(s), RTL outputs fed forward"
          + (f", in {parts} simulations at once" if parts > 1 else "")
          + (", each layer's window loaded before it runs (the whole image is larger than the bench's memory)"
             if job.get("windows") else "") + " ...", flush=True)

    def run_job(i: int) -> list[dict[str, Any]]:
        jdir = rdir if parts == 1 else rdir / f"job{i + 1}"
        jdir.mkdir(exist_ok=True)
        out = _simulate(s.sim, bdir, jdir, {**job, "chain": {**job["chain"], "indices": chunks[i]}}, "", plus, waves)
        if out is None:
            raise SimError(f"the chained simulation wrote no results; see {jdir}")
        return out

    done = run_jobs(run_job, range(parts), parts)
    (rdir / "jobs.json").write_text(json.dumps([{"key": j.key, **asdict(j), "results": [r["image"] for r in p]}
                                                for j, p in zip(jobs, done)], indent=1))
    res = sorted((r for p in done for r in p), key=lambda r: r["image"])
    print(f"sim: {len(res)} image(s) in {time.time() - t0:.1f} s", flush=True)
    return res


def _build_key(bdir: Path) -> str:
    """The build's content key (tb.sim writes it beside every build; a target's build may not)."""
    stamp = bdir / ".stamp"
    return stamp.read_text().strip() if stamp.is_file() else ""


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
