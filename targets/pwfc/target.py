"""pwfc as an int8sim target (tb.target): `make sim TARGET=pwfc MODEL=mlp`. Everything the framework
needs to know of it is here; what it does lives in rtl/, layouts.py and driver.py (README.md)."""
from __future__ import annotations

from pathlib import Path

from tb.sim import HdlBench
from tb.target import Target

HERE = Path(__file__).resolve().parent
MODULES = ("pwfc_regs", "pwfc_requant", "pwfc_core", "pwfc_axi_master", "pwfc_top")


def _segments(net, layer):  # type: ignore[no-untyped-def]
    from targets.pwfc.layouts import segments  # imported when the framework plans a layer

    return segments(net, layer.name)


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
)
