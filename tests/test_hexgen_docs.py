"""docs/memory-map.md's worked example is the code's own output, and its hand-checkable facts hold."""
from __future__ import annotations

import re
from pathlib import Path

from hexgen.example import render

DOC = Path(__file__).resolve().parent.parent / "docs" / "memory-map.md"


def test_doc_example_matches_the_code() -> None:
    text = DOC.read_text()
    m = re.search(r"<!-- example:begin -->\n(.*)<!-- example:end -->", text, re.S)
    assert m, "docs/memory-map.md lost its example markers"
    assert m.group(1) == render(), "docs/memory-map.md is stale: regenerate with `python -m hexgen example`"


def test_example_word0_decodes_by_hand() -> None:
    out = render()
    # the first word line after the weights file header, and the values the text says it holds
    word = re.search(r"// base: 0x00000000\n([0-9a-f]{8})\n", out)
    vals = re.search(r"Word 0 holds w\[0\.\.3,0,0,0\] = \[([-0-9, ]+)\]", out)
    assert word and vals
    w = int(word.group(1), 16)
    lanes = [(w >> (8 * i)) & 0xFF for i in range(4)]
    assert [v - 256 if v > 127 else v for v in lanes] == [int(v) for v in vals.group(1).split(",")]
