"""`make sweep MODEL=vgg`: test accuracy against bit widths, and the accumulator each width needs
(issue 25 item 4; figures in docs/golden.md, "Narrow widths").

    python scripts/sweep.py --model vgg [--w-bits 2,3,4,5,6,7,8] [--a-bits 4,5,6,7,8] [--out build/sweep] [--docs]

For the float model and for golden post-training quantized at every weight width x activation
width (golden.quantize's w_bits / a_bits, per-channel symmetric weights, min-max weights and
histogram activations), twice: every layer at those widths, and the first and last conv / fc kept
at 8 bits (keep_ends, as the literature runs narrow networks): the top-1 accuracy of golden's
integers on the labelled test set (scikit-learn's digits: 360 images). For each width pair, per
conv / fc layer, the accumulator bits: the bound whatever the input (golden.arith.accumulator_bits)
and what the test set's sums needed. Prints the tables, writes <out>/<model>.json and a plot
<out>/<model>.png (matplotlib); --docs also writes docs/sweep-<model>.png.
Then the same after quantization-aware training at each width (golden.qat.train_qat, its defaults:
6 epochs from the float model on the digits training split; --no-trained skips it).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from golden.errors import InputError  # noqa: E402
from golden.widths import A_BITS_RANGE, W_BITS_RANGE  # noqa: E402


def _widths(text: str, what: str, lo_hi: tuple[int, int]) -> list[int]:
    try:
        out = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise InputError(f"--{what} {text!r}: comma-separated whole numbers") from None
    bad = [v for v in out if not lo_hi[0] <= v <= lo_hi[1]]
    if not out or bad:
        raise InputError(f"--{what} {text!r}: golden quantizes to {lo_hi[0]}..{lo_hi[1]} bits")
    return out


def sweep(model: str, w_list: list[int], a_list: list[int], trained: bool = True, epochs: int = 6) -> dict[str, Any]:
    import torch

    from golden import extract, quantize
    from golden.models import SHIPPED, load_model
    from golden.models.digits import digits
    from golden.qat import train_qat
    from golden.widths import accumulator_needs

    m = load_model(model)
    if m.x_test is None or m.y_test is None:
        raise InputError(f"model {model}: no labelled test set to measure accuracy on")
    y = m.y_test.numpy()
    with torch.no_grad():
        float_acc = float((m.float_model(m.x_test).argmax(1).numpy() == y).mean())
    if trained and m.name not in SHIPPED:
        raise InputError(f"model {model}: the trained columns need the training set of a shipped model ({', '.join(SHIPPED)}); "
                         "run with --no-trained")
    data = digits(SHIPPED[m.name].size, SHIPPED[m.name].channels) if trained else None
    rows: list[dict[str, Any]] = []
    qat_rows: list[dict[str, Any]] = []
    total = (4 if trained else 2) * len(w_list) * len(a_list)
    t0 = time.time()
    for how in (["post_training", "trained"] if trained else ["post_training"]):
        for keep_ends in (False, True):
            for w in w_list:
                for a in a_list:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        if how == "trained":
                            assert data is not None
                            gm = train_qat(m.float_model, m.calibration, data.x_train, data.y_train, w_bits=w, a_bits=a, keep_ends=keep_ends,
                                           epochs=epochs, freeze_epoch=min(4, epochs))  # observers frozen at 4 (or the end)
                        else:
                            gm = quantize(m.float_model, m.calibration, w_bits=w, a_bits=a, keep_ends=keep_ends)
                        net = extract(gm, m.calibration[:2])
                    x_q = net.quantize_input(m.x_test)
                    acc = float((net.predict(x_q) == y).mean())
                    out = rows if how == "post_training" else qat_rows
                    out.append({"w_bits": w, "a_bits": a, "keep_ends": keep_ends, "accuracy": acc,
                                "accumulators": accumulator_needs(net, x_q)})
                    print(f"sweep: [{len(rows) + len(qat_rows)}/{total}] {how.replace('_', '-')} w{w}a{a}"
                          f"{' (first and last at 8)' if keep_ends else ''}: {acc:.2%} ({time.time() - t0:.0f} s)", flush=True)
    return {"model": model, "test_images": int(len(y)), "float_accuracy": float_acc, "w_bits": w_list, "a_bits": a_list,
            "post_training": rows, "trained": qat_rows}


def tables(res: dict[str, Any]) -> str:
    w_list, a_list = res["w_bits"], res["a_bits"]
    out = [f"model {res['model']}: top-1 on {res['test_images']} test images; float {res['float_accuracy']:.2%}"]
    for how in ("post_training", "trained"):
        for keep_ends, title in ((False, "every layer at w/a"), (True, "first and last conv/fc at 8/8")):
            acc = {(r["w_bits"], r["a_bits"]): r["accuracy"] for r in res.get(how, []) if r["keep_ends"] == keep_ends}
            if not acc:
                continue
            label = "post-training" if how == "post_training" else "quantization-aware training (golden.qat)"
            out += ["", f"{label}, {title}:", "        " + "".join(f"{'a' + str(a):>9s}" for a in a_list)]
            out += [f"  w{w:<4d} " + "".join(f"{acc[(w, a)]:>9.2%}" for a in a_list) for w in w_list]
    out += ["", "accumulator bits per layer, bound whatever the input / needed on the test set (every layer at w/a):"]
    first = next(r for r in res["post_training"] if not r["keep_ends"])
    names = [n["layer"] for n in first["accumulators"]]
    out.append("  widths  " + "".join(f"{n:>9s}" for n in names))
    for r in res["post_training"]:
        if not r["keep_ends"]:
            out.append(f"  w{r['w_bits']}a{r['a_bits']:<4d}" + "".join(f"{n['bound_bits']:>6d}/{n['measured_bits']:<2d}"
                                                                         for n in r["accumulators"]))
    return "\n".join(out)


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, keep_ends, title in ((axes[0], False, "every layer at w/a"), (axes[1], True, "first and last layer at 8/8")):
        for how, style in (("post_training", "-"), ("trained", ":")):
            for i, a in enumerate(res["a_bits"]):
                pts = sorted((r["w_bits"], r["accuracy"]) for r in res.get(how, []) if r["keep_ends"] == keep_ends and r["a_bits"] == a)
                if pts:
                    ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], marker="o" if how == "post_training" else "x",
                            linestyle=style, color=f"C{i}",
                            label=f"{a}-bit activations" + (", trained" if how == "trained" else ", post-training"))
        ax.axhline(100 * res["float_accuracy"], color="black", linestyle="--", linewidth=1, label="float")
        ax.set_title(f"{res['model']}: {title}")
        ax.set_xlabel("weight bits")
        ax.set_xticks(res["w_bits"])
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"top-1 accuracy, % ({res['test_images']} digits test images)")
    axes[1].legend(loc="lower right", fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="make sweep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="vgg")
    p.add_argument("--w-bits", default=",".join(map(str, range(W_BITS_RANGE[0], W_BITS_RANGE[1] + 1))))
    p.add_argument("--a-bits", default=",".join(map(str, range(A_BITS_RANGE[0], A_BITS_RANGE[1] + 1))))
    p.add_argument("--out", default=str(ROOT / "build" / "sweep"))
    p.add_argument("--docs", action="store_true", help="also write docs/sweep-<model>.png")
    p.add_argument("--no-trained", action="store_true", help="post-training only (no quantization-aware training columns)")
    p.add_argument("--epochs", type=int, default=6, help="epochs of quantization-aware training per width (default 6)")
    a = p.parse_args(argv)
    w_list = _widths(a.w_bits, "w-bits", W_BITS_RANGE)
    a_list = _widths(a.a_bits, "a-bits", A_BITS_RANGE)
    if a.epochs < 1:
        raise InputError(f"--epochs {a.epochs}: at least 1")
    res = sweep(a.model, w_list, a_list, trained=not a.no_trained, epochs=a.epochs)
    print()
    print(tables(res))
    out = Path(a.out)
    name = Path(a.model).stem.replace(":", "_")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(res, indent=1))
    plot(res, out / f"{name}.png")
    print(f"\nsweep: {out / f'{name}.json'}, plot {out / f'{name}.png'}")
    if a.docs:
        plot(res, ROOT / "docs" / f"sweep-{name}.png")
        print(f"sweep: plot {ROOT / 'docs' / f'sweep-{name}.png'}")
    return 0


if __name__ == "__main__":
    from golden.cli import run_cli

    sys.exit(run_cli("sweep", main))
