"""DeiT-tiny (a ViT-Ti/16) at 3x224x224, written timm-style, with deterministic generated weights.

Shapes as DeiT-tiny's: patch embedding a 16x16 stride-16 conv 3 -> 192 (14 x 14 = 196 patches),
`.flatten(2).transpose(1, 2)` to tokens [N, 196, 192], a class token concatenated in front (197
tokens), a learned position embedding added; 12 pre-norm blocks (x + attn(norm1(x)), then x +
mlp(norm2(x))), 3 heads of 64, attention as timm writes it (a fused qkv Linear 192 -> 576,
`.reshape(B, N, 3, H, D).permute(2, 0, 3, 1, 4)`, `.unbind(0)`, `(q @ k.transpose(-2, -1)) *
scale`, `.softmax(dim=-1)`, `(attn @ v).transpose(1, 2).reshape(B, N, C)`, proj 192 -> 192), MLP
192 -> 768 -> 192 with GELU; a final LayerNorm (eps 1e-6), the class token x[:, 0] and a head
192 -> 1000. 5.7 M parameters, 1.26 G MACs per image.

No weights are downloaded, so they are generated (`generate`, seeded) with the spreads of a trained
ViT: LayerNorm gains 1 + N(0, 0.1) and biases N(0, 0.05); q and k projections scaled so the
attention logits q.k / 8 have a spread of about 2 (attention far from uniform: a row's largest
weight is typically several times its mean); v, proj, fc1 and fc2 at 1/sqrt(fan in) with the
residual branches (proj, fc2) halved so the residual stream grows slowly over 12 blocks; class
token N(0, 0.5), position embedding N(0, 0.2), patch embedding at unit output spread on the
calibration images. Calibration: 8 synthetic images (golden.models.mobilenetv2_224.calibration_images
at 224, normalised with ImageNet's mean and std as DeiT's preprocessing).

A user's trained weights load with `load(path)` from a state_dict file of timm's
`deit_tiny_patch16_224` (its names are this module's: `patch_embed.proj`, `cls_token`, `pos_embed`,
`blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}`, `norm`, `head`) or of Hugging
Face's facebook/deit-tiny-patch16-224, which is stored as a `ViTForImageClassification` (prefix
`vit.`; tests/test_golden_deit_hf.py checks the mapping against Hugging Face's own ViT), mapped by
`from_hf` (the same names under `deit.` are taken too):
    embeddings.cls_token                                 -> cls_token
    embeddings.position_embeddings                       -> pos_embed
    embeddings.patch_embeddings.projection               -> patch_embed.proj
    encoder.layer.N.layernorm_before                     -> blocks.N.norm1
    encoder.layer.N.attention.attention.{query,key,value} -> blocks.N.attn.qkv (rows q, k, v, concatenated)
    encoder.layer.N.attention.output.dense               -> blocks.N.attn.proj
    encoder.layer.N.layernorm_after                      -> blocks.N.norm2
    encoder.layer.N.intermediate.dense                   -> blocks.N.mlp.fc1
    encoder.layer.N.output.dense                         -> blocks.N.mlp.fc2
    layernorm                                            -> norm
    classifier (outside the prefix)                      -> head
(a `module.` prefix, as DistributedDataParallel saves, is dropped). Hugging Face's DeiT config has
layer_norm_eps 1e-12 where timm's is 1e-6: `load(path, eps=1e-12)` for a faithful float model
(the difference is far below one int8 step). The distilled DeiT (a second, distillation token and
head: timm's `dist_token`, and every Hugging Face `DeiTModel`, whose embeddings always hold one) is
refused with one message.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from golden.errors import ModelLoadError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.num_heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    """timm's VisionTransformer (class token, learned position embedding, pre-norm blocks)."""

    def __init__(self, size: int = 224, patch: int = 16, dim: int = 192, depth: int = 12, heads: int = 3,
                 mlp_ratio: int = 4, num_classes: int = 1000, eps: float = 1e-6) -> None:
        super().__init__()
        self.input_shape = (3, size, size)
        tokens = (size // patch) ** 2 + 1
        self.patch_embed = PatchEmbed(patch, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens, dim))
        self.blocks = nn.Sequential(*(Block(dim, heads, dim * mlp_ratio, eps) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = x + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def deit_tiny(eps: float = 1e-6) -> VisionTransformer:
    return VisionTransformer(224, 16, 192, 12, 3, 4, 1000, eps)


def calibration_images(n: int, seed: int = 1, size: int = 224) -> torch.Tensor:
    """n synthetic images (smooth random fields, seeded), normalised as DeiT's preprocessing."""
    from golden.models.mobilenetv2_224 import calibration_images as fields

    mean = torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
    return (fields(n, seed, size) - mean) / std


@torch.no_grad()
def generate_weights(model: VisionTransformer, x: torch.Tensor, seed: int = 0, qk_gain: float = 1.5) -> VisionTransformer:
    """`model` with its weights drawn from `seed` (see the module docstring); x: calibration images."""
    g = torch.Generator().manual_seed(seed)

    def normal(*shape: int, std: float) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * std

    def linear(lin: nn.Linear, gain: float = 1.0, bias: float = 0.02) -> None:
        lin.weight.copy_(normal(*lin.weight.shape, std=gain / lin.in_features ** 0.5))
        lin.bias.copy_(normal(lin.out_features, std=bias))

    def norm(ln: nn.LayerNorm) -> None:
        ln.weight.copy_(1 + normal(ln.weight.numel(), std=0.1))
        ln.bias.copy_(normal(ln.bias.numel(), std=0.05))

    conv: Any = model.patch_embed.proj
    conv.weight.copy_(normal(*conv.weight.shape, std=1.0))
    conv.bias.zero_()
    spread = conv(x[:8]).std(dim=(0, 2, 3))  # each channel to a unit spread on the images
    conv.weight.div_(spread.reshape(-1, 1, 1, 1))
    conv.bias.copy_(normal(conv.out_channels, std=0.1))
    model.cls_token.copy_(normal(*model.cls_token.shape, std=0.5))
    model.pos_embed.copy_(normal(*model.pos_embed.shape, std=0.2))
    blocks: list[Any] = list(model.blocks)
    for blk in blocks:
        norm(blk.norm1)
        norm(blk.norm2)
        c = blk.attn.proj.in_features
        linear(blk.attn.qkv)
        blk.attn.qkv.weight[: 2 * c].mul_(qk_gain)  # q and k: logits with a spread, attention not uniform
        linear(blk.attn.proj, 0.5)
        linear(blk.mlp.fc1, 1.0, 0.1)
        linear(blk.mlp.fc2, 0.5)
    norm(model.norm)
    linear(model.head, 1.0, 0.1)
    return model.eval()


def generate(seed: int = 0, calibration: torch.Tensor | None = None) -> VisionTransformer:
    x = calibration_images(8, seed + 1) if calibration is None else calibration
    return generate_weights(deit_tiny(), x, seed)


def from_hf(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A Hugging Face DeiT / ViT state_dict renamed to this module's (timm's) names (module doc)."""
    state = {k.removeprefix("module."): v for k, v in state.items()}
    prefix = next((p for p in ("deit.", "vit.") if any(k.startswith(p) for k in state)), None)
    if prefix is None:
        return state
    if any("distillation_token" in k for k in state):
        raise ModelLoadError("a distilled DeiT (distillation token, two heads) is not supported; use deit_tiny_patch16_224")
    out: dict[str, torch.Tensor] = {}
    layers = sorted({int(k.split(".")[3]) for k in state if k.startswith(prefix + "encoder.layer.")})
    for i in layers:
        p = f"{prefix}encoder.layer.{i}."
        for w in ("weight", "bias"):
            out[f"blocks.{i}.attn.qkv.{w}"] = torch.cat([state.pop(f"{p}attention.attention.{n}.{w}") for n in ("query", "key", "value")])
            for hf, ours in (("attention.output.dense", "attn.proj"), ("layernorm_before", "norm1"), ("layernorm_after", "norm2"),
                             ("intermediate.dense", "mlp.fc1"), ("output.dense", "mlp.fc2")):
                out[f"blocks.{i}.{ours}.{w}"] = state.pop(f"{p}{hf}.{w}")
    names = {"embeddings.cls_token": "cls_token", "embeddings.position_embeddings": "pos_embed",
             "embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
             "embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
             "layernorm.weight": "norm.weight", "layernorm.bias": "norm.bias"}
    for hf, ours in names.items():
        out[ours] = state.pop(prefix + hf)
    for w in ("weight", "bias"):
        out[f"head.{w}"] = state.pop(f"classifier.{w}")
    left = [k for k in state if not k.startswith(prefix + "pooler.")]
    if left:
        raise ModelLoadError(f"Hugging Face keys golden does not map: {', '.join(left[:5])}")
    return out


def load_state(model: VisionTransformer, state: dict[str, torch.Tensor]) -> VisionTransformer:
    """`model` with a timm or Hugging Face state_dict loaded; a mismatch is one ModelLoadError."""
    state = from_hf(dict(state))
    if "dist_token" in state:
        raise ModelLoadError("a distilled DeiT (dist_token, head_dist) is not supported; use deit_tiny_patch16_224")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelLoadError(f"the state_dict does not fit {type(model).__name__}: {' '.join(str(exc).split())[:300]}") from exc
    return model.eval()


def load(weights: str | Path | None = None, eps: float = 1e-6) -> tuple[nn.Module, torch.Tensor]:
    """(model, calibration batch): generated weights, or a user's timm / Hugging Face state_dict file."""
    calib = calibration_images(8)
    if weights is None:
        return generate(calibration=calib), calib
    state = torch.load(Path(weights), map_location="cpu", weights_only=True)
    return load_state(deit_tiny(eps), state), calib
