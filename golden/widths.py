"""The widths golden quantizes to (issue 25): N-bit weights, M-bit activations, per layer where
the user says so, and how they travel with a converted model (PyTorch keeps quint8 / qint8
containers whatever the width: gm.meta[BITS_META], read back by extract). golden.ptq.quantize
uses them; golden.graph applies them (clamp bounds, code checks)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from golden.errors import InputError

if TYPE_CHECKING:  # PyTorch is imported where it is used: the width ranges are read by tools that
    import torch   # do not quantize (make sim checks W_BITS / A_BITS before anything else runs)
    from torch import nn

#: The widths golden quantizes to (issue 25): weights 2..8 bits, activations 4..8 bits.
W_BITS_RANGE = (2, 8)
A_BITS_RANGE = (4, 8)
#: gm.meta key of a converted model's widths (see quantize); a model without it is 8/8.
BITS_META = "int8sim_bits"


def weight_qmax(w_bits: int) -> int:
    """Largest weight code at w_bits: codes are -qmax..qmax (narrow, symmetric)."""
    return (1 << (w_bits - 1)) - 1


def act_qmax(a_bits: int) -> int:
    """Largest activation code at a_bits: codes are 0..qmax."""
    return (1 << a_bits) - 1


def check_width(what: str, value: Any, lo_hi: tuple[int, int]) -> int:
    lo, hi = lo_hi
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InputError(f"{what}={value!r}: golden quantizes to {lo}..{hi} bits")
    return value


def _follower_types() -> tuple[type, ...]:
    """Modules FX fuses into the conv / fc before them (they must share its qconfig), and the clamp
    activations that share its output observer."""
    from torch import nn

    return (nn.BatchNorm2d, nn.BatchNorm1d, nn.ReLU, nn.ReLU6)


def layer_widths(
    model: nn.Module, traced: torch.fx.GraphModule | None, w_bits: int, a_bits: int,
    bits: Any, keep_ends: bool,
) -> dict[str, tuple[int, int]]:
    """(w_bits, a_bits) of every Conv2d / Linear module of the float model, by module name, in graph
    order: the global widths; keep_ends puts the first and the last at 8/8; `bits` overrides any
    ({module name: (w_bits, a_bits)}, a_bits being that layer's output's). InputError names a
    width out of range or a name that is not a conv / fc module of the model."""
    from torch import nn

    check_width("w_bits", w_bits, W_BITS_RANGE)
    check_width("a_bits", a_bits, A_BITS_RANGE)
    compute = [] if traced is None else [
        str(n.target) for n in traced.graph.nodes
        if n.op == "call_module" and isinstance(traced.get_submodule(str(n.target)), (nn.Conv2d, nn.Linear))]
    widths = {name: (w_bits, a_bits) for name in compute}
    if keep_ends and compute:
        widths[compute[0]] = widths[compute[-1]] = (8, 8)
    if bits is None:
        return widths
    if not isinstance(bits, dict):
        raise InputError(f"bits must be a dict {{module name: (w_bits, a_bits)}}, got {type(bits).__name__}")
    for name, wa in bits.items():
        if name not in widths:
            some = ", ".join(compute[:6]) + (", ..." if len(compute) > 6 else "")
            raise InputError(f"bits: {name!r} is not a Conv2d or Linear module of {type(model).__name__} "
                             f"(its conv / fc modules: {some})")
        if not (isinstance(wa, (tuple, list)) and len(wa) == 2):
            raise InputError(f"bits[{name!r}]={wa!r}: give (w_bits, a_bits)")
        widths[name] = (check_width(f"bits[{name!r}] w_bits", wa[0], W_BITS_RANGE),
                        check_width(f"bits[{name!r}] a_bits", wa[1], A_BITS_RANGE))
    return widths


def followers(traced: torch.fx.GraphModule, name: str) -> list[str]:
    """The BatchNorm / ReLU / ReLU6 modules that directly follow module `name` (alone reading it)."""
    node = next(n for n in traced.graph.nodes if n.op == "call_module" and str(n.target) == name)
    out = []
    kinds = _follower_types()
    while len(node.users) == 1:
        (user,) = node.users
        if user.op != "call_module" or not isinstance(traced.get_submodule(str(user.target)), kinds):
            break
        out.append(str(user.target))
        node = user
    return out


def record_bits(prepared: torch.fx.GraphModule, widths: dict[str, tuple[int, int]], w_bits: int, a_bits: int) -> dict[str, Any]:
    """The widths the converted model's tensors were calibrated for (gm.meta[BITS_META]), read back
    from the observers FX placed: the network input's, and per conv / fc module its output's."""
    from torch.ao.quantization.fake_quantize import FakeQuantizeBase
    from torch.ao.quantization.observer import ObserverBase

    def observed_bits(node: torch.fx.Node) -> int | None:
        for u in node.users:
            if u.op == "call_module":
                obs: Any = prepared.get_submodule(str(u.target))
                if isinstance(obs, (ObserverBase, FakeQuantizeBase)):  # post-training, or quantization-aware training
                    qmax: Any = getattr(obs, "quant_max")
                    return int(qmax).bit_length()
        return None

    modules: dict[str, list[int]] = {}
    inp = 8
    for node in prepared.graph.nodes:
        if node.op == "placeholder":
            inp = observed_bits(node) or inp
        elif node.op == "call_module" and str(node.target) in widths:
            got = observed_bits(node)
            w, a = widths[str(node.target)]
            if got is not None and got != a:  # FX shared another layer's observer: say what it did
                a = got
            modules[str(node.target)] = [w, a]
    return {"input": inp, "default": [w_bits, a_bits], "modules": modules}


def converted_bits(gm: torch.nn.Module) -> dict[str, Any]:
    """A converted model's widths (quantize's gm.meta[BITS_META]); 8/8 for one golden did not quantize."""
    meta = getattr(gm, "meta", None)
    got = meta.get(BITS_META) if isinstance(meta, dict) else None
    return got if isinstance(got, dict) else {"input": 8, "default": [8, 8], "modules": {}}


def accumulator_needs(net: Any, x_q: Any) -> list[dict[str, Any]]:
    """Per conv / fc layer of a golden Network: the accumulator bits its widths can need whatever the
    input (golden.arith.accumulator_bits) and the bits its sums needed on the codes x_q (the largest
    |accumulator| over them), with its widths and K."""
    import numpy as np

    from golden import arith
    from golden.layers import INPUT, ConvLayer

    run = net.run(x_q)
    codes = {INPUT: x_q, **run.outputs}
    out = []
    for layer in net.compute_layers():
        src = layer.inputs[0]
        in_bits = net.input_quant.a_bits if src == INPUT else net[src].a_bits
        w = layer.weight
        k_dot = int(np.prod(w.shape[1:])) if isinstance(layer, ConvLayer) else int(w.shape[1])
        acc = layer.accumulate(codes[src])
        measured = int(np.abs(acc).max(initial=0))
        out.append({"layer": layer.name, "w_bits": layer.w_bits, "in_bits": in_bits, "k": k_dot,
                    "bound_bits": arith.accumulator_bits(layer.bias.term, k_dot, in_bits=in_bits, z_in=layer.z_in, w_bits=layer.w_bits),
                    "measured_bits": measured.bit_length() + 1})
    return out
