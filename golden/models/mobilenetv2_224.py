"""MobileNetV2 1.0 at 224x224, as TensorFlow/Keras builds it, with deterministic generated weights.

The standard layer shapes (stem 32, 17 inverted residual blocks (t, c, n, s) = (1, 16, 1, 1),
(6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1), a 1x1
conv to 1280, global average pooling, fc 1280 -> 1000): 52 convs, 1 fc, 10 residual adds,
300.8 M MACs. Batch norm is folded (every conv has a bias). TF 'SAME' padding: the stem and every
stride-2 depthwise conv are preceded by nn.ZeroPad2d((0, 1, 0, 1)) (pad right and bottom only),
stride-1 3x3 convs pad 1 on every side.

No weights can be downloaded, so they are generated (`generate`, seeded): per-output-channel
weight spreads drawn log-normally (as BN folding makes them: one scale per channel), biases of a
few tenths, and dead channels (all-zero weights: pruned or dead filters) in a few layers, as real
trained networks have. Each layer's weights are then scaled so that its output keeps a unit-range
spread on the synthetic calibration images (data-dependent initialisation), so activations stay
in a realistic range through 52 layers. A user with trained weights for this architecture loads
them instead: `load_state_dict` with the names of `MobileNetV2_224().state_dict()`.
"""
from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from golden.models.zoo import InvertedResidual

#: (expansion t, output channels c, repeats n, first stride s) of the 17 inverted residual blocks
BLOCKS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
INPUT_SHAPE = (3, 224, 224)
#: Dead output channels of the generated weights: (conv index in module order, how many)
DEAD = [(4, 2), (10, 1), (19, 3), (31, 2), (44, 1)]
Model = TypeVar("Model", bound=nn.Module)


def conv(c_in: int, c_out: int, k: int, stride: int, groups: int = 1, act: bool = True) -> nn.Sequential:
    """conv (BN folded: with a bias) + ReLU6; TF 'SAME' at stride 2 is a ZeroPad2d before it."""
    layers: list[nn.Module] = []
    if stride == 2 and k > 1:
        layers.append(nn.ZeroPad2d((0, 1, 0, 1)))
        pad = 0
    else:
        pad = k // 2
    layers.append(nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad, groups=groups, bias=True))
    if act:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class MobileNetV2_224(nn.Module):
    input_shape = INPUT_SHAPE

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv(3, 32, 3, 2)]
        c = 32
        for t, c_out, n, s in BLOCKS:
            for i in range(n):
                layers.append(InvertedResidual(c, c_out, s if i == 0 else 1, t, conv=conv))
                c = c_out
        layers.append(conv(c, 1280, 1, 1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.pool(self.features(x))))


def calibration_images(n: int, seed: int = 1, size: int = INPUT_SHAPE[1]) -> torch.Tensor:
    """n synthetic 3 x size x size images in [0, 1]: smooth random fields (noise at 7, 28 and 112
    pixels upsampled and mixed) with per-image colour balance, seeded."""
    g = torch.Generator().manual_seed(seed)
    img = torch.zeros(n, 3, size, size)
    for side, weight in ((7, 0.6), (28, 0.3), (112, 0.1)):
        noise = torch.rand(n, 3, side, side, generator=g)
        img += weight * nn.functional.interpolate(noise, size=(size, size), mode="bilinear", align_corners=False)
    img *= 0.6 + 0.8 * torch.rand(n, 3, 1, 1, generator=g)
    return img.clamp(0, 1)


def weighted_layers(model: nn.Module) -> list[nn.Conv2d | nn.Linear]:
    """The model's convs and fc layers in module order (the order DEAD's indices count)."""
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


@torch.no_grad()
def draw_weights(layers: list[nn.Conv2d | nn.Linear], g: torch.Generator, dead: dict[int, int]) -> None:
    """Each layer's weights and bias drawn from g: per-output-channel spreads drawn log-normally
    (as BN folding makes them), biases of a few hundredths, and dead[i] all-zero output channels in
    layer i."""
    for i, m in enumerate(layers):
        assert m.bias is not None  # every layer has one (batch norm folded)
        fan_in = m.weight[0].numel()
        spread = torch.exp(0.5 * torch.randn(m.weight.shape[0], generator=g))  # per-channel (folded BN) scales
        w = torch.randn(m.weight.shape, generator=g) / fan_in ** 0.5
        m.weight.copy_(w * spread.view(-1, *[1] * (w.dim() - 1)))
        m.bias.copy_(0.02 + 0.05 * torch.randn(m.bias.shape, generator=g))
        if i in dead:
            m.weight[torch.randperm(m.weight.shape[0], generator=g)[: dead[i]]] = 0


@torch.no_grad()
def unit_spread(model: nn.Module, layers: list[nn.Conv2d | nn.Linear], x: torch.Tensor) -> None:
    """Data-dependent scaling: each of `layers` rescaled so that its output (before its activation)
    has spread 1 on x. One forward pass: each hook rescales its layer and returns the rescaled
    output, so every later layer sees its inputs as they will be."""
    def rescale(m: nn.Module, _inputs: object, out: torch.Tensor) -> torch.Tensor:
        std = float(out.std())
        if std > 0:
            m.weight.div_(std)  # type: ignore[operator]
            m.bias.div_(std)  # type: ignore[operator]
            out = out / std
        return out

    hooks = [m.register_forward_hook(rescale) for m in layers]
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()


@torch.no_grad()
def generate_weights(model: Model, x: torch.Tensor, dead: list[tuple[int, int]], seed: int = 0,
                     scale_last: bool = True) -> Model:
    """The model in eval mode with its weights drawn from `seed` (draw_weights, `dead` as DEAD) and
    every conv / fc scaled to a unit output spread on x (unit_spread; the last one too unless
    scale_last is False)."""
    g = torch.Generator().manual_seed(seed)
    layers = weighted_layers(model.eval())
    draw_weights(layers, g, dict(dead))
    unit_spread(model, layers if scale_last else layers[:-1], x)
    return model


def load_weights(model: Model, weights: str | Path) -> Model:
    """The model in eval mode with a user's state_dict file loaded (trained, BN folded into the conv
    biases)."""
    model.load_state_dict(torch.load(Path(weights), map_location="cpu", weights_only=True))
    return model.eval()


@torch.no_grad()
def generate(seed: int = 0, calibration: torch.Tensor | None = None) -> MobileNetV2_224:
    """The model with deterministic generated weights (see the module docstring)."""
    x = calibration_images(8, seed + 1) if calibration is None else calibration[:8]
    model = generate_weights(MobileNetV2_224(), x, DEAD, seed, scale_last=False)
    # the classifier reads the features' deviation from their mean over the calibration images
    # (folded into its bias), so the prediction depends on the image: a random deep network's
    # pooled features share a large image-independent part
    fc = model.classifier
    feats = model.flatten(model.pool(model.features(x)))
    fc.bias.copy_(-fc.weight @ feats.mean(0))
    fc.weight.div_(float(fc(feats).std()))
    fc.bias.copy_(-fc.weight @ feats.mean(0))
    return model


def load(weights: str | Path | None = None) -> tuple[nn.Module, torch.Tensor]:
    """(model, calibration batch): generated weights, or a user's state_dict file for this
    architecture (trained, BN folded into the conv biases)."""
    calib = calibration_images(16)
    return (generate() if weights is None else load_weights(MobileNetV2_224(), weights)), calib
