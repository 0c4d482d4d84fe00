"""The rule book's buffer needs (hexgen.rules.register_needs, what the engine computes from its
registers and what hexgen's plan reports) agree with the layouts hexgen writes: one output-channel
tile of weights, one input image, every bias and scale record (buffers large enough for one pass),
in words, for random layers at every word width and array size hexgen supports; and the band
arithmetic of the documented example."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hexgen import HardwareConfig, plan_layer, synth
from hexgen.rules import descriptor_registers, register_needs


@pytest.mark.parametrize("rows, cols, word_bits", [(4, 8, 32), (8, 8, 64), (8, 4, 128), (16, 16, 128)])
def test_register_needs_equal_the_layout_words(rows: int, cols: int, word_bits: int):
    cfg = HardwareConfig(array_rows=rows, array_cols=cols, word_bits=word_bits, act_buf_words=1 << 20,
                         weight_buf_words=1 << 20, bias_buf_words=1 << 20,
                         scale_buf_words=1 << 20, align_bytes=64)
    rng = np.random.default_rng(rows * 1000 + word_bits)
    for i in range(40):
        c, k = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        kind = ("conv", "depthwise", "fc")[i % 3]
        if kind == "fc":
            layer = synth.fc_layer(rng, c=c, k=k)
        else:
            ks = int(rng.choice([1, 3, 5]))
            layer = synth.conv_layer(rng, c=c, k=c if kind == "depthwise" else k, hw=(ks + 4, ks + 6),
                                     kernel=(ks, ks), padding=(ks // 2, ks // 2), depthwise=kind == "depthwise")
        plan = plan_layer(layer, cfg, check_fit=False)
        lay = dict(plan.layouts)
        need = register_needs(descriptor_registers(plan.descriptor), rows, word_bits)
        k_tiles = -(-int(layer.out_shape[0]) // rows)
        assert need.weight == lay["weights"].words // k_tiles, (kind, layer.weight.shape)
        assert need.act == lay["input"].words, (kind, layer.in_shape)
        assert need.records == lay["bias"].words == lay["scale"].words, (kind, layer.out_shape)


def test_band_arithmetic_of_the_documented_stem_example() -> None:
    """docs/memory-map.md's example: the 224x224 MobileNetV2 stem (3x3 stride 2, TF 'SAME' pads
    (0, 1)) on `edge` runs in four bands of 28 output rows; the rows, pads and offsets below are
    worked out by hand in the doc, and the doc's table must show the same."""
    from hexgen.hw import PRESETS
    from hexgen.rules import passes, plan_tiling

    cfg = PRESETS["edge"]
    d = {"kind": "conv", "in_shape": [3, 224, 224], "out_shape": [32, 112, 112], "kernel": [3, 3], "stride": [2, 2],
         "padding": [0, 0], "padding_end": [1, 1], "groups": 1, "lo": 0, "hi": 255, "band_rows": 0, "group_k_tiles": 0,
         "weight_bits": 8}
    r = descriptor_registers(d)
    r.update(plan_tiling(r, cfg))
    assert (r["BAND_ROWS"], r["GROUP_KT"]) == (28, 2)
    got = [(p.out_y, p.out_rows, p.in_y, p.in_rows, p.pad_top, p.pad_bottom, p.in_offset)
           for p in passes(r, cfg.array_rows, cfg.word_bits)]
    assert got == [(0, 28, 0, 57, 0, 0, 0), (28, 28, 56, 57, 0, 0, 12544), (56, 28, 112, 57, 0, 0, 25088),
                   (84, 28, 168, 56, 0, 1, 37632)]
    doc = (Path(__file__).resolve().parent.parent / "docs" / "memory-map.md").read_text()
    for band, (oy, rows, iy, irows, pt, pb, off) in enumerate(got):
        assert f"| {band} | {oy}..{oy + rows - 1} | {iy}..{iy + irows - 1}" in doc and f"| {pt} | {pb} | {off:,} |" in doc


@pytest.mark.parametrize("kind", ["conv", "depthwise", "fc"])
def test_input_loads_cover_each_pass_input_once(kind: str) -> None:
    """hexgen.rules.input_loads, the engine's input order: over every pass of random tilings, the
    loads name each (channel tile, row) of the pass exactly once, and a depthwise pass has every
    row of channel tile t before any of tile t + 1 (k_tile t reads only tile t)."""
    from hexgen.rules import input_loads, passes

    rng = np.random.default_rng(7)
    for _ in range(20):
        c, ks = int(rng.integers(1, 70)), int(rng.choice([1, 3]))
        layer = (synth.fc_layer(rng, c=c, k=int(rng.integers(1, 40))) if kind == "fc" else
                 synth.conv_layer(rng, c=c, k=c if kind == "depthwise" else int(rng.integers(1, 70)),
                                  hw=(int(rng.integers(ks, 12)), int(rng.integers(ks, 12))), kernel=(ks, ks),
                                  padding=(ks // 2, ks // 2), depthwise=kind == "depthwise"))
        cfg = HardwareConfig(array_rows=8, array_cols=8, word_bits=64)
        r = descriptor_registers(plan_layer(layer, cfg, check_fit=False).descriptor)
        need = register_needs(r, 8, 64)
        r.update(BAND_ROWS=int(rng.integers(1, r["OUT_H"] + 1)), GROUP_KT=int(rng.integers(1, need.kt_out + 1)))
        for p in passes(r, 8, 64):
            loads = input_loads(kind == "depthwise", p.c_tiles, p.in_rows, r["IN_H"])
            named = [(t, y) for tiles, y in loads for t in tiles]
            rows = p.in_rows if r["IN_H"] > 1 else 1
            assert sorted(named) == [(t, y) for t in range(p.c_tiles) for y in range(rows)], (kind, p)
            if kind == "depthwise":
                assert named == sorted(named) and all(len(tiles) == 1 for tiles, _ in loads)


def test_large_planes_run_and_the_pixel_counters_are_the_descriptions() -> None:
    """Issue 26: the input image is addressed, not counted, so the 513 x 513 stem of a segmentation
    network (263,169 input pixels, 257 x 257 = 66,049 output pixels: both past 16 bits) is planned in
    bands on `edge`; the output-pixel counters are as wide as the description's pixel_bits: a
    16-bit build refuses the same layer naming OUT_H and pixel_bits, and a 24-bit one refuses an output
    of 4096 x 4096 but not 4095 x 4097 (2^24 - 1)."""
    from dataclasses import replace

    from hexgen.errors import ConfigError
    from hexgen.hw import PRESETS
    from hexgen.rules import engine_refusal, plan_tiling

    edge = PRESETS["edge"]
    stem = {"kind": "conv", "in_shape": [3, 513, 513], "out_shape": [32, 257, 257], "kernel": [3, 3], "stride": [2, 2],
            "padding": [1, 1], "padding_end": [1, 1], "groups": 1, "lo": 0, "hi": 255, "band_rows": 0, "group_k_tiles": 0,
            "weight_bits": 8}
    r = descriptor_registers(stem)
    r.update(plan_tiling(r, edge))
    assert engine_refusal(r, edge) is None and r["BAND_ROWS"] < 257
    narrow = replace(edge, pixel_bits=16)
    field, why = engine_refusal(r, narrow)
    assert field == "OUT_H" and "66049" in why and "pixel_bits = 16" in why and "65535" in why

    def one_by_one(h: int, w: int) -> dict[str, int]:
        d = {**stem, "in_shape": [16, h, w], "out_shape": [16, h, w], "kernel": [1, 1], "stride": [1, 1],
             "padding": [0, 0], "padding_end": [0, 0]}
        regs = descriptor_registers(d)
        regs.update({"BAND_ROWS": 1, "GROUP_KT": 1})
        return regs

    assert engine_refusal(one_by_one(4096, 4096), edge)[0] == "OUT_H"
    at_limit = engine_refusal(one_by_one(4095, 4097), edge)
    assert at_limit is None or at_limit[0] != "OUT_H", at_limit
    for bad in (15, 33):
        with pytest.raises(ConfigError, match="pixel_bits"):
            replace(edge, pixel_bits=bad)


def test_a_depthwise_layer_too_wide_for_one_row_of_its_group_runs_in_smaller_groups() -> None:
    """A depthwise pass loads only its group's channel tiles, so when one output row of a group
    sized by the record buffers does not fit the activation buffer, the plan takes fewer tiles a
    group: DeepLab's 192-channel depthwise at 65 x 65 on the default preset (24 tiles x 3 rows x 65 =
    4,680 words of 4,096) was refused; it now runs in groups whose row fits."""
    from hexgen.hw import PRESETS
    from hexgen.rules import engine_refusal, plan_tiling, register_needs

    cfg = PRESETS["default"]
    d = {"kind": "depthwise", "in_shape": [192, 65, 65], "out_shape": [192, 65, 65], "kernel": [3, 3], "stride": [1, 1],
         "padding": [1, 1], "padding_end": [1, 1], "groups": 192, "lo": 0, "hi": 255, "band_rows": 0,
         "group_k_tiles": 0, "weight_bits": 8}
    r = descriptor_registers(d)
    r.update(plan_tiling(r, cfg))
    assert engine_refusal(r, cfg) is None
    # by hand: 4,096 // (3 rows x 65) = 21 tiles fit one row; 24 tiles in two groups, evened to 12 each
    assert r["GROUP_KT"] == 12 and register_needs(r, 8).act <= cfg.act_buf_words
