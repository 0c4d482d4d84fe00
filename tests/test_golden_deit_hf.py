"""golden.models.deit_tiny's Hugging Face key mapping against Hugging Face's own ViT (the class
facebook/deit-tiny-patch16-224 is stored as): a randomly initialised ViTForImageClassification
(nothing downloaded) loaded into golden's timm-style VisionTransformer computes the same logits.
Kept apart from tests/test_golden_transformer.py: importing transformers takes seconds."""
from __future__ import annotations

import pytest
import torch

from golden.models import deit_tiny as deit
from golden.models.vit_small_test import CLASSES, DEPTH, DIM, HEADS, MLP_RATIO, PATCH, SIZE

transformers = pytest.importorskip("transformers")


def test_hugging_face_vit_state_dict_computes_the_same_logits() -> None:
    cfg = transformers.ViTConfig(hidden_size=DIM, num_hidden_layers=DEPTH, num_attention_heads=HEADS,
                                 intermediate_size=DIM * MLP_RATIO, image_size=SIZE, patch_size=PATCH, num_labels=CLASSES,
                                 layer_norm_eps=1e-6)
    torch.manual_seed(0)
    hf = transformers.ViTForImageClassification(cfg).eval()
    with torch.no_grad():  # HF initialises LayerNorm to 1 / 0 and biases to 0: give them values
        for p in hf.parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    ours = deit.load_state(deit.VisionTransformer(SIZE, PATCH, DIM, DEPTH, HEADS, MLP_RATIO, CLASSES), hf.state_dict())
    x = torch.randn(3, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.allclose(ours(x), hf(pixel_values=x).logits, atol=1e-5)
