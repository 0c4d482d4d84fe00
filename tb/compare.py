"""Element-by-element comparison of a layer's RTL output with golden, and its report.

Pure functions (no simulator): the layer bench calls them, and tests check them directly.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray


@dataclass
class Mismatch:
    layer: str
    total: int
    wrong: int
    first: list[tuple[int, int, int, int, int]] = field(default_factory=list)  # (channel, row, col, expected, got)
    channels: list[int] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    cols: list[int] = field(default_factory=list)
    max_abs_diff: int = 0

    @property
    def ok(self) -> bool:
        return self.wrong == 0

    def pattern(self) -> str:
        def span(v: list[int], n_all: int, what: str) -> str:
            if len(v) == n_all:
                return f"all {what}"
            shown = ", ".join(map(str, v[:16])) + (", ..." if len(v) > 16 else "")
            return f"{what} {shown}"

        return "; ".join(
            [
                span(self.channels, self._n[0], "channels"),
                span(self.rows, self._n[1], "rows"),
                span(self.cols, self._n[2], "columns"),
            ]
        )

    _n: tuple[int, int, int] = (0, 0, 0)

    def report(self, limit: int = 10) -> str:
        if self.ok:
            return f"{self.layer}: all {self.total} outputs equal"
        lines = [
            f"{self.layer}: {self.wrong} of {self.total} outputs wrong ({self.wrong / self.total:.2%}), "
            f"max |diff| {self.max_abs_diff}",
            f"  pattern: {self.pattern()}",
            "  first wrong elements (channel, row, column): expected, got",
        ]
        for c, y, x, e, g in self.first[:limit]:
            lines.append(f"    [{c}, {y}, {x}]: expected {e}, got {g}")
        return "\n".join(lines)


def compare(layer: str, expected: NDArray[np.integer], got: NDArray[np.integer]) -> Mismatch:
    """expected, got: [C, H, W] (or [C] for fc), integer arrays of one image."""
    e = np.asarray(expected, dtype=np.int64)
    g = np.asarray(got, dtype=np.int64)
    if e.shape != g.shape:
        raise ValueError(f"{layer}: expected shape {e.shape} but the RTL output decodes to {g.shape}")
    e3 = e.reshape(e.shape[0], 1, 1) if e.ndim == 1 else e
    g3 = g.reshape(e3.shape)
    bad = e3 != g3
    m = Mismatch(layer, int(e3.size), int(bad.sum()))
    m._n = (e3.shape[0], e3.shape[1], e3.shape[2])
    if m.wrong:
        idx = np.argwhere(bad)
        m.first = [(int(c), int(y), int(x), int(e3[c, y, x]), int(g3[c, y, x])) for c, y, x in idx[:50]]
        m.channels = sorted({int(c) for c in idx[:, 0]})
        m.rows = sorted({int(y) for y in idx[:, 1]})
        m.cols = sorted({int(x) for x in idx[:, 2]})
        m.max_abs_diff = int(np.abs(e3 - g3).max())
    return m
