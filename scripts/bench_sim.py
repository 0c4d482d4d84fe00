"""Benchmark (figures, not a timed test): layer simulation speed and cocotb's overhead.

    make bench-sim

For a few layers: wall time from start to done under Icarus and Verilator and their ratio,
simulated cycles per second, and the cocotb overhead: the same layer under cocotb (tb.layer_sim:
Python writes the CSRs, starts, awaits one done trigger) against a plain Verilog harness with no
Python at all (tb/engine/hdl/accel_plain_tb.sv, Verilog clock, the same simulator options), as a ratio.
The plain harness is timed over N runs minus one run, so process start-up and image loading
cancel out (N = 8 on Icarus, about 2M cycles' worth on Verilator). Then MAC-array utilisation (MACs / (cycles x array size)) and memory port occupancy
for every conv/fc layer of the shipped models and of scripts/bench_model.py, whose layers fill the
array (goal: >= 85% on 3x3 and 1x1 convs whose channels fill the array). With --network MODEL
(`make bench-sim HW=edge NETWORK=mobilenetv2_224`, also deeplabv3_513 and yolo_small): the whole network, every layer on
Verilator after the build, timed as golden + hexgen (a fresh memory image, no cache) plus the
simulation of every layer (one run each), and its utilisation per layer kind (goal: <= 60 s), a
chained run of one image (CHAIN=1: the RTL's own outputs through the whole network); then make
sim's run of its layers in one job against one job per core (tb.jobs; aim: 1.8x on two cores).
Last, packed weights (issue 25): the narrow networks' conv/fc layers with their weights stored one
per byte (a build of the same description that unpacks 8-bit weights only) against packed 4 and 2
to a byte: cycles and words read per layer, and their ratio.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tb import layer_sim  # noqa: E402
from tb.jobs import local_cores  # noqa: E402

from tb.engine import accel_build
from tb.engine.csr import CSR, descriptor_csrs  # noqa: E402
from tb.sim import BENCHES, VERILATOR_ARGS  # noqa: E402
from tb.toolchain import simulator_env  # noqa: E402

BENCH_MODEL = f"{ROOT / 'scripts' / 'bench_model.py'}:make"
#: (model, layer, simulators): Icarus only on the shorter layers (it is 100x+ slower)
CASES = [("mobilenetv2", "conv1", ("icarus", "verilator")), ("mobilenetv2", "conv2", ("icarus", "verilator")),
         ("mobilenetv2", "conv4", ("icarus", "verilator")), ("vgg", "conv2", ("icarus", "verilator")),
         (BENCH_MODEL, "conv1", ("verilator",)), (BENCH_MODEL, "conv2", ("verilator",))]
UTIL_MODELS = ["mobilenetv2", "vgg", BENCH_MODEL]
REPEAT = 8
TRIES = 3
PLAIN = ROOT / "build" / "sim" / "plain"
SOURCES = [str(s) for s in BENCHES["accel"][1]] + [str(ROOT / "tb" / "engine" / "hdl" / "accel_plain_tb.sv")]


def build_plain(sim: str, hw: str) -> list[str]:
    """The plain harness with the hardware description's sizes (its own build folder per preset)."""
    from hexgen.hw import load_hw, rtl_parameters

    env = simulator_env()
    params = {**rtl_parameters(load_hw(hw)), "ADDR_W": accel_build.ADDR_W}
    out = PLAIN / f"{sim}-{Path(hw).stem}"
    out.mkdir(parents=True, exist_ok=True)
    if sim == "icarus":
        exe = out / "plain.vvp"
        subprocess.run(["iverilog", "-g2012", f"-I{ROOT / 'rtl'}", "-s", "accel_plain_tb",
                        *[f"-Paccel_plain_tb.{k}={v}" for k, v in params.items()], "-o", str(exe), *SOURCES],
                       check=True, env=env)
        return ["vvp", "-n", str(exe)]
    subprocess.run(["verilator", "--binary", "--timing", *VERILATOR_ARGS, "-Wno-lint", "-Wno-style", f"-I{ROOT / 'rtl'}", "--top-module", "accel_plain_tb",
                    *[f"-G{k}={v}" for k, v in params.items()], "--Mdir", str(out / "obj"), "-j", "2", *SOURCES],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    return [str(out / "obj" / "Vaccel_plain_tb")]


def plain_seconds(cmd: list[str], rdir: Path, image: Path, layer: str, repeat: int) -> tuple[float, int]:
    mm = json.loads((image / "memory_map.json").read_text())
    entry = next(l for l in mm["layers"] if l["name"] == layer)
    bases = {s["segment"]: s["base_word"] for s in mm["segments"] if s["layer"] == layer}
    csrs = descriptor_csrs(entry, bases)
    f = rdir / f"{layer}.csr.hex"
    f.write_text("".join(f"{CSR[name]:02x}{value & 0xFFFFFFFF:08x}\n" for name, value in csrs))
    args = [f"+CSR_FILE={f}", f"+NCSR={len(csrs)}", f"+MEM_INIT={image / 'dram.memh'}"]
    times, cycles = [], 0
    for rep in (1, repeat):
        t0 = time.perf_counter()
        out = subprocess.run([*cmd, *args, f"+REPEAT={rep}"], capture_output=True, text=True, check=True,
                             env=simulator_env()).stdout
        times.append(time.perf_counter() - t0)
        runs = [l for l in out.splitlines() if "accel_plain_tb: run" in l]
        if len(runs) != rep or "error=1" in out:
            raise SystemExit(f"plain harness failed on {layer}:\n{out}")
        cycles = int(runs[-1].rsplit("cycles=", 1)[1])
    return (times[1] - times[0]) / (repeat - 1), cycles


def label(model: str) -> str:
    return "bench_model" if model == BENCH_MODEL else model


def kind_table(res: list[dict[str, object]], macs_per_cycle: int, bounds: dict[str, int] | None = None) -> str:
    """Cycles, MACs and utilisation summed per layer kind; with `bounds` (layer -> cycles the array
    or the port's busier channel needs at least), the bound and the utilisation it allows."""
    tot: dict[str, list[int]] = {}
    for r in res:
        t = tot.setdefault(str(r["kind"]), [0, 0, 0, 0])
        t[0] += 1
        t[1] += int(r["cycles"])  # type: ignore[call-overload]
        t[2] += int(r["golden_macs"])  # type: ignore[call-overload]
        t[3] += (bounds or {}).get(str(r["layer"]), 0)
    mac_kinds = [t for t in tot.values() if t[2]]
    tot["conv/fc"] = [sum(t[i] for t in mac_kinds) for i in range(4)]
    tot["network"] = [sum(t[i] for k, t in tot.items() if k != "conv/fc") for i in range(4)]
    head = f"{'kind':10s} {'layers':>6s} {'cycles':>11s} {'MACs':>13s} {'util':>6s}"
    lines = [head + (f" {'bound':>11s} {'util at bound':>13s}" if bounds else "")]
    for k, (n, cyc, macs, bound) in tot.items():
        util = f"{100 * macs / (cyc * macs_per_cycle):>5.1f}%" if macs else f"{'-':>6s}"
        line = f"{k:10s} {n:>6d} {cyc:>11,} {macs:>13,} {util}"
        if bounds and macs and k != "network":  # add and pool have no bound here
            line += f" {bound:>11,} {100 * macs / (bound * macs_per_cycle):>12.1f}%"
        lines.append(line)
    return "\n".join(lines)


def whole_network(model: str, hw: str) -> None:
    """golden + hexgen on a fresh image, then every conv/fc layer once on Verilator (after the build)."""
    import tempfile

    from hexgen.hw import load_hw
    from tb import images
    from tb.engine import images as engine_images

    cfg = load_hw(hw)
    print(f"\nwhole network {model}, HW={hw}: building (not timed) ...", flush=True)
    warm = layer_sim.run(layers=None, sim="verilator", model=model, seed=0, quiet=True, hw=hw, xcheck=False, jobs=local_cores())
    rtl = [r["layer"] for r in warm]
    cached = images.IMAGES
    with tempfile.TemporaryDirectory(dir=ROOT / "build") as tmp:
        images.IMAGES = Path(tmp)  # no cached image: golden and hexgen run
        try:
            t0 = time.perf_counter()
            cdir, _layers, _n = engine_images.prepare_image(model, 0, hw)
            t_image = time.perf_counter() - t0
            mm = json.loads((cdir / "image" / "memory_map.json").read_text())
            t0 = time.perf_counter()
            res = layer_sim.run(layers=rtl, sim="verilator", model=model, seed=0, quiet=True, hw=hw, xcheck=False)
            t_sim = time.perf_counter() - t0
        finally:
            images.IMAGES = cached
    bad = [r["layer"] for r in res if r["status"] != "PASS"]
    if bad:
        raise SystemExit(f"{model}: {len(bad)} layer(s) did not pass: {bad}")
    t0 = time.perf_counter()  # CHAIN=1 of one image: the RTL's own outputs through the whole network
    chained = layer_sim.run(sim="verilator", model=model, seed=0, quiet=True, hw=hw, chain=1)[0]
    t_chain = time.perf_counter() - t0
    if chained["layers_equal"] != chained["layers"]:
        raise SystemExit(f"{model}: the chained run differs from golden at {chained['first_diff']}")
    jobs_line = split_into_jobs(model, hw, rtl)
    cycles = sum(int(r["cycles"]) for r in res)
    print(f"{len(res)} layers PASS; golden + hexgen {t_image:.1f} s, simulation {t_sim:.1f} s "
          f"({cycles:,} cycles, {cycles / t_sim:,.0f} cycles/s over the whole run), total {t_image + t_sim:.1f} s (goal <= 60 s)")
    print(f"CHAIN=1, one image: {t_chain:.1f} s, {chained['layers_equal']}/{chained['layers']} layers equal to golden"
          + (f" (golden ran {', '.join(chained['golden_ran'])})" if chained.get("golden_ran") else ""))
    # the bound: the array's cycles for this dataflow, or the words the layer moved on the busier
    # port channel (one word a cycle each), whichever is more
    entries = {e["name"]: e["descriptor"] for e in mm["layers"]}
    from hexgen.cycles import entry_budget

    bounds = {str(r["layer"]): max(entry_budget(entries[str(r["layer"])], cfg).array,  # a matmul's heads summed
                                   int(r["words_read"]), int(r["words_written"]))  # type: ignore[call-overload]
              for r in res if r["golden_macs"]}
    print(kind_table(res, cfg.array_rows * cfg.array_cols, bounds))
    print(jobs_line)
    print("bound: the cycles the MAC array needs with this dataflow (hexgen.cycles: one beat per real input channel\n"
          "and kernel position per pixel tile, or the gather's cycles, or its drained columns), or the words moved\n"
          "on the busier memory channel, whichever is more, per layer; the budget (the whole model) is in make sim")


def split_into_jobs(model: str, hw: str, layers: list[str]) -> str:
    """make sim's run of every layer (both X seeds, as make sim runs it) in one job and split into
    one job per core (tb.jobs), timed in this one run: the wall times and their ratio."""
    cores = local_cores()
    if cores < 2:
        return f"jobs: this process may use one core; the split into jobs is not timed"
    walls = {}
    for jobs in (1, cores):
        t0 = time.perf_counter()
        res = layer_sim.run(layers=layers, sim="verilator", model=model, seed=0, quiet=True, hw=hw, jobs=jobs)
        walls[jobs] = time.perf_counter() - t0
        bad = [r["layer"] for r in res if r["status"] != "PASS"]
        if bad:
            raise SystemExit(f"{model} in {jobs} job(s): {len(bad)} layer(s) did not pass: {bad}")
    return (f"\nmake sim of every layer (both X seeds) in one job: {walls[1]:.1f} s; in {cores} jobs at once (JOBS={cores}): "
            f"{walls[cores]:.1f} s; {walls[1] / walls[cores]:.2f}x on {cores} cores (aim: 1.8x on two)")


#: (model, W_BITS, A_BITS) of the packed-weight comparison: a conv net with fc layers, and depthwise
PACKED_CASES = [("vgg", 4, 4), ("vgg", 2, 8), ("mobilenetv2", 4, 8)]


def packed_weights(hw: str) -> None:
    """Every conv/fc layer of each narrow network twice on Verilator: weights one per byte (this
    description with weight_bits [8]: hexgen stores them so, the build has no unpacker) and packed."""
    import dataclasses

    from hexgen.hw import hw_name, load_hw

    unpacked = dataclasses.replace(load_hw(hw), weight_bits=(8,))
    path = ROOT / "build" / "bench" / f"{Path(hw_name(hw)).stem}-bytes.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(unpacked.to_json(), indent=1) + "\n")
    print(f"\nPacked weights against one per byte (HW={hw}; one per byte: {path.relative_to(ROOT)}, weight_bits [8])")
    for model, w_bits, a_bits in PACKED_CASES:
        runs = {}
        for name, spec in (("bytes", str(path)), ("packed", hw)):
            res = layer_sim.run(layers=None, sim="verilator", model=model, seed=0, quiet=True, hw=spec, w_bits=w_bits,
                                a_bits=a_bits, jobs=local_cores())
            bad = [r for r in res if r["status"] != "PASS"]
            if bad:
                raise SystemExit(f"{model} w{w_bits}a{a_bits} ({name}): {bad[0]['layer']} {bad[0]['status']}: {bad[0].get('reason')}")
            runs[name] = {r["layer"]: r for r in res if r["kind"] in ("conv", "pointwise", "depthwise", "fc")}
        print(f"\n{label(model)} W_BITS={w_bits} A_BITS={a_bits}")
        print(f"{'layer':12s} {'kind':10s} {'cycles 8b':>10s} {'packed':>10s} {'ratio':>6s} {'read 8b':>9s} {'packed':>9s} {'ratio':>6s}")
        tot = {"bytes": [0, 0], "packed": [0, 0]}
        for layer, b in runs["bytes"].items():
            pk = runs["packed"][layer]
            for name, r in (("bytes", b), ("packed", pk)):
                tot[name][0] += int(r["cycles"])
                tot[name][1] += int(r["words_read"])
            print(f"{layer:12s} {b['kind']:10s} {b['cycles']:>10,} {pk['cycles']:>10,} {pk['cycles'] / b['cycles']:>6.2f} "
                  f"{b['words_read']:>9,} {pk['words_read']:>9,} {pk['words_read'] / b['words_read']:>6.2f}")
        (cb, rb), (cp, rp) = tot["bytes"], tot["packed"]
        print(f"{'all':12s} {'':10s} {cb:>10,} {cp:>10,} {cp / cb:>6.2f} {rb:>9,} {rp:>9,} {rp / rb:>6.2f}")


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    from hexgen.hw import load_hw

    p = argparse.ArgumentParser(prog="bench-sim", description=__doc__)
    p.add_argument("--hw", default="default", help="hardware description: a hexgen.hw preset or path.json")
    p.add_argument("--network", default="", help="also time this whole network (golden + hexgen + simulation)")
    p.add_argument("--packed-only", action="store_true", help="only the packed-weight comparison (cycles, words read)")
    a = p.parse_args(argv)
    hw = a.hw
    # bad input is one line before anything is built (ConfigError, ModelLoadError: run_cli)
    load_hw(hw)
    if a.network:
        from golden.models import load_model  # PyTorch: after the checks that do not need it

        load_model(a.network)
        whole_network(a.network, hw)
        return 0
    if a.packed_only:
        packed_weights(hw)
        return 0
    print(f"bench-sim: HW={hw}", flush=True)
    rows = []
    plain = {sim: build_plain(sim, hw) for sim in ("icarus", "verilator")}
    for model, layer, sims in CASES:
        row: dict[str, object] = {"case": f"{label(model)}.{layer}"}
        for sim in sims:
            # the best of TRIES runs on each side, to see past this machine's timing noise
            tries = TRIES if sim == "verilator" else 2
            walls, plains = [], []
            for _ in range(tries):
                res = layer_sim.run(layers=[layer], sim=sim, model=model, seed=0, quiet=True, hw=hw)[0]
                if res["status"] != "PASS":
                    raise SystemExit(f"{model}.{layer} failed on {sim}: {res.get('reason')}")
                # Verilator: enough repeats (about 2M cycles) that start-up noise does not matter
                repeat = REPEAT if sim == "icarus" else min(1000, max(REPEAT, 2_000_000 // res["cycles"]))
                t_plain, cycles = plain_seconds(plain[sim], Path(res["run_dir"]), Path(res["image_dir"]), layer, repeat)
                assert cycles == res["cycles"], (cycles, res["cycles"])
                walls.append(res["wall_s"])
                plains.append(t_plain)
            row[sim] = min(walls)
            row[f"{sim}_plain"] = min(plains)
            row["cycles"] = res["cycles"]
        rows.append(row)
    print()
    print(f"{'layer':22s} {'cycles':>8s} {'icarus s':>9s} {'verilator s':>11s} {'ic/vl':>6s} "
          f"{'vl cyc/s':>10s} {'cocotb/plain ic':>15s} {'cocotb/plain vl':>15s}")
    for r in rows:
        vl, vlp = float(r["verilator"]), float(r["verilator_plain"])  # type: ignore[arg-type]
        cyc = int(r["cycles"])  # type: ignore[call-overload]
        if "icarus" in r:
            ic, icp = float(r["icarus"]), float(r["icarus_plain"])  # type: ignore[arg-type]
            ic_cols = f"{ic:>9.3f} {vl:>11.4f} {ic / vl:>6.1f} {cyc / vl:>10,.0f} {ic / icp:>15.2f}"
        else:
            ic_cols = f"{'-':>9s} {vl:>11.4f} {'-':>6s} {cyc / vl:>10,.0f} {'-':>15s}"
        print(f"{r['case']:22s} {cyc:>8,} {ic_cols} {vl / vlp:>15.2f}")
    print("\ncocotb/plain: wall time from start to done under cocotb over the plain Verilog harness's (goal < 1.2)"
          f"\n(best of {TRIES} runs on each side on Verilator, 2 on Icarus)")

    print("\nMAC-array utilisation, every conv/fc layer (Verilator); rd / wr = words moved per cycle on the memory port's read / write channel")
    for model in UTIL_MODELS:
        # every core: utilisation and traffic are per layer, whichever job ran it (tb.jobs)
        res = layer_sim.run(layers=None, sim="verilator", model=model, seed=0, quiet=True, hw=hw, jobs=local_cores())
        print(f"\n{label(model)}")
        print(layer_sim.table(res))
    print("\nGoal: >= 85% on 3x3 and 1x1 convs whose channels fill the array. Layers on 6x6 and 3x3 images")
    print("leave columns idle in their last pixel tile (36 pixels use 36 of 40 columns, 9 use 9 of 16).")
    packed_weights(hw)
    return 0


if __name__ == "__main__":
    from golden.cli import run_cli

    sys.exit(run_cli("bench-sim", main))
