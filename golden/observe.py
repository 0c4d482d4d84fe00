"""Passes over an FX-prepared model's observers, before calibration (golden.ptq.quantize) or
quantization-aware training (golden.qat): one observer for each concatenation's inputs and output
(share_cat_observers), and each clamp activation folded into the observed range of the layer
before it (observe_clamped). Kept apart from ptq.py, which chooses the observers and runs FX."""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from golden.support import clamp_args


#: Activations that are a clamp, by their float bounds: folded into the output range of the layer
#: before them (observe_clamped). ReLU after a conv or fc is fused by FX itself (ConvReLU2d).
_CLAMP_MODULES: dict[type, Any] = {nn.ReLU6: lambda m: (0.0, 6.0), nn.ReLU: lambda m: (0.0, math.inf),
                                   nn.Hardtanh: lambda m: (float(m.min_val), float(m.max_val))}
_CLAMP_FUNCS: dict[Any, tuple[float, float]] = {torch.nn.functional.relu6: (0.0, 6.0), torch.nn.functional.relu: (0.0, math.inf),
                                                torch.relu: (0.0, math.inf)}


def _clamp_bounds(gm: torch.fx.GraphModule, node: torch.fx.Node) -> tuple[float, float] | None:
    """The float bounds of a node that is a clamp activation, else None."""
    if node.op == "call_module":
        sub = gm.get_submodule(str(node.target))
        bounds = _CLAMP_MODULES.get(type(sub))
        return bounds(sub) if bounds is not None else None
    if node.op == "call_function" and node.target in _CLAMP_FUNCS:
        return _CLAMP_FUNCS[node.target]
    return clamp_args(node)


def _keeps_qparams(gm: torch.fx.GraphModule, node: torch.fx.Node) -> bool:
    """A node whose quantized output keeps its input's scale and zero point (nearest upsampling,
    max pooling): its input and output observers must be one when a cat shares either."""
    if node.op == "call_function":
        return node.target in (torch.nn.functional.interpolate, torch.nn.functional.max_pool2d)
    if node.op == "call_module":
        return isinstance(gm.get_submodule(str(node.target)), (nn.MaxPool2d, nn.Upsample))
    return False


def share_cat_observers(prepared: torch.fx.GraphModule) -> int:
    """One observer for a concatenation's inputs and output, as TFLite requires of its int8 concat:
    every cat's inputs and output (and, through them, whatever already shares with them: an upsample
    its input's, another cat's) observe into one instance, so after conversion every input is a copy
    of its codes (golden's ConcatLayer: copies) and the accelerator can place the inputs side by side
    instead of requantizing them (hexgen.concat.concat_placement). FX shares a cat's observer with its
    inputs, but an input that is also another cat's, or an upsample's output (which keeps its input's
    qparams), kept its own: measured on a YOLO-style neck, each cat after an upsample requantized one
    input. Run before calibration or training (and before observe_clamped). Returns the observers replaced."""
    from torch.ao.quantization.fake_quantize import FakeQuantizeBase
    from torch.ao.quantization.observer import ObserverBase

    kinds = (ObserverBase, FakeQuantizeBase)  # post-training observers; quantization-aware training's fake quantizers
    mods = dict(prepared.named_modules(remove_duplicate=False))  # an instance FX shares is under each of its names

    def observer(n: Any) -> Any:
        m = mods.get(str(n.target)) if isinstance(n, torch.fx.Node) and n.op == "call_module" else None
        return m if isinstance(m, kinds) else None

    parent: dict[int, int] = {}

    def find(i: int) -> int:
        while parent.setdefault(i, i) != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for node in prepared.graph.nodes:
        if node.op == "call_function" and node.target is torch.cat:
            tensors = node.args[0] if node.args else node.kwargs.get("tensors", ())
        elif _keeps_qparams(prepared, node):  # its output is its input's codes: one observer for both
            tensors = node.args[:1]
        else:
            continue
        group = [o for o in [*(observer(n) for n in tensors), *(observer(u) for u in node.users)] if o is not None]
        for o in group[1:]:
            parent[find(id(o))] = find(id(group[0]))
    by_id = {id(m): m for m in mods.values() if isinstance(m, kinds)}
    replaced = 0
    for name, m in list(mods.items()):
        if isinstance(m, kinds) and id(m) in parent:
            rep = by_id[find(id(m))]
            if rep is not m:
                prepared.set_submodule(name, rep)
                replaced += 1
    return replaced


def observe_clamped(prepared: torch.fx.GraphModule) -> int:
    """Fold each clamp activation (ReLU6, ReLU, Hardtanh, clamp) into the output range of the layer before it, as
    TFLite does: the observer of that layer's output sees the values after the clamp, so its scale
    and zero point cover [0, 6] (ReLU6) over all 256 codes. FX otherwise observes a conv followed by
    ReLU6 on its pre-activation range: the clamp then sits at a zero point far above 0 and the codes
    below it are never used (mobilenetv2_224's conv2 used 16 of 256, z_out 240). The quantized
    model PyTorch converts is the same function (its conv's own clamp at code 0 is the ReLU, and the
    quantized ReLU6 still clamps at round(6 / S)), so golden is checked against its kernels as before.
    Returns how many observers now see a clamped range."""
    from torch.ao.quantization.fake_quantize import FakeQuantizeBase
    from torch.ao.quantization.observer import ObserverBase

    folded = 0
    for node in list(prepared.graph.nodes):
        if node.op != "call_module" or not isinstance(prepared.get_submodule(str(node.target)), (ObserverBase, FakeQuantizeBase)):
            continue
        bounds = {_clamp_bounds(prepared, u) for u in node.users}
        if len(bounds) != 1 or None in bounds or not node.users:
            continue
        lo, hi = bounds.pop()  # type: ignore[misc]
        obs: Any = prepared.get_submodule(str(node.target))
        if isinstance(obs, FakeQuantizeBase):  # quantization-aware training (golden.qat): its observer sees the clamped range
            obs = obs.activation_post_process
        if getattr(obs, "_int8sim_clamp", None) is not None:
            continue  # shared with another node already folded
        observe = obs.forward

        def clamped(x: torch.Tensor, observe: Any = observe, lo: float = lo, hi: float = hi) -> torch.Tensor:
            observe(x.detach().clamp(lo, hi))  # the range the activation's output takes
            return x

        obs.forward = clamped
        obs._int8sim_clamp = (lo, hi)
        folded += 1
    return folded
