"""The golden/ reference functions the benches use (one import point for tb/).

golden/__init__.py loads its PyTorch front end lazily (since bba3ca5), so `import golden.arith`
costs no torch import inside a simulator process; this module is kept as the benches' single
import point of the reference model.
"""
from __future__ import annotations

from golden import arith

__all__ = ["arith"]
