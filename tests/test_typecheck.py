"""mypy stays clean on golden/ and hexgen/ (style.md): run as part of make test."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_is_clean_on_golden_and_hexgen():
    # mypy's cache in the cache this user's checkouts share (tb.images.cache_root): it keeps a module's
    # result while the module's bytes are the same (its paths are relative to the checkout), so a
    # fresh clone does not re-read PyTorch's 1,400 files (11 s of CPU)
    import os

    from tb.images import cache_root

    env = {**os.environ, "MYPY_CACHE_DIR": str(cache_root() / "mypy")}
    out = subprocess.run([sys.executable, "-m", "mypy", "golden", "hexgen"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env=env)
    assert out.returncode == 0, out.stdout + out.stderr
