"""The only module that reads or writes memory image files.

Format (what Icarus Verilog and Verilator's $readmemh both read):

    // hexgen memory image
    // layer: conv1
    // tensor: weights
    // shape: 16x3x3x3
    // layout: k_tile[2] c_tile[1] ky[3] kx[3] c_lane[8] k_lane[8]
    // word_bits: 64
    // words: 144
    00fe0102030405ff
    ...

Header lines are `// key: value`; then one word per line, exactly word_bits/4 lowercase hex
digits, word 0 first (file line = header lines + word index + 1). No `@address` directives.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from hexgen.errors import HexFormatError

_HEX = re.compile(r"[0-9a-fA-F]+")
MAGIC = "hexgen memory image"


@dataclass
class MemhFile:
    """A read file: its header (key -> value), its words and the line number of every word."""

    path: str
    header: dict[str, str]
    words: list[int]
    lines: list[int] = field(repr=False)

    def line_of(self, word: int) -> int:
        """File line of word `word` (1-based), or the last line if the word is missing."""
        if 0 <= word < len(self.lines):
            return self.lines[word]
        return self.lines[-1] if self.lines else 1


def format_header(header: Mapping[str, object]) -> list[str]:
    out = [f"// {MAGIC}"]
    for k, v in header.items():
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", k):
            raise ValueError(f"header key {k!r}: lowercase letters, digits and _ only")
        text = str(v)
        if "\n" in text:
            raise ValueError(f"header value of {k!r} spans lines")
        out.append(f"// {k}: {text}")
    return out


def memh_text(words: Sequence[int], word_bits: int, header: Mapping[str, object]) -> str:
    digits = word_bits // 4
    lines = format_header(header)
    limit = 1 << word_bits
    ws = [int(w) for w in words]
    if ws and not (0 <= min(ws) and max(ws) < limit):  # checked whole (C speed), then the word named
        i = next(i for i, w in enumerate(ws) if not 0 <= w < limit)
        raise ValueError(f"word {i} = {ws[i]:#x} does not fit {word_bits} bits")
    fmt = f"0{digits}x"
    lines += [format(w, fmt) for w in ws]
    return "\n".join(lines) + "\n"


def write_memh(path: str | os.PathLike[str], words: Sequence[int], word_bits: int, header: Mapping[str, object]) -> None:
    """Write words as a $readmemh file with a `// key: value` header."""
    Path(path).write_text(memh_text(words, word_bits, header), encoding="ascii")


def _fast_body(lines: list[str], digits: int) -> tuple[int, list[int]] | None:
    """A file whose header comment lines are followed by nothing but words of exactly `digits` hex
    digits, one a line (what hexgen writes): (header lines, the words), checked by one regular
    expression over the whole body; None for anything else, which read_memh's line-by-line reading
    then names with its file and line."""
    n_head = 0
    while n_head < len(lines) and lines[n_head].startswith("//"):
        n_head += 1
    body = lines[n_head:]
    if not body or not re.fullmatch(f"(?:[0-9a-fA-F]{{{digits}}}\n)*", "\n".join(body) + "\n"):
        return None
    return n_head, [int(t, 16) for t in body]


def read_memh(
    path: str | os.PathLike[str],
    word_bits: int,
    *,
    expect: Mapping[str, object] | None = None,
    count: int | None = None,
) -> MemhFile:
    """Read a hexgen .memh file; HexFormatError naming the file and line on any deviation.

    expect: header keys whose values must match (e.g. layer, tensor, shape, word_bits).
    count: the exact number of words the file must hold."""
    p = str(path)
    digits = word_bits // 4
    try:
        text = Path(path).read_text(encoding="ascii")
    except UnicodeDecodeError as exc:
        line = Path(path).read_bytes()[: exc.start].count(b"\n") + 1
        raise HexFormatError(p, line, "non-ASCII byte") from exc
    except OSError as exc:
        raise HexFormatError(p, 0, f"cannot read: {exc.strerror or exc}") from exc
    header: dict[str, str] = {}
    header_line: dict[str, int] = {}
    words: list[int] = []
    lines: list[int] = []
    in_header = True
    last = 0
    all_lines = text.splitlines()
    fast = _fast_body(all_lines, digits)
    if fast is not None:  # every word line well formed: the header read as below, the words at C speed
        n_head, words = fast
        lines = list(range(n_head + 1, n_head + len(words) + 1))
        all_lines = all_lines[:n_head]
    for no, raw in enumerate(all_lines, start=1):
        last = no
        code, _, comment = raw.partition("//")
        code = code.strip()
        if in_header and not code and comment:
            key, sep, value = comment.strip().partition(":")
            if sep and re.fullmatch(r"[a-z_][a-z0-9_]*", key.strip()):
                header[key.strip()] = value.strip()
                header_line[key.strip()] = no
            continue
        if not code:
            continue
        in_header = False
        tokens = code.split()
        if len(tokens) > 1:
            raise HexFormatError(p, no, f"{len(tokens)} words on one line ({code!r}); hexgen files hold one word per line")
        tok = tokens[0]
        if not _HEX.fullmatch(tok):
            bad = next(ch for ch in tok if ch not in "0123456789abcdefABCDEF")
            raise HexFormatError(p, no, f"non-hex character {bad!r} in word {tok!r}")
        if len(tok) > digits and int(tok, 16) >> word_bits:
            raise HexFormatError(p, no, f"word {tok} is wider than the {word_bits}-bit word ({len(tok)} hex digits, {digits} allowed)")
        if len(tok) != digits:
            raise HexFormatError(p, no, f"word {tok!r} has {len(tok)} hex digits; a {word_bits}-bit word is written with exactly {digits}")
        words.append(int(tok, 16))
        lines.append(no)
    if fast is not None:
        last = fast[0] + len(words)
    if expect is not None:
        if not text.startswith(f"// {MAGIC}"):
            raise HexFormatError(p, 1, f"not a hexgen file (first line is not `// {MAGIC}`)")
        for key, want in expect.items():
            got = header.get(key)
            if got is None:
                raise HexFormatError(p, 1, f"header has no `// {key}:` line (expected {want})")
            if got != str(want):
                raise HexFormatError(p, header_line[key], f"header {key} is {got!r}, expected {str(want)!r}")
    if count is not None and len(words) != count:
        if len(words) < count:
            raise HexFormatError(p, max(last, 1), f"too few words: {len(words)}, expected {count}")
        raise HexFormatError(p, lines[count], f"too many words: {len(words)}, expected {count} (word {count} is the first extra)")
    return MemhFile(p, header, words, lines)
