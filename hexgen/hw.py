"""The hardware description: named presets of the accelerator's sizes, chosen with `HW=`.

One description serves every side: hexgen lays memory out for it (HardwareConfig), the RTL build
gets its Verilog parameters from it (rtl_parameters), and rtl/accel_hw.svh, the parameter
defaults of accel_top and the layer bench, is generated from the default preset
(`python -m hexgen.hw > rtl/accel_hw.svh`; a test fails when it is stale). The bench reads every
build-fact CSR back and refuses a memory image laid out for another description.

    HW=default   today's sizes: 8x8 array, 64-bit words, 32 KiB activations
    HW=large     the same array with edge-sized buffers (256 KiB activations)
    HW=tiny      4x8 array (4 rows, 8 columns), 32-bit words, small buffers
    HW=edge      16x16 array, 128-bit words, edge-sized buffers
    HW=path.json a HardwareConfig written as JSON (every field; hexgen.config)

Python definition rather than SystemRDL: the sizes are a handful of integers shared by a Python
layout planner and Verilog parameters; the register map stays in tb/engine/csr.py (a SystemRDL front end
would generate the same header; PeakRDL's register block does not compile on Icarus 11).
"""
from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

from hexgen.config import HardwareConfig
from hexgen.errors import ConfigError

#: Buffer depths are in memory words; KiB = words x word_bits / 8 / 1024.
PRESETS: dict[str, HardwareConfig] = {
    "default": HardwareConfig(),
    "large": HardwareConfig(act_buf_words=32768, weight_buf_words=8192, bias_buf_words=1024, scale_buf_words=1024),
    "tiny": HardwareConfig(array_rows=4, array_cols=8, word_bits=32, act_buf_words=2048, weight_buf_words=512,
                           bias_buf_words=256, scale_buf_words=256, align_bytes=64),
    "edge": HardwareConfig(array_rows=16, array_cols=16, word_bits=128, act_buf_words=16384, weight_buf_words=4096,
                           bias_buf_words=1024, scale_buf_words=1024, align_bytes=64),
}
DEFAULT = "default"


def load_hw(spec: str | None = None) -> HardwareConfig:
    """A preset by name, or a HardwareConfig JSON file (`path.json`)."""
    spec = spec or DEFAULT
    if spec in PRESETS:
        return PRESETS[spec]
    if spec.endswith(".json"):
        path = Path(spec)
        try:
            text = _read_description(spec, path)
        except OSError as exc:
            raise ConfigError(f"HW={spec}: cannot read {path}: {exc.strerror or exc}") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"HW={spec}: {path} is not JSON: {exc}") from None
        try:
            return HardwareConfig.from_json(data)
        except ConfigError as exc:
            raise ConfigError(f"HW={spec}: {exc}") from None
    raise ConfigError(f"HW={spec}: no such preset ({', '.join(PRESETS)}) and not a .json file")


#: A hardware description is a dozen numbers; a larger file is not one.
MAX_FILE_BYTES = 1 << 20


def _read_description(spec: str, path: Path) -> str:
    """The text of a hardware description file: a regular file (a FIFO, a device or a folder would
    block or never end), opened without blocking and checked on the open file, of at most
    MAX_FILE_BYTES."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ConfigError(f"HW={spec}: {path} does not exist") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ConfigError(f"HW={spec}: {path} is not a regular file ({_file_kind(st.st_mode)})")
    if st.st_size > MAX_FILE_BYTES:
        os.close(fd)
        raise ConfigError(f"HW={spec}: {path} is {st.st_size:,} bytes; a hardware description is at most {MAX_FILE_BYTES:,}")
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"HW={spec}: {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def hw_name(spec: str | None) -> str:
    return spec or DEFAULT


def kib(cfg: HardwareConfig, words: int) -> float:
    return words * cfg.word_bytes / 1024


def rtl_parameters(cfg: HardwareConfig) -> dict[str, int]:
    """The Verilog parameters of accel_top (and the layer bench) for this description. The RTL
    keeps one record buffer depth for bias and scale: they must be equal."""
    if cfg.bias_buf_words != cfg.scale_buf_words:
        raise ConfigError(f"bias_buf_words = {cfg.bias_buf_words} and scale_buf_words = {cfg.scale_buf_words}: "
                          "the engine has one record depth (REC_WORDS) for both")
    return {"ROWS": cfg.array_rows, "COLS": cfg.array_cols, "WORD_BITS": cfg.word_bits,
            "ACT_WORDS": cfg.act_buf_words, "WGT_WORDS": cfg.weight_buf_words, "REC_WORDS": cfg.bias_buf_words,
            "WGT_WIDTHS": cfg.weight_widths_mask, "PIX_W": cfg.pixel_bits, "ROW_WORDS": cfg.row_buf_words,
            "LN_TILES": cfg.ln_tiles}


def verilog_defaults(cfg: HardwareConfig | None = None) -> str:
    """rtl/accel_hw.svh: the default preset's sizes as macros, the parameter defaults of the RTL."""
    params = rtl_parameters(cfg or PRESETS[DEFAULT])
    lines = [
        "// Generated by `python -m hexgen.hw > rtl/accel_hw.svh` from hexgen/hw.py (the hardware",
        "// description, preset \"default\"); do not edit. The parameter defaults of accel_top and the",
        "// layer bench; builds pass every size from the chosen preset (HW=).",
        "`ifndef ACCEL_HW_SVH",
        "`define ACCEL_HW_SVH",
        *[f"`define HW_{k} {v}" for k, v in params.items()],
        "`endif",
    ]
    return "\n".join(lines) + "\n"


def table() -> str:
    """The presets side by side (docs/engine.md)."""
    head = "| preset | array | word | activations | weights, per bank (two banks) | bias and scale records | weight widths | pixel counters |"
    rows = [head, "|---|---|---|---|---|---|---|---|"]
    for name, c in PRESETS.items():
        rows.append(f"| {name} | {c.array_rows}x{c.array_cols} | {c.word_bits} bits | {c.act_buf_words} words, "
                    f"{kib(c, c.act_buf_words):g} KiB | {c.weight_buf_words} words, {kib(c, c.weight_buf_words):g} KiB | "
                    f"{c.bias_buf_words} each, {kib(c, c.bias_buf_words + c.scale_buf_words):g} KiB | "
                    f"{', '.join(map(str, reversed(c.weight_bits)))} bits | {c.pixel_bits} bits |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.stdout.write(table() + "\n" if sys.argv[1:] == ["table"] else verilog_defaults())
