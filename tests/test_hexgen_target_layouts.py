"""hexgen with a target's own layouts (issue 24 item 5): an image of the pointwise and fc layers of
the shipped mobilenetv2 in a layout unlike our engine's (activations channel-last [H][W][C] packed 4
per 32-bit word, weights row-major [K][C] packed 4 per word, the int32 bias one per word, a {n, M0}
record), checked by a round trip against golden; every malformed input one problem line.

Expected values come from golden's records and Network.run, never from hexgen."""
from __future__ import annotations

import dataclasses
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from golden import INPUT, Network
from golden.errors import ShapeError
from golden.layers import ConvLayer, LinearLayer
from hexgen import (
    Field, HardwareConfig, Layout, TargetLayoutError, TargetSegment, build_target_image, check_image, from_words,
    layer_arrays, place, plan_layer, read_image, read_memh, write_image,
)
from hexgen.folder import MANIFEST_FILE, manifest_text

WB = 32


@pytest.fixture(scope="module")
def mnv2(shipped) -> tuple[Network, np.ndarray]:  # type: ignore[no-untyped-def]
    from golden import extract

    q = shipped("mobilenetv2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = extract(q.qmodel, q.calibration[:2])
        return net, net.quantize_input(q.x_test[:2])


def _acts(shape: tuple[int, ...], n: int) -> Layout:
    """Channel-last, 4 channels a 32-bit word: [n][y][x][c_tile][c_lane] (fc: [n][c_tile][c_lane])."""
    if len(shape) == 3:
        return Layout(("n", "c", "y", "x"), (n, *shape), (("c", 4),), ("n", "y", "x", "c_tile", "c_lane"), 8, False, 0, WB)
    return Layout(("n", "c"), (n, *shape), (("c", 4),), ("n", "c_tile", "c_lane"), 8, False, 0, WB)


SCALE_RECORD = (Field("n", 0, 8, False, 1, 63), Field("m0", 32, 32, False, 0, 2**31 - 1))  # {n, M0}: n first


def _golden(net: Network, x: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Per pointwise/fc layer, each segment's contents straight from golden (records and run)."""
    run = net.run(x)
    outs = {INPUT: x, **run.outputs}
    out: dict[str, dict[str, np.ndarray]] = {}
    for l in net.compute_layers():
        if l.kind not in ("pointwise", "fc"):
            continue
        assert isinstance(l, (ConvLayer, LinearLayer))
        k = l.weight.shape[0]
        out[l.name] = {
            "w": l.weight.reshape(k, -1),  # row-major [K][C]
            "b": l.bias.term,
            "requant": np.stack([l.requant.n, l.requant.m0], 1),
            "acts": outs[l.inputs[0]],
            "exp": outs[l.name],
            "out": 255 - outs[l.name].astype(np.int64),
        }
    return out


def _layouts(net: Network, golden: dict[str, dict[str, np.ndarray]], n: int, *, arrays: bool = True) -> dict[str, Any]:
    lay: dict[str, Any] = {}
    for name, g in golden.items():
        l = net[name]
        k, c = g["w"].shape
        segs = {
            "w": TargetSegment("weights", Layout(("k", "c"), (k, c), (("c", 4),), ("k", "c_tile", "c_lane"), 8, True, 0, WB)),
            "b": TargetSegment("bias", Layout(("k",), (k,), (), ("k",), 32, True, 0, WB)),
            "requant": TargetSegment("scale", Layout(("k",), (k,), (), ("k",), 64, False, 0, WB, SCALE_RECORD)),
            "acts": TargetSegment("input", _acts(l.in_shape, n)),
            "exp": TargetSegment("expected", _acts(l.out_shape, n)),
            "out": TargetSegment("output", _acts(l.out_shape, n)),
        }
        if arrays:
            segs = {s: dataclasses.replace(t, array=g[s]) for s, t in segs.items()}
        lay[name] = segs
    return lay


@pytest.fixture(scope="module")
def folder(mnv2: tuple[Network, np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> Path:
    net, x = mnv2
    img = build_target_image(net, x, _layouts(net, _golden(net, x), len(x)), target="pw4", word_bits=WB, model="mobilenetv2")
    return write_image(img, tmp_path_factory.mktemp("target") / "image")


def test_a_layout_unlike_ours_round_trips_and_checks_clean(mnv2: tuple[Network, np.ndarray], folder: Path) -> None:
    net, x = mnv2
    golden = _golden(net, x)
    assert len(golden) == 11  # conv3 ... conv16 and fc1
    assert check_image(folder) == []
    rb = read_image(folder)
    assert rb.target == "pw4"
    mm = json.loads((folder / "memory_map.json").read_text())
    assert mm["target"] == "pw4"
    dram = read_memh(folder / "dram.memh", WB)
    for name, g in golden.items():
        for seg, want in g.items():
            assert np.array_equal(rb[(name, seg)], want), (name, seg)
            # the map alone decodes the segment: its base and recorded layout, on dram.memh's words
            info = rb.segment_info(name, seg)
            lay = Layout.from_json(info["layout"])
            got, probs = from_words(dram.words[info["base_word"] : info["base_word"] + info["words"]], lay)
            assert probs == [] and np.array_equal(got, want), (name, seg)
    # golden's arrays taken by role (no array given) make the same folder's segments
    img = build_target_image(net, x, _layouts(net, golden, len(x), arrays=False), target="pw4", word_bits=WB,
                             model="mobilenetv2")
    for s in img.segments:
        assert np.array_equal(img.arrays[(s.layer, s.name)], golden[s.layer][s.name])


def test_engine_images_say_no_target(mnv2: tuple[Network, np.ndarray], tmp_path: Path) -> None:
    from hexgen import build_image

    net, x = mnv2
    write_image(build_image(net, x, HardwareConfig(), layers=["conv3"]), tmp_path / "eng")
    assert "target" not in json.loads((tmp_path / "eng" / "memory_map.json").read_text())
    assert read_image(tmp_path / "eng").target == "engine"


def _corrupt(src: Path, dst: Path, seg_file: str, word: int) -> None:
    """Flip bit 0 of one word in a segment file and in dram.memh, and rewrite the manifest, so only
    the round trip against golden can see it."""
    shutil.copytree(src, dst)
    mm = json.loads((dst / "memory_map.json").read_text())
    info = next(s for s in mm["segments"] if s["file"] == seg_file)
    for f, at in ((seg_file, word), ("dram.memh", info["base_word"] + word)):
        lines = (dst / f).read_text().splitlines()
        first = next(i for i, t in enumerate(lines) if not t.startswith("//"))
        lines[first + at] = f"{int(lines[first + at], 16) ^ 1:0{WB // 4}x}"
        (dst / f).write_text("\n".join(lines) + "\n")
    files = {p.name: p.read_bytes() for p in dst.iterdir() if p.name != MANIFEST_FILE}
    (dst / MANIFEST_FILE).write_text(manifest_text(files))


@pytest.mark.parametrize("seg_file, named", [
    ("conv3.exp.memh", "segment conv3.exp (role expected) differs from golden's expected in 1 of"),
    ("conv3.requant.memh", "segment conv3.requant (role scale) differs from golden's scale in 1 of"),
    ("fc1.out.memh", "segment fc1.out (role output) differs from golden's output in 1 of"),
])
def test_one_corrupted_word_is_named(folder: Path, tmp_path: Path, seg_file: str, named: str) -> None:
    _corrupt(folder, tmp_path / "bad", seg_file, 0)
    probs = check_image(tmp_path / "bad")
    assert len(probs) == 1 and named in probs[0] and probs[0].startswith(seg_file), probs


def test_a_corrupted_weight_changes_what_golden_gives(folder: Path, tmp_path: Path) -> None:
    _corrupt(folder, tmp_path / "bad", "conv4.w.memh", 0)
    probs = check_image(tmp_path / "bad")
    assert any("segment conv4.exp (role expected) differs from golden's expected" in p for p in probs), probs


def test_a_record_golden_cannot_make_is_a_problem_line(folder: Path, tmp_path: Path) -> None:
    dst = tmp_path / "bad"
    shutil.copytree(folder, dst)
    mm = json.loads((dst / "memory_map.json").read_text())
    mm["layers"][0]["record"]["class"] = "NoSuchLayer"
    mm["layers"][1]["record"]["stride"] = "abc"
    (dst / "memory_map.json").write_text(json.dumps(mm, indent=1) + "\n")
    files = {p.name: p.read_bytes() for p in dst.iterdir() if p.name != MANIFEST_FILE}
    (dst / MANIFEST_FILE).write_text(manifest_text(files))
    probs = check_image(dst)
    assert len(probs) == 2, probs
    assert "layers[0] (conv3).record: golden cannot make a layer of it" in probs[0]
    assert "(conv4)" in probs[1]


# ---- every malformed input: one problem line naming the layer and segment ------------------------
def _one_layer(net: Network, x: np.ndarray) -> dict[str, Any]:
    g = _golden(net, x)
    return _layouts(net, {"conv3": g["conv3"]}, len(x))


def _scale_json(fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {"dims": ["k"], "shape": [8], "tiles": {}, "order": ["k"], "elem_bits": 64, "signed": False, "pad": 0,
            "word_bits": WB, "fields": fields}


def _malformed(case: str, lay: dict[str, Any], net: Network) -> None:
    segs = lay["conv3"]
    if case == "array shape":
        segs["w"] = dataclasses.replace(segs["w"], array=np.zeros((8, 17), np.int8))
    elif case == "field outside the record":
        segs["requant"] = TargetSegment("scale", _scale_json([
            {"name": "n", "lsb": 0, "width": 8, "signed": False, "lo": 1, "hi": 63},
            {"name": "m0", "lsb": 40, "width": 31, "signed": False, "lo": 0, "hi": 2**31 - 1}]))
    elif case == "field too narrow":
        segs["requant"] = TargetSegment("scale", _scale_json([
            {"name": "n", "lsb": 0, "width": 8, "signed": False, "lo": 1, "hi": 63},
            {"name": "m0", "lsb": 32, "width": 8, "signed": False, "lo": 0, "hi": 255}]))
    elif case == "unknown field":
        segs["requant"] = TargetSegment("scale", _scale_json([
            {"name": "n", "lsb": 0, "width": 8, "signed": False, "lo": 1, "hi": 63},
            {"name": "M0", "lsb": 32, "width": 32, "signed": False, "lo": 0, "hi": 2**31 - 1}]))
    elif case == "unknown role":
        segs["b"] = dataclasses.replace(segs["b"], role="biases")
    elif case == "role twice":
        segs["acts2"] = segs["acts"]
    elif case == "names differing only in case":
        segs["Acts"] = segs["acts"]
    elif case == "bad segment name":
        segs["acts.x"] = segs.pop("acts")
    elif case == "unknown layer":
        lay["conv99"] = lay.pop("conv3")
    elif case == "overlapping segments":
        segs["acts"] = dataclasses.replace(segs["acts"], base=0)
        segs["exp"] = dataclasses.replace(segs["exp"], base=64)
    elif case == "array differs from golden":
        w = segs["w"].array.copy()
        w[1, 2] += 1
        segs["w"] = dataclasses.replace(segs["w"], array=w)
    elif case == "value outside the element":
        segs["b"] = TargetSegment("bias", Layout(("k",), (8,), (), ("k",), 8, True, 0, WB))
    elif case == "word width":
        segs["b"] = TargetSegment("bias", Layout(("k",), (8,), (), ("k",), 32, True, 0, 64))
    elif case == "layout shape":
        segs["acts"] = TargetSegment("input", _acts((16, 12, 11), 2))
    elif case == "not a TargetSegment":
        segs["acts"] = (segs["acts"].role, segs["acts"].layout)
    elif case == "role the layer has not":
        segs["x2"] = TargetSegment("input2", _acts((16, 12, 12), 2))
    else:
        raise AssertionError(case)


CASES = {
    "array shape": ("'w' (role weights)", "does not match its layout"),
    "field outside the record": ("'requant' (role scale)", "leaves the 64-bit record"),
    "field too narrow": ("'requant' (role scale)", "cannot hold golden's m0"),
    "unknown field": ("'requant' (role scale)", "M0 name none of golden's scale columns"),
    "unknown role": ("'b'", "unknown role 'biases'"),
    "role twice": ("'acts2' (role input)", "role input is segment 'acts''s already"),
    "names differing only in case": ("'Acts'", "the same name as segment 'acts' but for case"),
    "bad segment name": ("'acts.x'", "a segment name is a letter"),
    "unknown layer": ("layer 'conv99'", "golden's network has no such layer"),
    "overlapping segments": ("'exp' (role expected)", "overlaps segment conv3.acts"),
    "array differs from golden": ("'w' (role weights)", "differs from golden's weights in 1 of 128 elements (first at [1, 2]"),
    "value outside the element": ("'b' (role bias)", "do not fit signed 8-bit elements"),
    "word width": ("'b' (role bias)", "64-bit words in an image of 32-bit words"),
    "layout shape": ("'acts' (role input)", "does not hold golden's input of shape [2, 16, 12, 12]"),
    "not a TargetSegment": ("'acts'", "is a tuple, expected a TargetSegment"),
    "role the layer has not": ("'x2' (role input2)", "a pointwise layer has no input2"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_input_is_one_problem_line(mnv2: tuple[Network, np.ndarray], case: str) -> None:
    net, x = mnv2
    lay = _one_layer(net, x)
    build_target_image(net, x, lay, target="pw4", word_bits=WB)  # the unaltered input builds
    _malformed(case, lay, net)
    with pytest.raises(TargetLayoutError) as e:
        build_target_image(net, x, lay, target="pw4", word_bits=WB)
    where, what = CASES[case]
    assert len(e.value.problems) == 1, e.value.problems
    line = e.value.problems[0]
    assert where in line and what in line, line
    if case != "unknown layer":
        assert line.startswith("layer conv3 segment "), line


def test_a_missing_role_names_the_layer(mnv2: tuple[Network, np.ndarray]) -> None:
    net, x = mnv2
    lay = _one_layer(net, x)
    del lay["conv3"]["w"]
    with pytest.raises(TargetLayoutError) as e:
        build_target_image(net, x, lay, target="pw4", word_bits=WB)
    assert e.value.problems == ["layer conv3: no segment with role weights (the round trip runs golden on the input(s) "
                                "and the weights and compares the expected output)"]


# ---- 2-D [K, C] pointwise weights (the crash of the issue) -------------------------------------------
def test_golden_refuses_2d_conv_weights_naming_the_layer(mnv2: tuple[Network, np.ndarray]) -> None:
    net, _ = mnv2
    l = net["conv3"]
    assert isinstance(l, ConvLayer)
    with pytest.raises(ShapeError, match=r"layer conv3: conv weights have shape \[8, 16\]"):
        dataclasses.replace(l, weight=l.weight.reshape(8, 16))
    fc = net["fc1"]
    assert isinstance(fc, LinearLayer)
    with pytest.raises(ShapeError, match=r"layer fc1: fc weights have shape \[10, 64, 1, 1\]"):
        dataclasses.replace(fc, weight=fc.weight.reshape(10, 64, 1, 1))


def test_2d_weights_in_an_engine_map_are_a_problem_line(mnv2: tuple[Network, np.ndarray], tmp_path: Path) -> None:
    """The issue's user: our engine's plan with the weights layout swapped for a 2-D [K, C] one,
    placed and written; check_image raised IndexError in ConvLayer.kernel."""
    net, x = mnv2
    l = net["conv3"]
    assert isinstance(l, ConvLayer)
    cfg = HardwareConfig()
    plan = plan_layer(l, cfg, images=len(x))
    run = net.run(x)
    arrs = dict(layer_arrays(l, run.outputs[l.inputs[0]], run.outputs["conv3"]))
    w2 = Layout(("k", "c"), (8, 16), (), ("k", "c"), 8, True, 0, 64)
    arrs["weights"] = l.weight.reshape(8, 16)
    plan = dataclasses.replace(plan, layouts=tuple((s, w2 if s == "weights" else t) for s, t in plan.layouts))
    write_image(place([(plan, arrs)], cfg, model="m", images=len(x)), tmp_path / "img")
    probs = check_image(tmp_path / "img")
    assert any("layer conv3: conv weights have shape [8, 16]" in p for p in probs), probs
