"""A quantized transformer (golden.transformer_plan.quantize_transformer) -> Network of layer records.

The traced float graph is run once on `example_input` keeping every node's value (shapes, and the
constants: class token, position embedding); the qparams come from calibration (gm.meta), the
weights from the float modules (per-output-channel symmetric int8 in [-127, 127], as the CNN path).
Records: conv / fc / linear (golden.layers, golden.tokens), layernorm, softmax, gelu, matmul
(golden.transformer), add (two activations), add_const, concat_tokens, and the data movement
records reshape, permute and select (golden.tokens). How a node becomes a record:
- reshape / view / flatten: a `reshape` record (an identity reshape is no record);
- permute / transpose keeping the batch axis first: a `permute` record; one moving the batch axis
  (timm's qkv `.permute(2, 0, 3, 1, 4)`, a batch_first=False model's `.transpose(0, 1)`) waits for
  the node that brings the batch back first: a later permute (composed) or unbind / indexing, which
  becomes a `select` record (one of q, k, v: one index of one axis, then a permutation);
- `k.transpose(-2, -1)` read only as a matmul's second operand: no record, the matmul takes
  transpose_b=True;
- `* number`, `/ number`, dropout, identity, contiguous: no record (the codes are the input's);
- a ReLU after a linear: its clamp, folded.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import fx, nn

from golden import arith
from golden.errors import ShapeError, UnsupportedLayerError
from golden.graph import bias_codes, channel_multipliers
from golden.layers import INPUT, AddLayer, ConvLayer, InputQuant, Layer, LinearLayer, Network, Requant, conv_kind
from golden.ptq import live_channel_scales, torch_quiet
from golden.support import module_problem
from golden.tokens import ConstAddLayer, PermuteLayer, ReshapeLayer, SelectLayer, TokenConcatLayer, TokenLinearLayer
from golden.transformer_plan import META, Plan, plan, where


@dataclass(frozen=True)
class _State:
    """Where a data node's codes are: the output of golden layer `src`, permuted by `perm` over all
    axes (batch included; None: as they are), or with its last two axes swapped (`swap`)."""

    src: str
    perm: tuple[int, ...] | None = None
    swap: bool = False
    unbind: int | None = None  # an unbind node: the axis (of the permuted value) it splits


def _args(node: fx.Node) -> Any:
    """A node's positional arguments, untyped (FX's Argument union helps no check here)."""
    return node.args


def weight_codes(w: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel symmetric int8 codes in [-127, 127] and their scales (max |w| / 127, dead
    channels at their layer's median scale: golden.ptq.live_channel_scales)."""
    wf = w.detach().to(torch.float64).reshape(w.shape[0], -1)
    amax = wf.abs().amax(1)
    scale = live_channel_scales(torch.where(amax > 0, amax / 127.0, torch.ones_like(amax)), -amax, amax)
    codes = torch.clamp(torch.round(wf / scale[:, None]), -127, 127).to(torch.int8).reshape(w.shape)
    return codes.numpy(), scale.numpy()


def _run(gm: fx.GraphModule, x: torch.Tensor) -> dict[str, Any]:
    values: dict[str, Any] = {}

    class _Rec(fx.Interpreter):
        def run_node(self, n: fx.Node) -> Any:
            out = super().run_node(n)
            values[n.name] = out
            return out

    with torch.no_grad():
        _Rec(gm).run(x)
    return values


class _Builder:
    def __init__(self, gm: fx.GraphModule, p: Plan, values: dict[str, Any], qp: dict[str, tuple[float, int]], *,
                 bias_mode: str, m0_bits: int, saturate_policy: str) -> None:
        self.gm, self.p, self.values, self.qp = gm, p, values, qp
        self.bias_mode, self.m0_bits, self.saturate_policy = bias_mode, m0_bits, saturate_policy
        self.layers: list[Layer] = []
        self.state: dict[str, _State] = {}
        self.counters: dict[str, int] = {}
        self.saturations: dict[str, int] = {}
        self.input_quant: InputQuant | None = None
        self.outputs: list[tuple[str, float, int]] = []

    def new_name(self, prefix: str) -> str:
        self.counters[prefix] = self.counters.get(prefix, 0) + 1
        return f"{prefix}{self.counters[prefix]}"

    def shape(self, node: fx.Node) -> tuple[int, ...]:
        return tuple(int(d) for d in self.values[node.name].shape[1:])

    def module(self, node: fx.Node) -> str:
        """The module path (a call_module's), or the module whose forward calls the node's function."""
        if node.op == "call_module":
            return str(node.target)
        stack = node.meta.get("nn_module_stack") or {}
        return f"{list(stack.values())[-1][0]}.{node.name}" if stack else node.name

    def operand(self, node: fx.Node, arg: Any, what: str) -> tuple[str, float, int]:
        """(golden layer, scale, zero point) of an activation operand with the batch first."""
        if not isinstance(arg, fx.Node) or arg.name not in self.p.data:
            raise UnsupportedLayerError(f"{where(node)}: its {what} is not an activation")
        st = self.state[arg.name]
        if st.perm is not None or st.unbind is not None:
            raise UnsupportedLayerError(f"{where(node)}: its {what} has the batch axis moved from the front")
        if st.swap:
            raise UnsupportedLayerError(f"{where(node)}: its {what} is a transpose(-2, -1) golden folds only into a matmul's "
                                        "second operand")
        s, z = self.qp[arg.name]
        return st.src, s, z

    def emit(self, node: fx.Node, layer: Layer) -> None:
        self.layers.append(layer)
        self.state[node.name] = _State(layer.name)

    def lo(self, node: fx.Node) -> int:
        """A linear / conv writing a symmetric tensor (zero point 128) keeps codes 1..255 (code - 128 in -127..127)."""
        return 1 if self.qp[node.name][1] == 128 and self.p.find(self.p.resolve(node.name)[0]) in self.p.symmetric else 0

    # ---- conv, linear ----------------------------------------------------------------------
    def compute(self, node: fx.Node, mod: Any, out_node: fx.Node) -> dict[str, Any]:
        src, s_in, z_in = self.operand(node, _args(node)[0], "input")
        codes, s_w = weight_codes(mod.weight)
        bias = mod.bias.detach().to(torch.float64).numpy() if mod.bias is not None else np.zeros(len(s_w))
        s_out, z_out = self.qp[out_node.name]
        relu = out_node is not node
        name = self.new_name("conv" if isinstance(mod, nn.Conv2d) else "fc" if len(self.shape(node)) == 1 else "linear")
        m0, n = channel_multipliers(name, s_in, s_w, s_out, self.m0_bits)
        bc = bias_codes(name, bias, s_in, s_w, int(codes[0].size), bias_mode=self.bias_mode,
                        saturate_policy=self.saturate_policy, saturations=self.saturations)
        lo = max(z_out if relu else 0, self.lo(out_node))
        return dict(name=name, inputs=(src,), in_shape=self.shape(_args(node)[0]), out_shape=self.shape(node),
                    module=self.module(node), source=out_node.name, weight=codes, bias=bc,
                    requant=Requant(m0, n, z_out, lo, 255, self.m0_bits), z_in=z_in, scale_in=s_in, scale_out=s_out,
                    weight_scale=s_w)

    def out_node(self, node: fx.Node) -> fx.Node:
        """The node whose qparams a linear / conv writes: its ReLU's when one is folded in."""
        users = list(node.users)
        return users[0] if len(users) == 1 and self.p.kind.get(users[0].name) == "relu" else node

    def linear(self, node: fx.Node, mod: nn.Linear) -> None:
        out = self.out_node(node)
        f = self.compute(node, mod, out)
        layer = LinearLayer(**f) if len(f["in_shape"]) == 1 else TokenLinearLayer(**f)
        self.emit(node, layer)
        if out is not node:
            self.state[out.name] = self.state[node.name]

    def conv(self, node: fx.Node, mod: nn.Conv2d) -> None:
        problem = module_problem(mod)
        if problem:
            raise UnsupportedLayerError(f"{where(node)}: {problem}")
        out = self.out_node(node)
        f = self.compute(node, mod, out)
        c_in = f["in_shape"][0]
        k, cg, kh, kw = f["weight"].shape
        pad = (int(mod.padding[0]), int(mod.padding[1]))
        self.emit(node, ConvLayer(**f, stride=(int(mod.stride[0]), int(mod.stride[1])), padding=pad, groups=int(mod.groups),
                                  kind_name=conv_kind(c_in, int(mod.groups), (kh, kw)),
                                  dilation=(int(mod.dilation[0]), int(mod.dilation[1]))))
        if out is not node:
            self.state[out.name] = self.state[node.name]

    # ---- the nonlinear operations and matmul (golden.transformer) ---------------------------
    def unary(self, node: fx.Node, kind: str) -> None:
        from golden import transformer as tr

        src, s_in, z_in = self.operand(node, _args(node)[0], "input")
        s_out, z_out = self.qp[node.name]
        shape = self.shape(_args(node)[0])
        common: dict[str, Any] = dict(name=self.new_name({"layernorm": "ln"}.get(kind, kind)), inputs=(src,), in_shape=shape,
                                      module=self.module(node), source=node.name, scale_in=s_in, z_in=z_in,
                                      scale_out=s_out, z_out=z_out)
        if kind == "softmax":
            dim = _args(node)[1] if len(_args(node)) > 1 else node.kwargs.get("dim")
            if node.op == "call_module":
                dim = self.gm.get_submodule(str(node.target)).dim
            if dim not in (-1, len(shape)):
                raise UnsupportedLayerError(f"{where(node)}: softmax over dim {dim}; golden's is over the last axis (dim=-1)")
            layer: Layer = tr.SoftmaxLayer.from_float(**common)
        elif kind == "gelu":
            approx = node.kwargs.get("approximate", "none") if node.op != "call_module" else \
                self.gm.get_submodule(str(node.target)).approximate
            if approx != "none":
                raise UnsupportedLayerError(f"{where(node)}: GELU approximate={approx!r}; golden's is the erf GELU")
            layer = tr.GeluLayer.from_float(**common)
        else:
            mod: Any = self.gm.get_submodule(str(node.target))
            if tuple(mod.normalized_shape) != shape[-1:]:
                raise UnsupportedLayerError(f"{where(node)}: LayerNorm over {tuple(mod.normalized_shape)}; golden's is over "
                                            f"the last axis ({shape[-1]})")
            c = shape[-1]
            gamma = mod.weight.detach().double().numpy() if mod.weight is not None else np.ones(c)
            beta = mod.bias.detach().double().numpy() if mod.bias is not None else np.zeros(c)
            layer = tr.LayerNormLayer.from_float(**common, gamma=gamma, beta=beta, eps=float(mod.eps))
        self.emit(node, layer)

    def matmul(self, node: fx.Node) -> None:
        from golden import transformer as tr

        src_a, s_a, z_a = self.operand(node, _args(node)[0], "first operand")
        b = _args(node)[1]
        st = self.state[b.name]
        if st.perm is not None or st.unbind is not None:
            raise UnsupportedLayerError(f"{where(node)}: its second operand has the batch axis moved from the front")
        s_b, z_b = self.qp[b.name]
        if z_b != 128:
            raise UnsupportedLayerError(f"{where(node)}: its second operand's zero point is {z_b}, not 128 (symmetric)")
        shape_b = self.shape(b)
        if st.swap:
            shape_b = (*shape_b[:-2], shape_b[-1], shape_b[-2])
        s_out, z_out = self.qp[node.name]
        self.emit(node, tr.MatmulLayer.from_float(
            name=self.new_name("matmul"), inputs=(src_a, st.src), in_shape=self.shape(_args(node)[0]), in_shape_b=shape_b,
            module=self.module(node), source=node.name, scale_a=s_a, z_a=z_a, scale_b=s_b, z_b=z_b, transpose_b=st.swap,
            scale_out=s_out, z_out=z_out))

    # ---- adds, cat, constants ---------------------------------------------------------------
    def constant(self, node: fx.Node, arg: fx.Node) -> np.ndarray:
        """A constant operand (a parameter, expanded or not) as one sample's float values."""
        v = self.values[arg.name]
        if not isinstance(v, torch.Tensor):
            raise UnsupportedLayerError(f"{where(node)}: a constant operand that is not a tensor")
        v = v.detach().double()
        out_rank = self.values[node.name].dim()
        while v.dim() < out_rank:
            v = v.unsqueeze(0)
        if v.shape[0] > 1 and not bool((v == v[:1]).all()):
            raise UnsupportedLayerError(f"{where(node)}: a constant operand that differs across the batch")
        return v[0].numpy()

    def add(self, node: fx.Node) -> None:
        a_node, b_node = _args(node)[0], _args(node)[1]
        src_a, s_a, z_a = self.operand(node, a_node, "first operand")
        src_b, s_b, z_b = self.operand(node, b_node, "second operand")
        if self.shape(a_node) != self.shape(b_node):
            raise ShapeError(f"{where(node)}: add of shapes {self.shape(a_node)} and {self.shape(b_node)} (no broadcasting)")
        s_out, z_out = self.qp[node.name]
        name = self.new_name("add")
        a0, b0, n = arith.add_params(s_a, s_b, s_out, m0_bits=self.m0_bits, where=f"layer {name}")
        self.emit(node, AddLayer(name=name, inputs=(src_a, src_b), in_shape=self.shape(a_node), out_shape=self.shape(node),
                                 module=self.module(node), source=node.name, z_a=z_a, z_b=z_b, a0=a0, b0=b0, n=n, z_out=z_out,
                                 scale_a=s_a, scale_b=s_b, scale_out=s_out))

    def add_const(self, node: fx.Node) -> None:
        ops = _args(node)[:2]
        act = next(a for a in ops if isinstance(a, fx.Node) and a.name in self.p.data)
        const = next(a for a in ops if a is not act)
        src, s_a, z_a = self.operand(node, act, "activation operand")
        c = self.constant(node, const)
        lo_f, hi_f = min(0.0, float(c.min())), max(0.0, float(c.max()))
        s_c = (hi_f - lo_f) / 255.0 if hi_f > lo_f else 1.0
        z_c = int(np.clip(round(-lo_f / s_c), 0, 255))
        codes = np.clip(np.round(c / s_c) + z_c, 0, 255).astype(np.uint8)
        while codes.ndim > len(self.shape(act)):
            codes = codes[0]
        s_out, z_out = self.qp[node.name]
        name = self.new_name("addc")
        a0, b0, n = arith.add_params(s_a, s_c, s_out, m0_bits=self.m0_bits, where=f"layer {name}")
        self.emit(node, ConstAddLayer(name=name, inputs=(src,), in_shape=self.shape(act), out_shape=self.shape(node),
                                      module=const.name, source=node.name, constant=codes, z_a=z_a, z_b=z_c,
                                      a0=a0, b0=b0, n=n, z_out=z_out, scale_a=s_a, scale_b=s_c, scale_out=s_out))

    def cat(self, node: fx.Node) -> None:
        kw: Any = node.kwargs
        tensors = list(_args(node)[0] if _args(node) else kw["tensors"])
        dim = int(_args(node)[1] if len(_args(node)) > 1 else kw.get("dim", 0))
        rank = self.values[node.name].dim()
        dim = dim + rank if dim < 0 else dim
        if dim == 0:
            raise UnsupportedLayerError(f"{where(node)}: concatenation along the batch axis")
        s_out, z_out = self.qp[node.name]
        inputs: list[str] = []
        pieces: list[int] = []
        consts: list[np.ndarray] = []
        z_ins, m0s, ns, s_ins = [], [], [], []
        name = self.new_name("cat")
        for t in tensors:
            if isinstance(t, fx.Node) and t.name in self.p.data:
                src, s, z = self.operand(node, t, "input")
                pieces.append(len(inputs))
                inputs.append(src)
                z_ins.append(z)
                s_ins.append(s)
                if (s, z) == (s_out, z_out):
                    m0s.append(0)
                    ns.append(0)
                else:
                    m0, n = arith.quantize_multiplier(s / s_out, m0_bits=self.m0_bits, where=f"layer {name}")
                    m0s.append(m0)
                    ns.append(n)
            else:
                c = self.constant(node, t)
                pieces.append(-1 - len(consts))
                consts.append(np.clip(np.round(c / s_out) + z_out, 0, 255).astype(np.uint8))
        self.emit(node, TokenConcatLayer(name=name, inputs=tuple(inputs), in_shape=self.shape(tensors[pieces.index(0)]),
                                         out_shape=self.shape(node), module=self.module(node), source=node.name, axis=dim - 1,
                                         pieces=tuple(pieces), constants=tuple(consts), z_ins=tuple(z_ins), m0s=tuple(m0s),
                                         ns=tuple(ns), z_out=z_out, scale_ins=tuple(s_ins), scale_out=s_out))

    # ---- data movement -----------------------------------------------------------------------
    def move(self, node: fx.Node) -> None:
        x = _args(node)[0]
        st = self.state[x.name]
        v, vin = self.values[node.name], self.values[x.name]
        tgt = node.target if node.op != "call_module" else "flatten"
        name = getattr(tgt, "__name__", str(tgt))
        if name in ("contiguous",):
            self.state[node.name] = st
        elif name in ("view", "reshape", "flatten"):
            if st.perm is not None or st.swap or st.unbind is not None:
                raise UnsupportedLayerError(f"{where(node)}: a reshape of a tensor whose batch axis was moved (or transposed "
                                            "for a matmul): golden reshapes batch-first tensors only")
            if v.shape[0] != vin.shape[0]:
                raise UnsupportedLayerError(f"{where(node)}: a reshape that changes the batch axis ({tuple(vin.shape)} -> "
                                            f"{tuple(v.shape)})")
            if tuple(v.shape) == tuple(vin.shape):
                self.state[node.name] = st
            else:
                self.emit(node, ReshapeLayer(name=self.new_name("reshape"), inputs=(st.src,), in_shape=self.shape(x),
                                             out_shape=self.shape(node), module=self.module(node), source=node.name))
        elif name in ("permute", "transpose"):
            rank = vin.dim()
            kw: Any = node.kwargs
            dims = [a for a in _args(node)[1:]] or list(kw.get("dims", ()))
            if name == "transpose":
                i, j = (int(d) % rank for d in dims[:2])
                order = list(range(rank))
                order[i], order[j] = order[j], order[i]
            else:
                order = [int(d) % rank for d in (dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims)]
            if st.swap or st.unbind is not None:
                raise UnsupportedLayerError(f"{where(node)}: a permute of a transposed matmul operand")
            base = st.perm if st.perm is not None else tuple(range(rank))
            full = tuple(base[o] for o in order)
            swap_last = order == [*range(rank - 2), rank - 1, rank - 2]
            if full == tuple(range(rank)):
                self.state[node.name] = _State(st.src)
            elif st.perm is None and swap_last and rank >= 3 and node.users and all(
                    self.p.kind.get(u.name) == "matmul" and _args(u)[1] is node and _args(u)[0] is not node for u in node.users):
                self.state[node.name] = _State(st.src, swap=True)
            elif full[0] == 0:
                self.emit(node, PermuteLayer(name=self.new_name("permute"), inputs=(st.src,), in_shape=self.shape_of(st.src),
                                             out_shape=self.shape(node), module=self.module(node), source=node.name,
                                             perm=tuple(p - 1 for p in full[1:])))
            else:
                self.state[node.name] = _State(st.src, perm=full)
        elif name == "unbind":
            dim = int(_args(node)[1] if len(_args(node)) > 1 else dict(node.kwargs).get("dim", 0))  # type: ignore[arg-type]
            rank = vin.dim()
            self.state[node.name] = _State(st.src, perm=st.perm if st.perm is not None else tuple(range(rank)),
                                           unbind=dim % rank)
        elif name == "getitem":
            self.getitem(node, st, vin)
        else:  # pragma: no cover - the plan lists the movement nodes
            raise UnsupportedLayerError(f"{where(node)} is not supported by golden/")

    def shape_of(self, layer: str) -> tuple[int, ...]:
        return next(l.out_shape for l in self.layers if l.name == layer) if layer != INPUT else self.input_quant.shape  # type: ignore[union-attr]

    def getitem(self, node: fx.Node, st: _State, vin: Any) -> None:
        idx = _args(node)[1]
        if st.unbind is not None:  # one of an unbind's tensors
            full, d, i = st.perm, st.unbind, int(idx)
        else:
            if st.swap:
                raise UnsupportedLayerError(f"{where(node)}: indexing a transposed matmul operand")
            items = idx if isinstance(idx, tuple) else (idx,)
            ints = [k for k, it in enumerate(items) if isinstance(it, int)]
            if len(ints) != 1 or any(not (isinstance(it, int) or it == slice(None)) for it in items):
                raise UnsupportedLayerError(f"{where(node)}: indexing {idx!r}; golden takes one integer index and full "
                                            "slices (x[:, 0])")
            d, i = ints[0], int(items[ints[0]])
            full = st.perm if st.perm is not None else tuple(range(vin.dim()))
        assert full is not None
        axis = full[d]
        rest = [full[j] for j in range(len(full)) if j != d]
        if axis == 0 or rest[0] != 0:
            raise UnsupportedLayerError(f"{where(node)}: an index that selects along the batch axis or leaves it "
                                        "elsewhere than first")
        size = self.shape_of(st.src)[axis - 1]
        remaining = [a for a in range(1, len(full)) if a != axis]
        perm = tuple(remaining.index(r) for r in rest[1:])
        self.emit(node, SelectLayer(name=self.new_name("select"), inputs=(st.src,), in_shape=self.shape_of(st.src),
                                    out_shape=self.shape(node), module=self.module(node), source=node.name,
                                    axis=axis - 1, index=i % size, perm=perm))

    # ---- the walk --------------------------------------------------------------------------
    def visit(self, node: fx.Node) -> None:
        k = self.p.kind[node.name]
        if k == "output":
            res = _args(node)[0]
            for out in list(res) if isinstance(res, (tuple, list)) else [res]:
                if not isinstance(out, fx.Node) or out.name not in self.p.data:
                    raise UnsupportedLayerError("the model output is not an activation tensor")
                src, s, z = self.operand(node, out, "output")
                if src == INPUT:
                    raise UnsupportedLayerError("the graph has no integer layer before its output")
                self.outputs.append((src, s, z))
            return
        if node.name not in self.p.data:
            return
        if k == "input":
            s, z = self.qp[node.name]
            self.input_quant = InputQuant(s, z, self.shape(node))
            self.state[node.name] = _State(INPUT)
        elif k == "linear":
            self.linear(node, self.gm.get_submodule(str(node.target)))  # type: ignore[arg-type]
        elif k == "conv":
            self.conv(node, self.gm.get_submodule(str(node.target)))  # type: ignore[arg-type]
        elif k in ("layernorm", "softmax", "gelu"):
            self.unary(node, k)
        elif k == "matmul":
            self.matmul(node)
        elif k == "add":
            self.add(node)
        elif k == "add_const":
            self.add_const(node)
        elif k == "cat":
            self.cat(node)
        elif k == "relu":  # folded into the linear / conv before it (plan checked it)
            if node.name not in self.state:
                raise UnsupportedLayerError(f"{where(node)}: a ReLU golden could not fold")
        elif k in ("identity", "mul", "div"):
            x = next(a for a in _args(node) if isinstance(a, fx.Node))
            self.state[node.name] = self.state[x.name]
        elif k == "move":
            self.move(node)
        else:  # pragma: no cover - the plan refused it
            raise UnsupportedLayerError(f"{where(node)} is not supported by golden/")


def extract_transformer(gm: fx.GraphModule, example_input: torch.Tensor, *, bias_mode: str = "int16_shift", m0_bits: int = 16,
                        saturate_policy: str = "warn") -> Network:
    """The Network of a model quantized by golden.transformer_plan.quantize_transformer (see the module doc)."""
    from golden.errors import GoldenError, InputError

    if not isinstance(example_input, torch.Tensor) or not example_input.is_floating_point():
        raise InputError("example_input must be a float torch.Tensor batch [N, ...]")
    p = plan(gm)
    qp = gm.meta[META]["qparams"]
    values = _run(gm, example_input)
    b = _Builder(gm, p, values, qp, bias_mode=bias_mode, m0_bits=m0_bits, saturate_policy=saturate_policy)
    for node in gm.graph.nodes:
        try:
            with torch_quiet():
                b.visit(node)
        except GoldenError:
            raise
        except Exception as exc:  # an unexpected shape of graph: name where it happened
            raise UnsupportedLayerError(f"{where(node)}: {type(exc).__name__}: {' '.join(str(exc).split())}") from exc
    assert b.input_quant is not None
    (name, scale, zp), *extra = b.outputs
    return Network(layers=tuple(b.layers), input_quant=b.input_quant, output_name=name, output_scale=scale,
                   output_zero_point=zp, bias_mode=bias_mode, m0_bits=m0_bits, saturations=dict(b.saturations),
                   extra_outputs=tuple(extra))
