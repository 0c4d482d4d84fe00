"""A small vision transformer for the fast tests, in both ways of writing one.

`vit_small_test`: deit_tiny's VisionTransformer (timm-style) at 3x32x32, patch 8 (16 patches + the
class token = 17 tokens), 64 channels, 2 heads of 32, 2 blocks, MLP 256, 10 classes; weights
generated as deit_tiny's (golden.models.deit_tiny.generate_weights), 16 calibration images.

`EncoderViT`: the same network with its blocks written as `nn.TransformerEncoder(
nn.TransformerEncoderLayer(...), depth, norm=nn.LayerNorm)` (norm_first, activation, batch_first
as asked); `encoder_vit(vit, ...)` builds it from a VisionTransformer's weights (in_proj_weight the
qkv Linear's, out_proj the proj's, linear1 / linear2 the MLP's, norm1 / norm2 and the final norm),
so with norm_first=True and GELU it computes the same function.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from golden.models.deit_tiny import PatchEmbed, VisionTransformer, calibration_images, generate_weights

SIZE, PATCH, DIM, DEPTH, HEADS, MLP_RATIO, CLASSES = 32, 8, 64, 2, 2, 4, 10


def vit_small_test(seed: int = 0) -> VisionTransformer:
    model = VisionTransformer(SIZE, PATCH, DIM, DEPTH, HEADS, MLP_RATIO, CLASSES)
    return generate_weights(model, calibration_images(8, seed + 1, SIZE), seed)


class EncoderViT(nn.Module):
    def __init__(self, norm_first: bool = True, activation: str = "gelu", batch_first: bool = True) -> None:
        super().__init__()
        self.input_shape = (3, SIZE, SIZE)
        self.batch_first = batch_first
        self.patch_embed = PatchEmbed(PATCH, DIM)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, DIM))
        self.pos_embed = nn.Parameter(torch.zeros(1, (SIZE // PATCH) ** 2 + 1, DIM))
        layer = nn.TransformerEncoderLayer(DIM, HEADS, DIM * MLP_RATIO, dropout=0.1, activation=activation,
                                           layer_norm_eps=1e-6, batch_first=batch_first, norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, DEPTH, norm=nn.LayerNorm(DIM, eps=1e-6), enable_nested_tensor=False)
        self.head = nn.Linear(DIM, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = x + self.pos_embed
        if not self.batch_first:
            x = x.transpose(0, 1)
        x = self.encoder(x)
        if not self.batch_first:
            x = x.transpose(0, 1)
        return self.head(x[:, 0])


@torch.no_grad()
def encoder_vit(vit: VisionTransformer, norm_first: bool = True, activation: str = "gelu", batch_first: bool = True) -> EncoderViT:
    """An EncoderViT holding `vit`'s weights (eval mode)."""
    m = EncoderViT(norm_first, activation, batch_first)
    m.patch_embed.load_state_dict(vit.patch_embed.state_dict())
    m.cls_token.copy_(vit.cls_token)
    m.pos_embed.copy_(vit.pos_embed)
    pairs: list[tuple[Any, Any]] = list(zip(vit.blocks, m.encoder.layers))
    for blk, layer in pairs:
        layer.self_attn.in_proj_weight.copy_(blk.attn.qkv.weight)
        layer.self_attn.in_proj_bias.copy_(blk.attn.qkv.bias)
        layer.self_attn.out_proj.load_state_dict(blk.attn.proj.state_dict())
        layer.linear1.load_state_dict(blk.mlp.fc1.state_dict())
        layer.linear2.load_state_dict(blk.mlp.fc2.state_dict())
        layer.norm1.load_state_dict(blk.norm1.state_dict())
        layer.norm2.load_state_dict(blk.norm2.state_dict())
    m.encoder.norm.load_state_dict(vit.norm.state_dict())  # type: ignore[union-attr]
    m.head.load_state_dict(vit.head.state_dict())
    return m.eval()


def load() -> tuple[nn.Module, torch.Tensor]:
    """(model, calibration batch) of the timm-style one."""
    return vit_small_test(), calibration_images(16, 1, SIZE)
