"""The memory layout as data, and the pure functions that apply it.

A `Layout` says how one tensor is cut into tiles and in which order the pieces are stored:

* `dims`/`shape`: the logical tensor, in golden's own axis order (e.g. weights `k, c, ky, kx`).
* `tiles`: the tiled dims and their tile sizes. A tiled dim `d` of size S becomes two storage axes,
  `d_tile` (ceil(S / T) tiles) and `d_lane` (T elements); the last tile is padded with `pad`.
* `order`: the storage loop order of those axes, outermost first. The innermost axis is the
  *vector*: it starts on a word boundary and is padded with `pad` up to a whole number of words.
* `word_aligned` (optional): an axis of `order` from which inward the axes are stored densely as one
  *block* (vectors back to back, several to a word) that starts on a word boundary and is padded
  with `pad` up to a whole number of words. Packed 4- and 2-bit weights use it: a weight vector of
  ROWS x 4 bits is half a word, and each output-channel tile's block starts a word of its own. Left
  empty, the block is the vector alone (the rule above).
* Elements of `elem_bits` bits are packed into words of `word_bits` bits, element i of a word in
  bits [i*elem_bits, (i+1)*elem_bits) (lane 0 in the least significant bits). An element wider than
  a word (a 64-bit record in 32-bit words) spans consecutive words, least significant word first.
  Elements of 2 and 4 bits follow the same rule (a little-endian bit stream).
* Record tensors (bias, scale) store one record per channel; `fields` say where each field sits in
  the record. Their logical array is [channels, fields] int64.

Nothing here touches files (hexgen.memh does). The RTL's address generation is checked against
`element_address`, the scalar form of the same order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from hexgen.errors import LayoutError

ELEM_BITS = (2, 4, 8, 16, 32, 64)
WORD_BITS = (32, 64, 128)
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Field:
    """One field of a record: bits [lsb, lsb + width), two's complement when signed.

    lo/hi: the range the contract allows (checked when encoding; reported when reading)."""

    name: str
    lsb: int
    width: int
    signed: bool
    lo: int
    hi: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "lsb": self.lsb, "width": self.width, "signed": self.signed, "lo": self.lo, "hi": self.hi}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Field":
        return cls(str(d["name"]), int(d["lsb"]), int(d["width"]), bool(d["signed"]), int(d["lo"]), int(d["hi"]))


#: Bias record (64 bits): [31:0] mantissa, two's complement (an int16 mantissa sign-extended, or the
#: int32 bias of bias mode int32); [35:32] left shift sb (0..15); [63:36] zero.
BIAS_FIELDS = (
    Field("mantissa", 0, 32, True, -(2**31), 2**31 - 1),
    Field("shift", 32, 4, False, 0, 15),
)
#: Scale record (64 bits): [30:0] M0 (unsigned, < 2**31); [31] zero; [37:32] n (1..63); [63:38] zero.
SCALE_FIELDS = (
    Field("m0", 0, 31, False, 0, 2**31 - 1),
    Field("n", 32, 6, False, 1, 63),
)
RECORD_BITS = 64


@dataclass(frozen=True)
class Layout:
    """How one tensor is tiled, ordered and packed into memory words (see the module docstring)."""

    dims: tuple[str, ...]
    shape: tuple[int, ...]
    tiles: tuple[tuple[str, int], ...]
    order: tuple[str, ...]
    elem_bits: int
    signed: bool
    pad: int
    word_bits: int
    fields: tuple[Field, ...] = ()
    word_aligned: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "dims", tuple(str(d) for d in self.dims))
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "tiles", tuple((str(d), int(t)) for d, t in self.tiles))
        object.__setattr__(self, "order", tuple(str(a) for a in self.order))
        object.__setattr__(self, "fields", tuple(self.fields))
        if len(self.dims) != len(self.shape) or len(set(self.dims)) != len(self.dims):
            raise LayoutError(f"layout dims {self.dims} and shape {self.shape} do not match")
        if any(s < 0 for s in self.shape):
            raise LayoutError(f"layout shape {self.shape} has a negative size")
        if self.elem_bits not in ELEM_BITS:
            raise LayoutError(f"layout elem_bits={self.elem_bits}: must be one of {ELEM_BITS}")
        if self.word_bits not in WORD_BITS:
            raise LayoutError(f"layout word_bits={self.word_bits}: must be one of {WORD_BITS}")
        for d, t in self.tiles:
            if d not in self.dims:
                raise LayoutError(f"layout tiles dim {d!r}, which is not one of {self.dims}")
            if t < 1:
                raise LayoutError(f"layout tile of {d!r} is {t}; must be >= 1")
        names = [a for a, _ in self.storage_axes]
        if sorted(names) != sorted(self.order):
            raise LayoutError(f"layout order {self.order} is not a permutation of the storage axes {tuple(names)}")
        if self.word_aligned and self.word_aligned not in self.order:
            raise LayoutError(f"layout word_aligned axis {self.word_aligned!r} is not one of {self.order}")
        if self.word_aligned and self.elem_bits > self.word_bits:
            raise LayoutError(f"layout word_aligned={self.word_aligned!r}: {self.elem_bits}-bit elements span words; "
                              "only elements within a word pack into blocks")
        lo, hi = elem_range(self.elem_bits, self.signed)
        if not lo <= self.pad <= hi:
            raise LayoutError(f"layout pad value {self.pad} does not fit a {'signed' if self.signed else 'unsigned'} {self.elem_bits}-bit element")
        if self.fields:
            if self.signed:
                raise LayoutError("a record layout stores unsigned records; signedness belongs to its fields")
            used = 0
            for f in self.fields:
                mask = ((1 << f.width) - 1) << f.lsb
                if f.width < 1 or f.lsb < 0 or f.lsb + f.width > self.elem_bits or used & mask:
                    raise LayoutError(f"record field {f.name} [{f.lsb + f.width - 1}:{f.lsb}] overlaps another or leaves the {self.elem_bits}-bit record")
                used |= mask

    # ---- derived sizes -----------------------------------------------------------------------
    def tile_of(self, dim: str) -> int | None:
        for d, t in self.tiles:
            if d == dim:
                return t
        return None

    @property
    def storage_axes(self) -> tuple[tuple[str, int], ...]:
        """(name, size) of every storage axis, in logical order (before `order` is applied)."""
        out: list[tuple[str, int]] = []
        for d, s in zip(self.dims, self.shape):
            t = self.tile_of(d)
            if t is None:
                out.append((d, s))
            else:
                out += [(f"{d}_tile", -(-s // t)), (f"{d}_lane", t)]
        return tuple(out)

    @property
    def vector_len(self) -> int:
        """Elements of the innermost storage axis (before padding to whole words)."""
        sizes = dict(self.storage_axes)
        return sizes[self.order[-1]] if self.order else 1

    @property
    def vector_elems(self) -> int:
        """Elements one vector occupies: vector_len padded up to a whole number of words (a layout
        without word_aligned)."""
        return self._whole_words(self.vector_len)

    def _whole_words(self, n: int) -> int:
        if self.elem_bits >= self.word_bits:
            return n
        per = self.word_bits // self.elem_bits
        return -(-n // per) * per

    @property
    def block_start(self) -> int:
        """Index in `order` of the outermost axis of the word-aligned block."""
        if not self.order:
            return 0
        return self.order.index(self.word_aligned) if self.word_aligned else len(self.order) - 1

    @property
    def block_len(self) -> int:
        """Elements of one block before padding: the product of the block's axes."""
        sizes = dict(self.storage_axes)
        return math.prod(sizes[a] for a in self.order[self.block_start:])

    @property
    def block_elems(self) -> int:
        """Elements one block occupies: block_len padded up to a whole number of words."""
        return self._whole_words(self.block_len)

    @property
    def block_words(self) -> int:
        return -(-self.block_elems * self.elem_bits // self.word_bits)

    @property
    def outer_shape(self) -> tuple[int, ...]:
        """Sizes of the storage axes outside the block, outermost first."""
        sizes = dict(self.storage_axes)
        return tuple(sizes[a] for a in self.order[: self.block_start])

    @property
    def strides(self) -> tuple[tuple[str, int, int], ...]:
        """(axis, size, stride in elements) of every storage axis, outermost first. An address
        generator computes element = sum(coord * stride); word = element * elem_bits // word_bits.
        Inside the block the axes are dense; the axis outside it steps by the padded block."""
        out: list[tuple[str, int, int]] = []
        sizes = dict(self.storage_axes)
        stride = 1
        for a in reversed(self.order[self.block_start:]):
            out.append((a, sizes[a], stride))
            stride *= sizes[a]
        stride = self.block_elems
        for a in reversed(self.order[: self.block_start]):
            out.append((a, sizes[a], stride))
            stride *= sizes[a]
        return tuple(reversed(out))

    @property
    def elements(self) -> int:
        return math.prod(self.outer_shape) * self.block_elems if self.order else 0

    @property
    def words(self) -> int:
        return -(-self.elements * self.elem_bits // self.word_bits)

    @property
    def logical_shape(self) -> tuple[int, ...]:
        """Shape of the array the user sees: `shape`, plus a fields axis for records."""
        return self.shape + ((len(self.fields),) if self.fields else ())

    def describe(self) -> str:
        """The storage order as text, e.g. `k_tile[2] c_tile[1] ky[3] kx[3] c_lane[8] k_lane[8]`."""
        sizes = dict(self.storage_axes)
        return " ".join(f"{a}[{sizes[a]}]" for a in self.order)

    # ---- serialisation -----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "dims": list(self.dims),
            "shape": list(self.shape),
            "tiles": {k: v for k, v in self.tiles},
            "order": list(self.order),
            "elem_bits": self.elem_bits,
            "signed": self.signed,
            "pad": self.pad,
            "word_bits": self.word_bits,
            "word_aligned": self.order[self.block_start] if self.order else "",
            "block_words": self.block_words,
            "strides": [{"axis": a, "size": n, "stride": st} for a, n, st in self.strides],
            "words": self.words,
            "text": self.describe(),
        }
        if self.fields:
            d["fields"] = [f.to_json() for f in self.fields]
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Layout":
        try:
            return cls(
                dims=tuple(d["dims"]),
                shape=tuple(d["shape"]),
                tiles=tuple((str(k), int(v)) for k, v in dict(d["tiles"]).items()),
                order=tuple(d["order"]),
                elem_bits=int(d["elem_bits"]),
                signed=bool(d["signed"]),
                pad=int(d["pad"]),
                word_bits=int(d["word_bits"]),
                fields=tuple(Field.from_json(f) for f in d.get("fields", ())),
                word_aligned=_aligned_axis(d),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, LayoutError):
                raise
            raise LayoutError(f"malformed layout description {dict(d)!r}: {exc!r}") from exc


def _aligned_axis(d: Mapping[str, Any]) -> str:
    """The word_aligned axis of a layout description: "" when absent or the innermost (the vector)."""
    axis, order = str(d.get("word_aligned", "")), list(d["order"])
    return "" if order and axis == order[-1] else axis


def elem_range(bits: int, signed: bool) -> tuple[int, int]:
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


# ---- element order ---------------------------------------------------------------------------
def _check_logical(x: NDArray[Any], layout: Layout) -> None:
    if tuple(x.shape) != layout.shape:
        raise LayoutError(f"tensor of shape {tuple(x.shape)} does not match its layout's shape {layout.shape}")
    if x.dtype.kind not in "iub":
        raise LayoutError(f"tensor of dtype {x.dtype} is not an integer tensor")


def tile_order(x: NDArray[Any], layout: Layout) -> IntArray:
    """Logical tensor -> its storage elements in memory order (1-D int64, padding included).

    For record layouts, `x` is the encoded records ([channels], see `encode_records`)."""
    x = np.asarray(x)
    _check_logical(x, layout)
    x = x.astype(np.int64)
    pads = []
    split: list[int] = []
    for d, s in zip(layout.dims, layout.shape):
        t = layout.tile_of(d)
        if t is None:
            pads.append((0, 0))
            split.append(s)
        else:
            nt = -(-s // t)
            pads.append((0, nt * t - s))
            split += [nt, t]
    xp = np.pad(x, pads, constant_values=layout.pad) if any(p for _, p in pads) else x
    names = [a for a, _ in layout.storage_axes]
    xt = xp.reshape(split).transpose([names.index(a) for a in layout.order])
    if not xt.ndim:
        return np.ascontiguousarray(xt).reshape(-1)
    xt = np.ascontiguousarray(xt).reshape(layout.outer_shape + (layout.block_len,))
    extra = layout.block_elems - layout.block_len
    if extra:
        xt = np.pad(xt, [(0, 0)] * (xt.ndim - 1) + [(0, extra)], constant_values=layout.pad)
    return np.ascontiguousarray(xt).reshape(-1)


def untile(storage: NDArray[Any], layout: Layout) -> IntArray:
    """Inverse of tile_order: storage elements in memory order -> the logical tensor (padding dropped)."""
    s = np.asarray(storage, dtype=np.int64).reshape(-1)
    if s.size != layout.elements:
        raise LayoutError(f"{s.size} storage elements; the layout holds {layout.elements}")
    names = [a for a, _ in layout.storage_axes]
    sizes = dict(layout.storage_axes)
    if layout.order:
        xt = s.reshape(layout.outer_shape + (layout.block_elems,))[..., : layout.block_len]
        xt = xt.reshape([sizes[a] for a in layout.order])
    else:
        xt = s
    perm = [layout.order.index(a) for a in names]
    xs = xt.transpose(perm)
    padded = [math.prod(size for _, size in _axes_of(layout, d)) for d in layout.dims]
    xp = xs.reshape(padded)
    return np.ascontiguousarray(xp[tuple(slice(0, n) for n in layout.shape)])


def _axes_of(layout: Layout, dim: str) -> list[tuple[str, int]]:
    return [(a, s) for a, s in layout.storage_axes if a == dim or a in (f"{dim}_tile", f"{dim}_lane")]


def padding_mask(layout: Layout) -> NDArray[np.bool_]:
    """True at every storage element that is padding (a partial tile or a vector's spare lanes)."""
    plain = Layout(layout.dims, layout.shape, layout.tiles, layout.order, layout.elem_bits, False, 0, layout.word_bits,
                   word_aligned=layout.word_aligned)
    ones = tile_order(np.ones(layout.shape, np.int64), plain)
    mask: NDArray[np.bool_] = ones == 0
    return mask


def element_address(layout: Layout, index: Sequence[int]) -> tuple[int, int]:
    """(word offset from the segment base, lane) of the element at logical `index`.

    The scalar form of tile_order, written as the RTL's address generator computes it:
    storage coordinates -> flat element number (sum of coordinate x stride) -> word and lane.
    For an element wider than a word, the word is its first (least significant) word and lane 0."""
    if len(index) != len(layout.shape):
        raise LayoutError(f"index {tuple(index)} has {len(index)} coordinates; the layout has {len(layout.shape)} dims")
    coord: dict[str, int] = {}
    for d, i, s in zip(layout.dims, index, layout.shape):
        if not 0 <= i < s:
            raise LayoutError(f"index {d}={i} is outside 0..{s - 1}")
        t = layout.tile_of(d)
        if t is None:
            coord[d] = int(i)
        else:
            coord[f"{d}_tile"], coord[f"{d}_lane"] = int(i) // t, int(i) % t
    flat = sum(coord[a] * stride for a, _, stride in layout.strides)
    bit = flat * layout.elem_bits
    return bit // layout.word_bits, (bit % layout.word_bits) // layout.elem_bits


# ---- records ---------------------------------------------------------------------------------
def encode_records(cols: NDArray[Any], fields: Sequence[Field], *, where: str = "record") -> IntArray:
    """[channels, len(fields)] field values -> [channels] records (int64; records are < 2**63)."""
    a = np.asarray(cols, dtype=np.int64)
    if a.ndim != 2 or a.shape[1] != len(fields):
        raise LayoutError(f"{where}: expected [channels, {len(fields)}] field values ({', '.join(f.name for f in fields)}), got shape {a.shape}")
    rec = np.zeros(a.shape[0], np.int64)
    for j, f in enumerate(fields):
        v = a[:, j]
        bad = np.flatnonzero((v < f.lo) | (v > f.hi))
        if bad.size:
            i = int(bad[0])
            raise LayoutError(f"{where}: field {f.name} of channel {i} is {int(v[i])}, outside its range {f.lo}..{f.hi} ({f.width}-bit field)")
        rec |= (v & ((1 << f.width) - 1)) << f.lsb
    return rec


def decode_records(rec: NDArray[Any], fields: Sequence[Field]) -> IntArray:
    """Inverse of encode_records (field ranges are not checked here; see record_problems)."""
    r = np.asarray(rec, dtype=np.int64)
    out = np.empty((r.shape[0], len(fields)), np.int64)
    for j, f in enumerate(fields):
        v = (r >> f.lsb) & ((1 << f.width) - 1)
        if f.signed:
            v = np.where(v >= 1 << (f.width - 1), v - (1 << f.width), v)
        out[:, j] = v
    return out


def record_problems(rec: NDArray[Any], fields: Sequence[Field]) -> list[tuple[int, str]]:
    """(record index, message) for reserved bits that are not zero and fields outside their range."""
    r = np.asarray(rec, dtype=np.int64)
    used = 0
    for f in fields:
        used |= ((1 << f.width) - 1) << f.lsb
    out: list[tuple[int, str]] = []
    spare = ~used & (2**64 - 1)  # the reserved bits, as the int64 the records are held in (bit 63 negative)
    for i in np.flatnonzero(r & np.int64(spare - 2**64 if spare >= 2**63 else spare)):
        out.append((int(i), f"record {int(i)} = 0x{int(r[i]) & (2**64 - 1):x} has reserved bits set (mask 0x{~used & (2**64 - 1):x})"))
    vals = decode_records(r, fields)
    for j, f in enumerate(fields):
        for i in np.flatnonzero((vals[:, j] < f.lo) | (vals[:, j] > f.hi)):
            out.append((int(i), f"record {int(i)}: field {f.name} = {int(vals[i, j])} is outside {f.lo}..{f.hi}"))
    return sorted(out)


# ---- packing ---------------------------------------------------------------------------------
def _check_widths(elem_bits: int, word_bits: int) -> None:
    if elem_bits not in ELEM_BITS:
        raise LayoutError(f"elem_bits={elem_bits}: must be one of {ELEM_BITS}")
    if word_bits not in WORD_BITS:
        raise LayoutError(f"word_bits={word_bits}: must be one of {WORD_BITS}")


def pack_words(values: NDArray[Any] | Sequence[int], elem_bits: int, word_bits: int) -> list[int]:
    """Pack elements into words, element i at bits [i*elem_bits % word_bits ...] of word
    i*elem_bits // word_bits: lane 0 in the least significant bits (a little-endian bit stream).

    Values may be signed (stored two's complement) or unsigned; each must fit elem_bits. A tail
    that does not fill the last word is padded with zero bits (layouts never leave one)."""
    _check_widths(elem_bits, word_bits)
    v = np.asarray(values)
    if v.size == 0:
        return []
    if v.dtype.kind not in "iu":
        raise LayoutError(f"pack_words: values of dtype {v.dtype} are not integers")
    v = v.reshape(-1)
    if v.dtype == np.uint64:
        u = v
        if elem_bits < 64 and np.any(u >> np.uint64(elem_bits)):
            raise LayoutError(f"pack_words: a value does not fit {elem_bits} bits")
    else:
        s = v.astype(np.int64)
        lo, hi = -(1 << (elem_bits - 1)), (1 << elem_bits) - 1
        if elem_bits < 64 and (s.min() < lo or s.max() > hi):
            i = int(np.flatnonzero((s < lo) | (s > hi))[0])
            raise LayoutError(f"pack_words: element {i} = {int(s[i])} does not fit {elem_bits} bits")
        u = s.astype(np.uint64)
    wb = word_bits // 8
    if elem_bits < 8:  # several elements to a byte, element 0 in the least significant bits
        per = 8 // elem_bits
        sub = (u & np.uint64((1 << elem_bits) - 1)).astype(np.uint8)
        sub = np.concatenate([sub, np.zeros(-sub.size % per, np.uint8)]).reshape(-1, per)
        b = np.zeros(sub.shape[0], np.uint8)
        for j in range(per):
            b |= sub[:, j] << np.uint8(j * elem_bits)
    else:
        eb = elem_bits // 8
        b = np.ascontiguousarray(np.ascontiguousarray(u.astype("<u8")).view(np.uint8).reshape(-1, 8)[:, :eb]).reshape(-1)
    if b.size % wb:
        b = np.concatenate([b, np.zeros(wb - b.size % wb, np.uint8)])
    if wb == 4:
        return [int(w) for w in b.view("<u4").tolist()]
    if wb == 8:
        return [int(w) for w in b.view("<u8").tolist()]
    q = b.view("<u8").reshape(-1, 2).tolist()
    return [int(lo_) | (int(hi_) << 64) for lo_, hi_ in q]


def unpack_words(
    words: Sequence[int], elem_bits: int, word_bits: int, *, signed: bool = False, count: int | None = None
) -> IntArray:
    """Inverse of pack_words: words -> elements (int64), sign-extended when `signed`.

    `count` keeps the first `count` elements (default: every element the words hold)."""
    _check_widths(elem_bits, word_bits)
    ws = list(words)
    wb = word_bits // 8
    try:  # each word as its little-endian bytes (a word that is not a word_bits-bit unsigned value: named below)
        b = np.frombuffer(b"".join(int(w).to_bytes(wb, "little") for w in ws), np.uint8)
        bad = not all(isinstance(w, (int, np.integer)) for w in ws)
    except (OverflowError, TypeError, ValueError):
        bad = True
    if bad:
        for i, w in enumerate(ws):
            if not isinstance(w, (int, np.integer)) or not 0 <= int(w) < 1 << word_bits:
                raise LayoutError(f"unpack_words: word {i} = {w!r} is not a {word_bits}-bit unsigned value")
    if elem_bits < 8:  # split each byte into its elements, then read them as one-byte elements
        per = 8 // elem_bits
        shifts = (np.arange(per, dtype=np.uint8) * np.uint8(elem_bits))[None, :]
        b = ((b[:, None] >> shifts) & np.uint8((1 << elem_bits) - 1)).reshape(-1).astype(np.uint8)
    eb = max(1, elem_bits // 8)
    total = b.size // eb
    if count is None:
        count = total
    if not 0 <= count <= total:
        raise LayoutError(f"unpack_words: {count} elements asked, {len(ws)} words of {word_bits} bits hold {total}")
    e = b[: count * eb].reshape(count, eb)
    full = np.zeros((count, 8), np.uint8)
    full[:, :eb] = e
    u = full.view("<u8").reshape(-1)
    out = u.astype(np.int64)  # wraps values >= 2**63 (64-bit elements) to their two's complement
    if signed and elem_bits < 64:
        sign = np.int64(1 << (elem_bits - 1))
        out = (out ^ sign) - sign
    return out


# ---- whole segments --------------------------------------------------------------------------
def to_storage(x: NDArray[Any], layout: Layout, *, where: str = "tensor") -> IntArray:
    """Logical array (records: [channels, fields]) -> storage elements in memory order."""
    a = np.asarray(x)
    if layout.fields:
        if a.shape != layout.logical_shape:
            raise LayoutError(f"{where}: array of shape {a.shape} does not match its layout {layout.logical_shape}")
        a = encode_records(a.reshape(-1, len(layout.fields)), layout.fields, where=where).reshape(layout.shape)
    else:
        if tuple(a.shape) != layout.shape:
            raise LayoutError(f"{where}: array of shape {tuple(a.shape)} does not match its layout {layout.shape}")
        lo, hi = elem_range(layout.elem_bits, layout.signed)
        if a.size and (int(a.min()) < lo or int(a.max()) > hi):
            raise LayoutError(f"{where}: values {int(a.min())}..{int(a.max())} do not fit {'signed' if layout.signed else 'unsigned'} {layout.elem_bits}-bit elements")
    return tile_order(a, layout)


def to_words(x: NDArray[Any], layout: Layout, *, where: str = "tensor") -> list[int]:
    """Logical array -> the segment's memory words."""
    return pack_words(to_storage(x, layout, where=where), layout.elem_bits, layout.word_bits)


def from_words(words: Sequence[int], layout: Layout) -> tuple[IntArray, list[tuple[int, str]]]:
    """Memory words -> (logical array, problems). Problems are (word offset, message) for padding
    that does not hold the layout's pad value and, for records, reserved bits or out-of-range fields."""
    if len(words) != layout.words:
        raise LayoutError(f"{len(words)} words; the layout holds {layout.words}")
    st = unpack_words(words, layout.elem_bits, layout.word_bits, signed=layout.signed, count=layout.elements)
    problems: list[tuple[int, str]] = []
    mask = padding_mask(layout)
    per = max(1, layout.word_bits // layout.elem_bits)
    wpe = max(1, layout.elem_bits // layout.word_bits)
    for e in np.flatnonzero(mask & (st != layout.pad))[:20]:
        what = f"lane {int(e) % per}" if layout.elem_bits < layout.word_bits else f"record {int(e)}"
        problems.append((int(e) // per * wpe, f"{what} is padding and holds {int(st[e])}, not the pad value {layout.pad}"))
    x = untile(st, layout)
    if layout.fields:
        real = st[~mask]
        idx = np.flatnonzero(~mask)
        for i, msg in record_problems(real, layout.fields)[:20]:
            problems.append((int(idx[i]) * wpe, msg))
        x = decode_records(x.reshape(-1), layout.fields).reshape(layout.logical_shape)
    return x, problems
