"""Shipped models, user factories and the `python -m golden` command line."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from golden import ConvLayer, extract
from golden.errors import InputError
from golden.models import SHIPPED, load_model

ROOT = Path(__file__).resolve().parent.parent


def test_mobilenetv2_has_every_layer_kind_the_accelerator_needs(shipped):
    q = shipped("mobilenetv2")
    net = extract(q.qmodel, q.calibration[:2])
    convs = {(l.kind, l.stride) for l in net.layers if isinstance(l, ConvLayer)}
    assert {("conv", (2, 2)), ("depthwise", (1, 1)), ("depthwise", (2, 2)), ("pointwise", (1, 1))} <= convs
    assert {"fc", "add", "avgpool", "flatten"} <= {l.kind for l in net.layers}
    stem = net["conv1"]
    assert isinstance(stem, ConvLayer) and stem.in_shape == (3, 24, 24) and stem.kernel == (3, 3)
    # ReLU6 folded into the conv: its clamp bounds (lower bound = zero point), over the full code range
    relu6 = [l for l in net.compute_layers() if isinstance(l, ConvLayer) and l.requant.lo == l.requant.z_out]
    assert len(relu6) >= 11 and all(l.requant.z_out == 0 and l.requant.hi == 255 for l in relu6), \
        [(l.name, l.requant.z_out, l.requant.hi) for l in relu6]
    names = net.names
    assert names[:3] == ["conv1", "conv2", "conv3"] and "fc1" in names and "add1" in names and "pool1" in names


def test_a_clamp_activation_sets_the_output_range_of_the_layer_before_it():
    """A conv followed by ReLU6 was quantized on its pre-activation range: the clamp sat at a zero
    point far above 0 and the codes below it were never used (mobilenetv2's conv1 used 85 of 256).
    Folded as TFLite does (golden.observe.observe_clamped), the conv's output range is the ReLU6's,
    [0, 6] over every code; quantize(fold_clamps=False) keeps FX's own ranges to compare."""
    import warnings

    from golden import quantize

    m = load_model("mobilenetv2")
    x = m.calibration[:64]

    def codes(fold: bool) -> dict[str, int]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = extract(quantize(m.float_model, x, fold_clamps=fold), x[:2])
        # layers with a folded ReLU/ReLU6 (lower bound = zero point): the codes they can output
        return {l.name: l.requant.hi - l.requant.lo + 1 for l in net.compute_layers()
                if isinstance(l, ConvLayer) and l.requant.lo == l.requant.z_out}

    unfolded, folded = codes(False), codes(True)
    assert sum(n < 200 for n in unfolded.values()) >= 11, unfolded  # FX alone wastes codes
    assert folded.keys() == unfolded.keys() and all(n == 256 for n in folded.values()), folded


def test_every_shipped_model_loads_with_its_test_split():
    for name, spec in SHIPPED.items():
        m = load_model(name)
        assert m.x_test is not None and tuple(m.x_test.shape[1:]) == (spec.channels, spec.size, spec.size)
        assert len(m.x_test) == 360


def test_user_factory_is_loaded(tmp_path):
    f = tmp_path / "mynet.py"
    f.write_text(
        "import torch\nfrom torch import nn\n"
        "def make():\n"
        "    torch.manual_seed(0)\n"
        "    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3)).eval(), torch.rand(8, 1, 6, 6)\n"
    )
    m = load_model(f"{f}:make")
    assert m.x_test is None and tuple(m.calibration.shape) == (8, 1, 6, 6)
    with pytest.raises(InputError, match="has no function 'nope'"):
        load_model(f"{f}:nope")
    with pytest.raises(InputError, match="unknown model 'resnet'"):
        load_model("resnet")


@pytest.mark.slow  # 7 s of make test's three minutes; the summary command stays in make test (the test below)
def test_summary_command_prints_table_and_accuracies():
    out = subprocess.run(
        [sys.executable, "-m", "golden", "summary", "--model", "mlp"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    for text in ("fc1", "fc3", "M0", "float ", "PyTorch int8", "golden ", "agrees with PyTorch int8 on"):
        assert text in out.stdout


def test_summary_command_names_an_unsupported_module(tmp_path):
    f = tmp_path / "bad.py"
    f.write_text(
        "import torch\nfrom torch import nn\n"
        "def make():\n"
        "    return nn.Sequential(nn.Conv2d(1, 2, 1), nn.Hardswish()).eval(), torch.rand(4, 1, 4, 4)\n"
    )
    out = subprocess.run([sys.executable, "-m", "golden", "summary", "--model", f"{f}:make"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert "module '1'" in out.stderr and "Hardswish" in out.stderr
