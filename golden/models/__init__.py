"""Model registry: the shipped digits models and user factories (`path.py:factory`).

A factory is a function of no arguments returning (float_model, calibration_batch): the float
nn.Module and a float tensor batch [N, ...] of representative inputs.
"""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from golden.errors import GoldenError, InputError
from golden.models.digits import digits
from golden.models.zoo import MLPDigits, MobileNetV2Digits, VGGDigits

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"
DEFAULT_MODEL = "mobilenetv2"
CALIBRATION_IMAGES = 256


@dataclass(frozen=True)
class ShippedModel:
    name: str
    cls: Callable[[], nn.Module]
    size: int  # digits upsampled to size x size
    channels: int
    epochs: int
    lr: float
    description: str


SHIPPED: dict[str, ShippedModel] = {
    "mobilenetv2": ShippedModel("mobilenetv2", MobileNetV2Digits, 24, 3, 40, 3e-3, "MobileNetV2-style CNN, 3x24x24 input"),
    "vgg": ShippedModel("vgg", VGGDigits, 16, 1, 20, 2e-3, "VGG-style conv/ReLU/max-pool/FC, 1x16x16 input"),
    "mlp": ShippedModel("mlp", MLPDigits, 8, 1, 60, 3e-3, "3-Linear + ReLU MLP, 1x8x8 input"),
}


@dataclass
class LoadedModel:
    """A float model ready to quantize. Test data only for the shipped (digits) models."""

    name: str
    float_model: nn.Module
    calibration: torch.Tensor
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None


def checkpoint_path(name: str) -> Path:
    return CHECKPOINTS / f"{name}.pt"


def load_shipped(name: str) -> LoadedModel:
    spec = SHIPPED[name]
    model = spec.cls()
    path = checkpoint_path(name)
    if not path.exists():
        raise GoldenError(f"model {name}: checkpoint {path} is missing; run `python scripts/train_models.py {name}`")
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model.eval()
    data = digits(spec.size, spec.channels)
    return LoadedModel(name, model, data.x_train[:CALIBRATION_IMAGES], data.x_test, data.y_test)


def load_factory(ref: str) -> LoadedModel:
    path_s, _, func = ref.rpartition(":")
    path = Path(path_s)
    if not path_s or not func:
        raise InputError(f"--model {ref!r}: expected NAME ({', '.join(SHIPPED)}) or path.py:factory")
    if not path.is_file():
        raise InputError(f"--model {ref!r}: file {path} does not exist")
    mod_name = f"user_model_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"--model {ref!r}: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    factory = getattr(module, func, None)
    if not callable(factory):
        raise InputError(f"--model {ref!r}: {path} has no function {func!r}")
    result = factory()
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], nn.Module) and isinstance(result[1], torch.Tensor)):
        raise InputError(f"--model {ref!r}: {func}() must return (float nn.Module, calibration batch tensor)")
    model, calib = result
    return LoadedModel(f"{path.stem}:{func}", model.eval(), calib)


def load_model(ref: str | None = None) -> LoadedModel:
    """A shipped model by name, or a user's `path.py:factory`."""
    ref = ref or DEFAULT_MODEL
    if ref in SHIPPED:
        return load_shipped(ref)
    if ":" in ref or ref.endswith(".py"):
        return load_factory(ref)
    raise InputError(f"unknown model {ref!r}: shipped models are {', '.join(SHIPPED)}; or give path.py:factory")
