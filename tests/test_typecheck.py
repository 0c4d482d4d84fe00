"""mypy stays clean on golden/ and hexgen/ (style.md): run as part of make test."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_is_clean_on_golden_and_hexgen():
    out = subprocess.run([sys.executable, "-m", "mypy", "golden", "hexgen"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
