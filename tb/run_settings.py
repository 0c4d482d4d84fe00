"""One run of the layer runner as one record: every setting that changes what runs, checked once,
and the command that reruns one of its layers written from it (docs/engine.md).

tb.layer_sim.run takes a RunSettings (or its fields as keywords) and passes the record down, not
twenty keyword arguments through three functions; a rerun of a failing layer with waves is the
same record with a few fields replaced (dataclasses.replace).
"""
from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tb.sim import SimError

SIMULATORS = ("verilator", "icarus")


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """What make sim was asked for. Test hooks (defines, plusargs, csr_overrides, pokes,
    watchdog_cycles, reset_each_layer) have no make equivalent and are not in the rerun command."""

    model: str = "mobilenetv2"
    target: str = "engine"  # the accelerator: our engine, a shipped target's name or path/to/target.py (tb.target)
    sim: str = "verilator"
    seed: int = 0  # the test image (seed modulo the test set) and the memory model's stall seed
    layers: tuple[str, ...] | None = None  # None: every conv/fc, add and pool layer
    waves: bool | str = False  # True, False or "auto" (a failing layer rerun alone with waves)
    mem_stall: int = 0  # external memory stalls per 256 cycles
    mem_latency: int = 8  # external memory read latency, cycles
    hw: str | None = None  # a hexgen.hw preset or path.json; None: the default preset
    w_bits: int = 8  # weights' and activations' widths (golden.quantize); keep_ends: first and last layer at 8/8
    a_bits: int = 8
    keep_ends: bool = False
    qat: bool = False  # trained at the widths (golden.qat, QAT=1) instead of post-training quantized
    chain: int = 0  # > 0: the RTL's own outputs fed forward for this many test images
    xcheck: bool | None = None  # a second run under another X seed (None: on Verilator without waves)
    check_reset: bool = False  # every CSR and status output against its documented reset value first
    record: bool = False  # keep every layer's output and write cycles (SIM=both)
    quiet: bool = False
    run_tag: str = ""  # appended to the run folder's name
    defines: tuple[str, ...] = ()
    plusargs: tuple[str, ...] = ()
    csr_overrides: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    pokes: Mapping[str, Sequence[tuple[str, int, int]]] = field(default_factory=dict)
    watchdog_cycles: int = 0  # 0: the bench's own bound (tb.engine.test_layers.watchdog_limit)
    reset_each_layer: bool = True
    jobs: int = 1  # simulations run at once, the layers split between them (JOBS=N; make sim: every core)

    def __post_init__(self) -> None:
        # lists given by callers become tuples: the record is frozen all the way down
        if self.layers is not None and not isinstance(self.layers, tuple):
            object.__setattr__(self, "layers", tuple(self.layers))
        for name in ("defines", "plusargs"):
            v = getattr(self, name)
            if not isinstance(v, tuple):
                object.__setattr__(self, name, tuple(v))

    def check(self) -> None:
        """Every setting inside its documented range, or one SimError line naming it."""
        if self.sim not in SIMULATORS:
            raise SimError(f"--sim {self.sim!r}: verilator or icarus")
        if not 0 <= self.mem_stall <= 255:
            raise SimError(f"--mem-stall {self.mem_stall}: external memory stalls per 256 cycles must be 0..255")
        if not 1 <= self.mem_latency <= 65535:
            raise SimError(f"--mem-latency {self.mem_latency}: read latency in cycles must be 1..65535")
        if self.seed < 0:
            raise SimError(f"--seed {self.seed}: the test image number must be >= 0")
        if self.chain < 0:
            raise SimError(f"--chain {self.chain}: the number of images must be >= 1")
        if self.jobs < 1:
            raise SimError(f"JOBS={self.jobs}: the simulations to run at once must be >= 1")
        if self.waves not in (True, False, "auto"):
            raise SimError(f"--waves {self.waves!r}: on, off or auto")
        from golden.widths import A_BITS_RANGE, W_BITS_RANGE  # golden's, the one source of the widths it takes

        for name, v, (lo, hi) in (("W_BITS", self.w_bits, W_BITS_RANGE), ("A_BITS", self.a_bits, A_BITS_RANGE)):
            if not lo <= v <= hi:
                raise SimError(f"{name}={v}: golden quantizes to {lo}..{hi} bits")

    @property
    def widths(self) -> dict[str, object] | None:
        """golden.qat.quantized_model's arguments, None at the default, 8/8 post-training (its images
        are unchanged); "qat" only when asked for (the post-training images' keys stay as they were)."""
        if (self.w_bits, self.a_bits, self.keep_ends, self.qat) == (8, 8, False, False):
            return None
        w: dict[str, object] = {"w_bits": self.w_bits, "a_bits": self.a_bits, "keep_ends": self.keep_ends}
        if self.qat:
            from golden.qat import NO_TRAINED, trained_digest

            # the model make train QAT=1 kept at these widths, if any: golden reads it, so the
            # image's key covers it (a retrained one makes a new image)
            w.update(qat=True, trained=trained_digest(self.model, self.w_bits, self.a_bits, self.keep_ends) or NO_TRAINED)
        return w

    def widths_tag(self) -> str:
        """The widths in a name: w8a8, w4a4, w4a4-ends8 (first and last layer kept at 8 bits), -qat (trained)."""
        return f"w{self.w_bits}a{self.a_bits}" + ("-ends8" if self.keep_ends else "") + ("-qat" if self.qat else "")

    @property
    def default_hw(self) -> bool:
        return not self.hw or self.hw == "default"

    @property
    def x_check(self) -> bool:
        """Whether the layers run a second time under another X seed."""
        return (self.sim == "verilator" and self.waves is not True) if self.xcheck is None else self.xcheck

    def folder_name(self) -> str:
        """The run folder's name: model, description, simulator, seed and tag."""
        tag = self.model.replace("/", "_").replace(":", "_").replace(".py", "")
        if self.target != "engine":  # a shipped name, or path/to/<folder>/target.py: the folder's name
            tag = "target_" + (Path(self.target).parent.name if self.target.endswith(".py") else self.target) + "-" + tag
        if not self.default_hw:
            tag += "-hw_" + Path(str(self.hw)).stem
        if self.widths:
            tag += "-" + self.widths_tag()
        return f"{tag}-{self.sim}-seed{self.seed}{self.run_tag}"

    def rerun(self, layer: str) -> str:
        """`make sim ...` that reruns `layer` with every option that changed this run."""
        parts = [f"LAYER={layer}", f"SIM={self.sim}", f"MODEL={shlex.quote(self.model)}", f"SEED={self.seed}"]
        if self.target != "engine":
            parts.insert(0, f"TARGET={shlex.quote(self.target)}")
        if not self.default_hw:
            parts.append(f"HW={shlex.quote(str(self.hw))}")
        if self.mem_stall:
            parts.append(f"MEM_STALL={self.mem_stall}")
        if self.mem_latency != 8:
            parts.append(f"MEM_LATENCY={self.mem_latency}")
        if self.widths:
            parts += [f"W_BITS={self.w_bits}", f"A_BITS={self.a_bits}"] + (["KEEP_ENDS=1"] if self.keep_ends else []) \
                + (["QAT=1"] if self.qat else [])
        return "make sim " + " ".join(parts) + (" WAVES=1" if self.waves is True else "")
