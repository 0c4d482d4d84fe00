"""hexgen on a transformer (issue 27 item 5, hexgen/tokens.py): vit_small_test's layers with
arithmetic laid out, written and checked clean; words of the new segments against expectations
written here from docs/memory-map.md ("Transformer layers"), not from hexgen's code; a corrupted
table entry or record field found by the check, naming the layer and the segment."""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from golden import INPUT
from hexgen import HardwareConfig, HexgenError, build_image, check_image, write_image

CFG = HardwareConfig()  # 8 rows, 64-bit words: 8 uint8 lanes, 2 uint32 or 1 int64 element per word


@pytest.fixture(scope="module")
def vit() -> tuple[Any, np.ndarray, dict[str, np.ndarray]]:
    from golden import extract
    from golden.models import load_model
    from golden.qat import quantized_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = load_model("vit_small_test")
        net = extract(quantized_model(m), m.calibration[:2], m0_bits=16)
    x_q = net.quantize_input(m.calibration[:2])
    outs = {INPUT: x_q, **net.run(x_q).outputs}
    return net, x_q, outs


@pytest.fixture(scope="module")
def image(vit: Any) -> Any:
    net, x_q, _ = vit
    return build_image(net, x_q, CFG, model="vit_small_test")


@pytest.fixture(scope="module")
def folder(image: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_image(image, tmp_path_factory.mktemp("vit") / "img")


def _byte(word: int, lane: int) -> int:
    return (word >> (8 * lane)) & 0xFF


def test_every_layer_with_arithmetic_is_laid_out_and_checks_clean(vit: Any, image: Any, folder: Path) -> None:
    net = vit[0]
    kinds = {p.kind for p in image.plans}
    assert {"linear", "matmul", "softmax", "gelu", "layernorm", "add_const", "add", "fc"} <= kinds
    skipped = dict(image.skipped)
    # the patch embedding (an 8x8 stride-8 conv) and every linear: the MAC array's, with its passes
    assert "conv1" in {p.name for p in image.plans}
    linears = [p for p in image.plans if p.kind == "linear"]
    assert linears and all(p.passes and p.schedule[:2] == ("k_tile", "p_tile") for p in linears)
    for l in net.layers:  # data movement is golden only, with its reason
        if l.kind in ("reshape", "permute", "select", "concat_tokens"):
            assert skipped[l.name].startswith("a pure reshape: no arithmetic"), (l.name, skipped[l.name])
    assert "class token is a constant" in skipped["cat1"]
    assert check_image(folder) == []


def test_a_token_tensor_is_a_one_column_image(vit: Any, image: Any) -> None:
    """[n][c_tile][t][c_lane]: element (image, t, c) at element number
    ((image * C_tiles + c // 8) * T + t) * 8 + c % 8, 8 lanes a word; padding lanes hold z."""
    net, _, outs = vit
    x = outs["addc1"]  # ln1's input, [N, 17, 64]
    words = image.segment("ln1", "input").words
    for img, t, c in ((0, 5, 19), (1, 16, 63), (0, 0, 0)):
        e = ((img * 8 + c // 8) * 17 + t) * 8 + c % 8
        assert _byte(words[e // 8], e % 8) == x[img, t, c]
    # softmax1's input [N, 2 heads, 17 rows, 17]: three channel tiles, the last holding one real lane
    s = outs["matmul1"]
    words = image.segment("softmax1", "input").words
    e = (((1 * 2 + 1) * 3 + 2) * 17 + 4) * 8  # image 1, head 1, c_tile 2, row 4, lane 0: column 16
    assert _byte(words[e // 8], 0) == s[1, 1, 4, 16]
    assert all(_byte(words[e // 8], lane) == net["softmax1"].z_in for lane in range(1, 8))


def test_softmax_table_and_layernorm_records(vit: Any, image: Any) -> None:
    net = vit[0]
    table = [int(v) for v in net["softmax1"].exp_table]
    words = image.segment("softmax1", "table").words
    assert len(words) == 128
    assert words[0] == (1 << 20) | (table[1] << 32)
    assert all(words[j] == table[2 * j] | (table[2 * j + 1] << 32) for j in range(128))
    assert list(image.segment("gelu1", "table").words[:1]) == [sum(int(v) << (8 * i) for i, v in enumerate(net["gelu1"].table[:8]))]
    ln = net["ln1"]  # one 128-bit record per channel: {shift[37:32], gain[31:0]} then the 64-bit bias
    words = image.segment("ln1", "records").words
    for c in (0, 13, 63):
        assert words[2 * c] == (int(ln.gain[c]) & 0xFFFFFFFF) | (int(ln.shift[c]) << 32)
        assert words[2 * c + 1] == int(ln.bias[c]) & (2**64 - 1)


def test_matmul_b_is_its_token_layout_of_codes(vit: Any, image: Any) -> None:
    """Q K^T: input2 = K's codes in its token layout [n][head][c_tile][t][c_lane], which the engine
    reads as weights transposed (W_XOR, W_TRANSPOSE, W_KT_STRIDE). A V: input2 = V's codes in its
    token layout, which the engine reads as weights (W_XOR, W_KT_STRIDE)."""
    _, _, outs = vit
    k_b = outs["select2"]  # matmul1's b = k [N, 2, 17 tokens, 32], transposed: columns = tokens, reduction = 32
    words = image.segment("matmul1", "input2").words
    img, h, t, c = 1, 1, 10, 20
    e = (((img * 2 + h) * 4 + c // 8) * 17 + t) * 8 + c % 8
    assert _byte(words[e // 8], e % 8) == int(k_b[img, h, t, c])
    v = outs["select3"]  # matmul2's b = v [N, 2, 17 tokens, 32 channels], not transposed
    words = image.segment("matmul2", "input2").words
    img, h, t, c = 0, 1, 16, 9
    e = (((img * 2 + h) * 4 + c // 8) * 17 + t) * 8 + c % 8
    assert _byte(words[e // 8], e % 8) == int(v[img, h, t, c])


def _corrupt(folder: Path, tmp: Path, file: str, word: int, value: int) -> list[str]:
    bad = tmp / "bad"
    shutil.copytree(folder, bad)
    p = bad / file
    lines = p.read_text().split("\n")
    data = [i for i, line in enumerate(lines) if line and not line.startswith("//")]
    lines[data[word]] = f"{value:016x}"
    p.write_text("\n".join(lines))
    return [q for q in check_image(bad) if q.startswith("memory_map.json")]


def test_a_corrupted_table_entry_is_found(folder: Path, image: Any, tmp_path: Path) -> None:
    w = image.segment("softmax1", "table").words[3]
    probs = _corrupt(folder, tmp_path, "softmax1.table.memh", 3, w & ~0xFFFFF)  # entry 6 zeroed: entry 7 rises above it
    assert any("(softmax1)" in p and "softmax1.table.memh (table)" in p and "table entry 7" in p and "above entry 6 (0)" in p
               for p in probs), probs


def test_a_corrupted_record_field_is_found(folder: Path, image: Any, tmp_path: Path) -> None:
    w = image.segment("ln1", "records").words[2 * 5]
    probs = _corrupt(folder, tmp_path, "ln1.records.memh", 2 * 5, (w & 0xFFFFFFFF) | (63 << 32))  # channel 5's shift: 63
    assert any("(ln1)" in p and "ln1.records.memh (records)" in p and "record 5: field shift = 63" in p for p in probs), probs


def test_a_corrupted_b_operand_is_found_by_golden(folder: Path, image: Any, tmp_path: Path) -> None:
    w = image.segment("matmul1", "input2").words[0]
    probs = _corrupt(folder, tmp_path, "matmul1.input2.memh", 0, w ^ 0x4040404040404040)
    assert any("(matmul1)" in p and "input, input2 segments differs from matmul1.expected.memh" in p for p in probs), probs


def test_layers_named(vit: Any) -> None:
    net, x_q, _ = vit
    img = build_image(net, x_q[:1], CFG, layers=["softmax1", "matmul2", "add1"])
    assert [p.kind for p in img.plans] == ["softmax", "matmul", "add"]
    with pytest.raises(HexgenError, match="reshape1: kind reshape is golden only: a pure reshape: no arithmetic"):
        build_image(net, x_q[:1], CFG, layers=["reshape1"])


def _edit_map(folder: Path, tmp: Path, edit: Any) -> list[str]:
    import json

    bad = tmp / "bad"
    shutil.copytree(folder, bad)
    mm = json.loads((bad / "memory_map.json").read_text())
    edit(mm)
    (bad / "memory_map.json").write_text(json.dumps(mm, indent=1))
    return [q for q in check_image(bad) if q.startswith("memory_map.json")]


def _layer(mm: dict[str, Any], name: str) -> dict[str, Any]:
    return next(l for l in mm["layers"] if l["name"] == name)


def test_a_descriptor_against_its_schema_and_golden(folder: Path, tmp_path: Path) -> None:
    def bad_types(mm: dict[str, Any]) -> None:
        _layer(mm, "softmax1")["descriptor"]["dividend"] = "big"
        _layer(mm, "ln1")["descriptor"]["a0"] = 1  # the row unit's LayerNorm: a one-input add's shape fields, no multipliers
        _layer(mm, "gelu1")["descriptor"]["shift"] = 1  # the vector unit's GELU: a one-input add's shape fields only
        _layer(mm, "add1")["descriptor"]["in_shape"] = [17, 64, 1, 1]  # a token add's shapes are [T, C]

    probs = _edit_map(folder, tmp_path, bad_types)
    assert any(".descriptor.dividend: is \"big\" (a string)" in p for p in probs), probs
    assert any(".descriptor.a0: unknown field" in p for p in probs), probs
    assert any(".descriptor.shift: unknown field" in p for p in probs), probs
    assert any(".descriptor.in_shape: has 4 entries, expected 1 or 2 or 3" in p for p in probs), probs


def test_a_wrong_requant_field_is_found_by_golden(folder: Path, tmp_path: Path) -> None:
    probs = _edit_map(folder, tmp_path, lambda mm: _layer(mm, "matmul2")["descriptor"].update(m0=_layer(mm, "matmul2")["descriptor"]["m0"] // 2))
    assert any("(matmul2): golden run on the descriptor and the input, input2 segments differs" in p for p in probs), probs
    # and the scale records the engine requantizes with no longer hold the descriptor's m0
    assert any("(matmul2): the scale segment (matmul2.scale.memh) is not the descriptor m0 and n" in p for p in probs), probs


def test_v_is_the_qkv_linears_output_word_for_word(image: Any) -> None:
    """docs/memory-map.md: A @ V reads V where the qkv linear wrote it: each head's d-tile j is the
    linear's channel tile 16 + 4h + j (channels 2*64 + 32*h .., D = 32 a whole number of tiles),
    its 17 token words as they are (the engine's W_XOR makes them code - 128, W_KT_STRIDE steps 17
    words a tile, the weight order's padded 24 read past them onto a's zero-point lanes)."""
    qkv = image.segment("linear1", "expected").words  # [n][24 c_tiles][17 t][8 lanes]
    b = image.segment("matmul2", "input2").words  # [n][2 h][4 d_tiles][17 t][8 lanes]
    for n in range(2):
        for h in range(2):
            for j in range(4):
                for t in range(17):
                    assert b[((n * 2 + h) * 4 + j) * 17 + t] == qkv[(n * 24 + 16 + 4 * h + j) * 17 + t], (n, h, j, t)
    runs = next(p for p in image.plans if p.name == "matmul2").descriptor["runs"]
    assert [(r["w_xor"], r["w_kt_stride"], r["w_word"]) for r in runs] == [(1, 17, 0), (1, 17, 4 * 17)]


def test_k_is_the_qkv_linears_output_word_for_word(image: Any) -> None:
    """docs/memory-map.md: Q K^T reads K where the qkv linear wrote it (no host step): each head's
    channel tile j is the linear's channel tile 8 + 4h + j (channels 64 + 32*h ..), its 17 token
    words as they are; each run reads them transposed (W_TRANSPOSE: a k_tile's 8 tokens of each
    channel tile, the tiles W_KT_STRIDE = 17 words apart; W_XOR: code - 128)."""
    qkv = image.segment("linear1", "expected").words  # [n][24 c_tiles][17 t][8 lanes]
    b = image.segment("matmul1", "input2").words  # [n][2 h][4 c_tiles][17 t][8 lanes]
    for n in range(2):
        for h in range(2):
            for j in range(4):
                for t in range(17):
                    assert b[((n * 2 + h) * 4 + j) * 17 + t] == qkv[(n * 24 + 8 + 4 * h + j) * 17 + t], (n, h, j, t)
    runs = next(p for p in image.plans if p.name == "matmul1").descriptor["runs"]
    assert [(r["w_xor"], r["w_transpose"], r["w_kt_stride"], r["w_word"]) for r in runs] == [(1, 1, 17, 0), (1, 1, 17, 4 * 17)]
