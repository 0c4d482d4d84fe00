"""Model registry: the shipped digits models, the generated full-size ones, and user factories
(`path.py:factory`).

A factory is a function of no arguments returning (float_model, calibration_batch): the float
nn.Module and a float tensor batch [N, ...] of representative inputs.
"""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable

import torch
from torch import nn

from golden.errors import ModelLoadError
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


#: Full-size models with deterministic generated weights (no download): name -> (description,
#: module path of a `load()` returning (float_model, calibration_batch)).
GENERATED: dict[str, tuple[str, str]] = {
    "mobilenetv2_224": ("MobileNetV2 1.0, 3x224x224, TF 'SAME' padding, generated weights with dead channels",
                        "golden.models.mobilenetv2_224"),
    "deeplabv3_513": ("DeepLabV3 (MobileNetV2 backbone, output stride 16, ASPP), 3x513x513 -> 21x528x528, generated weights",
                      "golden.models.deeplabv3_513"),
    "yolo_small": ("YOLO-style detector, 3x320x320, residual backbone, FPN neck (upsample, concat), two heads 75x10x10 "
                   "and 75x20x20, generated weights", "golden.models.yolo_small"),
    "deit_tiny": ("DeiT-tiny vision transformer, 3x224x224, patch 16, 197 tokens, 192 channels, 3 heads, 12 blocks, "
                  "MLP 768, 1000 classes, generated weights", "golden.models.deit_tiny"),
    "vit_small_test": ("small vision transformer for the tests, 3x32x32, patch 8, 17 tokens, 64 channels, 2 heads, "
                       "2 blocks, 10 classes, generated weights", "golden.models.vit_small_test"),
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
        raise ModelLoadError(f"model {name}: checkpoint {path} is missing; run `python scripts/train_models.py {name}`")
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as exc:
        raise ModelLoadError(
            f"model {name}: checkpoint {path} does not load ({type(exc).__name__}: {_first_line(exc)}); "
            f"retrain it with `python scripts/train_models.py {name}`"
        ) from exc
    model.eval()
    data = digits(spec.size, spec.channels)
    return LoadedModel(name, model, data.x_train[:CALIBRATION_IMAGES], data.x_test, data.y_test)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _raised(exc: BaseException) -> str:
    """What a user's code did instead of returning: `raised ValueError: ...` or `called sys.exit(0)`."""
    if isinstance(exc, SystemExit):
        return (f"called sys.exit({exc.code!r}) (raised SystemExit) instead of returning; "
                "a model file must not exit")
    return f"raised {type(exc).__name__}: {_first_line(exc)}"


def _describe(value: object) -> str:
    if isinstance(value, tuple):
        return f"a tuple of {len(value)} ({', '.join(type(v).__name__ for v in value)})"
    return f"{type(value).__name__}"


def _import_file(ref: str, path: Path) -> ModuleType:
    """Import a user's model file under a private module name; every failure is a ModelLoadError."""
    mod_name = f"user_model_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"--model {ref!r}: cannot import {path} (not a Python file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[mod_name]
        where = f"{exc.filename or path}:{exc.lineno}" if exc.lineno else str(path)
        raise ModelLoadError(f"--model {ref!r}: {where}: syntax error: {exc.msg}") from exc
    except KeyboardInterrupt:
        del sys.modules[mod_name]
        raise
    except BaseException as exc:  # SystemExit too: sys.exit() in a model file must not end the tool with its status
        del sys.modules[mod_name]
        raise ModelLoadError(f"--model {ref!r}: importing {path} {_raised(exc)}") from exc
    return module


def load_factory(ref: str) -> LoadedModel:
    """`path.py:factory`: import the file, call factory(), check it returned (nn.Module, tensor)."""
    path_s, sep, func = ref.rpartition(":")
    if not sep:
        path_s, func = ref, ""
    path = Path(path_s)
    if not path_s or not func:
        hint = f"; give the factory function too, e.g. {path_s or ref}:make" if path_s.endswith(".py") or ref.endswith(".py") else ""
        raise ModelLoadError(f"--model {ref!r}: expected NAME ({', '.join(SHIPPED)}) or path.py:factory{hint}")
    if not func.isidentifier():
        raise ModelLoadError(f"--model {ref!r}: {func!r} is not a Python function name")
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise ModelLoadError(f"--model {ref!r}: file {path} {what}")
    module = _import_file(ref, path)
    factory = getattr(module, func, None)
    if factory is None:
        found = sorted(n for n, v in vars(module).items() if callable(v) and getattr(v, "__module__", None) == module.__name__
                       and not n.startswith("_"))
        listed = f" (functions defined there: {', '.join(found)})" if found else ""
        raise ModelLoadError(f"--model {ref!r}: {path} has no function {func!r}{listed}")
    if not callable(factory):
        raise ModelLoadError(f"--model {ref!r}: {path}: {func} is a {type(factory).__name__}, not a function")
    try:
        result = factory()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit too: sys.exit(0) in a factory would end make sim "successfully"
        raise ModelLoadError(f"--model {ref!r}: {path}: {func}() {_raised(exc)}") from exc
    if not (isinstance(result, tuple) and len(result) == 2):
        raise ModelLoadError(
            f"--model {ref!r}: {path}: {func}() returned {_describe(result)}; "
            "it must return (float nn.Module, calibration batch tensor)"
        )
    model, calib = result
    if not isinstance(model, nn.Module):
        raise ModelLoadError(f"--model {ref!r}: {path}: {func}() returned {_describe(model)} as the model, not an nn.Module")
    if not isinstance(calib, torch.Tensor):
        raise ModelLoadError(
            f"--model {ref!r}: {path}: {func}() returned {_describe(calib)} as the calibration batch, not a torch.Tensor"
        )
    return LoadedModel(f"{path.stem}:{func}", model.eval(), calib)


def load_model(ref: str | None = None) -> LoadedModel:
    """A shipped model by name, or a user's `path.py:factory`. Every failure is a ModelLoadError."""
    ref = ref or DEFAULT_MODEL
    if ref in SHIPPED:
        return load_shipped(ref)
    if ref in GENERATED:
        import importlib

        model, calibration = importlib.import_module(GENERATED[ref][1]).load()
        return LoadedModel(ref, model, calibration)
    if ":" in ref or ref.endswith(".py") or "/" in ref:
        return load_factory(ref)
    raise ModelLoadError(f"unknown model {ref!r}: shipped models are {', '.join([*SHIPPED, *GENERATED])}; or give path.py:factory")
