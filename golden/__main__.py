"""python -m golden summary [--model NAME|path.py:factory] [--bias-mode M] [--m0-bits B] [--pow2]
                           [--w-bits N] [--a-bits M] [--keep-ends]
python -m golden export [--model ...] [--out DIR] [--images N]

summary prints the layer table and the digits test accuracy of float, PyTorch int8 and golden side
by side (below 8 bits, float and golden: PyTorch's converted model still clamps at 0..255); export writes golden's integers per layer for a testbench of your own (golden.export,
docs/golden.md "Export for your own testbench").
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np
import torch

from golden import extract, quantize
from golden.qat import quantized_model
from golden.arith import BIAS_MODES
from golden.errors import InputError
from golden.layers import Network, RunResult
from golden.cli import run_cli
from golden.models import DEFAULT_MODEL, GENERATED, SHIPPED, load_model
from golden.graph import torch_int8_outputs


def summary(args: argparse.Namespace) -> int:
    t0 = time.time()
    m = load_model(args.model)
    count = m.calibration.shape[0] if m.calibration.dim() else 0
    narrow = (args.w_bits, args.a_bits, args.keep_ends, args.qat) != (8, 8, False, False)
    widths = f", weights {args.w_bits} bits, activations {args.a_bits} bits" + (", first/last layer 8/8" if args.keep_ends else "")
    how = "quantization-aware training (golden.qat) on the training set" if args.qat else "FX PTQ"
    from golden.brevitas_import import is_brevitas_model, summary_lines

    if is_brevitas_model(m.float_model):
        how = "a Brevitas model: its own quantizers"
    print(f"model {m.name}: quantizing ({how}, {count} calibration images{widths if narrow else ''}) ...", flush=True)
    qm = quantized_model(m, pow2_scales=args.pow2, w_bits=args.w_bits, a_bits=args.a_bits, keep_ends=args.keep_ends, qat=args.qat)
    net = extract(qm, m.calibration[:2], bias_mode=args.bias_mode, m0_bits=args.m0_bits)
    print(net.table())
    x = m.x_test if m.x_test is not None else m.calibration
    what = "test images" if m.x_test is not None else "calibration images (the model has no test data)"
    if is_brevitas_model(qm):  # quantized in Brevitas: its own forward pass is the reference
        print()
        print("\n".join(summary_lines(qm, net, x, m.y_test, what)) + f" ({time.time() - t0:.1f} s)")
        return 0
    from golden.transformer_plan import is_quantized_transformer

    if is_quantized_transformer(qm):  # no PyTorch int8 model: golden against float (docs/golden.md, "Transformers")
        return _transformer_summary(m, net, qm, x, what, t0)
    if narrow:
        # PyTorch's converted model keeps quint8 containers and clamps at 0..255: it is not the
        # narrow network, so there is no PyTorch int8 line (golden is checked against PyTorch's
        # fake-quantized float layer by layer: tests/test_golden_bits.py)
        with torch.no_grad():
            f_out = m.float_model(x)
        return _narrow_accuracy(m, net, f_out[0] if isinstance(f_out, (tuple, list)) else f_out, x, what, t0)
    q_outs = torch_int8_outputs(qm, x)
    res = net.run(net.quantize_input(x))
    q_out, g_codes = q_outs[0], res.output
    if len(q_outs) > 1 or q_out.dim() != 2:
        # Not a vector of class scores ([N, C, H, W] from a segmentation or conv-only model, a
        # detector's several heads, ...): no top-1 to speak of
        return _code_agreement(net, qm, res, q_outs, x, what, t0)
    with torch.no_grad():
        f_out = m.float_model(x)
    f_pred = f_out.argmax(1).numpy()
    q_pred = q_out.argmax(1).numpy()
    g_pred = g_codes.reshape(g_codes.shape[0], -1).argmax(axis=1)
    agree = float(np.mean(g_pred == q_pred))
    if m.y_test is not None:
        y = m.y_test.numpy()
        print()
        print(f"digits test split ({len(y)} images)   top-1 accuracy")
        print(f"  float            {np.mean(f_pred == y):.4f}")
        print(f"  PyTorch int8     {np.mean(q_pred == y):.4f}")
        print(f"  golden           {np.mean(g_pred == y):.4f}")
    print(f"golden top-1 agrees with PyTorch int8 on {agree:.2%} of {len(g_pred)} {what} ({time.time() - t0:.1f} s)")
    return 0


def _code_agreement(net: Network, qm: torch.fx.GraphModule, res: RunResult, q_outs: list[torch.Tensor], x: torch.Tensor,
                    what: str, t0: float) -> int:
    """golden's output codes against PyTorch int8's element by element, each output on its own line
    (a single image output [N, C, H, W] also per pixel: the class, argmax over C), and golden
    layer by layer on PyTorch's own inputs (the first image): a generated network spreads a
    difference of one code at a tie through every later layer."""
    from golden.oracle import compare_layers

    print()
    shapes = ", ".join("x".join(map(str, q.shape[1:])) for q in q_outs)
    print(f"output{'s' * (len(q_outs) > 1)} {shapes} {'are' if len(q_outs) > 1 else 'is'} not a vector of class "
          "scores [N, classes]: no top-1 accuracy lines")
    for name, q in zip(net.output_names, q_outs):
        scale, zero_point = net.output_qparams(name)
        q_codes = np.round(q.numpy() / scale).astype(np.int64) + zero_point
        g_codes = res[name].astype(np.int64)
        which = f" {name}" if len(q_outs) > 1 else ""
        print(f"golden output{which} codes equal PyTorch int8's on {np.mean(q_codes == g_codes):.2%} of {q_codes.size:,} "
              f"elements (max |diff| {int(np.abs(q_codes - g_codes).max())}), {len(x)} {what}")
        if len(q_outs) == 1 and q_codes.ndim == 4 and q_codes.shape[1] > 1:
            pixels = q_codes.shape[0] * q_codes.shape[2] * q_codes.shape[3]
            print(f"golden's per-pixel class (argmax over {q_codes.shape[1]} channels) equals PyTorch int8's on "
                  f"{np.mean(q_codes.argmax(1) == g_codes.argmax(1)):.2%} of {pixels:,} pixels")
    rows = compare_layers(net, qm, x[:1])
    worst = min(rows, key=lambda r: r.equal_fraction)
    bad = [r.layer for r in rows if not r.within_bound]
    print(f"layer by layer on PyTorch's own inputs (the first image): worst {worst.layer} {worst.equal_fraction:.3%} equal, "
          + (f"outside the bound: {', '.join(bad)}" if bad else f"all {len(rows)} layers within the bound")
          + f" ({time.time() - t0:.1f} s)")
    return 0


def _transformer_summary(m: object, net: Network, qm: torch.fx.GraphModule, x: torch.Tensor, what: str, t0: float) -> int:
    """A transformer: golden's output against the float model's (class, cosine similarity) and each
    layer against its float operation on golden's own input (golden.transformer_check)."""
    from golden.transformer_check import layer_errors, output_agreement

    agree, cos, worst = output_agreement(net, m.float_model, x)  # type: ignore[attr-defined]
    y = getattr(m, "y_test", None)
    print()
    if y is not None:
        g_pred = net.predict(net.quantize_input(x))
        with torch.no_grad():
            f_pred = m.float_model(x).argmax(1).numpy()  # type: ignore[attr-defined]
        print(f"top-1 accuracy on {len(y)} {what}: float {np.mean(f_pred == y.numpy()):.4f}, golden {np.mean(g_pred == y.numpy()):.4f}")
    print(f"golden's class agrees with float's on {agree:.2%} of {len(x)} {what}; cosine similarity of the outputs "
          f"mean {cos:.5f}, worst {worst:.5f}")
    rows = layer_errors(net, qm, x[:2])
    worst_row = max(rows, key=lambda r: (r.max_lsb, -r.equal))
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[r.kind] = max(kinds.get(r.kind, 0), r.max_lsb)
    print("layer by layer against the float operation on golden's own input (2 images), max |error| in output LSB: "
          + ", ".join(f"{k} {v}" for k, v in kinds.items()))
    print(f"worst: {worst_row} ({time.time() - t0:.1f} s)")
    return 0


def _narrow_accuracy(m: object, net: object, f_out: torch.Tensor, x: torch.Tensor, what: str, t0: float) -> int:
    g_codes = net.run(net.quantize_input(x)).output  # type: ignore[attr-defined]
    y = getattr(m, "y_test", None)
    print()
    if f_out.dim() != 2 or y is None:
        print(f"output {'x'.join(map(str, f_out.shape[1:]))}: no top-1 accuracy lines ({time.time() - t0:.1f} s)")
        return 0
    g_pred = g_codes.reshape(g_codes.shape[0], -1).argmax(axis=1)
    f_pred = f_out.argmax(1).numpy()
    yy = y.numpy()
    print(f"digits test split ({len(yy)} images)   top-1 accuracy")
    print(f"  float            {np.mean(f_pred == yy):.4f}")
    print(f"  golden           {np.mean(g_pred == yy):.4f}   (at the widths above)")
    print(f"golden top-1 agrees with float on {np.mean(g_pred == f_pred):.2%} of {len(g_pred)} {what} ({time.time() - t0:.1f} s)")
    return 0


def oracle(args: argparse.Namespace) -> int:
    from golden.oracle import MAX_ABS_DIFF, MIN_EQUAL_FRACTION, compare_layers, top1_agreement

    m = load_model(args.model)
    qm = quantize(m.float_model, m.calibration, pow2_scales=args.pow2)
    net = extract(qm, m.calibration[:2], bias_mode=args.bias_mode, m0_bits=args.m0_bits)
    x = m.x_test if m.x_test is not None else m.calibration
    print(f"model {m.name}: golden vs PyTorch int8 (qnnpack kernels) on identical integer inputs, {len(x)} images")
    print(f"bound: >= {MIN_EQUAL_FRACTION:.1%} equal and max |diff| <= {MAX_ABS_DIFF} (bias {args.bias_mode}, m0_bits {args.m0_bits})")
    bad = 0
    for a in compare_layers(net, qm, x):
        flag = "" if a.within_bound else "   <-- outside the bound"
        bad += not a.within_bound
        print(f"  {a}{flag}")
    print(f"top-1 agreement: {top1_agreement(net, qm, x):.2%}")
    return 1 if bad else 0


def export_cmd(args: argparse.Namespace) -> int:
    from golden.export import JSON_NAME, check_out_dir, export

    t0 = time.time()
    out = check_out_dir(args.out or f"build/golden-export/{args.model.replace(':', '-').replace('/', '-')}")
    if args.images < 1:
        raise InputError(f"--images {args.images}: export at least one image")
    m = load_model(args.model)
    x, source = (m.x_test, "test") if m.x_test is not None else (m.calibration, "calibration")
    if args.images > len(x):
        raise InputError(f"model {m.name}: --images {args.images}, but it has {len(x)} {source} images")
    qm = quantize(m.float_model, m.calibration, pow2_scales=args.pow2)
    net = extract(qm, m.calibration[:2], bias_mode=args.bias_mode, m0_bits=args.m0_bits)
    x_q = net.quantize_input(x[: args.images])
    export(net, x_q, out, model=m.name, images={"source": source, "first": args.images})
    files = sorted(out.iterdir())
    size = sum(f.stat().st_size for f in files)
    print(f"golden export: model {m.name}, the first {args.images} {source} image(s), {len(net)} layers: "
          f"{JSON_NAME} and {len(files) - 1} .npz files ({size / 1e6:.1f} MB) in {out} ({time.time() - t0:.1f} s)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    # PyTorch's deprecation warnings for golden's own calls are silenced where golden makes them
    # (golden.ptq.torch_quiet); no filter here, so a model file's own warnings still show.
    p = argparse.ArgumentParser(prog="python -m golden", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd")
    s = sub.add_parser("summary", help="layer table and accuracies")
    o = sub.add_parser("oracle", help="per-layer agreement of golden with PyTorch's int8 kernels")
    e = sub.add_parser("export", help="golden's integers per layer (.npz) and the network's geometry (JSON)")
    e.add_argument("--out", default="", help="the folder to write (new, empty or a previous export; "
                   "default build/golden-export/MODEL)")
    e.add_argument("--images", type=int, default=1, help="export the first N test images (default 1)")
    s.add_argument("--w-bits", type=int, default=8, help="weight width, 2..8 (default 8)")
    s.add_argument("--a-bits", type=int, default=8, help="activation width, 4..8 (default 8)")
    s.add_argument("--keep-ends", action="store_true", help="keep the first and the last conv / fc at 8/8")
    s.add_argument("--qat", action="store_true", help="train at the widths (golden.qat; a shipped model's training set) "
                   "instead of post-training quantization")
    for a in (s, o, e):
        a.add_argument("--model", default=DEFAULT_MODEL, help=f"shipped model ({', '.join([*SHIPPED, *GENERATED])}) or path.py:factory")
        a.add_argument("--bias-mode", default="int16_shift", choices=BIAS_MODES)
        a.add_argument("--m0-bits", type=int, default=16)
        a.add_argument("--pow2", action="store_true", help="constrain scales to powers of two (use with --m0-bits 1)")
    sub.add_parser("models", help="list the shipped models")
    words = list(sys.argv[1:] if argv is None else argv)
    if not words or (words[0].startswith("-") and words[0] not in ("-h", "--help")):
        words.insert(0, "summary")  # summary is the default command: `python -m golden --model vgg`
    args = p.parse_args(words)
    if args.cmd == "models":
        for name, spec in SHIPPED.items():
            print(f"{name:16s} {spec.description}")
        for name, (description, _) in GENERATED.items():
            print(f"{name:16s} {description}")
        return 0
    if args.cmd == "oracle":
        return oracle(args)
    if args.cmd == "export":
        return export_cmd(args)
    return summary(args)


if __name__ == "__main__":
    sys.exit(run_cli("golden", main))
