"""What will not fit, said before anything slow runs (issue 26: a 513x513 network was refused after 43 s
of quantization and golden runs).

From the float model's shapes alone (FX's trace and one forward pass of one image, no calibration,
no quantization), each layer the engine would run is put through the rule book as hexgen's plan
will (hexgen.rules: descriptor_registers, plan_tiling, engine_refusal), and its memory window is
estimated from the rule book's sizes (register_needs). The estimate leaves out segment alignment, so
it is at most what hexgen later writes: a window it finds too large for a memory is too large.

The plan after quantization stays the verdict (it sees golden's records: fused padding, weight
widths); this is the early word, in make layers, make sim and make hexgen.
"""
from __future__ import annotations

import operator
import time
from dataclasses import dataclass
from typing import Any

from golden.arith import dilated_span
from hexgen.config import HardwareConfig
from hexgen.rules import VECTOR_KINDS, descriptor_registers, engine_refusal, plan_tiling, register_needs


@dataclass(frozen=True)
class LayerFit:
    """One layer the engine would run: its module (or node), kind, shapes, the rule book's refusal
    (field, why) or None, and its memory window in words (estimated, alignment left out)."""

    where: str
    kind: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    refusal: tuple[str, str] | None
    window_words: int

    def text(self) -> str:
        shapes = f"{'x'.join(map(str, self.in_shape))} -> {'x'.join(map(str, self.out_shape))}"
        return f"{self.where} ({self.kind} {shapes})"


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _descriptor(node: Any, mod: Any, cfg: HardwareConfig, w_bits: int) -> dict[str, Any] | None:
    """The hexgen descriptor fields the rule book reads, for a node the engine runs (None: not one)."""
    import torch
    from torch import nn

    meta = node.meta.get("tensor_meta")
    args = [a for a in node.args if hasattr(a, "meta")]
    # (a node of several outputs, a transformer's unbind or attention, carries a tuple: not the engine's)
    if meta is None or not args or not hasattr(meta, "shape") or not hasattr(args[0].meta.get("tensor_meta"), "shape"):
        return None
    ins, outs = list(args[0].meta["tensor_meta"].shape[1:]), list(meta.shape[1:])
    d: dict[str, Any] = {"in_shape": ins, "out_shape": outs, "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0],
                         "padding_end": [0, 0], "groups": 1, "lo": 0, "hi": 255, "band_rows": 0, "group_k_tiles": 0,
                         "weight_bits": cfg.weight_store_bits(w_bits)}
    if isinstance(mod, nn.Conv2d) and len(ins) == 3:
        pad = (0, 0) if isinstance(mod.padding, str) else _pair(mod.padding)
        if isinstance(mod.padding, str) and mod.padding == "same":  # PyTorch's 'same': the extra row below / right
            ks, ds = _pair(mod.kernel_size), _pair(mod.dilation)
            pad = (ds[0] * (ks[0] - 1) // 2, ds[1] * (ks[1] - 1) // 2)
        k, dil = _pair(mod.kernel_size), [1 if k_ == 1 else d_ for k_, d_ in zip(_pair(mod.kernel_size), _pair(mod.dilation))]
        span = [dilated_span(k[i], dil[i]) for i in (0, 1)]
        end = [(outs[i + 1] - 1) * _pair(mod.stride)[i] + span[i] - ins[i + 1] - pad[i] for i in (0, 1)]
        dw = mod.groups > 1 and mod.groups == mod.in_channels == mod.out_channels
        d.update(kind="depthwise" if dw else "conv", kernel=list(k), stride=list(_pair(mod.stride)), dilation=dil,
                 padding=list(pad), padding_end=[max(0, e) for e in end], groups=mod.groups)
    elif isinstance(mod, nn.Linear) and len(ins) == 1:  # fc on a flat vector
        d.update(kind="fc", out_shape=[outs[-1]])
    elif isinstance(mod, nn.Linear) and len(ins) == 2:  # a transformer's linear over [T, C] tokens (hexgen.rules.engine_shapes)
        d.update(kind="linear")
    elif isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d)) and len(ins) == 3:
        pad = _pair(mod.padding)
        d.update(kind="maxpool" if isinstance(mod, nn.MaxPool2d) else "avgpool", kernel=list(_pair(mod.kernel_size)),
                 stride=list(_pair(mod.stride or mod.kernel_size)), padding=list(pad), padding_end=list(pad))
    elif isinstance(mod, nn.AdaptiveAvgPool2d) and len(ins) == 3 and outs[1:] == [1, 1]:
        d.update(kind="avgpool", kernel=ins[1:])  # global average pool: a window of the whole image, stride 1
    elif isinstance(mod, nn.GELU) and len(ins) == 2:  # a transformer's GELU over [T, C] tokens: the vector unit's table
        d.update(kind="gelu")
    elif isinstance(mod, nn.LayerNorm) and len(ins) == 2:  # over [T, C] tokens: the row unit's, in blocks of tokens
        d.update(kind="layernorm", shift=0)
    elif (_is_softmax(node, mod) and len(ins) >= 2):  # over [.., T, L] rows: the row unit's, one run a head
        d.update(kind="softmax", in_shape=ins[-2:], out_shape=outs[-2:], shift=1)
    elif mod is None and node.target in (operator.matmul, torch.matmul) and len(args) == 2 and len(ins) >= 2:
        # a matmul of two activations: one linear a head over a's rows, b its weights (hexgen.matmul)
        b = list(getattr(args[1].meta.get("tensor_meta"), "shape", [])[1:])
        if len(b) < 2 or b[-2] != ins[-1]:
            return None
        d.update(kind="linear", label="matmul", in_shape=ins[-2:], out_shape=[ins[-2], b[-1]])
    elif mod is None and node.target in (operator.add, operator.iadd, torch.add) and len(args) == 2 and len(ins) in (2, 3) \
            and list(getattr(args[1].meta.get("tensor_meta"), "shape", [None])[1:]) == ins:  # a residual add (images or [T, C] tokens)
        d.update(kind="add", shift=1)
    else:
        return None
    return d


def _is_softmax(node: Any, mod: Any) -> bool:
    """A softmax over the last axis: nn.Softmax, torch.softmax / F.softmax, or a tensor's .softmax()."""
    import torch
    from torch import nn

    dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
    if isinstance(mod, nn.Softmax):
        dim = mod.dim
    elif not ((node.op == "call_function" and node.target in (torch.softmax, torch.nn.functional.softmax))
              or (node.op == "call_method" and node.target == "softmax")):
        return False
    return dim == -1 or (isinstance(dim, int) and dim == len(node.meta["tensor_meta"].shape) - 1)


def _window_words(r: dict[str, int], cfg: HardwareConfig, kind: str) -> int:
    """A layer's memory window (hexgen.image.layer_window: every segment but the expected output) in
    words, from the rule book's sizes, alignment left out."""
    n = register_needs(r, cfg.array_rows, cfg.word_bits)
    inputs = n.ct_in * n.plane * (2 if kind == "add" else 1)
    if kind in ("add", "maxpool", "avgpool"):
        return inputs + n.out
    from hexgen.tokens import gelu_table_layout, ln_record_layout, softmax_table_layout

    if kind == "gelu":  # its input, output and table (hexgen.tokens' layouts, as hexgen lays them out)
        return inputs + n.out + gelu_table_layout(cfg).words
    if kind == "softmax":  # one head's input and output, and the exp table
        return inputs + n.out + softmax_table_layout(cfg).words
    if kind == "layernorm":  # its input, output and records
        return inputs + n.out + ln_record_layout(r["IN_C"], cfg).words
    records = 2 * n.kt_out * n.records // max(1, r["GROUP_KT"])
    return n.kt_out * n.weight + records + inputs + n.out


def fit_layers(model: Any, example: Any, cfg: HardwareConfig, *, w_bits: int = 8) -> list[LayerFit] | None:
    """Every layer of the float model the engine would run, through the rule book; None when FX
    cannot trace the model (quantization then says why)."""
    import torch
    from torch.fx.passes.shape_prop import ShapeProp

    from golden.support import trace_float

    gm = trace_float(model)
    if gm is None:
        return None
    with torch.no_grad():
        try:
            ShapeProp(gm).propagate(example[:1])
        except Exception:  # a forward that needs more than one image or fails: quantization says why
            return None
    mods = dict(gm.named_modules())
    out = []
    for node in gm.graph.nodes:
        if node.op not in ("call_module", "call_function", "call_method"):
            continue
        mod = mods.get(str(node.target)) if node.op == "call_module" else None
        d = _descriptor(node, mod, cfg, w_bits)
        if d is None:
            continue
        r = descriptor_registers(d)
        if r["KIND"] in VECTOR_KINDS:  # add and pooling run in one pass (hexgen.plan's vector layers)
            r.update(BAND_ROWS=r["OUT_H"], GROUP_KT=-(-r["OUT_C"] // cfg.array_rows))
        else:
            r.update(plan_tiling(r, cfg))
        out.append(LayerFit(str(node.target) if mod is not None else node.name, d.get("label", d["kind"]), tuple(d["in_shape"]),
                            tuple(d["out_shape"]), engine_refusal(r, cfg), _window_words(r, cfg, d["kind"])))
    return out


def fit_report(model: Any, example: Any, cfg: HardwareConfig, *, w_bits: int = 8, memory_words: int | None = None,
               prog: str = "hexgen") -> list[str]:
    """The early word as lines: each layer the engine will refuse (field and figure), and, given the
    memory a layer's window must fit (the bench's), each window larger than it; last a summary
    line. Empty when the model cannot be traced."""
    t0 = time.perf_counter()
    fits = fit_layers(model, example, cfg, w_bits=w_bits)
    if fits is None:
        return []
    lines = [f"{prog}: fit: {f.text()} will not run on the engine: {f.refusal[0]}: {f.refusal[1]}" for f in fits if f.refusal]
    big = [f for f in fits if memory_words is not None and f.window_words > memory_words]
    lines += [f"{prog}: fit: {f.text()} needs at least {f.window_words:,} words of memory; the bench's holds {memory_words:,}"
              for f in big]
    bad = sum(1 for f in fits if f.refusal) + len(big)
    lines.append(f"{prog}: fit: {len(fits)} layer(s) for the engine checked from the model's shapes in "
                 f"{time.perf_counter() - t0:.1f} s: " + ("all fit" if not bad else f"{bad} problem(s) above"))
    return lines
