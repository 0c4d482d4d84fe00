"""Mutation testing of rtl/, or of a target's Verilog: how strong is the regression? (`make mutate`,
issue 13 item 4; targets: issue 24 item 2)

    make mutate [MUTATE_FILES=rtl/gather.sv,...] [MUTATE_LINES=rtl/gather.sv:86,...] [MUTATE_COUNT=40]
                [MUTATE_SEED=1] [MUTATE_TESTS="..."]
    make mutate TARGET=pwfc|path/to/target.py [MUTATE_MODEL=mlp] [MUTATE_FILES=...] [MUTATE_LINES=...] ...

Each mutant is one small change on one line of rtl/ (an operator or a constant: == and !=, < and
<=, > and >=, && and ||, + and -, a ! dropped, 1'b0 and 1'b1, '0 and '1, an integer literal + 1),
made in place, judged by a test set, and undone before the next (the original is restored in a
`finally`, and a mutant a killed run left is restored at the next start, only while the file still
holds exactly the bytes mutate wrote: tb/mutant_guard.py). Only rtl/*.sv is mutated. Lines inside an
`ifdef MUT_...` branch (the test-only fault variants) are not mutated; their `else` branches,
the real code, are. A mutant is
- killed: a test of the set fails (or the set runs past its time limit); pytest stopping for any
  other reason (an unknown node id, an internal error) is not a kill: the mutant is `not judged`
  and runs again under --resume, as does an older report's kill that names no failing test;
- survived: the test set passes. Some changes cannot alter behaviour (a mutated value nothing
  reads, a comparison whose operands can never be equal): read each survivor's line and either
  show why it cannot change behaviour or add the test that kills it (docs/rtl.md, "Mutation");
- could not build: Icarus refuses the mutated sources (not counted either way).
The test set defaults to the mutated unit's own bench on Icarus, the engine's Icarus layer and watchdog tests,
the hardware-description, performance-fault, parameter-check and protocol tests and the lint; MUTATE_TESTS replaces it (pytest arguments, e.g. the
whole `tests/`). Mutants are sampled with MUTATE_SEED from every site of the chosen files
(MUTATE_COUNT = 0: all of them). Builds a mutant made are removed after it; results go to
build/mutate/<stamp>.json and a table on stdout, survivors with file:line and the change.

TARGET= (a shipped target or a user's target.py, tb.target.load_target) mutates that target's own
Verilog instead: the sources of its bench but the harness (the last), only those under its folder
(tb.mutant_guard.target_sources); files are named relative to this checkout when inside it, by
their absolute path otherwise. Each mutant is built first by Icarus from the bench's sources with
its include folders (could not build), then judged by the target's own verdicts: `python -m
tb.layer_sim --target ... --model MUTATE_MODEL (mlp) --sim icarus --seed 0 --waves 0`. It is
killed when that run FAILs a layer (exit 1 with a FAIL line: wrong outputs, error status, watchdog,
a stopped simulation) or runs past the time limit; it survives only when the run exits 0 with
every layer it ran PASSing; anything else (exit 2, a run that ran nothing, a crash) leaves it
`not judged`, rerun by --resume. The run must PASS without a mutant first. The builds a mutant made
under the target's build folder, and the failure bundles its run wrote, are removed after it; a report names the target and model, and
--resume refuses a report of another. Lines of an `ifdef` branch of a target's fault define
(`*_MUT`, `*_MUT_*`, as pwfc's PWFC_MUT) are not mutated, as MUT_* are not.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's tb/ (a shard runs in a copy of the checkout)
from tb import mutant_guard as guard  # noqa: E402  (the files a mutant leaves, and what they mean)

RTL = ROOT / "rtl"
OUT = ROOT / "build" / "mutate"
SIM_BUILDS = ROOT / "build" / "sim"
BACKUP_SUFFIX = guard.BACKUP_SUFFIX

def _rel(path: Path) -> str:
    """How a mutated file is named in sites and reports: relative to the checkout (rtl/x.sv,
    targets/pwfc/rtl/y.sv), or its absolute path (a user's target outside it). ROOT / name is the
    file either way."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _fault_define(name: str) -> bool:
    """A define of test-only fault variants: MUT_... (ours) or ..._MUT / ..._MUT_... (a target's,
    pwfc's PWFC_MUT)."""
    return name.startswith("MUT_") or name.endswith("_MUT") or "_MUT_" in name


#: (name, pattern, replacement): applied to the code part of a line (comments and strings cut off)
OPERATORS: list[tuple[str, str, str]] = [
    ("== -> !=", r"==", "!="),
    ("!= -> ==", r"!=", "=="),
    ("< -> <=", r"(?<![<\-=!])<(?![<=])", "<="),
    ("> -> >=", r"(?<![>\-=])>(?![>=])", ">="),
    (">= -> >", r"(?<![>])>=", ">"),
    ("&& -> ||", r"&&", "||"),
    ("|| -> &&", r"\|\|", "&&"),
    ("+ -> -", r"(?<=\s)\+(?=\s)", "-"),
    ("- -> +", r"(?<=\s)-(?=\s)", "+"),
    ("drop !", r"!(?=[A-Za-z_(])", ""),
    ("1'b0 -> 1'b1", r"1'b0", "1'b1"),
    ("1'b1 -> 1'b0", r"1'b1", "1'b0"),
    ("'0 -> '1", r"(?<![\w'])'0\b", "'1"),
    ("'1 -> '0", r"(?<![\w'])'1\b", "'0"),
]
_INT = re.compile(r"(?<![\w'.\[:])(\d+)(?![\w'.:\]])")


@dataclass
class Mutant:
    file: str     # path relative to the checkout
    line: int     # 1-based
    col: int      # 0-based, in the line
    op: str
    before: str   # the line
    after: str
    outcome: str = ""
    seconds: float = 0.0
    killed_by: str = ""  # the first failing test (pytest -x)
    nth: int = -1  # which of the file's lines with this text (0: the first); -1: not known (older reports)

    def key(self) -> tuple[str, str, int, int, str, str]:
        """Which change this is, whatever line it moved to: a report's results carry over to a
        later run (--resume) as long as the line itself is unchanged. Two lines with the same text
        (ctrl_regs' two `error_d = 1'b1;`) are told apart by `nth`."""
        return (self.file, self.before.strip(), self.nth, self.col, self.op, self.after.strip())


def _nth(lines: list[str], index: int) -> int:
    """How many lines before lines[index] have its text."""
    text = lines[index].strip()
    return sum(1 for l in lines[:index] if l.strip() == text)


def _with_nth(m: Mutant) -> Mutant:
    """A report's mutant from before `nth` was kept: its `nth` from the checkout's file when the
    line is still where the report saw it, else 0 (a moved line in a file with repeated text)."""
    if m.nth >= 0:
        return m
    try:
        lines = (ROOT / m.file).read_text().splitlines()
    except OSError:
        return replace(m, nth=0)
    ok = 0 < m.line <= len(lines) and lines[m.line - 1].strip() == m.before.strip()
    return replace(m, nth=_nth(lines, m.line - 1) if ok else 0)


def _code(line: str) -> str:
    """The line up to its comment, string literals blanked (so no operator inside them mutates)."""
    code = line.split("//", 1)[0]
    return re.sub(r'"[^"]*"', lambda m: '"' + " " * (len(m.group(0)) - 2) + '"', code)


def _skip_lines(lines: list[str]) -> set[int]:
    """Lines not to mutate: `ifdef MUT_*` branches (test-only faults; a target's *_MUT too), compiler directives,
    $error / $display lines of parameter checks are kept (a check that no longer fires must be
    caught), declarations of ports and parameters are skipped (a width change rarely builds)."""
    skip: set[int] = set()
    depth_mut: list[bool] = []  # per open `ifdef: is the current branch a MUT_ one
    for i, raw in enumerate(lines):
        s = raw.strip()
        m = re.match(r"`(ifdef|ifndef|elsif|else|endif)\b\s*(\w*)", s)
        if m:
            kind, name = m.groups()
            if kind in ("ifdef", "ifndef"):
                depth_mut.append(kind == "ifdef" and _fault_define(name))
            elif kind == "elsif":
                if depth_mut:
                    depth_mut[-1] = _fault_define(name)
            elif kind == "else":
                if depth_mut:
                    depth_mut[-1] = False
            elif depth_mut:
                depth_mut.pop()
            skip.add(i)
            continue
        if any(depth_mut) or s.startswith(("`", "input", "output", "parameter", "localparam", "module", "import")):
            skip.add(i)
    return skip


def sites(path: Path) -> list[Mutant]:
    lines = path.read_text().splitlines(keepends=True)
    skip = _skip_lines(lines)
    rel = _rel(path)
    out: list[Mutant] = []
    seen: dict[str, int] = {}  # line text -> lines with it so far
    for i, line in enumerate(lines):
        nth = seen.get(line.strip(), 0)
        seen[line.strip()] = nth + 1
        if i in skip:
            continue
        code = _code(line)
        if not code.strip():
            continue
        for op, pat, rep in OPERATORS:
            for m in re.finditer(pat, code):
                out.append(Mutant(rel, i + 1, m.start(), op, line, line[:m.start()] + rep + line[m.end():], nth=nth))
        for m in _INT.finditer(code):
            n = int(m.group(1))
            out.append(Mutant(rel, i + 1, m.start(), f"{n} -> {n + 1}", line, line[:m.start()] + str(n + 1) + line[m.end():],
                              nth=nth))
    return out


def default_tests(file: str) -> list[str]:
    """The mutated unit's bench on Icarus, the engine's Icarus layer and watchdog tests, the
    hardware-description, performance-fault, parameter and protocol tests, and the lint (make
    test's Verilator -Wall: a width that no longer fits is a failure there)."""
    unit = Path(file).stem
    tests = []
    bench = ROOT / "tests" / f"test_rtl_{unit}.py"
    if bench.is_file():
        tests.append(str(bench.relative_to(ROOT)))
    tests += ["tests/test_engine.py::test_representative_layers_on_icarus",
              "tests/test_engine.py::test_watchdog_stops_a_hung_engine_and_names_its_state",
              "tests/test_engine.py::test_watchdog_names_a_hung_vector_unit", "tests/test_engine_hw.py",
              "tests/test_budget_sim.py", "tests/test_rtl_parameters.py", "tests/test_protocol.py",
              "tests/test_rtl_lint.py"]
    return tests


def count_kill(kills: dict[str, dict[str, int]], m: Mutant) -> None:
    """Count the test that killed `m` for its file (a "not judged" mutant's killed_by is pytest's
    complaint, not a node id: it must never be run first)."""
    if m.outcome == "killed" and m.killed_by:
        per_file = kills.setdefault(m.file, {})
        per_file[m.killed_by] = per_file.get(m.killed_by, 0) + 1


def stages(tests: list[str], kills: dict[str, int], first: int = 3, durations: dict[str, float] | None = None) -> list[list[str]]:
    """The test set in two runs: the `first` tests (node ids) that killed most mutants of this
    file so far for their time (kills a second, by make test's stored durations: tests/.test_durations;
    most kills first where no duration is known), then the whole set with the files that kill most
    for their time first. pytest -x stops at the first failure, so a mutant like the last ones is
    killed in seconds; a survivor pays one more start. The order changes no verdict."""
    durations = durations or {}

    def seconds(test: str) -> float:  # a node id's stored time, or its file's (all its tests)
        if test in durations:
            return durations[test]
        f = [v for k, v in durations.items() if k == test or k.startswith(test + "::")]
        return sum(f) if f else 0.0

    def rate(test: str, n: int) -> tuple[float, int]:
        t = seconds(test)
        return (n / max(t, 0.05) if t else 0.0, n)

    top = [t for t, _ in sorted(kills.items(), key=lambda kv: tuple(-v for v in rate(kv[0], kv[1])))[:first]]
    by_file: dict[str, int] = {}
    for t, n in kills.items():
        f = t.split("::")[0]
        by_file[f] = by_file.get(f, 0) + n
    return [top, sorted(tests, key=lambda t: tuple(-v for v in rate(t.split("::")[0], by_file.get(t.split("::")[0], 0))))]


def stored_durations() -> dict[str, float]:
    """make test's stored durations by node id (tests/.test_durations, the CI shards'); {} without."""
    try:
        got = json.loads((ROOT / "tests" / ".test_durations").read_text())
        return {str(k): float(v) for k, v in got.items()} if isinstance(got, dict) else {}
    except (OSError, ValueError):
        return {}


def wait_while_paused(pause: Path) -> float:
    """`touch build/mutate/PAUSE` stops the run between mutants (so another simulation can run on
    this two-core machine without two builds at once); removing it goes on. Returns the seconds
    paused (not counted in the time left)."""
    t0 = time.time()
    if pause.exists():
        print(f"mutate: paused ({pause} exists; remove it to go on)", flush=True)
        while pause.exists():
            time.sleep(5)
        print("mutate: going on", flush=True)
    return time.time() - t0


def hold_checkout(lock: Path) -> bool:
    """Take this checkout's mutate lock for the life of the process; False when another make mutate
    holds it (its mutant is in rtl/ now: a backup is not a stopped run's, and must stay)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    f = open(lock, "a")  # kept open (module global) until exit; the kernel drops the lock with it
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return False
    _HELD.append(f)
    return True


_HELD: list[object] = []


def _write_whole(path: Path, data: bytes) -> None:
    """Replace the file's bytes in one step (a kill leaves the old bytes or the new, never half a
    file that matches neither the mutant nor the original)."""
    new = guard.new_of(path)
    with open(new, "xb") as f:  # never over a file of that name mutate did not write
        f.write(data)
    shutil.copymode(path, new)
    os.replace(new, path)


def put_mutant(path: Path, mutant: bytes) -> None:
    """Write `mutant` into `path`: first its backup, then the record of the bytes about to be
    written, then the mutant, so a kill at any point leaves what restore() can judge by bytes."""
    shutil.copy2(path, guard.backup_of(path))
    guard.written_of(path).write_bytes(mutant)
    _write_whole(path, mutant)


def _drop_half_written(path: Path) -> None:
    """Remove the temporary file of a write a kill cut short, only when its bytes are the start of
    what mutate was writing (the mutant or the original): anything else is not mutate's."""
    ours = [b for b in (guard._read(guard.backup_of(path)), guard._read(guard.written_of(path))) if b is not None]
    new = guard._read(guard.new_of(path))
    if new is not None and any(b.startswith(new) for b in ours):
        guard.new_of(path).unlink()


def restore(path: Path, target: str = "") -> str | None:
    """Put `path`'s original back if it still holds the mutant mutate wrote, and drop the backup.
    A file changed since (the user's edits) is left as it is, with its backup: returns the one line
    that says so (None when the file is back to its original; target: the TARGET= it is of)."""
    _drop_half_written(path)
    st = guard.state(path)
    if st == "edited":
        return guard.describe(path, ROOT, target)
    if st == "mutant":
        _write_whole(path, guard.backup_of(path).read_bytes())
    for p in (guard.written_of(path), guard.backup_of(path)):
        p.unlink(missing_ok=True)
    return None


def restore_backups(folders: list[Path] | None = None, target: str = "") -> tuple[list[str], list[str]]:
    """Files a killed run left mutated (only with the checkout's lock) in rtl/ (and tb/engine/hdl/) and
    `folders` (those of TARGET=`target`): (files put back, one line for each file left as it is
    because it was changed after the mutant was written)."""
    done, left = [], []
    theirs = list(folders or [])
    for path in guard.left_files([ROOT / f for f in guard.FOLDERS] + theirs):
        was_mutant = guard.state(path) == "mutant"
        why = restore(path, target if path.parent in theirs else "")
        if why:
            left.append(why)
        elif was_mutant:
            done.append(_rel(path))
    return done, left


def builds_ok(sources: list[Path]) -> tuple[bool, str]:
    """Icarus elaborates rtl/ with the mutant (every module as a root)."""
    r = subprocess.run(["iverilog", "-g2012", f"-I{RTL}", "-o", os.devnull, *map(str, sources)],
                       capture_output=True, text=True, timeout=120)
    return r.returncode == 0, (r.stderr or r.stdout).strip().splitlines()[0] if r.returncode else ""


#: pytest's exit code when tests ran and one failed; every other non-zero code (interrupted,
#: internal error, usage error such as an unknown node id, nothing collected) says nothing about
#: the mutant
PYTEST_TESTS_FAILED = 1
_FAILED_LINE = re.compile(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", re.M)


def judged(returncode: int, stdout: str) -> tuple[str, str]:
    """(passed | killed | error, the first failing node id or what went wrong) of one pytest run."""
    if returncode == 0:
        return "passed", ""
    failed = _FAILED_LINE.search(stdout)
    if returncode == PYTEST_TESTS_FAILED and failed:
        return "killed", failed.group(1)
    last = (stdout.strip().splitlines() or [""])[-1]
    return "error", f"pytest exit code {returncode}: {last[:200]}"


#: what a target's run prints last (tb.layer_sim.verdict) and before it, for each failing layer
_VERDICT_LINE = re.compile(r"^(\d+) passed, (\d+) failed(.*)$")
_FAIL_LAYER = re.compile(r"^FAIL (\S+): (.*)$", re.M)
_BUNDLE_LINE = re.compile(r"^  failure bundle \(.*?\): (.+)$", re.M)


def judged_target(returncode: int, stdout: str, stderr: str) -> tuple[str, str]:
    """(passed | killed | error, the first failing layer and why, or what went wrong) of one run of
    a target (python -m tb.layer_sim). Passed only when it exits 0 and its closing line counts a
    PASS and no FAIL; killed only when it exits 1 and names a failing layer; anything else (exit 2,
    a run where nothing ran, a crash) judges nothing."""
    lines = [l for l in stdout.splitlines() if l.strip()]
    verdict = _VERDICT_LINE.match(lines[-1].strip()) if lines else None
    if verdict:
        passed, failed = int(verdict.group(1)), int(verdict.group(2))
        if returncode == 0 and passed > 0 and failed == 0 and "nothing ran" not in verdict.group(3):
            return "passed", ""
        fail = _FAIL_LAYER.search(stdout)
        if returncode == 1 and failed > 0 and fail:
            return "killed", f"{fail.group(1)}: {fail.group(2)}"[:200]
    last = ([l for l in stderr.splitlines() if l.strip()] or lines or [""])[-1].strip()
    return "error", f"exit code {returncode}: {last[:200]}"


@dataclass(frozen=True)
class TargetRun:
    """A target's mutants: its Verilog (tb.target.Target.bench), what Icarus builds of it, and the
    run of the target's own verdicts that judges each one."""

    spec: str  # what --target named: a shipped target or the path of a target.py (passed on as it is)
    name: str
    model: str
    sources: tuple[Path, ...]  # the bench's, the harness last
    includes: tuple[Path, ...]
    args: tuple[str, ...]  # the target's own Icarus arguments
    builds: Path  # where its simulator builds go (removed after each mutant: only what the mutant made)
    files: tuple[Path, ...]  # the files it may mutate (tb.mutant_guard.target_sources)

    @property
    def tests(self) -> str:
        """What judges its mutants, as a report records it (--resume refuses another)."""
        return f"TARGET={self.name} MODEL={self.model} SIM=icarus SEED=0"

    @property
    def folders(self) -> list[Path]:
        return sorted({f.parent for f in self.files})

    def builds_ok(self) -> tuple[bool, str]:
        """Icarus elaborates the bench's sources with its include folders (every module a root)."""
        r = subprocess.run(["iverilog", "-g2012", *(f"-I{d}" for d in self.includes), *self.args, "-o", os.devnull,
                            *map(str, self.sources)], capture_output=True, text=True, timeout=120)
        return r.returncode == 0, (r.stderr or r.stdout).strip().splitlines()[0] if r.returncode else ""

    def judge(self, timeout: int, mutant: bool = True) -> tuple[str, str]:
        """Run the target's verdicts (judged_target); ("killed (time limit)", "") past `timeout`: the
        run and its simulator (its own process group) are stopped. A mutant's failure bundles are
        removed; the unmutated baseline's (mutant=False) are the design's own, and stay."""
        cmd = [sys.executable, "-m", "tb.layer_sim", "--target", self.spec, "--model", self.model, "--sim", "icarus",
               "--seed", "0", "--waves", "0"]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_test_env(),
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.communicate()
            return "killed (time limit)", ""
        # the failure bundles of a mutant's FAILs are not the design's: removed (only those this run
        # named), so that build/failures/ never shows a mutant's failure as the target's own
        failures = ROOT / "build" / "failures"
        for bundle in _BUNDLE_LINE.findall(out) if mutant else []:
            b = Path(bundle.strip())
            if b.is_dir() and b.resolve().is_relative_to(failures.resolve()):
                shutil.rmtree(b)
                if b.parent != failures and not any(b.parent.iterdir()):
                    b.parent.rmdir()
        return judged_target(proc.returncode, out, err)


def load_target_run(spec: str, model: str) -> TargetRun:
    """The TargetRun of --target `spec`. A missing or broken target file raises tb.target's one-line
    SimError (tb.target.load_target); a target with nothing to mutate a one-line ValueError."""
    from tb.target import load_target, target_file

    t = load_target(spec)
    assert t is not None  # "engine" never comes here
    if spec.endswith(".py") or "/" in spec:  # the runs start in this checkout: the file by its full path
        spec = str(target_file(spec))
    files = guard.target_sources(t.bench.sources, t.folder, ROOT)
    if not files:
        raise ValueError(f"TARGET={spec}: no source of its bench but the harness lies under its folder {t.folder} "
                         "(make mutate changes a target's own Verilog only, never int8sim's)")
    return TargetRun(spec=spec, name=t.name, model=model, sources=tuple(Path(p) for p in t.bench.sources),
                     includes=tuple(Path(p) for p in t.bench.includes), args=tuple(t.build_args.get("icarus", ())),
                     builds=Path(t.bench.root) if t.bench.root else Path(t.folder) / "build" / "sim", files=tuple(files))


def _entries(folder: Path) -> set[Path]:
    return {folder / n for n in os.listdir(folder)} if folder.is_dir() else set()


def _test_env() -> dict[str, str]:
    """The environment of the test sets: make sim's refusal to run on a mutant (tb/mutant_guard.py)
    is off there, where the mutant is judged on purpose."""
    return {**os.environ, guard.MUTATE_RUN_ENV: "1"}


def run_mutant(m: Mutant, stages: list[list[str]], timeout: int, target: TargetRun | None = None) -> Mutant:
    """Judge one mutant: the stages (pytest arguments) run in turn until one fails (killed); it
    survives when all pass. The first stage is the tests that killed other mutants of the file,
    the last the whole set. Only a failed test kills: pytest stopping for another reason (an id it
    cannot find, an internal error) leaves the mutant to the next stage, and after the last it is
    an error, judged neither way. A target's mutant (`target`) is judged by its own run instead
    (TargetRun.judge; `stages` unused)."""
    path = ROOT / m.file
    lines = path.read_text().splitlines(keepends=True)
    lines[m.line - 1] = m.after
    before_builds = set(os.listdir(SIM_BUILDS)) if SIM_BUILDS.is_dir() else set()
    # a target's builds: its build folder and the snapshots its builds compiled (tb.sim: .src/<key>)
    target_dirs = [target.builds, target.builds / ".src"] if target else []
    before_target = {d: _entries(d) for d in target_dirs}
    t0 = time.time()
    put_mutant(path, "".join(lines).encode())
    try:
        ok, _err = builds_ok(sorted(RTL.glob("*.sv"))) if target is None else target.builds_ok()
        if not ok:
            m.outcome = "could not build"
            return m
        if target is not None:
            outcome, m.killed_by = target.judge(timeout)
            m.outcome = "survived" if outcome == "passed" else outcome
            return m
        m.outcome = "survived"
        runs = [t for t in stages if t]
        for n, tests in enumerate(runs, 1):
            try:
                r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-o", "addopts=",
                                    "-m", "not slow", *tests], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                               env=_test_env())
            except subprocess.TimeoutExpired:
                m.outcome = "killed (time limit)"
                break
            outcome, m.killed_by = judged(r.returncode, r.stdout)
            if outcome == "passed":
                continue
            if outcome == "error" and n < len(runs):
                continue  # the killer stage's ids did not run (a stale id): the whole set decides
            m.outcome = outcome
            break
    finally:
        restore(path, target.spec if target else "")  # an edit made during the run stays, with the backup (main() stops the run)
        m.seconds = round(time.time() - t0, 1)
        if target is None and SIM_BUILDS.is_dir():  # the mutant's own builds (content-keyed names): only what this run made
            for name in set(os.listdir(SIM_BUILDS)) - before_builds:
                p = SIM_BUILDS / name
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        for d in target_dirs:  # a build folder replaced in place keeps its name (its stamp names the mutant: rebuilt next time)
            for p in _entries(d) - before_target[d]:
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    return m


class ResumeError(Exception):
    """A report --resume cannot continue (missing, malformed, or run with another test set)."""


def resumed(report: Path, chosen: list[Mutant], tests: str, rerun_survivors: bool = False) -> tuple[list[Mutant], list[Mutant]]:
    """(results kept from the report, sites still to run). A site is judged when the report has the
    same change on the same line text (Mutant.key), wherever the line moved; the report's other
    results (sites this run did not choose) are kept too. rerun_survivors: a chosen survivor is
    judged again (tests were added since; a kill stays a kill)."""
    try:
        old = json.loads(report.read_text())
        olds = [_with_nth(Mutant(**x)) for x in old["mutants"]]
        by_key = {m.key(): m for m in olds}
    except OSError as e:
        raise ResumeError(f"{report}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ResumeError(f"{report}:{e.lineno}: not a mutate report: {e.msg}") from None
    except (KeyError, TypeError) as e:
        raise ResumeError(f"{report}: not a mutate report (no {e})") from None
    if old.get("tests") != tests:
        raise ResumeError(f"{report} was run with tests {old.get('tests')!r}, not {tests!r}")
    # a kill no failing test explains (reports before `judged`: pytest stopped for another reason,
    # e.g. an id it could not find) and an error are not results: those sites run again
    by_key = {k: m for k, m in by_key.items() if not (m.outcome == "killed" and not m.killed_by) and m.outcome != "error"}
    if rerun_survivors:  # the chosen sites' survivors only: the others stay in the report as they are
        chosen_keys = {m.key() for m in chosen}
        by_key = {k: m for k, m in by_key.items() if m.outcome != "survived" or k not in chosen_keys}
    kept = [replace(m, outcome=by_key[m.key()].outcome, seconds=by_key[m.key()].seconds,
                    killed_by=by_key[m.key()].killed_by) for m in chosen if m.key() in by_key]
    judged_keys = {m.key() for m in kept}
    return [by_key[k] for k in by_key if k not in judged_keys] + kept, [m for m in chosen if m.key() not in judged_keys]


def _commit() -> str:
    r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return r.stdout.strip()


#: the worker counts the projection of a whole run is given for (a farm's sizes)
PROJECT_WORKERS = (1, 2, 8, 64)


def projection(done: list[Mutant], total_sites: int, where: str) -> str:
    """How long every site of `where` would take, from the measured seconds of the judged mutants,
    on 1, 2, 8 and 64 workers (each on a core of its own: the sites divide, nothing else does)."""
    timed = [m.seconds for m in done if m.outcome in ("killed", "survived") and m.seconds > 0]
    if not timed or not total_sites:
        return ""
    mean = sum(timed) / len(timed)

    def hours(s: float) -> str:
        return f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.0f} min"

    at = ", ".join(f"{hours(total_sites * mean / w)} on {w}" for w in PROJECT_WORKERS)
    return (f"the whole of {where}: {total_sites} sites at {mean:.0f} s a mutant (mean of {len(timed)} judged): "
            f"{at} worker(s)")


def summary(done: list[Mutant], report: Path | str, left: int, runner: str = "pytest", projected: str = "") -> None:
    """The per-file table, the totals and every survivor with file:line and the change."""
    not_run = f", {left} sites not yet run" if left else ""
    kinds = ("killed", "survived", "could not build", "error")
    counts = {k: sum(m.outcome.startswith(k) for m in done) for k in kinds}
    w = max([24, *(len(m.file) for m in done)])
    print(f"\n{'file':<{w}} {'sites':>5} {'killed':>6} {'survived':>8} {'no build':>8}")
    for f in sorted({m.file for m in done}):
        ms = [m for m in done if m.file == f]
        c = [sum(m.outcome.startswith(k) for m in ms) for k in kinds]
        print(f"{f:<{w}} {len(ms):>5} {c[0]:>6} {c[1]:>8} {c[2]:>8}")
    errors = f", {counts['error']} not judged ({runner} error; rerun by --resume)" if counts["error"] else ""
    print(f"\nkilled {counts['killed']}, survived {counts['survived']}, could not build {counts['could not build']}{errors} "
          f"(of {len(done)}{not_run}; report {report})")
    if projected:
        print(projected)
    for m in done:
        if m.outcome == "survived":
            print(f"  survived {m.file}:{m.line}: {m.op}\n    - {m.before.strip()}\n    + {m.after.strip()}")
        elif m.outcome == "error":
            print(f"  not judged {m.file}:{m.line}: {m.op}: {m.killed_by}")


def _all_sites(target: TargetRun | None) -> int:
    """Every site make mutate could run: rtl/*.sv's, or the target's own files'."""
    return sum(len(sites(f)) for f in (target.files if target else sorted(RTL.glob("*.sv"))))


def _where(target: TargetRun | None) -> str:
    return f"TARGET={target.spec}'s Verilog" if target else "rtl/"


def _farm(a: argparse.Namespace, target: TargetRun | None) -> int:
    """--jobs N: the run split over N workers, each in a copy of this checkout (scripts/mutate_farm.py)."""
    from mutate_farm import run_farm

    spec = a.target
    if target is not None:
        folder = Path(target.spec).resolve().parent if a.target.endswith(".py") else None
        if folder is not None and not folder.is_relative_to(ROOT):
            print(f"mutate: error: JOBS={a.jobs}: TARGET={a.target} lies outside this checkout, so every worker would "
                  "mutate the same files; run it with JOBS=1 (or copy the target into the checkout)", file=sys.stderr)
            return 2
        if folder is not None:  # the same target in each worker's copy
            spec = str(Path(a.target).resolve().relative_to(ROOT))
    fwd = ["--count", str(a.count), "--seed", str(a.seed), "--timeout", str(a.timeout), "--target", spec]
    for flag, value in (("--files", a.files), ("--tests", a.tests), ("--lines", a.lines), ("--model", a.model)):
        if value:
            fwd += [flag, value]
    if a.resume:  # read by every worker where it lies (each writes its own report)
        fwd += ["--resume", ",".join(str(Path(r).resolve()) for r in a.resume.split(",") if r)]
    if a.rerun_survivors:
        fwd.append("--rerun-survivors")
    code, merged, _parts = run_farm(fwd, a.jobs)
    data = json.loads(merged.read_text())
    done = [_with_nth(Mutant(**x)) for x in data["mutants"]]
    summary(done, merged, left=0, runner="run" if target else "pytest", projected=projection(done, _all_sites(target), _where(target)))
    return code


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="make mutate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", default="", help="comma-separated rtl files (default: every rtl/*.sv)")
    p.add_argument("--count", type=int, default=40, help="mutants to run, sampled (0: every site)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tests", default="", help="pytest arguments replacing the default test set")
    p.add_argument("--timeout", type=int, default=600, help="seconds per mutant's test set")
    p.add_argument("--list", action="store_true", help="print the sites and exit")
    p.add_argument("--restore", action="store_true", help="put back the files a stopped run left mutated, and exit")
    p.add_argument("--resume", default="", help="reports of earlier runs (comma-separated): their results are kept and "
                   "their sites not rerun; the first is written on unless --report names another")
    p.add_argument("--rerun-survivors", action="store_true", help="with --resume: judge the reports' survivors again")
    p.add_argument("--summary", action="store_true", help="with --resume: print what the reports hold and run nothing")
    p.add_argument("--report", default="", help="where to write the report (default: the first --resume, or a new one)")
    p.add_argument("--shard", default="", help="k/n: run every n-th site left to run from the k-th (parallel workers started together on the same reports, each in its "
                   "own copy of the checkout with INT8SIM_LOCK_DIR shared; merge with --resume a.json,b.json)")
    p.add_argument("--lines", default="", help="only the sites on these lines: rtl/x.sv:12,rtl/y.sv:40 (e.g. last run's survivors)")
    p.add_argument("--target", default="engine", help="engine (rtl/, the default), a shipped target or path/to/target.py: "
                   "its own Verilog is mutated and judged by its own verdicts")
    p.add_argument("--model", default="", help="with --target: the model whose layers judge each mutant (default mlp)")
    p.add_argument("--jobs", type=int, default=1, help="workers at once, each in its own copy of the checkout "
                   "(scripts/mutate_farm.py; make mutate passes JOBS, every core by default)")
    a = p.parse_args(argv)
    if a.jobs < 1:
        print(f"mutate: error: --jobs {a.jobs}: the workers to run at once must be >= 1", file=sys.stderr)
        return 2
    target: TargetRun | None = None
    if a.target not in ("", "engine"):
        from golden.errors import UserError

        if a.tests:
            print(f"mutate: error: --tests (MUTATE_TESTS) is for the engine; TARGET={a.target}'s mutants are judged by "
                  "its own verdicts (make sim TARGET=... on MUTATE_MODEL)", file=sys.stderr)
            return 2
        try:
            target = load_target_run(a.target, a.model or "mlp")
        except (UserError, ValueError) as e:
            print(f"mutate: error: {e}", file=sys.stderr)
            return 2
    elif a.model:
        print("mutate: error: --model (MUTATE_MODEL) is for a target (TARGET=...): the engine's mutants are judged by "
              "its test set", file=sys.stderr)
        return 2
    tests_name = target.tests if target else (a.tests or "default")
    left: list[str] = []
    if hold_checkout(OUT / "running.lock"):
        restored, left = restore_backups(target.folders if target else None, a.target if target else "")
        if restored:
            print(f"mutate: restored {', '.join(restored)} from a run that was stopped")
    elif not (a.summary or a.list):
        print(f"mutate: error: another make mutate is running in this checkout ({OUT / 'running.lock'}); "
              "run a second one in a copy of the checkout (--shard)", file=sys.stderr)
        return 2
    if left and not (a.summary or a.list):  # a new mutant would take the edited file for an original
        print(f"mutate: error: {left[0]}" + (f" ({len(left) - 1} more file(s) like it)" if len(left) > 1 else ""),
              file=sys.stderr)
        return 2
    for line in left:
        print(f"mutate: {line}", file=sys.stderr)
    if a.jobs > 1 and not (a.shard or a.list or a.summary or a.restore or a.report):
        return _farm(a, target)
    if a.restore:
        if not restored:
            print("mutate: nothing to restore: no file holds a mutant of a stopped run")
        return 0
    default_files = list(target.files) if target else sorted(RTL.glob("*.sv"))
    files = [ROOT / f for f in a.files.split(",") if f] or default_files
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        print(f"mutate: error: no such {'file' if target else 'rtl file'}: {', '.join(missing)}", file=sys.stderr)
        return 2
    if target is not None:  # a target's own design files only (the same reasons as below)
        outside = [str(f) for f in files if f.resolve() not in target.files]
        if outside:
            print(f"mutate: error: --files {', '.join(outside)}: not a file make mutate changes of TARGET={a.target} "
                  f"(its bench's sources but the harness, under its folder: {', '.join(map(_rel, target.files))})",
                  file=sys.stderr)
            return 2
        files = [f.resolve() for f in files]
    # only the design: each mutant is built from rtl/*.sv alone (builds_ok), judged by tests of the
    # design, and its leftovers are looked for in rtl/; a mutated bench would judge the tests by
    # themselves
    outside = [] if target else [str(f) for f in files if f.resolve().parent != RTL.resolve() or f.suffix != ".sv"]
    if outside:
        print(f"mutate: error: --files {', '.join(outside)}: not an rtl/*.sv file of this checkout ({RTL}); "
              "make mutate mutates the design only", file=sys.stderr)
        return 2
    every = [m for f in files for m in sites(f)]
    present = {m.key() for m in every}  # the sites these files have now (before --lines narrows the run)
    scanned = {_rel(f) for f in files}
    if a.lines:
        want = set(a.lines.split(","))
        for w in list(want):  # the same file named otherwise (an absolute path, ./, a link): as sites name it
            path, _, line = w.rpartition(":")
            if path:
                want.add(f"{_rel(Path(os.path.realpath(ROOT / path)))}:{line}")
        every = [m for m in every if f"{m.file}:{m.line}" in want]
    if a.list:
        for m in every:
            print(f"{m.file}:{m.line}: {m.op}: {m.after.strip()}")
        print(f"{len(every)} sites")
        return 0
    ok, err = builds_ok(sorted(RTL.glob("*.sv"))) if target is None else target.builds_ok()
    if not ok:
        what = f"TARGET={a.target}'s Verilog" if target else "rtl/"
        print(f"mutate: error: {what} does not build unmutated: {err}", file=sys.stderr)
        return 2
    chosen = every if a.count <= 0 or a.count >= len(every) else random.Random(a.seed).sample(every, a.count)
    chosen.sort(key=lambda m: (m.file, m.line, m.col))
    shard = (1, 1)
    if a.shard:
        try:
            shard = tuple(int(x) for x in a.shard.split("/"))  # type: ignore[assignment]
            assert len(shard) == 2 and 1 <= shard[0] <= shard[1]
        except (ValueError, AssertionError):
            print(f"mutate: error: --shard {a.shard}: want k/n with 1 <= k <= n", file=sys.stderr)
            return 2
    done: list[Mutant] = []
    for path in filter(None, a.resume.split(",")):
        try:
            kept, chosen = resumed(Path(path), chosen, tests_name, a.rerun_survivors)
        except ResumeError as e:
            print(f"mutate: error: {e}", file=sys.stderr)
            return 2
        # a result whose line text is no longer in the file (the line was edited or removed since)
        # judges nothing that exists: dropped, so the figures count only today's sites
        gone = {m.file for m in kept if m.file in scanned and m.key() not in present}
        now = [m for m in kept if m.file not in gone or m.key() in present]
        if gone:
            print(f"mutate: {path}: {len(kept) - len(now)} result(s) dropped, their lines are no longer in "
                  f"{', '.join(sorted(gone))}", flush=True)
        have = {m.key() for m in done}
        done += [m for m in now if m.key() not in have]
    # the shard splits what is left to run (so workers started together on the same reports share
    # it evenly, however unevenly the earlier results fell)
    chosen = chosen[shard[0] - 1::shard[1]]
    runner = "run" if target else "pytest"
    if a.summary:
        summary(done, a.resume, left=len(chosen), runner=runner, projected=projection(done, _all_sites(target), _where(target)))
        return 0
    # the test sets must pass on the unmutated rtl/, or every mutant would count as killed (once,
    # on all of them together)
    if target is not None and chosen:  # the same for a target's own run: it must PASS unmutated
        print(f"mutate: baseline {target.tests} ...", flush=True)
        outcome, why = target.judge(a.timeout, mutant=False)
        if outcome != "passed":
            print(f"mutate: error: TARGET={a.target} does not PASS without a mutant on MODEL={target.model} "
                  f"(SIM=icarus SEED=0): {outcome}{': ' + why if why else ''}", file=sys.stderr)
            return 2
    union = [] if target else sorted({t for m in chosen for t in (a.tests.split() if a.tests else default_tests(m.file))})
    for tests in [union] if union else []:  # nothing left to run: no baseline either
        print(f"mutate: baseline {' '.join(tests)} ...", flush=True)
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-o", "addopts=",
                            "-m", "not slow", *tests], cwd=ROOT, capture_output=True, text=True, timeout=a.timeout,
                           env=_test_env())
        if r.returncode != 0:
            print(f"mutate: error: the test set fails without a mutant: {' '.join(tests)}\n{r.stdout[-2000:]}", file=sys.stderr)
            return 2
    OUT.mkdir(parents=True, exist_ok=True)
    report = Path(a.report or a.resume.split(",")[0]) if (a.report or a.resume) else OUT / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    if a.resume:
        print(f"mutate: resuming {a.resume}: {len(done)} judged, {len(chosen)} to go", flush=True)
    print(f"mutate: {len(chosen)} of {len(every)} sites in {len(files)} file(s), seed {a.seed}; "
          f"touch {OUT / 'PAUSE'} to pause between mutants", flush=True)
    kills: dict[str, dict[str, int]] = {}  # file -> test (node id) -> mutants of the file it killed
    for m in done:
        count_kill(kills, m)
    durations = stored_durations()
    t_start = time.time()
    for i, m in enumerate(chosen, 1):
        t_start += wait_while_paused(OUT / "PAUSE")
        run_mutant(m, [] if target else stages(a.tests.split() if a.tests else default_tests(m.file), kills.get(m.file, {}),
                                               durations=durations),
                   a.timeout, target)
        count_kill(kills, m)
        done.append(m)
        to_go = (time.time() - t_start) / i * (len(chosen) - i)
        print(f"[{i}/{len(chosen)}] {m.file}:{m.line} {m.op}: {m.outcome} ({m.seconds:.0f} s; "
              f"about {to_go / 60:.0f} min left)", flush=True)
        tmp = report.with_name(report.name + ".tmp")  # whole or not at all: another worker may read it
        tmp.write_text(json.dumps({"seed": a.seed, "tests": tests_name, "commit": _commit(),
                                   "mutants": [asdict(x) for x in done]}, indent=1))
        tmp.replace(report)
        if guard.backup_of(ROOT / m.file).exists():  # edited during the run: it is the user's now
            print(f"mutate: error: {guard.describe(ROOT / m.file, ROOT, a.target if target else '')}; the run stops here (report {report})",
                  file=sys.stderr)
            return 2
    summary(done, report, left=0, runner=runner, projected=projection(done, _all_sites(target), _where(target)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
