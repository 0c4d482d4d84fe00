"""The functional coverage's bins (tb/coverage.py), without a simulator: a layer's descriptor and
run fill exactly the bins they should, and what nothing hits is reported as a hole."""
from __future__ import annotations

from tb.coverage import POINTS, features, holes

CONV = {"name": "c", "descriptor": {"kind": "conv", "in_shape": [12, 9, 9], "out_shape": [16, 4, 2], "kernel": [3, 4],
                                    "stride": [2, 4], "padding": [1, 0], "padding_end": [0, 0], "z_in": 0, "z_out": 255,
                                    "weight_bits": 4}}


def test_a_layer_fills_its_bins() -> None:
    f = features(CONV["descriptor"], 8, 8, {"clamp_lo": 3, "clamp_hi": 0})
    assert f == {"kind": "conv", "kh": 3, "kw": 4, "sy": 2, "sx": 4, "pad": "asymmetric", "in_c": "remainder",
                 "out_c": "multiple", "pixels": "at", "clamp_lo": True, "clamp_hi": False, "z_in": "0", "z_out": "255",
                 "pad_z_in": "0", "w_bits": 4, "dilation": "1", "concat": None, "rows": []}  # without dilation: 1
    atrous = features({**CONV["descriptor"], "dilation": [2, 12]}, 8, 8, {})
    assert atrous["dilation"] == "8+"
    assert features({**CONV["descriptor"], "kind": "fc", "dilation": [1, 1]}, 8, 8, {})["dilation"] is None
    # a concat's runs (hexgen.concat): a requantizing run wins over a lane shift
    run = {"in_shape": [8, 3, 3], "out_shape": [12, 3, 3], "a0": 0}
    cat = {"kind": "concat", "in_shape": [8, 3, 3], "out_shape": [20, 3, 3], "z_out": 3, "runs": [run]}
    assert features(cat, 8, 8, {})["concat"] == "lanes shifted"
    assert features({**cat, "runs": [run, {**run, "out_shape": [8, 3, 3], "a0": 1 << 30}]}, 8, 8, {})["concat"] == "requantized"
    # a transformer's linear over 17 tokens of 64 channels: the tokens are the pixels; a 16x16
    # stride-16 patch embedding: the large kernel and stride bins
    lin = features({**CONV["descriptor"], "kind": "linear", "in_shape": [17, 64], "out_shape": [17, 8], "kernel": [1, 1],
                    "stride": [1, 1], "padding": [0, 0]}, 8, 8, {})
    assert (lin["kind"], lin["in_c"], lin["out_c"], lin["pixels"]) == ("linear", "multiple", "at", "remainder"), lin
    patch = features({**CONV["descriptor"], "kernel": [16, 8], "stride": [16, 5]}, 8, 8, {})
    assert [patch[k] for k in ("kh", "kw", "sy", "sx")] == [16, 8, 16, 5]
    binned = {name: xf(patch) for name, xf, _ in POINTS}
    assert [binned[k] for k in ("kernel_h", "kernel_w", "stride_y", "stride_x")] == ["8-16", "8-16", "5-16", "5-16"]
    # a softmax's extreme rows (tb.engine.test_layers.row_extremes): its bins, a conv's never
    sm = {"kind": "softmax", "in_shape": [2, 5, 5], "out_shape": [2, 5, 5], "z_in": 3, "z_out": 0}
    assert features(sm, 8, 8, {"row_extremes": ["equal", "code 0"]})["rows"] == ["softmax equal", "softmax code 0"]
    assert features(CONV["descriptor"], 8, 8, {"row_extremes": ["equal"]})["rows"] == []


def test_row_extremes_of_an_input() -> None:
    import numpy as np

    from tb.engine.test_layers import row_extremes

    assert row_extremes(np.array([[[3, 4, 5], [6, 7, 8]]])) == []
    assert row_extremes(np.array([[[3, 4, 5], [9, 9, 9]]])) == ["equal"]
    assert row_extremes(np.array([[1, 2, 130], [5, 5, 6]])) == ["one large"]
    assert row_extremes(np.array([[1, 2, 129], [0, 5, 6]])) == ["code 0"]


def test_only_passing_layers_count_and_the_rest_are_holes() -> None:
    every = {name for name, _, _ in POINTS} | {"bias_shift", "rows"}
    assert set(holes([], {"c": CONV}, 8, 8)) == every
    failed = holes([{"layer": "c", "status": "FAIL", "clamp_lo": 1, "bias_shifts": [0]}], {"c": CONV}, 8, 8)
    assert set(failed) == every
    got = holes([{"layer": "c", "status": "PASS", "clamp_lo": 1, "bias_shifts": [0, 9]}], {"c": CONV}, 8, 8)
    assert got["kind"] == ["pointwise", "depthwise", "fc", "add", "maxpool", "avgpool", "upsample", "concat", "linear", "matmul", "add_const", "gelu", "softmax", "layernorm"]
    assert got["kernel_h"] == [1, 2, 4, 5, 6, 7, "8-16"] and got["stride_x"] == [1, 2, 3, "5-16"]
    assert got["bias_shift"] == ["1-7"] and "clamp_lo_hit" not in got and got["clamp_hi_hit"] == [True]
    assert got["weight_bits"] == [8, 2]  # the packed 4-bit path's bin is the layer's
    assert got["dilation"] == ["2", "3-7", "8+"]
