"""make sim's jobs on a Dask cluster (issue 29 item 3; make test-slow): a local cluster of three
worker processes gives the report the run in this process gives, and a worker killed while its
simulation runs costs nothing: its job runs again on another worker, no layer lost or doubled."""
from __future__ import annotations

import os
import re
import signal
import threading
import time
from typing import Any

import pytest

from tb import jobs, layer_sim

pytestmark = [pytest.mark.sim, pytest.mark.slow]

FIELDS = ("layer", "kind", "status", "cycles", "words_read", "words_written", "mismatches", "budget")


def _report(res: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(r.get(k) for k in FIELDS) + (re.sub(r"build/layers/\S+", "<run>", r.get("reason", "")),) for r in res]


@pytest.fixture()
def cluster(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv(jobs.CLUSTER_ENV, "local:3")
    yield jobs.cluster_client()
    jobs.close_clusters()


def _simulator_under(worker_pids: set[int]) -> int | None:
    """A worker (of worker_pids) whose simulator process is running now, or None."""
    import psutil

    for p in psutil.process_iter(["name", "ppid", "cmdline"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            if ("vvp" in cmd or "accel_tb" in cmd) and p.info["ppid"] in worker_pids:
                return int(p.info["ppid"])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def test_jobs_on_a_local_cluster_report_what_one_process_reports(cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    kw = dict(layers=None, sim="verilator", model="mobilenetv2", seed=0)
    on_cluster = layer_sim.run(**kw, jobs=3, run_tag="-cluster")
    assert len({r["job"] for r in on_cluster}) == 3
    monkeypatch.delenv(jobs.CLUSTER_ENV)
    here = layer_sim.run(**kw, jobs=1, run_tag="-one")
    assert all(r["status"] == "PASS" for r in here), layer_sim.table(here)
    assert _report(on_cluster) == _report(here)


def test_a_worker_killed_mid_job_loses_and_doubles_nothing(cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    workers = set(cluster.run(os.getpid).values())
    out: dict[str, Any] = {}

    def run() -> None:
        try:  # Icarus: each job's simulation lasts seconds, long enough to be killed in
            out["res"] = layer_sim.run(layers=["conv1", "conv4", "conv7", "conv10", "conv13", "fc1"], sim="icarus",
                                       model="mobilenetv2", seed=0, jobs=3, run_tag="-cluster-kill")
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in the test's thread
            out["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    killed = None
    deadline = time.time() + 120
    while killed is None and t.is_alive() and time.time() < deadline:
        killed = _simulator_under(workers)
        time.sleep(0.05)
    assert killed is not None, "no simulation was seen running under a worker"
    os.kill(killed, signal.SIGKILL)
    t.join(300)
    assert not t.is_alive()
    if "error" in out:
        raise out["error"]
    res = out["res"]
    assert [r["layer"] for r in res] == ["conv1", "conv4", "conv7", "conv10", "conv13", "fc1"]  # each once
    # the scheduler's own record: the killed worker's job ran a second time, every job's result
    # was kept once
    log = cluster.run_on_scheduler(lambda dask_scheduler: [(str(e[0]), e[1], e[2]) for e in dask_scheduler.transition_log])
    keys = {k for k, _, _ in log if k.startswith("int8sim-job-")}
    assert len(keys) == 3, keys
    starts = {k: sum(1 for kk, a, b in log if kk == k and (a, b) == ("waiting", "processing")) for k in keys}
    kept = {k: sum(1 for kk, a, b in log if kk == k and (a, b) == ("processing", "memory")) for k in keys}
    assert sorted(starts.values()) == [1, 1, 2], starts
    assert set(kept.values()) == {1}, kept
    assert all(r["status"] == "PASS" for r in res), layer_sim.table(res)
    monkeypatch.delenv(jobs.CLUSTER_ENV)
    here = layer_sim.run(layers=[r["layer"] for r in res], sim="icarus", model="mobilenetv2", seed=0, jobs=1, run_tag="-one")
    assert _report(res) == _report(here)
