"""The rule book's buffer needs (hexgen.rules.register_needs, what the engine computes from its
registers and what hexgen's plan reports) agree with the layouts hexgen writes: one output-channel
tile of weights, one input image, every bias and scale record, in words, for random layers at
every word width and array size hexgen supports."""
from __future__ import annotations

import numpy as np
import pytest

from hexgen import HardwareConfig, plan_layer, synth
from hexgen.rules import descriptor_registers, register_needs


@pytest.mark.parametrize("rows, cols, word_bits", [(4, 8, 32), (8, 8, 64), (8, 4, 128), (16, 16, 128)])
def test_register_needs_equal_the_layout_words(rows: int, cols: int, word_bits: int):
    cfg = HardwareConfig(array_rows=rows, array_cols=cols, word_bits=word_bits, act_buf_words=1 << 20,
                         weight_buf_words=1 << 20, out_buf_words=1 << 20, bias_buf_words=1 << 20,
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
