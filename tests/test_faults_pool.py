"""A pool with one output window along an axis: its stride there is never applied (issue 23).

`nn.AvgPool2d(7)` on a 7x7 image (MobileNetV1 224's global pool as TFLite writes it; `AvgPool2d(6)`
at 192) was UNSUPP, "the engine cannot run field STRIDE_Y: stride 7: 1..4", though
`nn.AdaptiveAvgPool2d(1)`, the same pool, ran. hexgen now describes such a pool to the engine with
the smallest stride that gives its one window (hexgen.plan.single_window_stride); golden's record
and results are unchanged. (`make sim LAYER=pool1` on such models PASSes: docs/engine.md.)
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from golden.layers import AvgPoolLayer, MaxPoolLayer
from hexgen import build_image, check_image, synth, write_image
from hexgen.hw import load_hw
from hexgen.plan import layer_descriptor, plan_layer

CFG = load_hw("default")


def _pool(cls: type, kernel: tuple[int, int], stride: tuple[int, int], hw: tuple[int, int], out: tuple[int, int],
          **kw: object):
    return cls(name="pool1", inputs=("input",), in_shape=(16, *hw), out_shape=(16, *out), module="pool", source="pool",
               kernel=kernel, stride=stride, **kw)


CASES = {
    # (layer, the descriptor's stride): stride along an axis of one output window -> the smallest giving it
    "avg7-on-7x7": (_pool(AvgPoolLayer, (7, 7), (7, 7), (7, 7), (1, 1)), [1, 1]),
    "avg6-on-6x6": (_pool(AvgPoolLayer, (6, 6), (6, 6), (6, 6), (1, 1)), [1, 1]),
    "max7-on-7x7": (_pool(MaxPoolLayer, (7, 7), (7, 7), (7, 7), (1, 1), padding=(0, 0)), [1, 1]),
    "avg7-on-8x8": (_pool(AvgPoolLayer, (7, 7), (7, 7), (8, 8), (1, 1)), [2, 2]),  # floor mode: a row/column left over
    "avg7x2-on-7x8": (_pool(AvgPoolLayer, (7, 2), (7, 2), (7, 8), (1, 4)), [1, 2]),  # columns: 4 windows, stride kept
    "max3-pad1-on-4x4": (_pool(MaxPoolLayer, (3, 3), (5, 5), (4, 4), (1, 1), padding=(1, 1)), [4, 4]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_single_window_stride_is_described_as_the_smallest_that_gives_it(case):
    layer, stride = CASES[case]
    d = layer_descriptor(layer)
    assert d["stride"] == stride
    plan_layer(layer, CFG)  # the engine runs it: no LayoutError "cannot run field STRIDE_Y"
    # golden gives the same result with the described stride as with the model's
    x = np.random.default_rng(23).integers(0, 256, (2, *layer.in_shape)).astype(np.uint8)
    described = dataclasses.replace(layer, stride=tuple(d["stride"]))
    assert np.array_equal(layer.forward([x]), described.forward([x]))


def test_a_stride_over_several_windows_is_kept():
    layer = _pool(AvgPoolLayer, (2, 2), (2, 2), (8, 8), (4, 4))
    assert layer_descriptor(layer)["stride"] == [2, 2]


def test_global_pool_written_as_avgpool7_makes_a_checked_image(tmp_path):
    rng = np.random.default_rng(5)
    conv = synth.conv_layer(rng, c=3, k=16, hw=(7, 7), z_in=0)
    pool = dataclasses.replace(CASES["avg7-on-7x7"][0], inputs=(conv.name,), in_shape=conv.out_shape)
    net = synth.network([conv, pool], conv.in_shape)
    x_q = rng.integers(0, 256, (1, *conv.in_shape)).astype(np.uint8)
    image = build_image(net, x_q, CFG, model="gap7", layers=[conv.name, "pool1"])
    out = write_image(image, tmp_path / "img")
    assert check_image(out) == []  # the checker rebuilds the pool from its descriptor and gets golden's output
