"""`make resources`: what the accelerator's RTL costs, per unit, from a Yosys synthesis.

    python -m tb.engine.resources [--hw PRESET|path.json] [--param NAME=VALUE ...] [--json [FILE]]
                                  [--model NAME|path.py:factory [--memory-only]]

With --model (make resources MODEL=...), the model's memory table comes first: per layer the KiB
of its weights, bias and scale records, input(s), output and tables / LayerNorm records as hexgen
lays its memory images out, what fits the description's buffers, and totals (hexgen.footprint);
then the Yosys figures of the RTL, whose buffers those are (--memory-only: the table alone, no
Yosys needed).

Yosys (Debian's `yosys`, 0.23 checked) reads rtl/ (the hardware: not the testbench model
ext_mem_model.sv), sets accel_top's parameters and runs the coarse part of its generic synthesis
(`synth -top accel_top -run begin:fine -noalumacc`: processes, FSMs, word-level optimisation,
resource sharing, memory inference without mapping). The figures are counted from the design
Yosys writes (`write_json`), module by module, over the instance tree under accel_top:

- cells: word-level RTL cells ($add, $mux, $dffe, $mul, $mem_v2, ...), not LUTs or gates;
- FF bits: the width of every flip-flop cell;
- memories: every array Yosys infers as a memory ($mem_v2); arrays of more than SMALL_MEM_WORDS
  words are the block-RAM candidates (`mem bits`, and BRAM18 by the rule of `bram18`); smaller
  ones (`small mem bits`) are what an FPGA tool builds from registers or LUT RAM;
- mults: $mul cells (alumacc is skipped so that they stay $mul), and DSP48 by the rule of `dsp48`.

Parameters: accel_top's Verilog defaults, with the layer bench's build parameter ADDR_W
(tb.engine.accel_build.ADDR_W) and the sizes of the hardware description (`--hw`, hexgen.hw), then
`--param` overrides. A parameter set the RTL refuses (its initial-
block checks) is one error line and exit status 2, as is a missing yosys. docs/resources.md has
the table of today's sizes and the rules.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from golden.cli import run_cli
from tb.sim import RTL, ROOT, SimError, _die_with_parent, require_checkout

if TYPE_CHECKING:
    from hexgen.config import HardwareConfig

TOP = "accel_top"
#: Units with their own benches that accel_top does not instantiate yet (issue 28: the transformer's
#: LayerNorm and softmax), synthesised on their own at LANES = the description's ROWS: their files.
#: rtl/ files that are not hardware: the external memory is a testbench model.
NOT_HARDWARE = frozenset({"ext_mem_model.sv"})
BUILD = ROOT / "build" / "resources"
INSTALL_HINT = "apt-get update && apt-get install -y yosys"

#: Arrays of at most this many words are not counted as block RAM (an FPGA tool builds them from
#: registers or LUT RAM: a 64-deep LUT RAM is one LUT per bit on 7-series / UltraScale).
SMALL_MEM_WORDS = 64
#: RAMB18 shapes (words, bits per word) of a Xilinx 7-series / UltraScale 18 Kbit block RAM in
#: simple dual-port mode (512 x 36 is the widest).
BRAM18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
#: A DSP48E1/E2 multiplies 25 x 18 bits, signed.
DSP_A, DSP_B = 25, 18

FF_TYPES = frozenset({"$dff", "$dffe", "$adff", "$adffe", "$sdff", "$sdffe", "$sdffce", "$dffsr",
                      "$dffsre", "$aldff", "$aldffe", "$ff"})
LATCH_TYPES = frozenset({"$dlatch", "$adlatch", "$dlatchsr", "$sr"})

#: Yosys 0.23 cannot run `$error` / `$finish` in an initial block: when a parameter check of the
#: RTL fires, elaboration stops with one of these (the check's own text is not printed).
_CHECK_FIRED = re.compile(r"^(?P<file>[^:\s]+):\d+: ERROR: (?:Can't resolve task name `\$(?:error|fatal|finish)'"
                          r"|System task `\$(?:error|fatal|finish)' executed)", re.M)


def bram18(words: int, width: int) -> int:
    """18 Kbit block RAMs for a words x width memory: the fewest over the RAMB18 shapes of
    ceil(width / shape width) * ceil(words / shape depth). Read ports are not counted: a memory read
    through N ports at once must be banked (as act_buf is, by its low address bits) or replicated."""
    return min(math.ceil(width / w) * math.ceil(words / d) for d, w in BRAM18_SHAPES)


def dsp48(a_width: int, b_width: int, signed: bool) -> int:
    """DSP48 slices for an a x b multiplier: ceil(a / 25) * ceil(b / 18), operands in the better
    order, one bit added to each unsigned operand (the DSP multiplies signed numbers)."""
    a, b = a_width + (0 if signed else 1), b_width + (0 if signed else 1)
    return min(math.ceil(a / DSP_A) * math.ceil(b / DSP_B), math.ceil(b / DSP_A) * math.ceil(a / DSP_B))


# ------------------------------------------------------------------ parameters

def _module_header(path: Path, module: str) -> str:
    """The text of `module`'s parameter list (empty if it has none or it cannot be found)."""
    m = re.search(rf"\bmodule\s+{module}\s*#\s*\((?P<params>.*?)\)\s*\(", path.read_text(), re.S)
    return m.group("params") if m else ""


def top_parameters() -> dict[str, int]:
    """accel_top's parameters (not its localparams) and their defaults, as Yosys elaborates them
    (the defaults may be macros of an included header, e.g. rtl/accel_hw.svh)."""
    exe = _yosys()
    with tempfile.TemporaryDirectory(prefix="int8sim-resources-") as tmp:
        netlist = Path(tmp) / "read.json"
        r = _run([exe, "-q", "-p", f"{_read_cmd()}; delete */p:*; write_json {netlist}"], tmp)
        if r.returncode != 0 or not netlist.is_file():
            raise SimError(f"yosys cannot read rtl/ with {TOP}'s defaults: {_first_error(r.stdout + r.stderr)}")
        modules = json.loads(netlist.read_text())["modules"]
    if TOP not in modules:
        raise SimError(f"no module {TOP} in {RTL}")
    values = {k: _int(v) for k, v in modules[TOP].get("parameter_default_values", {}).items()}
    # in the order of the Verilog (Yosys sorts them by name)
    declared = re.findall(r"\bparameter\s+(?:int\s+)?(\w+)", _module_header(RTL / f"{TOP}.sv", TOP))
    return {k: values[k] for k in sorted(values, key=lambda k: declared.index(k) if k in declared else len(declared))}


def bench_parameters(defaults: Mapping[str, int], hw: str | None = None) -> dict[str, int]:
    """The layer bench's build: accel_top's defaults, the bench's ADDR_W (tb/engine/accel_build.py) and the
    sizes of the hardware description `hw` (a hexgen.hw preset or path.json; None: the default)."""
    from hexgen.hw import load_hw, rtl_parameters
    from tb.engine.accel_build import ADDR_W

    return {**defaults, "ADDR_W": ADDR_W, **rtl_parameters(load_hw(hw))}


def parse_overrides(items: Sequence[str], known: Mapping[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        for tok in item.split():
            name, eq, value = tok.partition("=")
            if not eq or not name:
                raise SimError(f"parameter {tok!r}: write NAME=VALUE (e.g. COLS=4)")
            if name not in known:
                raise SimError(f"{TOP} has no parameter {name} (its parameters: {', '.join(known)})")
            try:
                out[name] = int(value, 0)
            except ValueError:
                raise SimError(f"parameter {name}={value}: not an integer") from None
    return out


# ------------------------------------------------------------------ refused parameters

def _split_args(text: str) -> list[str]:
    args, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
            continue
        depth += ch in "([{"
        depth -= ch in ")]}"
        cur += ch
    if cur.strip():
        args.append(cur.strip())
    return args


def _eval(expr: str, params: Mapping[str, int]) -> int:
    """A Verilog constant expression of parameters, evaluated in Python (only to choose which
    check's message to show: Yosys has already said that one fired)."""
    py = expr.split("//", 1)[0].replace("||", " or ").replace("&&", " and ").replace("$clog2", "clog2")
    py = py.replace("/", "//")  # Verilog's integer division
    py = re.sub(r"!(?!=)", " not ", py)
    names = {"clog2": lambda v: max(0, int(v) - 1).bit_length(), **params}
    return int(eval(py, {"__builtins__": {}}, names))  # noqa: S307 - parameter arithmetic only


def refusal_message(path: Path, params: Mapping[str, int]) -> str:
    """The messages of the RTL's parameter checks (`if (cond) begin $error(...); $finish; end` in
    an initial block of `path`) whose condition holds for `params`; all of them if that cannot be
    told."""
    module = path.stem
    checks = re.findall(r"\bif\s*\((?P<cond>[^;]*?)\)\s*begin\s*\$error\s*\((?P<args>.*?)\);\s*\$finish",
                        path.read_text(), re.S)
    local = dict(params)
    for m in re.finditer(r"localparam\s+(?:int\s+)?(\w+)\s*=\s*([^,;\n]+)", _module_header(path, module)):
        try:
            local[m.group(1)] = _eval(m.group(2), local)
        except Exception:  # noqa: BLE001 - a localparam we cannot evaluate is simply not known
            pass
    fired, every = [], []
    for cond, args in checks:
        fm = re.match(r'\s*"((?:[^"\\]|\\.)*)"\s*,?(.*)', args, re.S)
        fmt, rest = (fm.group(1), fm.group(2)) if fm else ("", args)
        text = fmt.replace("%m", module)
        try:
            values = iter([str(_eval(a, local)) for a in _split_args(" ".join(rest.split()))])
            text = re.sub(r"%0?d", lambda _m: next(values), text)
            holds = bool(_eval(cond, local))
        except Exception:  # noqa: BLE001
            text, holds = re.sub(r"%0?d", "?", text), False
        every.append(text)
        if holds:
            fired.append(text)
    if fired:
        return "; ".join(fired)
    return ("one of its checks: " + "; ".join(every)) if every else f"a parameter check in {path.name} fired"


# ------------------------------------------------------------------ Yosys

def _yosys() -> str:
    exe = shutil.which("yosys")
    if exe is None:
        raise SimError(f"yosys is not installed (make resources needs it): {INSTALL_HINT}")
    return exe


def _run(cmd: Sequence[str], cwd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, preexec_fn=_die_with_parent)


def _first_error(out: str) -> str:
    errors = [l.strip() for l in out.splitlines() if "ERROR" in l] or out.strip().splitlines()[-1:]
    return errors[0] if errors else "no message"


def yosys_version(exe: str) -> str:
    r = subprocess.run([exe, "-V"], capture_output=True, text=True)
    return r.stdout.strip().split(" (")[0] or "yosys"


def sources() -> list[Path]:
    return [p for p in sorted(RTL.glob("*.sv")) if p.name not in NOT_HARDWARE]


def _read_cmd(files: Sequence[Path] | None = None) -> str:
    return f"read_verilog -sv -I{RTL} " + " ".join(str(p) for p in (files or sources()))


def run_yosys(params: Mapping[str, int], hw: str = "default", top: str = TOP) -> tuple[dict, str, float]:
    """Synthesise `top` (accel_top) with `params`; return Yosys's JSON netlist, its version and the run time."""
    exe = _yosys()
    version = yosys_version(exe)
    chparam = " ".join(f"-set {k} {v}" for k, v in params.items())
    files = None
    with tempfile.TemporaryDirectory(prefix="int8sim-resources-") as tmp:
        script = Path(tmp) / "resources.ys"
        netlist = Path(tmp) / "netlist.json"
        log = Path(tmp) / "yosys.log"
        script.write_text("\n".join([
            _read_cmd(files),
            f"chparam {chparam} {top}",
            f"synth -top {top} -run begin:fine -noalumacc",
            f"write_json {netlist}",
        ]) + "\n")
        t0 = time.monotonic()
        r = _run([exe, "-q", "-l", str(log), "-s", str(script)], tmp)
        seconds = time.monotonic() - t0
        out = r.stdout + r.stderr
        if r.returncode != 0 or not netlist.is_file():
            setting = f"HW={hw} with " + " ".join(f"{k}={v}" for k, v in params.items())
            fired = _CHECK_FIRED.search(out)
            if fired:
                path = Path(fired.group("file"))
                shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                raise SimError(f"the RTL refuses {setting} ({shown}'s parameter check): "
                               f"{refusal_message(path, params)}")
            BUILD.mkdir(parents=True, exist_ok=True)
            kept = BUILD / "yosys-failed.log"
            shutil.copyfile(log, kept) if log.is_file() else kept.write_text(out)
            raise SimError(f"yosys failed on {top} with {setting}: {_first_error(out)} "
                           f"(log: {kept.relative_to(ROOT)})")
        return json.loads(netlist.read_text()), version, seconds


# ------------------------------------------------------------------ counting

def _int(v: object) -> int:
    if isinstance(v, int):
        return v
    s = str(v)
    return int(s, 2) if s and set(s) <= {"0", "1"} else int(s)


@dataclass
class Unit:
    """The figures of one unit: a module's own cells (not those of the units it instantiates),
    summed over its instances (under any parameter set)."""
    name: str
    instances: int = 0
    cells: int = 0
    ff_bits: int = 0
    latch_bits: int = 0
    small_mem_bits: int = 0
    mem_bits: int = 0
    bram18: int = 0
    mults: int = 0
    dsp48: int = 0
    memories: list[dict[str, object]] = field(default_factory=list)
    multipliers: dict[str, int] = field(default_factory=dict)

    COUNTS = ("cells", "ff_bits", "small_mem_bits", "mem_bits", "bram18", "mults", "dsp48")

    def add(self, other: Unit) -> None:
        """One more instance, of the module whose own figures are `other`."""
        self.instances += 1
        for k in (*self.COUNTS, "latch_bits"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.memories += other.memories
        for key, n in other.multipliers.items():
            self.multipliers[key] = self.multipliers.get(key, 0) + n


def _base(module: str) -> str:
    """`$paramod$<hash>\\mac_array` / `$paramod\\accel_top\\ADDR_W=...` -> mac_array / accel_top."""
    if module.startswith("$paramod"):
        return module.split("\\")[1]
    return module.lstrip("\\")


def count(netlist: Mapping[str, object]) -> list[Unit]:
    """Figures per module of the hierarchy under the top, top first, then in instantiation order."""
    modules: dict[str, dict] = netlist["modules"]  # type: ignore[assignment]
    top = next(n for n, m in modules.items() if _int(m.get("attributes", {}).get("top", 0)))
    own: dict[str, Unit] = {}
    children: dict[str, list[str]] = {}
    for name, mod in modules.items():
        u = Unit(_base(name))
        kids = []
        for cell in mod.get("cells", {}).values():
            ctype, p = cell["type"], cell.get("parameters", {})
            if ctype in modules:
                kids.append(ctype)
                continue
            u.cells += 1
            if ctype in FF_TYPES:
                u.ff_bits += _int(p["WIDTH"])
            elif ctype in LATCH_TYPES:
                u.latch_bits += _int(p["WIDTH"])
            elif ctype in ("$mem_v2", "$mem"):
                words, width = _int(p["SIZE"]), _int(p["WIDTH"])
                rd_ports = _int(p["RD_PORTS"])
                clocked = bin(_int(p["RD_CLK_ENABLE"])).count("1") if rd_ports else 0
                small = words <= SMALL_MEM_WORDS
                blocks = 0 if small else bram18(words, width)
                if small:
                    u.small_mem_bits += words * width
                else:
                    u.mem_bits += words * width
                    u.bram18 += blocks
                    u.memories.append({"name": str(p.get("MEMID", "?")).lstrip("\\"), "words": words,
                                       "width": width, "bits": words * width, "read_ports": rd_ports,
                                       "clocked_read_ports": clocked, "write_ports": _int(p["WR_PORTS"]),
                                       "bram18": blocks})
            elif ctype == "$mul":
                a, b = sorted((_int(p["A_WIDTH"]), _int(p["B_WIDTH"])), reverse=True)
                signed = bool(_int(p["A_SIGNED"])) and bool(_int(p["B_SIGNED"]))
                u.mults += 1
                u.dsp48 += dsp48(a, b, signed)
                key = f"{a}x{b}{'s' if signed else 'u'}"
                u.multipliers[key] = u.multipliers.get(key, 0) + 1
        own[name] = u
        children[name] = kids

    units: dict[str, Unit] = {}

    def walk(name: str) -> None:
        base = own[name].name
        units.setdefault(base, Unit(base)).add(own[name])
        for kid in children[name]:
            walk(kid)

    walk(top)
    return list(units.values())


def totals(units: Sequence[Unit]) -> dict[str, int]:
    return {k: sum(getattr(u, k) for u in units) for k in Unit.COUNTS}


# ------------------------------------------------------------------ report

def report(units: Sequence[Unit], params: Mapping[str, int], version: str, seconds: float, hw: str = "default") -> str:
    cols = ("unit", "inst", "cells", "FF bits", "small mem bits", "mem bits", "BRAM18", "mults", "DSP48")
    rows = [[u.name, str(u.instances), *(f"{getattr(u, k):,}" for k in Unit.COUNTS)] for u in units]
    t = totals(units)
    rows.append(["total", "", *(f"{t[k]:,}" for k in Unit.COUNTS)])
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]

    def line(r: Sequence[str]) -> str:
        return "  ".join(r[0].ljust(widths[0]) if i == 0 else r[i].rjust(widths[i]) for i in range(len(r)))

    out = [f"resources: {TOP}, HW={hw}: {' '.join(f'{k}={v}' for k, v in params.items())}",
           f"resources: {version}, coarse synthesis (synth -run begin:fine -noalumacc), {seconds:.1f} s; "
           "word-level cells, not LUTs",
           line(cols), "-" * len(line(cols)), *(line(r) for r in rows[:-1]), "-" * len(line(cols)), line(rows[-1]),
           "", f"memories of more than {SMALL_MEM_WORDS} words (BRAM18: fewest 18 Kbit blocks over the shapes "
           "16Kx1 .. 512x36, read ports not counted):"]
    for u in units:
        for m in u.memories:
            reads = f"{m['read_ports']} read port(s), {m['clocked_read_ports']} clocked"
            out.append(f"  {u.name}.{m['name']}: {m['words']:,} x {m['width']} = {m['bits']:,} bits, {reads}, "
                       f"{m['bram18']} BRAM18")
    mults = [f"{u.name}: " + ", ".join(f"{n} x {k}" for k, n in sorted(u.multipliers.items())) for u in units
             if u.multipliers]
    out.append("multipliers (A x B bits, s = signed, u = unsigned; DSP48: ceil(A/25) * ceil(B/18)): " +
               "; ".join(mults))
    latches = sum(u.latch_bits for u in units)
    if latches:
        out.append(f"latches: {latches} bits (not counted as flip-flops)")
    return "\n".join(out)


def as_json(units: Sequence[Unit], params: Mapping[str, int], version: str, seconds: float, hw: str = "default",
            extra: Mapping[str, object] | None = None) -> str:
    data = {
        "top": TOP, "hw": hw, "parameters": dict(params), "yosys": version, "seconds": round(seconds, 2),
        "level": "coarse: synth -run begin:fine -noalumacc (word-level cells)",
        "small_mem_words": SMALL_MEM_WORDS,
        "units": {u.name: {"instances": u.instances, **{k: getattr(u, k) for k in Unit.COUNTS},
                           "latch_bits": u.latch_bits, "memories": u.memories, "multipliers": u.multipliers}
                  for u in units},
        "total": totals(units),
        **(extra or {}),
    }
    return json.dumps(data, indent=2)


# ------------------------------------------------------------------ a model's memory (hexgen.footprint)

#: accel_top's parameters that are sizes of the hardware description (hexgen.hw.rtl_parameters),
#: and the HardwareConfig fields they set: `--param` overrides of them change the memory table too.
_CONFIG_FIELDS = {"ROWS": ("array_rows",), "COLS": ("array_cols",), "WORD_BITS": ("word_bits",),
                  "ACT_WORDS": ("act_buf_words",), "WGT_WORDS": ("weight_buf_words",),
                  "REC_WORDS": ("bias_buf_words", "scale_buf_words"), "PIX_W": ("pixel_bits",),
                  "WGT_WIDTHS": ("weight_bits",)}


def memory_config(hw: str | None, items: Sequence[str], *, memory_only: bool = False) -> HardwareConfig:
    """The HardwareConfig the memory table is for: the description `hw` with the `--param`
    overrides of its sizes. Other parameters do not change memory (Yosys's part checks them; with
    memory_only they are refused, as nothing would check them)."""
    from dataclasses import replace

    from hexgen.config import widths_of_mask
    from hexgen.hw import load_hw

    cfg = load_hw(hw)
    given: dict[str, Any] = {}
    for name, value in parse_overrides(items, _any_name(items)).items():
        if name not in _CONFIG_FIELDS:
            if memory_only:
                raise SimError(f"parameter {name} is not a size of the hardware description: the memory table "
                               f"(--memory-only) takes {', '.join(_CONFIG_FIELDS)}")
            continue
        for f in _CONFIG_FIELDS[name]:
            given[f] = widths_of_mask(value) if f == "weight_bits" else value
    return replace(cfg, **given) if given else cfg


def _any_name(items: Sequence[str]) -> dict[str, int]:
    """Every NAME of the `--param` items (parse_overrides then checks only their form and values)."""
    return {tok.partition("=")[0]: 0 for item in items for tok in item.split()}


def model_memory(model: str, hw: str | None, items: Sequence[str], *, memory_only: bool = False) -> tuple[str, dict[str, Any]]:
    """The memory table of `model` (text) and its JSON (hexgen.footprint), on `hw` with the `--param` sizes."""
    from hexgen.footprint import model_report

    cfg = memory_config(hw, items, memory_only=memory_only)
    return model_report(model, cfg, hw=hw or "default", say=lambda text: print(f"memory: {text}", file=sys.stderr, flush=True))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tb.engine.resources", description=__doc__.split("\n\n")[0])
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help=f"override a parameter of {TOP} (repeatable; 'ROWS=8 COLS=4' in one also works)")
    ap.add_argument("--hw", default=None, metavar="PRESET|path.json",
                    help="hardware description (hexgen.hw: default, large, tiny, edge, or a JSON file)")
    ap.add_argument("--json", nargs="?", const="-", metavar="FILE",
                    help="the figures as JSON: on stdout instead of the table, or into FILE next to the table")
    ap.add_argument("--model", default=None, metavar="NAME|path.py:factory",
                    help="first print the model's memory per layer as hexgen lays it out, and what fits the buffers")
    ap.add_argument("--memory-only", action="store_true", help="with --model: the memory table alone (no Yosys)")
    args = ap.parse_args(argv)
    if args.memory_only and not args.model:
        raise SimError("--memory-only prints a model's memory table: give --model NAME (make resources MODEL=NAME)")
    memory: dict[str, Any] | None = None
    if args.model:  # before Yosys: a bad model name is one line at once, and the table does not wait for synthesis
        text, memory = model_memory(args.model, args.hw, args.param, memory_only=args.memory_only)
        if args.json != "-":
            print(text + ("" if args.memory_only else "\n"), flush=True)
        if args.memory_only:
            if args.json:
                data = json.dumps({"model": args.model, "hw": args.hw or "default", "memory": memory}, indent=2)
                print(data) if args.json == "-" else Path(args.json).write_text(data + "\n")
            return 0
    require_checkout()
    defaults = top_parameters()
    params = {**bench_parameters(defaults, args.hw), **parse_overrides(args.param, defaults)}
    hw = args.hw or "default"
    netlist, version, seconds = run_yosys(params, hw)
    units = count(netlist)
    extra: dict[str, Any] = {"model": args.model, "memory": memory} if memory is not None else {}
    if args.json == "-":
        print(as_json(units, params, version, seconds, hw, extra))
        return 0
    if args.json:
        Path(args.json).write_text(as_json(units, params, version, seconds, hw, extra) + "\n")
    print(report(units, params, version, seconds, hw))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("resources", main))
