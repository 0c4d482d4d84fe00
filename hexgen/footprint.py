"""The memory a model needs, per layer, as hexgen lays it out, and what fits the on-chip buffers
(issue 28 item 7: `make resources MODEL=... HW=...`).

Every size here is a segment's as hexgen writes it: the layer's plan (hexgen.plan.plan_layer, or
through it hexgen.tokens.plan_token_layer for a transformer's layers) gives each segment's Layout, and a
segment is Layout.words words of the description's word_bits (hexgen.image.Segment.n_bytes, before
the alignment padding between segments). Nothing is re-derived from the tensors' shapes: lane and
tile padding, packed narrow weights and 128-bit LayerNorm records are counted as they are stored.

Columns (KiB = 1024 bytes, one image):
  weights     `weights` (conv, fc, a transformer's linear)
  bias+scale  `bias` + `scale`, one 64-bit record per output channel each
  inputs      `input` (+ `input2`: a residual add's second input, add_const's constant, a matmul's
              b operand, which the engine is to read where weights go)
  output      `output` (the region the accelerator writes; `expected`, the bench's golden copy of
              the same size, is not counted)
  table/rec   softmax's and GELU's `table`, LayerNorm's `records`

Fit, against the description's buffers (weight: one bank of two; act; bias and scale):
  * conv / fc layers, a transformer's linears (a pointwise conv over the tokens) and matmuls (one
    such linear per head, hexgen.matmul): hexgen.plan's BufferNeed, the engine's own rule (one
    output-channel tile of weights in a bank; one band of input rows in the act buffer; one
    group's records), and the passes (bands x groups) hexgen plans; a layer the engine refuses
    says why (hexgen's message).
  * a transformer's LayerNorm / softmax layers: the row unit's (rtl/row_unit.sv), in blocks of
    tokens as hexgen plans them: a block's rows against its staging buffer (`row_buf_words`), a
    LayerNorm's channel tiles of records against its record buffer (`ln_tiles`); a layer the rule
    book refuses says why.
  * a token layer hexgen lays out but plans no buffers for (none today): each whole segment held
    against the buffer it would go to, as a by-hand BRAM estimate does.
  * add (a transformer's residual add and add_const too), pooling, upsample, concat: the vector unit
    reads memory directly (no buffer); a concat whose
    inputs are all written in place by their producers (hexgen.concat.by_layout) runs nothing.
  * reshape, permute, select, concat_tokens, flatten: data movement (golden only), listed with their
    output activation in hexgen's activation layout.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from golden.layers import ConcatLayer, Layer, Network
from hexgen.concat import by_layout
from hexgen.config import BUFFERS, HardwareConfig
from hexgen.errors import HexgenError
from hexgen.layout import Layout
from hexgen.plan import BufferNeed, LayerPlan, act_layout, is_compute, is_row, is_vector, plan_layer
from hexgen.rules import descriptor_runs
from hexgen.tokens import is_token_layer, token_layout

#: The columns of the table and the segments each one adds up.
COLUMNS: dict[str, tuple[str, ...]] = {
    "weights": ("weights",),
    "bias+scale": ("bias", "scale"),
    "inputs": ("input", "input2"),
    "output": ("output",),
    "table/rec": ("table", "records"),
}
#: For a transformer layer hexgen does not plan buffers for: the buffer each segment goes to (a
#: matmul's b operand goes where weights go; any other second input is an activation).
TOKEN_BUFFERS = {"weights": "weight", "input": "act", "input2": "act", "bias": "bias", "scale": "scale"}


def kib(n_bytes: int) -> float:
    return n_bytes / 1024


@dataclass(frozen=True)
class LayerFootprint:
    """One layer: its segments' sizes in bytes, how it meets the buffers and why."""

    name: str
    kind: str
    segments: tuple[tuple[str, int], ...]  # (segment, bytes) in hexgen's DRAM order, `expected` included
    how: str  # "engine" (hexgen.plan's buffers), "row" (the row unit's), "token" (whole segments vs buffers), "vector", "layout"
    # (a concat whose inputs are all placed by their producers), "movement"
    buffers: tuple[BufferNeed, ...] = ()
    passes: int = 1  # engine: hexgen's planned passes; token: the most any segment needs
    refusal: str = ""  # the engine's refusal (hexgen's message), "" when it runs the layer
    cut: str = ""  # engine: how hexgen cuts it into passes, e.g. "4 bands x 2 groups"

    def bytes_of(self, column: str) -> int:
        return sum(b for s, b in self.segments if s in COLUMNS[column])

    def segment_bytes(self, segment: str) -> int:
        return sum(b for s, b in self.segments if s == segment)

    @property
    def fits(self) -> bool:
        """Every buffer holds its need at once, and the engine does not refuse the layer."""
        return not self.refusal and all(b.fits for b in self.buffers)

    @property
    def runs(self) -> bool:
        """It fits in `passes` passes: the engine's plan fits (conv / fc / linear / matmul), or a
        LayerNorm's or softmax's larger segments are streamed through their buffer (whole
        segments, issue 28)."""
        return not self.refusal and (self.how in ("token", "row") or self.fits)

    def verdict(self, cfg: HardwareConfig) -> str:
        if self.how == "movement":
            return f"data movement ({self.kind}): golden only"
        if self.how == "layout":
            return "by layout, no copy: its producers write its inputs in place"
        if self.how == "vector":
            return "vector unit: reads memory, no buffer" + (f"; refused: {self.refusal}" if self.refusal else "")
        if self.how == "row":
            return f"refused: {self.refusal}" if self.refusal else f"row unit: {self.cut}"
        parts = ", ".join(_need_text(b, cfg, self.how) for b in self.buffers if b.buffer != "scale")
        if self.refusal:
            return f"refused: {self.refusal}" + (f" ({parts})" if parts else "")
        if not self.runs:
            bad = [b for b in self.buffers if not b.fits and not (b.buffer == "scale" and len(self.buffers) > 1)]
            return "does not fit: " + ", ".join(_need_text(b, cfg, self.how) for b in bad)
        passes = "1 pass" if self.passes == 1 else f"in {self.passes} passes" + (f" ({self.cut})" if self.cut else "")
        where = "" if self.how == "engine" else " (whole segments)"
        return f"fits {passes}{where}: {parts}" if parts else f"fits{where}"


def kib_text(n_bytes: int) -> str:
    """A buffer's size in KiB: 64, 0.125, 0.031."""
    return f"{kib(n_bytes):.3f}".rstrip("0").rstrip(".")


def _need_text(b: BufferNeed, cfg: HardwareConfig, how: str) -> str:
    """`w 36.0/64`: the need and the buffer in KiB (bias and scale records are one `rec`: equal needs)."""
    name = {"weight": "w", "act": "act", "bias": "rec", "scale": "rec"}[b.buffer]
    text = f"{name} {kib(b.need * cfg.word_bytes):.1f}/{kib_text(b.capacity * cfg.word_bytes)}"
    if how == "token" and not b.fits:
        text += f" ({-(-b.need // b.capacity)} passes)"
    return text


def _sizes(plan: LayerPlan, cfg: HardwareConfig) -> tuple[tuple[str, int], ...]:
    return tuple((s, lay.words * cfg.word_bytes) for s, lay in plan.layouts)


def _token_buffers(plan: LayerPlan, cfg: HardwareConfig) -> tuple[BufferNeed, ...]:
    """Whole segments against the buffers they would go to (hexgen plans none for these kinds yet)."""
    need: dict[str, list[str]] = {}
    for s, _ in plan.layouts:
        buf = "weight" if (s, plan.kind) == ("input2", "matmul") else TOKEN_BUFFERS.get(s)
        if buf:
            need.setdefault(buf, []).append(s)
    words = {s: lay.words for s, lay in plan.layouts}
    return tuple(BufferNeed(buf, "whole segment(s) " + " + ".join(need[buf]), sum(words[s] for s in need[buf]),
                            cfg.buffer_words(buf)) for buf in BUFFERS if buf in need)


def _row_cut(plan: LayerPlan, cfg: HardwareConfig) -> str:
    """`13 blocks of <= 16 tokens x 3 heads; staging 208/256 words, records 12/64 tiles`: how the row
    unit runs a LayerNorm or softmax (hexgen.tokens.plan_token_layer) and what its buffers hold."""
    runs = descriptor_runs(plan.descriptor)
    d = runs[0]
    w = -(-int(d["in_shape"][-1]) // cfg.array_rows)
    nb = int(d["band_rows"])
    text = f"{len(plan.passes)} block{'s' if len(plan.passes) > 1 else ''} of <= {nb} tokens"
    text += f" x {len(runs)} heads" if len(runs) > 1 else ""
    text += f"; staging {nb * w}/{cfg.row_buf_words} words"
    return text + (f", records {w}/{cfg.ln_tiles} tiles" if plan.kind == "layernorm" else "")


def _cut(plan: LayerPlan) -> str:
    """`4 bands x 2 groups`: the bands of output rows and groups of output-channel tiles of hexgen's passes."""
    if len(plan.passes) < 2:
        return ""
    bands, groups = 1 + max(p.band for p in plan.passes), 1 + max(p.group for p in plan.passes)
    return " x ".join(f"{n} {what}{'s' if n > 1 else ''}" for n, what in ((bands, "band"), (groups, "group")) if n > 1)


def activation_layout(shape: Sequence[int], cfg: HardwareConfig, images: int, transformer: bool) -> Layout:
    """A tensor in hexgen's activation layout: an image's [C, H, W] or a vector's [C] (hexgen.plan.act_layout),
    a token tensor's in a transformer or for any other rank (hexgen.tokens.token_layout)."""
    shape = tuple(int(s) for s in shape) or (1,)
    if len(shape) == 1 or (len(shape) == 3 and not transformer):
        return act_layout(shape, images, 0, cfg)
    return token_layout(shape, 0, cfg, images)


def layer_footprint(layer: Layer, cfg: HardwareConfig, *, images: int = 1, transformer: bool = False) -> LayerFootprint:
    """The footprint of one of golden's layers on the description `cfg`."""
    # a transformer's linear (the MAC array's), residual add, add_const and GELU (the vector unit's) are the engine's
    token = is_token_layer(layer) and not is_compute(layer) and not is_vector(layer) and not is_row(layer)
    placed = isinstance(layer, ConcatLayer) and all(by_layout(layer, cfg))  # nothing runs, nothing laid out (hexgen.concat)
    if placed or not (token or is_compute(layer) or is_vector(layer) or is_row(layer) or isinstance(layer, ConcatLayer)):
        lay = activation_layout(layer.out_shape, cfg, images, transformer)
        return LayerFootprint(layer.name, layer.kind, (("output", lay.words * cfg.word_bytes),), "layout" if placed else "movement")
    how = "row" if is_row(layer) else "token" if token else "engine" if is_compute(layer) else "vector"
    refusal = ""
    try:  # hexgen's own verdict: a buffer too small (FitError) or a field the engine refuses
        plan = plan_layer(layer, cfg, images=images)  # a token layer's: hexgen.tokens.plan_token_layer
    except HexgenError as exc:
        refusal = str(exc).removeprefix(f"layer {layer.name}: ")
        try:
            plan = plan_layer(layer, cfg, images=images, check_fit=False)
        except HexgenError:  # no layout at all (hexgen refuses it whatever the buffers): its activations only
            acts = tuple((s, activation_layout(shape, cfg, images, transformer).words * cfg.word_bytes)
                         for s, shape in (("input", layer.in_shape), ("output", layer.out_shape)))
            return LayerFootprint(layer.name, layer.kind, acts, how, refusal=refusal)
    if how == "row":
        return LayerFootprint(layer.name, layer.kind, _sizes(plan, cfg), how, (), max(1, len(plan.passes)), refusal,
                              "" if refusal else _row_cut(plan, cfg))
    if token:
        bufs = _token_buffers(plan, cfg)
        return LayerFootprint(layer.name, layer.kind, _sizes(plan, cfg), "token", bufs,
                              max([-(-b.need // b.capacity) for b in bufs], default=1))
    if how == "engine" and refusal and not all(b.fits for b in plan.buffers):
        refusal = ""  # a buffer too small: said by the buffers themselves
    return LayerFootprint(layer.name, layer.kind, _sizes(plan, cfg), how, plan.buffers, max(1, len(plan.passes)), refusal,
                          _cut(plan) if how == "engine" else "")


def network_footprint(net: Network, cfg: HardwareConfig, *, images: int = 1) -> list[LayerFootprint]:
    transformer = any(is_token_layer(l) for l in net.layers)
    return [layer_footprint(l, cfg, images=images, transformer=transformer) for l in net.layers]


def load_network(model: str, *, say: Callable[[str], None] | None = None) -> Network:
    """Golden's network of a shipped model or path.py:factory, quantized as `make hexgen` does it
    (golden.qat.quantized_model at 8/8, golden.extract on two calibration images). `say` is told
    once the model has loaded (quantizing deit_tiny takes ~20 s)."""
    warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
    from golden import extract
    from golden.models import load_model
    from golden.qat import quantized_model

    m = load_model(model)
    if say is not None:
        say(f"golden quantizes {m.name} (8/8 post-training, as make hexgen) ...")
    return extract(quantized_model(m), m.calibration[:2])


# ---- report ----------------------------------------------------------------------------------
def _k(n_bytes: int) -> str:
    return f"{kib(n_bytes):,.1f}" if n_bytes else "-"


def totals(fps: Sequence[LayerFootprint]) -> dict[str, Any]:
    """Sums over the layers (KiB) and the largest activation segment and layer."""
    acts = [(f.segment_bytes(s), f"{f.name}.{s}") for f in fps for s, _ in f.segments
            if s in COLUMNS["inputs"] + COLUMNS["output"]]
    run = [(b, s) for b, s in acts if not next(f for f in fps if s.startswith(f"{f.name}.")).refusal]
    working = [(f.bytes_of("inputs") + f.bytes_of("output"), f.name) for f in fps if f.how != "movement"]
    weights = [(f.bytes_of("weights"), f.name) for f in fps]
    def first_largest(items: list[tuple[int, str]]) -> tuple[int, str]:  # ties: the first in the network's order
        return max(items, key=lambda item: item[0], default=(0, "-"))

    big_act, big_work, big_w, big_run = (first_largest(x) for x in (acts, working, weights, run))
    return {
        "weights_kib": kib(sum(b for b, _ in weights)), "largest_weights": {"layer": big_w[1], "kib": kib(big_w[0])},
        "bias_scale_kib": kib(sum(f.bytes_of("bias+scale") for f in fps)),
        "tables_records_kib": kib(sum(f.bytes_of("table/rec") for f in fps)),
        "largest_activation": {"segment": big_act[1], "kib": kib(big_act[0])},
        "largest_activation_run": {"segment": big_run[1], "kib": kib(big_run[0])},
        "largest_layer_activations": {"layer": big_work[1], "kib": kib(big_work[0])},
    }


def report(fps: Sequence[LayerFootprint], cfg: HardwareConfig, *, model: str, hw: str) -> str:
    """The per-layer table, then the totals."""
    head = ("layer", "kind", *COLUMNS, "fit (KiB need/buffer)")
    rows = [(f.name, f.kind, *(_k(f.bytes_of(c)) for c in COLUMNS), f.verdict(cfg)) for f in fps]
    w = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]

    def line(r: Sequence[str]) -> str:
        cells = [r[0].ljust(w[0]), r[1].ljust(w[1]), *(r[i].rjust(w[i]) for i in range(2, len(w)))]
        return "  ".join(cells) + "  " + r[-1]

    wk, ak, rk = (kib_text(cfg.buffer_words(b) * cfg.word_bytes) for b in ("weight", "act", "bias"))
    out = [f"memory: model {model}, HW={hw}: word {cfg.word_bits} bits, array {cfg.array_rows}x{cfg.array_cols}; "
           f"buffers: weight 2 banks x {wk} KiB, act {ak} KiB, bias and scale {rk} KiB each",
           "memory: KiB per layer as hexgen lays the segments out (one image); fit: conv/fc by hexgen.plan's buffer "
           "needs and passes (a transformer's linear and matmul too), its LayerNorm and softmax by the row unit's "
           "blocks and buffers (row_buf_words, ln_tiles), docs/resources.md",
           line(head), "-" * len(line(head)), *(line(r) for r in rows), "-" * len(line(head))]
    t = totals(fps)
    run = t["largest_activation_run"]
    all_w, bank, act = t["weights_kib"] * 1024, cfg.weight_buf_words * cfg.word_bytes, cfg.act_buf_words * cfg.word_bytes
    out += [
        f"total weights {t['weights_kib']:,.1f} KiB ({all_w / (2 * bank):.1f}x the weight buffer's 2 x {wk} KiB); "
        f"largest: {t['largest_weights']['layer']} {t['largest_weights']['kib']:,.1f} KiB",
        f"total bias+scale records {t['bias_scale_kib']:,.1f} KiB; tables and LayerNorm records "
        f"{t['tables_records_kib']:,.1f} KiB",
        f"largest activation {t['largest_activation']['segment']} {t['largest_activation']['kib']:,.1f} KiB "
        f"(act buffer {ak} KiB: {_fits(t['largest_activation']['kib'], act)})"
        + (f"; of a layer the engine does not refuse: {run['segment']} {run['kib']:,.1f} KiB ({_fits(run['kib'], act)})"
           if run["segment"] != t["largest_activation"]["segment"] else ""),
        f"largest inputs + output of a layer: {t['largest_layer_activations']['layer']} "
        f"{t['largest_layer_activations']['kib']:,.1f} KiB",
        "layers: " + _counts(fps),
    ]
    return "\n".join(out)


def _fits(kib_: float, n_bytes: int) -> str:
    return "fits whole" if kib_ * 1024 <= n_bytes else "does not fit whole"


def _counts(fps: Sequence[LayerFootprint]) -> str:
    parts = []
    for how, label in (("engine", "conv/fc"), ("token", "layernorm/softmax")):
        fs = [f for f in fps if f.how == how]
        if fs:
            one = sum(f.runs and f.passes == 1 for f in fs)
            many = sum(f.runs and f.passes > 1 for f in fs)
            refused = sum(bool(f.refusal) for f in fs)
            parts.append(f"{len(fs)} {label} ({one} fit in 1 pass, {many} in several, {len(fs) - one - many - refused} "
                         f"do not fit, {refused} refused)")
    rows = [f for f in fps if f.how == "row"]
    if rows:
        parts.append(f"{len(rows)} layernorm/softmax on the row unit ({sum(bool(f.refusal) for f in rows)} refused)")
    for how, label in (("vector", "vector unit"), ("layout", "concat by layout"), ("movement", "data movement")):
        n = sum(f.how == how for f in fps)
        if n:
            parts.append(f"{n} {label}")
    return ", ".join(parts)


def as_json(fps: Sequence[LayerFootprint], cfg: HardwareConfig) -> dict[str, Any]:
    return {
        "config": cfg.to_json(),
        "layers": [{"name": f.name, "kind": f.kind, "how": f.how, "segments": dict(f.segments),
                    "kib": {c: kib(f.bytes_of(c)) for c in COLUMNS}, "passes": f.passes, "fits": f.fits, "runs": f.runs,
                    "refusal": f.refusal, "verdict": f.verdict(cfg),
                    "buffers": [{"buffer": b.buffer, "what": b.what, "need": b.need, "capacity": b.capacity}
                                for b in f.buffers]} for f in fps],
        "totals": totals(fps),
    }


def model_report(model: str, cfg: HardwareConfig, *, hw: str, say: Callable[[str], None] | None = None) -> tuple[str, dict[str, Any]]:
    """`make resources MODEL=...`'s table of a model (golden quantizes it as make hexgen does) and its JSON."""
    t0 = time.monotonic()
    fps = network_footprint(load_network(model, say=say), cfg)
    text = report(fps, cfg, model=model, hw=hw) + f"\nmemory: {len(fps)} layers in {time.monotonic() - t0:.1f} s (quantizing included)"
    return text, as_json(fps, cfg)
