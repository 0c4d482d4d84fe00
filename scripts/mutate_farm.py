"""`make mutate JOBS=N`: the mutants on N workers at once, each in its own copy of the checkout.

A mutant is made in place (scripts/mutate.py), so two at once need two trees. The farm copies the
checkout's files (git's tracked and untracked-but-not-ignored files: what the user's tree holds,
edits included, not build/ or .venv/) into build/mutate/workers/w1..wN, sets each copy up
(scripts/bootstrap.sh: a second or two, the dependencies being shared), and runs
`scripts/mutate.py --shard k/N` in each with the same selection (files, count, seed, lines,
tests, target, --resume reports), all of them taking the simulator-build locks of one folder
(INT8SIM_LOCK_DIR: never two Verilator builds at once). Their output comes through prefixed with
the worker; their reports (build/mutate/<stamp>-k-of-N.json) are merged into one
(build/mutate/<stamp>.json), which --resume takes like any other, and the summary is printed from it.
A worker that stops leaves its report of what it judged; the merged report has every judged mutant
once, and --resume with it runs the rest.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "mutate"
WORKERS = OUT / "workers"


def checkout_files(root: Path) -> list[str]:
    """The files of the user's tree, relative to it: tracked and untracked-but-not-ignored."""
    r = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                       capture_output=True, check=True)
    return sorted({f for f in r.stdout.decode().split("\0") if f and (root / f).is_file()})


def make_copy(dest: Path, files: list[str]) -> None:
    """dest holds exactly the checkout's files (a copy a previous farm left is refreshed: its
    build/ is kept, the other leftovers removed) and its own .venv."""
    dest.mkdir(parents=True, exist_ok=True)
    want = set(files)
    for p in sorted(dest.rglob("*"), reverse=True):
        rel = p.relative_to(dest).as_posix()
        if rel.split("/")[0] in ("build", ".venv", ".git"):
            continue
        if p.is_file() and rel not in want:
            p.unlink()
        elif p.is_dir() and not any(p.iterdir()):
            p.rmdir()
    for f in files:
        src, dst = ROOT / f, dest / f
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.is_file() or dst.stat().st_mtime_ns != src.stat().st_mtime_ns or dst.stat().st_size != src.stat().st_size:
            shutil.copy2(src, dst)
    r = subprocess.run(["bash", "scripts/bootstrap.sh"], cwd=dest, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"setting up {dest} failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
    (dest / ".venv" / ".bootstrap-stamp").touch()


def _pump(prefix: str, stream, sink) -> None:
    for line in stream:
        sink.write(f"{prefix} {line}")
        sink.flush()


def merge_reports(parts: list[Path], out: Path) -> dict:
    """One report of every mutant the parts judged, each once (a site in two parts: the later's)."""
    merged: dict = {}
    mutants: dict[tuple, dict] = {}
    for p in parts:
        if not p.is_file():
            continue
        data = json.loads(p.read_text())
        merged = {k: v for k, v in data.items() if k != "mutants"} | {"parts": [str(x) for x in parts]}
        for m in data["mutants"]:
            mutants[(m["file"], m["before"].strip(), m.get("nth", -1), m["col"], m["op"], m["after"].strip())] = m
    merged["mutants"] = list(mutants.values())
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(merged, indent=1))
    tmp.replace(out)
    return merged


def run_farm(args: list[str], jobs: int) -> tuple[int, Path, list[Path]]:
    """mutate.py's arguments `args` (without --jobs, --shard, --report) on `jobs` workers; returns
    (exit status: the worst of the workers', the merged report, the workers' reports)."""
    from tb.sim import _die_with_parent

    stamp = time.strftime("%Y%m%d-%H%M%S")
    files = checkout_files(ROOT)
    print(f"mutate: {jobs} workers, each in a copy of this checkout under {WORKERS} ...", flush=True)
    copies = [WORKERS / f"w{k}" for k in range(1, jobs + 1)]
    for c in copies:
        make_copy(c, files)
    reports = [OUT / f"{stamp}-{k}-of-{jobs}.json" for k in range(1, jobs + 1)]
    env = {**os.environ, "INT8SIM_LOCK_DIR": str(OUT / "locks")}
    (OUT / "locks").mkdir(parents=True, exist_ok=True)
    procs, pumps = [], []
    for k, (c, rep) in enumerate(zip(copies, reports), 1):
        cmd = [str(c / ".venv" / "bin" / "python"), "scripts/mutate.py", *args, "--shard", f"{k}/{jobs}", "--report", str(rep)]
        p = subprocess.Popen(cmd, cwd=c, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             preexec_fn=_die_with_parent)
        t = threading.Thread(target=_pump, args=(f"[w{k}]", p.stdout, sys.stdout), daemon=True)
        t.start()
        procs.append(p)
        pumps.append(t)
    codes = [p.wait() for p in procs]
    for t in pumps:
        t.join()
    merged = OUT / f"{stamp}.json"
    merge_reports(reports, merged)
    bad = [f"w{k} exited {c}" for k, c in enumerate(codes, 1) if c != 0]
    if bad:
        print(f"mutate: {', '.join(bad)} (its report holds what it judged; --resume {merged} runs the rest)", file=sys.stderr)
    return max(codes), merged, reports
