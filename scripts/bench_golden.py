"""Benchmark: golden whole-model inference vs PyTorch int8 inference of the same batch.

    make bench-golden [MODEL=mobilenetv2]

Prints the best of several runs for each and the ratio golden / PyTorch. Each side runs in blocks
of back-to-back calls (warm caches, as a user running one model sees), the blocks take turns
(golden, PyTorch, golden, PyTorch, ...) so that this machine's load swings hit both sides alike,
and the best run is the least disturbed one. The goal
(issue 2): golden no slower than 2x PyTorch's int8 kernels. A figure, not a timed test.
"""
from __future__ import annotations

import argparse
import time
import warnings

import torch

warnings.filterwarnings("ignore")

from golden import extract, quantize  # noqa: E402
from golden.models import DEFAULT_MODEL, load_model  # noqa: E402
from golden.ptq import reference_engine  # noqa: E402


def best_times(fns: list, repeat: int, blocks: int = 3) -> list[float]:  # type: ignore[type-arg]
    """Each function's best time: `blocks` turns, each a block of `repeat` calls per function."""
    best = [float("inf")] * len(fns)
    for _ in range(blocks):
        for i, fn in enumerate(fns):
            fn()  # warm-up
            for _ in range(repeat):
                t0 = time.perf_counter()
                fn()
                best[i] = min(best[i], time.perf_counter() - t0)
    return best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(2)
    m = load_model(args.model)
    qm = quantize(m.float_model, m.calibration)
    net = extract(qm, m.calibration[:2])
    x = m.x_test if m.x_test is not None else m.calibration
    x_q = net.quantize_input(x)

    def torch_int8() -> None:
        with torch.no_grad(), reference_engine():
            qm(x)

    def torch_int8_x86() -> None:
        with torch.no_grad():
            qm(x)

    from golden.transformer_plan import is_quantized_transformer

    if is_quantized_transformer(qm):  # no PyTorch int8 model: golden against PyTorch float, one image
        return _transformer(m, net, args.repeat)
    t_golden, t_torch, t_torch_x86 = best_times([lambda: net.run(x_q), torch_int8, torch_int8_x86], args.repeat)
    n = len(x)
    print(f"model {m.name}, batch {n} images, best of 3 blocks x {args.repeat} runs, {torch.get_num_threads()} threads")
    print(f"  golden (numpy, integer results)       {t_golden * 1e3:8.1f} ms  ({t_golden / n * 1e6:7.1f} us/image)")
    print(f"  PyTorch int8 (qnnpack engine)         {t_torch * 1e3:8.1f} ms  ({t_torch / n * 1e6:7.1f} us/image)")
    print(f"  PyTorch int8 (default engine {torch.backends.quantized.engine:7s})  {t_torch_x86 * 1e3:8.1f} ms")
    ratio = t_golden / t_torch
    print(f"ratio golden / PyTorch int8 = {ratio:.2f}x  (goal <= 2x: {'met' if ratio <= 2 else 'NOT met'})")
    return 0


def _transformer(m, net, repeat: int) -> int:  # type: ignore[no-untyped-def]
    """A transformer (golden.transformer_plan): golden on one image against PyTorch float on it."""
    x = m.calibration[:1]
    x_q = net.quantize_input(x)

    def torch_float() -> None:
        with torch.no_grad():
            m.float_model(x)

    t_golden, t_float = best_times([lambda: net.run(x_q), torch_float], repeat)
    print(f"model {m.name} (a transformer: no PyTorch int8 model), one image, best of 3 blocks x {repeat} runs, "
          f"{torch.get_num_threads()} threads")
    print(f"  golden (numpy, integer results)       {t_golden * 1e3:8.1f} ms")
    print(f"  PyTorch float                         {t_float * 1e3:8.1f} ms")
    print(f"ratio golden / PyTorch float = {t_golden / t_float:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
