"""What golden/ can evaluate, written once, and the checks quantize() runs on a float model.

quantize() checks the user's float model and calibration batch before FX quantization, so that a
model golden/ cannot evaluate, or input it cannot calibrate on, is refused with one message naming
the module (and its type) instead of a PyTorch error from deep inside FX or an observer:

- the calibration batch: a float tensor [N, ...] with N >= 1 and only finite values, of a shape
  the float model accepts (the model is run on one sample);
- every parameter and buffer of the model is finite;
- every module FX keeps as a leaf, and every function and method the forward calls, is one
  golden/ evaluates (SUPPORTED_MODULES, SUPPORTED_FUNCTIONS, SUPPORTED_METHODS); batch norm only
  directly after a conv that FX folds it into; conv / pool / upsampling options golden/ supports
  (module_problem(), which extract() applies to the quantized modules as well); concatenation
  along channels and nearest upsampling by whole factors (function_problem(), extract() too).
"""
from __future__ import annotations

import math
import operator
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from golden.errors import InputError, UnsupportedLayerError

#: Float modules golden/ evaluates, and what each becomes.
SUPPORTED_MODULES: dict[type[nn.Module], str] = {
    nn.Conv2d: "conv (normal, depthwise, grouped, pointwise)",
    nn.Linear: "fully connected",
    nn.BatchNorm2d: "folded into the conv right before it",
    nn.ReLU: "folded into the clamp bounds of the layer before it",
    nn.ReLU6: "folded into the clamp bounds of the layer before it",
    nn.Hardtanh: "folded into the clamp bounds of the layer before it",
    nn.MaxPool2d: "max pool",
    nn.AvgPool2d: "average pool",
    nn.AdaptiveAvgPool2d: "global average pool (output 1x1)",
    nn.Flatten: "flatten",
    nn.Dropout: "identity (eval mode)",
    nn.Identity: "identity",
    nn.ZeroPad2d: "zero padding, folded into the conv it feeds (TF 'SAME' padding: top/bottom, left/right may differ)",
    nn.Upsample: "nearest upsampling by whole factors per axis (mode 'nearest')",
}

#: Functions a float model's forward may call (operands of a residual add, ReLU, flatten; the
#: functional conv/fc FX makes of a bare nn.Conv2d / nn.Linear; shape helpers, left to extract()).
SUPPORTED_FUNCTIONS: frozenset[Any] = frozenset({
    operator.add, operator.iadd, torch.add, torch.relu, torch.relu_, F.relu, F.relu6, F.hardtanh, torch.clamp, torch.flatten,
    F.linear, F.conv2d, F.pad, getattr, operator.getitem, F.interpolate, torch.cat, torch.concat, torch.concatenate,
})

#: The names of concatenation (torch.concat and torch.concatenate are torch.cat: golden.ptq calls
#: them so before FX prepares the model).
CAT_FUNCTIONS: frozenset[Any] = frozenset({torch.cat, torch.concat, torch.concatenate})

#: Tensor methods a float model's forward may call.
SUPPORTED_METHODS: frozenset[str] = frozenset({
    "add", "add_", "relu", "relu_", "clamp", "flatten", "view", "reshape", "size", "dim",
})


def describe(name: str, mod: nn.Module) -> str:
    """`module 'features.0' (Conv2d)`, or `the model (Conv2d)` for the root."""
    return f"module {name!r} ({type(mod).__name__})" if name else f"the model ({type(mod).__name__})"


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def module_problem(mod: Any) -> str | None:
    """Why golden/ cannot evaluate this conv or pool (float or quantized module), or None.

    The one place the conv and pooling options golden/ supports are written down."""
    if hasattr(mod, "dilation") and hasattr(mod, "groups"):  # a conv
        if getattr(mod, "padding_mode", "zeros") != "zeros":
            return f"padding_mode={mod.padding_mode!r}; only zero padding is supported"
        if isinstance(mod.padding, str):
            return f"padding={mod.padding!r}; give explicit padding"
        return None
    if isinstance(mod, nn.MaxPool2d):
        if _pair(mod.dilation) != (1, 1) or mod.ceil_mode:
            return "max pool with dilation or ceil_mode is not supported"
    elif isinstance(mod, nn.AdaptiveAvgPool2d):
        osz = mod.output_size
        if _pair(osz if osz is not None else 1) != (1, 1):
            return f"adaptive average pool to {osz} (only global, output 1x1, is supported)"
    elif isinstance(mod, nn.AvgPool2d):
        if _pair(mod.padding) != (0, 0) or mod.ceil_mode or mod.divisor_override:
            return "average pool with padding, ceil_mode or divisor_override is not supported"
    elif isinstance(mod, nn.Upsample):
        return upsample_problem(mod.mode, mod.align_corners, mod.scale_factor)
    return None


#: F.interpolate's parameters after its input, with their defaults.
_INTERPOLATE_ARGS = (("size", None), ("scale_factor", None), ("mode", "nearest"), ("align_corners", None),
                     ("recompute_scale_factor", None), ("antialias", False))


def interpolate_args(node: fx.Node) -> dict[str, Any]:
    """The arguments of an F.interpolate node (given by position or keyword, or the defaults)."""
    return {k: node.args[i + 1] if len(node.args) > i + 1 else node.kwargs.get(k, d) for i, (k, d) in enumerate(_INTERPOLATE_ARGS)}


def whole_factors(scale_factor: Any) -> bool:
    """A scale_factor that is a whole number >= 1 per axis (2, 2.0, (2, 3))."""
    factors = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor, scale_factor)
    return len(factors) == 2 and all(isinstance(f, (int, float)) and not isinstance(f, bool) and f >= 1 and float(f).is_integer()
                                     for f in factors)


def upsample_problem(mode: Any, align_corners: Any, scale_factor: Any, antialias: Any = False) -> str | None:
    """Why golden cannot evaluate this upsampling (nn.Upsample or F.interpolate), or None: the one
    place what it supports is written down (nearest, whole factors per axis; a size= is checked
    against the input's shape by extract)."""
    if mode != "nearest":
        return f"mode={mode!r}; golden upsamples by nearest neighbour only (mode='nearest')"
    if align_corners or antialias:
        return f"{'align_corners' if align_corners else 'antialias'}=True; golden upsamples by nearest neighbour only"
    if scale_factor is not None and not whole_factors(scale_factor):
        return f"scale_factor={scale_factor!r}; golden upsamples by whole factors (2, 3, ...) per axis only"
    return None


def cat_dim(node: fx.Node) -> Any:
    """The dim of a concatenation node (`dim`, or torch.concatenate's `axis`; 0 when not given, as
    torch.cat's default)."""
    return node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", node.kwargs.get("axis", 0))


def function_problem(node: fx.Node, rank: int | None = None) -> str | None:
    """Why golden cannot evaluate this concatenation or interpolation node, or None. rank: the
    input's number of dims, when known (a negative cat dim is then checked too)."""
    if node.target in CAT_FUNCTIONS:
        dim = cat_dim(node)
        channels = dim == 1 or (rank is not None and isinstance(dim, int) and dim == 1 - rank)
        if not channels and not (rank is None and isinstance(dim, int) and dim < 0):
            return f"concatenation along dim {dim!r}; golden concatenates along channels only (dim=1)"
        return None
    if node.target is F.interpolate:
        a = interpolate_args(node)
        return upsample_problem(a["mode"], a["align_corners"], a["scale_factor"], a["antialias"])
    return None


def check_finite_parameters(model: nn.Module) -> None:
    """Every float parameter and buffer finite; the error names the module and the tensor."""
    for name, mod in model.named_modules():
        tensors = [*mod.named_parameters(recurse=False), *mod.named_buffers(recurse=False)]
        for tname, t in tensors:
            if t is None or not t.is_floating_point():
                continue
            bad = _non_finite(t.detach())
            if bad:
                raise InputError(f"{describe(name, mod)}: {tname} holds {bad} (of {t.numel()} values)")


def _non_finite(t: torch.Tensor) -> str:
    """'' if every value is finite, else e.g. '2 NaN and 1 Inf'."""
    if bool(torch.isfinite(t).all()):
        return ""
    nan = int(torch.isnan(t).sum())
    inf = int(torch.isinf(t).sum())
    return " and ".join(p for p in (f"{nan} NaN" if nan else "", f"{inf} Inf" if inf else "") if p)


def check_calibration_batch(batch: Any) -> None:
    """A float tensor [N, ...], N >= 1, only finite values."""
    if not isinstance(batch, torch.Tensor):
        raise InputError(f"calibration_batch must be a torch.Tensor, got {type(batch).__name__}")
    if not batch.is_floating_point() or batch.dim() < 2:
        raise InputError(
            f"calibration_batch must be a float batch [N, ...], got dtype {batch.dtype} shape {tuple(batch.shape)}"
        )
    if batch.shape[0] == 0:
        raise InputError(f"calibration_batch is empty (shape {tuple(batch.shape)}); give at least one sample")
    bad = _non_finite(batch)
    if bad:
        first = int((~torch.isfinite(batch)).reshape(batch.shape[0], -1).any(1).nonzero()[0, 0])
        raise InputError(f"calibration_batch holds {bad} values (first in sample {first}); every value must be finite")


def trace_float(model: nn.Module) -> fx.GraphModule | None:
    """FX's symbolic trace of the float model, or None when it cannot be traced (prepare_fx then
    reports why)."""
    try:
        return fx.symbolic_trace(model)
    except Exception:
        return None


def _where(model: nn.Module, node: fx.Node) -> str:
    """`in module 'blk' (Block)`, from the module stack FX records, or the root's forward."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return f" in the forward of the model ({type(model).__name__})"
    path, cls = list(stack.values())[-1]
    return f" in module {path!r} ({getattr(cls, '__name__', cls)})"


def _supported_list() -> str:
    return ", ".join(t.__name__ for t in SUPPORTED_MODULES)


def clamp_args(node: fx.Node) -> tuple[float, float] | None:
    """The float bounds of a hardtanh or clamp call (F.hardtanh(x, min_val=-1, max_val=1),
    torch.clamp(x, min, max), x.clamp(min, max); a bound left out or None is -inf / inf), or None
    when it is not one or a bound is not a number (a tensor bound is no clamp golden folds)."""
    hardtanh = node.op == "call_function" and node.target is torch.nn.functional.hardtanh
    clamp = (node.op == "call_function" and node.target is torch.clamp) or (node.op == "call_method" and node.target == "clamp")
    if not (hardtanh or clamp):
        return None
    names = ("min_val", "max_val") if hardtanh else ("min", "max")
    default = (-1.0, 1.0) if hardtanh else (None, None)
    bounds = []
    for i, (key, dflt) in enumerate(zip(names, default)):
        v = node.args[i + 1] if len(node.args) > i + 1 else node.kwargs.get(key, dflt)
        if v is None:
            v = -math.inf if i == 0 else math.inf
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        bounds.append(float(v))
    return bounds[0], bounds[1]


def check_supported(model: nn.Module, gm: fx.GraphModule | None) -> None:
    """Refuse, naming the module and its type, what golden/ cannot evaluate (see the module doc)."""
    if _torch_leaf(model):  # a bare nn.Conv2d, nn.Linear, ...: FX traces its forward as functions
        _check_module("", model)
        if isinstance(model, nn.BatchNorm2d):
            raise UnsupportedLayerError(
                f"{describe('', model)} is an unfused batch norm; golden/ supports batch norm only folded "
                "into the Conv2d right before it"
            )
    if gm is None:
        return
    for node in gm.graph.nodes:
        if node.op == "call_module":
            name = str(node.target)
            mod = gm.get_submodule(name)
            _check_module(name, mod)
            if isinstance(mod, nn.BatchNorm2d):
                _check_batchnorm_fuses(gm, node, name, mod)
        elif node.op == "call_function" and node.target not in SUPPORTED_FUNCTIONS:
            fname = getattr(node.target, "__name__", str(node.target))
            raise UnsupportedLayerError(
                f"function {fname} (FX node {node.name}){_where(model, node)} is not supported by golden/"
            )
        elif node.op == "call_method" and node.target not in SUPPORTED_METHODS:
            raise UnsupportedLayerError(
                f"method .{node.target}() (FX node {node.name}){_where(model, node)} is not supported by golden/"
            )
        elif node.op == "call_function" and (problem := function_problem(node)):
            fname = getattr(node.target, "__name__", str(node.target))
            raise UnsupportedLayerError(f"function {fname} (FX node {node.name}){_where(model, node)}: {problem}")
        if (node.op == "call_function" and node.target in (F.hardtanh, torch.clamp)) or (node.op == "call_method" and node.target == "clamp"):
            bounds = clamp_args(node)
            if bounds is None:
                raise UnsupportedLayerError(f"clamp (FX node {node.name}){_where(model, node)}: its bounds are not numbers; "
                                            "golden folds constant bounds into the layer before it")
            if math.isinf(bounds[0]) or math.isinf(bounds[1]):
                raise UnsupportedLayerError(f"clamp (FX node {node.name}){_where(model, node)} has one bound: PyTorch's "
                                            "quantized clamp needs both (give min and max)")


def _torch_leaf(mod: nn.Module) -> bool:
    """FX's default rule: torch.nn modules other than containers are leaves (not traced through)."""
    return type(mod).__module__.startswith(("torch.nn", "torch.ao.nn")) and not isinstance(
        mod, (nn.Sequential, nn.ModuleList, nn.ModuleDict)
    )


def _check_module(name: str, mod: nn.Module) -> None:
    if not isinstance(mod, tuple(SUPPORTED_MODULES)):
        raise UnsupportedLayerError(
            f"{describe(name, mod)} is not supported by golden/ (supported modules: {_supported_list()})"
        )
    problem = module_problem(mod)
    if problem:
        raise UnsupportedLayerError(f"{describe(name, mod)}: {problem}")


def _check_batchnorm_fuses(gm: fx.GraphModule, node: fx.Node, name: str, mod: nn.Module) -> None:
    """FX folds a BatchNorm2d into the conv right before it when the BN is that conv's only user."""
    arg = node.args[0] if node.args else None
    if not isinstance(arg, fx.Node):
        src = "a constant"
    elif arg.op == "placeholder":
        src = "the model input"
    elif arg.op == "call_module":
        prev = gm.get_submodule(str(arg.target))
        if isinstance(prev, nn.Conv2d):
            if len(arg.users) == 1:
                return
            raise UnsupportedLayerError(
                f"{describe(name, mod)} is an unfused batch norm: the output of {describe(str(arg.target), prev)} "
                "before it is also read elsewhere, so FX cannot fold the batch norm into it"
            )
        src = describe(str(arg.target), prev)
    else:
        src = f"FX node {arg.name} ({arg.op} {getattr(arg.target, '__name__', arg.target)})"
    raise UnsupportedLayerError(
        f"{describe(name, mod)} is an unfused batch norm: it reads {src}, not a conv; golden/ supports "
        "batch norm only folded into the Conv2d right before it"
    )


def check_model_accepts(model: nn.Module, gm: fx.GraphModule | None, batch: torch.Tensor) -> None:
    """Run the float model on one sample; a shape error names the model's first layer and the
    input it expects."""
    dtypes = {p.dtype for p in model.parameters() if p.is_floating_point()}
    if dtypes and batch.dtype not in dtypes:
        raise InputError(
            f"calibration_batch is {batch.dtype}, the model's parameters are "
            f"{', '.join(sorted(map(str, dtypes)))}; convert the batch (e.g. batch.float())"
        )
    try:
        with torch.no_grad():
            model(batch[:1])
    except Exception as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"calibration_batch of shape {tuple(batch.shape)} does not fit the model{_expects(model, gm)}: "
            f"running one sample raised {type(exc).__name__}: {text}"
        ) from exc


def _expects(model: nn.Module, gm: fx.GraphModule | None) -> str:
    """'; its first conv/fc layer, module '0' (Conv2d), takes [N, 3, H, W]' where it can be told."""
    if _torch_leaf(model):
        candidates: list[tuple[str, nn.Module]] = [("", model)]
    elif gm is not None:
        candidates = [(str(n.target), gm.get_submodule(str(n.target))) for n in gm.graph.nodes if n.op == "call_module"]
    else:
        candidates = list(model.named_modules())
    for name, mod in candidates:
        if isinstance(mod, nn.Conv2d):
            return f"; its first conv/fc layer, {describe(name, mod)}, takes [N, {mod.in_channels}, H, W]"
        if isinstance(mod, nn.Linear):
            return f"; its first conv/fc layer, {describe(name, mod)}, takes {mod.in_features} input features"
    return ""
