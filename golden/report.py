"""Text tables of a Network: what `python -m golden summary` prints."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from golden.layers import Network


def _rng(a: np.ndarray) -> str:
    lo, hi = int(a.min()), int(a.max())
    return str(lo) if lo == hi else f"{lo}..{hi}"


def _shape(s: tuple[int, ...]) -> str:
    return "x".join(map(str, s))


def layer_rows(net: "Network") -> list[dict[str, str]]:
    from golden.layers import LOGICAL_KINDS, AddLayer, ConcatLayer, ConvLayer, LinearLayer, UpsampleLayer

    rows = []
    for l in net.layers:
        row = {
            "layer": l.name,
            "kind": l.kind,
            "in": _shape(l.in_shape),
            "out": _shape(l.out_shape),
            "MACs": f"{l.macs:,}" if l.macs else "",
            "bits": (f"w{l.w_bits}a{l.a_bits}" if l.w_bits is not None else f"a{l.a_bits}"),
            "M0": "",
            "n": "",
            "bias shift": "",
            "bias sat": "",
            "clamp": "",
            "module": l.module,
        }
        if isinstance(l, ConvLayer):
            row["kind"] = f"{l.kind} {l.kernel[0]}x{l.kernel[1]}/s{l.stride[0]}" + (f" g{l.groups}" if l.groups > 1 else "")
            dy, dx = l.dilation
            row["kind"] += "" if (dy, dx) == (1, 1) else f" d{dy}" if dy == dx else f" d{dy}x{dx}"
        if isinstance(l, (ConvLayer, LinearLayer)):
            r = l.requant
            row.update(M0=_rng(r.m0), n=_rng(r.n), clamp=f"{r.lo}..{r.hi}")
            row["bias shift"] = _rng(l.bias.shift) if l.bias.mode == "int16_shift" else "-"
            row["bias sat"] = str(l.bias.saturated) if l.bias.mode == "int16_saturate" else "-"
        if isinstance(l, AddLayer):
            row.update(M0=f"{l.a0},{l.b0}", n=str(l.n), clamp=f"{l.lo}..{l.hi}")
        if isinstance(l, UpsampleLayer):
            row["kind"] = f"upsample x{l.scale[0]}" + ("" if l.scale[0] == l.scale[1] else f"x{l.scale[1]}")
        if isinstance(l, ConcatLayer):  # a copied input's M0 is "copy"
            row.update(M0=",".join("copy" if c else str(m) for c, m in zip(l.copies, l.m0s)),
                       n=",".join("-" if c else str(n) for c, n in zip(l.copies, l.ns)), clamp=f"{l.lo}..{l.hi}")
        if l.kind in LOGICAL_KINDS and not isinstance(l, (ConvLayer, LinearLayer)):
            _token_row(l, row)
        rows.append(row)
    return rows


def _token_row(l: object, row: dict[str, str]) -> None:
    """The columns of a transformer record (golden.tokens, golden.transformer)."""
    kind = row["kind"]
    if kind == "permute":
        row["kind"] = f"permute {','.join(map(str, l.perm))}"  # type: ignore[attr-defined]
    elif kind == "select":
        perm = tuple(l.perm)  # type: ignore[attr-defined]
        moved = "" if perm == tuple(range(len(perm))) else f" perm {','.join(map(str, perm))}"
        row["kind"] = f"select a{l.axis}[{l.index}]{moved}"  # type: ignore[attr-defined]
    elif kind == "matmul":
        row["kind"] = "matmul a.bT" if l.transpose_b else "matmul a.b"  # type: ignore[attr-defined]
    for field in ("m0", "a0"):
        if hasattr(l, field) and hasattr(l, "n"):
            m0 = getattr(l, field)
            row.update(M0=f"{m0},{l.b0}" if field == "a0" else str(m0), n=str(l.n))  # type: ignore[attr-defined]
    if hasattr(l, "lo") and hasattr(l, "hi"):
        row["clamp"] = f"{l.lo}..{l.hi}"


def format_table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "(empty)"
    cols = list(rows[0])
    width = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    right = {"MACs"}
    def fmt(r: dict[str, str]) -> str:
        return "  ".join(r[c].rjust(width[c]) if c in right else r[c].ljust(width[c]) for c in cols).rstrip()
    head = fmt({c: c for c in cols})
    return "\n".join([head, "-" * len(head), *(fmt(r) for r in rows)])


def _codes(a_bits: int) -> str:
    return "uint8" if a_bits == 8 else f"{a_bits}-bit codes 0..{(1 << a_bits) - 1}"


def layer_table(net: "Network") -> str:
    total = sum(l.macs for l in net.layers)
    iq = net.input_quant
    lines = [
        f"input {_shape(iq.shape)} {_codes(iq.a_bits)} (scale {iq.scale:.6g}, zero point {iq.zero_point}); "
        f"bias mode {net.bias_mode}; m0_bits {net.m0_bits}",
        format_table(layer_rows(net)),
        f"{len(net.layers)} layers, {total:,} MACs per image; output{'s' * (len(net.output_names) > 1)} "
        f"{', '.join(net.output_names)}; "
        "bits: wNaM = N-bit weights, M-bit output codes",
    ]
    if net.saturations:
        lines.append("bias saturations: " + ", ".join(f"{k}: {v}" for k, v in net.saturations.items()))
    return "\n".join(lines)
