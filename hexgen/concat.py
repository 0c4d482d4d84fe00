"""A concatenation along channels on the engine (issue 26 item 2): which inputs need no copy and
which the vector unit puts in place, one run each (KIND concat, rtl/vec_unit.sv).

In the activation layout ([c_tile][y][x][c_lane], tile R = array_rows) input i of a concat fills
output channels offsets[i] ..: its tiles start at word (offsets[i] // R) x H x W of the output,
L = offsets[i] % R lanes into the first. An input is placed **by layout** (its producer writes its
output there, the consumer reads one tensor; nothing runs) when it is a copy of its codes (quantized
as the output: golden.observe.share_cat_observers) and starts a tile (L = 0), at its first
appearance among the concat's inputs. Every other input needs a **run**: it is read from its own
tensor and written from its first output tile on, moved L lanes up behind the L lanes kept from
the word already there (the inputs before it, placed or run already), requantized when its
quantization is not the output's (an add of one operand, golden.arith.requantize_codes).

The layer's segments: `input` holds the run inputs one after another, each padded to whole tiles
with its zero point (so input k's tiles start at word in_word = (its first channel there // R) x H x
W); `expected` golden's output; `output` the region the runs write, pre-filled with ~expected
except the channels of the inputs placed by layout, which hold their codes (what their producers
wrote). The descriptor lists every input (`parts`) and each run's registers (`runs`), in order:
a run reads the lanes the ones before it wrote.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from golden.layers import ConcatLayer
from hexgen.config import HardwareConfig
from hexgen.errors import LayoutError


def _plane(layer: ConcatLayer) -> int:
    return int(layer.out_shape[1]) * int(layer.out_shape[2]) if len(layer.out_shape) == 3 else 1


def by_layout(layer: ConcatLayer, cfg: HardwareConfig) -> list[bool]:
    """Per input: placed by its producer (True) or put in place by a run of the vector unit."""
    r, seen, out = cfg.channel_tile, set(), []
    for name, copy, offset in zip(layer.inputs, layer.copies, layer.offsets):
        out.append(bool(copy and offset % r == 0 and name not in seen))
        seen.add(name)
    return out


def concat_placement(layer: ConcatLayer, cfg: HardwareConfig) -> list[int] | str:
    """A concat without a copy: the word offset of each input in the concatenated tensor, where its
    producer writes its output so that the consumer reads the inputs as one tensor (input i's tiles
    are then words offsets[i] / R x H x W on of the output's, the last input's padding lanes the
    output's, which hold the same zero point); or, when some input needs a run, which and why."""
    placed = by_layout(layer, cfg)
    if all(placed):
        return [o // cfg.channel_tile * _plane(layer) for o in layer.offsets]
    why = []
    for name, copy, offset, ok in zip(layer.inputs, layer.copies, layer.offsets, placed):
        if not ok:
            why.append(f"{name} ({'requantized' if not copy else f'at channel {offset}, inside a tile of {cfg.channel_tile}' if offset % cfg.channel_tile else 'a second time'})")
    return "input(s) " + ", ".join(why) + " put in place by the vector unit"


def _tiles(c: int, r: int) -> int:
    return -(-c // r)


def concat_descriptor(layer: ConcatLayer, cfg: HardwareConfig) -> dict[str, Any]:
    """The concat's descriptor (JSON-ready): its parts and the registers of each run (word offsets
    in_word into the input segment and out_word into the output region); LayoutError when every
    input is placed by layout (nothing runs)."""
    if len(layer.out_shape) != 3:
        raise LayoutError(f"layer {layer.name}: a concat of {len(layer.out_shape)}-D tensors; the engine runs [C, H, W] only")
    r, (_, h, w) = cfg.channel_tile, (int(v) for v in layer.out_shape)
    plane = h * w
    placed = by_layout(layer, cfg)
    if all(placed):
        raise LayoutError(f"layer {layer.name}: every input is placed by layout; nothing runs")
    parts, runs, in_tiles = [], [], 0
    for name, c, z, m0, n, offset, ok in zip(layer.inputs, layer.channels, layer.z_ins, layer.m0s, layer.ns,
                                              layer.offsets, placed):
        parts.append({"input": name, "channels": int(c), "z_in": int(z), "m0": int(m0), "n": int(n), "run": not ok})
        if ok:
            continue
        lanes = offset % r
        runs.append({
            "kind": "concat", "in_shape": [int(c), h, w], "out_shape": [lanes + int(c), h, w],
            "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0], "padding_end": [0, 0], "groups": 1, "dilation": [1, 1],
            "band_rows": h, "group_k_tiles": _tiles(lanes + int(c), r),
            # a copy has M0 0 (the unit passes its codes through); its shift register still holds 1..63
            "z_in": int(z), "a0": int(m0), "shift": max(int(n), 1), "z_out": int(layer.z_out), "lo": int(layer.lo),
            "hi": int(layer.hi), "in_word": in_tiles * plane, "out_word": offset // r * plane,
        })
        in_tiles += _tiles(int(c), r)
    return {"kind": "concat", "in_shape": [in_tiles * r, h, w], "out_shape": [int(v) for v in layer.out_shape],
            "z_out": int(layer.z_out), "lo": int(layer.lo), "hi": int(layer.hi), "parts": parts, "runs": runs}


def concat_arrays(layer: ConcatLayer, d: dict[str, Any], xs: list[NDArray[np.uint8]], y: NDArray[np.uint8],
                  r: int) -> dict[str, NDArray[np.int64]]:
    """The logical arrays of the segments (module docstring), from the inputs xs and golden's y [N, C, H, W]."""
    y64 = np.asarray(y, np.int64)
    run_inputs = []
    output = 255 - y64
    for part, x, offset in zip(d["parts"], xs, layer.offsets):
        x64 = np.asarray(x, np.int64)
        if part["run"]:
            padded = np.full((x64.shape[0], _tiles(part["channels"], r) * r, *x64.shape[2:]), part["z_in"], np.int64)
            padded[:, : part["channels"]] = x64
            run_inputs.append(padded)
        else:  # what its producer wrote there
            output[:, offset : offset + part["channels"]] = x64
    return {"input": np.concatenate(run_inputs, axis=1), "expected": y64, "output": output}


def split_inputs(d: dict[str, Any], x_in: NDArray[np.int64], output: NDArray[np.int64], r: int) -> list[NDArray[np.int64]]:
    """The concat's inputs back from its input segment and the placed channels of its output region
    (the inverse of concat_arrays, for hexgen's check)."""
    xs, at, offset = [], 0, 0
    for part in d["parts"]:
        c = part["channels"]
        if part["run"]:
            xs.append(x_in[:, at : at + c])
            at += _tiles(c, r) * r
        else:
            xs.append(output[:, offset : offset + c])
        offset += c
    return xs


def plan_concat(layer: ConcatLayer, cfg: HardwareConfig, images: int, check_fit: bool) -> Any:
    """The concat's LayerPlan: its segments' layouts and descriptor; with check_fit, LayoutError when
    the engine would refuse a run (hexgen.rules, mirrored in rtl/desc_check.sv)."""
    from hexgen.plan import LayerPlan, act_layout
    from hexgen.rules import descriptor_registers, engine_refusal

    d = concat_descriptor(layer, cfg)
    if check_fit:
        for k, run in enumerate(d["runs"]):
            refusal = engine_refusal(descriptor_registers(run), cfg)
            if refusal is not None:
                raise LayoutError(f"layer {layer.name}: the engine cannot run field {refusal[0]} of the run of input "
                                  f"{[p for p in d['parts'] if p['run']][k]['input']}: {refusal[1]}")
    z = int(layer.z_out)
    layouts = (("input", act_layout(tuple(d["in_shape"]), images, 0, cfg)),
               ("expected", act_layout(tuple(layer.out_shape), images, z, cfg)),
               ("output", act_layout(tuple(layer.out_shape), images, 255 - z, cfg)))
    return LayerPlan(layer.name, layer.kind, layouts, ("run", "c_tile", "y", "x"), 1, (), d, ())


def concat_from_descriptor(name: str, d: dict[str, Any]) -> ConcatLayer:
    """Golden's record of the concat, rebuilt from its descriptor's parts."""
    parts = d["parts"]
    return ConcatLayer(name=name, inputs=tuple(p["input"] for p in parts),
                       in_shape=(parts[0]["channels"], *d["out_shape"][1:]), out_shape=tuple(d["out_shape"]), module=name,
                       source=name, channels=tuple(p["channels"] for p in parts), z_ins=tuple(p["z_in"] for p in parts),
                       m0s=tuple(p["m0"] for p in parts), ns=tuple(p["n"] for p in parts), z_out=d["z_out"], lo=d["lo"],
                       hi=d["hi"])
