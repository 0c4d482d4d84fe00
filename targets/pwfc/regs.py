"""pwfc's register map: the one source of its addresses and fields.

The RTL includes rtl/pwfc_regs.svh, which is written from this file (`python -m targets.pwfc.regs`
rewrites it; tests/test_target_pwfc.py fails while the two differ). Byte addresses on the AXI4-Lite
port, 32-bit registers; a read or write of any other address answers SLVERR.
"""
from __future__ import annotations

from pathlib import Path

#: register name -> byte address
REGS: dict[str, int] = {
    "ID": 0x00,         # RO  ID_VALUE
    "CTRL": 0x04,       # W1 START, RO BUSY, W1C DONE/ERROR, RW IRQ_EN, RO ERR_CODE (CTRL_BITS)
    "CYCLES": 0x08,     # RO  cycles from START to DONE/ERROR of the last layer
    "CAPS": 0x0C,       # RO  [7:0] LANES, [31:16] MAX_C (the build's parameters)
    "C": 0x10,          # RW  input channels (1..MAX_C)
    "K": 0x14,          # RW  output channels (>= 1)
    "HW": 0x18,         # RW  pixels (images x H x W; 1 for fc)
    "Z_IN": 0x1C,       # RW  input zero point
    "Z_OUT": 0x20,      # RW  output zero point
    "LO": 0x24,         # RW  clamp low
    "HI": 0x28,         # RW  clamp high
    "ACT_BASE": 0x2C,   # RW  byte addresses of the segments (4-byte aligned)
    "WGT_BASE": 0x30,
    "BIAS_BASE": 0x34,
    "RQ_BASE": 0x38,
    "OUT_BASE": 0x3C,
}
#: bits of the register-held values (the rest read 0 and are ignored on write)
WIDTHS: dict[str, int] = {"C": 16, "K": 16, "HW": 24, "Z_IN": 8, "Z_OUT": 8, "LO": 8, "HI": 8}
#: CTRL bit positions
CTRL_BITS: dict[str, int] = {"START": 0, "BUSY": 1, "DONE": 2, "ERROR": 3, "IRQ_EN": 4, "ERR_CODE": 8}
#: CTRL[15:8] after an ERROR
ERR_CODES: dict[int, str] = {
    1: "C is 0 or above MAX_C", 2: "K is 0", 3: "HW is 0", 4: "a base address is not 4-byte aligned",
    5: "AXI read error response", 6: "AXI write error response",
}
ID_VALUE = 0x50574643  # "PWFC"
#: every register's value right after reset (CAPS, the build's parameters, aside): the driver's
#: check_reset reads them back before the first layer
RESET: dict[str, int] = {name: ID_VALUE if name == "ID" else 0 for name in REGS if name != "CAPS"}
SVH = Path(__file__).resolve().parent / "rtl" / "pwfc_regs.svh"


def svh_text() -> str:
    lines = ["// Generated from targets/pwfc/regs.py (python -m targets.pwfc.regs); do not edit.",
             "`ifndef PWFC_REGS_SVH", "`define PWFC_REGS_SVH"]
    lines += [f"`define PWFC_REG_{n} 8'h{a:02x}" for n, a in REGS.items()]
    lines += [f"`define PWFC_W_{n} {w}" for n, w in WIDTHS.items()]
    lines += [f"`define PWFC_CTRL_{n} {b}" for n, b in CTRL_BITS.items()]
    lines += [f"`define PWFC_ID 32'h{ID_VALUE:08x}", "`endif", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    SVH.write_text(svh_text())
    print(f"wrote {SVH}")
