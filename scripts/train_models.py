"""Retrain the shipped digits models and rewrite their checkpoints in golden/models/checkpoints/.

    .venv/bin/python scripts/train_models.py [mobilenetv2 vgg mlp]

Deterministic (seeded, deterministic algorithms); about a minute per model on two cores.
"""
from __future__ import annotations

import sys

import torch

from golden.models import SHIPPED
from golden.models.train import save, train


def main(argv: list[str]) -> int:
    names = argv or list(SHIPPED)
    torch.set_num_threads(2)
    for name in names:
        if name not in SHIPPED:
            print(f"unknown model {name!r}; shipped: {', '.join(SHIPPED)}", file=sys.stderr)
            return 2
        model, acc = train(name)
        save(name, model)
        print(f"[{name}] float test accuracy {acc:.4f}; saved", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
