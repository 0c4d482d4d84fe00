"""hexgen.image and the CLI: whole-model images of the shipped models, read back exactly, checked,
and every problem a folder can have reported as file:line."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden import INPUT, ConvLayer, Network
from hexgen import (
    FitError,
    HardwareConfig,
    HexgenError,
    build_image,
    check_image,
    from_words,
    read_memh,
    read_image,
    write_image,
)
from hexgen import folder as folder_mod
from hexgen import synth
from hexgen.__main__ import main

MODELS = ("mobilenetv2", "vgg", "mlp")
CONFIGS = {
    "r8c8w64": HardwareConfig(),
    "r16c4w128": HardwareConfig(array_rows=16, array_cols=4, word_bits=128, align_bytes=256),
    "r4c16w32": HardwareConfig(array_rows=4, array_cols=16, word_bits=32, align_bytes=4, weight_buf_words=8192, act_buf_words=8192),
}


@pytest.fixture(scope="module")
def nets(shipped) -> dict[str, tuple[Network, np.ndarray]]:  # type: ignore[no-untyped-def]
    """golden Networks of the shipped models (quantized once per session by tests/conftest.py)."""
    from golden import extract

    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in MODELS:
            q = shipped(name)
            net = extract(q.qmodel, q.calibration[:2])
            out[name] = (net, net.quantize_input(q.x_test[:2]))
    return out


def _expected_arrays(net: Network, x_q: np.ndarray) -> dict[tuple[str, str], np.ndarray]:
    """Every segment's contents straight from golden's records and run (not from hexgen)."""
    run = net.run(x_q)
    outs = {INPUT: x_q, **run.outputs}
    exp: dict[tuple[str, str], np.ndarray] = {}
    for l in net.compute_layers():
        exp[(l.name, "weights")] = l.weight  # type: ignore[attr-defined]
        exp[(l.name, "bias")] = np.stack([l.bias.mantissa, l.bias.shift], 1)  # type: ignore[attr-defined]
        exp[(l.name, "scale")] = np.stack([l.requant.m0, l.requant.n], 1)  # type: ignore[attr-defined]
        exp[(l.name, "input")] = outs[l.inputs[0]]
        exp[(l.name, "expected")] = outs[l.name]
        exp[(l.name, "output")] = 255 - outs[l.name].astype(np.int64)
    return exp


@pytest.mark.parametrize("cfg_name", list(CONFIGS))
@pytest.mark.parametrize("model", MODELS)
def test_round_trip_every_layer_of_every_model(nets: dict, model: str, cfg_name: str, tmp_path: Path) -> None:
    net, x_q = nets[model]
    cfg = CONFIGS[cfg_name]
    img = build_image(net, x_q, cfg, model=model)
    write_image(img, tmp_path / "img")
    back = read_image(tmp_path / "img")
    exp = _expected_arrays(net, x_q)
    assert set(back.arrays) == set(exp)
    assert len(img.plans) == len(net.compute_layers())
    for key, want in exp.items():
        assert np.array_equal(back[key], np.asarray(want, dtype=np.int64)), key
    assert check_image(tmp_path / "img") == []
    # decoding a DRAM dump with the map's layouts (what a testbench does with the output region)
    dram = read_memh(tmp_path / "img" / "dram.memh", cfg.word_bits).words
    last = net.compute_layers()[-1].name
    info = back.segment_info(last, "expected")
    arr, probs = from_words(dram[info["base_word"] : info["base_word"] + info["words"]], back.layout(last, "expected"))
    assert probs == [] and np.array_equal(arr, exp[(last, "expected")])
    assert back.layer(last)["descriptor"]["z_out"] == net[last].requant.z_out  # type: ignore[attr-defined]
    mm = json.loads((tmp_path / "img" / "memory_map.json").read_text())
    assert mm["config"] == cfg.to_json()
    prev_end = 0
    for s in mm["segments"]:
        assert s["base"] % cfg.align_bytes == 0 and s["base"] >= prev_end
        assert s["bytes"] == s["words"] * cfg.word_bytes and s["base_word"] * cfg.word_bytes == s["base"]
        prev_end = s["base"] + s["bytes"]
    assert prev_end <= mm["dram"]["bytes"]


def test_table_and_verilog_header(nets: dict, tmp_path: Path) -> None:
    net, x_q = nets["mlp"]
    img = build_image(net, x_q, HardwareConfig(), model="mlp")
    out = write_image(img, tmp_path / "mlp")
    table = (out / "memory_map.txt").read_text().splitlines()
    assert table[1].split() == ["layer", "segment", "base", "words", "bytes"]
    # fc1: weights [64, 64] = 8 k_tiles x 8 c_tiles x 8 c_lanes = 512 one-word vectors at 0
    assert table[2].split() == ["fc1", "weights", "0x00000000", "512", "4096"]
    # bias: 64 records of 64 bits = 64 words, next 64-byte boundary after 4096
    assert table[3].split() == ["fc1", "bias", "0x00001000", "64", "512"]
    vh = (out / "hexgen.vh").read_text()
    assert "`define HEXGEN_WORD_BITS 64\n" in vh and "`define HEXGEN_ARRAY_ROWS 8\n" in vh
    assert "`define HEXGEN_FC1_BIAS_BASE 32'h00001000\n" in vh and "`define HEXGEN_FC1_BIAS_WORD 512\n" in vh
    # per-layer files hold the same words as the DRAM image at their base
    dram = [l for l in (out / "dram.memh").read_text().splitlines() if not l.startswith("//")]
    bias = [l for l in (out / "fc1.bias.memh").read_text().splitlines() if not l.startswith("//")]
    assert dram[512 : 512 + 64] == bias
    # channel 0's record: shift in [35:32], mantissa in [31:0]
    l0 = net["fc1"]
    m, s = int(l0.bias.mantissa[0]), int(l0.bias.shift[0])  # type: ignore[attr-defined]
    assert int(bias[0], 16) == (s << 32) | (m & 0xFFFFFFFF)


@pytest.fixture(scope="module")
def written(nets: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    net, x_q = nets["mobilenetv2"]
    return write_image(build_image(net, x_q[:1], HardwareConfig(), model="mobilenetv2"), tmp_path_factory.mktemp("m") / "img")


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _edit_line(path: Path, line: int, new: str) -> None:
    lines = path.read_text().splitlines()
    lines[line - 1] = new
    path.write_text("\n".join(lines) + "\n")


def test_check_reports_file_and_line(written: Path, tmp_path: Path) -> None:
    d = _copy(written, tmp_path / "bad")
    header = 11  # lines before the first word of a segment file: the magic line and 10 keys
    _edit_line(d / "conv3.weights.memh", header + 3, "00000000000g0000")
    # conv1 weights: C=3 in an 8-lane c tile: word 3 (c_lane 3) is all padding and must be 0
    _edit_line(d / "conv1.weights.memh", header + 4, "0000000000000100")
    _edit_line(d / "conv2.input.memh", 5, "// shape: 1x16x12x13")
    lines = (d / "fc1.expected.memh").read_text().splitlines()
    (d / "fc1.expected.memh").write_text("\n".join(lines[:-1]) + "\n")
    # DRAM word of conv4's bias differs from conv4.bias.memh
    mm = json.loads((d / "memory_map.json").read_text())
    seg = next(s for s in mm["segments"] if s["layer"] == "conv4" and s["segment"] == "bias")
    dram_header = 7
    _edit_line(d / "dram.memh", dram_header + seg["base_word"] + 1, "ffffffffffffffff")
    probs = check_image(d)
    text = "\n".join(probs)
    assert f"conv3.weights.memh:{header + 3}: non-hex character 'g'" in text
    assert f"conv1.weights.memh:{header + 4}: lane 1 is padding and holds 1, not the pad value 0" in text
    assert f"dram.memh:{7 + 3 + 1}: word 3 (segment conv1.weights word 3) differs from conv1.weights.memh:{header + 4}" in text
    assert "conv2.input.memh:5: header shape is '1x16x12x13', expected '1x16x12x12'" in text
    assert "fc1.expected.memh:" in text and "too few words: 1, expected 2" in text
    assert f"dram.memh:{dram_header + seg['base_word'] + 1}: word {seg['base_word']} (segment conv4.bias word 0) differs" in text
    # and every edited file once more, by its checksum in hexgen.manifest
    changed = [p.split(":")[0] for p in probs if "changed since hexgen wrote it" in p]
    assert sorted(changed) == ["conv1.weights.memh", "conv2.input.memh", "conv3.weights.memh", "dram.memh", "fc1.expected.memh"]
    assert len(probs) == 6 + 5, text
    with pytest.raises(HexgenError, match="11 problem"):
        read_image(d)


def test_check_reports_reserved_bits_and_stray_dram_words(written: Path, tmp_path: Path) -> None:
    d = _copy(written, tmp_path / "bad2")
    mm = json.loads((d / "memory_map.json").read_text())
    seg = next(s for s in mm["segments"] if s["layer"] == "conv5" and s["segment"] == "scale")
    f = d / "conv5.scale.memh"
    lines = f.read_text().splitlines()
    first = next(i for i, l in enumerate(lines) if not l.startswith("//"))
    word = int(lines[first], 16) | (1 << 45)  # a reserved bit of channel 0's scale record
    lines[first] = f"{word:016x}"
    f.write_text("\n".join(lines) + "\n")
    _edit_line(d / "dram.memh", 7 + seg["base_word"] + 1, f"{word:016x}")
    # a segment whose size is not a multiple of the 64-byte alignment leaves a gap after it
    gap = next(s for s in mm["segments"] if s["bytes"] % 64)
    gap_word = gap["base_word"] + gap["words"]
    _edit_line(d / "dram.memh", 7 + gap_word + 1, "0000000000000001")
    probs = [p for p in check_image(d) if "changed since hexgen wrote it" not in p]  # the checksums: both files
    assert probs == [
        f"conv5.scale.memh:{first + 1}: record 0 = 0x{word:x} has reserved bits set (mask 0xffffffc080000000)",
        f"dram.memh:{7 + gap_word + 1}: word {gap_word} lies between segments and is not 0",
    ], probs


def test_check_reports_a_tampered_memory_map(written: Path, tmp_path: Path) -> None:
    d = _copy(written, tmp_path / "bad3")
    mm = json.loads((d / "memory_map.json").read_text())
    mm["segments"][0]["layout"]["strides"][0]["stride"] += 1
    mm["segments"][1]["base"] += 8
    (d / "memory_map.json").write_text(json.dumps(mm))
    probs = check_image(d)
    assert probs[0] == "memory_map.json: segment conv1.weights: layout entries strides disagree with the layout they describe"
    assert "memory_map.json: segment conv1.bias base 0x00000488 is not aligned to 64 bytes" in probs
    assert len(probs) >= 2


def test_check_on_a_folder_that_is_not_an_image(tmp_path: Path) -> None:
    assert check_image(tmp_path)[0].startswith(f"{tmp_path / 'memory_map.json'}: cannot read the memory map")
    (tmp_path / "memory_map.json").write_text('{"format": "other"}')
    assert "not a hexgen memory map" in check_image(tmp_path)[0]
    mm = {"format": "hexgen-memory-map", "version": 1, "config": HardwareConfig().to_json(), "dram": {"file": "dram.memh", "words": 0}}
    (tmp_path / "memory_map.json").write_text(json.dumps({**mm, "segments": [{"layer": "conv1", "base": 0}]}))
    probs = check_image(tmp_path)  # every missing field by its path (hexgen.schema), then the missing marker
    assert "memory_map.json: segments[0].words: missing" in probs and "memory_map.json: dram.bytes: missing" in probs
    assert "memory_map.json: model: missing" in probs and probs[-1].startswith("hexgen.manifest: missing")
    (tmp_path / "memory_map.json").write_text(json.dumps({**mm, "version": 2}))
    assert "memory map version 2; this hexgen reads version 1" in check_image(tmp_path)[0]


def test_fit_error_on_a_real_model(nets: dict) -> None:
    net, x_q = nets["vgg"]
    with pytest.raises(FitError, match=r"layer fc1: one output-channel tile of weights needs 512 words of the weight buffer, which holds 511 words"):
        build_image(net, x_q, HardwareConfig(weight_buf_words=511))


def test_nothing_is_written_half(nets: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net, x_q = nets["mlp"]
    img = build_image(net, x_q, HardwareConfig(), model="mlp")
    calls = {"n": 0}
    real = folder_mod.memh_text

    def failing(*a, **kw):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError("disk full")
        return real(*a, **kw)

    monkeypatch.setattr(folder_mod, "memh_text", failing)
    with pytest.raises(OSError, match="disk full"):
        write_image(img, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []  # no out folder, no temporary folder left behind
    # an existing image is replaced only whole: it survives a failed rewrite untouched
    monkeypatch.setattr(folder_mod, "memh_text", real)
    write_image(img, tmp_path / "out")
    before = sorted((p.name, p.read_bytes()) for p in (tmp_path / "out").iterdir())
    calls["n"] = 0
    monkeypatch.setattr(folder_mod, "memh_text", failing)
    with pytest.raises(OSError):
        write_image(img, tmp_path / "out")
    assert sorted((p.name, p.read_bytes()) for p in (tmp_path / "out").iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    # failing at the very last step (moving the new folder into place) puts the old one back
    monkeypatch.setattr(folder_mod, "memh_text", real)
    real_rename = Path.rename

    def rename(self: Path, target: Path) -> Path:  # type: ignore[override]
        if self.name.startswith(".out.tmp-"):
            raise OSError("rename failed")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError, match="rename failed"):
        write_image(img, tmp_path / "out")
    monkeypatch.setattr(Path, "rename", real_rename)
    assert sorted((p.name, p.read_bytes()) for p in (tmp_path / "out").iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o777 & ~_umask()


def _umask() -> int:
    import os

    m = os.umask(0)
    os.umask(m)
    return m


def test_refuses_to_replace_a_foreign_folder(nets: dict, tmp_path: Path) -> None:
    net, x_q = nets["mlp"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(HexgenError, match="not a hexgen output folder"):
        write_image(build_image(net, x_q, HardwareConfig()), tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


# ---- random layers and configurations ------------------------------------------------------------


@st.composite
def random_nets(draw: st.DrawFn) -> tuple[Network, HardwareConfig, int]:
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    c = draw(st.integers(1, 20))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    kind = draw(st.sampled_from(["conv", "pointwise", "depthwise", "fc"]))
    if kind == "fc":
        layers = [synth.fc_layer(rng, c=c, k=draw(st.integers(1, 20)))]
        shape: tuple[int, ...] = (c,)
    else:
        kern = (1, 1) if kind == "pointwise" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        pad = (draw(st.integers(0, kern[0] // 2)), draw(st.integers(0, kern[1] // 2)))
        stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
        k = c if kind == "depthwise" else draw(st.integers(1, 20))
        conv: ConvLayer = synth.conv_layer(
            rng, c=c, k=k, hw=(max(h, kern[0]), max(w, kern[1])), kernel=kern, stride=stride, padding=pad,
            depthwise=kind == "depthwise", bias_mode=draw(st.sampled_from(["int16_shift", "int16_saturate", "int32"])),
        )
        layers = [conv]
        shape = conv.in_shape
        if draw(st.booleans()):  # a conv -> flatten -> fc chain: fc reads a flattened image
            flat = synth.flatten_layer(src=conv.name, in_shape=conv.out_shape)
            layers += [flat, synth.fc_layer(rng, inputs=("flatten1",), c=flat.out_shape[0], k=draw(st.integers(1, 12)), z_in=conv.requant.z_out)]
    big = 1 << 20
    cfg = HardwareConfig(
        array_rows=draw(st.integers(1, 17)),
        array_cols=draw(st.integers(1, 17)),
        word_bits=draw(st.sampled_from([32, 64, 128])),
        weight_buf_words=big, act_buf_words=big, bias_buf_words=big, scale_buf_words=big,
        align_bytes=draw(st.sampled_from([16, 64, 4096])),
    )
    return synth.network(layers, shape), cfg, draw(st.integers(1, 3))


@settings(max_examples=25, deadline=None)
@given(case=random_nets())
def test_random_layers_and_configs_round_trip(case: tuple[Network, HardwareConfig, int], tmp_path_factory: pytest.TempPathFactory) -> None:
    net, cfg, images = case
    rng = np.random.default_rng(images)
    x_q = rng.integers(0, 256, (images, *net.input_quant.shape)).astype(np.uint8)
    img = build_image(net, x_q, cfg, model="random")
    d = write_image(img, tmp_path_factory.mktemp("rand") / "img")
    back = read_image(d)
    exp = _expected_arrays(net, x_q)
    assert set(back.arrays) == set(exp)
    for key, want in exp.items():
        assert np.array_equal(back[key], np.asarray(want, dtype=np.int64)), key


# ---- CLI ----------------------------------------------------------------------------------------


def test_cli_generate_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mlp"
    assert main(["--model", "mlp", "--out", str(out), "--word-bits", "32", "--images", "2", "--align-bytes", "16"]) == 0
    printed = capsys.readouterr().out
    assert ["fc1", "weights", "0x00000000", "1024", "4096"] in [l.split() for l in printed.splitlines()]
    assert "word 32 bits" in printed
    mm = json.loads((out / "memory_map.json").read_text())
    assert mm["images"] == 2 and mm["config"]["word_bits"] == 32 and mm["model"] == "mlp"
    assert [s["shape"] for s in mm["segments"] if s["segment"] == "input"] == [[2, 64], [2, 64], [2, 32]]
    assert main(["check", str(out)]) == 0
    capsys.readouterr()
    assert main(["table", str(out)]) == 0
    assert capsys.readouterr().out == (out / "memory_map.txt").read_text()
    assert main(["table", str(tmp_path)]) == 2  # an error, not a verdict
    _edit_line(out / "fc2.scale.memh", 13, "zzzzzzzz")
    capsys.readouterr()
    assert main(["check", str(out)]) == 1
    assert "fc2.scale.memh:13: non-hex character 'z'" in capsys.readouterr().out


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model", "mlp", "--out", str(tmp_path / "x"), "--word-bits", "48"]) == 2
    assert "HardwareConfig.word_bits=48" in capsys.readouterr().err
    assert main(["--model", "nosuch", "--out", str(tmp_path / "x")]) == 2
    assert "unknown model 'nosuch'" in capsys.readouterr().err
    assert main(["--model", "mlp", "--out", str(tmp_path / "x"), "--weight-buf-words", "8"]) == 2
    assert "layer fc1: one output-channel tile of weights needs 64 words of the weight buffer, which holds 8" in capsys.readouterr().err
    # 8-bit weights on an engine that unpacks 2- and 4-bit ones only: the field and the widths, before writing
    assert main(["--model", "mlp", "--out", str(tmp_path / "x"), "--weight-bits", "2,4"]) == 2
    assert "layer fc1: the engine cannot run field W_BITS: weights of 8 bits: the engine unpacks 2, 4-bit" in capsys.readouterr().err
    assert main(["--model", "mlp", "--out", str(tmp_path / "x"), "--weight-bits", "2,x"]) == 2
    assert "'2,x': widths separated by commas" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_cli_narrow_widths_are_stored_packed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """make hexgen W_BITS=2 A_BITS=4: golden at those widths, weights stored two bits each (four to
    a byte: a quarter of the words), codes checked inside their widths."""
    words = {}
    for w in (8, 2):
        out = tmp_path / f"w{w}"
        assert main(["--model", "mlp", "--out", str(out), "--w-bits", str(w), "--a-bits", "4", "--quiet"]) == 0
        mm = json.loads((out / "memory_map.json").read_text())
        seg = next(s for s in mm["segments"] if s["layer"] == "fc1" and s["segment"] == "weights")
        words[w] = seg["layout"]["words"]
        assert seg["layout"]["elem_bits"] == w and next(e for e in mm["layers"] if e["name"] == "fc1")["descriptor"]["weight_bits"] == w
        assert main(["check", str(out)]) == 0
    assert words[2] * 4 == words[8], words


FACTORY = """
import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 3, padding=1)
        self.relu = nn.ReLU()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(5 * 6 * 6, 4)

    def forward(self, x):
        return self.fc(self.flatten(self.relu(self.conv(x))))


def make():
    torch.manual_seed(0)
    return Tiny().eval(), torch.rand(8, 3, 6, 6)
"""


def test_cli_user_factory_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "tiny.py"
    src.write_text(FACTORY)
    out = tmp_path / "tiny"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = main(["--model", f"{src}:make", "--out", str(out), "--images", "3", "--layers", "fc1", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    mm = json.loads((out / "memory_map.json").read_text())
    assert [l["name"] for l in mm["layers"]] == ["fc1"] and mm["model"] == "tiny:make" and mm["images"] == 3
    assert read_image(out).segment_info("fc1", "input")["shape"] == [3, 180]
    assert main(["--model", f"{src}:make", "--out", str(tmp_path / "t2"), "--images", "9"]) == 2
    assert "--images 9: the model's calibration batch has 8 images" in capsys.readouterr().err


@pytest.mark.parametrize("word_bits", [32, 64, 128])
def test_contract_extremes_round_trip(word_bits: int, tmp_path: Path) -> None:
    """Every field at the ends of its contract range survives write and read (M0 < 2**31, n 1..63,
    int32 mantissa, shift 0..15), in every word width."""
    from hexgen import place, plan_layer
    from hexgen.plan import layer_arrays

    rng = np.random.default_rng(5)
    layer = synth.conv_layer(rng, c=5, k=9, hw=(3, 3), depthwise=False)
    cfg = HardwareConfig(word_bits=word_bits, array_rows=4, align_bytes=16)
    arrs = layer_arrays(layer, rng.integers(0, 256, (1, 5, 3, 3)).astype(np.uint8), rng.integers(0, 256, (1, 9, 3, 3)).astype(np.uint8))
    arrs["weights"] = np.resize(np.array([-127, 127, 0, -1, 1]), arrs["weights"].shape)
    arrs["bias"] = np.array([[-(2**31), 0], [2**31 - 1, 15], [-32768, 15], [32767, 0], [-1, 7], [0, 0], [1, 1], [-2, 2], [5, 15]])
    arrs["scale"] = np.array([[2**31 - 1, 63], [0, 1], [1, 1], [2**30, 31], [65535, 63], [32768, 1], [2**31 - 2, 62], [3, 2], [7, 9]])
    plan = plan_layer(layer, cfg)
    img = place([(plan, arrs)], cfg, model="extremes", images=1)
    out = write_image(img, tmp_path / "x")
    for name, arr in arrs.items():
        words = read_memh(out / f"conv1.{name}.memh", word_bits).words
        back, probs = from_words(words, plan.layout(name))
        assert probs == [] and np.array_equal(back, arr), name
    # these records make no runnable layer (the bias overflows the accumulator): check says so, and only that
    probs = check_image(out)
    assert len(probs) == 1 and "golden cannot run the layer on its input segment" in probs[0], probs


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(case=random_nets())
def test_random_layers_and_configs_round_trip_wide(case: tuple[Network, HardwareConfig, int], tmp_path_factory: pytest.TempPathFactory) -> None:
    """The same property over many more cases (make test-slow)."""
    test_random_layers_and_configs_round_trip.hypothesis.inner_test(case, tmp_path_factory)  # type: ignore[attr-defined]


def test_add_and_pool_layers_round_trip_and_a_tampered_descriptor_is_caught(nets: dict, tmp_path: Path) -> None:
    """The vector unit's layers (residual add, global average pool, max pool): hexgen lays them out
    (input, input2 for the add, expected, output), the folder checks clean with golden re-run, and
    an add multiplier or a pool window edited in the map is reported as golden disagreeing with the
    expected segment."""
    net, x_q = nets["mobilenetv2"]
    img = build_image(net, x_q[:1], HardwareConfig(), model="mobilenetv2", layers=["add1", "pool1", "conv3"])
    d = write_image(img, tmp_path / "vec")
    assert check_image(d) == []
    mm = json.loads((d / "memory_map.json").read_text())
    segs = {(s["layer"], s["segment"]) for s in mm["segments"]}
    assert {("add1", "input"), ("add1", "input2"), ("add1", "expected"), ("add1", "output")} <= segs
    assert ("pool1", "input2") not in segs and ("pool1", "weights") not in segs
    by = {e["name"]: e for e in mm["layers"]}
    assert by["pool1"]["descriptor"]["kernel"] == [3, 3] and by["pool1"]["descriptor"]["out_shape"] == [64, 1, 1]
    bad = _copy(d, tmp_path / "bad_add")
    by["add1"]["descriptor"]["a0"] += 1000
    (bad / "memory_map.json").write_text(json.dumps(mm))
    probs = check_image(bad)
    assert any("layers[0].descriptor (add1): golden run on the descriptor and the input segment(s) differs" in p
               for p in probs), probs
    vnet, vx = nets["vgg"]
    vimg = build_image(vnet, vx[:1], HardwareConfig(), model="vgg", layers=["pool1"])
    assert check_image(write_image(vimg, tmp_path / "maxpool")) == []
