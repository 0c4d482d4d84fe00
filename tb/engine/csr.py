"""The accelerator's control/status register map: the one definition.

rtl/accel_csr.svh is generated from this file (plus the bias/scale record fields, whose one
definition is hexgen.layout) (`python -m tb.engine.csr > rtl/accel_csr.svh`, checked by
tests/test_engine_csr.py); the layer bench programs registers by these names.
"""
from __future__ import annotations

import sys
from typing import Any

from hexgen.rules import KIND_CODES, REGISTERS, ROW_CONSTANT, WEIGHT_READ, descriptor_registers

#: Writable layer descriptor and control (word addresses on the CSR port).
CSR = {
    "CTRL": 0,  # write bit 0 = start; read {error, done, busy}
    "KIND": 1,  # KIND_CONV (conv and pointwise), KIND_DEPTHWISE, KIND_FC
    "IN_C": 2, "IN_H": 3, "IN_W": 4,
    "OUT_C": 5, "OUT_H": 6, "OUT_W": 7,
    "KH": 8, "KW": 9,
    "STRIDE_Y": 10, "STRIDE_X": 11,
    "PAD_TOP": 12, "PAD_LEFT": 13,  # zero padding (z_in) above and left of the image

    "GROUPS": 14,
    "W_BASE": 15, "B_BASE": 16, "S_BASE": 17, "IN_BASE": 18, "OUT_BASE": 19,  # word addresses
    "Z_IN": 20, "Z_OUT": 21, "LO": 22, "HI": 23,
    "PAD_BOTTOM": 24, "PAD_RIGHT": 25,  # below and right of the image (TF 'SAME': may differ from top / left)
    # the layer's passes (hexgen.rules.plan_tiling): bands of BAND_ROWS output rows, each in groups
    # of GROUP_KT output-channel tiles, walked by the engine (rtl/band_seq.sv)
    "BAND_ROWS": 26, "GROUP_KT": 27,
    # the vector unit's layers (KIND add, maxpool, avgpool, upsample, concat): the residual add's second
    # input (word address, zero point) and its multipliers A0, B0 (31 bits) and shift n (arithmetic.md);
    # a concat run's kept word (IN2_BASE) and its input's requantization (ADD_A0 = M0, 0: copied; ADD_SHIFT);
    # a GELU's table (IN2_BASE: 256 uint8 output codes, ROWS to a word)
    "IN2_BASE": 28, "Z_IN2": 29, "ADD_A0": 30, "ADD_B0": 31, "ADD_SHIFT": 42,
    # the width the layer's weights are stored at (hexgen: 8, or 4 and 2 packed two and four to a
    # byte); the engine runs the widths its build unpacks (WGT_WIDTHS)
    "W_BITS": 43,
    # the kernel's tap spacing (dilation) along rows and columns: 1 adjacent taps, d: d - 1 input
    # positions between taps (an atrous conv); the gather walks the window KH x KW taps at it
    "DIL_Y": 44, "DIL_X": 45,
    # how the weights are read (a matmul's b operand read where its producer wrote it, hexgen.matmul):
    # W_XOR bit 0 inverts bit 7 of every 8-bit weight (b's codes, zero point 128, as int8: code ^ 0x80);
    # W_KT_STRIDE the words from one output-channel tile's weights to the next's (0: the tile's own
    # words, weights back to back); W_TRANSPOSE bit 0: each k_tile's weights are read as ROWS
    # consecutive words (tokens) of each channel tile, channel tiles W_KT_STRIDE words apart and k_tiles
    # ROWS words apart, and each ROWS x ROWS block of bytes is transposed into the weight bank
    # (rtl/wgt_transpose.sv: Q K^T's K read where its producer wrote it, a token tensor)
    "W_XOR": 46, "W_KT_STRIDE": 47, "W_TRANSPOSE": 61,
    # the row unit's layers (KIND softmax, layernorm; rtl/row_unit.sv): ROW_K the constant, low 32 bits
    # and the rest (a softmax's dividend D, 52 bits; a LayerNorm's eps_term E, 48 bits), ROW_SHIFT
    # (a softmax's shift P; a LayerNorm's sqrt_shift); the exp table or the records at IN2_BASE
    "ROW_K_LO": 56, "ROW_K_HI": 57, "ROW_SHIFT": 58,
    # read-only status and performance counters (cleared by start)
    "ERR_FIELD": 32,  # the CSR address of the first descriptor field the engine cannot run
    "CYCLES": 33,  # cycles from start to done
    "BUSY_CYCLES": 34,  # cycles with a beat accepted by the MAC array
    "MACS": 35,  # multiply-accumulates issued (beats x columns x rows)
    "WORDS_READ": 36, "WORDS_WRITTEN": 37,  # external memory words read / written since start
    "STATE": 38,
    "UNITS": 39,  # where each unit is (reader segment, waits): decoded by units_text() for the watchdog
    # the descriptor check on the registers as written, before start: the CSR address of the first
    # field the engine cannot run, 0 if it can run them all (start would then raise ERR_FIELD)
    "DESC_CHECK": 40,
    "PASS": 41,  # the pass running (or last run): band in bits 15:0, output-channel group in 31:16
    # read-only build facts
    "ID": 48, "ROWS": 49, "COLS": 50, "ACT_WORDS": 51, "WGT_WORDS": 52, "REC_WORDS": 53,
    "WGT_WIDTHS": 54,  # bit b set: the build unpacks b-bit weights (the description's weight_bits)
    "PIX_W": 55,  # the width of the pixel counters (the description's pixel_bits)
    # the row unit's staging buffer depth and LayerNorm record tiles (row_buf_words, ln_tiles)
    "ROW_WORDS": 59, "LN_TILES": 60,
}
#: Bits each writable register holds (the rest read 0); tb/engine/test_ctrl_regs.py checks the RTL agrees.
BITS = {**{n: 16 for n in ("KIND", "IN_C", "IN_H", "IN_W", "OUT_C", "OUT_H", "OUT_W", "KH", "KW", "STRIDE_Y",
                           "STRIDE_X", "PAD_TOP", "PAD_LEFT", "PAD_BOTTOM", "PAD_RIGHT", "GROUPS", "BAND_ROWS",
                           "GROUP_KT")},
        **{n: 32 for n in ("W_BASE", "B_BASE", "S_BASE", "IN_BASE", "OUT_BASE", "IN2_BASE")},
        **{n: 8 for n in ("Z_IN", "Z_OUT", "LO", "HI", "Z_IN2")}, "ADD_A0": 31, "ADD_B0": 31, "ADD_SHIFT": 6,
        "W_BITS": 4, "DIL_Y": 8, "DIL_X": 8, "W_XOR": 1, "W_KT_STRIDE": 32, "W_TRANSPOSE": 1,
        "ROW_K_LO": 32, "ROW_K_HI": 20, "ROW_SHIFT": 6}
#: Reset values of the writable registers that do not reset to 0 (every other register reads 0
#: after reset, except the build facts and the units' inputs UNITS, DESC_CHECK and PASS). HI = 255: a
#: layer programmed without a clamp does not clamp; W_BITS = 8: nor with packed weights; DIL_Y = DIL_X =
#: 1: nor with a dilated window (a driver written before dilation runs undilated convs as before).
RESET = {"HI": 0xFF, "W_BITS": 8, "DIL_Y": 1, "DIL_X": 1}
#: ERR_FIELD value for an accumulator + bias that left int32 (not a CSR address).
ERR_BIAS_OVERFLOW = 0xF0
KIND = KIND_CODES  # the KIND register's codes: hexgen.rules, the engine's one rule book
ID_VALUE = 0x494E5438  # "INT8"
#: Engine states (STATE register), for the watchdog's report.
STATES = {0: "StIdle", 1: "StCheck", 2: "StRun", 3: "StDone", 4: "StError"}
#: The UNITS status word: (name, lsb, width, text). The one definition: the RTL's bit positions
#: (UNITS_<name>_LSB / _W in rtl/accel_csr.svh) and the watchdog's decoding (units_text) come from it.
UNITS_FIELDS = [
    ("READER", 0, 3, "reader: {}"),  # what the reader's sequencer issues next (READER_SEGMENTS)
    ("BANK_WAIT", 3, 1, "reader waits for a free weight bank"),
    ("GATHER_ACTIVE", 4, 1, "gather active"),
    ("GATHER_ROW_WAIT", 5, 1, "gather waits for an input row"),
    ("COMPUTE_WGT_WAIT", 6, 1, "compute waits for its weights"),
    ("REQUANT_REC_WAIT", 7, 1, "requantizer waits for the records"),
    ("WRITER_BUSY", 8, 1, "writer busy"),
    ("GATHER_SET_WAIT", 9, 1, "gather waits for the compute unit"),
    ("VECTOR_BUSY", 10, 1, "vector unit busy (add, pooling, GELU)"),
    ("ROW_BUSY", 11, 1, "row unit busy (softmax, LayerNorm)"),
    ("COMPUTE_KT", 16, 16, "compute on k_tile {}"),
]
#: The reader's sequencer: what it issues next (enum seq_e in accel_csr.svh; UNITS READER field).
READER_STATES = {0: ("SqBias", "bias records"), 1: ("SqScale", "scale records"), 2: ("SqWgt", "weights"),
                 3: ("SqAct", "input rows"), 4: ("SqDone", "done")}
READER_SEGMENTS = {v: text for v, (_, text) in READER_STATES.items()}
#: Buffer tags of the reader's commands and writes (enum tag_e in accel_csr.svh).
BUFFER_TAGS = {0: "TgAct", 1: "TgWgt", 2: "TgBias", 3: "TgScale"}


def units_text(units: int) -> str:
    """The UNITS status word in words: where the engine's units stand (for a hang report)."""
    parts = []
    for name, lsb, width, text in UNITS_FIELDS:
        v = units >> lsb & ((1 << width) - 1)
        if width > 1:
            parts.append(text.format(READER_SEGMENTS.get(v, str(v)) if name == "READER" else v))
        elif v:
            parts.append(text)
    return "; ".join(parts)


def field_name(addr: int) -> str:
    if addr == ERR_BIAS_OVERFLOW:
        return "accumulator + bias overflow"
    for k, v in CSR.items():
        if v == addr:
            return k
    return f"0x{addr:02x}"


#: The base register of each segment a layer has (hexgen.plan.segments_of its kind).
BASE_CSR = {"weights": "W_BASE", "bias": "B_BASE", "scale": "S_BASE", "input": "IN_BASE", "input2": "IN2_BASE",
            # a GELU's table (the vector unit), a softmax's exp table and a LayerNorm's records (the row unit)
            "table": "IN2_BASE", "records": "IN2_BASE", "output": "OUT_BASE"}


def descriptor_csrs(layer: dict[str, Any], bases: dict[str, int]) -> list[tuple[str, int]]:
    """CSR writes for one layer of one run: its memory-map entry (hexgen) and its segments' word
    bases (a concat, which runs several times: run_csrs)."""
    if layer["descriptor"]["kind"] == "concat":
        raise ValueError(f"layer {layer['name']}: a concat runs once per input put in place (tb.engine.csr.run_csrs)")
    return run_csrs(layer["descriptor"], bases)


def run_csrs(d: dict[str, Any], bases: dict[str, int]) -> list[tuple[str, int]]:
    """CSR writes for one run of the engine: a layer descriptor, a concat's run (hexgen.concat),
    which reads its input at in_word of the input segment and the word it keeps lanes of where it
    writes, at out_word of the output region, or a matmul's head (hexgen.matmul), a linear whose
    weights are its b operand at w_word of input2, its input at in_word, its output at out_word, or a
    softmax's head (hexgen.tokens), its rows at in_word and out_word."""
    regs = descriptor_registers(d)
    if "w_word" in d:  # a matmul's head (hexgen.matmul): its weights are the b operand, input2
        bases = {"weights": bases["input2"] + d["w_word"], "bias": bases["bias"], "scale": bases["scale"],
                 "input": bases["input"] + d["in_word"], "output": bases["output"] + d["out_word"]}
    if d["kind"] == "concat":
        bases = {"input": bases["input"] + d["in_word"], "input2": bases["output"] + d["out_word"],
                 "output": bases["output"] + d["out_word"]}
    elif "in_word" in d and "w_word" not in d:  # a softmax's head (hexgen.tokens): its rows at the head's offsets
        bases = {**bases, "input": bases["input"] + d["in_word"], "output": bases["output"] + d["out_word"]}
    add = [("Z_IN2", d["z_in2"]), ("ADD_A0", d["a0"]), ("ADD_B0", d["b0"])] if KIND[d["kind"]] == KIND["add"] else []
    if d["kind"] == "concat":
        add = [("ADD_A0", d["a0"])]
    return [
        *[(n, regs[n]) for n in (*REGISTERS, *WEIGHT_READ, *ROW_CONSTANT) if n not in ("LO", "HI")],
        *[(BASE_CSR[s], base) for s, base in bases.items() if s in BASE_CSR],
        ("Z_IN", d["z_in"]), ("Z_OUT", d["z_out"]), *add, ("LO", regs["LO"]), ("HI", regs["HI"]),
    ]


def svh() -> str:
    lines = ["// Generated by `python -m tb.engine.csr` from tb/engine/csr.py: do not edit.", ""]
    lines += [f"localparam logic [7:0] CSR_{k} = 8'd{v};" for k, v in CSR.items()]
    lines.append(f"localparam logic [7:0] CSR_BIAS_OVERFLOW = 8'd{ERR_BIAS_OVERFLOW};")
    lines += [f"localparam logic [31:0] CSR_{k}_RESET = 32'h{v:x};" for k, v in RESET.items()]
    lines += [f"localparam logic [15:0] KIND_{k.upper()} = 16'd{v};" for k, v in KIND.items() if k not in ("pointwise", "linear", "add_const")]
    lines.append(f"localparam logic [31:0] CSR_ID_VALUE = 32'h{ID_VALUE:08x};")
    lines += ["", "// engine states (STATE register) and the reader's sequencer (UNITS READER field)"]
    lines.append("typedef enum logic [3:0] {" + ", ".join(f"{n} = 4'd{v}" for v, n in STATES.items()) + "} state_e;")
    lines.append("typedef enum logic [2:0] {" + ", ".join(f"{n} = 3'd{v}" for v, (n, _) in READER_STATES.items()) + "} seq_e;")
    lines.append("typedef enum logic [1:0] {" + ", ".join(f"{n} = 2'd{v}" for v, n in BUFFER_TAGS.items()) + "} tag_e;")
    lines += ["", "// UNITS status word fields"]
    for name, lsb, width, _ in UNITS_FIELDS:
        lines.append(f"localparam int UNITS_{name}_LSB = {lsb};")
        lines.append(f"localparam int UNITS_{name}_W = {width};")
    from hexgen.layout import BIAS_FIELDS, RECORD_BITS, SCALE_FIELDS

    lines += ["", f"// bias and scale records ({RECORD_BITS} bits each): field positions from hexgen.layout"]
    for rec, fields in (("BIAS", BIAS_FIELDS), ("SCALE", SCALE_FIELDS)):
        for f in fields:
            lines.append(f"localparam int REC_{rec}_{f.name.upper()}_LSB = {f.lsb};")
            lines.append(f"localparam int REC_{rec}_{f.name.upper()}_W = {f.width};")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(svh())
