"""`make sim`: run a model's conv/fc layers on the accelerator RTL and compare them with golden.

    python -m tb.layer_sim [--layer conv3[,fc1]] [--sim verilator|icarus] [--model NAME|path.py:factory]
                           [--seed N] [--waves] [--mem-stall S] [--list]

Steps: the memory image of one test image (tb/images.py: cached by the model's content), the
simulator build (tb.sim.build: cached by content), every chosen layer in one simulation (twice on
Verilator, one X seed each), a table with PASS, FAIL or UNSUPP per layer. On failure the run
folder, the image and (with --waves) the waveform are kept, and the command that reruns the case
with every option that changed it is printed.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import shlex
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from golden.cli import run_cli
from tb.accel_build import MAX_ADDR_W, bench_addr_w, build_accel, refuse_parameters
from tb.images import prepare_image
from tb.sim import SimError, require_checkout, runner_for, xrand_plusargs
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


def _simulate(sim: str, bdir: Path, rdir: Path, job: dict[str, Any], name: str, plusargs: list[str], waves: bool) -> list[dict[str, Any]] | None:
    """One simulator process over the job; its per-layer results, or None if it wrote none."""
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
            test_module="tb.test_layers",
            hdl_toplevel=TOP,
            hdl_toplevel_lang="verilog",
            build_dir=str(bdir),
            test_dir=str(rdir),
            extra_env={"LAYER_JOB": str(rdir / f"job{name}.json"), "PYTHONPATH": str(ROOT), "HDL_CLOCK": "1", **SIM_PROCESS_ENV,
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


def run(
    *, layers: list[str] | None, sim: str, model: str, seed: int, waves: bool | str = False, mem_stall: int = 0,
    mem_latency: int = 8, quiet: bool = False, defines: tuple[str, ...] = (),
    csr_overrides: dict[str, dict[str, int]] | None = None, run_tag: str = "", watchdog_cycles: int = 0,
    chain: int = 0, pokes: dict[str, list[tuple[str, int, int]]] | None = None, xcheck: bool | None = None,
    reset_each_layer: bool = True, hw: str | None = None, plusargs: tuple[str, ...] = (), record: bool = False,
    check_reset: bool = False, image: tuple[Path, list[dict[str, Any]], int] | None = None,
) -> list[dict[str, Any]]:
    """Run the chosen layers (default: every conv/fc layer) and return one result per layer:
    status PASS, FAIL or UNSUPP (refused before start, with the reason), nothing else.

    chain > 0: instead feed the RTL's own outputs forward through the whole network for `chain`
    test images (golden runs the layers the RTL does not) and return one result per image.
    xcheck (default: on for Verilator without waves): run the layers a second time under another
    random-initialisation seed (_x_merge). record: keep every layer's output and write cycles
    (r["got_file"], r["wcycle_file"]), not only a failing one's (tb.sim_both). check_reset: read every CSR and the
    status outputs right after reset against their documented values first (make sim does). image: a memory
    image prepare_image made already (tb.sim_both runs one image on both simulators, and the WAVES=auto
    rerun the image of its first run: a factory that is not deterministic gives other weights each call). pokes, csr_overrides and plusargs (given to the simulator,
    e.g. +MUT_LANE for a MUT_SELECT build) are test hooks."""
    require_checkout()
    if sim not in ("verilator", "icarus"):
        raise SimError(f"--sim {sim!r}: verilator or icarus")
    if not 0 <= mem_stall <= 255:
        raise SimError(f"--mem-stall {mem_stall}: external memory stalls per 256 cycles must be 0..255")
    if not 1 <= mem_latency <= 65535:
        raise SimError(f"--mem-latency {mem_latency}: read latency in cycles must be 1..65535")
    if seed < 0:
        raise SimError(f"--seed {seed}: the test image number must be >= 0")
    if chain < 0:
        raise SimError(f"--chain {chain}: the number of images must be >= 1")
    from hexgen.hw import DEFAULT, load_hw

    cfg = load_hw(hw)  # an unknown preset or a bad file: one line before anything runs
    if hw and hw != DEFAULT:  # and sizes the engine refuses, before golden and hexgen run
        from hexgen.hw import rtl_parameters

        refuse_parameters(hw, rtl_parameters(cfg))
    tag = model.replace("/", "_").replace(":", "_").replace(".py", "")
    if hw and hw != DEFAULT:
        tag += "-hw_" + Path(hw).stem
    if waves not in (True, False, "auto"):
        raise SimError(f"--waves {waves!r}: on, off or auto")
    if image is None:
        print(f"sim: golden model {model}, SEED={seed} ...", flush=True)
        image = prepare_image(model, seed, hw)
    with _run_dir(RUNS / f"{tag}-{sim}-seed{seed}{run_tag}") as rdir, _waves_env(waves is True):
        res = _run_in(rdir, image, layers=layers, sim=sim, model=model, seed=seed, waves=waves is True, mem_stall=mem_stall,
                      mem_latency=mem_latency, quiet=quiet, defines=defines, csr_overrides=csr_overrides,
                      watchdog_cycles=watchdog_cycles, chain=chain, pokes=pokes, reset_each_layer=reset_each_layer, hw=hw,
                      plusargs=plusargs, record=record, check_reset=check_reset,
                      xcheck=(sim == "verilator" and waves is not True) if xcheck is None else xcheck)
    if waves != "auto" or chain:
        return res
    # WAVES=auto: each failing layer again, alone, with waves: its bundle gets the waveform marked
    # at the first wrong element and the RTL's own requantiser stages (tb.failure)
    failed = [r for r in res if r["status"] == "FAIL"]
    for r in failed[:AUTO_WAVES_MOST]:
        print(f"sim: {r['layer']} failed: rerunning it alone with waves (WAVES=auto) ...", flush=True)
        again = run(layers=[r["layer"]], sim=sim, model=model, seed=seed, waves=True, mem_stall=mem_stall,
                    mem_latency=mem_latency, quiet=True, defines=defines, csr_overrides=csr_overrides, run_tag=run_tag + "-waves",
                    watchdog_cycles=watchdog_cycles, pokes=pokes, hw=hw, plusargs=plusargs, xcheck=False, image=image)[0]
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


def _run_in(
    rdir: Path, image: tuple[Path, list[dict[str, Any]], int], *, layers: list[str] | None, sim: str, model: str, seed: int, waves: bool, mem_stall: int,
    mem_latency: int, quiet: bool, defines: tuple[str, ...], csr_overrides: dict[str, dict[str, int]] | None,
    watchdog_cycles: int, chain: int, pokes: dict[str, list[tuple[str, int, int]]] | None, xcheck: bool,
    reset_each_layer: bool = True, hw: str | None = None, plusargs: tuple[str, ...] = (), record: bool = False,
    check_reset: bool = False,
) -> list[dict[str, Any]]:
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
    rerun = lambda n: rerun_command(n, sim, model, seed, waves, mem_stall=mem_stall, mem_latency=mem_latency, hw=hw)  # noqa: E731
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
    bdir = build_accel(sim, waves=waves, defines=defines, hw=hw, addr_w=addr_w)
    job = {
        "image_dir": str(cdir / "image"), "layers": to_run, "seed": seed,
        "mem_stall": mem_stall, "mem_latency": mem_latency, "macs": {l["name"]: l["macs"] for l in all_layers},
        "csr_overrides": csr_overrides or {}, "pokes": pokes or {},
        "watchdog_cycles": watchdog_cycles, "reset_each_layer": reset_each_layer, "record_all": record, "check_reset": check_reset,
        "wave_signals": [p for _, sigs in WAVE_GROUPS for p, _ in sigs] if waves else [],
        "chain": {"images": chain, "npz": str(cdir / "chain.npz"), "net": str(cdir / "net.pkl")} if chain else None,
    }
    apply_simulator_env()
    seeds = (2 * seed + 1, 2 * seed + 2)
    plus = (xrand_plusargs(seeds[0]) if sim == "verilator" else []) + list(plusargs)
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
        res2 = _simulate_resuming(sim, bdir, rdir, {**job, "layers": again}, "-xseed2", xrand_plusargs(seeds[1]) + list(plusargs),
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
        if r["layer"] not in (csr_overrides or {}):
            check_budget(r, entries[r["layer"]], cfg, mem_latency=mem_latency, mem_stall=mem_stall)
    from tb.coverage import sample_results

    sample_results([r for r in res if r["layer"] not in (csr_overrides or {})], entries, cfg.array_rows, cfg.array_cols)
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


def rerun_command(layer: str, sim: str, model: str, seed: int, waves: bool, *, mem_stall: int = 0, mem_latency: int = 8,
                  hw: str | None = None) -> str:
    """`make sim ...` with every option that changed the run."""
    parts = [f"LAYER={layer}", f"SIM={sim}", f"MODEL={shlex.quote(model)}", f"SEED={seed}"]
    if hw and hw != "default":
        parts.append(f"HW={shlex.quote(hw)}")
    if mem_stall:
        parts.append(f"MEM_STALL={mem_stall}")
    if mem_latency != 8:
        parts.append(f"MEM_LATENCY={mem_latency}")
    return "make sim " + " ".join(parts) + (" WAVES=1" if waves else "")


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


def _list_layers(model: str, hw: str | None) -> int:
    warnings.filterwarnings("ignore")
    from hexgen.hw import DEFAULT, load_hw, rtl_parameters

    cfg = load_hw(hw)
    if hw and hw != DEFAULT:  # sizes make sim would refuse: no layer runs in RTL, said as make sim says it
        refuse_parameters(hw, rtl_parameters(cfg))
    _cdir, layers, _idx = prepare_image(model, 0, hw)
    for l in layers:
        where = f"RTL, {l['tiling']}" if l["rtl"] else (l["unsupported"] or "golden only")
        print(f"{l['name']:10s} {l['kind']:10s} {'x'.join(map(str, l['in_shape'])):>10s} -> {'x'.join(map(str, l['out_shape'])):10s} {where}")
    return 0


class _Parser(argparse.ArgumentParser):
    """Argument errors are intended errors: one `sim: error: ...` line (golden.cli), not argparse's
    usage line and error line."""

    def error(self, message: str) -> NoReturn:
        raise SimError(f"{message} (python -m tb.layer_sim --help lists the options)")


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"SEED={text!r}: a whole number >= 0") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"SEED={v}: a whole number >= 0")
    return v


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m tb.layer_sim", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layer", default="", help="comma-separated layer names (default: every conv/fc layer)")
    p.add_argument("--sim", default=os.environ.get("SIM") or "verilator", choices=["verilator", "icarus", "both"],
                   help="both: each layer on Icarus and on Verilator, outputs and cycles compared (tb.sim_both)")
    p.add_argument("--model", default="mobilenetv2")
    p.add_argument("--seed", type=_seed, default=0, help="test image index (and memory stall seed), >= 0")
    p.add_argument("--waves", nargs="?", const="1", default="0", choices=["0", "1", "auto"],
                   help="1: dump waves (GTKWave save file in build/waves); auto: only a failing layer, rerun alone with waves")
    p.add_argument("--mem-stall", type=int, default=0, help="external memory stalls per 256 cycles (0..255)")
    p.add_argument("--mem-latency", type=int, default=8, help="external memory read latency in cycles (default 8)")
    p.add_argument("--list", action="store_true", help="list the model's layers and exit")
    p.add_argument("--hw", default="default", help="hardware description: a hexgen.hw preset or path.json (default: default)")
    p.add_argument("--chain", type=int, default=None, metavar="N",
                   help="feed the RTL's own outputs through the whole network for N >= 1 test images")
    p.add_argument("--chain-setting", default="", metavar="CHAIN",
                   help="make's CHAIN= as given: 1 (with --chain N), 0 or empty; anything else is refused")
    return p


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    a.waves = {"0": False, "1": True, "auto": "auto"}[a.waves]
    if a.chain_setting not in ("", "0", "1"):
        raise SimError(f"CHAIN={a.chain_setting!r}: 1 runs the chained test, 0 or nothing the per-layer test")
    if a.chain is not None and a.chain < 1:
        raise SimError(f"CHAIN_IMAGES={a.chain}: a chained run needs at least one image")
    if a.chain_setting == "0":
        a.chain = None
    if a.list:
        return _list_layers(a.model, a.hw)
    from tb.mutant_guard import mutant_in_place

    # a verdict on a mutant make mutate left in rtl/ (a killed run) is no verdict on the design
    why = mutant_in_place()
    if why is not None:
        raise SimError(why)
    layers = [s for s in a.layer.split(",") if s] or None
    if a.chain:
        return main_chain(a)
    if a.sim == "both":
        from tb.sim_both import main_both

        return main_both(a, layers)
    res = run(layers=layers, sim=a.sim, model=a.model, seed=a.seed, waves=a.waves, mem_stall=a.mem_stall,
              mem_latency=a.mem_latency, hw=a.hw, check_reset=True)
    golden_only = []
    if layers is None and res:  # the run's own image (a second prepare_image could quantize afresh)
        info = json.loads((Path(res[0]["image_dir"]).parent / "layers.json").read_text())
        golden_only = [f"{l['name']} ({l['kind']})" for l in info["layers"] if not l["rtl"] and l["name"] not in {r["layer"] for r in res}]
    print(table(res, golden_only))
    for r in res:
        if r["status"] == "UNSUPP":
            print(f"UNSUPP {r['layer']}: {r['reason']}")
    for r in res:
        if r["status"] != "FAIL":
            continue
        print(f"\nFAIL {r['layer']}: {r.get('reason', '')}")
        if r.get("report") and r.get("mismatches"):
            print(r["report"])
        print(f"  artifacts kept in {r['run_dir']}" + (f"; waves: {r['waves']}" if r.get("waves") else ""))
        if r.get("bundle"):
            print(f"  failure bundle (report.md, expected / got / input .npy, segments): {r['bundle']}")
        print(f"  rerun: {r['rerun']}")
    status, line = verdict(res)
    print(f"\n{line}")
    return status


def main_chain(a: argparse.Namespace) -> int:
    # its own run folder (-chain): a chained run never replaces the per-layer run's results
    res = run(layers=None, sim=a.sim, model=a.model, seed=a.seed, mem_stall=a.mem_stall, mem_latency=a.mem_latency,
              chain=a.chain, hw=a.hw, run_tag="-chain")
    n = len(res)
    labelled = [r for r in res if r["label"] >= 0]
    print(f"{'image':>5s} {'label':>5s} {'RTL':>4s} {'golden':>6s}  layers equal to golden")
    for r in res:
        print(f"{r['image']:>5d} {r['label']:>5d} {r['rtl_pred']:>4d} {r['golden_pred']:>6d}  "
              f"{r['layers_equal']}/{r['layers']}" + (f"  first differing: {r['first_diff']}" if r.get("first_diff") else "")
              + (f"  ({r['problem']})" if r.get("problem") else ""))
    agree = sum(r["rtl_pred"] == r["golden_pred"] for r in res)
    print(f"\nRTL top-1 equals golden on {agree}/{n} images")
    if labelled:
        acc_rtl = sum(r["rtl_pred"] == r["label"] for r in labelled) / len(labelled)
        acc_gold = sum(r["golden_pred"] == r["label"] for r in labelled) / len(labelled)
        print(f"digits test accuracy over {len(labelled)} images: RTL {acc_rtl:.2%}, golden {acc_gold:.2%}")
    # an image fails when a layer the RTL ran differs from golden or did not finish; layers the
    # accelerator refused ran in golden on every image, which is said, not counted as a failure
    bad = [r for r in res if r["layers_equal"] != r["layers"] or r.get("problem")]
    golden_ran = sorted({n for r in res for n in r.get("golden_ran", [])})
    print(f"{n - len(bad)} passed, {len(bad)} failed" + (": nothing ran" if n == 0 else "")
          + (f" (golden ran {', '.join(golden_ran)} on every image: UNSUPP on the accelerator)" if golden_ran else ""))
    return 1 if bad or n == 0 else 0


if __name__ == "__main__":
    sys.exit(run_cli("sim", main))
