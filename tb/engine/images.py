"""Our engine's memory images for `make sim`: golden quantizes the model, hexgen's plan lays out
the conv/fc, add and pool layers the engine can run (for the hardware description) for one test
image, the folder is checked whole once, and the cache (tb.images) keeps it in
<cache>/images/<key>/{image/, layers.json, net.pkl, chain.npz} (tb.images.cache_root); the key is the model's content
(tb.images._image_key) and this file's code.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

from tb import images
from tb.images import BY_LAYOUT, _entry_damage, _image_key, _NoKey, _test_set, store_entry
from tb.sim import SimError

#: CHAIN=1: the test images the chained run feeds forward at most
CHAIN_IMAGES = 32


def prepare_image(model: str, seed: int, hw: str | None = None, widths: dict[str, Any] | None = None) -> tuple[Path, list[dict[str, Any]], int]:
    """Quantize, run golden, write the memory image of test image number `seed` (or reuse it).
    widths: golden.qat.quantized_model's w_bits, a_bits, keep_ends and qat (None: 8/8 post-training), in the image's key.

    Returns the cache folder (image/ inside), every layer of the network (name, kind, shapes, MACs,
    whether the RTL runs it and why not) and the index of the test image used."""
    warnings.filterwarnings("ignore")
    from golden.models import load_model
    from hexgen.hw import load_hw

    cfg = load_hw(hw)
    m = load_model(model)
    x = _test_set(m)
    if len(x) == 0:
        raise SimError(f"model {model}: no test images (its calibration batch is empty)")
    idx = seed % len(x)
    try:
        key: str | None = hashlib.sha256((_image_key(m, idx, cfg) + Path(__file__).read_text()
                                          + json.dumps(widths or {}, sort_keys=True)).encode()).hexdigest()
    except _NoKey:
        key = None
    if key is not None:
        cdir = images.IMAGES / key[:24]
        if cdir.is_dir():
            damage = _entry_damage(cdir)
            if damage is None:
                cached = json.loads((cdir / "layers.json").read_text())
                if cached.get("key") == key:
                    return cdir, list(cached["layers"]), idx
                damage = "its layers.json names another key"
            print(f"sim: the cached memory image {cdir} is damaged ({damage}); making it again", flush=True)
    else:
        cdir = images.IMAGES / f"untraceable-{os.getpid()}"
    _say_what_will_not_fit(m, cfg, widths or {})
    layers = store_entry(cdir, lambda tmp: _write_image(m, idx, cfg, tmp, key or "", widths or {}))
    return cdir, layers, idx



def _not_run(layer: Any, cfg: Any, golden_only: str) -> str:
    """Why the engine does not run a layer that is not one of its units': a concat its inputs'
    placement makes (hexgen.concat.concat_placement), a transformer's data movement (no arithmetic),
    or golden only."""
    from golden.layers import ConcatLayer
    from hexgen.concat import concat_placement
    from hexgen.tokens import not_laid_out

    moved = not_laid_out(layer)
    if moved is not None:
        return f"golden only: {moved}"
    if not isinstance(layer, ConcatLayer):
        return golden_only
    where = concat_placement(layer, cfg)
    if isinstance(where, str):
        return f"golden only: {where}"
    return (f"{BY_LAYOUT}: its inputs ({', '.join(layer.inputs)}) are written at words {', '.join(f'{w:,}' for w in where)} "
            "of its output, read as one tensor")


def _say_what_will_not_fit(m: Any, cfg: Any, widths: dict[str, Any]) -> None:
    """Before quantization (the slow part for a large network): the layers the engine will refuse,
    printed, and a layer whose memory window the bench cannot hold, refused (hexgen.fit)."""
    from hexgen.fit import fit_report
    from tb.engine.accel_build import MAX_ADDR_W

    lines = fit_report(m.float_model, m.calibration, cfg, w_bits=int(widths.get("w_bits") or 8),
                       memory_words=1 << MAX_ADDR_W, prog="sim")
    for line in lines:
        print(line, flush=True)
    too_big = [l for l in lines if "words of memory" in l]
    if too_big:
        raise SimError(too_big[0].removeprefix("sim: fit: ") + " (its segments, loaded alone; nothing was quantized)")


def _write_image(m: Any, idx: int, cfg: Any, out: Path, key: str, widths: dict[str, Any]) -> list[dict[str, Any]]:
    import pickle

    import numpy as np

    from golden import extract
    from golden.qat import quantized_model
    from hexgen import HexgenError, build_image, check_image, plan_layer, write_image
    from golden.layers import ConcatLayer
    from hexgen.concat import by_layout
    from hexgen.plan import engine_runs
    from hexgen.rules import descriptor_registers, descriptor_runs, tap_rows

    qm = quantized_model(m, **widths)
    net = extract(qm, m.calibration[:2])
    x = _test_set(m)
    x_q = net.quantize_input(x[idx : idx + 1])
    unsupported: dict[str, str] = {}
    tiling: dict[str, str] = {}  # how a layer the engine runs is cut into passes
    # conv / fc, add, pooling and upsample, and the concats whose inputs are not all placed by layout
    engine = [l for l in net.layers if engine_runs(l) or (isinstance(l, ConcatLayer) and not all(by_layout(l, cfg)))]
    for l in engine:  # hexgen refuses what the accelerator's layouts cannot hold
        try:
            plan = plan_layer(l, cfg)
        except HexgenError as exc:
            unsupported[l.name] = str(exc)
            continue
        if isinstance(l, ConcatLayer):
            ran = [p["input"] for p in plan.descriptor["parts"] if p["run"]]
            placed = [p["input"] for p in plan.descriptor["parts"] if not p["run"]]
            tiling[l.name] = (f"{len(ran)} run(s) of the vector unit put {', '.join(ran)} in place"
                              + (f"; {', '.join(placed)} placed by layout" if placed else ""))
            continue
        bands, groups = 1 + max(p.band for p in plan.passes), 1 + max(p.group for p in plan.passes)
        runs = descriptor_runs(plan.descriptor)  # a matmul: one linear run per head, alike (hexgen.matmul)
        d = runs[0]
        group_text = f" x {groups} groups of <= {d['group_k_tiles']} k_tiles" if groups > 1 else ""
        taps = " (its tap rows only, {} apart)".format(d["dilation"][0]) if tap_rows(descriptor_registers(d)) else ""
        if d["kind"] in ("softmax", "layernorm"):  # the row unit: blocks of tokens
            tiling[l.name] = (f"{bands} block(s) of <= {d['band_rows'] * d['in_shape'][1] if len(d['in_shape']) == 3 else d['band_rows']}"
                              " tokens" + (f" per head, {len(runs)} heads" if len(runs) > 1 else ""))
            continue
        tiling[l.name] = (("one pass" if bands == groups == 1 else
                           f"{len(plan.passes)} passes: {bands} band(s) of <= {d['band_rows']} output rows{taps}{group_text}")
                          + (f" per head, {len(runs)} heads" if len(runs) > 1 else ""))
    supported = [l.name for l in engine if l.name not in unsupported]
    if supported:
        write_image(build_image(net, x_q, cfg, model=m.name, layers=supported), out / "image")
        problems = check_image(out / "image")  # whole, golden re-run included: the bench reads without it
        if problems:
            raise SimError(f"hexgen wrote an image that does not check: {problems[0]}")
    # for CHAIN=1: the golden network and a sample of test images (with labels when the model has them)
    n = min(CHAIN_IMAGES, len(x))
    order = [(idx + i) % len(x) for i in range(n)]
    xs = net.quantize_input(x[order])
    labels = m.y_test[order].numpy() if m.y_test is not None else np.full(n, -1)
    np.savez(out / "chain.npz", x_q=xs, labels=labels, golden_pred=net.predict(xs))
    (out / "net.pkl").write_bytes(pickle.dumps(net))
    compute = set(supported)
    golden_only = ("golden only: the accelerator runs conv, fc, add, pooling, upsample and concat layers, and a "
                   "transformer's linear, matmul, add_const, GELU, softmax and LayerNorm")
    layers = [
        {"name": l.name, "kind": l.kind, "in_shape": list(l.in_shape), "out_shape": list(l.out_shape),
         "macs": l.macs, "rtl": l.name in compute, "compute": l in engine, "tiling": tiling.get(l.name, ""),
         "unsupported": unsupported.get(l.name, "") if l in engine else _not_run(l, cfg, golden_only)}
        for l in net.layers
    ]
    (out / "layers.json").write_text(json.dumps({"key": key, "model": m.name, "image_index": idx, "layers": layers}, indent=1))
    return layers
