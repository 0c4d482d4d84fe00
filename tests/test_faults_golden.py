"""Bad input to golden (issue 9, item 8): one GoldenError naming the module / file / factory, never a
traceback; `python -m golden` answers it with one `golden: error:` line and exit status 2.

Each case failed on main before this file was written (a raw torch / Python exception, the error
only at extract() with no module type, status 1, or a crash); the small models keep each test fast.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from golden import InputError, UnsupportedLayerError, extract, quantize
from golden.__main__ import main
from golden.cli import run_cli
from golden.errors import ModelLoadError
from golden.graph import torch_int8_output
from golden.models import load_model
from golden.oracle import compare_layers

ROOT = Path(__file__).resolve().parents[1]


def _calib(*shape: int, n: int = 8) -> torch.Tensor:
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(0))


def _factory_file(tmp_path: Path, body: str, name: str = "net.py") -> Path:
    f = tmp_path / name
    f.write_text("import torch\nfrom torch import nn\n\n" + body)
    return f


# ---- load_model ------------------------------------------------------------------------------

def test_unknown_model_name():
    with pytest.raises(ModelLoadError, match=r"unknown model 'nosuch': shipped models are mobilenetv2, vgg, mlp, mobilenetv2_224"):
        load_model("nosuch")


def test_py_file_without_factory_says_how_to_name_it(tmp_path):
    f = _factory_file(tmp_path, "def make():\n    return None\n")
    with pytest.raises(ModelLoadError, match=rf"expected NAME .* or path.py:factory; give the factory function too, e.g. {f}:make"):
        load_model(str(f))


def test_missing_file(tmp_path):
    with pytest.raises(ModelLoadError, match=r"file .*absent.py does not exist"):
        load_model(f"{tmp_path}/absent.py:make")


def test_missing_factory_lists_the_functions_there(tmp_path):
    f = _factory_file(tmp_path, "def build():\n    pass\n")
    with pytest.raises(ModelLoadError, match=r"net.py has no function 'make' \(functions defined there: build\)"):
        load_model(f"{f}:make")


def test_factory_that_raises_is_wrapped_with_the_file_name_and_keeps_the_cause(tmp_path):
    f = _factory_file(tmp_path, "def make():\n    raise ValueError('no weights here')\n")
    with pytest.raises(ModelLoadError, match=r"net.py: make\(\) raised ValueError: no weights here") as exc:
        load_model(f"{f}:make")
    assert isinstance(exc.value.__cause__, ValueError)


@pytest.mark.parametrize(
    "ret, message",
    [
        ("None", r"make\(\) returned NoneType; it must return \(float nn.Module, calibration batch tensor\)"),
        ("(nn.Linear(2, 2),)", r"make\(\) returned a tuple of 1 \(Linear\)"),
        ("(nn.Linear(2, 2), [[0.0, 1.0]])", r"make\(\) returned list as the calibration batch, not a torch.Tensor"),
        ("(torch.rand(2, 2), torch.rand(2, 2))", r"make\(\) returned Tensor as the model, not an nn.Module"),
    ],
    ids=["none", "one-item", "list-batch", "tensor-model"],
)
def test_factory_returning_the_wrong_things(tmp_path, ret, message):
    f = _factory_file(tmp_path, f"def make():\n    return {ret}\n")
    with pytest.raises(ModelLoadError, match=message):
        load_model(f"{f}:make")


def test_file_with_a_syntax_error_names_file_and_line(tmp_path):
    f = _factory_file(tmp_path, "def make(:\n    pass\n")
    with pytest.raises(ModelLoadError, match=r"net.py:4: syntax error"):
        load_model(f"{f}:make")


def test_file_whose_import_fails_names_the_file(tmp_path):
    f = _factory_file(tmp_path, "import no_such_package_here\n")
    with pytest.raises(ModelLoadError, match=r"importing .*net.py raised ModuleNotFoundError"):
        load_model(f"{f}:make")


# ---- the calibration batch and the float model's values --------------------------------------

def _conv_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1)).eval()


def test_empty_calibration_batch_is_refused():
    with pytest.raises(InputError, match=r"calibration_batch is empty \(shape \(0, 1, 8, 8\)\); give at least one sample"):
        quantize(_conv_model(), torch.zeros(0, 1, 8, 8))


@pytest.mark.parametrize("bad, word", [(float("nan"), "NaN"), (float("inf"), "Inf"), (float("-inf"), "Inf")])
def test_calibration_batch_with_non_finite_values_is_refused(bad, word):
    x = _calib(1, 8, 8)
    x[3, 0, 2, 2] = bad
    with pytest.raises(InputError, match=rf"calibration_batch holds 1 {word} values \(first in sample 3\)"):
        quantize(_conv_model(), x)


def test_calibration_batch_of_a_shape_the_model_refuses():
    with pytest.raises(InputError, match=r"calibration_batch of shape \(8, 3, 8, 8\) does not fit the model; its first "
                                         r"conv/fc layer, module '0' \(Conv2d\), takes \[N, 1, H, W\]"):
        quantize(_conv_model(), _calib(3, 8, 8))
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(64, 4)).eval()
    with pytest.raises(InputError, match=r"module '1' \(Linear\), takes 64 input features"):
        quantize(mlp, _calib(1, 7, 7))


def test_calibration_batch_that_is_not_a_float_tensor():
    with pytest.raises(InputError, match="calibration_batch must be a float batch"):
        quantize(_conv_model(), torch.zeros(4, 1, 8, 8, dtype=torch.int64))
    with pytest.raises(InputError, match="calibration_batch must be a torch.Tensor, got ndarray"):
        quantize(_conv_model(), np.zeros((4, 1, 8, 8), np.float32))
    with pytest.raises(InputError, match=r"calibration_batch is torch.float64, the model's parameters are torch.float32"):
        quantize(_conv_model(), _calib(1, 8, 8).double())


@pytest.mark.parametrize(
    "where, tensor, value, message",
    [
        ("0", "weight", float("nan"), r"module '0' \(Conv2d\): weight holds 1 NaN \(of 36 values\)"),
        ("3", "bias", float("inf"), r"module '3' \(Conv2d\): bias holds 1 Inf \(of 2 values\)"),
        ("1", "running_var", float("inf"), r"module '1' \(BatchNorm2d\): running_var holds 1 Inf \(of 4 values\)"),
    ],
    ids=["nan-weight", "inf-bias", "inf-bn-buffer"],
)
def test_non_finite_parameters_and_buffers_name_the_module(where, tensor, value, message):
    model = _conv_model()
    with torch.no_grad():
        getattr(model.get_submodule(where), tensor).view(-1)[0] = value
    with pytest.raises(InputError, match=message):
        quantize(model, _calib(1, 8, 8))


# ---- unsupported modules and functions --------------------------------------------------------

class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.conv(x))


class WithBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blk = Block()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blk(x)


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(8, 4, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


class SharedConvOutput(nn.Module):
    """conv -> bn, but the conv's output is also added back: FX cannot fold the bn into the conv."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.bn(y) + y


UNSUPPORTED = {
    "sigmoid": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.Sigmoid()), (1, 8, 8), r"module '1' \(Sigmoid\) is not supported"),
    "lstm": (Recurrent, (3, 8), r"module 'rnn' \(LSTM\) is not supported"),
    "silu-module": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.SiLU()), (1, 8, 8), r"module '1' \(SiLU\) is not supported"),
    "silu-function": (WithBlock, (1, 8, 8), r"function silu \(FX node .*\) in module 'blk' \(Block\) is not supported"),
    "conv-transpose": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.ConvTranspose2d(4, 4, 3)), (1, 8, 8),
                       r"module '1' \(ConvTranspose2d\) is not supported"),
    "bn-first": (lambda: nn.Sequential(nn.BatchNorm2d(1), nn.Conv2d(1, 4, 3)), (1, 8, 8),
                 r"module '0' \(BatchNorm2d\) is an unfused batch norm: it reads the model input, not a conv"),
    "bn-after-relu": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.BatchNorm2d(4)), (1, 8, 8),
                      r"module '2' \(BatchNorm2d\) is an unfused batch norm: it reads module '1' \(ReLU\), not a conv"),
    "bn-not-fusable": (SharedConvOutput, (4, 6, 6),
                       r"module 'bn' \(BatchNorm2d\) is an unfused batch norm: the output of module 'conv' \(Conv2d\)"),
    "bilinear": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.Upsample(scale_factor=2, mode="bilinear")), (1, 8, 8),
                 r"module '1' \(Upsample\): mode='bilinear'; golden upsamples by nearest neighbour only"),
    "bare-upsample-by-1.5": (lambda: nn.Upsample(scale_factor=1.5), (1, 8, 8),
                             r"the model \(Upsample\): scale_factor=1.5; golden upsamples by whole factors"),
    "conv1d": (lambda: nn.Sequential(nn.Conv1d(1, 4, 3)), (1, 8), r"module '0' \(Conv1d\) is not supported"),
}


@pytest.mark.parametrize("case", list(UNSUPPORTED))
def test_unsupported_module_is_refused_by_quantize_naming_module_and_type(case):
    make, shape, message = UNSUPPORTED[case]
    with pytest.raises(UnsupportedLayerError, match=message):
        quantize(make().eval(), _calib(*shape))


def test_unfused_batch_norm_in_a_converted_model_is_named_at_extract():
    from golden.ptq import contract_qconfig
    from torch.ao.quantization import QConfigMapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    model, x = nn.Sequential(nn.BatchNorm2d(1), nn.Conv2d(1, 2, 3)).eval(), _calib(1, 6, 6)
    prepared = prepare_fx(model, QConfigMapping().set_global(contract_qconfig()), example_inputs=(x[:1],))
    prepared(x)
    with pytest.raises(UnsupportedLayerError, match=r"module '0' \(BatchNorm2d\) is an unfused batch norm"):
        extract(convert_fx(prepared), x[:1])


# ---- a bare nn.Linear / nn.Conv2d as the whole model -----------------------------------------

class FunctionalConvReLU(nn.Module):
    """F.conv2d on the module's own parameters followed by F.relu (FX: quantized.conv2d_relu)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 2, 3, 3) * 0.3)
        self.bias = nn.Parameter(torch.randn(4) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(F.conv2d(x, self.weight, self.bias, stride=(2, 2), padding=(1, 1), dilation=(1, 1), groups=1))


@pytest.mark.parametrize(
    "make, shape, kind",
    [
        (lambda: nn.Linear(12, 5), (12,), "fc"),
        (lambda: nn.Conv2d(2, 4, 3, stride=2, padding=1), (2, 7, 7), "conv"),
        (lambda: nn.Conv2d(4, 4, 3, padding=1, groups=4), (4, 6, 6), "depthwise"),
        (FunctionalConvReLU, (2, 7, 7), "conv"),
    ],
    ids=["linear", "conv", "depthwise", "functional-conv-relu"],
)
def test_bare_linear_or_conv_model_matches_pytorch(make, shape, kind):
    torch.manual_seed(1)
    model = make().eval()
    x = _calib(*shape, n=32) * 4 - 1
    qm = quantize(model, x)
    net = extract(qm, x[:2])
    assert [l.kind for l in net.layers] == [kind]
    for agreement in compare_layers(net, qm, x):
        assert agreement.within_bound, str(agreement)
    torch_codes = torch.quantize_per_tensor(torch_int8_output(qm, x), net.output_scale, net.output_zero_point, torch.quint8)
    got = net.run(net.quantize_input(x)).output.astype(np.int64)
    assert np.abs(got - torch_codes.int_repr().numpy().astype(np.int64)).max() <= 1
    if isinstance(model, FunctionalConvReLU):
        assert net.layers[0].requant.lo == net.output_zero_point  # type: ignore[attr-defined]  # ReLU folded in


# ---- python -m golden: one line, status 2; summary on models without class scores ------------

def _run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = run_cli("golden", main, argv)
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.parametrize(
    "body, expect",
    [
        (None, "unknown model 'nosuch'"),
        ("def make():\n    raise RuntimeError('disk on fire')\n", "make() raised RuntimeError: disk on fire"),
        ("def make():\n    return None\n", "make() returned NoneType"),
        ("def make():\n    m = nn.Sequential(nn.Conv2d(1, 2, 3))\n    m[0].weight.data[0, 0, 0, 0] = float('nan')\n"
         "    return m, torch.rand(4, 1, 6, 6)\n", "module '0' (Conv2d): weight holds 1 NaN"),
        ("def make():\n    return nn.Sequential(nn.Conv2d(1, 2, 3)), torch.zeros(0, 1, 6, 6)\n", "calibration_batch is empty"),
        ("def make():\n    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sigmoid()), torch.rand(4, 1, 6, 6)\n",
         "module '1' (Sigmoid) is not supported"),
    ],
    ids=["unknown-name", "factory-raises", "factory-none", "nan-weight", "empty-calibration", "sigmoid"],
)
def test_cli_error_is_one_line_and_status_2(tmp_path, capsys, monkeypatch, body, expect):
    monkeypatch.delenv("INT8SIM_DEBUG", raising=False)
    ref = "nosuch" if body is None else f"{_factory_file(tmp_path, body)}:make"
    status, _, err = _run_cli(["summary", "--model", ref], capsys)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("golden: error: ") and expect in err, err


def _subprocess(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "INT8SIM_DEBUG"}
    return subprocess.run([sys.executable, "-m", "golden", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.mark.parametrize(
    "body, expect",
    [
        ("def make():\n    raise KeyError('weights.pt')\n", "make() raised KeyError"),
        ("def make():\n    return nn.Sequential(nn.Conv1d(1, 2, 3)), torch.rand(4, 1, 8)\n", "module '0' (Conv1d) is not supported"),
    ],
    ids=["factory-raises", "conv1d"],
)
def test_python_m_golden_exits_2_with_one_error_line(tmp_path, body, expect):
    f = _factory_file(tmp_path, body)
    out = _subprocess(["summary", "--model", f"{f}:make"])
    assert out.returncode == 2, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("golden: error: ") and expect in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def test_summary_of_a_model_whose_output_is_not_a_vector(tmp_path, capsys):
    f = _factory_file(tmp_path, "def make():\n    torch.manual_seed(0)\n"
                      "    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 1)), torch.rand(6, 1, 6, 6)\n")
    status, out, err = _run_cli(["summary", "--model", f"{f}:make"], capsys)
    assert status == 0, err
    assert "conv1" in out and "conv2" in out  # the table
    assert "output 2x6x6 is not a vector of class scores" in out
    assert "golden output codes equal PyTorch int8's on" in out and "calibration images" in out


def test_summary_of_a_user_model_without_test_data_and_a_bare_linear(tmp_path, capsys):
    f = _factory_file(tmp_path, "def make():\n    torch.manual_seed(0)\n    return nn.Linear(8, 4), torch.rand(16, 8)\n")
    status, out, _ = _run_cli(["summary", "--model", f"{f}:make"], capsys)
    assert status == 0
    assert "fc1" in out and "golden top-1 agrees with PyTorch int8 on" in out
    assert "16 calibration images (the model has no test data)" in out



def test_summary_is_the_default_command_and_option_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("INT8SIM_DEBUG", raising=False)
    status, _, err = _run_cli(["--model", "nosuch"], capsys)  # argparse refused this before
    assert status == 2 and err.startswith("golden: error: unknown model 'nosuch'") and err.count("\n") == 1, err
    f = _factory_file(tmp_path, "def make():\n    return nn.Sequential(nn.Conv2d(1, 2, 3)), torch.rand(4, 1, 6, 6)\n")
    status, _, err = _run_cli(["--model", f"{f}:make", "--m0-bits", "40"], capsys)
    assert status == 2 and err == "golden: error: m0_bits=40 is outside 1..31\n", err


# ---- a factory or model file that exits (issue 23, item 4) -----------------------------------
# sys.exit() raises SystemExit, a BaseException: `except Exception` let it through, and `make golden`
# / `make sim` ended with the factory's status (0: "success" with nothing run).

@pytest.mark.parametrize(
    "body, expect",
    [
        ("import sys\n\ndef make():\n    sys.exit(0)\n", r"net.py: make\(\) called sys.exit\(0\)"),
        ("import sys\n\ndef make():\n    sys.exit(3)\n", r"net.py: make\(\) called sys.exit\(3\)"),
        ("import sys\n\ndef make():\n    sys.exit('bye')\n", r"net.py: make\(\) called sys.exit\('bye'\)"),
        ("class Stop(BaseException):\n    pass\n\ndef make():\n    raise Stop('halt')\n", r"net.py: make\(\) raised Stop: halt"),
        ("import sys\nsys.exit(0)\n\ndef make():\n    pass\n", r"importing .*net.py called sys.exit\(0\)"),
    ],
    ids=["exit-0", "exit-3", "exit-text", "base-exception", "exit-at-import"],
)
def test_factory_that_exits_is_a_model_load_error(tmp_path, body, expect):
    f = _factory_file(tmp_path, body)
    with pytest.raises(ModelLoadError, match=expect):
        load_model(f"{f}:make")


def test_factory_keyboard_interrupt_still_interrupts(tmp_path):
    f = _factory_file(tmp_path, "def make():\n    raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        load_model(f"{f}:make")


@pytest.mark.parametrize("module", ["golden", "tb.layer_sim"])
def test_factory_sys_exit_0_is_one_line_and_status_2(tmp_path, module):
    f = _factory_file(tmp_path, "import sys\n\ndef make():\n    sys.exit(0)\n")
    env = {k: v for k, v in os.environ.items() if k != "INT8SIM_DEBUG"}
    args = ["summary", "--model", f"{f}:make"] if module == "golden" else ["--list", "--model", f"{f}:make"]
    out = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and ": error: " in lines[0] and "make() called sys.exit(0)" in lines[0], out.stderr
