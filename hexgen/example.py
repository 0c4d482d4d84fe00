"""The worked example of docs/memory-map.md, generated from hexgen's own layout.

    python -m hexgen example            # print the example (markdown)

A small conv (K=6, C=3, 3x3, 4x4 image, padding 1) on a 4-row array with 32-bit words: where
every element lands (word, lane), the padding, the records, and the first words of the real files.
tests/test_hexgen_docs.py checks that the doc's copy equals this output.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from hexgen.config import HardwareConfig
from hexgen.folder import write_image
from hexgen.image import build_image
from hexgen.layout import Layout, element_address
from hexgen.plan import LayerPlan
from hexgen import synth

CONFIG = HardwareConfig(array_rows=4, array_cols=4, word_bits=32, align_bytes=64)


def _cells(lay: Layout, name: str, words: range) -> dict[tuple[int, int], str]:
    """(word, lane) -> the element it holds, for the words asked (records: the first word of each)."""
    cells: dict[tuple[int, int], str] = {}
    for idx in np.ndindex(*lay.shape):
        w, lane = element_address(lay, idx)
        if w in words:
            cells[(w, lane)] = f"{name}[{','.join(map(str, idx))}]"
    return cells


def _grid(lay: Layout, name: str, words: range, lanes: int) -> list[str]:
    cells = _cells(lay, name, words)
    width = max([len(c) for c in cells.values()] + [len(f"pad {lay.pad}"), 7])
    head = "word  " + "  ".join(f"{f'lane {i}':<{width}}" for i in reversed(range(lanes)))
    out = [head.rstrip()]
    for w in words:
        row = [cells.get((w, i), f"pad {lay.pad}") for i in reversed(range(lanes))]
        out.append((f"{w:<4}  " + "  ".join(f"{c:<{width}}" for c in row)).rstrip())
    return out


def render() -> str:
    rng = np.random.default_rng(7)
    conv = synth.conv_layer(rng, name="conv1", c=3, k=6, hw=(4, 4), z_in=12, z_out=20)
    net = synth.network([conv], conv.in_shape, z_in=12)
    x_q = rng.integers(0, 256, (1, 3, 4, 4)).astype(np.uint8)
    img = build_image(net, x_q, CONFIG, model="example")
    plan: LayerPlan = img.plans[0]
    lanes = CONFIG.lanes
    w, a, e = plan.layout("weights"), plan.layout("input"), plan.layout("expected")
    b, s = plan.layout("bias"), plan.layout("scale")
    out: list[str] = []
    out.append(f"Config: {CONFIG.array_rows} array rows, {CONFIG.word_bits}-bit words ({lanes} lanes), alignment {CONFIG.align_bytes} bytes.")
    out.append(
        f"Layer: conv 3x3, stride 1, padding 1, K=6 output channels, C=3 input channels, 4x4 image, z_in={conv.z_in}, z_out={conv.requant.z_out}."
    )
    out.append("")
    out.append(f"Weights w[k,c,ky,kx], shape 6x3x3x3, layout `{w.describe()}`, {w.words} words.")
    out.append("Each word is one weight column: the 4 output channels of a k tile for one (c, ky, kx).")
    out.append("c_lane 3 does not exist (C=3), so every fourth word is padding; k tile 1 holds k=4,5 and two padded rows.")
    out.append("")
    out.append("```")
    out += _grid(w, "w", range(0, 9), lanes)
    out.append("...")
    out += _grid(w, "w", range(36, 41), lanes)[1:]
    out.append("```")
    out.append("")
    out.append(f"Input activations a[n,c,y,x], shape 1x3x4x4, layout `{a.describe()}`, {a.words} words, padded with z_in={a.pad}:")
    out.append("")
    out.append("```")
    out += _grid(a, "a", range(0, 5), lanes)
    out.append("```")
    out.append("")
    out.append(f"Expected output y[n,k,y,x], shape 1x6x4x4, layout `{e.describe()}`, {e.words} words, padded with z_out={e.pad}; channel tile 1 starts at word 16:")
    out.append("")
    out.append("```")
    out += _grid(e, "y", range(15, 18), lanes)
    out.append("```")
    out.append("")
    out.append(f"Bias and scale: one 64-bit record per output channel, layout `{b.describe()}`; with 32-bit words a record is two words, low word first:")
    out.append("")
    out.append("```")
    out.append("channel  bias mantissa  shift  record              scale M0  n   record")
    for k in range(6):
        m, sh = int(conv.bias.mantissa[k]), int(conv.bias.shift[k])
        m0, n = int(conv.requant.m0[k]), int(conv.requant.n[k])
        seg_b = img.segment("conv1", "bias").words
        seg_s = img.segment("conv1", "scale").words
        bw, _ = element_address(b, (k,))
        sw, _ = element_address(s, (k,))
        rb = seg_b[bw] | (seg_b[bw + 1] << 32)
        rs = seg_s[sw] | (seg_s[sw + 1] << 32)
        out.append(f"{k:<7}  {m:>13}  {sh:>5}  {rb:016x}    {m0:>8}  {n:<2}  {rs:016x}")
    out.append("```")
    out.append("")
    out.append("Channels 6 and 7 (padding of k tile 1): bias record 0, scale record M0 = 0, n = 1 (`0000000100000000`).")
    out.append("")
    with tempfile.TemporaryDirectory() as tmp:
        d = write_image(img, Path(tmp) / "example")
        wfile = (d / "conv1.weights.memh").read_text().splitlines()
        table = (d / "memory_map.txt").read_text().splitlines()
    out.append("The first lines of `conv1.weights.memh` (lane 3 is the leftmost byte of each word):")
    out.append("")
    out.append("```")
    out += wfile[:15]
    out.append("```")
    out.append("")
    first = [int(v) for v in np.asarray(conv.weight)[0:4, 0, 0, 0]]
    out.append(f"Word 0 holds w[0..3,0,0,0] = {first} as int8 two's complement, lane 0 in bits 7:0.")
    out.append("")
    out.append("The memory map table (`memory_map.txt`):")
    out.append("")
    out.append("```")
    out += table
    out.append("```")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
