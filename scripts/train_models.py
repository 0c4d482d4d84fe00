"""Retrain the shipped digits models and rewrite their checkpoints in golden/models/checkpoints/;
or, with --qat, train them at a width and keep the result where QAT=1 takes it.

    make train [MODELS="mobilenetv2 vgg mlp"]
    make train QAT=1 W_BITS=2 A_BITS=8 [KEEP_ENDS=1] [EPOCHS=6] [MODELS=vgg]

Float: deterministic (seeded, deterministic algorithms); about a minute per model on two cores.
QAT (golden.qat.train_qat, fake quantization at the widths, straight-through gradients): the
trained state goes to golden/models/checkpoints/<model>-w<N>a<M>[-ends8]-qat.pt
(golden.qat.trained_path), which `make golden|sim|layers QAT=1` at the same widths then read
instead of training again (golden.qat.load_trained); retraining the float model makes it stale
(refused in one line until trained again).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import torch

from golden.models import SHIPPED


def main(argv: Sequence[str] | None) -> int:
    p = argparse.ArgumentParser(prog="train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*", help=f"shipped models (default: all: {', '.join(SHIPPED)})")
    p.add_argument("--qat", action="store_true", help="quantization-aware training at --w-bits / --a-bits")
    p.add_argument("--w-bits", type=int, default=8)
    p.add_argument("--a-bits", type=int, default=8)
    p.add_argument("--keep-ends", action="store_true", help="first and last layer at 8/8")
    p.add_argument("--epochs", type=int, default=6, help="QAT epochs (the last two with frozen activation scales)")
    a = p.parse_args(list(argv or []))
    names = a.models or list(SHIPPED)
    unknown = [n for n in names if n not in SHIPPED]
    if unknown:
        print(f"train: error: unknown model {unknown[0]!r}; shipped: {', '.join(SHIPPED)}", file=sys.stderr)
        return 2
    torch.set_num_threads(2)
    for name in names:
        if a.qat:
            _train_qat(name, a)
            continue
        from golden.models.train import save, train

        model, acc = train(name)
        save(name, model)
        print(f"[{name}] float test accuracy {acc:.4f}; saved", flush=True)
    return 0


def _train_qat(name: str, a: argparse.Namespace) -> None:
    from golden import extract
    from golden.models import checkpoint_path, load_model
    from golden.models.digits import digits
    from golden.qat import save_trained, train_qat, trained_path
    from golden.widths import A_BITS_RANGE, W_BITS_RANGE, check_width

    check_width("W_BITS", a.w_bits, W_BITS_RANGE)
    check_width("A_BITS", a.a_bits, A_BITS_RANGE)
    m = load_model(name)
    spec = SHIPPED[name]
    data = digits(spec.size, spec.channels)
    path = trained_path(name, a.w_bits, a.a_bits, a.keep_ends)
    kept: list[dict[str, torch.Tensor]] = []
    tag = f"[{name} w{a.w_bits}a{a.a_bits}{' ends8' if a.keep_ends else ''}]"
    gm = train_qat(m.float_model, m.calibration, data.x_train, data.y_train, w_bits=a.w_bits, a_bits=a.a_bits,
                   keep_ends=a.keep_ends, epochs=a.epochs, freeze_epoch=max(0, a.epochs - 2), keep=kept.append,
                   progress=lambda line: print(f"{tag} {line}", flush=True))
    net = extract(gm, m.calibration[:2])
    acc = float((net.predict(net.quantize_input(m.x_test)) == m.y_test.numpy()).mean())
    save_trained(path, kept[0], name=name, w_bits=a.w_bits, a_bits=a.a_bits, keep_ends=a.keep_ends,
                 float_checkpoint=checkpoint_path(name), epochs=a.epochs)
    print(f"{tag} golden test accuracy {acc:.4f}; kept in {path}", flush=True)


if __name__ == "__main__":
    from golden.cli import run_cli

    sys.exit(run_cli("train", main, sys.argv[1:]))
