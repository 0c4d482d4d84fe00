"""tb.diagnose on synthetic faults: each hypothesis names its own fault first, with the fraction it
explains; the faults are made on golden's output of a real layer (requantised from golden's own
accumulators), so ties, clamps and channel statistics are those of a network."""
from __future__ import annotations

import numpy as np
import pytest

from golden import arith
from tb.diagnose import Context, Requant, diagnose, report

ROWS, COLS = 8, 8


def requantised(acc: np.ndarray, m0: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, Requant]:
    y = arith.requantize(acc[None], m0=m0, n=n, z_out=100, lo=0, hi=255)[0].astype(np.int64)
    return y, Requant(acc.astype(np.int64), m0, n, 100, 0, 255)


@pytest.fixture(scope="module")
def layer():
    """A 16 -> 24 channel 3x3 conv on a 10x12 image: its input, golden's output (some of it at
    both clamp bounds) and requantiser fields."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (1, 16, 10, 12), dtype=np.uint8)
    w = rng.integers(-127, 128, (24, 16, 3, 3), dtype=np.int8)
    bias = rng.integers(-5000, 5000, 24).astype(np.int64)
    acc = arith.conv_acc(x, w, bias, z_in=7, stride=(1, 1), padding=(1, 1, 1, 1), groups=1)[0]
    y, rq = requantised(acc, rng.integers(1 << 29, 1 << 30, 24).astype(np.int64), np.full(24, 40, np.int64))
    return x[0].astype(np.int64), y, rq


def ctx(rq: Requant, **kw) -> Context:
    return Context(rows=ROWS, cols=COLS, requant=rq, **kw)


def first(e, g, c: Context):
    f = diagnose(e, g, c)
    assert f, "nothing found"
    return f


def test_nothing_wrong_is_no_finding(layer):
    _, y, rq = layer
    assert diagnose(y, y.copy(), ctx(rq)) == []


def test_column_shift_is_named_with_its_direction(layer):
    _, y, rq = layer
    g = y.copy()
    g[:, :, :-1] = y[:, :, 1:]  # RTL (c, y, x) = golden (c, y, x+1)
    f = first(y, g, ctx(rq))[0]
    assert f.kind == "shift" and f.fraction > 0.95 and "(c, y, x+1)" in f.text and "1 column" in f.text, f


def test_row_shift(layer):
    _, y, rq = layer
    g = y.copy()
    g[:, 1:, :] = y[:, :-1, :]
    f = first(y, g, ctx(rq))[0]
    assert f.kind == "shift" and "(c, y-1, x)" in f.text and "1 row" in f.text, f


def test_lanes_swapped_within_a_word(layer):
    _, y, rq = layer
    g = y.copy()
    for k in range(0, 24, ROWS):
        g[k], g[k + 1] = y[k + 1].copy(), y[k].copy()
    f = first(y, g, ctx(rq))[0]
    assert f.kind == "lane_swap" and f.fraction == 1 and "0<-1" in f.text and "1<-0" in f.text, f


def test_previous_k_tile_is_stale_data(layer):
    _, y, rq = layer
    g = y.copy()
    g[ROWS:] = y[:-ROWS]
    f = first(y, g, ctx(rq))[0]
    assert f.kind == "stale_k_tile" and f.fraction == 1 and "previous k_tile" in f.text, f


def test_previous_pixel_tile_is_stale_data(layer):
    _, y, rq = layer
    g = y.copy().reshape(24, -1)
    g[:, COLS:] = y.reshape(24, -1)[:, :-COLS]
    f = first(y, g.reshape(y.shape), ctx(rq))[0]
    assert f.kind == "stale_pixel_tile" and f.fraction == 1, f


def test_memory_never_written(layer):
    _, y, rq = layer
    init = np.zeros_like(y)
    g = y.copy()
    g[16:] = 0  # the last k_tile never written
    found = first(y, g, ctx(rq, initial=init))
    assert found[0].kind == "never_written" and found[0].fraction == 1, found
    assert any(f.kind == "k_tile" and "k_tile 2" in f.text for f in found), report(found)


def test_values_of_the_layer_input(layer):
    x, y, rq = layer
    e = y[:16]
    f = first(e, x.copy(), Context(rows=ROWS, cols=COLS, layer_input=x))[0]
    assert f.kind == "equals_input" and f.fraction == 1, f


def test_off_by_one_at_the_ties_names_the_tie(layer):
    _, _, rq0 = layer
    # M0 = 1, n = 16, and one accumulator in ten moved onto an exact tie (remainder 2^15)
    rng = np.random.default_rng(1)
    acc = rq0.acc.copy()
    sel = rng.random(acc.shape) < 0.1
    acc[sel] = acc[sel] // (1 << 16) * (1 << 16) + (1 << 15)
    y, rq = requantised(acc, np.ones(24, np.int64), np.full(24, 16, np.int64))
    # rounding half down instead of up: every element at an exact tie drops one
    g = y - (sel & (y > 0)).astype(np.int64)
    f = first(y, g, ctx(rq))[0]
    assert f.kind == "lsb" and f.fraction == 1 and "at an exact tie" in f.text and "0 up" in f.text, f


def test_off_by_one_away_from_ties(layer):
    _, y, rq = layer
    g = y.copy()
    g[3, 2, 2:9] += 1
    f = first(y, g, ctx(rq))[0]
    assert f.kind == "lsb" and "none at an exact tie" in f.text, f


def test_constant_offset_per_channel_in_the_accumulator(layer):
    """A wrong zero point: every accumulator of channel k off by (z - z') * sum(w_k), a constant."""
    _, y, rq = layer
    delta = (np.arange(24) * 7919 % 200_000 + 100_000).reshape(-1, 1, 1)
    g, _ = requantised(rq.acc + delta, rq.m0, rq.n)
    f = first(y, g, ctx(rq))[0]
    assert f.kind == "offset_per_channel" and f.fraction == 1 and "in the accumulator" in f.text, f


def test_constant_offset_in_the_output_without_requant_fields(layer):
    _, y, _ = layer
    g = np.clip(y + np.arange(24).reshape(-1, 1, 1) % 5 + 3, 0, 255)
    f = first(y, g, Context(rows=ROWS, cols=COLS))[0]
    assert f.kind == "offset_per_channel" and f.fraction > 0.9 and "0: +3" in f.text, f


def test_factor_per_channel(layer):
    """M0 halved on every channel: one multiplier per channel explains every value."""
    _, y, rq = layer
    g, _ = requantised(rq.acc, rq.m0 // 2, rq.n)
    found = first(y, g, ctx(rq))
    assert found[0].kind == "factor_per_channel" and found[0].fraction == 1 and "x0.5" in found[0].text, report(found)


def test_rounding_is_not_an_offset_or_a_factor(layer):
    """The rounding constant one place too low (the MUT_ROUND fault): no accumulator offset or M0
    fits every element; only the one-LSB hypothesis does."""
    _, y, rq = layer
    acc = rq.acc * rq.m0.reshape(-1, 1, 1)
    n = rq.n.reshape(-1, 1, 1)
    g = np.clip(((acc + np.left_shift(np.int64(1), n - 2)) >> n) + rq.z_out, 0, 255)
    kinds = [f.kind for f in first(y, g, ctx(rq))]
    assert kinds[0] == "lsb" and "offset_per_channel" not in kinds and "factor_per_channel" not in kinds, kinds


def test_wrong_only_at_the_clamp_bounds(layer):
    _, y, rq = layer
    g = y.copy()
    g[y == 255] = 254  # the upper clamp one too low
    assert (y == 255).any()
    found = first(y, g, ctx(rq))
    clamp = next(f for f in found if f.kind == "clamp")
    assert clamp.fraction == 1 and found[0].explained == clamp.explained, report(found)


def test_one_mac_cell_is_confined_to_its_row_and_column(layer):
    _, y, rq = layer
    g = y.copy().reshape(24, -1)
    pix = np.arange(g.shape[1])
    for c in range(3, 24, ROWS):  # array row 3, column 5 of every tile
        g[c, pix % COLS == 5] ^= 0x40
    found = first(y, g.reshape(y.shape), ctx(rq))
    kinds = {f.kind: f for f in found}
    assert "pe_row" in kinds and "row 3" in kinds["pe_row"].text, report(found)
    assert "pe_column" in kinds and "column 5" in kinds["pe_column"].text, report(found)
    assert "k_tile" not in kinds and "pixel_tile" not in kinds


def test_x_z_words_and_a_word_range(layer):
    _, y, rq = layer
    word = np.arange(y.size).reshape(y.shape) // ROWS  # a stand-in layout for the test: ROWS elements a word
    xz = np.zeros(y.shape, bool)
    xz.reshape(-1)[40:56] = True
    g = y.copy()
    g[xz] = 0
    found = first(y, g, ctx(rq, xz=xz, word=word))
    assert found[0].kind == "xz" and "2 output word(s)" in found[0].text, report(found)
    assert any(f.kind == "word_range" and "words 5..6" in f.text for f in found), report(found)


def test_random_damage_is_not_explained(layer):
    _, y, rq = layer
    rng = np.random.default_rng(0)
    g = y.copy()
    sel = rng.random(y.shape) < 0.3
    g[sel] = rng.integers(0, 256, int(sel.sum()))
    found = diagnose(y, g, ctx(rq))
    assert not found or found[0].fraction < 0.9, report(found)
    assert "no single simple cause" in report([])


def test_locate_maps_wrong_elements_to_tiles_cells_words_and_write_cycles(layer):
    """k_tile / PE row from the channel, pixel tile / PE column from the raster pixel, word and lane
    from the context's layout arrays, the write cycle from the bench's record (all ones: never)."""
    from tb.failure import NEVER, locate, location_table

    _, y, rq = layer
    C, H, W = y.shape
    word = np.arange(y.size).reshape(y.shape) // 3  # stand-in layout arrays for the test
    lane = np.arange(y.size).reshape(y.shape) % 3
    wcycle = np.arange(word.max() + 1) * 10
    wcycle[word[9, 3, 5]] = NEVER
    g = y.copy()
    g[9, 3, 5] ^= 1
    g[17, 0, 11] ^= 1
    rows = locate(y, g, ctx(rq, word=word, lane=lane), wcycle)
    assert [(r["c"], r["y"], r["x"]) for r in rows] == [(9, 3, 5), (17, 0, 11)]
    a, b = rows
    assert (a["k_tile"], a["pe_row"], a["pixel_tile"], a["pe_col"]) == (1, 1, (3 * W + 5) // COLS, (3 * W + 5) % COLS)
    assert (a["word"], a["lane"], a["written"], a["cycle"]) == (word[9, 3, 5], lane[9, 3, 5], False, None)
    assert (b["k_tile"], b["pe_row"], b["pixel_tile"], b["pe_col"]) == (2, 1, 1, 3)
    assert b["cycle"] == 10 * word[17, 0, 11] and b["written"]
    text = location_table(rows)
    assert "never" in text and f"{10 * word[17, 0, 11]:,}" in text


def test_requant_stages_show_golden_and_the_accumulators_the_rtl_value_needs(layer):
    from tb.failure import requant_stages

    _, y, rq = layer
    c, yy, xx = 5, 4, 6
    text = requant_stages(ctx(rq), c, yy, xx, int(y[c, yy, xx]) + 3)
    acc = int(rq.acc[c, yy, xx])
    assert f"{acc:,}" in text and f"{acc * int(rq.m0[c]):,}" in text and f"RTL: {int(y[c, yy, xx]) + 3}" in text
    # the accumulator range the RTL's value needs lies above golden's (the value is 3 higher)
    need = text.rsplit("needs an accumulator of ", 1)[1].split(" ")[0]
    lo_acc = int(need.split("..")[0].replace(",", ""))
    assert lo_acc > acc, text


def test_acc_bounds_invert_golden_requantize(layer):
    """The classifier's inverse of the requantiser agrees with golden.arith.requantize: every
    value's accumulator range gives that value at both ends, and one step outside it does not."""
    from tb.diagnose import acc_bounds

    _, y, rq = layer
    lo_b, hi_b = acc_bounds(y, rq)
    m0 = rq.m0.reshape(-1, 1, 1)
    a_lo, a_hi = -((-lo_b) // m0), hi_b // m0
    inside = (y > rq.lo) & (y < rq.hi)
    assert inside.any()

    def req(acc):
        return arith.requantize(acc[None], m0=rq.m0, n=rq.n, z_out=rq.z_out, lo=rq.lo, hi=rq.hi)[0].astype(np.int64)

    assert np.array_equal(req(np.where(inside, a_lo, rq.acc))[inside], y[inside])
    assert np.array_equal(req(np.where(inside, a_hi, rq.acc))[inside], y[inside])
    assert np.all(req(np.where(inside, a_lo - 1, rq.acc))[inside] == y[inside] - 1)
    assert np.all(req(np.where(inside, a_hi + 1, rq.acc))[inside] == y[inside] + 1)
    assert np.all((a_lo <= rq.acc) & (rq.acc <= a_hi))  # golden's own accumulator is inside its range


def test_requant_stages_end_in_golden_requantize(layer):
    from tb.failure import requant_stages

    _, y, rq = layer
    for c, yy, xx in ((0, 0, 0), (7, 5, 11), (23, 9, 3)):
        text = requant_stages(ctx(rq), c, yy, xx, 0)
        clamp_line = next(l for l in text.splitlines() if "clamp to" in l)
        assert clamp_line.split()[-3] == str(int(y[c, yy, xx])), text  # "... <golden>   RTL: 0"


def _dilated_layer():
    """A 16 -> 24 channel 3x3 conv at dilation 2 (padding 2) on a 14x16 image, from hexgen's synth."""
    from hexgen import synth

    rng = np.random.default_rng(11)
    conv = synth.conv_layer(rng, c=16, k=24, hw=(14, 16), kernel=(3, 3), padding=(2, 2), dilation=(2, 2))
    x = rng.integers(0, 256, (1, 16, 14, 16), dtype=np.uint8)
    return conv, x


def test_a_wrong_tap_spacing_reads_as_the_dilation_it_used():
    """Issue 26: the RTL's output is golden at dilation 1 (the spacing register ignored): named as
    the dilation it equals, before any shift or confinement."""
    import dataclasses

    from tb.failure import _at_dilation

    conv, x = _dilated_layer()
    e = conv.forward([x])[0].astype(np.int64)
    g = np.asarray(_at_dilation(conv, (1, 1), x), np.int64)[:, :e.shape[1], :e.shape[2]]
    got = e.copy()
    got[:, :g.shape[1], :g.shape[2]] = g
    c = Context(rows=ROWS, cols=COLS, layer_input=x[0].astype(np.int64), dilation=(2, 2),
                at_dilation=lambda d: np.asarray(_at_dilation(conv, d, x), np.int64),
                recompute=lambda xin: np.asarray(conv.forward([np.asarray(xin).reshape(1, 16, 14, 16).astype(np.uint8)])[0],
                                                 np.int64))
    f = first(e, got, c)
    assert f[0].kind == "dilation" and "dilation 1x1, the layer's is 2x2" in f[0].text and f[0].fraction > 0.9, report(f)
    assert dataclasses.replace(conv).dilation == (2, 2)


def test_an_input_placed_a_channel_tile_off_reads_as_its_channel_offset(layer):
    """Issue 26: a consumer of a concat whose second input was written one channel tile off: RTL =
    golden on its input with channels shifted by 8."""
    x, e, rq = layer
    rng = np.random.default_rng(3)  # the fixture's draws, in its order
    rng.integers(0, 256, (1, 16, 10, 12), dtype=np.uint8)
    w = rng.integers(-127, 128, (24, 16, 3, 3), dtype=np.int8)
    bias = rng.integers(-5000, 5000, 24).astype(np.int64)

    def recompute(xin):
        acc = arith.conv_acc(np.asarray(xin, np.uint8)[None], w, bias, z_in=7, stride=(1, 1), padding=(1, 1, 1, 1), groups=1)[0]
        return arith.requantize(acc[None], m0=rq.m0, n=rq.n, z_out=100, lo=0, hi=255)[0].astype(np.int64)

    assert np.array_equal(recompute(x), e)
    got = recompute(np.roll(x, 8, axis=0))
    f = first(e, got, ctx(rq, layer_input=x, recompute=recompute))
    assert f[0].kind == "input_channel_shift" and "placed 8 channel(s) off" in f[0].text, report(f)


def test_a_table_read_a_word_off_is_named_with_its_offset() -> None:
    """A GELU (out = table[q]) whose RTL wrote its table one 8-entry word late reads table[q - 8]:
    the table hypothesis names the offset; the same values against the right table are no finding."""
    from golden.tf_arith import gelu_table

    rng = np.random.default_rng(3)
    table = gelu_table(scale_in=0.05, z_in=120, scale_out=0.03, z_out=20).astype(np.int64)
    q = rng.integers(8, 256, (16, 9, 1))  # a [T, C] token tensor as the engine's one-column image
    e = table[q]
    g = table[q - 8]
    found = diagnose(e, g, Context(rows=8, cols=8, layer_input=q, table=table, kind="gelu"))
    assert found and found[0].kind == "table_offset" and found[0].explained == found[0].wrong, report(found)
    assert "entry -8" in found[0].text, found[0].text
    assert not diagnose(e, e, Context(rows=8, cols=8, layer_input=q, table=table, kind="gelu"))


def _row_context(layer, x):
    """The diagnosis context tb.failure builds for a softmax or LayerNorm on input x ([T, L]), and
    golden's output as the diagnosis sees it."""
    from hexgen.hw import load_hw
    from hexgen.tokens import token_layout
    from tb.failure import _row_knobs

    lay = token_layout(x.shape, 0, load_hw(None), 1)
    c = Context(rows=8, cols=8, layer_input=as_chw_tokens(x, lay), kind=layer.kind)
    _row_knobs(c, layer, x, lay)
    return c, lay


def as_chw_tokens(y, lay):
    from tb.compare import as_chw, token_rows

    return as_chw(token_rows(np.asarray(y, np.int64), lay))


def test_a_softmax_reciprocal_off_by_one_and_a_wrong_exp_constant_are_named() -> None:
    """The row unit's arithmetic faults, as golden computes them (the fault model: golden with the
    knob turned), are named: every row's reciprocal R = D // S one too large (on rounding-tie rows,
    where it shows: tb/engine/test_softmax_unit.tie_params), and exp table entry 3 too large by 2^16
    (a wrong exp constant, on rows of codes 3 apart, where it shows); golden's own output is no finding."""
    import random
    from types import SimpleNamespace

    from golden import tf_arith
    from tb.engine.test_softmax_unit import tie_params

    rng = np.random.default_rng(5)
    d, p = tie_params(random.Random(5), 17, below=True)
    table = tf_arith.softmax_params(scale_in=0.05, scale_out=1 / 256, where="test")["exp_table"]
    sm = SimpleNamespace(kind="softmax", exp_table=table, dividend=d, shift=p, z_out=0, lo=0, hi=255)
    x = np.concatenate([np.full((6, 17), 90, np.uint8), rng.integers(0, 256, (10, 17)).astype(np.uint8)])
    c, lay = _row_context(sm, x)
    gold = as_chw_tokens(tf_arith.softmax(x, exp_table=table, dividend=d, shift=p, z_out=0), lay)
    e, s = tf_arith.softmax_exp(x, exp_table=table)
    off = as_chw_tokens(tf_arith.softmax_output(e, d // s + 1, shift=p, z_out=0, lo=0, hi=255), lay)
    assert (off != gold).sum() >= 6 * 17  # the tie rows show it
    found = diagnose(gold, off, c)
    assert found and found[0].kind == "reciprocal" and found[0].explained == found[0].wrong, report(found)
    assert "reciprocal +1 (R = D // S)" in found[0].text, found[0].text
    wrong_table = table.copy()
    wrong_table[3] += 1 << 16
    prm = tf_arith.softmax_params(scale_in=0.05, scale_out=1 / 256, where="test")
    sm2 = SimpleNamespace(**{**vars(sm), "dividend": prm["dividend"], "shift": prm["shift"]})
    x2 = np.where(rng.random((16, 17)) < 0.5, 100, 97).astype(np.uint8)
    c2, _ = _row_context(sm2, x2)
    gold2 = as_chw_tokens(tf_arith.softmax(x2, exp_table=table, dividend=prm["dividend"], shift=prm["shift"], z_out=0), lay)
    bad = as_chw_tokens(tf_arith.softmax(x2, exp_table=wrong_table, dividend=prm["dividend"], shift=prm["shift"], z_out=0), lay)
    assert (bad != gold2).sum() > 50
    found = diagnose(gold2, bad, c2)
    assert found and found[0].kind == "exp_entry" and found[0].explained == found[0].wrong, report(found)
    assert "exp table entry 3 +65536" in found[0].text, found[0].text
    assert not diagnose(gold2, gold2, c2)


def test_a_layernorm_reciprocal_off_is_named() -> None:
    """LayerNorm's reciprocal Rr = (2^48 - 1) // r wrong by 2^16 in every row (the fault model:
    golden with Rr + 2^16) is named as the division off by that. Off by one it is invisible at the
    outputs: Rr ~ 2^25 here, and none of 4,096 outputs changes below +2^8 (measured)."""
    from types import SimpleNamespace

    from golden import tf_arith

    rng = np.random.default_rng(8)
    cc = 64
    prm = tf_arith.layernorm_params(c=cc, scale_in=0.05, gamma=rng.uniform(2, 4, cc), beta=rng.uniform(-1, 1, cc), eps=1e-6,
                                    scale_out=0.05, z_out=128, m0_bits=31, where="test")
    ln = SimpleNamespace(kind="layernorm", sqrt_shift=prm["sqrt_shift"], eps_term=prm["eps_term"], gain=prm["gain"],
                         shift=prm["shift"], bias=prm["bias"], z_out=128, lo=0, hi=255)
    x = rng.integers(0, 256, (64, cc)).astype(np.uint8)
    c, lay = _row_context(ln, x)
    out = dict(gain=prm["gain"], shift=prm["shift"], bias=prm["bias"], z_out=128, lo=0, hi=255)
    xc = tf_arith.layernorm_center(x)
    rr = tf_arith.layernorm_recip(xc, sqrt_shift=prm["sqrt_shift"], eps_term=prm["eps_term"])
    gold = as_chw_tokens(tf_arith.layernorm_output(tf_arith.layernorm_scale(xc, rr, sqrt_shift=prm["sqrt_shift"]), **out), lay)
    off = as_chw_tokens(tf_arith.layernorm_output(tf_arith.layernorm_scale(xc, rr + (1 << 16), sqrt_shift=prm["sqrt_shift"]), **out),
                        lay)
    assert (off != gold).sum() > 100
    found = diagnose(gold, off, c)
    assert found and found[0].kind == "reciprocal" and found[0].explained == found[0].wrong, report(found)
    assert "reciprocal +65536 (Rr = (2^48 - 1) // r)" in found[0].text, found[0].text
