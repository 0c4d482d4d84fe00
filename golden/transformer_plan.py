"""Post-training quantization of a transformer (issue 27): what each FX node of the float graph is,
where the quantized tensors are, and their calibrated (scale, zero point).

PyTorch's FX quantization (golden.ptq, the CNN path) has no quantized matmul of two activations,
softmax, GELU or LayerNorm of the kind golden evaluates, so a transformer is not converted by it.
Instead the float model (PyTorch's transformer modules rewritten first: golden.transformer_rewrite)
is traced with torch.fx, and an observer is put on every node that makes a new tensor (the input,
linear, conv, LayerNorm, softmax, GELU, matmul, add, cat): the contract's HistogramObserver (uint8,
0..255, no reduce_range). Nodes that only move data (reshape, view, flatten, permute, transpose,
unbind, indexing, contiguous, dropout, identity) share their input's qparams (their codes are their
input's, moved); a multiply or divide by a positive Python number shares its input's codes with
the scale multiplied (folded into the next requantization: attention's `* head_dim**-0.5`); a ReLU
right after a linear or conv is observed in place of it (its clamp is folded into the linear's
requantization), and a concatenation's inputs share its observer (copies, as golden's CNN cat).

The second operand of every matmul (k and v after the qkv split) is "symmetric": its observer is
HistogramObserver(qint8, per_tensor_symmetric, -127..127), and its codes are uint8 with zero point
exactly 128 (code - 128 is the int8 code; the scale is PyTorch's: max|x| / 127 after the histogram
search), so the engine can feed it where weights go. An observer shared with that operand (the whole
fused qkv projection's output, whose slices k and v are) is symmetric too.

quantize_transformer returns the traced float GraphModule with the qparams of every data node in
gm.meta[META]; golden.graph_transformer.extract reads it (with the float modules' parameters).
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from golden.errors import QuantSchemeError, UnsupportedLayerError

META = "int8sim_transformer"

_MODULES: dict[type, str] = {
    nn.Linear: "linear", nn.Conv2d: "conv", nn.LayerNorm: "layernorm", nn.GELU: "gelu", nn.Softmax: "softmax",
    nn.ReLU: "relu", nn.Dropout: "identity", nn.Identity: "identity", nn.Flatten: "move",
}
_FUNCTIONS: dict[Any, str] = {
    F.gelu: "gelu", F.softmax: "softmax", torch.softmax: "softmax", F.relu: "relu", torch.relu: "relu",
    operator.matmul: "matmul", torch.matmul: "matmul", torch.bmm: "matmul",
    operator.add: "add", operator.iadd: "add", torch.add: "add", operator.mul: "mul", torch.mul: "mul",
    operator.truediv: "div", torch.div: "div", torch.cat: "cat", torch.concat: "cat", torch.concatenate: "cat",
    torch.flatten: "move", torch.reshape: "move", torch.permute: "move", torch.transpose: "move", torch.unbind: "move",
    operator.getitem: "move", F.dropout: "identity", getattr: "shape",
}
_METHODS: dict[str, str] = {
    "softmax": "softmax", "relu": "relu", "add": "add", "mul": "mul", "div": "div", "matmul": "matmul",
    "view": "move", "reshape": "move", "permute": "move", "transpose": "move", "flatten": "move", "contiguous": "move",
    "unbind": "move", "size": "shape", "dim": "shape",
}
#: Node kinds whose output is a new quantized tensor (observed).
PRODUCERS = {"input", "linear", "conv", "layernorm", "gelu", "softmax", "matmul", "add", "add_const", "cat", "relu"}


def where(node: fx.Node) -> str:
    """`FX node n (call_method softmax) in module 'blocks.0.attn' (Attention)`."""
    tgt = node.target if node.op != "call_module" else repr(node.target)
    name = getattr(tgt, "__name__", tgt)
    stack = node.meta.get("nn_module_stack") or {}
    inside = ""
    if stack:
        path, cls = list(stack.values())[-1]
        inside = f" in module {path!r} ({getattr(cls, '__name__', cls)})"
    return f"FX node {node.name} ({node.op} {name}){inside}"


def category(gm: fx.GraphModule, node: fx.Node) -> str:
    if node.op in ("placeholder", "output", "get_attr"):
        return {"placeholder": "input", "output": "output", "get_attr": "attr"}[node.op]
    if node.op == "call_module":
        mod = gm.get_submodule(str(node.target))
        return next((c for t, c in _MODULES.items() if type(mod) is t), "other")
    if node.op == "call_function":
        return _FUNCTIONS.get(node.target, "other")
    return _METHODS.get(str(node.target), "other")


def _args(node: fx.Node) -> Any:
    """A node's positional arguments, untyped (FX's Argument union helps no check here)."""
    return node.args


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@dataclass
class Plan:
    """What each node of the float graph is (kind), which are activations (data), and how each data
    node's qparams are found: observed itself, or its parent's times a factor."""

    kind: dict[str, str] = field(default_factory=dict)
    data: set[str] = field(default_factory=set)
    parent: dict[str, tuple[str, float]] = field(default_factory=dict)
    observed: list[str] = field(default_factory=list)
    union: dict[str, str] = field(default_factory=dict)
    symmetric: set[str] = field(default_factory=set)  # group roots

    def resolve(self, name: str) -> tuple[str, float]:
        factor = 1.0
        while name in self.parent:
            name, f = self.parent[name]
            factor *= f
        return name, factor

    def find(self, name: str) -> str:
        while self.union.setdefault(name, name) != name:
            name = self.union[name]
        return name


def plan(gm: fx.GraphModule) -> Plan:
    """Classify every node; an activation node golden cannot evaluate is one UnsupportedLayerError naming it."""
    p = Plan()
    nodes = list(gm.graph.nodes)
    for n in nodes:
        k = category(gm, n)
        if n.op == "placeholder":
            if p.data:
                raise UnsupportedLayerError(f"{where(n)}: the model has more than one input")
            p.data.add(n.name)
        elif k not in ("shape", "attr") and any(a.name in p.data for a in n.all_input_nodes):
            p.data.add(n.name)
        if n.name not in p.data or k == "output":
            p.kind[n.name] = k
            continue
        args = list(_args(n))
        if k in ("mul", "div"):
            num = [a for a in args[:2] if _number(a)]
            if len(num) != 1 or float(num[0]) <= 0 or (k == "div" and _number(args[0])):
                raise UnsupportedLayerError(f"{where(n)}: golden multiplies an activation by a positive number only "
                                            "(folded into the next requantization)")
            tensor = next(a for a in args[:2] if isinstance(a, fx.Node))
            p.parent[n.name] = (tensor.name, float(num[0]) if k == "mul" else 1.0 / float(num[0]))
        elif k == "add":
            ops = args[:2]
            if not all(isinstance(a, fx.Node) for a in ops) or len(n.kwargs):
                raise UnsupportedLayerError(f"{where(n)}: golden adds two tensors (an activation and an activation or a "
                                            "constant tensor), not a number")
            if sum(a.name in p.data for a in ops) == 1:
                k = "add_const"
        elif k in ("move", "identity"):
            src = args[0]
            if isinstance(src, (tuple, list)) or not isinstance(src, fx.Node):
                raise UnsupportedLayerError(f"{where(n)}: not a single tensor operand")
            p.parent[n.name] = (src.name, 1.0)
        elif k == "other":
            raise UnsupportedLayerError(f"{where(n)} is not supported by golden/ (transformers: Linear, Conv2d, LayerNorm, "
                                        "GELU, ReLU, softmax, matmul, +, cat, * number, reshape/view/permute/transpose/"
                                        "flatten/unbind/indexing)")
        p.kind[n.name] = k
        if k in PRODUCERS:
            p.observed.append(n.name)
    by_name = {n.name: n for n in nodes}
    for n in nodes:
        k = p.kind[n.name]
        if n.name not in p.data:
            continue
        if k == "relu":  # folded into the linear / conv before it: that one takes the ReLU's qparams
            src = _args(n)[0]
            sk = p.kind.get(src.name) if isinstance(src, fx.Node) else None
            if sk not in ("linear", "conv") or len(src.users) != 1:
                raise UnsupportedLayerError(f"{where(n)}: a ReLU must directly follow a Linear or Conv2d whose output it "
                                            "alone reads (folded into its requantization)")
            p.observed.remove(src.name)
            p.parent[src.name] = (n.name, 1.0)
        if k == "cat":
            tensors = _args(n)[0] if _args(n) else n.kwargs.get("tensors", ())
            for t in tensors:
                if isinstance(t, fx.Node) and t.name in p.data:
                    root, f = p.resolve(t.name)
                    if f == 1.0:
                        p.union[p.find(root)] = p.find(n.name)
    for n in nodes:
        if p.kind[n.name] == "matmul" and n.name in p.data:
            b = _args(n)[1]
            if not isinstance(b, fx.Node) or b.name not in p.data:
                raise UnsupportedLayerError(f"{where(n)}: a matmul of an activation and a constant (use nn.Linear)")
            p.symmetric.add(p.find(p.resolve(b.name)[0]))
    del by_name
    return p


_SDPA_ARGS = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")


def expand_sdpa(gm: fx.GraphModule, example: torch.Tensor) -> int:
    """Each F.scaled_dot_product_attention call (timm's fused attention) written out as
    softmax(q @ k.transpose(-2, -1) * scale) @ v, the nodes golden extracts (scale None: head_dim^-0.5,
    head_dim from a shape propagation on `example`). A mask, dropout or is_causal is one line naming it.
    Returns the calls expanded."""
    nodes = [n for n in gm.graph.nodes if n.op == "call_function" and n.target is F.scaled_dot_product_attention]
    if not nodes:
        return 0
    from torch.fx.passes.shape_prop import ShapeProp

    with torch.no_grad():
        ShapeProp(gm).propagate(example)
    for n in nodes:
        a = {k: (_args(n)[i] if len(_args(n)) > i else n.kwargs.get(k)) for i, k in enumerate(_SDPA_ARGS)}
        if a["attn_mask"] is not None or a["is_causal"] or a["dropout_p"] not in (None, 0, 0.0) or a["enable_gqa"]:
            raise UnsupportedLayerError(f"{where(n)}: scaled_dot_product_attention with a mask, is_causal, dropout or "
                                        "enable_gqa is not supported by golden/")
        q = a["query"]
        scale = a["scale"] if a["scale"] is not None else q.meta["tensor_meta"].shape[-1] ** -0.5
        g = gm.graph
        with g.inserting_before(n):
            kt = g.call_method("transpose", (a["key"], -2, -1))
            logits = g.call_function(operator.mul, (g.call_function(operator.matmul, (q, kt)), float(scale)))
            attn = g.call_method("softmax", (logits,), {"dim": -1})
            out = g.call_function(operator.matmul, (attn, a["value"]))
        out.meta["nn_module_stack"] = n.meta.get("nn_module_stack", {})
        for new in (kt, logits, attn):
            new.meta["nn_module_stack"] = n.meta.get("nn_module_stack", {})
        n.replace_all_uses_with(out)
        g.erase_node(n)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return len(nodes)


def fold_scalar_operands(gm: fx.GraphModule, batch: torch.Tensor) -> int:
    """A multiply or divide of an activation by a number the forward computes (`* q.shape[-1] ** -0.5`,
    `/ math.sqrt(self.head_dim)` on a traced shape) takes that number as a constant when it is the
    same for a batch of one and of two samples (a shape of the model, not of the batch); the plan
    then folds it into the next requantization. Returns the operands folded."""
    data = {n.name for n in gm.graph.nodes if n.op == "placeholder"}
    candidates: list[tuple[fx.Node, fx.Node]] = []
    for n in gm.graph.nodes:
        k = category(gm, n)
        if k not in ("shape", "attr") and any(a.name in data for a in n.all_input_nodes):
            data.add(n.name)
            if k in ("mul", "div"):
                candidates += [(n, a) for a in _args(n)[:2] if isinstance(a, fx.Node) and a.name not in data]
    if not candidates or batch.shape[0] < 2:
        return 0
    seen: dict[str, list[Any]] = {a.name: [] for _, a in candidates}

    class _Values(fx.Interpreter):
        def run_node(self, n: fx.Node) -> Any:
            out = super().run_node(n)
            if n.name in seen:
                seen[n.name].append(out)
            return out

    with torch.no_grad():
        _Values(gm).run(batch[:1])
        _Values(gm).run(batch[:2])
    folded = 0
    for n, a in candidates:
        one, two = seen[a.name]
        if _number(one) and one == two:
            n.args = tuple(one if x is a else x for x in _args(n))
            folded += 1
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return folded


def _observer(symmetric: bool) -> Any:
    from torch.ao.quantization.observer import HistogramObserver

    if symmetric:
        return HistogramObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric, quant_min=-127, quant_max=127,
                                 reduce_range=False)
    return HistogramObserver(dtype=torch.quint8, reduce_range=False)


class _Observe(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule, p: Plan, observers: dict[str, Any]) -> None:
        super().__init__(gm)
        self.p, self.observers = p, observers
        self.observed = set(p.observed)

    def run_node(self, n: fx.Node) -> Any:
        out = super().run_node(n)
        if n.name in self.observed:
            self.observers[self.p.find(n.name)](out.detach().float())
        return out


def qparams(p: Plan, observers: dict[str, Any]) -> dict[str, tuple[float, int]]:
    """(scale, zero point) of every data node: a symmetric group's zero point is 128."""
    groups: dict[str, tuple[float, int]] = {}
    for root, obs in observers.items():
        scale, zp = obs.calculate_qparams()
        groups[root] = (float(scale), 128 if root in p.symmetric else int(zp))
    res = {}
    for name in p.data:
        if p.kind[name] == "output":
            continue
        root, factor = p.resolve(name)
        s, z = groups[p.find(root)]
        res[name] = (s * factor, z)
    return res


def quantize_transformer(model: nn.Module, calibration_batch: torch.Tensor, *, calibration_chunk: int = 64) -> fx.GraphModule:
    """The float model (transformer modules rewritten), traced, with every data node's (scale, zero
    point) calibrated on the batch in gm.meta[META] (see the module doc). The user's model is not modified."""
    import copy

    from golden.ptq import torch_quiet
    from golden.support import check_calibration_batch, check_finite_parameters
    from golden.transformer_rewrite import rewrite

    check_calibration_batch(calibration_batch)
    float_model = rewrite(copy.deepcopy(model).eval()).eval()
    check_finite_parameters(float_model)
    try:
        gm = fx.symbolic_trace(float_model)
    except Exception as exc:
        raise UnsupportedLayerError(f"torch.fx cannot trace {type(model).__name__}: {' '.join(str(exc).split())}") from exc
    expand_sdpa(gm, calibration_batch[:1])
    fold_scalar_operands(gm, calibration_batch[:2])
    p = plan(gm)
    roots = {p.find(n) for n in p.observed}
    with torch_quiet():
        observers = {r: _observer(r in p.symmetric) for r in roots}
    try:
        with torch.no_grad(), torch_quiet():
            for start in range(0, calibration_batch.shape[0], calibration_chunk):
                _Observe(gm, p, observers).run(calibration_batch[start:start + calibration_chunk])
            qp = qparams(p, observers)
    except UnsupportedLayerError:
        raise
    except Exception as exc:
        raise QuantSchemeError(f"calibrating {type(model).__name__}: {type(exc).__name__}: {' '.join(str(exc).split())}") from exc
    gm.meta[META] = {"qparams": qp}
    return gm


def is_quantized_transformer(model: Any) -> bool:
    return isinstance(model, fx.GraphModule) and META in model.meta


def is_transformer(model: nn.Module) -> bool:
    """A model golden quantizes with quantize_transformer: one holding a PyTorch transformer module,
    LayerNorm, GELU or Softmax, or whose forward calls matmul or softmax."""
    from golden.transformer_rewrite import needs_rewrite

    if needs_rewrite(model) or any(isinstance(m, (nn.LayerNorm, nn.GELU, nn.Softmax)) for m in model.modules()):
        return True
    try:
        gm = fx.symbolic_trace(model)
    except Exception:
        return False
    return any(category(gm, n) in ("matmul", "softmax", "gelu") or n.target is F.scaled_dot_product_attention
               for n in gm.graph.nodes)
