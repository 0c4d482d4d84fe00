"""Element-by-element comparison of a layer's RTL output with golden, and its report.

Pure functions (no simulator): the layer bench calls them, and tests check them directly.
"""
from __future__ import annotations

import json

from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: the deepest border band (rows or columns from one edge) borders() names
BORDER_DEPTH = 2
SIDES = ("top", "bottom", "left", "right")


@dataclass(frozen=True)
class Border:
    """The border bands of an image that hold every wrong pixel: depth (rows or columns) per side."""

    depth: dict[str, int]
    pixels: int  # pixels in the bands
    total: int   # pixels of the image

    def text(self) -> str:
        """e.g. "last row and last column", "first 2 rows", "first and last columns"."""
        def part(first: int, last: int, what: str) -> str:
            if first and last:
                if first == last:
                    return f"first and last {what}s" if first == 1 else f"first {first} and last {last} {what}s"
                return f"first {first if first > 1 else ''} {what}{'s' if first > 1 else ''} and last {last} " \
                       f"{what}{'s' if last > 1 else ''}".replace("  ", " ")
            d, end = (first, "first") if first else (last, "last")
            return f"{end} {what}" if d == 1 else f"{end} {d} {what}s"
        d = self.depth
        parts = [part(d["top"], d["bottom"], "row") if d["top"] or d["bottom"] else "",
                 part(d["left"], d["right"], "column") if d["left"] or d["right"] else ""]
        return " and ".join(p for p in parts if p)

    def edges(self) -> str:
        """e.g. "bottom and right" (the image's edges the bands lie along)."""
        sides = [s for s in SIDES if self.depth[s]]
        return ", ".join(sides[:-1]) + (" and " if len(sides) > 1 else "") + sides[-1]


def borders(bad: NDArray[np.bool_]) -> Border | None:
    """The fewest, shallowest border bands (at most BORDER_DEPTH rows or columns deep from each
    edge) that hold every True pixel of bad [H, W], when they are at most half the image; else None
    (the wrong pixels are not along the border, or the image is too small for a border to mean
    anything)."""
    bad = np.asarray(bad, bool)
    H, W = bad.shape
    ys, xs = np.nonzero(bad)
    if not ys.size or H * W < 4:
        return None
    dist = {"top": ys, "bottom": H - 1 - ys, "left": xs, "right": W - 1 - xs}
    yy, xx = np.mgrid[:H, :W]
    best: Border | None = None
    for k in range(1, 5):
        for sides in combinations(SIDES, k):
            d = np.stack([dist[s] for s in sides])  # [sides, pixels]
            pick = np.argmin(d, axis=0)
            near = d[pick, np.arange(ys.size)]
            if near.max() >= BORDER_DEPTH:
                continue
            depth = {s: 0 for s in SIDES}
            outer = True  # each band has wrong pixels on its outermost line (column 1 alone is no border)
            for i, s in enumerate(sides):
                if (pick == i).any():
                    depth[s] = int(near[pick == i].max()) + 1
                    outer = outer and bool((near[pick == i] == 0).any())
            if not outer:
                continue
            band = ((yy < depth["top"]) | (yy >= H - depth["bottom"]) | (xx < depth["left"]) | (xx >= W - depth["right"]))
            b = Border(depth, int(band.sum()), H * W)
            if best is None or b.pixels < best.pixels:
                best = b
        if best is not None:
            break
    return best if best is not None and 2 * best.pixels <= best.total else None


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
    border: Border | None = None  # the border bands that hold every wrong pixel (borders())

    @property
    def ok(self) -> bool:
        return self.wrong == 0

    def pattern(self) -> str:
        def span(v: list[int], n_all: int, what: str) -> str:
            if len(v) == n_all:
                return f"all {what}"
            shown = ", ".join(map(str, v[:16])) + (", ..." if len(v) > 16 else "")
            return f"{what} {shown}"

        b = self.border
        # the border bands say it when the wrong pixels lie along two or three edges (the last row
        # and the last column: the plain lists would say "all rows; all columns")
        if b is not None and sum(map(bool, b.depth.values())) > 1:
            where = [f"{b.text()} only ({b.edges()} border of the image, {b.pixels} of {b.total} pixels)"]
        else:
            where = [span(self.rows, self._n[1], self._axes[1] + "s"), span(self.cols, self._n[2], self._axes[2] + "s")]
        return "; ".join([span(self.channels, self._n[0], "channels"), *where])

    _n: tuple[int, int, int] = (0, 0, 0)
    # what the three axes are: an image's, or a token tensor's (tokens as the rows of a one-column image)
    _axes: tuple[str, str, str] = ("channel", "row", "column")

    def report(self, limit: int = 10) -> str:
        if self.ok:
            return f"{self.layer}: all {self.total} outputs equal"
        lines = [
            f"{self.layer}: {self.wrong} of {self.total} outputs wrong ({self.wrong / self.total:.2%}), "
            f"max |diff| {self.max_abs_diff}",
            f"  pattern: {self.pattern()}",
            f"  first wrong elements ({', '.join(self._axes)}): expected, got",
        ]
        for c, y, x, e, g in self.first[:limit]:
            lines.append(f"    [{c}, {y}, {x}]: expected {e}, got {g}")
        return "\n".join(lines)


def as_chw(a: NDArray[np.integer]) -> NDArray[np.int64]:
    """An output as int64 [C, H, W] as the engine computes it: an fc's [C] as [C, 1, 1], a
    transformer's [T, C] token tensor as the one-column image [C, T, 1] (hexgen.rules.engine_shapes)."""
    a = np.asarray(a, np.int64)
    if a.ndim == 2:
        return a.T[:, :, None]
    return a.reshape(a.shape[0], 1, 1) if a.ndim == 1 else a


def token_rows(a: NDArray[Any], layout: Any) -> NDArray[Any]:
    """A token tensor with leading axes, [.., T, C] (its layout has a "t" dim: a matmul's heads), as
    [rows, C]: the heads' tokens one after another, as the engine's runs take them, so that as_chw
    makes it the one-column image the engine computed; any other array as it is."""
    a = np.asarray(a)
    return a.reshape(-1, a.shape[-1]) if "t" in layout.dims and a.ndim > 2 else a


def chw_as(a: NDArray[np.integer], shape: tuple[int, ...]) -> NDArray[np.int64]:
    """The inverse of as_chw: an [C, H, W] array back in the output's own shape."""
    a = np.asarray(a, np.int64)
    return a[:, :, 0].T.reshape(shape) if len(shape) == 2 else a.reshape(shape)


def compare(layer: str, expected: NDArray[np.integer], got: NDArray[np.integer]) -> Mismatch:
    """expected, got: [C, H, W] (or [C] for fc, or a transformer's [T, C] token tensor: compared as
    the one-column image [C, T, 1] the engine computes, its rows named tokens), integer arrays of one
    image."""
    e = np.asarray(expected, dtype=np.int64)
    g = np.asarray(got, dtype=np.int64)
    if e.shape != g.shape:
        raise ValueError(f"{layer}: expected shape {e.shape} but the RTL output decodes to {g.shape}")
    e3, g3 = as_chw(e), as_chw(g)
    bad = e3 != g3
    m = Mismatch(layer, int(e3.size), int(bad.sum()))
    m._n = (e3.shape[0], e3.shape[1], e3.shape[2])
    if e.ndim == 2:
        m._axes = ("channel", "token", "column")
    if m.wrong:
        idx = np.argwhere(bad)
        m.first = [(int(c), int(y), int(x), int(e3[c, y, x]), int(g3[c, y, x])) for c, y, x in idx[:50]]
        m.channels = sorted({int(c) for c in idx[:, 0]})
        m.rows = sorted({int(y) for y in idx[:, 1]})
        m.cols = sorted({int(x) for x in idx[:, 2]})
        m.max_abs_diff = int(np.abs(e3 - g3).max())
        m.border = borders(bad.any(axis=0))
    return m


def write_results(job: dict[str, Any], results: Any) -> None:
    """The job's results file, whole or not at all (a temporary file renamed): a full disk or a kill
    mid-write must not leave half a JSON for tb.layer_sim to read."""
    path = Path(job["results"])
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=1))
    tmp.replace(path)
