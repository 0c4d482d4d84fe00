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
    QuantSchemeError,
    RangeError,
    ShapeError,
    UnsupportedLayerError,
)
from golden.extract import extract, trace_values
from golden.layers import (
    INPUT,
    AddLayer,
    AvgPoolLayer,
    ConvLayer,
    FlattenLayer,
    InputQuant,
    Layer,
    LinearLayer,
    MaxPoolLayer,
    Network,
    Requant,
    RunResult,
)
from golden.quantize import contract_qconfig, quantize


def quantize_input(net: Network, x: object) -> object:
    """Module-level alias of Network.quantize_input."""
    return net.quantize_input(x)


__all__ = [
    "BIAS_MODES", "INPUT", "AddLayer", "AvgPoolLayer", "BiasSaturationError", "ConvLayer", "FlattenLayer",
    "GoldenError", "InputError", "InputQuant", "Layer", "LinearLayer", "MaxPoolLayer", "Network",
    "QuantSchemeError", "RangeError", "Requant", "RunResult", "ShapeError", "UnsupportedLayerError",
    "contract_qconfig", "extract", "quantize", "quantize_input", "trace_values",
]
