"""hexgen's own exception types. Every message names what is at fault (field, layer, file and line)."""
from __future__ import annotations

from golden.errors import UserError


class HexgenError(UserError):
    """Base class of every error hexgen raises on purpose."""


class ConfigError(HexgenError, ValueError):
    """A HardwareConfig field with an unusable value; the message names the field."""


class LayoutError(HexgenError, ValueError):
    """A tensor that does not match its layout, or a value that does not fit its field."""


class FitError(HexgenError):
    """A layer that does not fit one of the configured on-chip buffers."""

    def __init__(self, layer: str, buffer: str, need: int, capacity: int, what: str) -> None:
        self.layer, self.buffer, self.need, self.capacity = layer, buffer, need, capacity
        super().__init__(
            f"layer {layer}: {what} needs {need} words of the {buffer} buffer, "
            f"which holds {capacity} words (HardwareConfig.{buffer}_buf_words={capacity})"
        )


class HexFormatError(HexgenError):
    """A memory image file that is not what hexgen wrote: names the file and the line."""

    def __init__(self, path: object, line: int, message: str) -> None:
        self.path, self.line, self.message = str(path), line, message
        super().__init__(f"{path}:{line}: {message}")
