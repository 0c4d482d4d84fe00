"""Thin adapter: the golden/ reference functions the benches use, without importing torch.

`import golden.arith` runs golden/__init__.py, which imports the PyTorch front end (extract,
quantize): about 2 s in a plain Python and about 9 s inside a simulator process, paid by every
simulator run. The benches need only golden/arith.py (numpy), so when golden is not imported yet
inside a simulator process (RTL_SIM set by tb/sim.py) this registers a bare `golden` package object
(same directory, __init__ not run) and imports golden.arith and golden.errors from it: the very
same source files the golden model runs. Anywhere else (pytest, scripts) golden is imported
normally, so other code in the same process sees the whole package. TB_GOLDEN_FULL=1 disables it.
"""
from __future__ import annotations

import importlib
import os
import sys
import types
from pathlib import Path

_GOLDEN_DIR = Path(__file__).resolve().parent.parent / "golden"

if os.environ.get("RTL_SIM") and "golden" not in sys.modules and os.environ.get("TB_GOLDEN_FULL") != "1":
    _pkg = types.ModuleType("golden")
    _pkg.__path__ = [str(_GOLDEN_DIR)]  # type: ignore[attr-defined]
    _pkg.__file__ = str(_GOLDEN_DIR / "__init__.py")
    sys.modules["golden"] = _pkg

arith = importlib.import_module("golden.arith")
