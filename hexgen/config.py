"""The accelerator's hardware sizes, as hexgen needs them to lay memory out.

Only sizes live here (the Verilog parameters of one RTL build); everything per layer is in the
layer's plan (hexgen.plan). Depths are in memory words of `word_bits` bits.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Sequence

from hexgen.errors import ConfigError
from hexgen.layout import WORD_BITS
#: The on-chip buffers whose depths a layer must fit (see docs/memory-map.md, "Buffers").
BUFFERS = ("weight", "act", "bias", "scale")
#: Fields a hardware description once had, and why they are gone: a file naming one is refused
#: with the reason (every field of the description means something in the RTL).
REMOVED_FIELDS = {
    "out_buf_words": "the engine has no output buffer to size (its writer streams the requantizer's words "
                     "through a fixed FIFO of 2 x MAX_BURST words, rtl/out_writer.sv), so the field described "
                     "nothing in the RTL and only made hexgen refuse layers; delete it",
}
#: Limits of a description's sizes (hexgen.schema's CONFIG_SCHEMA uses the same).
MAX_ARRAY = 1024
MAX_BUF_WORDS = 1 << 26
#: Limit of the row unit's buffer depths (row_buf_words, ln_tiles): its word counters are 16 bits.
MAX_ROW_BUF = 1 << 15
#: Every segment of a memory image is padded to the alignment, and the image is held in memory and
#: written word by word: an alignment of 2^30 bytes made hexgen try to allocate ~120 GB. A 4 KiB
#: page is the largest alignment a DMA engine commonly needs.
MAX_ALIGN_BYTES = 4096
#: Weight element widths an engine can be built to unpack (rtl/wgt_unpack.sv): 8-bit weights one
#: per byte, 4- and 2-bit weights two and four to a byte. A layer's weights of other widths (3, 5..7
#: bits) are stored at the next accepted width up.
WEIGHT_WIDTHS = (2, 4, 8)
#: Widths the engine's pixel counters can be built at (the description's pixel_bits): a layer's
#: output image is at most 2^pixel_bits - 1 pixels; 16 bits stop at 256 x 255, 32 at what 16-bit
#: OUT_H and OUT_W registers can hold.
PIXEL_BITS = (16, 32)


def widths_of_mask(mask: int) -> tuple[int, ...]:
    """The weight widths a WGT_WIDTHS value (the build fact: bit b for b-bit weights) names."""
    return tuple(b for b in WEIGHT_WIDTHS if mask >> b & 1)


@dataclass(frozen=True)
class HardwareConfig:
    """Array size, external memory word width, on-chip buffer depths and segment alignment.

    array_rows: MAC-array rows = output channels computed at once (the output-channel tile); it is
        also the channel tile of every activation image, so a layer's output tile is written as
        whole channel vectors of the next layer's input.
    array_cols: MAC-array columns = output pixels computed at once (the pixel tile).
    word_bits: width of one external-memory word (and one line of a .memh file): 32, 64 or 128.
    *_buf_words: depth in words of the weight, activation, bias and scale buffers.
    align_bytes: every DRAM segment starts at a multiple of this (a power of two, >= one word).
    weight_bits: the weight element widths the engine unpacks (a non-empty subset of WEIGHT_WIDTHS,
        ascending): hexgen stores a layer's weights at the narrowest of them that holds its codes;
        a layer whose weights are wider than all of them is refused (field W_BITS).
    pixel_bits: width of the engine's pixel counters (PIX_W): a layer's output image (OUT_H x OUT_W,
        also the pixels of one pass) is at most 2^pixel_bits - 1 pixels; a larger one is refused
        (field OUT_H). 24 bits count a 4096 x 4096 image. The input image is not counted: it is
        addressed with the 32-bit base registers.
    row_buf_words: depth in words of the row unit's staging buffers (rtl/row_unit.sv: one holds a
        block of tokens' rows as read, one their outputs): a softmax or LayerNorm runs in blocks of
        tokens whose rows fit it (a row of C channels is ceil(C / array_rows) words).
    ln_tiles: entries of the row unit's LayerNorm record buffer, one channel tile's records each:
        a LayerNorm of more than ln_tiles x array_rows channels is refused (field IN_C).
    """

    array_rows: int = 8
    array_cols: int = 8
    word_bits: int = 64
    weight_buf_words: int = 2048
    act_buf_words: int = 4096
    bias_buf_words: int = 256
    scale_buf_words: int = 256
    align_bytes: int = 64
    weight_bits: tuple[int, ...] = WEIGHT_WIDTHS
    pixel_bits: int = 24
    row_buf_words: int = 256
    ln_tiles: int = 64

    def __post_init__(self) -> None:
        wb = self.weight_bits
        if (not isinstance(wb, Sequence) or isinstance(wb, str) or not wb
                or any(not isinstance(b, int) or isinstance(b, bool) or b not in WEIGHT_WIDTHS for b in wb)):
            raise ConfigError(f"HardwareConfig.weight_bits={wb!r}: must be a non-empty list of widths from "
                              f"{', '.join(map(str, WEIGHT_WIDTHS))}")
        object.__setattr__(self, "weight_bits", tuple(sorted(set(wb))))
        for f in fields(self):
            if f.name == "weight_bits":
                continue
            v = getattr(self, f.name)
            if not isinstance(v, int) or isinstance(v, bool):
                raise ConfigError(f"HardwareConfig.{f.name}={v!r}: must be an int")
        if self.word_bits not in WORD_BITS:
            raise ConfigError(f"HardwareConfig.word_bits={self.word_bits}: must be one of {', '.join(map(str, WORD_BITS))}")
        for name in ("array_rows", "array_cols"):
            v = getattr(self, name)
            if not 1 <= v <= MAX_ARRAY:
                raise ConfigError(f"HardwareConfig.{name}={v}: must be in 1..{MAX_ARRAY}")
        for b in BUFFERS:
            name = f"{b}_buf_words"
            v = getattr(self, name)
            if not 1 <= v <= MAX_BUF_WORDS:
                raise ConfigError(f"HardwareConfig.{name}={v}: must be in 1..{MAX_BUF_WORDS}")
        for name in ("row_buf_words", "ln_tiles"):
            v = getattr(self, name)
            if not 1 <= v <= MAX_ROW_BUF:
                raise ConfigError(f"HardwareConfig.{name}={v}: must be in 1..{MAX_ROW_BUF}")
        table_words = 256 * 32 // self.word_bits  # the softmax exp table (hexgen.tokens.table_layout(32, ..))
        if self.row_buf_words < table_words:
            raise ConfigError(f"HardwareConfig.row_buf_words={self.row_buf_words}: the row unit's staging buffer holds "
                              f"the softmax exp table while it loads, {table_words} words of {self.word_bits} bits; "
                              f"at least {table_words}")
        if not PIXEL_BITS[0] <= self.pixel_bits <= PIXEL_BITS[1]:
            raise ConfigError(f"HardwareConfig.pixel_bits={self.pixel_bits}: must be in {PIXEL_BITS[0]}..{PIXEL_BITS[1]}")
        a = self.align_bytes
        if a > MAX_ALIGN_BYTES:
            raise ConfigError(f"HardwareConfig.align_bytes={a}: must be at most {MAX_ALIGN_BYTES} (every segment of a "
                              "memory image is padded to it)")
        if a < self.word_bytes or a & (a - 1):
            raise ConfigError(
                f"HardwareConfig.align_bytes={a}: must be a power of two and at least one word "
                f"({self.word_bytes} bytes for word_bits={self.word_bits})"
            )

    @property
    def word_bytes(self) -> int:
        return self.word_bits // 8

    @property
    def lanes(self) -> int:
        """int8/uint8 elements per memory word."""
        return self.word_bits // 8

    @property
    def channel_tile(self) -> int:
        """Channels per activation vector and per weight tile: the array's row count."""
        return self.array_rows

    @property
    def pixel_tile(self) -> int:
        return self.array_cols

    def weight_store_bits(self, code_bits: int) -> int:
        """The element width a layer's weight codes of `code_bits` bits are stored at: the narrowest
        accepted width that holds them; `code_bits` itself when none does (the rule book refuses it)."""
        return next((b for b in self.weight_bits if b >= code_bits), code_bits)

    @property
    def weight_widths_mask(self) -> int:
        """weight_bits as the RTL's WGT_WIDTHS parameter: bit b set when b-bit weights are accepted."""
        return sum(1 << b for b in self.weight_bits)

    @property
    def pixel_max(self) -> int:
        """The most output pixels a layer may have: the largest value of a pixel_bits-bit counter."""
        return (1 << self.pixel_bits) - 1

    def buffer_words(self, buffer: str) -> int:
        if buffer not in BUFFERS:
            raise ConfigError(f"unknown buffer {buffer!r}; buffers are {', '.join(BUFFERS)}")
        return int(getattr(self, f"{buffer}_buf_words"))

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["weight_bits"] = list(self.weight_bits)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "HardwareConfig":
        """Strict: every field must be present (a written memory map states the whole configuration;
        a missing field is an error, never a silent default) and no other field may be."""
        if not isinstance(d, Mapping):
            raise ConfigError(f"HardwareConfig: expected an object of fields, got {d!r}")
        names = [f.name for f in fields(cls)]
        removed = sorted(set(d) & set(REMOVED_FIELDS))
        if removed:
            raise ConfigError(f"HardwareConfig: field {removed[0]} was removed: {REMOVED_FIELDS[removed[0]]}")
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ConfigError(f"HardwareConfig: unknown field(s) {', '.join(unknown)}")
        missing = [n for n in names if n not in d]
        if missing:
            raise ConfigError(f"HardwareConfig: missing field(s) {', '.join(missing)}")
        return cls(**dict(d))
