"""`make lint` as a test: Verilator -Wall and Icarus accept every RTL and harness file without a warning."""
from __future__ import annotations

import pytest

from tb.lint import SOURCES, lint

pytestmark = pytest.mark.sim


def test_lint_clean() -> None:
    assert SOURCES, "no Verilog sources found"
    problems = lint()
    assert not problems, "\n".join(problems)
