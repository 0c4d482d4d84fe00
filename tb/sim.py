"""Build and run the cocotb benches with cocotb's Python runner (both simulators).

One build directory per (bench, simulator, parameter set) under build/sim/ (a target's under its own
folder: HdlBench.root), reused while the bytes the compiler read, the parameters and the arguments
are unchanged (a content hash in `.stamp`; the compiler reads a snapshot of exactly those bytes) and
the executable is the one it wrote; guarded by a file lock so concurrent pytest-xdist workers never
build the same directory twice, never use a half-built one, and never run two builds at once.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from golden.errors import UserError
from hexgen.folder import pid_alive
from tb.toolchain import SIM_PROCESS_ENV, apply_simulator_env, simulator_env

ROOT = Path(__file__).resolve().parent.parent
RTL = ROOT / "rtl"
TB_HDL = ROOT / "tb" / "engine" / "hdl"
BUILD = ROOT / "build" / "sim"
SIMS = ("icarus", "verilator")

#: The accelerator's hardware: accel_top and the units it instantiates (the layer bench, the
#: parameter check before a build, the resource estimate and bench-sim's plain harness use it).
ACCEL_RTL = [RTL / f for f in ("accel_top.sv", "ctrl_regs.sv", "desc_check.sv", "band_seq.sv", "load_seq.sv", "burst_reader.sv",
                               "gather.sv", "compute_issue.sv", "wgt_unpack.sv", "wgt_transpose.sv", "mac_array.sv", "drain_requant.sv", "requant.sv",
                               "out_writer.sv", "mem_loader.sv", "vec_unit.sv", "add_lanes.sv", "lut_lanes.sv",
                               "row_unit.sv", "softmax_unit.sv", "layernorm_unit.sv", "vr_check.sv",
                               "outstanding_check.sv", "bank_check.sv")]
#: The simulation-only protocol checkers every unit instantiates on its channels (empty under
#: SYNTHESIS): part of every bench's sources.
CHECKERS = [RTL / "vr_check.sv", RTL / "outstanding_check.sv", RTL / "bank_check.sv"]
#: Verilog sources of each bench top level (rtl/ first, then the harness).
BENCHES: dict[str, tuple[str, list[Path]]] = {
    "desc_check": ("desc_check", [RTL / "desc_check.sv"]),
    "band_seq": ("band_seq", [RTL / "band_seq.sv"]),
    "add_lanes": ("add_lanes", [RTL / "add_lanes.sv"]),
    "vec_unit": ("vec_unit_tb", [*CHECKERS, RTL / "vec_unit.sv", RTL / "add_lanes.sv", RTL / "lut_lanes.sv", RTL / "ext_mem_model.sv",
                                 TB_HDL / "vec_unit_tb.sv"]),
    "load_seq": ("load_seq", [*CHECKERS, RTL / "load_seq.sv"]),
    "gather": ("gather", [RTL / "bank_check.sv", RTL / "gather.sv"]),
    "compute_issue": ("compute_issue", [*CHECKERS, RTL / "compute_issue.sv", RTL / "wgt_unpack.sv"]),
    "wgt_unpack": ("wgt_unpack", [RTL / "wgt_unpack.sv"]),
    "wgt_transpose": ("wgt_transpose", [RTL / "wgt_transpose.sv"]),
    "ctrl_regs": ("ctrl_regs", [RTL / "ctrl_regs.sv"]),
    "drain_requant": ("drain_requant", [*CHECKERS, RTL / "drain_requant.sv", RTL / "requant.sv"]),
    "out_writer": ("out_writer", [*CHECKERS, RTL / "out_writer.sv", RTL / "mem_loader.sv"]),
    "requant": ("requant_tb", [*CHECKERS, RTL / "requant.sv", TB_HDL / "requant_tb.sv"]),
    "mac_array": ("mac_array", [*CHECKERS, RTL / "mac_array.sv"]),
    "ext_mem_model": ("ext_mem_model", [*CHECKERS, RTL / "ext_mem_model.sv"]),
    "mem_loader": ("mem_loader_tb", [*CHECKERS, RTL / "mem_loader.sv", RTL / "ext_mem_model.sv", TB_HDL / "mem_loader_tb.sv"]),
    "burst_reader": ("burst_reader_tb", [*CHECKERS, RTL / "burst_reader.sv", RTL / "ext_mem_model.sv",
                                         TB_HDL / "burst_reader_tb.sv"]),
    # the layer bench (tb/layer_sim.py): the accelerator and the external memory model
    "accel": ("accel_tb", [*ACCEL_RTL, RTL / "ext_mem_model.sv", TB_HDL / "accel_tb.sv"]),
    # the transformer's table (the vector unit's GELU) and softmax units (issue 28 item 3)
    "lut_lanes": ("lut_lanes", [RTL / "lut_lanes.sv"]),
    "softmax_unit": ("softmax_unit_tb", [*CHECKERS, RTL / "lut_lanes.sv", RTL / "softmax_unit.sv",
                                         TB_HDL / "softmax_unit_tb.sv"]),
    # the LayerNorm unit (issue 28 item 3), with protocol checkers on both streams
    "layernorm_unit": ("layernorm_unit_tb", [*CHECKERS, RTL / "layernorm_unit.sv", TB_HDL / "layernorm_unit_tb.sv"]),
    # softmax and LayerNorm layers over token tensors in memory: the two units, staged by blocks of tokens
    "row_unit": ("row_unit_tb", [*CHECKERS, RTL / "lut_lanes.sv", RTL / "softmax_unit.sv", RTL / "layernorm_unit.sv",
                                 RTL / "row_unit.sv", RTL / "ext_mem_model.sv", TB_HDL / "row_unit_tb.sv"]),
}
#: Files a bench depends on besides its sources (included headers, Verilator control files).
#: Verilator main loops other than cocotb's (tb/engine/hdl/verilator_main.cpp: quiet time slots skip the
#: VPI calls that only matter after Python has run; for the layer bench, where Python sleeps
#: through a whole layer).
BENCH_MAIN: dict[str, Path] = {"accel": TB_HDL / "verilator_main.cpp"}
BENCH_DEPS: dict[str, list[Path]] = {"accel": [RTL / "accel_csr.svh", TB_HDL / "accel_tb.vlt", TB_HDL / "verilator_main.cpp"],
                                     "drain_requant": [RTL / "accel_csr.svh"], "ctrl_regs": [RTL / "accel_csr.svh"]}

#: Arguments every Verilator build gets: assertions on (style.md), warnings printed but not fatal
#: (make lint is the place where warnings fail) except the two that mean X on a 4-state simulator;
#: X values `unique`, so that a run can ask for random ones (xrand_plusargs).
VERILATOR_ARGS = ["--assert", "-Wno-fatal", "-O3", "--x-assign", "unique", "--x-initial", "unique",
                  # an undriven or multiply driven bit stops the build (2-state would hide it)
                  "-Wwarn-UNDRIVEN", "-Werror-UNDRIVEN", "-Werror-MULTIDRIVEN"]
ICARUS_ARGS = ["-g2012"]


def build_dir(block: str, sim: str, parameters: Mapping[str, object] | None = None, variant: str = "",
              root: Path | None = None) -> Path:
    tag = "".join(f"-{k}{v}" for k, v in sorted((parameters or {}).items()))
    return (root or BUILD) / f"{block}-{sim}{tag}{variant}"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


#: Every file a build can read besides its listed sources: anything in rtl/ (included headers) and
#: tb/engine/hdl/ (harnesses, Verilator control files, main loops). Hashed whole, so a change to any of
#: them makes a new build even where a bench does not list it.
def _hdl_files() -> list[Path]:
    return sorted(p for d in (RTL, TB_HDL) for p in d.rglob("*") if p.is_file())


def _toolchain_id(sim: str) -> str:
    import cocotb

    if sim == "verilator":
        from tb.toolchain import simulator_env, verilator_version

        tool = "verilator %d.%d" % verilator_version(simulator_env())
    else:
        iv = shutil.which("iverilog") or "iverilog"
        tool = f"iverilog {Path(iv).resolve()}:{Path(iv).resolve().stat().st_mtime_ns if Path(iv).exists() else 0}"
    return f"{tool} cocotb {cocotb.__version__}"


def _is_file_arg(arg: str) -> bool:
    """A build argument that names a file the compiler reads (a Verilator control file, ...)."""
    return arg.startswith("/") and Path(arg).is_file()


def _inputs(sources: Sequence[Path], args: Sequence[str], folders: Sequence[Path] | None = None) -> dict[Path, bytes]:
    """Every file a build reads, each read once: the listed sources, every file under `folders`
    (default rtl/ and tb/engine/hdl/: included headers, harnesses, control files) and the files named in
    the arguments. The build compiles a snapshot of exactly these bytes (_write_snapshot), never
    the live files, so an edit during the build cannot make the key name other text than the
    compiler read."""
    scanned = _hdl_files() if folders is None else sorted(p for d in folders for p in Path(d).rglob("*") if p.is_file())
    files = [*sources, *scanned, *(Path(a) for a in args if _is_file_arg(a))]
    return {p: p.read_bytes() for p in dict.fromkeys(Path(f).resolve() for f in files)}


def _stamp(sim: str, top: str, sources: Sequence[Path], parameters: Mapping[str, object], args: Sequence[str],
           contents: Mapping[Path, bytes] | None = None) -> str:
    """Content key of a build: simulator and its version, top, parameters, arguments (defines
    included) and the path and bytes of every file it reads (_inputs; `contents` if already read)."""
    if contents is None:
        contents = _inputs(sources, args)
    h = hashlib.sha256()
    h.update(repr((sim, _toolchain_id(sim), top, sorted(parameters.items()), list(args))).encode())
    for path, data in contents.items():
        h.update(f"{path}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def _snapshots(root: Path | None = None) -> Path:
    """Snapshots of the files builds compiled: <build root>/.src/<key>/<absolute path of each file>
    (build/sim/ for the project's benches). A build reads only its snapshot, which outlives it (a
    simulator names these paths in its messages); _snap_display maps them back to the files."""
    return (root or BUILD) / ".src"


def _snap(root: Path, path: Path | str) -> Path:
    return root / Path(path).resolve().relative_to("/")


def _write_snapshot(key: str, contents: Mapping[Path, bytes], build_root: Path | None = None) -> Path:
    """The snapshot folder of a build key, written once (a temporary folder, renamed)."""
    snaps = _snapshots(build_root)
    _SNAPSHOT_ROOTS.add(snaps)
    root = snaps / key[:32]
    if root.is_dir() and all(_snap(root, p).is_file() and _snap(root, p).read_bytes() == b for p, b in contents.items()):
        return root
    tmp = snaps / f".{root.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    for path, data in contents.items():
        dest = _snap(tmp, path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    if root.exists():  # damaged (it did not match above): replaced whole
        old = snaps / f".{root.name}.old-{os.getpid()}"
        root.rename(old)
        shutil.rmtree(old, ignore_errors=True)
    tmp.rename(root)
    return root


def _snap_display(text: str) -> str:
    """A compiler's message about a snapshot file, naming the file the snapshot copies."""
    for snaps in {_snapshots(), *_SNAPSHOT_ROOTS}:
        text = re.sub(re.escape(str(snaps)) + r"/[0-9a-f]{32}/", "/", text)
    return text


#: the snapshot folders this process wrote to (a target's builds live under its own folder)
_SNAPSHOT_ROOTS: set[Path] = set()


def _prune_snapshots(keep: str, build_root: Path | None = None) -> None:
    """Remove the snapshots no build folder's stamp names any more (replaced builds), but for
    `keep` and any made in the last hour (a concurrent build of the other simulator)."""
    import time

    snaps = _snapshots(build_root)
    if not snaps.is_dir():
        return
    clean_leftovers(snaps)  # the temporary folders of killed builds
    live = {keep[:32]}
    for st in (build_root or BUILD).glob("*/.stamp"):
        try:
            live.add(st.read_text().strip()[:32])
        except OSError:
            pass
    for d in snaps.iterdir():
        if re.fullmatch(r"[0-9a-f]{32}", d.name) and d.name not in live and time.time() - d.stat().st_mtime > 3600:
            shutil.rmtree(d, ignore_errors=True)


#: Folder names of builds in progress: `.<build>.tmp-<pid>`; a later build removes those of dead
#: processes (a killed run), never any other folder.
_TMP_RE = re.compile(r"^(?:\.(?P<name>.+)\.(?:tmp|old)|untraceable)-(?P<pid>\d+)(?:-[A-Za-z0-9_]+)?$")


def clean_leftovers(parent: Path) -> None:
    """Remove the temporary folders (`.<name>.tmp-<pid>[-x]`, `.<name>.old-<pid>[-x]`,
    `untraceable-<pid>`) of runs that were killed: their process is gone."""
    if not parent.is_dir():
        return
    for p in parent.iterdir():
        m = _TMP_RE.match(p.name)
        if m and p.is_dir() and not pid_alive(int(m.group("pid"))):
            shutil.rmtree(p, ignore_errors=True)


class SimError(UserError):
    """An intended error of the simulation tools (tb/): one line, exit status 2 (golden.cli)."""


class BuildError(SimError):
    """A bench that does not build (compiler errors, a refused source); the message says where."""


class CheckoutError(SimError):
    """tb/ runs from a source checkout only: the Verilog is not installed with the wheel."""


def require_checkout() -> None:
    """The benches read rtl/ and tb/engine/hdl/ next to this package and build into build/ there: a
    wheel install (pip install '.[dev]', not editable) carries golden/, hexgen/ and tb/ but no
    Verilog, so tb/ says so instead of looking for site-packages/rtl."""
    for p in (RTL / "accel_top.sv", TB_HDL / "accel_tb.sv"):
        if not p.is_file():
            raise CheckoutError(
                f"the simulation benches need a source checkout of int8sim ({p} is missing: tb/ was "
                "installed without the Verilog); run them from a git clone (make sim, make test)"
            )


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """PR_SET_PDEATHSIG: the child (make, the compiler driver, the simulator) is killed when the
    Python that started it dies, even by SIGKILL, so no build goes on linking after its caller is
    gone."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def run_cmds(cmds: Sequence[Sequence[str]], cwd: str | os.PathLike[str], env: Mapping[str, str] | None,
             stdout: object = None) -> None:
    """Run each command in turn (cocotb's runner calls this), each killed with its caller."""
    for cmd in cmds:
        stderr = None if stdout is None else subprocess.STDOUT
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=None if env is None else dict(env), stdout=stdout,  # type: ignore[arg-type]
                                stderr=stderr, preexec_fn=_die_with_parent)
        try:
            rc = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if rc != 0:
            raise RuntimeError(f"command failed with return code {rc}: {shlex.join(cmd)}")


def _log_excerpt(log: Path, limit: int = 12) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return f"no build log ({log})"
    lines = [_snap_display(l) for l in lines]
    errs = [l.strip() for l in lines if "%Error" in l or "error:" in l.lower() or "sorry:" in l]
    shown = errs[:limit] if errs else lines[-limit:]
    return (shown[0] if shown else "no output") + f" (full log: {log})" + "".join(f"\n  {l}" for l in shown[1:])


#: Based literals with a z digit ('z, 1'bz, 8'hzz): on Verilator (2-state) they read as 0.
_Z_LITERAL = re.compile(r"(?:\b\d+\s*)?'[sS]?(?:[bBoOhHdD]\s*[0-9a-fA-FxXzZ_?]*[zZ][0-9a-fA-FxXzZ_?]*|[zZ]\b)")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_LINE_DIRECTIVE = re.compile(r'^\s*`line\s+(\d+)\s+"([^"]*)"')


def z_constants(sources: Sequence[Path], defines: Sequence[str] = (), includes: Sequence[Path] = (RTL,)) -> list[str]:
    """`file:line` of every z constant in the preprocessed sources (defines applied, comments and
    strings out). The design has no tristate pins, so every z is a bug Verilator would hide."""
    env = simulator_env()
    cmd = ["verilator", "-E", *[f"-I{d}" for d in includes], *defines, *[str(s) for s in sources]]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise BuildError(f"verilator -E failed on {', '.join(s.name for s in sources)}:\n{r.stderr.strip()}")
    found: list[str] = []
    fname, line = "?", 0
    for raw in r.stdout.splitlines():
        m = _LINE_DIRECTIVE.match(raw)
        if m:
            line, fname = int(m.group(1)), m.group(2)
            continue
        if _Z_LITERAL.search(_STRING.sub('""', raw)):
            try:
                shown = str(Path(_snap_display(fname)).resolve().relative_to(ROOT))
            except ValueError:
                shown = _snap_display(fname)
            found.append(f"{shown}:{line}")
        line += 1
    return found


@dataclass(frozen=True, kw_only=True)
class HdlBench:
    """What a simulator build needs to know of one bench: its top, its sources (the harness last),
    the files it reads besides them, the folders it includes from (scanned whole into the build
    key), a Verilator main loop other than cocotb's, and the folder its builds live in. The
    project's benches (BENCHES) are these with rtl/ and build/sim/; a target outside the checkout
    (tb.target) brings its own folders and keeps its builds under its own."""

    name: str
    top: str
    sources: tuple[Path, ...]
    deps: tuple[Path, ...] = ()
    includes: tuple[Path, ...] = (RTL,)
    scan: tuple[Path, ...] | None = None  # the folders hashed and snapshotted whole; None: rtl/ and tb/engine/hdl/
    main: Path | None = None
    root: Path | None = None  # None: build/sim/ of this checkout


def bench_of(block: str) -> HdlBench:
    """One of the project's benches (BENCHES) as an HdlBench."""
    top, sources = BENCHES[block]
    return HdlBench(name=block, top=top, sources=tuple(sources), deps=tuple(BENCH_DEPS.get(block, [])),
                    main=BENCH_MAIN.get(block))


def build(
    block: str,
    sim: str,
    parameters: Mapping[str, object] | None = None,
    *,
    extra_args: Sequence[str] = (),
    waves: bool | None = None,
    variant: str = "",
) -> Path:
    """Build (or reuse) the project's bench `block` (BENCHES) for `sim`; returns its build directory."""
    require_checkout()
    return build_bench(bench_of(block), sim, parameters, extra_args=extra_args, waves=waves, variant=variant)


def build_bench(
    bench: HdlBench,
    sim: str,
    parameters: Mapping[str, object] | None = None,
    *,
    extra_args: Sequence[str] = (),
    waves: bool | None = None,
    variant: str = "",
) -> Path:
    """Build (or reuse) `bench` for `sim`; returns its build directory.

    extra_args go to the simulator after the common ones (defines, Verilator options); a build
    with extra_args lives in its own directory, named by `variant`. waves defaults to $WAVES.

    A build is made in a temporary folder beside its directory and moved into place only when it
    succeeded, with its content key (`.stamp`) inside: the directory only ever holds a complete
    build of the sources its stamp names. A run killed mid-build (kill -9, OOM, CI timeout) leaves
    the previous build untouched; its compiler processes are killed with it (tb.sim._run_cmds).
    The compiler reads a snapshot of the bytes the key was made of (_inputs, _write_snapshot), so
    a source edited while it builds cannot leave a build keyed by text it did not compile."""
    apply_simulator_env()
    params = dict(parameters or {})
    block, top, sources = bench.name, bench.top, list(bench.sources)
    root = bench.root or BUILD
    bdir = build_dir(block, sim, params, variant, root)
    args = (VERILATOR_ARGS if sim == "verilator" else ICARUS_ARGS) + list(extra_args)
    if waves is None:
        waves = os.environ.get("WAVES", "0") == "1"
    if sim == "verilator" and waves and "--trace-fst" not in args:
        from tb.toolchain import fst_available

        if fst_available():  # FST, as the engine's waves build: a layer's dump stays small (cocotb's --trace alone: VCD)
            args.append("--trace-fst")
    # the files are read once, here: the key is of these bytes, and the build compiles a snapshot of them
    contents = _inputs([*sources, *bench.deps], args, bench.scan)
    key = _stamp(sim, top, [], params, [*args, f"waves={waves}"], contents)
    stamp = bdir / ".stamp"
    # One lock per simulator: at most one Verilator build at a time on the machine (two cores; a
    # build runs make -j), and no two processes ever replace the same directory at once. An Icarus
    # build (under a second, one process) does not wait behind a Verilator build: in a fresh
    # make test, tests waited up to 15 s on the one global lock for a build of a fraction of a second.
    # $INT8SIM_LOCK_DIR shares the locks between checkouts (make mutate's parallel workers, each in
    # its own copy of the tree, so that two of them never build at once either)
    with _locked(Path(os.environ.get("INT8SIM_LOCK_DIR") or root) / f".build-{sim}.lock"):
        clean_leftovers(bdir.parent)
        artifact = top if sim == "verilator" else "sim.vvp"  # what a run executes
        if stamp.is_file() and stamp.read_text() == key:
            damage = _artifact_damage(bdir, artifact)
            if damage is None:
                return bdir
            print(f"sim: the cached {block} build {bdir.name} is damaged ({damage}); building it again", flush=True)
        snap = _write_snapshot(key, contents, root)
        _prune_snapshots(key, root)
        snap_args = [str(_snap(snap, a)) if _is_file_arg(a) else a for a in args]
        if sim == "verilator":
            zs = z_constants([_snap(snap, s) for s in sources], [a for a in args if a.startswith("-D")],
                             [_snap(snap, d) for d in bench.includes])
            if zs:
                raise BuildError(
                    f"{zs[0]}: drives a z constant; Verilator is 2-state and reads it as 0, so X/Z "
                    f"would pass unseen (run this case with SIM=icarus, or drive the bit)"
                    + (f" ({len(zs)} places in all)" if len(zs) > 1 else "")
                )
        tmp = bdir.parent / f".{bdir.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        # the cached runtime objects are built without --timing; timing builds compile their own
        cached = sim == "verilator" and "--timing" not in args
        if sim == "verilator":
            runner = _verilator_runner(touch_runtime=cached and _seed_runtime(tmp), main=bench.main and _snap(snap, bench.main))
        else:
            runner = _icarus_runner()
        log = bdir.parent / f"{bdir.name}.build.log"
        try:
            runner.build(
                sources=[str(_snap(snap, s)) for s in sources],
                includes=[str(_snap(snap, d)) for d in bench.includes],
                hdl_toplevel=top,
                build_dir=str(tmp),
                parameters=params,
                build_args=snap_args,
                always=True,
                timescale=("1ns", "1ps"),
                waves=waves,
                log_file=str(log),
            )
        except RuntimeError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise BuildError(f"the {block} bench does not build on {sim}: {_log_excerpt(log)}") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        (tmp / ARTIFACT_SUM).write_text(_sha256_file(tmp / artifact))
        (tmp / ".stamp").write_text(key)
        if cached:
            _save_runtime(tmp)
        old = bdir.parent / f".{bdir.name}.old-{os.getpid()}"
        if bdir.exists():
            bdir.rename(old)
        tmp.rename(bdir)
        shutil.rmtree(old, ignore_errors=True)
    return bdir


#: The checksum of a build's executable (Verilator's binary, Icarus' sim.vvp), written with its
#: stamp: a build is reused only while the file a run executes is the one the build wrote (an
#: edited or truncated one is built again, not run until someone deletes build/ by hand)
ARTIFACT_SUM = ".artifact.sha256"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _artifact_damage(bdir: Path, artifact: str) -> str | None:
    """None if the build's executable is the one it wrote; otherwise what is wrong."""
    exe, want = bdir / artifact, bdir / ARTIFACT_SUM
    if not exe.is_file():
        return f"{artifact} is missing"
    if not want.is_file():
        return f"{ARTIFACT_SUM} is missing"
    try:
        if _sha256_file(exe) != want.read_text().strip():
            return f"{artifact} was changed since it was built"
    except OSError as exc:
        return f"{artifact} cannot be read ({exc.strerror or exc})"
    return None


#: Verilator's runtime objects do not depend on the design: compiled once, copied into every new
#: Verilator build directory (with their make dependency files and times, so make keeps them).
#: One copy per builds folder (build/sim/, a target's own): the dependency files may name the
#: runtime's sources relative to the build directory (ccache's CCACHE_BASEDIR, tb.toolchain), and
#: every build directory of one folder lies at the same depth.
_RUNTIME = ("verilated", "verilated_dpi", "verilated_vpi", "verilated_threads")
_RUNTIME_FOLDER = ".verilator-runtime"


def _seed_runtime(bdir: Path) -> bool:
    cache = bdir.parent / _RUNTIME_FOLDER
    if not all((cache / f"{n}.o").is_file() for n in _RUNTIME):
        return False
    bdir.mkdir(parents=True, exist_ok=True)
    for n in _RUNTIME:
        for ext in (".o", ".d"):
            src = cache / (n + ext)
            if src.is_file():
                shutil.copy2(src, bdir / (n + ext))
    return True


def _verilator_runner(*, touch_runtime: bool, main: Path | None):
    """cocotb's Verilator runner with two optional changes to its build commands: touch the seeded
    runtime objects between verilating and make (verilated.mk makes them depend on the freshly
    written Vtop.mk), and compile `main` instead of cocotb's verilator.cpp (BENCH_MAIN)."""
    from cocotb_tools.runner import Verilator

    class ProjectVerilator(Verilator):
        def _execute_cmds(self, cmds, cwd, stdout=None):  # children die with this process
            run_cmds(cmds, cwd, self.env, stdout)

        def _build_command(self):
            cmds = super()._build_command()
            if main is not None:
                cocotb_main = [c for c in cmds[0] if c.endswith("verilator.cpp") and "cocotb" in c]
                if len(cocotb_main) != 1:
                    raise RuntimeError(f"cannot find cocotb's verilator.cpp in the build command: {cmds[0]}")
                cmds[0] = [str(main) if c == cocotb_main[0] else c for c in cmds[0]]
            if touch_runtime:
                objs = [str(Path(self.build_dir) / f"{n}.o") for n in _RUNTIME]
                cmds = [cmds[0], ["touch", *objs], *cmds[1:]]
            return cmds

    return ProjectVerilator()


def _icarus_runner():
    from cocotb_tools.runner import Icarus

    class ProjectIcarus(Icarus):
        def _execute_cmds(self, cmds, cwd, stdout=None):  # children die with this process
            run_cmds(cmds, cwd, self.env, stdout)

    return ProjectIcarus()


def runner_for(sim: str):
    """cocotb's runner for `sim`, its commands killed with the calling process."""
    if sim == "verilator":
        return _verilator_runner(touch_runtime=False, main=None)
    return _icarus_runner()


def _save_runtime(bdir: Path) -> None:
    cache = bdir.parent / _RUNTIME_FOLDER
    if all((cache / f"{n}.o").is_file() for n in _RUNTIME):
        return
    cache.mkdir(parents=True, exist_ok=True)
    for n in _RUNTIME:
        for ext in (".o", ".d"):
            if (bdir / (n + ext)).is_file():
                shutil.copy2(bdir / (n + ext), cache / (n + ext))


#: Verilator builds are 2-state: an X becomes a value chosen at build time unless the build says
#: `unique` (VERILATOR_ARGS) and the run asks for random values. Runs on Verilator get these
#: plusargs with a seed, so an undriven or never-reset bit takes a different value from one seed
#: to the next instead of a silent 0 (tb.layer_sim runs each layer under two seeds).
def xrand_plusargs(seed: int) -> list[str]:
    return ["+verilator+rand+reset+2", f"+verilator+seed+{verilator_seed(seed)}"]


def verilator_seed(seed: int) -> int:
    """A seed of any size as one Verilator takes (1 .. 2^31 - 1; it refuses 2^31 and up, and 0
    means "pick one"): consecutive seeds stay different (the two X seeds of a run are)."""
    return 1 + (max(int(seed), 1) - 1) % (2**31 - 2)


def run(
    block: str,
    sim: str,
    test_module: str,
    *,
    testcase: str | None = None,
    parameters: Mapping[str, object] | None = None,
    extra_env: Mapping[str, str] | None = None,
    plusargs: Sequence[str] = (),
    run_name: str | None = None,
    defines: Sequence[str] = (),
) -> Path:
    """Run cocotb tests of `test_module` on the (reused) build; fails the calling pytest test on failure.
    defines: a build variant of its own (e.g. MUT_SELECT: faults chosen by plusargs).

    The run's files (results.xml, waveforms) go to build/sim/runs/<build>-<run>/, outside the
    build directory, which a later build may replace whole."""
    apply_simulator_env()
    params = dict(parameters or {})
    bdir = build(block, sim, params, extra_args=[f"-D{d}" for d in defines], variant="".join("-" + d.lower() for d in defines))
    top, _ = BENCHES[block]
    tdir = BUILD / "runs" / f"{bdir.name}-{run_name or testcase or 'all'}"
    env = {"RTL_SIM": sim, "RTL_BLOCK": block, "RTL_PARAMS": repr(sorted(params.items())), **SIM_PROCESS_ENV}
    env.update(extra_env or {})
    waves = os.environ.get("WAVES", "0") == "1"
    extra = list(plusargs)
    if sim == "verilator":
        extra += xrand_plusargs(int(os.environ.get("RTL_SEED", "1") or 1))
    elif waves:  # the dump file named at build time lay in the build's temporary folder
        extra.append(f"+dumpfile_path={tdir / (top + '.fst')}")
    return runner_for(sim).test(
        test_module=test_module,
        hdl_toplevel=top,
        hdl_toplevel_lang="verilog",
        build_dir=str(bdir),
        test_dir=str(tdir),
        testcase=testcase,
        parameters=params,
        extra_env=env,
        plusargs=extra,
        waves=waves,
    )


def unit_parameters(hw: str, names: Sequence[str]) -> dict[str, int]:
    """The build parameters `names` of a unit bench for a hardware description (hexgen.hw preset
    or path.json), as the layer bench gets them (hexgen.hw.rtl_parameters)."""
    from hexgen.hw import load_hw, rtl_parameters

    p = rtl_parameters(load_hw(hw))
    return {n: p[n] for n in names}


def bench_seed(log: Any, test_file: str, case: str = "") -> int:
    """The seed of a random unit bench: $RTL_SEED, or a fresh one; logged with the command that
    reruns exactly this case (`case`: a word of the pytest id besides the simulator)."""
    import random

    seed = int(os.environ.get("RTL_SEED") or random.SystemRandom().randrange(2**31))
    log.info(f"seed {seed}; rerun: {rerun_command(test_file, os.environ.get('RTL_SIM', ''), seed, case)}")
    return seed


def rerun_command(test_file: str, sim: str, seed: int, extra: str = "") -> str:
    """The shell command that reruns one bench with one seed (printed by failing benches)."""
    sel = f" -k {shlex.quote(sim + (' and ' + extra if extra else ''))}"
    return f"RTL_SEED={seed} .venv/bin/python -m pytest -o addopts='' {test_file}{sel}"
