"""Benchmark (figures, not a timed test): layer simulation speed and cocotb's overhead.

    make bench-sim

For a few layers: wall time from start to done under Icarus and Verilator and their ratio,
simulated cycles per second, and the cocotb overhead: the same layer under cocotb (tb.layer_sim:
Python writes the CSRs, starts, awaits one done trigger) against a plain Verilog harness with no
Python at all (tb/hdl/accel_plain_tb.sv, Verilog clock), as a ratio. The plain harness is timed
over REPEAT runs minus one run, so process start-up and image loading cancel out.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tb import layer_sim  # noqa: E402
from tb.csr import CSR, descriptor_csrs  # noqa: E402
from tb.sim import BENCHES  # noqa: E402
from tb.toolchain import simulator_env  # noqa: E402

CASES = [("mobilenetv2", "conv1"), ("mobilenetv2", "conv2"), ("mobilenetv2", "conv4"), ("vgg", "conv2")]
REPEAT = 6
PLAIN = ROOT / "build" / "sim" / "plain"
SOURCES = [str(s) for s in BENCHES["accel"][1]] + [str(ROOT / "tb" / "hdl" / "accel_plain_tb.sv")]


def build_plain(sim: str) -> list[str]:
    env = simulator_env()
    out = PLAIN / sim
    out.mkdir(parents=True, exist_ok=True)
    if sim == "icarus":
        exe = out / "plain.vvp"
        subprocess.run(["iverilog", "-g2012", f"-I{ROOT / 'rtl'}", "-s", "accel_plain_tb", "-o", str(exe), *SOURCES],
                       check=True, env=env)
        return ["vvp", "-n", str(exe)]
    subprocess.run(["verilator", "--binary", "--timing", "-O3", "--x-assign", "fast", "--x-initial", "fast",
                    "-Wno-fatal", "-Wno-lint", "-Wno-style", f"-I{ROOT / 'rtl'}", "--top-module", "accel_plain_tb",
                    "--Mdir", str(out / "obj"), "-j", "2", *SOURCES],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    return [str(out / "obj" / "Vaccel_plain_tb")]


def plain_seconds(cmd: list[str], rdir: Path, layer: str) -> tuple[float, int]:
    mm = json.loads((rdir / "image" / "memory_map.json").read_text())
    entry = next(l for l in mm["layers"] if l["name"] == layer)
    bases = {s["segment"]: s["base_word"] for s in mm["segments"] if s["layer"] == layer}
    csrs = descriptor_csrs(entry, bases)
    f = rdir / f"{layer}.csr.hex"
    f.write_text("".join(f"{CSR[name]:02x}{value & 0xFFFFFFFF:08x}\n" for name, value in csrs))
    args = [f"+CSR_FILE={f}", f"+NCSR={len(csrs)}", f"+MEM_INIT={rdir / 'image' / 'dram.memh'}"]
    times, cycles = [], 0
    for rep in (1, REPEAT):
        t0 = time.perf_counter()
        out = subprocess.run([*cmd, *args, f"+REPEAT={rep}"], capture_output=True, text=True, check=True,
                             env=simulator_env()).stdout
        times.append(time.perf_counter() - t0)
        runs = [l for l in out.splitlines() if "accel_plain_tb: run" in l]
        if len(runs) != rep or "error=1" in out:
            raise SystemExit(f"plain harness failed on {layer}:\n{out}")
        cycles = int(runs[-1].rsplit("cycles=", 1)[1])
    return (times[1] - times[0]) / (REPEAT - 1), cycles


def main() -> int:
    rows = []
    plain = {sim: build_plain(sim) for sim in ("icarus", "verilator")}
    for model, layer in CASES:
        row: dict[str, object] = {"case": f"{model}.{layer}"}
        for sim in ("icarus", "verilator"):
            res = layer_sim.run(layers=[layer], sim=sim, model=model, seed=0, quiet=True)[0]
            if res["status"] != "PASS":
                raise SystemExit(f"{model}.{layer} failed on {sim}: {res.get('reason')}")
            rdir = Path(res["run_dir"])
            t_plain, cycles = plain_seconds(plain[sim], rdir, layer)
            row[sim] = res["wall_s"]
            row[f"{sim}_plain"] = t_plain
            row["cycles"] = res["cycles"]
            assert cycles == res["cycles"], (cycles, res["cycles"])
        rows.append(row)
    print()
    print(f"{'layer':20s} {'cycles':>8s} {'icarus s':>9s} {'verilator s':>11s} {'ic/vl':>6s} "
          f"{'vl cyc/s':>10s} {'cocotb/plain ic':>15s} {'cocotb/plain vl':>15s}")
    for r in rows:
        ic, vl = float(r["icarus"]), float(r["verilator"])  # type: ignore[arg-type]
        icp, vlp = float(r["icarus_plain"]), float(r["verilator_plain"])  # type: ignore[arg-type]
        cyc = int(r["cycles"])  # type: ignore[call-overload]
        print(f"{r['case']:20s} {cyc:>8,} {ic:>9.3f} {vl:>11.4f} {ic / vl:>6.1f} {cyc / vl:>10,.0f} "
              f"{ic / icp:>15.2f} {vl / vlp:>15.2f}")
    print("\ncocotb/plain: wall time from start to done under cocotb over the plain Verilog harness's (goal < 1.2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
