"""python -m hexgen [--model NAME|path.py:factory] --out DIR [--word-bits 64 ...]
python -m hexgen check DIR
python -m hexgen table DIR
python -m hexgen example

The first form quantizes the model (golden/), runs the golden model on the first test image (or
--images N) and writes the memory images, memory map and Verilog header into DIR. The second reads
every file of DIR against its memory map and prints each problem as `file:line: ...` or
`file: field: ...`; `table` prints DIR's memory map table; `example` prints the worked example of
docs/memory-map.md.

Exit status: 0 done (check: no problem); 1 check found problems in the folder (a verdict); 2 an
error (bad argument, unknown model or layer, a folder that is not hexgen's, a write the system
refused): one line `hexgen: error: ...` on stderr, no traceback unless INT8SIM_DEBUG=1.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import NoReturn, Sequence

from golden.cli import run_cli
from hexgen.config import HardwareConfig
from hexgen.errors import HexgenError

DEFAULTS = HardwareConfig()
PROG = "hexgen"


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are one `hexgen: error: ...` line and status 2, like every other error."""

    def error(self, message: str) -> NoReturn:
        raise HexgenError(f"{message} (see {self.prog} --help)")


def _gen_parser() -> argparse.ArgumentParser:
    from golden.arith import BIAS_MODES
    from golden.models import DEFAULT_MODEL, SHIPPED

    p = ArgumentParser(prog="python -m hexgen", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"shipped model ({', '.join(SHIPPED)}) or path.py:factory (default {DEFAULT_MODEL})")
    p.add_argument("--out", required=True, help="output folder (written whole, or not at all)")
    p.add_argument("--images", type=int, default=1, help="test images to run (default 1: the first)")
    p.add_argument("--layers", default=None, help="comma-separated layer names (default: every conv/fc layer; for a transformer "
                   "every layer with arithmetic: linear, matmul, softmax, gelu, layernorm, add_const, add)")
    p.add_argument("--bias-mode", default="int16_shift", choices=BIAS_MODES)
    p.add_argument("--m0-bits", type=int, default=16)
    p.add_argument("--quiet", action="store_true", help="do not print the memory map table")
    hw = p.add_argument_group("hardware configuration (a preset, each field overridable)")
    hw.add_argument("--hw", default="default", help="hardware description: a preset of hexgen.hw or path.json (default: default)")
    for name, flag in (
        ("word_bits", "--word-bits"),
        ("array_rows", "--rows"),
        ("array_cols", "--cols"),
        ("weight_buf_words", "--weight-buf-words"),
        ("act_buf_words", "--act-buf-words"),
        ("bias_buf_words", "--bias-buf-words"),
        ("scale_buf_words", "--scale-buf-words"),
        ("align_bytes", "--align-bytes"),
    ):
        hw.add_argument(flag, dest=name, type=int, default=None, help=f"default: the preset's ({getattr(DEFAULTS, name)} in default)")
    hw.add_argument("--weight-bits", dest="weight_bits", type=_widths, default=None,
                    help="the weight widths the engine unpacks, e.g. 8 or 2,4,8 (default: the preset's)")
    q = p.add_argument_group("widths golden quantizes to (golden.qat.quantized_model, as make golden and make sim)")
    q.add_argument("--w-bits", type=int, default=8, help="weight bits 2..8 (default 8)")
    q.add_argument("--a-bits", type=int, default=8, help="activation bits 4..8 (default 8)")
    q.add_argument("--keep-ends", action="store_true", help="first and last conv / fc at 8/8")
    q.add_argument("--qat", action="store_true", help="trained at the widths (a kept `make train QAT=1` model, or trained now)")
    return p


def _widths(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: widths separated by commas, e.g. 2,4,8") from None


def generate(args: argparse.Namespace) -> int:
    import warnings

    # PyTorch 2.13 warns on every quantized tensor it creates; it says nothing about this run.
    warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
    from golden import extract
    from golden.qat import quantized_model
    from golden.models import load_model
    from hexgen.folder import write_image
    from hexgen.image import build_image

    from dataclasses import fields, replace

    from hexgen.hw import load_hw

    t0 = time.time()
    given = {f.name: getattr(args, f.name) for f in fields(HardwareConfig) if getattr(args, f.name, None) is not None}
    cfg = replace(load_hw(args.hw), **given)
    m = load_model(args.model)
    data = m.x_test if m.x_test is not None else m.calibration
    if not 1 <= args.images <= len(data):
        raise HexgenError(f"--images {args.images}: the model's {'test split' if m.x_test is not None else 'calibration batch'} has {len(data)} images")
    from hexgen.fit import fit_report

    for line in fit_report(m.float_model, m.calibration, cfg, w_bits=args.w_bits):  # before the slow part
        print(line, flush=True)
    qm = quantized_model(m, w_bits=args.w_bits, a_bits=args.a_bits, keep_ends=args.keep_ends, qat=args.qat)
    net = extract(qm, m.calibration[:2], bias_mode=args.bias_mode, m0_bits=args.m0_bits)
    x_q = net.quantize_input(data[: args.images])
    layers = [s.strip() for s in args.layers.split(",") if s.strip()] if args.layers else None
    image = build_image(net, x_q, cfg, model=m.name, layers=layers)
    out = write_image(image, args.out)
    moved = [n for n, why in image.skipped if why.startswith("a pure reshape")]
    if moved:
        print(f"hexgen: golden only (a pure reshape: no arithmetic; concat_tokens' class token is a constant): {', '.join(moved)}")
    for n, why in image.skipped:
        if not why.startswith("a pure reshape"):
            print(f"hexgen: not laid out: {n}: {why}")
    if not args.quiet:
        print(image.table())
    print(f"hexgen: wrote {len(image.segments)} segments of {len(image.plans)} layers to {out} ({time.time() - t0:.1f} s)")
    return 0


def check(argv: list[str]) -> int:
    from hexgen.check import check_image

    p = ArgumentParser(prog="python -m hexgen check", description="check a written image folder against its memory map")
    p.add_argument("folder")
    args = p.parse_args(argv)
    from pathlib import Path

    folder = Path(args.folder)
    if not folder.is_dir():
        raise HexgenError(f"{folder}: no such folder" if not folder.exists() else f"{folder}: not a folder")
    problems = check_image(folder)
    for line in problems:
        print(line)
    if problems:
        print(f"hexgen check: {len(problems)} problem(s) in {args.folder}", file=sys.stderr)
        return 1
    print(f"hexgen check: {args.folder} OK")
    return 0


def table(argv: list[str]) -> int:
    import json
    from pathlib import Path

    from hexgen.image import MAP_FILE, map_table

    p = ArgumentParser(prog="python -m hexgen table", description="print a written folder's memory map table")
    p.add_argument("folder")
    args = p.parse_args(argv)
    path = Path(args.folder) / MAP_FILE
    try:
        mm = json.loads(path.read_text(encoding="utf-8"))
        print(map_table(mm))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HexgenError(f"{path}: cannot read the memory map: {exc}") from exc
    return 0


def _main(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["check"]:
        return check(args[1:])
    if args[:1] == ["table"]:
        return table(args[1:])
    if args[:1] == ["example"]:
        from hexgen.example import main as example_main

        return example_main(args[1:])
    return generate(_gen_parser().parse_args(args))


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status 0 (done), 1 (check found problems), 2 (an error, one line on stderr)."""
    return run_cli(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
