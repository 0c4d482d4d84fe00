"""Golden export for a testbench of one's own (issue 24, item 4; docs/golden.md, "Export for your
own testbench"): golden.export and `python -m golden export` / `make golden-export`.

The references are golden's own: each layer is re-run from its exported arrays alone with
golden.arith's kernels, and the exported outputs are compared with a separate Network.run; no
formula is written again here. One small network holds every layer kind (conv with TF 'SAME'
padding, depthwise, pointwise, grouped conv, residual add, max pool, average pool, global average
pool, flatten, fc); the command-line cases use the shipped MLP.
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from golden import INPUT, AddLayer, AvgPoolLayer, ConvLayer, LinearLayer, MaxPoolLayer, arith, extract, quantize
from golden.__main__ import main
from golden.cli import run_cli
from golden.export import export, geometry, layer_arrays, network_arrays

ROOT = Path(__file__).resolve().parents[1]
ALL_KINDS = {"conv", "depthwise", "pointwise", "fc", "add", "maxpool", "avgpool", "flatten"}


class _EveryKind(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pad = nn.ZeroPad2d((0, 1, 0, 1))  # TF 'SAME' before a stride-2 conv: pads (0, 1, 0, 1)
        self.stem = nn.Conv2d(3, 8, 3, stride=2)
        self.relu = nn.ReLU()
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.relu6 = nn.ReLU6()
        self.pw = nn.Conv2d(8, 8, 1)
        self.grouped = nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.maxpool = nn.MaxPool2d(2)
        self.avgpool = nn.AvgPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.stem(self.pad(x)))
        y = self.pw(self.relu6(self.dw(x)))
        x = self.grouped(x + y)
        x = self.gap(self.avgpool(self.maxpool(x)))
        return self.fc(torch.flatten(x, 1))


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    torch.manual_seed(0)
    calibration = torch.rand(16, 3, 16, 16)
    net = extract(quantize(_EveryKind().eval(), calibration), calibration[:2])
    assert {l.kind for l in net.layers} == ALL_KINDS
    x_q = net.quantize_input(torch.rand(3, 3, 16, 16))
    out = export(net, x_q, tmp_path_factory.mktemp("export") / "every_kind", model="every_kind")
    return net, x_q, out


def _load(folder: Path, file: str) -> dict[str, np.ndarray]:
    with np.load(folder / file) as z:
        return {k: z[k] for k in z.files}


# ---- the round trip ----------------------------------------------------------------------------

def test_every_layer_rerun_from_its_exported_arrays_with_golden_arith_gives_its_exported_output(case):
    net, x_q, out = case
    doc = json.loads((out / "network.json").read_text())
    reference = net.run(x_q, accumulators=True)  # a run of its own, not the export's
    rerun = set()
    for entry in doc["layers"]:
        a = _load(out, entry["file"])
        name, kind = entry["name"], entry["kind"]
        assert np.array_equal(a["output"], reference[name]), name
        if kind in ("conv", "depthwise", "pointwise", "fc"):
            assert np.array_equal(arith.bias_term(a["bias_mantissa"], a["bias_shift"]), a["bias_term"]), name
            if kind == "fc":
                acc = arith.linear_acc(a["input"], a["weight"], a["bias_term"], z_in=int(a["z_in"]))
            else:
                acc = arith.conv_acc(a["input"], a["weight"], a["bias_term"], z_in=int(a["z_in"]),
                                     stride=tuple(a["stride"]), padding=tuple(a["pads"]), groups=int(a["groups"]))
            assert np.array_equal(acc, a["acc"]), name
            assert np.array_equal(a["acc"], reference.accumulators[name]), name
            y = arith.requantize(a["acc"], m0=a["m0"], n=a["n"], z_out=int(a["z_out"]), lo=int(a["lo"]), hi=int(a["hi"]))
        elif kind == "add":
            y = arith.add_requant(a["input_a"], a["input_b"], **{k: int(a[k]) for k in ("z_a", "z_b", "a0", "b0", "n", "z_out", "lo", "hi")})
        elif kind == "maxpool":
            y = arith.max_pool(a["input"], kernel=tuple(a["kernel"]), stride=tuple(a["stride"]), padding=tuple(a["padding"]))
        elif kind == "avgpool":
            if entry["global_pool"]:
                sums, count = arith.global_avg_pool_sums(a["input"])
            else:
                sums, count = arith.avg_pool_sums(a["input"], kernel=tuple(a["kernel"]), stride=tuple(a["stride"]))
            assert np.array_equal(sums, a["sums"]) and count == int(a["count"]), name
            y = arith.avg_round(a["sums"], int(a["count"]))
        else:  # flatten: golden's layer on the exported input
            y = net.run_layer(name, a["input"])
        assert np.array_equal(y, a["output"]), name
        rerun.add(kind)
    assert rerun == ALL_KINDS
    assert len(rerun) and len(doc["layers"]) == len(net)


def test_each_layers_exported_input_is_its_producers_exported_output(case):
    net, x_q, out = case
    doc = json.loads((out / "network.json").read_text())
    network_input = _load(out, "input.npz")
    assert np.array_equal(network_input["input"], x_q)
    assert int(network_input["zero_point"]) == net.input_quant.zero_point
    outputs = {e["name"]: _load(out, e["file"])["output"] for e in doc["layers"]}
    checked = 0
    for e in doc["layers"]:
        a = _load(out, e["file"])
        assert len(e["input_arrays"]) == len(e["inputs"]) == len(net[e["name"]].inputs)
        for key, src in zip(e["input_arrays"], e["inputs"]):
            expected = network_input["input"] if src == INPUT else outputs[src]
            assert np.array_equal(a[key], expected), (e["name"], key, src)
            checked += 1
    assert checked == len(net) + 1  # one add with two operands


def test_layer_arrays_and_network_arrays_are_the_exported_files(case):
    net, x_q, out = case
    every = network_arrays(net, x_q)
    assert list(every) == [INPUT, *net.names]
    for name in ("conv1", "add1", "pool2", "fc1"):
        one = layer_arrays(net, name, x_q)
        saved = _load(out, f"{name}.npz")
        assert sorted(one) == sorted(saved) == sorted(every[name])
        for k in saved:
            assert one[k].dtype == saved[k].dtype and np.array_equal(one[k], saved[k]), (name, k)
    with pytest.raises(KeyError, match="no layer named 'conv99'"):
        layer_arrays(net, "conv99", x_q)


def test_network_json_against_the_network(case):
    net, x_q, out = case
    doc = json.loads((out / "network.json").read_text())
    assert doc["format"] == "int8sim-golden-export" and doc["version"] == 1 and doc["model"] == "every_kind"
    assert (doc["bias_mode"], doc["m0_bits"]) == (net.bias_mode, net.m0_bits)
    iq = net.input_quant
    assert doc["input"] == {"file": "input.npz", "shape": list(iq.shape), "scale": iq.scale, "zero_point": iq.zero_point}
    assert doc["output"] == {"layer": net.output_name, "scale": net.output_scale, "zero_point": net.output_zero_point}
    assert [e["name"] for e in doc["layers"]] == net.names
    for e, l in zip(doc["layers"], net.layers):
        assert (e["kind"], e["file"], tuple(e["inputs"])) == (l.kind, f"{l.name}.npz", l.inputs)
        assert (tuple(e["in_shape"]), tuple(e["out_shape"]), e["module"], e["macs"]) == (l.in_shape, l.out_shape, l.module, l.macs)
        if isinstance(l, ConvLayer):
            assert (tuple(e["kernel"]), tuple(e["stride"]), tuple(e["pads"]), e["groups"]) == (l.kernel, l.stride, l.pads, l.groups)
        if isinstance(l, (ConvLayer, LinearLayer)):
            assert (e["scale_in"], e["zero_point_in"], e["scale_out"], e["zero_point_out"]) == (l.scale_in, l.z_in, l.scale_out, l.requant.z_out)
            assert e["weight_scale"] == l.weight_scale.tolist()
        if isinstance(l, AddLayer):
            assert [e[k] for k in ("scale_a", "zero_point_a", "scale_b", "zero_point_b", "scale_out", "zero_point_out")] == [
                l.scale_a, l.z_a, l.scale_b, l.z_b, l.scale_out, l.z_out]
        if isinstance(l, MaxPoolLayer):
            assert (tuple(e["kernel"]), tuple(e["stride"]), tuple(e["padding"])) == (l.kernel, l.stride, l.padding)
        if isinstance(l, AvgPoolLayer):
            assert (tuple(e["kernel"]), tuple(e["stride"]), e["global_pool"]) == (l.kernel, l.stride, l.global_pool)
    assert doc["layers"][0]["pads"] == [0, 1, 0, 1]  # the folded ZeroPad2d
    # the folder holds exactly the files listed, and each array is as network.json says
    assert sorted(p.name for p in out.iterdir()) == sorted([*doc["files"], "network.json"])
    for f, arrays in doc["arrays"].items():
        saved = _load(out, f)
        assert {k: {"dtype": v.dtype.name, "shape": list(v.shape)} for k, v in saved.items()} == arrays, f
    assert {k: v for k, v in doc.items() if k not in ("files", "arrays")} == geometry(net, model="every_kind")


def _documented_dtypes() -> dict[str, set[str]]:
    """Array name -> the dtypes docs/golden.md's export tables give it."""
    text = (ROOT / "docs/golden.md").read_text().split("## Export for your own testbench", 1)[1]
    names: dict[str, set[str]] = {}
    for row in re.findall(r"^\| (`[^|]+`) \| ([^|]+) \|", text, re.M):
        dtypes = set(re.findall(r"\b(u?int(?:8|16|32|64))\b", row[1]))
        for name in re.findall(r"`(\w+)`", row[0]):
            names.setdefault(name, set()).update(dtypes)
    return names


def test_every_exported_array_has_the_documented_name_and_dtype(case):
    net, x_q, out = case
    documented = _documented_dtypes()
    seen = set()
    for f in json.loads((out / "network.json").read_text())["files"]:
        for k, v in _load(out, f).items():
            assert k in documented, f"{f}: array {k!r} is not in docs/golden.md's tables"
            assert v.dtype.name in documented[k], f"{f}: {k} is {v.dtype.name}, documented {documented[k]}"
            assert v.dtype.kind in "iu"  # exact integers
            seen.add(k)
    # int32 bias mode stores its bias as int32, as documented
    net32 = extract(quantize(_EveryKind().eval(), torch.rand(4, 3, 16, 16)), torch.rand(2, 3, 16, 16), bias_mode="int32")
    assert layer_arrays(net32, "conv1", net32.quantize_input(torch.rand(1, 3, 16, 16)))["bias_mantissa"].dtype == np.int32
    assert "int32" in documented["bias_mantissa"] and "int16" in documented["bias_mantissa"]
    assert len(seen) > 20


# ---- the command line: python -m golden export, make golden-export ------------------------------

def _cli(capsys, *words: str) -> tuple[int, str, str]:
    status = run_cli("golden", main, ["export", *words])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _one_error_line(err: str, *parts: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("golden: error: "), err
    for p in parts:
        assert p in lines[0], (p, err)


def test_cli_exports_the_first_images_and_replaces_its_own_previous_export(tmp_path, capsys):
    out = tmp_path / "deep" / "mlp"  # parents made
    status, stdout, err = _cli(capsys, "--model", "mlp", "--out", str(out), "--images", "3")
    assert status == 0, err
    assert f"in {out}" in stdout and "the first 3 test image(s)" in stdout
    doc = json.loads((out / "network.json").read_text())
    assert doc["model"] == "mlp" and doc["images"] == {"source": "test", "first": 3}
    assert _load(out, "input.npz")["input"].shape == (3, 1, 8, 8)
    assert [e["kind"] for e in doc["layers"]] == ["flatten", "fc", "fc", "fc"]
    status, _, err = _cli(capsys, "--model", "mlp", "--out", str(out))  # over its own export
    assert status == 0, err
    assert _load(out, "input.npz")["input"].shape == (1, 1, 8, 8)
    assert sorted(p.name for p in tmp_path.joinpath("deep").iterdir()) == ["mlp"]  # no temporary folder left


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_bad_output_folders_are_one_line_and_status_2_and_touch_nothing(tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    foreign = tmp_path / "results"
    foreign.mkdir()
    (foreign / "run.log").write_text("keep me")
    (foreign / "network.json").write_text("{}")
    before = _tree(tmp_path)
    status, _, err = _cli(capsys, "--model", "mlp", "--out", str(a_file))
    assert status == 2
    _one_error_line(err, str(a_file), "is a file, not a folder")
    status, _, err = _cli(capsys, "--model", "mlp", "--out", str(foreign))
    assert status == 2
    _one_error_line(err, str(foreign), "holds files the export did not write", "network.json, run.log")
    status, _, err = _cli(capsys, "--model", "mlp", "--out", str(a_file / "sub"))
    assert status == 2
    _one_error_line(err, "cannot write", str(a_file))
    assert _tree(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "results"]


def test_a_previous_export_with_a_foreign_file_added_is_refused_and_kept(tmp_path, capsys):
    out = tmp_path / "exp"
    assert _cli(capsys, "--model", "mlp", "--out", str(out))[0] == 0
    (out / "my_wave.vcd").write_text("not the export's")
    before = _tree(out)
    status, _, err = _cli(capsys, "--model", "mlp", "--out", str(out), "--images", "2")
    assert status == 2
    _one_error_line(err, "holds files the export did not write (my_wave.vcd)")
    assert _tree(out) == before


def test_bad_model_and_image_counts_are_one_line_and_status_2(tmp_path, capsys):
    out = tmp_path / "x"
    status, _, err = _cli(capsys, "--model", "nosuch", "--out", str(out))
    assert status == 2
    _one_error_line(err, "unknown model 'nosuch'")
    status, _, err = _cli(capsys, "--model", "mlp", "--out", str(out), "--images", "0")
    assert status == 2
    _one_error_line(err, "--images 0")
    status, _, err = _cli(capsys, "--model", "mlp", "--out", str(out), "--images", "100000")
    assert status == 2
    _one_error_line(err, "model mlp: --images 100000, but it has 360 test images")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_the_previous_export_as_it_was(case, tmp_path, monkeypatch):
    net, x_q, _ = case
    out = export(net, x_q, tmp_path / "exp")
    before = _tree(out)
    calls = []

    def failing_savez(file, **arrays):
        calls.append(file)
        if len(calls) == 3:
            raise OSError(28, "No space left on device", str(file))
        return real_savez(file, **arrays)

    real_savez = np.savez
    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError, match="No space left"):
        export(net, x_q[:1], out)
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp"]  # the temporary folder removed


def test_make_golden_export_passes_model_out_and_images():
    cmd = subprocess.run(["make", "-n", "golden-export", "MODEL=vgg", "OUT=/tmp/x y", "IMAGES=4"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert cmd.returncode == 0, cmd.stderr
    line = [l for l in cmd.stdout.splitlines() if "-m golden export" in l]
    assert len(line) == 1 and "--model vgg" in line[0] and "--images 4" in line[0] and "--out '/tmp/x y'" in line[0], cmd.stdout
