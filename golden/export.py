"""Golden's integers for a testbench of your own (docs/golden.md, "Export for your own testbench").

    from golden.export import export, layer_arrays, network_arrays, geometry
    arrays = layer_arrays(net, "conv3", x_q)     # {"input": uint8, "output": uint8, "acc": int32, ...}
    export(net, x_q, "out/")                     # out/network.json, out/input.npz, out/<layer>.npz

Everything here is what golden computes (Network.run with its accumulators, the layer records'
fields, AvgPoolLayer.window_sums), converted to fixed integer dtypes with a range check: no
arithmetic of its own. Arrays are NCHW (PyTorch's order) for 4-D activations, batch first.
Dtypes: uint8 activations, int8 weights, int16 bias mantissas (int32 in bias mode int32), int32
for everything else (accumulators, bias terms and shifts, M0, n, zero points, clamp bounds,
geometry): a zero point as a uint8 would wrap when a numpy user subtracts it.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from golden.errors import InputError, RangeError
from golden.layers import (
    INPUT,
    LOGICAL_KINDS,
    AddLayer,
    AvgPoolLayer,
    ConcatLayer,
    ConvLayer,
    FlattenLayer,
    Layer,
    LinearLayer,
    MaxPoolLayer,
    Network,
    UpsampleLayer,
)

#: network.json's "format" and "version": a folder whose network.json carries this format is an export.
FORMAT = "int8sim-golden-export"
VERSION = 1
JSON_NAME = "network.json"
#: the file of the network input (no layer is named "input": it is golden.layers.INPUT)
INPUT_FILE = f"{INPUT}.npz"

Arrays = dict[str, NDArray[Any]]


def _exact(a: Any, dtype: Any, what: str) -> NDArray[Any]:
    """`a` as `dtype`, refusing (RangeError) any value the dtype does not hold."""
    arr = np.asarray(a)
    info = np.iinfo(dtype)
    if arr.size and (int(arr.min()) < info.min or int(arr.max()) > info.max):
        raise RangeError(f"{what}: values {int(arr.min())}..{int(arr.max())} do not fit {np.dtype(dtype).name}")
    return np.array(arr, dtype=dtype, order="C")  # a copy; 0-d stays 0-d


def _i32(a: Any, what: str) -> NDArray[np.int32]:
    return _exact(a, np.int32, what)


def _params(layer: Layer, bias_mode: str) -> Arrays:
    """The integer fields of one layer record, by export name (docs/golden.md lists them)."""
    where = f"layer {layer.name}"
    p: Arrays = {}
    if isinstance(layer, (ConvLayer, LinearLayer)):
        r, b = layer.requant, layer.bias
        p["weight"] = _exact(layer.weight, np.int8, f"{where} weight")
        p["bias_mantissa"] = _exact(b.mantissa, np.int32 if bias_mode == "int32" else np.int16, f"{where} bias_mantissa")
        p["bias_shift"] = _i32(b.shift, f"{where} bias_shift")
        p["bias_term"] = _i32(b.term, f"{where} bias_term")
        p["m0"] = _i32(r.m0, f"{where} m0")
        p["n"] = _i32(r.n, f"{where} n")
        p["z_in"] = _i32(layer.z_in, f"{where} z_in")
        p["z_out"] = _i32(r.z_out, f"{where} z_out")
        p["lo"] = _i32(r.lo, f"{where} lo")
        p["hi"] = _i32(r.hi, f"{where} hi")
        if isinstance(layer, ConvLayer):
            p["stride"] = _i32(layer.stride, f"{where} stride")
            p["pads"] = _i32(layer.pads, f"{where} pads")
            p["groups"] = _i32(layer.groups, f"{where} groups")
            p["dilation"] = _i32(layer.dilation, f"{where} dilation")
    elif isinstance(layer, AddLayer):
        for f in ("z_a", "z_b", "a0", "b0", "n", "z_out", "lo", "hi"):
            p[f] = _i32(getattr(layer, f), f"{where} {f}")
    elif isinstance(layer, MaxPoolLayer):
        p["kernel"] = _i32(layer.kernel, f"{where} kernel")
        p["stride"] = _i32(layer.stride, f"{where} stride")
        p["padding"] = _i32(layer.padding, f"{where} padding")
    elif isinstance(layer, AvgPoolLayer):
        p["kernel"] = _i32(layer.kernel, f"{where} kernel")
        p["stride"] = _i32(layer.stride, f"{where} stride")
    elif isinstance(layer, UpsampleLayer):
        p["scale"] = _i32(layer.scale, f"{where} scale")
    elif isinstance(layer, ConcatLayer):
        for f, v in (("channels", layer.channels), ("offsets", layer.offsets), ("copy", layer.copies), ("z_in", layer.z_ins),
                     ("m0", layer.m0s), ("n", layer.ns), ("z_out", layer.z_out), ("lo", layer.lo), ("hi", layer.hi)):
            p[f] = _i32(v, f"{where} {f}")
    elif layer.kind in LOGICAL_KINDS:
        p.update(_token_params(layer))
    return p


def _input_keys(layer: Layer) -> tuple[str, ...]:
    """The npz names of a layer's inputs, in the order of layer.inputs."""
    if isinstance(layer, ConcatLayer) or layer.kind == "concat_tokens":  # an input may appear twice: named by position
        return tuple(f"input_{i}" for i in range(len(layer.inputs)))
    return ("input_a", "input_b") if isinstance(layer, AddLayer) or layer.kind == "matmul" else ("input",)


#: The fields every record has (network.json's entries carry them).
_COMMON = frozenset({"name", "inputs", "in_shape", "out_shape", "module", "source"})


def _token_params(layer: Layer) -> Arrays:
    """The integer fields of a transformer record (golden.tokens, golden.transformer: LOGICAL_KINDS),
    each by its field name: int32 where it fits, else int64 (a LayerNorm's radicand terms); uint8
    constants (concat_tokens' `constants_<i>`, add_const's `constant`) stay uint8."""
    import dataclasses

    where = f"layer {layer.name}"
    p: Arrays = {}

    def put(key: str, v: Any) -> None:
        arr = np.asarray(v)
        if arr.dtype == np.uint8:
            p[key] = np.array(arr, order="C")
        elif arr.size == 0 or (int(arr.min()) >= -2**31 and int(arr.max()) < 2**31):
            p[key] = _i32(arr, f"{where} {key}")
        else:
            p[key] = _exact(arr, np.int64, f"{where} {key}")

    for f in dataclasses.fields(layer):
        v = getattr(layer, f.name)
        if f.name in _COMMON:
            continue
        if isinstance(v, (bool, int, np.integer)):
            put(f.name, int(v))
        elif isinstance(v, np.ndarray) and v.dtype.kind in "iub":
            put(f.name, v)
        elif isinstance(v, tuple) and v and all(isinstance(x, np.ndarray) for x in v):
            for i, x in enumerate(v):
                put(f"{f.name}_{i}", x)
        elif isinstance(v, tuple) and all(isinstance(x, (bool, int, np.integer)) for x in v):
            put(f.name, np.array([int(x) for x in v], np.int64))
    return p


def _token_geometry(layer: Layer) -> dict[str, Any]:
    """network.json's extra entries of a transformer record: its float fields (scales, eps, ...)."""
    import dataclasses

    g: dict[str, Any] = {}
    for f in dataclasses.fields(layer):
        v = getattr(layer, f.name)
        if isinstance(v, float):
            g[f.name] = float(v)
        elif isinstance(v, tuple) and v and all(isinstance(x, float) for x in v):
            g[f.name] = [float(x) for x in v]
    return g


def _collect(net: Network, x_q: NDArray[np.uint8], until: str | None) -> dict[str, Arrays]:
    x_q = net.check_input(x_q)
    res = net.run(x_q, accumulators=True, until=until)
    acts: dict[str, NDArray[np.uint8]] = {INPUT: x_q, **res.outputs}
    out: dict[str, Arrays] = {INPUT: {"input": np.ascontiguousarray(x_q),
                                      "zero_point": _i32(net.input_quant.zero_point, "input zero_point")}}
    for layer in net.layers:
        a: Arrays = {}
        for key, src in zip(_input_keys(layer), layer.inputs):
            a[key] = np.ascontiguousarray(acts[src])
        a["output"] = np.ascontiguousarray(acts[layer.name])
        if layer.name in res.accumulators:
            a["acc"] = _i32(res.accumulators[layer.name], f"layer {layer.name} acc")
        if isinstance(layer, AvgPoolLayer):
            sums, count = layer.window_sums([acts[layer.inputs[0]]])
            a["sums"] = _i32(sums, f"layer {layer.name} sums")
            a["count"] = _i32(count, f"layer {layer.name} count")
        a.update(_params(layer, net.bias_mode))
        out[layer.name] = a
        if layer.name == until:
            break
    return out


def network_arrays(net: Network, x_q: NDArray[np.uint8]) -> dict[str, Arrays]:
    """Every layer's arrays (layer_arrays) and the network input's ("input": {"input", "zero_point"}),
    from one run of the network. x_q: uint8 codes [N, *input shape] (Network.quantize_input)."""
    return _collect(net, x_q, None)


def layer_arrays(net: Network, layer_name: str, x_q: NDArray[np.uint8]) -> Arrays:
    """One layer's integers on the network input x_q (uint8 [N, *input shape]): its input(s) and
    expected output (uint8), accumulators where it has them (int32), weights, bias codes, M0, n,
    zero points, clamp bounds and geometry. Names and dtypes: docs/golden.md, "Export for your own
    testbench". Runs the network up to that layer; for every layer at once use network_arrays."""
    net[layer_name]  # KeyError naming the layers
    return _collect(net, x_q, layer_name)[layer_name]


def _floats(a: Any) -> list[float]:
    return [float(v) for v in np.asarray(a, np.float64).ravel()]


def layer_geometry(layer: Layer) -> dict[str, Any]:
    """One layer's entry in network.json: kind, shapes, inputs by name, geometry and float scales."""
    g: dict[str, Any] = {
        "name": layer.name, "kind": layer.kind, "file": f"{layer.name}.npz", "inputs": list(layer.inputs),
        "input_arrays": list(_input_keys(layer)), "in_shape": list(layer.in_shape),
        "out_shape": list(layer.out_shape), "module": layer.module, "macs": layer.macs,
    }
    if isinstance(layer, ConvLayer):
        g.update(kernel=list(layer.kernel), stride=list(layer.stride), pads=list(layer.pads), groups=layer.groups,
                 dilation=list(layer.dilation))
    if isinstance(layer, (ConvLayer, LinearLayer)):
        g.update(scale_in=float(layer.scale_in), zero_point_in=layer.z_in, scale_out=float(layer.scale_out),
                 zero_point_out=layer.requant.z_out, weight_scale=_floats(layer.weight_scale))
    elif isinstance(layer, AddLayer):
        g.update(scale_a=float(layer.scale_a), zero_point_a=layer.z_a, scale_b=float(layer.scale_b),
                 zero_point_b=layer.z_b, scale_out=float(layer.scale_out), zero_point_out=layer.z_out)
    elif isinstance(layer, MaxPoolLayer):
        g.update(kernel=list(layer.kernel), stride=list(layer.stride), padding=list(layer.padding))
    elif isinstance(layer, AvgPoolLayer):
        g.update(kernel=list(layer.kernel), stride=list(layer.stride), global_pool=layer.global_pool)
    elif isinstance(layer, UpsampleLayer):
        g.update(scale=list(layer.scale))
    elif isinstance(layer, ConcatLayer):
        g.update(channels=list(layer.channels), offsets=list(layer.offsets), copy=list(layer.copies),
                 scale_in=list(layer.scale_ins), zero_point_in=list(layer.z_ins), scale_out=float(layer.scale_out),
                 zero_point_out=layer.z_out)
    elif layer.kind in LOGICAL_KINDS:
        g.update(_token_geometry(layer))
    elif not isinstance(layer, FlattenLayer):  # pragma: no cover - every record kind is listed above
        raise InputError(f"layer {layer.name}: kind {layer.kind} has no export")
    return g


def geometry(net: Network, *, model: str | None = None, images: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """network.json's content: the network's layer order, kinds, shapes, inputs, geometry and scales."""
    iq = net.input_quant
    return {
        "format": FORMAT, "version": VERSION, "model": model, "images": dict(images) if images else None,
        "bias_mode": net.bias_mode, "m0_bits": net.m0_bits, "layout": "NCHW",
        "input": {"file": INPUT_FILE, "shape": list(iq.shape), "scale": float(iq.scale), "zero_point": iq.zero_point},
        "output": {"layer": net.output_name, "scale": float(net.output_scale), "zero_point": net.output_zero_point},
        "outputs": [{"layer": name, "scale": float(s), "zero_point": z}
                    for name, (s, z) in ((name, net.output_qparams(name)) for name in net.output_names)],
        "layers": [layer_geometry(l) for l in net.layers],
    }


# ---- the one place that touches files ------------------------------------------------------------
def _own_files(folder: Path) -> set[str] | None:
    """The files a previous export wrote in `folder` (from its network.json), or None when the
    folder holds no export of ours."""
    try:
        doc = json.loads((folder / JSON_NAME).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("files"), list):
        return None
    return {str(f) for f in doc["files"]} | {JSON_NAME}


def check_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    """`out_dir` if an export may write it: a new path, an empty folder, or a previous export (every
    file in it one the export wrote). Otherwise InputError naming the path and why."""
    out = Path(out_dir)
    if not str(out_dir):
        raise InputError("export: the output folder is empty (give OUT=dir)")
    if out.is_symlink():
        raise InputError(f"export: {out} is a symbolic link; give a new or empty folder")
    if out.exists() and not out.is_dir():
        raise InputError(f"export: {out} is a file, not a folder; give a new or empty folder")
    ancestor = out.parent  # the temporary folder is made beside out_dir, parents created
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"cannot write {out}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {out}: no permission to write in {ancestor}")
    if out.is_dir():
        present = {p.name for p in out.iterdir()}
        own = _own_files(out)
        foreign = sorted(present - own) if own is not None else sorted(present)
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise InputError(
                f"export: {out} holds files the export did not write ({shown}); give a new or empty folder"
            )
    return out


def export(
    net: Network, x_q: NDArray[np.uint8], out_dir: str | os.PathLike[str], *,
    model: str | None = None, images: Mapping[str, Any] | None = None,
) -> Path:
    """Write network.json, input.npz and one <layer>.npz per layer (network_arrays) into out_dir.

    out_dir must be new, empty or a previous export (check_out_dir); the files are written into a
    temporary folder beside it, which then takes its place, so a failed export leaves out_dir as it
    was, and nothing the export did not write is ever deleted. Returns out_dir.
    """
    out = check_out_dir(out_dir)
    arrays = network_arrays(net, x_q)
    doc = geometry(net, model=model, images=images)
    files = [INPUT_FILE] + [f"{name}.npz" for name in net.names]
    doc["files"] = files
    doc["arrays"] = {
        f: {k: {"dtype": v.dtype.name, "shape": list(v.shape)} for k, v in arrays[name].items()}
        for f, name in zip(files, [INPUT, *net.names])
    }
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # a folder as mkdir makes it (mkdtemp's is private)
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror or exc}") from exc
    try:
        for f, name in zip(files, [INPUT, *net.names]):
            np.savez(tmp / f, **arrays[name])  # type: ignore[arg-type]
        (tmp / JSON_NAME).write_text(_json_text(doc))
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # our own temporary folder, all of it ours
        raise
    return out


def _json_text(doc: Mapping[str, Any]) -> str:
    """network.json: one top-level field a line, and one line per layer and per file's arrays."""
    lines = []
    for key, value in doc.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            inner = ",\n".join(f"  {json.dumps(v)}" for v in value)
            lines.append(f" {json.dumps(key)}: [\n{inner}\n ]")
        elif key == "arrays":
            inner = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items())
            lines.append(f" {json.dumps(key)}: {{\n{inner}\n }}")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _replace(tmp: Path, out: Path) -> None:
    """Move the finished folder `tmp` to `out`. A previous export there is moved aside first and
    then only its own files are removed (its network.json lists them)."""
    if not out.exists():
        os.rename(tmp, out)
        return
    check_out_dir(out)  # again, just before replacing: nothing foreign appeared meanwhile
    if not any(out.iterdir()):
        os.rename(tmp, out)  # an empty folder is replaced by the rename
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.rename(out, old)  # onto the empty folder just made
    os.rename(tmp, out)
    for name in _own_files(old) or set():
        (old / name).unlink(missing_ok=True)
    try:
        old.rmdir()
    except OSError:  # something appeared in it meanwhile: it stays, with what it holds
        pass
