"""make bench-units: requantizer vectors per second under Icarus Verilog and under Verilator.

Two figures per simulator (a figure to report, not a timed test):
  stream  vectors streamed by the RTL harness from its $readmemh vector memory (no Python per cycle):
          the simulator's own speed on the 8-lane requantizer, wall time from start to done;
  cocotb  vectors when cocotb writes every input beat and reads every output beat each cycle.
Both runs check every output against golden.arith.requantize. Prints the Verilator/Icarus ratios.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tb import sim  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--beats", type=int, default=16000, help="streamed beats (8 vectors each; at most 16384)")
    ap.add_argument("--direct-beats", type=int, default=2000, help="beats driven by cocotb")
    args = ap.parse_args()
    rows = {}
    for s in sim.SIMS:
        t0 = time.perf_counter()
        sim.build("requant", s, {"LANES": 8})
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        sim.run("requant", s, "tb.engine.test_requant", testcase="bench_throughput", parameters={"LANES": 8},
                extra_env={"REQUANT_BENCH": "1", "REQUANT_BENCH_BEATS": str(args.beats),
                           "REQUANT_BENCH_DIRECT_BEATS": str(args.direct_beats), "COCOTB_LOG_LEVEL": "WARNING"},
                run_name="bench")
        run_s = time.perf_counter() - t0
        res = json.loads((sim.build_dir("requant", s, {"LANES": 8}) / "run-bench" / "requant_bench.json").read_text())
        res["build_s"], res["run_s"] = build_s, run_s
        rows[s] = res
    print()
    print("requant (8 lanes), vectors per second, every output checked against golden")
    print(f"{'simulator':10s} {'stream vec/s':>14s} {'cycles/s':>10s} {'cocotb vec/s':>13s} {'run s':>7s} {'build s':>8s}")
    for s, r in rows.items():
        sv = r["stream_vectors"] / r["stream_s"]
        cy = r["stream_cycles"] / r["stream_s"]
        dv = r["direct_vectors"] / r["direct_s"]
        r["stream_vps"], r["direct_vps"] = sv, dv
        print(f"{s:10s} {sv:14,.0f} {cy:10,.0f} {dv:13,.0f} {r['run_s']:7.1f} {r['build_s']:8.1f}")
    i, v = rows["icarus"], rows["verilator"]
    print(f"Verilator / Icarus: stream {v['stream_vps'] / i['stream_vps']:.1f}x, cocotb-driven {v['direct_vps'] / i['direct_vps']:.1f}x "
          f"({i['stream_vectors']} streamed and {i['direct_vectors']} driven vectors per simulator)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
