"""The accelerator's hardware sizes, as hexgen needs them to lay memory out.

Only sizes live here (the Verilog parameters of one RTL build); everything per layer is in the
layer's plan (hexgen.plan). Depths are in memory words of `word_bits` bits.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

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
#: Every segment of a memory image is padded to the alignment, and the image is held in memory and
#: written word by word: an alignment of 2^30 bytes made hexgen try to allocate ~120 GB. A 4 KiB
#: page is the largest alignment a DMA engine commonly needs.
MAX_ALIGN_BYTES = 4096


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
    """

    array_rows: int = 8
    array_cols: int = 8
    word_bits: int = 64
    weight_buf_words: int = 2048
    act_buf_words: int = 4096
    bias_buf_words: int = 256
    scale_buf_words: int = 256
    align_bytes: int = 64

    def __post_init__(self) -> None:
        for f in fields(self):
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

    def buffer_words(self, buffer: str) -> int:
        if buffer not in BUFFERS:
            raise ConfigError(f"unknown buffer {buffer!r}; buffers are {', '.join(BUFFERS)}")
        return int(getattr(self, f"{buffer}_buf_words"))

    def to_json(self) -> dict[str, int]:
        return asdict(self)

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
