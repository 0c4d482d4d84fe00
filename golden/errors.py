"""The golden model's own exception types. Every message names the layer or module at fault."""
from __future__ import annotations


class UserError(Exception):
    """Base class of every error the tools raise on purpose (bad input, refused request).

    The command-line entry points (golden.cli.run_cli) print it as one line, `prog: error: ...`,
    and exit with status 2, without a traceback unless $INT8SIM_DEBUG=1. golden's, hexgen's and
    tb's own error types all derive from it."""


class GoldenError(UserError):
    """Base class of every error golden/ raises on purpose."""


class UnsupportedLayerError(GoldenError):
    """A module or function in the quantized graph that golden/ cannot evaluate."""


class QuantSchemeError(GoldenError):
    """A tensor is not quantized the way the contract needs (symmetric int8 weights, uint8 activations)."""


class ShapeError(GoldenError):
    """Shapes that do not line up between layers, or a layer record that is inconsistent."""


class InputError(GoldenError):
    """An input tensor of the wrong dtype, range or shape."""


class RangeError(GoldenError):
    """A number that does not fit the contract's fields: a bias past int32, n < 1, an accumulator past int32."""


class BiasSaturationError(RangeError):
    """int16_saturate bias mode with the `error` policy met a bias that does not fit int16."""


class ModelLoadError(InputError):
    """A model reference that cannot be loaded: an unknown name, a missing file or factory, a file
    that does not import, a factory that raises or returns something other than (nn.Module, tensor)."""
