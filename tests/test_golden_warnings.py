"""golden used as a library prints none of PyTorch's deprecation warnings for golden's own calls
(issue 24, item 7), and hides none of the user's: golden silences exactly those warnings around
its calls (golden.ptq.torch_quiet), never with a filter for the whole process.

One subprocess under `python -W default` (every warning shown once per place, as a user running
with warnings on sees them): pytest's own filterwarnings (pyproject.toml) do not reach it.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import warnings
    import torch
    from torch import nn
    from golden import quantize, extract
    from golden.graph import torch_int8_output

    before = list(warnings.filters)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, groups=8), nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4),
    )
    calibration = torch.rand(8, 3, 8, 8)
    qm = quantize(model, calibration)
    net = extract(qm, calibration[:2])
    res = net.run(net.quantize_input(calibration[:3]), accumulators=True)
    torch_int8_output(qm, calibration[:3])          # the PyTorch int8 model, run by golden
    assert list(warnings.filters) == before, "golden changed the process's warning filters"
    print("layers", len(net), "output", res.output.shape)
    # the user's own warnings still show after golden ran
    warnings.warn("the user's own deprecation", DeprecationWarning)
    warnings.warn("the user's own user warning", UserWarning)
    """
)


def test_quantize_extract_run_print_no_torch_warnings_and_keep_the_users():
    out = subprocess.run(
        [sys.executable, "-W", "default", "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "layers 5 output (3, 4)" in out.stdout
    warning_lines = [l for l in out.stderr.splitlines() if "Warning:" in l]
    # exactly the two the script itself gave; nothing from torch (DeprecationWarning of
    # torch.ao.quantization, UserWarning of quantized tensor creation) or anything else
    assert len(warning_lines) == 2, out.stderr
    assert "DeprecationWarning: the user's own deprecation" in warning_lines[0], out.stderr
    assert "UserWarning: the user's own user warning" in warning_lines[1], out.stderr
    assert "torch" not in out.stderr, out.stderr


UNPICKLED = textwrap.dedent(
    """
    import pickle, sys
    import numpy as np
    with open(sys.argv[1], "rb") as fh:
        net = pickle.load(fh)          # a Network written by another process (tb's image cache does this)
    x = net.quantize_input(np.zeros((1, *net.input_quant.shape), np.float32))
    print("codes", x.shape)
    """
)


def test_an_unpickled_network_quantizes_its_input_without_torch_warnings(tmp_path):
    """The first quantized tensor of a process that only unpickled a Network is made in
    Network.quantize_input: PyTorch's once-per-process UserWarning came from there."""
    import pickle

    import torch
    from torch import nn

    from golden import extract, quantize

    torch.manual_seed(0)
    model, calibration = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()), torch.rand(4, 1, 6, 6)
    (tmp_path / "net.pkl").write_bytes(pickle.dumps(extract(quantize(model, calibration), calibration[:2])))
    out = subprocess.run([sys.executable, "-W", "default", "-c", UNPICKLED, str(tmp_path / "net.pkl")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "codes (1, 1, 6, 6)" in out.stdout, out.stderr
    assert "Warning" not in out.stderr, out.stderr
