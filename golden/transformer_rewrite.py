"""PyTorch's transformer modules rewritten as traceable ones built from the same weights.

torch.fx cannot trace nn.TransformerEncoder, nn.TransformerEncoderLayer or nn.MultiheadAttention as
they stand (their forwards branch on tensor properties and call fused kernels). rewrite() replaces
each (in a copy) by a module of this file computing the same function from the same parameters, in
the timm style golden.graph_transformer extracts:
- MultiheadAttention -> Attention: in_proj_weight / in_proj_bias split into q, k, v Linears (or
  q_proj_weight, k_proj_weight, v_proj_weight when kdim / vdim differ), out_proj; per head
  softmax(q k^T * head_dim^-0.5) v; it returns (output, None): the attention weights are not given;
- TransformerEncoderLayer -> EncoderLayer: norm_first True (pre-norm) or False (post-norm),
  activation relu or gelu (the strings, F.relu / F.gelu, nn.ReLU / nn.GELU), dropout off (eval);
- TransformerEncoder -> Encoder: its layers and its final norm.
batch_first=False modules take [T, N, C] as PyTorch's do: they transpose to [N, T, C] at their
entry and back at their exit (an Encoder once, its layers then work batch first).
Masks (attn_mask, src_mask, key padding masks, is_causal), bias_k / bias_v and add_zero_attn are
not supported: one line naming the module. tests/test_golden_transformer.py checks every rewrite
equal in float to the original on random input.
"""
from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from golden.errors import UnsupportedLayerError


class Attention(nn.Module):
    """Multi-head attention from separate q, k, v projections, batch first [N, T, C]."""

    def __init__(self, q: nn.Linear, k: nn.Linear, v: nn.Linear, proj: nn.Linear, num_heads: int, batch_first: bool) -> None:
        super().__init__()
        self.q, self.k, self.v, self.proj = q, k, v, proj
        self.num_heads = num_heads
        self.head_dim = q.out_features // num_heads
        self.scale = self.head_dim ** -0.5
        self.batch_first = batch_first

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[torch.Tensor, None]:
        if not self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        b, t, _ = query.shape
        s = key.shape[1]
        q = self.q(query).reshape(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k(key).reshape(b, s, self.num_heads, self.head_dim).transpose(1, 2)
        v = self.v(value).reshape(b, s, self.num_heads, self.head_dim).transpose(1, 2)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(b, t, self.num_heads * self.head_dim)
        x = self.proj(x)
        return (x if self.batch_first else x.transpose(0, 1)), None


class EncoderLayer(nn.Module):
    """nn.TransformerEncoderLayer's function (eval mode), batch first inside."""

    def __init__(self, attn: Attention, linear1: nn.Linear, linear2: nn.Linear, norm1: nn.LayerNorm, norm2: nn.LayerNorm,
                 activation: nn.Module, norm_first: bool, batch_first: bool) -> None:
        super().__init__()
        self.self_attn, self.linear1, self.linear2 = attn, linear1, linear2
        self.norm1, self.norm2, self.activation = norm1, norm2, activation
        self.norm_first, self.batch_first = norm_first, batch_first

    def _sa(self, x: torch.Tensor) -> torch.Tensor:
        return self.self_attn(x, x, x)[0]

    def _ff(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.activation(self.linear1(x)))

    def forward(self, src: torch.Tensor, src_mask: Any = None, src_key_padding_mask: Any = None, is_causal: bool = False) -> torch.Tensor:
        x = src if self.batch_first else src.transpose(0, 1)
        if self.norm_first:
            x = x + self._sa(self.norm1(x))
            x = x + self._ff(self.norm2(x))
        else:
            x = self.norm1(x + self._sa(x))
            x = self.norm2(x + self._ff(x))
        return x if self.batch_first else x.transpose(0, 1)


class Encoder(nn.Module):
    """nn.TransformerEncoder's function (eval mode): its layers, then its norm (if any)."""

    def __init__(self, layers: list[EncoderLayer], norm: nn.Module | None, batch_first: bool) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.norm = norm
        self.batch_first = batch_first

    def forward(self, src: torch.Tensor, mask: Any = None, src_key_padding_mask: Any = None, is_causal: Any = None) -> torch.Tensor:
        x = src if self.batch_first else src.transpose(0, 1)
        for layer in self.layers:
            x = layer(x)
        if self.norm is not None:
            x = self.norm(x)
        return x if self.batch_first else x.transpose(0, 1)


def _linear(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Linear:
    lin = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        lin.weight.copy_(weight)
        if bias is not None:
            lin.bias.copy_(bias)
    return lin


def attention(name: str, mha: nn.MultiheadAttention, batch_first: bool | None = None) -> Attention:
    """The traceable Attention of an nn.MultiheadAttention (batch_first: override the module's)."""
    if mha.bias_k is not None or mha.add_zero_attn:
        raise UnsupportedLayerError(f"module {name!r} (MultiheadAttention): bias_k / bias_v / add_zero_attn are not supported by golden/")
    c = mha.embed_dim
    if mha._qkv_same_embed_dim:
        wq, wk, wv = mha.in_proj_weight.detach().split(c)
    else:
        wq, wk, wv = mha.q_proj_weight.detach(), mha.k_proj_weight.detach(), mha.v_proj_weight.detach()
    bq, bk, bv = mha.in_proj_bias.detach().split(c) if mha.in_proj_bias is not None else (None, None, None)
    out = mha.out_proj
    return Attention(_linear(wq, bq), _linear(wk, bk), _linear(wv, bv), _linear(out.weight.detach(), out.bias),
                     mha.num_heads, mha.batch_first if batch_first is None else batch_first)


def _activation(name: str, layer: nn.TransformerEncoderLayer) -> nn.Module:
    act: Any = layer.activation
    if act in (F.relu, torch.relu) or isinstance(act, nn.ReLU):
        return nn.ReLU()
    if act is F.gelu or (isinstance(act, nn.GELU) and act.approximate == "none"):
        return nn.GELU()
    what = getattr(act, "__name__", type(act).__name__)
    raise UnsupportedLayerError(f"module {name!r} (TransformerEncoderLayer): activation {what} is not supported by golden/ (relu or gelu)")


def encoder_layer(name: str, layer: nn.TransformerEncoderLayer, batch_first: bool | None = None) -> EncoderLayer:
    bf = layer.self_attn.batch_first if batch_first is None else batch_first
    return EncoderLayer(attention(f"{name}.self_attn", layer.self_attn, batch_first=True), copy.deepcopy(layer.linear1),
                        copy.deepcopy(layer.linear2), copy.deepcopy(layer.norm1), copy.deepcopy(layer.norm2),
                        _activation(name, layer), bool(layer.norm_first), bf)


def encoder(name: str, enc: nn.TransformerEncoder) -> Encoder:
    layers = list(enc.layers)
    bf = bool(layers[0].self_attn.batch_first) if layers else True
    if any(bool(l.self_attn.batch_first) != bf for l in layers):
        raise UnsupportedLayerError(f"module {name!r} (TransformerEncoder): its layers mix batch_first True and False")
    return Encoder([encoder_layer(f"{name}.layers.{i}", l, batch_first=True) for i, l in enumerate(layers)],
                   copy.deepcopy(enc.norm), bf)


_REWRITES: dict[type, Any] = {nn.TransformerEncoder: encoder, nn.TransformerEncoderLayer: encoder_layer,
                              nn.MultiheadAttention: attention}
#: PyTorch modules with no traceable rewrite: refused by name.
UNSUPPORTED = (nn.TransformerDecoder, nn.TransformerDecoderLayer, nn.Transformer)


def needs_rewrite(model: nn.Module) -> bool:
    return any(isinstance(m, (*_REWRITES, *UNSUPPORTED)) for m in model.modules())


def rewrite(model: nn.Module) -> nn.Module:
    """A copy of `model` (eval mode) with every PyTorch transformer module replaced (see the module
    doc); the model itself when it has none. The user's model is not modified."""
    if not needs_rewrite(model):
        return model
    model = copy.deepcopy(model).eval()
    if isinstance(model, tuple(_REWRITES)):  # the model is one of them
        return _REWRITES[type(model)]("", model).eval()
    _replace(model, "")
    return model.eval()


def _replace(parent: nn.Module, prefix: str) -> None:
    for child_name, child in list(parent.named_children()):
        path = f"{prefix}.{child_name}" if prefix else child_name
        if isinstance(child, UNSUPPORTED):
            raise UnsupportedLayerError(f"module {path!r} ({type(child).__name__}) is not supported by golden/ (encoders only)")
        fn = _REWRITES.get(type(child))
        if fn is not None:
            setattr(parent, child_name, fn(path, child))
        else:
            _replace(child, path)
