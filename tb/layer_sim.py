"""`make sim`: run a model's conv/fc layers on the accelerator RTL and compare them with golden.

    python -m tb.layer_sim [--layer conv3[,fc1]] [--sim verilator|icarus] [--model NAME|path.py:factory]
                           [--seed N] [--waves] [--mem-stall S] [--list]

Steps: quantize the model (golden), write hexgen's memory image for one test image (the seed picks
which), build the simulator once (reused across runs while the RTL is unchanged), run every chosen
layer in one simulation, print a table. On failure the image folder, the results file and (with
--waves) the waveform are kept, and the command that reruns the case is printed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from tb.toolchain import SIM_PROCESS_ENV, apply_simulator_env

ROOT = Path(__file__).resolve().parent.parent
RTL = ROOT / "rtl"
TB_HDL = ROOT / "tb" / "hdl"
TOP = "accel_tb"
RUNS = ROOT / "build" / "layers"
ADDR_W = 18  # word-address width of the bench's external memory model (a build parameter of accel_tb)
DRAM_WORDS = 1 << ADDR_W


def build_accel(sim: str, *, waves: bool = False, defines: tuple[str, ...] = ()) -> Path:
    """Build (or reuse, tb.sim.build) the layer bench for `sim`; one build serves every layer of
    every model. `defines` (e.g. MUT_ROUND) build a deliberately broken variant for the mutation tests.

    HDL_CLOCK: the bench makes its own clock, so no Python (or VPI) call happens per clock edge;
    Verilator then needs --timing. cocotb makes every signal public (--public-flat-rw), which costs
    Verilator most of its optimisation (measured: 4-8x slower than the same RTL in a plain harness);
    accel_tb.vlt makes only the bench top public. Waveform builds keep every signal visible."""
    from tb.sim import build

    args = ["-DHDL_CLOCK", *(f"-D{d}" for d in defines)]
    if sim == "verilator":
        args.append("--timing")
        if not waves:
            args += ["--no-public-flat-rw", str(TB_HDL / "accel_tb.vlt")]
    variant = ("-waves" if waves else "") + "".join("-" + d.lower() for d in defines)
    t0 = time.time()
    bdir = build("accel", sim, {"ADDR_W": ADDR_W}, extra_args=args, waves=waves, variant=variant)
    if time.time() - t0 > 2:
        print(f"sim: built the accelerator for {sim} in {time.time() - t0:.1f} s (reused while the RTL is unchanged)", flush=True)
    return bdir


def _image_key(model: str, seed: int) -> str:
    """Hash of everything the memory image depends on: reused while it is unchanged."""
    h = hashlib.sha256(f"{model}|{seed}".encode())
    files = sorted((ROOT / "golden").rglob("*.py")) + sorted((ROOT / "golden" / "models" / "checkpoints").glob("*"))
    files += sorted((ROOT / "hexgen").glob("*.py")) + [Path(__file__)]
    user = model.rpartition(":")[0]
    if user and Path(user).is_file():
        files.append(Path(user))
    for f in files:
        h.update(str(f).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


CHAIN_IMAGES = 32


def prepare_image(model: str, seed: int, out: Path) -> list[dict[str, Any]]:
    """Quantize, run golden, write the memory image of test image number `seed` (or reuse it).

    Returns every layer of the network: name, kind, shapes, MACs and whether the RTL runs it."""
    key = _image_key(model, seed)
    info = out.parent / "layers.json"
    if all(p.is_file() for p in (out / "memory_map.json", info, out.parent / "net.pkl", out.parent / "chain.npz")):
        cached = json.loads(info.read_text())
        if cached.get("key") == key:
            return list(cached["layers"])
    warnings.filterwarnings("ignore")
    from golden import extract, quantize
    from golden.models import load_model
    from hexgen import HardwareConfig, build_image, write_image

    m = load_model(model)
    qm = quantize(m.float_model, m.calibration)
    net = extract(qm, m.calibration[:2])
    x = m.x_test if m.x_test is not None else m.calibration
    idx = seed % len(x)
    x_q = net.quantize_input(x[idx : idx + 1])
    from hexgen import HexgenError, plan_layer

    cfg = HardwareConfig()
    unsupported: dict[str, str] = {}
    for l in net.compute_layers():  # hexgen refuses what the accelerator's layouts cannot hold
        try:
            plan_layer(l, cfg)
        except HexgenError as exc:
            unsupported[l.name] = str(exc)
    supported = [l.name for l in net.compute_layers() if l.name not in unsupported]
    if not supported:
        raise SystemExit(f"sim: no layer of {model} can run on the accelerator: " + "; ".join(unsupported.values()))
    image = build_image(net, x_q, cfg, model=m.name, layers=supported)
    write_image(image, out)
    # for CHAIN=1: the golden network and a sample of test images (with labels when the model has them)
    import pickle

    import numpy as np

    n = min(CHAIN_IMAGES, len(x))
    order = [(idx + i) % len(x) for i in range(n)]
    xs = net.quantize_input(x[order])
    labels = m.y_test[order].numpy() if m.y_test is not None else np.full(n, -1)
    np.savez(out.parent / "chain.npz", x_q=xs, labels=labels, golden_pred=net.predict(xs))
    (out.parent / "net.pkl").write_bytes(pickle.dumps(net))
    compute = set(supported)
    layers = [
        {"name": l.name, "kind": l.kind, "in_shape": list(l.in_shape), "out_shape": list(l.out_shape),
         "macs": l.macs, "rtl": l.name in compute, "unsupported": unsupported.get(l.name, "")}
        for l in net.layers
    ]
    info.write_text(json.dumps({"key": key, "layers": layers}, indent=1))
    return layers


def run(
    *, layers: list[str] | None, sim: str, model: str, seed: int, waves: bool = False, mem_stall: int = 0,
    mem_latency: int = 8, quiet: bool = False, defines: tuple[str, ...] = (),
    csr_overrides: dict[str, dict[str, int]] | None = None, run_tag: str = "", watchdog_cycles: int = 0,
    chain: int = 0,
) -> list[dict[str, Any]]:
    """Run the chosen layers (default: every conv/fc layer) and return one result per layer.

    chain > 0: instead feed the RTL's own outputs forward through the whole network for `chain`
    test images (golden runs the layers the RTL does not) and return one result per image."""
    from cocotb_tools.runner import get_runner

    tag = model.replace("/", "_").replace(":", "_").replace(".py", "")
    rdir = RUNS / f"{tag}-{sim}-seed{seed}{run_tag}"
    rdir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    print(f"sim: golden model {model}, test image {seed}, memory image in {rdir / 'image'} ...", flush=True)
    all_layers = prepare_image(model, seed, rdir / "image")
    by_name = {l["name"]: l for l in all_layers}
    names = [l["name"] for l in all_layers if l["rtl"]]
    macs = {l["name"]: l["macs"] for l in all_layers}
    chosen = names if not layers else layers
    unknown = [n for n in chosen if n not in names]
    if unknown:
        kinds = {l["name"]: l["kind"] for l in all_layers}
        why = {l["name"]: l.get("unsupported") or f"{l['kind']}: golden only" for l in all_layers}
        msg = ", ".join(f"{n} ({why[n]})" if n in kinds else f"{n} (no such layer)" for n in unknown)
        raise SystemExit(f"sim: cannot simulate {msg}; RTL layers of {model}: {', '.join(names)}")
    mm = json.loads((rdir / "image" / "memory_map.json").read_text())
    if int(mm["dram"]["words"]) > DRAM_WORDS:
        raise SystemExit(f"sim: the memory image of {model} needs {mm['dram']['words']} words; the bench's external memory holds {DRAM_WORDS}")
    bdir = build_accel(sim, waves=waves, defines=defines)
    results = rdir / "results.json"
    if results.exists():
        results.unlink()
    job = {
        "image_dir": str(rdir / "image"), "layers": chosen, "results": str(results), "seed": seed,
        "mem_stall": mem_stall, "mem_latency": mem_latency, "macs": macs, "csr_overrides": csr_overrides or {},
        "watchdog_cycles": watchdog_cycles,
        "wave_signals": [p for _, sigs in WAVE_GROUPS for p, _ in sigs] if waves else [],
        "chain": {"images": chain, "npz": str(rdir / "chain.npz"), "net": str(rdir / "net.pkl")} if chain else None,
    }
    (rdir / "job.json").write_text(json.dumps(job, indent=1))
    if chain:
        print(f"sim: chained run of {model} on {sim}: {chain} image(s), RTL outputs fed forward ...", flush=True)
    else:
        print(f"sim: running {len(chosen)} layer(s) on {sim} ...", flush=True)
    apply_simulator_env()
    try:
        get_runner(sim).test(
            test_module="tb.test_layers",
            hdl_toplevel=TOP,
            hdl_toplevel_lang="verilog",
            build_dir=str(bdir),
            test_dir=str(rdir),
            extra_env={"LAYER_JOB": str(rdir / "job.json"), "PYTHONPATH": str(ROOT), "HDL_CLOCK": "1", **SIM_PROCESS_ENV,
                       # cocotb's own chatter off unless asked for (SIM_VERBOSE=1); the bench prints progress
                       **({} if os.environ.get("SIM_VERBOSE") == "1" else {"COCOTB_LOG_LEVEL": "WARNING", "GPI_LOG_LEVEL": "WARNING"})},
            plusargs=[f"+MEM_INIT={rdir / 'image' / 'dram.memh'}"],
            waves=waves,
            results_xml=str(rdir / "results.xml"),
        )
    except SystemExit:
        pass  # cocotb_tools raises on a failing test; the per-layer results say what failed
    except Exception as exc:  # a failing test raises too (version dependent)
        if not results.exists():
            raise
        if not quiet:
            print(f"sim: cocotb reported: {type(exc).__name__}", flush=True)
    if not results.exists():
        raise SystemExit(f"sim: the simulation wrote no results ({results}); see {rdir}")
    res: list[dict[str, Any]] = json.loads(results.read_text())
    if chain:
        print(f"sim: {len(res)} image(s) in {time.time() - t0:.1f} s", flush=True)
        return res
    for r in res:
        l = by_name[r["layer"]]
        if r["status"] == "FAIL" and str(r.get("reason", "")).startswith("engine error status"):
            r["status"] = "UNSUPP"  # the engine says it cannot run this descriptor (which field)
        r["shape"] = "x".join(map(str, l["in_shape"])) + " -> " + "x".join(map(str, l["out_shape"]))
        r["golden_macs"] = l["macs"]
        # array size read from the build's ROWS/COLS registers
        r["utilisation"] = l["macs"] / (r["cycles"] * r["array_size"]) if r.get("cycles") else 0.0
        # memory port occupancy: words moved per cycle (the port moves at most one); near 100% the
        # layer is bound by memory traffic, not by the array
        r["port"] = (r["words_read"] + r["words_written"]) / r["cycles"] if r.get("cycles") else 0.0
        r["rerun"] = rerun_command(r["layer"], sim, model, seed, waves)
        r["run_dir"] = str(rdir)
    done = {r["layer"] for r in res}
    for n in chosen:
        if n not in done:
            res.append({"layer": n, "kind": by_name[n]["kind"], "status": "FAIL", "reason": "not run (the simulation stopped)",
                        "rerun": rerun_command(n, sim, model, seed, waves), "run_dir": str(rdir)})
    if waves:
        gtkw = save_waves(rdir, bdir, sim, chosen)
        for r in res:
            r["waves"] = gtkw
    print(f"sim: {len(res)} layer(s) in {time.time() - t0:.1f} s", flush=True)
    return res


#: GTKWave groups: (title, [(signal path under the bench top, display format)]).
WAVE_GROUPS = [
    ("control / status", [("u_accel.state_q", "dec"), ("u_accel.busy_o", "bin"), ("u_accel.done_o", "bin"),
                          ("u_accel.error_o", "bin"), ("u_accel.err_field_q", "dec"), ("u_accel.cyc_q", "dec")]),
    ("layer CSRs", [(f"u_accel.{n}", "dec") for n in ("kind_q", "in_c_q", "in_h_q", "in_w_q", "out_c_q", "out_h_q",
                                                       "out_w_q", "kh_q", "kw_q", "sy_q", "sx_q", "py_q", "px_q",
                                                       "groups_q", "z_in_q", "z_out_q", "lo_q", "hi_q")]
                   + [(f"u_accel.{n}", "hex") for n in ("w_base_q", "b_base_q", "s_base_q", "in_base_q", "out_base_q")]),
    ("reader / writer", [(f"u_accel.{n}", "dec") for n in ("s_seg_q", "s_kt_q", "s_y_q", "wloaded_q", "recs_kt_q",
                                                           "act_y_q", "cfin_q", "d_kt_q", "of_cnt_q", "w_ahead_q")]),
    ("engine loops", [(f"u_accel.{n}", "dec") for n in ("g_kt_q", "g_p0_q", "g_step_q", "g_j_q", "g_oy_q", "g_ox_q",
                                                        "c_set_q", "c_lane_q", "fill_q", "drain_q")]),
    ("memory port", [("req_valid", "bin"), ("req_ready", "bin"), ("req_we", "bin"), ("req_addr", "hex"), ("req_len", "dec"),
                     ("rd_valid", "bin"), ("rd_ready", "bin"), ("rd_data", "hex"), ("wr_valid", "bin"), ("wr_ready", "bin"),
                     ("wr_data", "hex")]),
    ("MAC array", [("u_accel.mac_in_valid", "bin"), ("u_accel.mac_in_ready", "bin"), ("u_accel.mac_first", "bin"),
                   ("u_accel.mac_last", "bin"), ("u_accel.mac_w", "hex"), ("u_accel.mac_a", "hex"),
                   ("u_accel.mac_out_valid", "bin"), ("u_accel.mac_out_acc", "hex"), ("u_accel.rq_out_valid", "bin"),
                   ("u_accel.rq_out_data", "hex")]),
]
_FLAGS = {"bin": "@28", "hex": "@22", "dec": "@24"}


def save_waves(rdir: Path, bdir: Path, sim: str, layers: list[str]) -> str:
    """Copy the run's waveform (Verilator: VCD in the run folder; Icarus: FST in the build folder)
    to build/waves/<layer>.* and write a GTKWave save file beside it, signals grouped."""
    import shutil

    found = sorted([*rdir.glob("*.vcd"), *bdir.glob("*.fst")], key=lambda p: p.stat().st_mtime)
    if not found:
        return ""
    widths = json.loads((rdir / "wave_signals.json").read_text()) if (rdir / "wave_signals.json").is_file() else {}
    wdir = ROOT / "build" / "waves"
    wdir.mkdir(parents=True, exist_ok=True)
    tag = layers[0] if len(layers) == 1 else "all"
    dump = wdir / f"{tag}{found[-1].suffix}"
    shutil.copy2(found[-1], dump)
    prefix = "accel_tb."  # the bench top is the root scope in both the VCD (Verilator) and the FST (Icarus)
    lines = [f'[dumpfile] "{dump}"', f'[savefile] "{wdir / (tag + ".gtkw")}"', "[timestart] 0"]
    for title, sigs in WAVE_GROUPS:
        lines += ["@200", f"-{title}"]
        for path, fmt in sigs:
            w = int(widths.get(path, 0))
            if w:  # GTKWave names vectors with their range: state_q[3:0]
                lines += [_FLAGS[fmt], prefix + path + (f"[{w - 1}:0]" if w > 1 else "")]
    (wdir / f"{tag}.gtkw").write_text("\n".join(lines) + "\n")
    return str(wdir / f"{tag}.gtkw")


def rerun_command(layer: str, sim: str, model: str, seed: int, waves: bool) -> str:
    parts = [f"LAYER={layer}", f"SIM={sim}", f"MODEL={shlex.quote(model)}", f"SEED={seed}"]
    return "make sim " + " ".join(parts) + (" WAVES=1" if waves else "")


def table(res: list[dict[str, Any]], net_golden_only: list[str] | None = None) -> str:
    head = f"{'layer':8s} {'kind':10s} {'shape':24s} {'result':6s} {'wrong':>7s} {'cycles':>9s} {'MACs':>10s} {'util':>6s} {'port':>5s}"
    lines = [head, "-" * len(head)]
    for r in res:
        lines.append(
            f"{r['layer']:8s} {r.get('kind', ''):10s} {r.get('shape', ''):24s} {r['status']:6s} "
            f"{r.get('mismatches', '-')!s:>7s} {r.get('cycles', 0):>9,} {r.get('golden_macs', 0):>10,} "
            f"{r.get('utilisation', 0.0):>6.1%} {r.get('port', 0.0):>5.0%}"
        )
    if net_golden_only:
        lines.append(f"golden only (not run in RTL): {', '.join(net_golden_only)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tb.layer_sim", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layer", default="", help="comma-separated layer names (default: every conv/fc layer)")
    p.add_argument("--sim", default=os.environ.get("SIM") or "verilator", choices=["verilator", "icarus"])
    p.add_argument("--model", default="mobilenetv2")
    p.add_argument("--seed", type=int, default=0, help="test image index (and memory stall seed)")
    p.add_argument("--waves", action="store_true")
    p.add_argument("--mem-stall", type=int, default=0, help="external memory stalls per 256 cycles")
    p.add_argument("--list", action="store_true", help="list the model's layers and exit")
    p.add_argument("--chain", type=int, default=0, metavar="N",
                   help="feed the RTL's own outputs through the whole network for N test images")
    a = p.parse_args(argv)
    if a.list:
        warnings.filterwarnings("ignore")
        from golden import extract, quantize
        from golden.models import load_model

        m = load_model(a.model)
        net = extract(quantize(m.float_model, m.calibration), m.calibration[:2])
        for l in net.layers:
            where = "RTL" if l in net.compute_layers() else "golden only"
            print(f"{l.name:10s} {l.kind:10s} {'x'.join(map(str, l.in_shape)):>10s} -> {'x'.join(map(str, l.out_shape)):10s} {where}")
        return 0
    layers = [s for s in a.layer.split(",") if s] or None
    if a.chain:
        return main_chain(a)
    res = run(layers=layers, sim=a.sim, model=a.model, seed=a.seed, waves=a.waves, mem_stall=a.mem_stall)
    golden_only = []
    unsupported = []
    if layers is None and res:
        info = json.loads((Path(res[0]["run_dir"]) / "layers.json").read_text())
        golden_only = [f"{l['name']} ({l['kind']})" for l in info["layers"] if not l["rtl"] and not l.get("unsupported")]
        unsupported = [f"{l['name']}: {l['unsupported']}" for l in info["layers"] if l.get("unsupported")]
    print(table(res, golden_only))
    for u in unsupported + [f"{r['layer']}: {r['reason']}" for r in res if r["status"] == "UNSUPP"]:
        print(f"unsupported by the accelerator (not simulated): {u}")
    failed = [r for r in res if r["status"] not in ("PASS", "UNSUPP")]
    for r in failed:
        print(f"\nFAIL {r['layer']}: {r.get('reason', '')}")
        if r.get("report"):
            print(r["report"])
        print(f"  artifacts kept in {r['run_dir']}" + (f"; waves: {r['waves']}" if r.get("waves") else ""))
        print(f"  rerun: {r['rerun']}")
    passed = sum(r["status"] == "PASS" for r in res)
    print(f"\n{passed} passed, {len(failed)} failed")
    return 1 if failed else 0


def main_chain(a: argparse.Namespace) -> int:
    res = run(layers=None, sim=a.sim, model=a.model, seed=a.seed, mem_stall=a.mem_stall, chain=a.chain)
    n = len(res)
    labelled = [r for r in res if r["label"] >= 0]
    print(f"{'image':>5s} {'label':>5s} {'RTL':>4s} {'golden':>6s}  layers equal to golden")
    for r in res:
        print(f"{r['image']:>5d} {r['label']:>5d} {r['rtl_pred']:>4d} {r['golden_pred']:>6d}  "
              f"{r['layers_equal']}/{r['layers']}" + (f"  first differing: {r['first_diff']}" if r.get("first_diff") else ""))
    agree = sum(r["rtl_pred"] == r["golden_pred"] for r in res)
    print(f"\nRTL top-1 equals golden on {agree}/{n} images")
    if labelled:
        acc_rtl = sum(r["rtl_pred"] == r["label"] for r in labelled) / len(labelled)
        acc_gold = sum(r["golden_pred"] == r["label"] for r in labelled) / len(labelled)
        print(f"digits test accuracy over {len(labelled)} images: RTL {acc_rtl:.2%}, golden {acc_gold:.2%}")
    bad = [r for r in res if r["layers_equal"] != r["layers"]]
    print(f"{n - len(bad)} passed, {len(bad)} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
