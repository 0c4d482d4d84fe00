"""Deterministic training of the shipped digits models (float32, CPU, two threads)."""
from __future__ import annotations

import time

import torch
from torch import nn

from golden.models import SHIPPED, checkpoint_path
from golden.models.digits import digits


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def train(name: str, *, seed: int = 0, log: bool = True) -> tuple[nn.Module, float]:
    spec = SHIPPED[name]
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    data = digits(spec.size, spec.channels)
    model = spec.cls()
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec.lr, total_steps=spec.epochs * ((len(data.y_train) + 63) // 64))
    gen = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.time()
    for epoch in range(spec.epochs):
        model.train()
        perm = torch.randperm(len(data.y_train), generator=gen)
        for i in range(0, len(perm), 64):
            idx = perm[i : i + 64]
            opt.zero_grad()
            loss = loss_fn(model(data.x_train[idx]), data.y_train[idx])
            loss.backward()
            opt.step()
            sched.step()
        if log and (epoch + 1) % 10 == 0:
            acc = evaluate(model, data.x_test, data.y_test)
            print(f"[{name}] epoch {epoch + 1}/{spec.epochs}  loss {loss.item():.4f}  test acc {acc:.4f}  ({time.time() - t0:.0f} s)", flush=True)
    acc = evaluate(model, data.x_test, data.y_test)
    return model, acc


def save(name: str, model: nn.Module) -> None:
    path = checkpoint_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
