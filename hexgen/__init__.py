"""hexgen/: memory images in the accelerator's tiling order, a memory map, and a reader.

    from hexgen import HardwareConfig, build_image, write_image, read_image
    image = build_image(net, x_q, HardwareConfig(word_bits=64))   # net: golden Network, x_q: uint8 [N, ...]
    write_image(image, "build/hexgen/mobilenetv2")
    back = read_image("build/hexgen/mobilenetv2")                 # every segment as arrays again

The layout (docs/memory-map.md) is data: hexgen.layout.Layout, made per layer by hexgen.plan for
our engine, or given per segment by a target (hexgen.target.build_target_image, docs/memory-map.md,
"Layouts of your own").
"""
from hexgen.config import HardwareConfig
from hexgen.errors import ConfigError, FitError, HexFormatError, HexgenError, LayoutError
from hexgen.check import ReadBack, check_image, read_image
from hexgen.folder import write_image
from hexgen.image import Image, Segment, build_image, place
from hexgen.layout import (
    BIAS_FIELDS,
    SCALE_FIELDS,
    Field,
    Layout,
    element_address,
    from_words,
    pack_words,
    tile_order,
    to_words,
    untile,
    unpack_words,
)
from hexgen.memh import read_memh, write_memh
from hexgen.plan import SEGMENTS, LayerPlan, layer_arrays, plan_layer
from hexgen.target import ROLES, TargetLayoutError, TargetSegment, build_target_image

__all__ = [
    "BIAS_FIELDS", "ROLES", "SCALE_FIELDS", "SEGMENTS", "TargetLayoutError", "TargetSegment", "build_target_image", "ConfigError", "Field", "FitError", "HardwareConfig", "HexFormatError",
    "HexgenError", "Image", "LayerPlan", "Layout", "LayoutError", "ReadBack", "Segment", "build_image", "check_image",
    "element_address", "from_words", "layer_arrays", "pack_words", "place", "plan_layer", "read_image", "read_memh",
    "tile_order", "to_words", "unpack_words", "untile", "write_image", "write_memh",
]
