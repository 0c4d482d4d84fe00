"""The extreme-rows model: vit_small_test (golden.models.vit_small_test) with weights set so that
the first block's LayerNorm and softmax see the extreme rows the row unit must handle, in the
fast suite (tests/test_engine_tokens.py; the coverage point `rows`, tb/coverage.py):

* every patch token is [8, 0, ..., 0] (the patch embedding's weights 0, its bias 8 on channel 0)
  and the class token is all 0 (cls_token and pos_embed 0): ln1's rows are one large value among
  zeros (code 255 among codes 0) and, for the class token, all equal;
* ln1 is the plain normalization (gain 1, bias 0), so the class token leaves it as 0 and a patch
  token as n = LayerNorm([8, 0, ..., 0]); the first attention's q = ln1's output (weights I, bias 0)
  and k = n - ln1's output (weights -I, bias n): the patch tokens' keys are 0 and the class
  token's is n. softmax1's rows: a patch query scores n.n on the class key and 0 on the 16 others
  (one large value), the class query 0 on every key (all equal, code 0).

    make sim MODEL=scripts/rows_model.py:make
"""
from __future__ import annotations

import torch
from torch import nn

from golden.models.deit_tiny import calibration_images
from golden.models.vit_small_test import DIM, SIZE, vit_small_test


def make() -> tuple[nn.Module, torch.Tensor]:
    m = vit_small_test().eval()
    with torch.no_grad():
        m.patch_embed.proj.weight.zero_()
        m.patch_embed.proj.bias.zero_()
        m.patch_embed.proj.bias[0] = 8.0
        m.cls_token.zero_()
        m.pos_embed.zero_()
        blk = m.blocks[0]
        blk.norm1.weight.fill_(1.0)
        blk.norm1.bias.zero_()
        patch = torch.zeros(1, 1, DIM)
        patch[..., 0] = 8.0
        n = blk.norm1(patch).reshape(DIM)  # a patch token after ln1
        eye = torch.eye(DIM)
        blk.attn.qkv.weight[:DIM] = eye
        blk.attn.qkv.bias[:DIM] = 0.0
        blk.attn.qkv.weight[DIM:2 * DIM] = -eye
        blk.attn.qkv.bias[DIM:2 * DIM] = n
    return m, calibration_images(16, 1, SIZE)
