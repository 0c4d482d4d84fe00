"""A matmul of two activations as the MAC array runs it (hexgen.matmul, issue 28 item 2), without
a simulator: one linear per head whose weights are the head's b operand computes golden's matmul
exactly; each head's run reads and writes where the segments' layouts put that head; the records
are the matmul's (m0, n) and a zero bias; operands that broadcast are refused with the reason."""
from __future__ import annotations

import numpy as np
import pytest

from golden.transformer import MatmulLayer
from hexgen.config import HardwareConfig
from hexgen.errors import LayoutError
from hexgen.layout import element_address
from hexgen.matmul import head_linear, matmul_records
from hexgen.plan import plan_layer
from hexgen.tokens import b_weights

CFG = HardwareConfig()  # 8x8, 64-bit words
H, M, K, N = 3, 5, 12, 7


def _matmul(transpose_b: bool, *, lead_b: tuple[int, ...] = (H,)) -> MatmulLayer:
    shape_b = (*lead_b, N, K) if transpose_b else (*lead_b, K, N)
    return MatmulLayer(name="mm", inputs=("a", "b"), in_shape=(H, M, K), out_shape=(H, M, N), module="mm", source="mm",
                       in_shape_b=shape_b, z_a=37, transpose_b=transpose_b, m0=1_234_567_890, n=41, z_out=11, lo=3,
                       hi=250, m0_bits=31)


@pytest.mark.parametrize("transpose_b", [False, True], ids=["A@V", "Q@K^T"])
def test_each_heads_linear_on_b_as_weights_is_goldens_matmul(transpose_b: bool) -> None:
    layer = _matmul(transpose_b)
    rng = np.random.default_rng(5)
    a = rng.integers(0, 256, (2, H, M, K), dtype=np.uint8)
    # codes 1..255 (weights -127..127: golden's fc contract, which the head's linear is checked
    # with); a code 0 is the int8 -128, which the MAC array multiplies as any other (below)
    b = rng.integers(1, 256, (2, *layer.in_shape_b), dtype=np.uint8)
    want = layer.forward([a, b])
    w = b_weights(b, transpose_b)  # [n, h, N, K]: what the input2 segment holds, code - 128
    view = head_linear(layer)
    for h in range(H):
        for img in range(2):
            lin = view.__class__(**{**view.__dict__, "weight": w[img, h].astype(np.int8)})
            got = lin.forward([a[img : img + 1, h]])
            assert np.array_equal(got[0], want[img, h]), (h, img)


@pytest.mark.parametrize("transpose_b", [False, True], ids=["A@V", "Q@K^T"])
def test_each_run_reads_and_writes_its_heads_words(transpose_b: bool) -> None:
    layer = _matmul(transpose_b)
    plan = plan_layer(layer, CFG, images=2)
    lay = dict(plan.layouts)
    runs = plan.descriptor["runs"]
    assert len(runs) == H and all(r["kind"] == "linear" and r["in_shape"] == [M, K] and r["out_shape"] == [M, N] for r in runs)
    for h, run in enumerate(runs):
        # the head's first element in each segment, where the layouts put it (image 0)
        assert run["in_word"] == element_address(lay["input"], (0, h, 0, 0))[0]
        assert run["out_word"] == element_address(lay["output"], (0, h, 0, 0))[0]
        assert run["w_word"] == element_address(lay["input2"], (0, h, 0, 0))[0]
    records = matmul_records(layer)
    assert not records["bias"].any()
    assert (records["scale"] == [layer.m0, layer.n]).all() and len(records["scale"]) == N
    # the schedule, buffers and passes are the head's linear's, with the runs in front
    assert plan.schedule[0] == "run" and plan.passes and plan.buffers


def test_a_b_code_of_0_is_the_weight_minus_128_in_its_segment() -> None:
    """b's zero point is 128, so its code 0 is -128: the matmul's contract allows it (|term| <= 255 x
    128, golden.tf_arith.MATMUL_MAX_TERM). Where the engine cannot read K transposed (words of
    more bytes than array rows: hexgen.matmul.transposable), Q K^T's segment holds K in the weight
    order, the code 0 as the byte 0x80."""
    from hexgen.layout import to_words
    from hexgen.matmul import transposable

    wide = HardwareConfig(array_rows=4, array_cols=4, word_bits=64)
    assert transposable(CFG) and not transposable(wide)
    layer = _matmul(True)
    b = np.full((1, *layer.in_shape_b), 128, np.uint8)
    b[0, 1, 3, 2] = 0
    w = b_weights(b, True)
    plan = plan_layer(layer, wide, images=1)
    assert not any(r.get("w_transpose") or r.get("w_xor") for r in plan.descriptor["runs"])
    lay = dict(plan.layouts)["input2"]
    words = to_words(w, lay)
    word, lane = element_address(lay, (0, 1, 3, 2))
    assert w[0, 1, 3, 2] == -128 and (words[word] >> (8 * lane)) & 0xFF == 0x80
    assert sum(bin(x).count("1") for x in words) == 1  # every other weight is 0


def test_operands_that_broadcast_are_refused_with_the_reason() -> None:
    with pytest.raises(LayoutError, match="broadcast .*same leading axes"):
        plan_layer(_matmul(False, lead_b=(1,)), CFG, images=1)


def test_a_v_reads_v_where_its_producer_wrote_it() -> None:
    """A V's b (V: [.., K = T tokens, N = D channels]) is its token layout, codes as they are: each
    head's run reads it with W_XOR (code ^ 0x80 = code - 128) and W_KT_STRIDE (a channel tile of V
    is T words on), the head's block where the layout puts it; Q K^T's runs read the weight order."""
    from hexgen.tokens import token_layout

    av, qk = plan_layer(_matmul(False), CFG, images=2), plan_layer(_matmul(True), CFG, images=2)
    v_lay = token_layout((H, K, N), 128, CFG, 2)
    assert dict(av.layouts)["input2"] == v_lay
    for h, run in enumerate(av.descriptor["runs"]):
        assert (run["w_xor"], run["w_word"]) == (1, element_address(v_lay, (0, h, 0, 0))[0])
        # N = 7 channels: one channel tile, so no tile to step to
        assert run["w_kt_stride"] == 0
    assert not any(r.get("w_transpose") for r in av.descriptor["runs"])
    wide = MatmulLayer(**{**_matmul(False).__dict__, "in_shape_b": (H, K, 20), "out_shape": (H, M, 20)})
    runs = plan_layer(wide, CFG, images=1).descriptor["runs"]
    lay = token_layout((H, K, 20), 128, CFG, 1)
    assert runs[0]["w_kt_stride"] == element_address(lay, (0, 0, 0, 8))[0] == K  # K = 12 token words a tile


def test_q_kt_reads_k_where_its_producer_wrote_it() -> None:
    """Q K^T's b (K: [.., N = T tokens, K = D channels]) is its token layout, codes as they are:
    each head's run reads it with W_XOR, W_TRANSPOSE (a k_tile's R tokens of each channel tile,
    transposed into the weight bank: rtl/wgt_transpose.sv) and W_KT_STRIDE (a channel tile of K
    is N token words on); the k_tiles are R words apart (hexgen.rules.passes' weight offsets)."""
    from hexgen.rules import descriptor_registers, passes
    from hexgen.tokens import token_layout

    qk = plan_layer(_matmul(True), CFG, images=2)
    k_lay = token_layout((H, N, K), 128, CFG, 2)
    assert dict(qk.layouts)["input2"] == k_lay
    for h, run in enumerate(qk.descriptor["runs"]):
        assert (run["w_xor"], run["w_transpose"]) == (1, 1)
        assert run["w_word"] == element_address(k_lay, (0, h, 0, 0))[0]
        # K = 12 channels: two channel tiles, the second N = 7 token words after the first
        assert run["w_kt_stride"] == element_address(k_lay, (0, h, 0, 8))[0] - run["w_word"] == N
    regs = descriptor_registers({**qk.descriptor["runs"][0], "group_k_tiles": 1})
    assert [p.w_offset for p in passes(regs, CFG.array_rows, CFG.word_bits)] == [0]  # N = 7: one k_tile
    wide = MatmulLayer(**{**_matmul(True).__dict__, "in_shape_b": (H, 20, K), "out_shape": (H, M, 20)})
    run = plan_layer(wide, CFG, images=1).descriptor["runs"][0]
    offs = [p.w_offset for p in passes(descriptor_registers({**run, "group_k_tiles": 1}), CFG.array_rows, CFG.word_bits)]
    assert offs == [0, 8, 16], offs  # a group of one k_tile each: k_tile t's tokens start at word t R

