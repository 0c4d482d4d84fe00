"""Shared fixtures: quantized shipped models are built once per test session (per xdist worker)."""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# Each xdist worker computes with the cores it has to itself (cores / workers): with two workers on
# two cores, PyTorch's and OpenBLAS's two threads in each made four busy threads on two cores (a
# quantization-aware training test took 24 s beside the other worker, 3.4 s alone). Set before
# numpy and PyTorch load (they read it once); the subprocesses tests start inherit it.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
if _WORKERS:
    _THREADS = str(max(1, len(os.sched_getaffinity(0)) // _WORKERS))
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, _THREADS)

import pytest  # noqa: E402
import torch  # noqa: E402

if _WORKERS:
    torch.set_num_threads(int(_THREADS))

# PyTorch 2.13 warns that quantized tensor creation is deprecated on every quantized op.
warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
warnings.filterwarnings("ignore", category=UserWarning, module="torch.ao.quantization")


@dataclass
class Quantized:
    name: str
    float_model: torch.nn.Module
    qmodel: torch.fx.GraphModule
    calibration: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


@lru_cache(maxsize=None)
def quantized_model(name: str) -> Quantized:
    from golden import quantize
    from golden.models import load_model

    m = load_model(name)
    qm = quantize(m.float_model, m.calibration)
    assert m.x_test is not None and m.y_test is not None
    return Quantized(name, m.float_model, qm, m.calibration, m.x_test, m.y_test)


@pytest.fixture(scope="session")
def shipped():
    return quantized_model


@pytest.fixture(autouse=True)
def _record_failure_bundles(record_property):
    """A failure bundle (tb/bundle.py) written during a test is named in pytest's JUnit XML
    (property failure_bundle), so CI output leads to it."""
    from tb import bundle

    bundle.WRITTEN.clear()
    yield
    for path in bundle.WRITTEN:
        record_property("failure_bundle", path)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Functional coverage (tb.coverage) starts empty for this session: the controller (or a run
    without xdist) removes the per-process files of the last one. And the project's modules are
    compiled to bytecode once: every simulation is a new Python process importing golden, hexgen
    and tb (a few hundred in make test), and with PYTHONDONTWRITEBYTECODE set (as on this
    machine) none writes its .pyc, so each compiled them again (0.36-0.49 s an import of the layer
    bench's module, 0.30 s from .pyc). Stale .pyc files are never used: Python checks each
    against its source."""
    if not hasattr(session.config, "workerinput"):
        import compileall

        from tb.coverage import COVERAGE

        for f in COVERAGE.glob("cov-*.yml"):
            f.unlink()
        root = Path(__file__).resolve().parent.parent
        for package in ("golden", "hexgen", "tb", "targets"):
            compileall.compile_dir(str(root / package), quiet=2)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    """The layer space the session's simulations covered, with the holes (make test prints it)."""
    if hasattr(config, "workerinput"):
        return
    from tb.coverage import COVERAGE, report

    if any(COVERAGE.glob("cov-*.yml")):
        terminalreporter.write_line(report())


#: test files whose tests are long (engine simulations, their builds): run first, so that two
#: workers do not end with one of them alone on a long test (make test's three minutes)
LONG_FIRST = ("test_waves_sim.py", "test_faults_sim.py", "test_engine.py", "test_engine_hw.py", "test_sim_both.py",
              "test_diagnose_sim.py", "test_budget_sim.py", "test_protocol.py", "test_layer_bands.py",
              "test_golden_mobilenetv2_224.py", "test_golden_models.py", "test_resources.py", "test_faults_verdicts.py",
              "test_faults_diagnosis.py", "test_mutate_target.py", "test_target_pwfc.py", "test_target_waves.py", "test_engine_bits.py",
              "test_golden_bits.py")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long files first, in a fixed order (every xdist worker collects the same order)."""
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda it: rank.get(it.path.name, len(LONG_FIRST)))
