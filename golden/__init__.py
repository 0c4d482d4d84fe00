"""golden/: the integer-only reference model of an int8 accelerator (docs/arithmetic.md).

    from golden import quantize, extract
    from golden.models import load_model
    m = load_model("mobilenetv2")
    net = extract(quantize(m.float_model, m.calibration), m.calibration[:1])
    out = net.run(net.quantize_input(m.x_test))    # every layer's uint8 output
"""
from golden.arith import BIAS_MODES
from golden.errors import (
    BiasSaturationError,
    GoldenError,
    InputError,
    ModelLoadError,
    QuantSchemeError,
    RangeError,
    ShapeError,
    UnsupportedLayerError,
)
from golden.layers import (
    INPUT,
    AddLayer,
    AvgPoolLayer,
    ConcatLayer,
    ConvLayer,
    FlattenLayer,
    InputQuant,
    Layer,
    LinearLayer,
    MaxPoolLayer,
    Network,
    Requant,
    RunResult,
    UpsampleLayer,
)
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from golden.brevitas_import import extract_brevitas
    from golden.graph import extract, trace_values
    from golden.ptq import contract_qconfig, quantize

# quantize / extract need torch (a 3 s import); they load on first use so that code reading layer
# records or memory images (hexgen's reader, the testbenches) starts fast.
_LAZY = {"quantize": "golden.ptq", "contract_qconfig": "golden.ptq", "extract": "golden.graph",
         "trace_values": "golden.graph", "extract_brevitas": "golden.brevitas_import"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'golden' has no attribute {name!r}")


def quantize_input(net: Network, x: object) -> object:
    """Module-level alias of Network.quantize_input."""
    return net.quantize_input(x)


__all__ = [
    "BIAS_MODES", "INPUT", "AddLayer", "AvgPoolLayer", "BiasSaturationError", "ConcatLayer", "ConvLayer", "FlattenLayer",
    "GoldenError", "InputError", "InputQuant", "Layer", "LinearLayer", "MaxPoolLayer", "ModelLoadError", "Network",
    "QuantSchemeError", "RangeError", "Requant", "RunResult", "ShapeError", "UnsupportedLayerError", "UpsampleLayer",
    "contract_qconfig", "extract", "extract_brevitas", "quantize", "quantize_input", "trace_values",
]
