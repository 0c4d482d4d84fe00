"""int8sim's own layer engine (rtl/) as a target: the default of `make sim`. Its memory layout is
hexgen's plan for the hardware description (HW=), its bench tb/engine/hdl/accel_tb.sv and its driver
tb/engine/test_layers.py; how a run of it is prepared, built and read back is tb/engine/engine_flow.py. The
runner, verdicts, diagnosis, waves and failure bundles are the framework's, as for every target."""
from __future__ import annotations

from tb.engine.engine_flow import EngineFlow
from tb.sim import ROOT, bench_of
from tb.target import Target
from tb.engine.waves import WAVE_GROUPS

TARGET = Target(
    name="engine",
    summary="int8sim's own layer engine (rtl/): conv, depthwise, pointwise, fc, add and pooling; HW= sizes",
    bench=bench_of("accel"),
    driver=ROOT / "tb" / "engine" / "test_layers.py",
    segments=None,  # hexgen's plan lays the engine's layers out (hexgen.plan)
    word_bits=128,  # the default description's; HW= gives others (the image and the build follow it)
    signal_groups=tuple((title, tuple(sigs)) for title, sigs in WAVE_GROUPS),
    flow=EngineFlow(),
)
