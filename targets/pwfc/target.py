"""pwfc as an int8sim target (tb.target): `make sim TARGET=pwfc MODEL=mlp`. Everything the framework
needs to know of it is here; what it does lives in rtl/, layouts.py and driver.py (README.md)."""
from __future__ import annotations

from math import prod
from pathlib import Path

from tb.sim import HdlBench
from tb.target import Target

HERE = Path(__file__).resolve().parent
MODULES = ("pwfc_regs", "pwfc_requant", "pwfc_core", "pwfc_axi_master", "pwfc_top")


C, R, A = "u_top.u_core", "u_top.u_regs", "u_top.u_axi"
#: GTKWave groups for WAVES=1 / WAVES=auto (paths under pwfc_tb)
GROUPS = (
    ("control / registers", ((f"{C}.state_q", "dec"), ("u_top.busy", "bin"), ("done", "bin"), ("irq", "bin"),
                             (f"{R}.running_q", "bin"), (f"{R}.cycles_q", "dec"), (f"{R}.err_code_q", "dec"),
                             *((f"{R}.{n}_q", "dec") for n in ("c", "k", "hw", "z_in", "z_out", "lo", "hi")),
                             *((f"{R}.{n}_base_q", "hex") for n in ("act", "wgt", "bias", "rq", "out")))),
    ("AXI-Lite", tuple((f"s_axil_{n}", "hex" if n.endswith(("addr", "data")) else "bin")
                       for n in ("awvalid", "awready", "awaddr", "wvalid", "wready", "wdata", "bvalid", "bready",
                                 "arvalid", "arready", "araddr", "rvalid", "rready", "rdata"))),
    ("AXI write channel", ((f"{A}.wr_state_q", "dec"), *((f"m_axi_{n}", "hex" if n in ("awaddr", "wdata") else
                                                          "dec" if n == "awlen" else "bin")
                                                         for n in ("awvalid", "awready", "awaddr", "awlen", "wvalid", "wready",
                                                                   "wdata", "wstrb", "wlast", "bvalid", "bready", "bresp")))),
    ("core lanes", ((f"{C}.k0_q", "dec"), (f"{C}.pix_q", "dec"), (f"{C}.beat_q", "dec"), ("u_top.rd_valid", "bin"),
                    ("u_top.rd_data", "hex"), (f"{C}.rq_valid", "bin"), (f"{C}.y", "hex"),
                    *((f"{C}.g_lane[{l}].{n}", "signed" if n == "acc_q" else "dec") for l in range(4)
                      for n in ("acc_q", "y_l")))),
)


def _segments(net, layer):  # type: ignore[no-untyped-def]
    from targets.pwfc.layouts import segments  # imported when the framework plans a layer

    return segments(net, layer.name)


def _cycles(net, layer) -> int:  # type: ignore[no-untyped-def]
    """The cycles of one layer, by pwfc's dataflow (README.md): per group of up to 4 output channels,
    its weight rows (nl x W words, 3 more cycles a 16-beat burst), its nl bias and {n, M0} reads
    and 16 cycles of turnaround; per pixel its W activation words and 7 cycles (request, MAC
    pipeline, requantizer, write). Within 3.1% of the measured cycles on 14 layers (mlp and the
    default model's pointwise layers); the budget allows 10% either way."""
    c, k = layer.in_shape[0], layer.out_shape[0]
    pixels, w = prod(layer.out_shape[1:]), -(-c // 4)
    groups = [min(4, k - k0) for k0 in range(0, k, 4)]
    return sum(pixels * (7 + w) + nl * w + 3 * -(-(nl * w) // 16) + nl + 16 for nl in groups)


TARGET = Target(
    name="pwfc",
    summary="a 4-lane output-stationary pointwise/fc unit: AXI4-Lite registers, AXI4 memory master (targets/pwfc)",
    bench=HdlBench(name="pwfc", top="pwfc_tb",
                   sources=(*(HERE / "rtl" / f"{m}.sv" for m in MODULES), HERE / "hdl" / "pwfc_tb.sv"),
                   includes=(HERE / "rtl",), scan=(HERE / "rtl", HERE / "hdl")),
    driver=HERE / "driver.py",
    segments=_segments,
    word_bits=32,
    folder=HERE,
    signal_groups=GROUPS,
    cycle_model=_cycles,
    macs_per_cycle=16,  # 4 lanes, each adding the 4 products of one activation word a cycle
    lanes=4,
)
