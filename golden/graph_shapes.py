"""Extraction of the layers that move codes without weights: concatenation along channels
(torch.cat, dim 1) and nearest upsampling (F.interpolate, mode 'nearest'; golden.ptq calls
nn.Upsample, torch.concat and torch.concatenate so before FX prepares the model).

Both take a golden.graph builder (its qtensor / out_q / new_name / add) and a node of the
converted graph, and add one record (golden.layers.ConcatLayer, UpsampleLayer) or refuse in one
line naming the node. Kept apart from golden.graph, which holds the conv / fc / add / pool walk.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import fx

from golden import arith
from golden.errors import UnsupportedLayerError
from golden.layers import ConcatLayer, UpsampleLayer
from golden.support import function_problem
from golden.widths import act_qmax

if TYPE_CHECKING:
    from golden.graph import _Builder


def _qparams(t: Any) -> tuple[float, int]:
    return float(t.q_scale()), int(t.q_zero_point())


def concat(b: "_Builder", node: fx.Node) -> None:
    """torch.cat along channels: each input whose qparams are the output's is copied (FX's default:
    cat's inputs share its observer); any other is requantized to them with its own M0 * 2^-n =
    S_in / S_out (arith.requantize_codes; an input read by two cats can keep its own qparams)."""
    tensors = node.args[0]
    if not isinstance(tensors, (list, tuple)):
        raise UnsupportedLayerError(f"{b.where(node)}: the tensors it concatenates are not a list golden can read")
    out = b.out_q(node)
    problem = function_problem(node, rank=out.dim())
    if problem:
        raise UnsupportedLayerError(f"{b.where(node)}: {problem}")
    if len(tensors) < 2:
        raise UnsupportedLayerError(f"{b.where(node)}: a concatenation of {len(tensors)} tensor(s); golden concatenates 2 or more")
    ins = [b.qtensor(node, t, f"input {i}") for i, t in enumerate(tensors)]
    name = b.new_name("concat")
    s_out, z_out = _qparams(out)
    a_bits = max(b.a_bits_of[src] for src, _ in ins)  # the codes of every input fit the output's
    b.check_zero_point(name, z_out, a_bits)
    m0s, ns = [], []
    for i, (src, v) in enumerate(ins):
        if _qparams(v) == (s_out, z_out):
            m0, n = 0, 0  # a copy
        else:
            m0, n = arith.quantize_multiplier(_qparams(v)[0] / s_out, m0_bits=b.m0_bits, where=f"layer {name} input {i} ({src})")
        m0s.append(m0)
        ns.append(n)
    layer = ConcatLayer(
        name=name, inputs=tuple(src for src, _ in ins), in_shape=tuple(int(d) for d in ins[0][1].shape[1:]),
        out_shape=tuple(int(d) for d in out.shape[1:]), module=node.name, source=node.name,
        channels=tuple(int(v.shape[1]) for _, v in ins), z_ins=tuple(_qparams(v)[1] for _, v in ins),
        m0s=tuple(m0s), ns=tuple(ns), z_out=z_out, lo=0, hi=act_qmax(a_bits),
        scale_ins=tuple(_qparams(v)[0] for _, v in ins), scale_out=s_out,
    )
    b.add(node, layer, a_bits)


def upsample(b: "_Builder", node: fx.Node) -> None:
    """F.interpolate, mode 'nearest', by whole factors per axis (scale_factor, or a size that is a
    whole multiple of the input's): the codes copied (PyTorch's quantized interpolate keeps its
    input's qparams; a graph where they differ is refused, not requantized)."""
    src, xin = b.qtensor(node, node.args[0], "input")
    out = b.out_q(node)
    problem = function_problem(node)
    if problem:
        raise UnsupportedLayerError(f"{b.where(node)}: {problem}")
    if xin.dim() != 4:
        raise UnsupportedLayerError(f"{b.where(node)}: upsampling of a {xin.dim()}-D tensor; golden upsamples images [N, C, H, W]")
    (h, w), (oh, ow) = (int(d) for d in xin.shape[2:]), (int(d) for d in out.shape[2:])
    if oh % h or ow % w:
        raise UnsupportedLayerError(f"{b.where(node)}: upsampling {h}x{w} to {oh}x{ow} is not by whole factors per axis; "
                                    "golden upsamples by 2, 3, ... only")
    if _qparams(out) != _qparams(xin):
        raise UnsupportedLayerError(f"{b.where(node)}: nearest upsampling with output qparams {_qparams(out)} other than its "
                                    f"input's {_qparams(xin)}; golden copies the codes")
    layer = UpsampleLayer(
        name=b.new_name("upsample"), inputs=(src,), in_shape=tuple(int(d) for d in xin.shape[1:]),
        out_shape=tuple(int(d) for d in out.shape[1:]), module=node.name, source=node.name, scale=(oh // h, ow // w),
    )
    b.add(node, layer, b.a_bits_of[src])  # a copy keeps its input's width
