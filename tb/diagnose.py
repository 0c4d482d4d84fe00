"""Mismatch classifier: which simple cause explains a failing layer's wrong output elements.

Each hypothesis is tested against golden's output and the RTL's, with the tensors a fault could
have produced instead (the layer's input, the previous layer's output, the output region before
the run) and golden's accumulators and requantisation fields, and reported with the number of
wrong elements it explains, in plain words:

    RTL (c, y, x) = golden (c, y, x+1) for 1110 of 1110 wrong elements: the input or output
    pixel address is off by one column

Geometry (which k_tile, pixel tile, MAC-array row and column, memory word and lane an element
belongs to) comes from the array size and from hexgen's output layout (`untile` of storage
positions), never from a formula of its own. Pure functions, no simulator: tb.layer_sim calls
`diagnose` on a failing layer (through tb/failure.py, which adds where each wrong element belongs
and reads the context from the memory image); tests/test_diagnose.py on synthetic faults,
tests/test_diagnose_sim.py on real RTL faults (the MUT_SELECT build).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from hexgen.rules import KIND_CODES
from hexgen.rules import VECTOR_KINDS as VECTOR_KIND_CODES
from tb.compare import as_chw  # noqa: F401  (the diagnosis's arrays; tb.failure imports it from here)

IntArray = NDArray[np.int64]
#: a hypothesis is reported when it explains at least this fraction of the wrong elements
REPORT_FRACTION = 0.5
#: the order of findings that explain as many elements, most specific first
#: (a clamp and one LSB below the other causes: activations put many values at a bound, and many
#: faults are that small; the confinements, which say where but not why, last)
SPECIFIC = ("xz", "dilation", "table_offset", "reciprocal", "exp_entry", "input_channel_shift", "input_shift", "shift", "lane_swap", "stale_k_tile", "stale_pixel_tile", "channel_shift",
            "channel_permutation", "never_written", "equals_input", "equals_previous", "offset_per_channel",
            "factor_per_channel", "edge", "value_range", "clamp", "lsb", "k_tile", "pixel_tile", "pe_row",
            "pe_column", "word_range")
#: a pattern of values or places is reported only when chance would give it less often than this
#: (each wrong element falling there independently, at the rate the whole output does)
CHANCE = 1e-4
#: layer kinds the vector unit runs (rtl/vec_unit.sv; hexgen.rules, the engine's rule book): no MAC
#: array, no requantizer, no pixel tiles
VECTOR_KINDS = tuple(k for k, code in KIND_CODES.items() if code in VECTOR_KIND_CODES)
#: layer kinds the row unit runs (rtl/row_unit.sv): words and lanes of memory, no MAC array either
ROW_KINDS = ("softmax", "layernorm")


@dataclass(frozen=True)
class Requant:
    """Golden's requantiser inputs for the layer, per output element and channel."""

    acc: IntArray   # [C, H, W] int32 accumulators, bias included
    m0: IntArray    # [C]
    n: IntArray     # [C]
    z_out: int
    lo: int
    hi: int
    bias: IntArray | None = None  # [C] the bias term inside acc


@dataclass
class Context:
    """What a fault could have produced instead of golden's output; None when unknown."""

    rows: int                            # channels of a k_tile (array rows, lanes of a word)
    cols: int                            # output pixels of a pixel tile (array columns)
    layer_input: IntArray | None = None  # [C, H, W] the layer's input
    previous: IntArray | None = None     # the previous layer's output, in network order
    initial: IntArray | None = None      # the output region's contents before the run
    xz: NDArray[np.bool_] | None = None  # elements of words read back as X/Z
    word: IntArray | None = None         # [C, H, W] memory word (from the segment base) of each element
    lane: IntArray | None = None         # [C, H, W] lane of that word
    requant: Requant | None = None
    #: golden's output of the layer on another input ([C, H, W] -> [C, H, W]), for input hypotheses
    recompute: Callable[[IntArray], IntArray] | None = None
    #: the layer's kind (golden's: conv, depthwise, pointwise, fc, add, maxpool, avgpool; "" unknown)
    kind: str = ""
    #: the layer's padding (top, bottom, left, right), None when unknown or none
    pads: tuple[int, int, int, int] | None = None
    #: a table lookup's 256 output codes (a GELU: out = table[q], q the layer's input), for the
    #: hypothesis that the table was read, or written, some entries off
    table: IntArray | None = None
    #: the layer ran on our engine (its MAC array and vector unit are where elements belong); a
    #: target's elements are located by output word and lane only
    on_engine: bool = True
    #: a conv's dilation (y, x), and golden's output of the layer at another dilation on the same
    #: input (None: not a conv with a window, or unknown), for the tap-spacing hypothesis
    dilation: tuple[int, int] | None = None
    at_dilation: Callable[[tuple[int, int]], IntArray] | None = None
    #: a softmax or LayerNorm: golden's output with every row's reciprocal (softmax R = D // S,
    #: LayerNorm Rr = (2^48 - 1) // r) off by delta, for the hypothesis that the unit's division is
    at_reciprocal: Callable[[int], IntArray] | None = None
    #: a softmax: golden's output with exp table entry j off by delta, and the entries its rows use
    #: (d = max - q), for the hypothesis of a wrong exp constant
    at_exp_entry: Callable[[int, int], IntArray] | None = None
    exp_entries: IntArray | None = None  # [C, H, W] each element's d (as the output)

    @property
    def vector(self) -> bool:
        """The layer runs on the vector unit or the row unit (their lanes and words), not the MAC array."""
        return self.kind in VECTOR_KINDS + ROW_KINDS


@dataclass(frozen=True)
class Finding:
    kind: str
    explained: int
    wrong: int
    text: str

    @property
    def fraction(self) -> float:
        return self.explained / self.wrong if self.wrong else 0.0

    def line(self) -> str:
        return f"{self.text} ({self.explained} of {self.wrong} wrong elements)"


def diagnose(expected: NDArray[np.integer], got: NDArray[np.integer], ctx: Context) -> list[Finding]:
    """The hypotheses that explain at least REPORT_FRACTION of the wrong elements (confinements:
    all of them), most explaining first. Empty when nothing is wrong or nothing fits."""
    e, g = as_chw(expected), as_chw(got)
    wrong = e != g
    if ctx.xz is not None:
        wrong = wrong | as_chw(ctx.xz).astype(bool)
    n = int(wrong.sum())
    if not n:
        return []
    found: list[Finding] = []
    for h in (_xz, _dilation, _shift, _input_shift, _input_channels, _channels, _stale_pixel_tile, _equal_tensor, _table, _reciprocal,
              _exp_entry, _offset, _factor, _lsb, _clamp, _value_range, _edge):
        found += [f for f in h(e, g, wrong, n, ctx) if f.fraction >= REPORT_FRACTION]
    # most explaining first, confinements among them (a line that explains every wrong element comes
    # before one that explains 97%); on a tie the more specific (SPECIFIC)
    found += _confined(e, wrong, n, ctx)
    found.sort(key=lambda f: (-f.explained, SPECIFIC.index(f.kind) if f.kind in SPECIFIC else len(SPECIFIC)))
    return found


def shown(findings: list[Finding], limit: int = 4) -> list[Finding]:
    """The findings a report prints: the first `limit`, and every one that explains every wrong
    element even past the limit (such a line is never cut)."""
    return [f for i, f in enumerate(findings) if i < limit or f.explained == f.wrong]


def report(findings: list[Finding], limit: int = 4) -> str:
    if not findings:
        return "  diagnosis: no single simple cause explains the wrong elements"
    return "\n".join(["  diagnosis:"] + [f"    {f.line()}" for f in shown(findings, limit)])


# ---- hypotheses ----------------------------------------------------------------------------------
def _xz(e: IntArray, g: IntArray, wrong: NDArray[np.bool_], n: int, ctx: Context) -> list[Finding]:
    if ctx.xz is None or not np.any(ctx.xz):
        return []
    xz = as_chw(ctx.xz).astype(bool)
    words = len(np.unique(ctx.word[xz])) if ctx.word is not None else None
    where = f" in {words} output word(s)" if words is not None else ""
    return [Finding("xz", int((wrong & xz).sum()), n, f"X/Z read back{where}: a bit never driven or never reset")]


def _shifted(a: IntArray, dc: int, dy: int, dx: int) -> tuple[IntArray, NDArray[np.bool_]]:
    """a[c + dc, y + dy, x + dx] at every (c, y, x), and where that index is inside a."""
    out = np.zeros_like(a)
    ok = np.zeros(a.shape, bool)
    C, H, W = a.shape
    cs, ys, xs = slice(max(0, -dc), min(C, C - dc)), slice(max(0, -dy), min(H, H - dy)), slice(max(0, -dx), min(W, W - dx))
    src = (slice(cs.start + dc, cs.stop + dc), slice(ys.start + dy, ys.stop + dy), slice(xs.start + dx, xs.stop + dx))
    if cs.start < cs.stop and ys.start < ys.stop and xs.start < xs.stop:
        out[cs, ys, xs] = a[src]
        ok[cs, ys, xs] = True
    return out, ok


def _offset_text(d: int, what: str) -> str:
    if d == 0:
        return ""
    return f"{what}{'+' if d > 0 else '-'}{abs(d)}"


def _shift(e: IntArray, g: IntArray, wrong: NDArray[np.bool_], n: int, ctx: Context) -> list[Finding]:
    _, H, W = e.shape
    if H * W == 1:
        return []
    best = (0, 0, 0)
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            if (dy, dx) == (0, 0):
                continue
            s, ok = _shifted(e, 0, dy, dx)
            k = int((wrong & ok & (g == s)).sum())
            if k > best[0]:
                best = (k, dy, dx)
    k, dy, dx = best
    # the same in raster order (pixel p = y * W + x), where a shift runs on into the next row
    C = e.shape[0]
    fe, fg, fw = e.reshape(C, -1), g.reshape(C, -1), wrong.reshape(C, -1)
    flat = max(((int((fw[:, :-d] & (fg[:, :-d] == fe[:, d:])).sum()), d) for d in (1, 2) if d < H * W), default=(0, 0))
    if flat[0] > k and flat[0]:
        d = flat[1]
        return [Finding("shift", flat[0], n, f"RTL pixel p = golden pixel p+{d} in raster order ((c, y, x+{d}), on into "
                                             f"the next row): the input or output pixel address is off by {d}")]
    if not k:
        return []
    idx = ", ".join(["c", "y" + _offset_text(dy, ""), "x" + _offset_text(dx, "")])
    parts = [f"{abs(v)} {w}{'s' if abs(v) > 1 else ''}" for v, w in ((dy, "row"), (dx, "column")) if v]
    return [Finding("shift", k, n, f"RTL (c, y, x) = golden ({idx}): the input or output pixel address is off by "
                                   f"{' and '.join(parts)}")]


def _input_shift(e: IntArray, g: IntArray, wrong: NDArray[np.bool_], n: int, ctx: Context) -> list[Finding]:
    """Golden on the layer's input read one pixel off (in raster order, as an address one word
    off reads it; the last pixels read what follows, taken as the image's own first ones)."""
    x = ctx.layer_input
    if ctx.recompute is None or x is None or x.shape[1] * x.shape[2] < 2:
        return []
    if any(f.fraction >= REPORT_FRACTION for f in _shift(e, g, wrong, n, ctx)):
        return []  # the output shift says it (and a shifted input of a 1x1 conv is the same thing)
    C, H, W = x.shape
    best = (0, 0)
    for d in (1, -1, W, -W):
        if abs(d) >= H * W or (abs(d) == W and H < 2):
            continue
        xs = np.roll(x.reshape(C, -1), -d, axis=1).reshape(x.shape)
        k = int((wrong & (g == as_chw(ctx.recompute(xs)))).sum())
        if k > best[0]:
            best = (k, d)
    k, d = best
    if not k:
        return []
    what = f"x{d:+d}" if abs(d) == 1 else f"y{d // W:+d}"
    return [Finding("input_shift", k, n, f"RTL = golden on the input read at (c, y, x) -> ({'c, y, ' + what if abs(d) == 1 else 'c, ' + what + ', x'}): "
                                         "the input pixel address is off by one " + ("column" if abs(d) == 1 else "row"))]


def _dilation(e: IntArray, g: IntArray, wrong: NDArray[np.bool_], n: int, ctx: Context) -> list[Finding]:
    """Golden at another dilation (the taps one more or one less apart along an axis, not dilated,
    or the axes swapped) on the same input: a tap spacing the engine took wrong (DIL_Y / DIL_X).
    Another dilation gives another output size: the elements both have are compared."""
    if ctx.at_dilation is None or ctx.dilation is None:
        return []
    dy, dx = ctx.dilation
    tries = {(1, 1), (dy + 1, dx), (dy, dx + 1), (dx, dy), (max(1, dy - 1), dx), (dy, max(1, dx - 1))} - {(dy, dx)}
    best: tuple[int, tuple[int, int]] = (0, (dy, dx))
    for d in sorted(tries):
        try:
            other = ctx.at_dilation(d)
        except Exception:  # a dilation the input is too small for: no hypothesis there
            continue
        h, w = min(other.shape[1], g.shape[1]), min(other.shape[2], g.shape[2])
        k = int((wrong[:, :h, :w] & (g[:, :h, :w] == other[:, :h, :w])).sum())
        if k > best[0]:
            best = (k, d)
    k, d = best
    if not k:
        return []
    return [Finding("dilation", k, n, f"RTL = golden at dilation {d[0]}x{d[1]}, the layer's is {dy}x{dx}: the window's taps "
                                      "are read that far apart (the tap spacing, DIL_Y / DIL_X)")]


def _input_channels(e: IntArray, g: IntArray, wrong: NDArray[np.bool_], n: int, ctx: Context) -> list[Finding]:
    """Golden on the layer's input with its channels shifted (by whole channel tiles or a few
    channels): an input tensor placed off, as a concat input written at another channel offset is."""
    x = ctx.layer_input
    if ctx.recompute is None or x is None or x.shape[0] < 2:
        return []
    C = x.shape[0]
    best = (0, 0)
    for dc in sorted({d for r in (1, 2, ctx.rows, 2 * ctx.rows) if r < C for d in (r, -r)}):
        k = int((wrong & (g == as_chw(ctx.recompute(np.roll(x, dc, axis=0))))).sum())
        if k > best[0]:
            best = (k, dc)
    k, dc = best
    if not k:
        return []
    return [Finding("input_channel_shift", k, n, f"RTL = golden on its input with channel c read as c{-dc:+d}: an input "
                                                 f"placed {abs(dc)} channel(s) off (a concat input's channel offset, or "
                                                 "the input channel address)")]


def _channels(e: IntArray, g: IntArray, wrong: NDArray[np.bool_], n: int, ctx: Context) -> list[Finding]:
    """A channel shift (the previous k_tile's outputs when it is one k_tile back), or a
    permutation of channels, within a word's lanes when every channel stays in its word."""
    C = e.shape[0]
    if C < 2:
        return []
    out: list[Finding] = []
    best = (0, 0)
    for dc in [d for r in range(1, min(C, 2 * ctx.rows + 1)) for d in (-r, r)]:
        s, ok = _shifted(e, dc, 0, 0)
        k = int((wrong & ok & (g == s)).sum())
        if k > best[0]:
            best = (k, dc)
    k, dc = best
    if k:
        text = (f"RTL channel c = golden channel c{_offset_text(dc, '')}: "
                + ("the previous k_tile's outputs (stale data)" if dc == -ctx.rows else "a channel index off by " + str(abs(dc))))
        out.append(Finding("stale_k_tile" if dc == -ctx.rows else "channel_shift", k, n, text))
    # any permutation: each wrong channel equal to some other channel of golden
    flat_e, flat_g = e.reshape(C, -1), g.reshape(C, -1)
    bad_ch = np.flatnonzero(wrong.reshape(C, -1).any(1))
    mapping: dict[int, int] = {}
    for c in bad_ch:
        same = np.flatnonzero((flat_e == flat_g[c]).all(1))
        same = same[same != c]
        if same.size:
            mapping[int(c)] = int(same[np.argmin(np.abs(same - c))])
    if mapping:
        k = int(wrong[list(mapping)].sum())
        in_word = all(a // ctx.rows == b // ctx.rows for a, b in mapping.items())
        lanes = sorted({(a % ctx.rows, b % ctx.rows) for a, b in mapping.items()})
        pairs = ", ".join(f"{a}<-{b}" for a, b in lanes[:6]) + (", ..." if len(lanes) > 6 else "")
        if in_word:
            out.append(Finding("lane_swap", k, n, f"lanes of a word exchanged (RTL lane <- golden lane: {pairs}): "
                                                  "a byte order or lane index in the datapath"))
        elif not (out and out[0].explained >= k):
            shown = ", ".join(f"{a}<-{b}" for a, b in list(mapping.items())[:6])
            out.append(Finding("channel_permutation", k, n, f"channels permuted (RTL <- golden: {shown}): a channel "
                                                            "or k_tile index"))
    return out


def _stale_pixel_tile(e: IntArray, g: IntArray, wrong: NDArray[np.bool_], n: int, ctx: Context) -> list[Finding]:
    C, H, W = e.shape
    if H * W <= ctx.cols:
        return []
    fe, fg, fw = e.reshape(C, -1), g.reshape(C, -1), wrong.reshape(C, -1)
    k = int((fw[:, ctx.cols:] & (fg[:, ctx.cols:] == fe[:, :-ctx.cols])).sum())
    return [Finding("stale_pixel_tile", k, n, f"RTL pixel p = golden pixel p-{ctx.cols}: the previous pixel tile's "
                                              "outputs (stale data)")] if k else []


def _equal_tensor(e: IntArray, g: IntArray, wrong: NDArray[np.bool_], n: int, ctx: Context) -> list[Finding]:
    out = []
    for kind, t, what in (("never_written", ctx.initial, "the output region's contents before the run: memory never written"),
                          ("equals_input", ctx.layer_input, "the layer's input"),
                          ("equals_previous", ctx.previous, "the previous layer's output")):
        if t is None or as_chw(t).shape != e.shape:
            continue
        k = int((wrong & (g == as_chw(t))).sum())
        if k:
            out.append(Finding(kind, k, n, f"RTL values equal {what}"))
    return out


#: table offsets the lookup hypothesis tries: an entry or a word of entries off either way
TABLE_OFFSETS = range(-32, 33)


def _table(e: IntArray, g: IntArray, wrong: NDArray[np.bool_], n: int, ctx: Context) -> list[Finding]:
    """A table lookup (GELU) whose RTL values are the table's entries k away from the input code's:
    a table address off by k when read, or the table written k entries off (k = a word's lanes:
    one write a word off). Entries past either end are out of the table (never matched)."""
    if ctx.table is None or ctx.layer_input is None or as_chw(ctx.layer_input).shape != e.shape:
        return []
    q = as_chw(ctx.layer_input)
    table = np.asarray(ctx.table, np.int64)
    best, best_k = 0, 0
    for k in TABLE_OFFSETS:
        if k == 0:
            continue
        idx = q + k
        inside = (idx >= 0) & (idx < len(table))
        hit = int((wrong & inside & (g == table[np.clip(idx, 0, len(table) - 1)])).sum())
        if hit > best:
            best, best_k = hit, k
    if not best:
        return []
    return [Finding("table_offset", best, n, f"RTL = the table's entry {best_k:+d} from the input code's (table[q {'+' if best_k > 0 else '-'} "
                                              f"{abs(best_k)}]): the table read or written {abs(best_k)} entries off")]


#: reciprocal offsets tried: off by one (a division's last step), and by +-2^k (a bit of it stuck or
#: dropped; a LayerNorm's Rr ~ 2^25 hides an offset below ~2^8 at its outputs)
RECIPROCAL_DELTAS = tuple(s * (1 << k) for k in range(25) for s in (1, -1))
#: exp table entries tried: those most over-represented among the wrong elements' d (a changed
#: entry moves its own elements and, through S, their rows), each off by +-2^k
EXP_CANDIDATES = 3
EXP_DELTAS = tuple(s * (1 << k) for k in range(21) for s in (1, -1))


def _reciprocal(e: IntArray, g: IntArray, wrong: NDArray[np.bool_], n: int, ctx: Context) -> list[Finding]:
    """A softmax's or LayerNorm's RTL values are golden's with each row's reciprocal off by delta:
    the unit's one division per row (softmax R = D // S, LayerNorm Rr = (2^48 - 1) // r)."""
    if ctx.at_reciprocal is None:
        return []
    best, best_d = 0, 0
    for d in RECIPROCAL_DELTAS:
        try:
            with np.errstate(all="ignore"):
                alt = ctx.at_reciprocal(d)
        except (ValueError, ArithmeticError):
            continue
        if alt.shape != g.shape:
            continue
        hit = int((wrong & (g == alt)).sum())
        if hit > best:
            best, best_d = hit, d
        if hit == n:
            break
    if not best:
        return []
    what = "R = D // S" if ctx.kind == "softmax" else "Rr = (2^48 - 1) // r"
    return [Finding("reciprocal", best, n, f"RTL = golden with every row's reciprocal {best_d:+d} ({what}): the "
                                           f"{ctx.kind} unit's division off by {abs(best_d)}")]


def _exp_entry(e: IntArray, g: IntArray, wrong: NDArray[np.bool_], n: int, ctx: Context) -> list[Finding]:
    """A softmax's RTL values are golden's with one entry j of its exp table off by delta (a wrong
    exp constant): tried for the entries the wrong elements use most, against how often every
    element uses them."""
    if ctx.at_exp_entry is None or ctx.exp_entries is None or ctx.exp_entries.shape != g.shape:
        return []
    d = ctx.exp_entries
    all_n = np.bincount(d.reshape(-1), minlength=256)
    wrong_n = np.bincount(d[wrong].reshape(-1), minlength=256)
    ratio = np.where(all_n > 0, wrong_n / np.maximum(all_n, 1), 0.0)
    best, best_j, best_d = 0, 0, 0
    for j in np.argsort(-ratio, kind="stable")[:EXP_CANDIDATES]:
        if not wrong_n[j]:
            continue
        for delta in EXP_DELTAS:
            try:
                with np.errstate(all="ignore"):  # an entry 0 of 0: a row's S may be 0 (no such hypothesis holds)
                    alt = ctx.at_exp_entry(int(j), delta)
            except (ValueError, ArithmeticError):
                continue
            hit = int((wrong & (g == alt)).sum())
            if hit > best:
                best, best_j, best_d = hit, int(j), delta
            if hit == n:
                break
        if best == n:
            break
    if not best:
        return []
    return [Finding("exp_entry", best, n, f"RTL = golden with exp table entry {best_j} {best_d:+d} (the codes {best_j} below "
                                          f"their row's max): a wrong exp constant in the softmax unit's table")]


def _lsb(e: IntArray, g: IntArray, wrong: NDArray[np.bool_], n: int, ctx: Context) -> list[Finding]:
    one = wrong & (np.abs(g - e) == 1)
    k = int(one.sum())
    if not k:
        return []
    up = int((one & (g > e)).sum())
    text = f"off by one LSB only ({up} up, {k - up} down): rounding"
    rq = ctx.requant
    if rq is not None:
        prod = rq.acc * rq.m0.reshape(-1, 1, 1)
        half = np.left_shift(np.int64(1), rq.n.reshape(-1, 1, 1) - 1)
        rem = np.mod(prod, 2 * half)
        ties = int((one & (rem == half)).sum())
        text += (f"; {ties} of them at an exact tie (the rounding of .5)" if ties else
                 "; none at an exact tie: the rounding constant or the shift, not the tie rule")
    return [Finding("lsb", k, n, text)]


def _clamp(e: IntArray, g: IntArray, wrong: NDArray[np.bool_], n: int, ctx: Context) -> list[Finding]:
    rq = ctx.requant
    if rq is None:
        return []
    at = wrong & ((e == rq.lo) | (e == rq.hi) | (g == rq.lo) | (g == rq.hi))
    k = int(at.sum())
    if k < 0.95 * n:  # activations put many values at a bound: only a (nearly) complete match says it
        return []
    return [Finding("clamp", k, n, f"wrong only where golden or the RTL is at a clamp bound ({rq.lo}, {rq.hi}): the "
                                   "clamp or the activation")] if k else []


def _value_range(e: IntArray, g: IntArray, wrong: NDArray[np.bool_], n: int, ctx: Context) -> list[Finding]:
    """Every wrong element has golden's byte at 128 or more (its top bit set), over several values,
    and the RTL's below 128 in most of them, while the output's values below 128 (a good part of
    it) are right: a byte taken as signed somewhere (a compare, a sign extension), which only bytes
    from 128 up can show."""
    top = wrong & (e >= 128)
    k = int(top.sum())
    low = e < 128
    if k < 0.95 * n or low.sum() < max(8, 0.1 * e.size) or len(np.unique(e[top])) < 4:
        return []
    if (1 - low.mean()) ** k >= CHANCE:  # a few wrong elements all >= 128 by chance
        return []
    below = int((top & (g < 128)).sum())
    if below < k / 2:  # a byte taken as signed reads smaller: the RTL's value falls below 128
        return []
    return [Finding("value_range", k, n, f"every wrong element has expected >= 128 (golden's byte with its top bit "
                                         f"set; the RTL's value is below 128 in {below} of them), every expected "
                                         "value below 128 is right: bytes compared or extended as signed")]


def _edge(e: IntArray, g: IntArray, wrong: NDArray[np.bool_], n: int, ctx: Context) -> list[Finding]:
    """Every wrong pixel lies in the border bands of one to three edges of the image (a strict part
    of it, tb.compare.borders): where the window reaches into the padding on those sides."""
    from tb.compare import borders

    b = borders(wrong.any(axis=0))
    if b is None or all(b.depth.values()):
        return []
    if (b.pixels / b.total) ** int(wrong.any(axis=0).sum()) >= CHANCE:  # a few wrong pixels there by chance
        return []
    edges = b.edges()
    if ctx.pads is not None:
        top, bottom, left, right = ctx.pads
        pad = {"top": top, "bottom": bottom, "left": left, "right": right}
        padded = [s for s, d in b.depth.items() if d and pad[s]]
        if len(padded) == sum(1 for d in b.depth.values() if d):
            others = [s for s, d in b.depth.items() if not d and pad[s]]
            right = ", ".join(others[:-1]) + (" and " if len(others) > 1 else "") + (others[-1] if others else "")
            cause = (f"the padding on the {edges} side{'s' if ' and ' in edges else ''} only (its value, or where "
                     f"it starts){'; the ' + right + ' padding is right' if others else ''}")
        else:
            cause = f"the window's bound or the image size at the {edges} edge (the layer has no padding there)"
    else:
        cause = f"the padding on the {edges} side{'s' if ' and ' in edges else ''} (its value, or where it starts) " \
                "or the window's bound there"
    return [Finding("edge", n, n, f"confined to the {b.text()} ({edges} border of the image, {b.pixels} of "
                                  f"{b.total} pixels): {cause}")]


def _inside(e: IntArray, g: IntArray, ctx: Context) -> NDArray[np.bool_]:
    """Elements neither side clamped (where an offset or a factor shows undistorted)."""
    if ctx.requant is None:
        return np.ones(e.shape, bool)
    rq = ctx.requant
    return (e > rq.lo) & (e < rq.hi) & (g > rq.lo) & (g < rq.hi)


def acc_bounds(g: IntArray, rq: Requant) -> tuple[IntArray, IntArray]:
    """Per element, the range [L, H] of acc * M0 (acc: the accumulator the requantiser saw) that
    gives the RTL's value: y = ((acc M0 + 2^(n-1)) >> n) + z_out, clamped (a clamped value only
    bounds one side). The inverse of golden.arith.requantize; tests/test_diagnose.py checks the
    two agree at both ends of every range."""
    n = rq.n.reshape(-1, 1, 1)
    step, half = np.left_shift(np.int64(1), n), np.left_shift(np.int64(1), n - 1)
    v = g - rq.z_out
    lo_b = np.where(g <= rq.lo, np.iinfo(np.int64).min // 4, v * step - half)
    hi_b = np.where(g >= rq.hi, np.iinfo(np.int64).max // 4, (v + 1) * step - half - 1)
    return lo_b, hi_b


def _per_channel(e: IntArray, wrong: NDArray[np.bool_]) -> IntArray:
    return np.flatnonzero(wrong.reshape(e.shape[0], -1).any(1))


def _offset(e: IntArray, g: IntArray, wrong: NDArray[np.bool_], n: int, ctx: Context) -> list[Finding]:
    """One accumulator offset per channel that gives every value of the channel (a zero point or a
    bias term); without golden's requantiser fields, a constant output offset (within one LSB)."""
    rq = ctx.requant
    k, shown = 0, []
    frac: tuple[float, float] | None = None  # the offsets, in output LSBs, that every such channel allows
    for c in _per_channel(e, wrong):
        if rq is not None:
            lo_b, hi_b = acc_bounds(g[c:c + 1], Requant(rq.acc[c:c + 1], rq.m0[c:c + 1], rq.n[c:c + 1], rq.z_out, rq.lo, rq.hi))
            m0 = int(rq.m0[c])
            if m0 <= 0:
                continue
            # acc' = acc + d with acc' M0 in [L, H] for every element: d in [ceil(L/M0) - acc, floor(H/M0) - acc]
            d_lo = int(np.max(-((-lo_b) // m0) - rq.acc[c]))
            d_hi = int(np.min(hi_b // m0 - rq.acc[c]))
            if d_lo > d_hi:
                continue
            lsb = float(1 << int(rq.n[c]))
            frac = (frac[0] if frac else -np.inf, frac[1] if frac else np.inf)
            # (widened by one accumulator step: a product offset need not be a multiple of M0)
            frac = (max(frac[0], (d_lo - 1) * m0 / lsb), min(frac[1], (d_hi + 1) * m0 / lsb))
            k += int(wrong[c].sum())
            shown.append(f"{int(c)}: {d_lo:+d}" if d_lo == d_hi else f"{int(c)}: {d_lo:+d}..{d_hi:+d}")
        else:
            inside = _inside(e, g, ctx)[c] & wrong[c]
            if not inside.any():
                continue
            med = int(np.median((g - e)[c][inside]))
            if abs(med) < 2:  # one LSB is the rounding hypothesis's
                continue
            k += int((wrong[c] & (np.abs((g - e)[c] - med) <= 1)).sum())
            shown.append(f"{int(c)}: {med:+d}")
    if frac is not None and frac[0] <= frac[1] and -1 < frac[0] and frac[1] < 1:
        return []  # one offset below an LSB fits every channel: the rounding constant (the one-LSB hypothesis)
    where = "in the accumulator" if rq is not None else "in the output, within one LSB"
    return [Finding("offset_per_channel", k, n, f"a constant offset per channel {where} (channel: offset "
                                                + ", ".join(shown[:6]) + (", ..." if len(shown) > 6 else "")
                                                + "): a zero point or a bias term")] if k else []


def _factor(e: IntArray, g: IntArray, wrong: NDArray[np.bool_], n: int, ctx: Context) -> list[Finding]:
    """One multiplier per channel that gives every value of the channel from golden's accumulators
    (M0, or the shift when it is M0 times a power of two)."""
    rq = ctx.requant
    if rq is None:
        return []
    k, shown = 0, []
    for c in _per_channel(e, wrong):
        lo_b, hi_b = acc_bounds(g[c:c + 1], Requant(rq.acc[c:c + 1], rq.m0[c:c + 1], rq.n[c:c + 1], rq.z_out, rq.lo, rq.hi))
        a, lb, hb = rq.acc[c].reshape(-1), lo_b.reshape(-1), hi_b.reshape(-1)
        pos, neg = a > 0, a < 0
        if pos.sum() + neg.sum() < 2:
            continue
        # M0' a in [L, H]: a > 0: M0' in [ceil(L/a), floor(H/a)]; a < 0: [ceil(H/a), floor(L/a)]
        lows = np.concatenate([-((-lb[pos]) // a[pos]), -((-hb[neg]) // a[neg])])
        highs = np.concatenate([hb[pos] // a[pos], lb[neg] // a[neg]])
        m_lo, m_hi = max(int(lows.max()), 0), int(highs.min())
        zero_ok = bool(np.all((lb[a == 0] <= 0) & (hb[a == 0] >= 0)))
        if m_lo > m_hi or not zero_ok:
            continue
        k += int(wrong[c].sum())
        ratio = m_lo / int(rq.m0[c]) if rq.m0[c] else float("inf")
        shown.append(f"{int(c)}: M0 x{ratio:.3g}")
    return [Finding("factor_per_channel", k, n, "one multiplier per channel gives every value (channel: "
                                                + ", ".join(shown[:6]) + (", ..." if len(shown) > 6 else "")
                                                + "): M0 or the shift")] if k else []


def _confined(e: IntArray, wrong: NDArray[np.bool_], n: int, ctx: Context) -> list[Finding]:
    """Where the wrong elements all lie, when that is a strict part of the output."""
    C, H, W = e.shape
    c_idx, p_idx = np.nonzero(wrong.reshape(C, -1))
    out: list[Finding] = []

    def one(kind: str, values: IntArray, total: int, text: str) -> None:
        vals = np.unique(values)
        if total > 1 and len(vals) == 1:
            out.append(Finding(kind, n, n, text.format(int(vals[0]))))

    if ctx.vector:  # the vector unit works on words (a channel tile of one pixel), lane by lane
        one("k_tile", c_idx // ctx.rows, -(-C // ctx.rows), "confined to channel tile {} (the vector unit's words of "
                                                            "one tile of channels)")
        one("pe_row", c_idx % ctx.rows, min(C, ctx.rows), "confined to vector-unit lane {} (one channel of every word)")
    else:
        one("k_tile", c_idx // ctx.rows, -(-C // ctx.rows), "confined to k_tile {} (output channels of one tile of rows)")
        one("pixel_tile", p_idx // ctx.cols, -(-(H * W) // ctx.cols), "confined to pixel tile {} (output pixels of one "
                                                                        "tile of columns)")
        one("pe_row", c_idx % ctx.rows, min(C, ctx.rows), "confined to MAC-array row {} (one output-channel lane)")
        one("pe_column", p_idx % ctx.cols, min(H * W, ctx.cols), "confined to MAC-array column {} (one output pixel of "
                                                                 "each tile)")
    if ctx.word is not None:
        words = np.unique(ctx.word[wrong])
        total = int(ctx.word.max()) + 1
        if len(words) < total and words[-1] - words[0] + 1 == len(words):
            out.append(Finding("word_range", n, n, f"confined to output memory words {int(words[0])}..{int(words[-1])} "
                                                   f"of {total} (one contiguous range)"))
    return out
