"""int8sim's cache, shared by this user's checkouts: $INT8SIM_CACHE, else $XDG_CACHE_HOME/int8sim,
else ~/.cache/int8sim. What it holds is keyed by content, so a checkout only ever reuses an entry
its own code would write: tb's memory images (tb.images), the digits split (golden.models.digits),
mypy's cache. (scripts/bootstrap.sh spells the same rule in bash for the dependency environments:
it runs before any Python environment exists.)"""
from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    env = os.environ.get("INT8SIM_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "int8sim"
