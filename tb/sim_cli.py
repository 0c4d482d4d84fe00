"""`make sim` and `make layers`: the command line of the layer runner (tb.layer_sim) and of the
cross-simulator check (tb.sim_both). Kept apart from both, so that neither imports the other's
command line (tb.sim_both uses tb.layer_sim; this module uses both).

    python -m tb.layer_sim [--layer conv3[,fc1]] [--sim verilator|icarus|both] [--model NAME|path.py:factory]
                           [--seed N] [--waves 0|1|auto] [--mem-stall S] [--mem-latency L] [--hw H]
                           [--chain N] [--list]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any, NoReturn

from golden.cli import run_cli
from tb import layer_sim
from tb.jobs import cluster_setting, cluster_workers, local_cores
from tb.sim import SimError
from tb.sim_both import main_both
from tb.images import BY_LAYOUT
from tb.target import ENGINE, load_target


def _list_layers(model: str, hw: str | None, target_spec: str = ENGINE, **widths: Any) -> int:
    warnings.filterwarnings("ignore")
    from tb.run_settings import RunSettings

    s = RunSettings(model=model, hw=hw, target=target_spec, **widths)
    s.check()
    target = load_target(target_spec)
    layer_sim.refuse_options(s, target)
    _cdir, layers, _idx = target.run_flow.image(target, s)  # sizes make sim would refuse: said as make sim says it
    for l in layers:
        where = f"RTL, {l['tiling']}" if l["rtl"] else (l["unsupported"] or "golden only")
        print(f"{l['name']:10s} {l['kind']:10s} {'x'.join(map(str, l['in_shape'])):>10s} -> {'x'.join(map(str, l['out_shape'])):10s} {where}")
    return 0


class _Parser(argparse.ArgumentParser):
    """Argument errors are intended errors: one `sim: error: ...` line (golden.cli), not argparse's
    usage line and error line."""

    def error(self, message: str) -> NoReturn:
        raise SimError(f"{message} (python -m tb.layer_sim --help lists the options)")


def _whole(name: str, least: int) -> Any:
    """An argparse type: a whole number >= least, refused as make's NAME= setting."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}={text!r}: a whole number >= {least}") from None
        if v < least:
            raise argparse.ArgumentTypeError(f"{name}={v}: a whole number >= {least}")
        return v

    return parse


_seed = _whole("SEED", 0)
_jobs = _whole("JOBS", 1)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m tb.layer_sim", description=layer_sim.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layer", default="", help="comma-separated layer names (default: every conv/fc layer)")
    p.add_argument("--sim", default=os.environ.get("SIM") or "verilator", choices=["verilator", "icarus", "both"],
                   help="both: each layer on Icarus and on Verilator, outputs and cycles compared (tb.sim_both)")
    p.add_argument("--model", default="mobilenetv2")
    p.add_argument("--target", default=ENGINE,
                   help="the accelerator: engine (int8sim's own, the default), a shipped target or path/to/target.py (tb.target)")
    p.add_argument("--seed", type=_seed, default=0, help="test image index (and memory stall seed), >= 0")
    p.add_argument("--waves", nargs="?", const="1", default="0", choices=["0", "1", "auto"],
                   help="1: dump waves (GTKWave save file in build/waves); auto: only a failing layer, rerun alone with waves")
    p.add_argument("--mem-stall", type=int, default=0, help="external memory stalls per 256 cycles (0..255)")
    p.add_argument("--mem-latency", type=int, default=8, help="external memory read latency in cycles (default 8)")
    p.add_argument("--list", action="store_true", help="list the model's layers and exit")
    p.add_argument("--w-bits", type=int, default=8, help="weight width golden quantizes to, 2..8 (default 8)")
    p.add_argument("--a-bits", type=int, default=8, help="activation width, 4..8 (default 8)")
    p.add_argument("--keep-ends", action="store_true", help="first and last conv/fc layer at 8/8 bits")
    p.add_argument("--qat", action="store_true", help="the network trained at the widths (golden.qat; a shipped model) "
                   "instead of post-training quantized")
    p.add_argument("--hw", default="default", help="hardware description: a hexgen.hw preset or path.json (default: default)")
    p.add_argument("--chain", type=int, default=None, metavar="N",
                   help="feed the RTL's own outputs through the whole network for N >= 1 test images")
    p.add_argument("--jobs", type=_jobs, default=None, metavar="N",
                   help="simulations run at once, the layers split between them (default: every core this process may use)")
    p.add_argument("--chain-setting", default="", metavar="CHAIN",
                   help="make's CHAIN= as given: 1 (with --chain N), 0 or empty; anything else is refused")
    return p


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    a.waves = {"0": False, "1": True, "auto": "auto"}[a.waves]
    if a.jobs is None:  # every core here, or every worker of the cluster ($INT8SIM_CLUSTER, tb.jobs)
        a.jobs = cluster_workers() if cluster_setting() else local_cores()
    if a.chain_setting not in ("", "0", "1"):
        raise SimError(f"CHAIN={a.chain_setting!r}: 1 runs the chained test, 0 or nothing the per-layer test")
    if a.chain is not None and a.chain < 1:
        raise SimError(f"CHAIN_IMAGES={a.chain}: a chained run needs at least one image")
    if a.chain_setting == "0":
        a.chain = None
    if a.list:
        return _list_layers(a.model, a.hw, a.target, **_widths(a))
    from tb.mutant_guard import mutant_in_place, target_folders

    # a verdict on a mutant make mutate left in rtl/ or the target's Verilog (a killed run) is no
    # verdict on the design
    t = load_target(a.target)
    why = mutant_in_place(folders=target_folders(t.bench.sources, t.folder), target=a.target)
    if why is not None:
        raise SimError(why)
    layers = [s for s in a.layer.split(",") if s] or None
    if a.chain:
        return main_chain(a)
    if a.sim == "both":
        return main_both(a, layers)
    res = layer_sim.run(layers=layers, sim=a.sim, model=a.model, seed=a.seed, waves=a.waves, mem_stall=a.mem_stall,
                        mem_latency=a.mem_latency, hw=a.hw, check_reset="reset" in t.run_flow.options, target=a.target,
                        jobs=a.jobs, **_widths(a))
    golden_only = []
    if layers is None and res:  # the run's own image (a second prepare_image could quantize afresh)
        info = json.loads((Path(res[0]["image_dir"]).parent / "layers.json").read_text())
        golden_only = [f"{l['name']} ({l['kind']}" + (", by layout" if l["unsupported"].startswith(BY_LAYOUT) else "") + ")"
                       for l in info["layers"] if not l["rtl"] and l["name"] not in {r["layer"] for r in res}]
    print(layer_sim.table(res, golden_only))
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
    status, line = layer_sim.verdict(res)
    print(f"\n{line}")
    return status


def _widths(a: argparse.Namespace) -> dict[str, Any]:
    return {"w_bits": a.w_bits, "a_bits": a.a_bits, "keep_ends": a.keep_ends, "qat": a.qat}


def main_chain(a: argparse.Namespace) -> int:
    # its own run folder (-chain): a chained run never replaces the per-layer run's results
    res = layer_sim.run(layers=None, sim=a.sim, model=a.model, seed=a.seed, mem_stall=a.mem_stall, mem_latency=a.mem_latency,
              chain=a.chain, hw=a.hw, run_tag="-chain", jobs=a.jobs, **_widths(a))
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


def cli() -> int:
    return run_cli("sim", main)


if __name__ == "__main__":
    sys.exit(cli())
