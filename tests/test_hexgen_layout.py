"""hexgen's pure layer: HardwareConfig, Layout, tile order, packing, records, per-layer plans.

Expected words and addresses here are worked out by hand from docs/memory-map.md, not taken from
the code under test; the property tests check round trips and that two independent forms of the
order (numpy transposition in tile_order, scalar arithmetic in element_address) agree.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hexgen import (
    BIAS_FIELDS,
    SCALE_FIELDS,
    ConfigError,
    FitError,
    HardwareConfig,
    Layout,
    LayoutError,
    element_address,
    from_words,
    pack_words,
    plan_layer,
    tile_order,
    to_words,
    unpack_words,
    untile,
)
from hexgen import synth
from hexgen.layout import decode_records, encode_records, padding_mask

# ---- packing: hand-computed words ---------------------------------------------------------------


def test_pack_narrow_elements_lane0_least_significant() -> None:
    # 4-bit: nibbles 1, F (-1), 2, 8 (-8) from bit 0 up; the rest of the word is zero
    assert pack_words([1, -1, 2, -8], 4, 32) == [0x000082F1]
    # 2-bit: 1, 3 (-1), 2 (-2), 0 -> 0b00_10_11_01 in the first byte; sixteen per 32-bit word
    assert pack_words([1, -1, -2, 0], 2, 32) == [0x2D]
    assert pack_words([1] * 17, 2, 32) == [0x55555555, 0x1]
    assert unpack_words([0x000082F1], 4, 32, signed=True, count=4).tolist() == [1, -1, 2, -8]
    assert unpack_words([0x2D], 2, 32, signed=False, count=4).tolist() == [1, 3, 2, 0]
    with pytest.raises(LayoutError, match="does not fit 4 bits"):
        pack_words([8, -9], 4, 32)


def test_word_aligned_block_packs_vectors_and_pads_each_block() -> None:
    # depthwise-like 4-bit weights [k=10, ky=3]: k tiles of 4 (k_tile[3] ky[3] k_lane[4]); a vector is
    # 16 bits, two to a 32-bit word; each k_tile's block of 3 vectors (48 bits) is padded to 2 words
    lay = Layout(("k", "ky"), (10, 3), (("k", 4),), ("k_tile", "ky", "k_lane"), 4, True, 0, 32, word_aligned="ky")
    assert lay.block_words == 2 and lay.words == 6
    assert [s for _, _, s in lay.strides] == [16, 4, 1]  # k_tile steps by the padded block (16 nibbles)
    x = np.arange(30).reshape(10, 3) % 15 - 7
    words = to_words(x, lay)
    # word 0: ky 0 then ky 1 of channels 0..3; word 1: ky 2, then 16 bits of padding
    nib = lambda v: v & 0xF  # noqa: E731
    w0 = sum(nib(int(x[k, ky])) << (4 * (ky * 4 + k)) for ky in (0, 1) for k in range(4))
    w1 = sum(nib(int(x[k, 2])) << (4 * k) for k in range(4))
    assert words[:2] == [w0, w1]
    assert element_address(lay, (5, 2)) == (3, 1)  # k_tile 1 starts at word 2; ky 2 lane 1 -> word 3, lane 1
    back, problems = from_words(words, lay)
    assert problems == [] and np.array_equal(back, x)
    # without word_aligned each 16-bit vector takes a word of its own
    assert Layout(("k", "ky"), (10, 3), (("k", 4),), ("k_tile", "ky", "k_lane"), 4, True, 0, 32).words == 9


def test_pack_lane0_is_least_significant() -> None:
    assert pack_words([1, 2, 3, 4], 8, 32) == [0x04030201]
    assert pack_words([-1, 2, 0, 0x80], 8, 32) == [0x800002FF]
    assert pack_words(list(range(1, 9)), 8, 64) == [0x0807060504030201]
    assert pack_words(list(range(16)), 8, 128) == [0x0F0E0D0C0B0A09080706050403020100]
    assert pack_words([-2], 8, 32) == [0x000000FE]  # tail padded with zero bits


def test_pack_wide_elements_least_significant_word_first() -> None:
    assert pack_words([0x1122334455667788], 64, 32) == [0x55667788, 0x11223344]
    assert pack_words([0x1122334455667788, 1], 64, 128) == [(1 << 64) | 0x1122334455667788]
    assert pack_words([-1], 64, 32) == [0xFFFFFFFF, 0xFFFFFFFF]


def test_unpack_hand_words() -> None:
    assert unpack_words([0x800002FF], 8, 32, signed=True).tolist() == [-1, 2, 0, -128]
    assert unpack_words([0x800002FF], 8, 32).tolist() == [255, 2, 0, 128]
    assert unpack_words([0x55667788, 0x11223344], 64, 32).tolist() == [0x1122334455667788]
    assert unpack_words([0x0807060504030201], 8, 64, count=3).tolist() == [1, 2, 3]


def test_pack_rejects_values_that_do_not_fit() -> None:
    with pytest.raises(LayoutError, match="element 1 = 256 does not fit 8 bits"):
        pack_words([1, 256], 8, 32)
    with pytest.raises(LayoutError, match="elem_bits=12"):
        pack_words([1], 12, 32)
    with pytest.raises(LayoutError, match="word_bits=48"):
        pack_words([1], 8, 48)
    with pytest.raises(LayoutError, match="word 1 .* is not a 32-bit"):
        unpack_words([0, 1 << 32], 8, 32)
    with pytest.raises(LayoutError, match="5 elements asked"):
        unpack_words([0], 8, 32, count=5)


@settings(max_examples=60, deadline=None)
@given(
    elem_bits=st.sampled_from([8, 16, 32, 64]),
    word_bits=st.sampled_from([32, 64, 128]),
    signed=st.booleans(),
    n_words=st.integers(0, 12),
    seed=st.integers(0, 2**32 - 1),
)
def test_pack_unpack_round_trip(elem_bits: int, word_bits: int, signed: bool, n_words: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = n_words * word_bits // elem_bits if elem_bits <= word_bits else n_words * word_bits // 64 * (64 // elem_bits)
    if elem_bits == 64:
        v = rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64, endpoint=True)
    elif signed:
        v = rng.integers(-(1 << (elem_bits - 1)), 1 << (elem_bits - 1), n)
    else:
        v = rng.integers(0, 1 << elem_bits, n)
    words = pack_words(v, elem_bits, word_bits)
    assert all(0 <= w < 1 << word_bits for w in words)
    assert len(words) == -(-n * elem_bits // word_bits)
    back = unpack_words(words, elem_bits, word_bits, signed=signed or elem_bits == 64, count=n)
    assert np.array_equal(back, v)


# ---- records ------------------------------------------------------------------------------------


def test_record_fields_by_hand() -> None:
    # bias: mantissa -2 (two's complement in [31:0]), shift 3 in [35:32]
    rec = encode_records(np.array([[-2, 3], [32767, 15]]), BIAS_FIELDS)
    assert [int(r) for r in rec] == [0x3_FFFF_FFFE, 0xF_0000_7FFF]
    # scale: M0 = 40000 = 0x9c40 in [30:0], n = 25 = 0x19 in [37:32]
    rec = encode_records(np.array([[40000, 25], [2**31 - 1, 63]]), SCALE_FIELDS)
    assert [int(r) for r in rec] == [0x19_0000_9C40, 0x3F_7FFF_FFFF]
    assert decode_records(np.array([0x3_FFFF_FFFE]), BIAS_FIELDS).tolist() == [[-2, 3]]


@pytest.mark.parametrize(
    "fields, row, msg",
    [
        (BIAS_FIELDS, [0, 16], "field shift of channel 0 is 16, outside its range 0..15"),
        (BIAS_FIELDS, [2**31, 0], "field mantissa of channel 0 is 2147483648"),
        (SCALE_FIELDS, [2**31, 10], "field m0 of channel 0 is 2147483648"),
        (SCALE_FIELDS, [100, 0], "field n of channel 0 is 0, outside its range 1..63"),
        (SCALE_FIELDS, [100, 64], "field n of channel 0 is 64"),
    ],
)
def test_record_out_of_range_is_an_error(fields: tuple, row: list[int], msg: str) -> None:
    with pytest.raises(LayoutError, match=msg):
        encode_records(np.array([row]), fields, where="layer convX bias")


# ---- config -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"word_bits": 48}, "word_bits=48"),
        ({"word_bits": 16}, "word_bits=16"),
        ({"array_rows": 0}, "array_rows=0"),
        ({"array_cols": -1}, "array_cols=-1"),
        ({"weight_buf_words": 0}, "weight_buf_words=0"),
        ({"scale_buf_words": 0}, "scale_buf_words=0"),
        ({"align_bytes": 48}, "align_bytes=48"),
        ({"align_bytes": 4, "word_bits": 64}, "align_bytes=4"),
        ({"array_rows": True}, "array_rows=True"),
        ({"act_buf_words": 2.5}, "act_buf_words=2.5"),
        ({"row_buf_words": 0}, "row_buf_words=0"),
        ({"ln_tiles": (1 << 15) + 1}, "ln_tiles=32769"),
        # the exp table (256 32-bit entries) lands in the staging buffer: 64 words of 128 bits, 256 of 32
        ({"row_buf_words": 127, "word_bits": 64}, "row_buf_words=127"),
        ({"row_buf_words": 255, "array_rows": 4, "word_bits": 32}, "row_buf_words=255"),
    ],
)
def test_config_errors_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=f"HardwareConfig.{field}"):
        HardwareConfig(**kwargs)


def test_config_json_round_trip_and_unknown_field() -> None:
    c = HardwareConfig(array_rows=16, word_bits=128, align_bytes=256)
    assert HardwareConfig.from_json(c.to_json()) == c
    with pytest.raises(ConfigError, match="unknown field.*rows"):
        HardwareConfig.from_json({"rows": 4})


# ---- layouts: hand-computed addresses -------------------------------------------------------------


def _conv_plan(word_bits: int = 64, rows: int = 8, **kw: object):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    layer = synth.conv_layer(rng, c=3, k=10, hw=(5, 5), z_in=7, z_out=9, **kw)  # type: ignore[arg-type]
    return layer, plan_layer(layer, HardwareConfig(word_bits=word_bits, array_rows=rows, align_bytes=64))


def test_conv_weight_address_by_hand() -> None:
    _, plan = _conv_plan()
    w = plan.layout("weights")
    assert w.order == ("k_tile", "c_tile", "ky", "kx", "c_lane", "k_lane")
    # K=10, C=3, 3x3, R=8, 64-bit words: a vector (8 weights) is one word; a k_tile is
    # 1 c_tile x 3 x 3 x 8 c_lanes = 72 words. w[9,2,1,2]: k_tile 1, ky 1 (24 words), kx 2 (16), c_lane 2.
    assert element_address(w, (9, 2, 1, 2)) == (72 + 24 + 16 + 2, 1)
    assert element_address(w, (0, 0, 0, 0)) == (0, 0)
    assert element_address(w, (7, 0, 0, 1)) == (8, 7)
    assert w.words == 144
    # strides in elements (8 per word): a k tile is 72 words, ky 24, kx 8, c_lane 1 word, k_lane 1 lane
    assert w.strides == (("k_tile", 2, 576), ("c_tile", 1, 576), ("ky", 3, 192), ("kx", 3, 64), ("c_lane", 8, 8), ("k_lane", 8, 1))
    # 32-bit words: a vector spans two words, k_lane 4..7 in the second one
    _, plan32 = _conv_plan(word_bits=32)
    assert element_address(plan32.layout("weights"), (9, 2, 1, 2)) == (2 * 114, 1)
    assert element_address(plan32.layout("weights"), (5, 0, 0, 0)) == (1, 1)


def test_activation_address_by_hand() -> None:
    _, plan = _conv_plan()
    a = plan.layout("input")  # [n][c_tile][y][x][c_lane], 5x5 image
    assert a.order == ("n", "c_tile", "y", "x", "c_lane")
    assert element_address(a, (0, 2, 3, 4)) == (3 * 5 + 4, 2)
    assert a.pad == 7 and a.words == 25
    e = plan.layout("expected")  # 10 channels: 2 channel tiles of 25 pixels
    assert element_address(e, (0, 9, 0, 1)) == (25 + 1, 1)
    assert e.pad == 9 and e.words == 50
    _, plan128 = _conv_plan(word_bits=128)  # 8 channels fill half a 128-bit word; a vector is one word
    assert element_address(plan128.layout("input"), (0, 2, 3, 4)) == (19, 2)
    assert plan128.layout("input").vector_elems == 16


def test_record_address_by_hand() -> None:
    _, plan = _conv_plan(word_bits=32)
    b = plan.layout("bias")
    assert element_address(b, (9,)) == (18, 0)  # 64-bit record = 2 words
    assert b.words == 32  # padded to 16 channels
    _, plan128 = _conv_plan(word_bits=128)
    assert element_address(plan128.layout("scale"), (9,)) == (4, 1)


def test_depthwise_and_fc_orders() -> None:
    rng = np.random.default_rng(1)
    dw = synth.conv_layer(rng, c=12, k=12, hw=(4, 4), depthwise=True)
    p = plan_layer(dw, HardwareConfig())
    w = p.layout("weights")
    assert w.order == ("k_tile", "c", "ky", "kx", "k_lane")
    # w[10,0,2,1]: k_tile 1 (9 words per tile), ky 2 (3 words), kx 1
    assert element_address(w, (10, 0, 2, 1)) == (9 + 6 + 1, 2)
    fc = synth.fc_layer(rng, c=20, k=10)
    pf = plan_layer(fc, HardwareConfig())
    wf = pf.layout("weights")
    assert wf.order == ("k_tile", "c_tile", "c_lane", "k_lane")
    # w[9,19]: k_tile 1 (3 c_tiles x 8 words = 24 per tile), c_tile 2 (16), c_lane 3
    assert element_address(wf, (9, 19)) == (24 + 16 + 3, 1)
    assert element_address(pf.layout("input"), (0, 19)) == (2, 3)


def test_padding_values_of_a_plan() -> None:
    layer, plan = _conv_plan()
    x = np.full((1, 3, 5, 5), 200)
    st_ = tile_order(x, plan.layout("input"))
    mask = padding_mask(plan.layout("input"))
    assert mask.sum() == 25 * 5  # lanes 3..7 of every pixel's vector
    assert set(st_[mask].tolist()) == {7} and set(st_[~mask].tolist()) == {200}
    w = tile_order(np.asarray(layer.weight), plan.layout("weights"))
    wm = padding_mask(plan.layout("weights"))
    assert set(w[wm].tolist()) == {0} and wm.sum() == 144 * 8 - 10 * 27
    sc = plan.layout("scale")
    recs = tile_order(encode_records(np.stack([layer.requant.m0, layer.requant.n], 1), SCALE_FIELDS), sc)
    assert recs[10:].tolist() == [1 << 32] * 6  # padded channels: M0 = 0, n = 1


# ---- layouts: properties ------------------------------------------------------------------------


@st.composite
def layouts(draw: st.DrawFn) -> Layout:
    nd = draw(st.integers(1, 4))
    dims = tuple("abcd"[:nd])
    shape = tuple(draw(st.integers(1, 7)) for _ in dims)
    tiled = [d for d in dims if draw(st.booleans())]
    tiles = tuple((d, draw(st.integers(1, 9))) for d in tiled)
    axes = [a for d in dims for a in ((f"{d}_tile", f"{d}_lane") if d in tiled else (d,))]
    order = tuple(draw(st.permutations(axes)))
    record = draw(st.booleans())
    word_bits = draw(st.sampled_from([32, 64, 128]))
    if record:
        return Layout(dims, shape, tiles, order, 64, False, draw(st.integers(0, 2**40)), word_bits)
    signed = draw(st.booleans())
    bits = draw(st.sampled_from([2, 4, 8]))
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    pad = draw(st.integers(lo, hi))
    aligned = draw(st.sampled_from(("",) + order))  # a block from any axis inward
    return Layout(dims, shape, tiles, order, bits, signed, pad, word_bits, word_aligned=aligned)


@settings(max_examples=80, deadline=None)
@given(lay=layouts(), seed=st.integers(0, 2**32 - 1))
def test_random_layout_round_trip_and_address(lay: Layout, seed: int) -> None:
    rng = np.random.default_rng(seed)
    if lay.elem_bits == 64:
        x = rng.integers(0, 2**40, lay.shape)
    else:
        half = 1 << (lay.elem_bits - 1)
        x = rng.integers(-half, half, lay.shape) if lay.signed else rng.integers(0, 2 * half, lay.shape)
    words = to_words(x, lay)
    assert len(words) == lay.words
    back, problems = from_words(words, lay)
    assert problems == []
    assert np.array_equal(back, x)
    # element_address (scalar) and tile_order (array) are two forms of the same order
    storage = tile_order(x, lay)
    assert np.array_equal(untile(storage, lay), x)
    per = max(1, lay.word_bits // lay.elem_bits)
    wpe = max(1, lay.elem_bits // lay.word_bits)
    elems = unpack_words(words, lay.elem_bits, lay.word_bits, signed=lay.signed, count=lay.elements)
    for idx in [tuple(int(rng.integers(0, s)) for s in lay.shape) for _ in range(5)]:
        word, lane = element_address(lay, idx)
        assert elems[word // wpe * per + lane] == x[idx]
        # the strides published in memory_map.json give the same element number
        coord = {}
        for d, i in zip(lay.dims, idx):
            t = lay.tile_of(d)
            coord.update({d: i} if t is None else {f"{d}_tile": i // t, f"{d}_lane": i % t})
        e = sum(coord[a] * stride for a, _, stride in lay.strides)
        assert (e * lay.elem_bits // lay.word_bits, (e * lay.elem_bits % lay.word_bits) // lay.elem_bits) == (word, lane)
    # every element outside the tensor is padding, holding the pad value
    mask = padding_mask(lay)
    assert int((~mask).sum()) == int(np.prod(lay.shape))
    assert np.all(storage[mask] == lay.pad)


def test_layout_validation() -> None:
    with pytest.raises(LayoutError, match="not a permutation"):
        Layout(("k", "c"), (4, 4), (("k", 2),), ("k_tile", "c"), 8, True, 0, 32)
    with pytest.raises(LayoutError, match="tiles dim 'x'"):
        Layout(("k",), (4,), (("x", 2),), ("k",), 8, True, 0, 32)
    with pytest.raises(LayoutError, match="pad value 300"):
        Layout(("k",), (4,), (), ("k",), 8, False, 300, 32)
    lay = Layout(("k",), (4,), (), ("k",), 8, False, 0, 32)
    with pytest.raises(LayoutError, match=r"shape \(5,\) does not match"):
        to_words(np.zeros(5), lay)
    with pytest.raises(LayoutError, match="values -1..0 do not fit unsigned 8-bit"):
        to_words(np.array([-1, 0, 0, 0]), lay)
    with pytest.raises(LayoutError, match="index k=4 is outside 0..3"):
        element_address(lay, (4,))


def test_from_words_reports_bad_padding_and_reserved_bits() -> None:
    layer, plan = _conv_plan()
    lay = plan.layout("input")
    words = to_words(np.full((1, 3, 5, 5), 1), lay)
    words[3] |= 0x40 << 40  # lane 5 of pixel 3 is padding: holds z_in = 7, now 0x47 = 71
    _, probs = from_words(words, lay)
    assert probs == [(3, "lane 5 is padding and holds 71, not the pad value 7")]
    b = plan.layout("bias")
    words = to_words(np.stack([layer.bias.mantissa, layer.bias.shift], 1), b)
    words[2] |= 1 << 40  # channel 2: a reserved bit
    _, probs = from_words(words, b)
    assert len(probs) == 1 and probs[0][0] == 2 and "reserved bits" in probs[0][1]


def test_fit_error_names_layer_buffer_need_capacity() -> None:
    rng = np.random.default_rng(2)
    layer = synth.conv_layer(rng, name="convbig", c=16, k=16, hw=(8, 8))
    # a k_tile: 2 c_tiles x 3 x 3 x 8 c_lanes = 144 one-word vectors; the image: 2 c_tiles x 64 pixels
    with pytest.raises(FitError, match=r"layer convbig: one output-channel tile of weights needs 144 words of the weight buffer, which holds 100 words"):
        plan_layer(layer, HardwareConfig(weight_buf_words=100))
    # the input runs in bands of output rows; only one output row's input (3 rows x 8 x 2 c_tiles) must fit
    with pytest.raises(FitError, match=r"layer convbig: input activations of one band of 1 output rows: 3 input rows, "
                                       r"halo included needs 48 words of the act buffer, which holds 47"):
        plan_layer(layer, HardwareConfig(act_buf_words=47))
    # the records run in groups of output-channel tiles; one k_tile's (8 words) must fit
    with pytest.raises(FitError, match=r"the bias records of 1 output-channel tiles needs 8 words of the bias buffer, "
                                       r"which holds 7 words \(HardwareConfig.bias_buf_words=7\)"):
        plan_layer(layer, HardwareConfig(bias_buf_words=7, scale_buf_words=7))
    # exactly at capacity fits, in one pass
    whole = plan_layer(layer, HardwareConfig(weight_buf_words=144, act_buf_words=128, bias_buf_words=16,
                                             scale_buf_words=16))
    assert len(whole.passes) == 1 and whole.descriptor["band_rows"] == 8 and whole.descriptor["group_k_tiles"] == 2
    # one word less: two bands of 4 output rows (5 input rows each, halo included), two groups of one k_tile
    banded = plan_layer(layer, HardwareConfig(act_buf_words=127, bias_buf_words=15, scale_buf_words=15))
    assert banded.descriptor["band_rows"] == 4 and banded.descriptor["group_k_tiles"] == 1
    assert [(p.band, p.group, p.in_y, p.in_rows, p.pad_top, p.pad_bottom) for p in banded.passes] == [
        (0, 0, 0, 5, 1, 0), (0, 1, 0, 5, 1, 0), (1, 0, 3, 5, 0, 1), (1, 1, 3, 5, 0, 1)]


def test_depthwise_with_a_channel_multiplier_is_refused() -> None:
    import dataclasses

    rng = np.random.default_rng(3)
    dw = synth.conv_layer(rng, name="dw2", c=4, k=4, hw=(4, 4), depthwise=True)
    doubled = dataclasses.replace(dw, weight=np.concatenate([dw.weight, dw.weight]), out_shape=(8, 4, 4))
    with pytest.raises(LayoutError, match="layer dw2: depthwise conv with 8 output channels for 4 groups .channel multiplier 2."):
        plan_layer(doubled, HardwareConfig())
