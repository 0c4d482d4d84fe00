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
process, and its Python thread only waits for it. With a cluster ($INT8SIM_CLUSTER, or Dask's own
$DASK_SCHEDULER_ADDRESS) the jobs run on Dask distributed's workers instead (docs/jobs.md): a
scheduler's address (tcp://host:8786), or `local[:N]` for a cluster of N worker processes started
here. A job whose worker dies is run again by the scheduler on another (its result counted once).
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from tb.sim import SimError

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


#: where jobs run: a Dask scheduler's address, or local[:N] (an embedded cluster); unset: threads here
CLUSTER_ENV = "INT8SIM_CLUSTER"


class ClusterError(SimError):
    """The cluster named by $INT8SIM_CLUSTER cannot be used; the message says why (one line)."""


def cluster_setting() -> str:
    return os.environ.get(CLUSTER_ENV) or os.environ.get("DASK_SCHEDULER_ADDRESS") or ""


_CLIENTS: dict[str, Any] = {}


def cluster_client() -> Any:
    """The Dask client of the cluster the setting names (one per process and setting)."""
    spec = cluster_setting()
    if spec in _CLIENTS:
        return _CLIENTS[spec]
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - bootstrap installs it (dev extras)
        raise ClusterError(f"{CLUSTER_ENV}={spec}: Dask distributed is not installed in this Python; run `make bootstrap`") from None
    if spec == "local" or spec.startswith("local:"):
        try:
            n = int(spec.split(":", 1)[1]) if ":" in spec else local_cores()
            assert n >= 1
        except (ValueError, AssertionError):
            raise ClusterError(f"{CLUSTER_ENV}={spec}: local or local:N with N >= 1 worker processes") from None
        # one job a worker: a job's work is a simulator process
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        try:
            client = Client(spec, timeout="15s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(f"{CLUSTER_ENV}={spec}: cannot reach the Dask scheduler: {exc}") from None
    _CLIENTS[spec] = client
    return client


def close_clusters() -> None:
    """Close the clients (and embedded clusters) this process started."""
    for spec, client in list(_CLIENTS.items()):
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None:
            cluster.close()
        del _CLIENTS[spec]


def cluster_workers() -> int:
    """The jobs the cluster runs at once (its workers' threads)."""
    info = cluster_client().scheduler_info(n_workers=-1)
    return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))


def _on_worker(fn: Callable[[T], R], item: T) -> R:
    """A job on a cluster worker: the simulators' environment first (a worker started elsewhere
    does not have this process's)."""
    from tb.toolchain import apply_simulator_env

    apply_simulator_env()
    return fn(item)


def _run_on_cluster(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    import uuid

    from distributed import wait

    client = cluster_client()
    run = uuid.uuid4().hex[:12]
    # one task a job, each named (a dashboard shows which); the scheduler runs a task again when
    # its worker dies (distributed.scheduler.allowed-failures), and a task's result is kept once
    futures = [client.submit(_on_worker, fn, item, key=f"int8sim-job-{run}-{i}", pure=False) for i, item in enumerate(items)]
    wait(futures)
    for f in futures:
        if f.status == "error":
            exc = f.exception()
            raise exc if isinstance(exc, BaseException) else ClusterError(str(exc))
        if f.status != "finished":
            raise ClusterError(f"{CLUSTER_ENV}={cluster_setting()}: job {f.key} ended {f.status}")
    return [f.result() for f in futures]


def run_jobs(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """fn over items, at most `workers` at once (on a cluster: as many as it has workers); the
    results in the items' order. An exception in one job is raised here once every job has
    finished (none is left running behind the error)."""
    if cluster_setting() and len(items) >= 1:
        return _run_on_cluster(fn, items)
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
