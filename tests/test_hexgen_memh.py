"""hexgen.memh: the file format, its round trip, and every bad-input error naming file and line."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hexgen import HexFormatError, read_memh, write_memh

HEADER = {"layer": "conv1", "tensor": "weights", "shape": "2x2", "word_bits": 32, "words": 3}


def test_exact_file_text(tmp_path: Path) -> None:
    p = tmp_path / "a.memh"
    write_memh(p, [0x1, 0xDEADBEEF, 0], 32, {"layer": "conv1", "tensor": "weights"})
    assert p.read_text() == (
        "// hexgen memory image\n// layer: conv1\n// tensor: weights\n00000001\ndeadbeef\n00000000\n"
    )
    f = read_memh(p, 32, expect={"layer": "conv1"}, count=3)
    assert f.words == [1, 0xDEADBEEF, 0] and f.lines == [4, 5, 6]
    assert f.header == {"layer": "conv1", "tensor": "weights"}


@settings(max_examples=30, deadline=None)
@given(word_bits=st.sampled_from([32, 64, 128]), data=st.data())
def test_round_trip(tmp_path_factory: pytest.TempPathFactory, word_bits: int, data: st.DataObject) -> None:
    words = data.draw(st.lists(st.integers(0, (1 << word_bits) - 1), max_size=40))
    p = tmp_path_factory.mktemp("rt") / "x.memh"
    write_memh(p, words, word_bits, {**HEADER, "word_bits": word_bits, "words": len(words)})
    lines = p.read_text().splitlines()
    assert all(len(l) == word_bits // 4 and l == l.lower() for l in lines if not l.startswith("//"))
    f = read_memh(p, word_bits, expect={"layer": "conv1", "word_bits": word_bits}, count=len(words))
    assert f.words == words


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "bad.memh"
    head = "".join(f"// {k}: {v}\n" for k, v in HEADER.items())
    p.write_text("// hexgen memory image\n" + head + body)
    return p


# header is 6 lines, so the first word is on line 7
@pytest.mark.parametrize(
    "body, kwargs, line, message",
    [
        ("00000001\n0000g002\n00000003\n", {}, 8, "non-hex character 'g' in word '0000g002'"),
        ("00000001\n0x000002\n00000003\n", {}, 8, "non-hex character 'x'"),
        ("00000001\n00000002\n100000003\n", {}, 9, "word 100000003 is wider than the 32-bit word"),
        ("00000001\n0002\n00000003\n", {}, 8, "has 4 hex digits; a 32-bit word is written with exactly 8"),
        ("00000001\n00000002\n", {"count": 3}, 8, "too few words: 2, expected 3"),
        ("00000001\n00000002\n00000003\n00000004\n", {"count": 3}, 10, "too many words: 4, expected 3"),
        ("00000001 00000002\n00000003\n", {}, 7, "2 words on one line"),
        ("@00000010\n", {}, 7, "non-hex character '@'"),
        ("00000001\n", {"expect": {"layer": "conv2"}}, 2, "header layer is 'conv1', expected 'conv2'"),
        ("00000001\n", {"expect": {"shape": "2x3"}}, 4, "header shape is '2x2', expected '2x3'"),
        ("00000001\n", {"expect": {"base": "0x0"}}, 1, "header has no `// base:` line"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, body: str, kwargs: dict, line: int, message: str) -> None:
    p = _write(tmp_path, body)
    with pytest.raises(HexFormatError) as ei:
        read_memh(p, 32, **kwargs)
    assert ei.value.line == line
    assert str(ei.value).startswith(f"{p}:{line}: ")
    assert message in str(ei.value)


def test_not_a_hexgen_file(tmp_path: Path) -> None:
    p = tmp_path / "plain.memh"
    p.write_text("00000001\n")
    assert read_memh(p, 32).words == [1]  # no expectations: any $readmemh-style file of whole words
    with pytest.raises(HexFormatError, match=r"plain.memh:1: not a hexgen file"):
        read_memh(p, 32, expect={"layer": "x"})


def test_missing_file_and_non_ascii(tmp_path: Path) -> None:
    with pytest.raises(HexFormatError, match=r"nope.memh:0: cannot read"):
        read_memh(tmp_path / "nope.memh", 32)
    p = tmp_path / "u.memh"
    p.write_bytes(b"00000001\n0000\xc3\xa902\n")
    with pytest.raises(HexFormatError, match=r"u.memh:2: non-ASCII"):
        read_memh(p, 32)


def test_writer_rejects_a_wide_word(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="word 1 = 0x100000000 does not fit 32 bits"):
        write_memh(tmp_path / "w.memh", [0, 1 << 32], 32, {})
