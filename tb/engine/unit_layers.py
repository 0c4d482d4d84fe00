"""What the engine's unit benches share (tb/engine/test_gather.py, tb/engine/test_compute_issue.py,
tb/engine/test_drain_requant.py): random layers hexgen lays out for a hardware description, the register
sets the gather must produce (from hexgen's schedule and addresses and numpy's windows), golden's
accumulators, and the cocotb driver that runs a unit over random layers of every kind."""
from __future__ import annotations

import itertools
import os
import random
from typing import Any, Awaitable, Callable

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

from golden.arith import conv_acc, dilated_span, linear_acc
from hexgen import build_image, synth
from hexgen.errors import HexgenError
from hexgen.hw import load_hw
from hexgen.layout import element_address
from hexgen.rules import MAX_KERNEL, MAX_STRIDE, descriptor_registers, register_needs
from tb.sim import bench_seed

KINDS = ("conv", "depthwise", "pointwise", "fc")
#: run_case(dut, rng, cfg, layer, image, x) -> problems
RunCase = Callable[[Any, random.Random, Any, Any, Any, Any], Awaitable[list[str]]]


#: Weight widths of the random layers: 8 bits, the packed widths, and widths stored at the next
#: packed width up (3 bits in 4-bit elements); those `cfg` does not unpack are drawn again.
WEIGHT_BITS = (8, 4, 2, 3)


def random_layer(rng: random.Random, cfg: Any, kind: str, *, max_hw: int = 11, fc_max_c: int | None = None,
                 max_k: int | None = None, w_bits: int = 8, dilated: bool = False) -> tuple[Any, Any, Any]:
    """A small layer of `kind` with w_bits-bit weights that hexgen lays out for `cfg` (drawn again
    until one fits): the golden layer, hexgen's image and the input (uint8 [1, *in_shape]). Image
    sides up to max_hw, fc inputs up to fc_max_c (default 3 x rows + 5), outputs up to max_k
    (default 2 x rows + 3). dilated: a conv or depthwise window with taps 2 or 3 apart along at
    least one axis of more than one tap (an atrous conv)."""
    nrng = np.random.default_rng(rng.randrange(2**31))
    r = cfg.array_rows
    while True:
        c = rng.choice([1, 3, r - 1, r, r + 1, 2 * r + 3])
        c = max(c, 1)
        if kind == "fc":
            layer = synth.fc_layer(nrng, c=rng.randint(1, fc_max_c or 3 * r + 5), k=rng.randint(1, max_k or 2 * r + 3),
                                   w_bits=w_bits)
        else:
            if kind == "pointwise":
                kernel = (1, 1)
            else:
                kernel = (rng.choice([1, 2, 3, 5]), rng.choice([1, 2, 3, 5]))
                if rng.random() < 0.1 and not dilated:  # now and then past 7 (a ViT's 16x16 patch embedding)
                    kernel = (rng.choice([8, 11, MAX_KERNEL]), rng.choice([1, 9, MAX_KERNEL]))
                if kind == "conv" and kernel == (1, 1):
                    kernel = (3, 1)
            dil = (1, 1)
            if dilated and kind != "pointwise":  # taps 2 or 3 apart down (1, 2 or 3 across)
                kernel = kernel if kernel[0] > 1 else (3, kernel[1])
                dil = (rng.choice([2, 3]), rng.choice([1, 2, 3]) if kernel[1] > 1 else 1)
            span = (dilated_span(kernel[0], dil[0]), dilated_span(kernel[1], dil[1]))
            hw = (rng.randint(span[0], max(span[0], max_hw)), rng.randint(span[1], max(span[1], max_hw)))
            pad = (rng.randint(0, span[0] - 1), rng.randint(0, span[1] - 1))
            # half the layers padded differently below / right (TF 'SAME')
            end = (rng.randint(0, span[0] - 1), rng.randint(0, span[1] - 1)) if rng.random() < 0.5 else None
            s_max = MAX_STRIDE if rng.random() < 0.1 else 4  # now and then past 4 (a patch embedding's 16)
            stride = (rng.randint(1, s_max), rng.randint(1, s_max))
            layer = synth.conv_layer(nrng, c=c, k=c if kind == "depthwise" else rng.randint(1, max_k or 2 * r + 3), hw=hw,
                                     kernel=kernel, stride=stride, padding=pad, pad_end=end,
                                     depthwise=kind == "depthwise", w_bits=w_bits, dilation=dil)
            if layer.kind != kind:  # golden's classification (a 1-channel depthwise is a conv)
                continue
        net = synth.network([layer], layer.in_shape)
        x = nrng.integers(0, 256, (1, *layer.in_shape)).astype(np.uint8)
        try:
            return layer, build_image(net, x, cfg, model="gather"), x
        except HexgenError:
            continue  # does not fit this description: draw again


def expected_sets(image: Any, layer: Any, cfg: Any) -> list[dict[str, Any]]:
    """The register sets in the order the memory map's schedule gives, from numpy's sliding window
    and hexgen's address function (with p0, the tile's first pixel, which the unit does not output)."""
    from numpy.lib.stride_tricks import sliding_window_view

    entry = image.memory_map()["layers"][0]
    regs = descriptor_registers(entry["descriptor"])
    need = register_needs(regs, cfg.array_rows, cfg.word_bits)
    seg = image.segment(layer.name, "input")
    lay, words = seg.layout, seg.words
    r = cfg.array_rows
    h, w = regs["IN_H"], regs["IN_W"]
    # source[tap, p]: 1 + the input pixel (y * W + x) output pixel p reads at kernel tap
    # (ky * KW + kx), 0 where the window lies in the padding
    # (numpy's windows, not PyTorch's unfold as before: the same windows without importing PyTorch,
    # 2 s in each simulator process, and still apart from hexgen's address function)
    index = np.arange(1, h * w + 1, dtype=np.int64).reshape(h, w)
    padded = np.pad(index, ((regs["PAD_TOP"], regs["PAD_BOTTOM"]), (regs["PAD_LEFT"], regs["PAD_RIGHT"])))
    span = (dilated_span(regs["KH"], regs["DIL_Y"]), dilated_span(regs["KW"], regs["DIL_X"]))
    # a dilated window: the span's every DIL-th row and column
    windows = sliding_window_view(padded, span)[:: regs["STRIDE_Y"], :: regs["STRIDE_X"], :: regs["DIL_Y"], :: regs["DIL_X"]]
    source = windows.reshape(-1, regs["KH"] * regs["KW"]).T  # [tap (ky * KW + kx), output pixel (row-major)]
    assert source.shape[1] == need.npix, (source.shape, need.npix)
    pad_word = int.from_bytes(bytes([entry["descriptor"]["z_in"]]) * r, "little")
    # the strides the memory map exports for address generators written by hand: they must name
    # the same word as element_address
    exported = next(s for s in image.memory_map()["segments"] if s["layer"] == layer.name and s["segment"] == "input")
    strides = {e["axis"]: e["stride"] for e in exported["layout"]["strides"]}

    def word(ct: int, pix: int) -> int:
        if pix == 0:
            return pad_word
        y, x = divmod(pix - 1, w)
        index = (0, ct * r, y, x) if len(lay.shape) == 4 else (0, ct * r)
        address = element_address(lay, index)[0]
        coord = {"n": 0, "c_tile": ct, "y": y, "x": x, "c_lane": 0}
        by_strides = sum(coord[a] * s for a, s in strides.items()) * lay.elem_bits // lay.word_bits
        assert by_strides == address, f"memory map strides give word {by_strides}, element_address {address}"
        return words[address]

    sizes = {"k_tile": need.kt_out, "p_tile": -(-need.npix // entry["pixel_tile"]), "c_tile": need.ct_in,
             "ky": regs["KH"], "kx": regs["KW"]}
    axes = [a for a in entry["schedule"] if a != "c_lane"]  # c_lane: the beats within a set
    step_axes = axes[axes.index("p_tile") + 1:] if "p_tile" in axes else axes[1:]
    out = []
    for point in itertools.product(*(range(sizes[a]) for a in axes)):
        at = dict(zip(axes, point))
        kt, pt = at["k_tile"], at.get("p_tile", 0)
        ct = kt if need.depthwise else at.get("c_tile", 0)
        ky, kx = at.get("ky", 0), at.get("kx", 0)
        step = 0
        for a in step_axes:
            step = step * sizes[a] + at[a]
        p0 = pt * entry["pixel_tile"]
        cols = min(entry["pixel_tile"], need.npix - p0)
        tap = ky * regs["KW"] + kx
        out.append({"p0": p0, "kt": kt, "step": step, "ct": ct, "first": int(step == 0), "last": int(step == need.steps - 1),
                    "ktlast": int(step == need.steps - 1 and p0 + cols >= need.npix), "cols": cols,
                    "vectors": [word(ct, int(source[tap, p0 + j])) for j in range(cols)]})
    return out


def golden_acc(layer: Any, x: Any) -> Any:
    """[K, pixels] accumulators without the bias, from golden."""
    k = layer.weight.shape[0]
    zero = np.zeros(k, np.int64)
    if layer.kind == "fc":
        return linear_acc(x, layer.weight, zero, z_in=layer.z_in).reshape(k, 1)
    acc = conv_acc(x, layer.weight, zero, z_in=layer.z_in, stride=layer.stride, padding=layer.pads,
                   groups=layer.groups, dilation=layer.dilation)
    return acc.reshape(k, -1)



async def run_random_layers(dut: Any, test_file: str, unit: str, idle: tuple[str, ...], cases_var: str,
                            run_case: RunCase) -> None:
    """Reset the unit (its `idle` inputs 0), then run_case over $cases_var (default 24) random layers
    of the kinds in turn for $HW; fail with the first problems and the seed."""
    hw = os.environ.get("HW", "default")
    seed = bench_seed(dut._log, test_file, hw)
    rng = random.Random(seed)
    cfg = load_hw(hw)
    Clock(dut.clk_i, 10, unit="ns", impl="gpi").start()
    for port in idle:
        getattr(dut, port).value = 0
    dut.rst_i.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk_i)
    dut.rst_i.value = 0
    problems: list[str] = []
    kinds = set()
    for i in range(int(os.environ.get(cases_var, "24"))):  # the kinds in turn, so each is covered
        # every other round of the kinds with narrow weights (packed), at a width the description unpacks
        narrow = [b for b in WEIGHT_BITS[1:] if cfg.weight_store_bits(b) in cfg.weight_bits]
        w_bits = rng.choice(narrow) if (i // len(KINDS)) % 2 and narrow else 8
        # every third round of the kinds with dilated windows (conv and depthwise)
        layer, image, x = random_layer(rng, cfg, KINDS[i % len(KINDS)], w_bits=w_bits, dilated=(i // len(KINDS)) % 3 == 1)
        kinds.add(layer.kind)
        if getattr(layer, "dilation", (1, 1)) != (1, 1):
            kinds.add("dilated")
        problems += await run_case(dut, rng, cfg, layer, image, x)
        if problems:
            break
    assert not problems, f"{unit} disagrees (seed {seed}):\n  " + "\n  ".join(problems[:5])
    want = set(KINDS) | ({"dilated"} if int(os.environ.get(cases_var, "24")) > len(KINDS) else set())
    assert kinds == want, f"the cases covered only {kinds}"
