"""hexgen.read_image(layers=...): a simulation of a few layers reads only their segments (issue 29:
each job of a split run read the whole 53 MB image of mobilenetv2_224, 5 s a simulator process).
It must not read less safely: every file, the DRAM image the simulator loads and the other layers'
segments included, is still checked against the checksum hexgen wrote."""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from hexgen import HardwareConfig, HexgenError, build_image, read_image, write_image


@pytest.fixture(scope="module")
def written(shipped, tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    from golden import extract

    q = shipped("mobilenetv2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = extract(q.qmodel, q.calibration[:2])
    folder = tmp_path_factory.mktemp("img") / "mobilenetv2"
    write_image(build_image(net, net.quantize_input(q.x_test[:1]), HardwareConfig(), model="mobilenetv2"), folder)
    return folder


def _copy(written: Path, tmp_path: Path) -> Path:
    out = tmp_path / "image"
    shutil.copytree(written, out)
    return out


def test_a_partial_read_gives_those_layers_arrays_equal_to_the_whole_read(written: Path):
    whole = read_image(written, run_golden=False)
    part = read_image(written, run_golden=False, layers=["conv3", "conv4"])
    assert {l for l, _ in part.arrays} == {"conv3", "conv4"}
    for key, arr in part.arrays.items():
        assert np.array_equal(arr, whole[key]), key
    assert part.memory_map == whole.memory_map and part.config == whole.config


def test_a_changed_dram_image_fails_a_partial_read(written: Path, tmp_path: Path):
    img = _copy(written, tmp_path)
    dram = img / "dram.memh"
    lines = dram.read_text().splitlines(keepends=True)
    i = next(i for i, t in enumerate(lines) if t.strip() and not t.startswith("//") and not t.startswith("@"))
    lines[i] = ("1" if lines[i][0] != "1" else "2") + lines[i][1:]  # a word the simulator would load
    dram.write_text("".join(lines))
    with pytest.raises(HexgenError, match=r"dram\.memh: changed since hexgen wrote it"):
        read_image(img, run_golden=False, layers=["conv3"])


def test_another_layers_changed_segment_fails_a_partial_read_too(written: Path, tmp_path: Path):
    img = _copy(written, tmp_path)
    seg = next(p for p in img.iterdir() if p.name.startswith("fc1") and p.suffix == ".memh")
    seg.write_text(seg.read_text() + "\n")
    with pytest.raises(HexgenError, match=f"{seg.name}: changed since hexgen wrote it"):
        read_image(img, run_golden=False, layers=["conv3"])


def test_a_layer_the_map_does_not_hold_is_named(written: Path):
    with pytest.raises(HexgenError, match=r"no layer conv99 in layers\[\]"):
        read_image(written, run_golden=False, layers=["conv3", "conv99"])
