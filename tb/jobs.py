"""Jobs: the units of work a run is split into, and the pool that runs them on the machine's cores.

A run of `make sim` (or CHAIN=1, `make bench-sim`, `make mutate`) is a list of jobs. A Job names
what it runs (model, layers or images, target and hardware description, simulator, seed, widths,
mutant: the build's defines) and the content it runs on: the memory image's key (its cache folder
is named by the content of the model and of the code that made it, tb/images.py) and the build's
key (the stamp tb.sim writes beside a build: the bytes of every file it compiled and the
simulator's version). Job.key hashes them all, so two jobs with one key do the same work on the same
bytes. A job's result is data: its per-layer (or per-image) result dicts, JSON, merged by the run
in its own order.

run_jobs(fn, items, workers) runs fn over the items on a pool and returns the results in the items'
order, whatever order they finish in. Locally the pool is threads: a job's work is a simulator
process, and its Python thread only waits for it.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def local_cores() -> int:
    """The cores this process may run on (a container's or taskset's limit, not the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Job:
    """One simulation of a run: what it runs and the content it runs on (see the module's text)."""

    model: str
    target: str
    hw: str
    sim: str
    seed: int
    widths: str  # e.g. "w8a8"; "w4a4-ends8" with the first and last layer kept at 8 bits
    layers: tuple[str, ...]  # the layers it runs, in order (for a chained run: its images, "image3", ...)
    defines: tuple[str, ...]  # a mutant or a fault build: the defines it was built with
    image_key: str  # the memory image's content key (its cache folder's name)
    build_key: str  # the build's content key (tb.sim's .stamp)

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()

    def describe(self) -> str:
        what = ",".join(self.layers) if len(self.layers) <= 4 else f"{self.layers[0]}..{self.layers[-1]} ({len(self.layers)})"
        return f"{self.model} {what} on {self.target}/{self.hw} {self.sim} seed {self.seed} {self.widths}"


def run_jobs(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """fn over items, at most `workers` at once; the results in the items' order. An exception in
    one job is raised here once every job has finished (none is left running behind the error)."""
    if workers <= 1 or len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="int8sim-job") as pool:
        futures = [pool.submit(fn, i) for i in items]
        errors = [f.exception() for f in futures]
    for e in errors:
        if e is not None:
            raise e
    return [f.result() for f in futures]


def balance(costs: Sequence[tuple[Any, float]], parts: int) -> list[list[Any]]:
    """Items split into at most `parts` groups of near-equal total cost (longest first onto the
    least loaded group); each group keeps the items' order. No empty group."""
    parts = max(1, min(parts, len(costs)))
    loads = [0.0] * parts
    counts = [0] * parts
    where: dict[int, int] = {}
    for i in sorted(range(len(costs)), key=lambda i: -costs[i][1]):
        g = min(range(parts), key=lambda g: (loads[g], counts[g]))  # equal work: the group with fewer items
        where[i] = g
        loads[g] += max(costs[i][1], 0.0)
        counts[g] += 1
    groups: list[list[Any]] = [[] for _ in range(parts)]
    for i, (item, _) in enumerate(costs):
        groups[where[i]].append(item)
    return [g for g in groups if g]
