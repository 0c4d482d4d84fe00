"""Memory images of a target (tb.target): golden's network for one test image, each layer the
target runs laid out in the target's own segments (Target.segments -> hexgen.build_target_image),
checked whole by hexgen's round trip against golden, cached by content under the target's folder.

The cache key is the model's (tb.images._image_key: its graph, every tensor golden reads, the
calibration and test data, the image index, golden's and hexgen's code) with the target's name,
word width and the bytes of every Python file in its folder (its layouts are code).
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

from tb.images import _entry_damage, _image_key, _NoKey, _test_set, store_entry
from tb.sim import SimError
from tb.target import Target


def images_folder(target: Target) -> Path:
    return target.folder / "build" / "images"


def prepare_target_image(target: Target, model: str, seed: int, widths: dict[str, Any] | None = None) -> tuple[Path, list[dict[str, Any]], int]:
    """(cache folder with image/ and layers.json, every layer of the network with whether the
    target runs it and why not, the test image's index), as the engine's tb.engine.images.prepare_image gives them."""
    warnings.filterwarnings("ignore")
    from golden.models import load_model
    from hexgen import HardwareConfig

    m = load_model(model)
    x = _test_set(m)
    if len(x) == 0:
        raise SimError(f"model {model}: no test images (its calibration batch is empty)")
    idx = seed % len(x)
    h = hashlib.sha256(f"target|{target.name}|{target.word_bits}|{json.dumps(widths or {}, sort_keys=True)}".encode())
    try:
        h.update(_image_key(m, idx, HardwareConfig(word_bits=target.word_bits)).encode())
    except _NoKey:
        h.update(os.urandom(16))  # not traceable: a fresh image every run
    h.update(Path(__file__).read_bytes())  # how the image is made
    for f in sorted(target.folder.rglob("*.py")):
        if "build" not in f.relative_to(target.folder).parts:
            h.update(str(f.relative_to(target.folder)).encode() + f.read_bytes())
    key = h.hexdigest()
    root = images_folder(target)
    cdir = root / key[:24]
    if cdir.is_dir():
        damage = _entry_damage(cdir, needs=("layers.json", "net.pkl"))
        if damage is None:
            return cdir, list(json.loads((cdir / "layers.json").read_text())["layers"]), idx
        print(f"sim: the cached memory image {cdir} is damaged ({damage}); making it again", flush=True)
    layers = store_entry(cdir, lambda tmp: _write(target, m, idx, tmp, key, widths or {}))
    return cdir, layers, idx


def _write(target: Target, m: Any, idx: int, out: Path, key: str, widths: dict[str, Any]) -> list[dict[str, Any]]:
    from golden import extract
    from golden.qat import quantized_model
    from hexgen import TargetLayoutError, build_target_image, check_image, write_image
    from hexgen.plan import is_compute, is_vector

    net = extract(quantized_model(m, **widths), m.calibration[:2])
    x_q = net.quantize_input(_test_set(m)[idx : idx + 1])
    layouts: dict[str, Any] = {}
    unsupported: dict[str, str] = {}
    assert target.segments is not None, f"target {target.name} has a flow of its own and no segments()"
    for l in net.layers:
        if not (is_compute(l) or is_vector(l)):
            continue
        try:
            segs = target.segments(net, l)
        except Exception as exc:  # the target's own code: its error names the layer
            raise SimError(f"target {target.name}: its segments() failed on layer {l.name}: {type(exc).__name__}: {exc}") from None
        if isinstance(segs, str):
            unsupported[l.name] = segs
        else:
            layouts[l.name] = segs
    if layouts:
        try:
            image = build_target_image(net, x_q, layouts, target=target.name, word_bits=target.word_bits, model=m.name)
        except TargetLayoutError as exc:
            raise SimError(f"target {target.name}: its layouts do not build ({len(exc.problems)} problem(s)): {exc.problems[0]}") from None
        write_image(image, out / "image")
        problems = check_image(out / "image")  # the round trip against golden: the bench reads without it
        if problems:
            raise SimError(f"target {target.name}: the image does not check: {problems[0]}")
    layers = [
        {"name": l.name, "kind": l.kind, "in_shape": list(l.in_shape), "out_shape": list(l.out_shape), "macs": l.macs,
         "rtl": l.name in layouts, "compute": is_compute(l) or is_vector(l), "tiling": "one pass" if l.name in layouts else "",
         "unsupported": unsupported.get(l.name, "" if l.name in layouts else "golden only")}
        for l in net.layers
    ]
    (out / "net.pkl").write_bytes(pickle.dumps(net))  # the diagnosis reads golden's network (tb.failure)
    (out / "layers.json").write_text(json.dumps({"key": key, "model": m.name, "target": target.name, "image_index": idx,
                                                 "layers": layers}, indent=1))
    return layers
