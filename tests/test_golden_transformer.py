"""Transformers' front end (issue 27 items 3-4): both ways of writing one quantize, extract and run;
golden against float layer by layer and end to end; one line for what is not supported; the
shipped models' shapes and state_dict loading. Bounds and figures: docs/golden.md, "Transformers"."""
from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from golden import extract, quantize
from golden.errors import InputError, ModelLoadError, UnsupportedLayerError
from golden.models import deit_tiny as deit
from golden.models.vit_small_test import SIZE, encoder_vit, vit_small_test
from golden.transformer_check import layer_errors, output_agreement
from golden.transformer_plan import META
from golden.transformer_rewrite import rewrite

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: Bounds asserted (measured figures in docs/golden.md): per layer on golden's own input, against
#: the float operation (linear / conv with golden's int8 weights dequantized)
MAX_LSB = 1  # every record
MIN_EQUAL = 0.995  # every arithmetic record but add_const (its constant is quantized: >= 95%)
MIN_EQUAL_ADD_CONST = 0.95
MOVES = ("reshape", "permute", "select", "concat_tokens")
#: end to end on 32 held-out synthetic images against the float model
MIN_CLASS_AGREEMENT = 0.9
MIN_COSINE = 0.995


@pytest.fixture(scope="module")
def vit() -> nn.Module:
    return vit_small_test()


@pytest.fixture(scope="module")
def calib() -> torch.Tensor:
    return deit.calibration_images(16, 1, SIZE)


@pytest.fixture(scope="module")
def held_out() -> torch.Tensor:
    return deit.calibration_images(32, 7, SIZE)


def _net(model: nn.Module, calib: torch.Tensor) -> tuple[torch.fx.GraphModule, object]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qm = quantize(model, calib)
        return qm, extract(qm, calib[:2])


@pytest.fixture(scope="module")
def timm_net(vit: nn.Module, calib: torch.Tensor) -> tuple[torch.fx.GraphModule, object]:
    return _net(vit, calib)


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("activation", ["gelu", "relu"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_rewrite_equals_pytorch_modules_in_float(vit: nn.Module, norm_first: bool, activation: str, batch_first: bool) -> None:
    model = encoder_vit(vit, norm_first, activation, batch_first)
    traceable = rewrite(model)
    x = torch.randn(3, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.allclose(traceable(x), model(x), atol=1e-5)
    torch.fx.symbolic_trace(traceable)  # and torch.fx traces it
    enc = model.encoder  # the encoder alone, as PyTorch lays out its input
    t = torch.randn(4, 17, 64) if batch_first else torch.randn(17, 4, 64)
    with torch.no_grad():
        assert torch.allclose(rewrite(enc)(t), enc(t), atol=1e-5)


def test_rewrite_of_multihead_attention_with_kdim_and_no_batch_first() -> None:
    mha = nn.MultiheadAttention(32, 4, kdim=16, vdim=24).eval()
    q, k, v = torch.randn(5, 2, 32), torch.randn(7, 2, 16), torch.randn(7, 2, 24)
    with torch.no_grad():
        assert torch.allclose(rewrite(mha)(q, k, v)[0], mha(q, k, v, need_weights=False)[0], atol=1e-5)


def _check_layers(net: object, qm: torch.fx.GraphModule, x: torch.Tensor) -> None:
    rows = layer_errors(net, qm, x)  # type: ignore[arg-type]
    assert len(rows) == len(net)  # type: ignore[arg-type]
    for r in rows:
        assert r.max_lsb <= (0 if r.kind in MOVES else MAX_LSB), r
        assert r.equal >= (1.0 if r.kind in MOVES else MIN_EQUAL_ADD_CONST if r.kind == "add_const" else MIN_EQUAL), r


def test_timm_style_extracts_runs_and_agrees_with_float(vit: nn.Module, timm_net: tuple, held_out: torch.Tensor) -> None:  # type: ignore[type-arg]
    qm, net = timm_net
    kinds = [l.kind for l in net]  # type: ignore[attr-defined]
    for kind in ("conv", "reshape", "permute", "concat_tokens", "add_const", "layernorm", "linear", "select", "matmul",
                 "softmax", "gelu", "add", "fc"):
        assert kind in kinds, kind
    assert kinds.count("matmul") == 4 and kinds.count("select") == 7  # q, k, v per block and the class token
    first_qk = next(l for l in net if l.kind == "matmul")  # type: ignore[attr-defined]
    assert first_qk.transpose_b and first_qk.z_b == 128
    assert next(l for l in net if l.kind == "linear").requant.lo == 1  # type: ignore[attr-defined]  # qkv: symmetric codes 1..255
    _check_layers(net, qm, held_out[:4])
    agree, cos, worst = output_agreement(net, vit, held_out)  # type: ignore[arg-type]
    assert agree >= MIN_CLASS_AGREEMENT and cos >= MIN_COSINE, (agree, cos, worst)


@pytest.mark.parametrize("norm_first,activation,batch_first", [(True, "gelu", True), (False, "relu", False)])
def test_torch_encoder_extracts_runs_and_agrees_with_float(vit: nn.Module, calib: torch.Tensor, held_out: torch.Tensor,
                                                           norm_first: bool, activation: str, batch_first: bool) -> None:
    model = encoder_vit(vit, norm_first, activation, batch_first)
    qm, net = _net(model, calib)
    kinds = [l.kind for l in net]  # type: ignore[attr-defined]
    assert ("gelu" in kinds) == (activation == "gelu") and "relu" not in kinds  # a ReLU is folded into fc1's clamp
    assert kinds.count("matmul") == 4
    _check_layers(net, qm, held_out[:4])
    agree, cos, worst = output_agreement(net, model, held_out)  # type: ignore[arg-type]
    assert agree >= MIN_CLASS_AGREEMENT and cos >= MIN_COSINE, (agree, cos, worst)


class _FusedAttention(deit.Attention):
    """timm's attention when fused_attn is on (timm's default): F.scaled_dot_product_attention."""

    causal = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        x = torch.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=0.0, is_causal=self.causal)
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


def test_scaled_dot_product_attention_is_written_out(vit: nn.Module, timm_net: tuple, calib: torch.Tensor,  # type: ignore[type-arg]
                                                     held_out: torch.Tensor) -> None:
    import copy

    fused = copy.deepcopy(vit)
    for blk in fused.blocks:  # type: ignore[union-attr]
        blk.attn.__class__ = _FusedAttention
    qm, net = _net(fused, calib)
    assert [l.kind for l in net] == [l.kind for l in timm_net[1]]  # type: ignore[attr-defined]
    _check_layers(net, qm, held_out[:2])
    agree, cos, _ = output_agreement(net, fused, held_out)  # type: ignore[arg-type]
    assert agree >= MIN_CLASS_AGREEMENT and cos >= MIN_COSINE
    fused.blocks[0].attn.causal = True  # type: ignore[index]
    with pytest.raises(UnsupportedLayerError, match="scaled_dot_product_attention.*is_causal"):
        quantize(fused, calib)


class _ShapeScale(nn.Module):
    """Attention scaled by numbers computed from traced shapes; `batch_scale` by the batch size (not a constant)."""

    batch_scale = False

    def __init__(self) -> None:
        super().__init__()
        self.norm, self.q, self.k, self.fc = nn.LayerNorm(16), nn.Linear(16, 16), nn.Linear(16, 16), nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        if self.batch_scale:
            return self.fc(x * x.shape[0])
        q, k = self.q(x), self.k(x)
        a = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1]) * (q.size(-1) ** -0.5)
        return self.fc(a.softmax(-1) @ k)


def test_a_number_computed_from_a_shape_is_folded() -> None:
    model, x = _ShapeScale().eval(), torch.randn(16, 5, 16)
    qm, net = _net(model, x)
    assert [l.kind for l in net] == ["layernorm", "linear", "linear", "matmul", "softmax", "matmul", "linear"]  # type: ignore[attr-defined]
    _check_layers(net, qm, x[:4])
    model.batch_scale = True
    with pytest.raises(UnsupportedLayerError, match="positive number"):
        quantize(model, x)


def test_matmul_second_operands_are_symmetric(timm_net: tuple) -> None:  # type: ignore[type-arg]
    qm, net = timm_net
    qp = qm.meta[META]["qparams"]
    for l in net:  # type: ignore[attr-defined]
        if l.kind == "matmul":
            producer = net[l.inputs[1]]  # type: ignore[index]
            assert l.z_b == 128 and qp[producer.source][1] == 128


def test_extraction_is_deterministic(calib: torch.Tensor, timm_net: tuple) -> None:  # type: ignore[type-arg]
    nets = [timm_net[1], _net(vit_small_test(), calib)[1]]  # the model generated again, quantized and extracted again
    for a, b in zip(*nets):  # type: ignore[call-overload]
        for f in dataclasses.fields(a):
            va, vb = getattr(a, f.name), getattr(b, f.name)
            if isinstance(va, tuple) and va and isinstance(va[0], np.ndarray):
                assert all(np.array_equal(x, y) for x, y in zip(va, vb)), (a.name, f.name)
            elif hasattr(va, "term"):  # bias codes
                assert np.array_equal(va.term, vb.term), (a.name, f.name)
            elif dataclasses.is_dataclass(va):
                assert all(np.array_equal(getattr(va, g.name), getattr(vb, g.name)) for g in dataclasses.fields(va))
            else:
                assert np.array_equal(va, vb), (a.name, f.name)
    x = nets[0].quantize_input(calib[:2])  # type: ignore[attr-defined]
    assert np.array_equal(nets[0].run(x).output, nets[1].run(x).output)  # type: ignore[attr-defined]


class _Sigmoid(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.sigmoid(self.norm(x)))


class _Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dec = nn.TransformerDecoderLayer(8, 2, 16, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dec(x, x)


@pytest.mark.parametrize("model,words", [(_Sigmoid(), ("sigmoid", "FX node")), (_Decoder(), ("'dec'", "TransformerDecoderLayer"))])
def test_unsupported_is_one_line_naming_it(model: nn.Module, words: tuple[str, ...]) -> None:
    with pytest.raises(UnsupportedLayerError) as exc:
        quantize(model, torch.randn(4, 5, 8))
    text = str(exc.value)
    assert "\n" not in text and all(w in text for w in words), text


def test_unsupported_through_the_command_line_is_one_line(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    from golden.__main__ import main
    from golden.cli import run_cli

    f = Path(str(tmp_path)) / "m.py"
    f.write_text("import torch\nfrom torch import nn\n"
                 "class M(nn.Module):\n"
                 "    def __init__(self):\n        super().__init__()\n        self.norm = nn.LayerNorm(8)\n"
                 "    def forward(self, x):\n        return torch.tanh(self.norm(x))\n"
                 "def make():\n    return M(), torch.randn(4, 5, 8)\n")
    assert run_cli("golden", main, ["--model", f"{f}:make"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("golden: error:") and "tanh" in err and "\n" not in err, err


def test_transformer_quantizes_at_8_bits_only(vit: nn.Module, calib: torch.Tensor) -> None:
    with pytest.raises(InputError):
        quantize(vit, calib, w_bits=4)


def test_deit_tiny_shapes_and_attention_not_uniform() -> None:
    m, calib = deit.load()
    assert sum(p.numel() for p in m.parameters()) == 5_717_416  # DeiT-tiny's parameter count
    assert m.pos_embed.shape == (1, 197, 192) and len(m.blocks) == 12
    blk = m.blocks[0]
    assert (blk.attn.num_heads, blk.mlp.fc1.out_features, m.head.out_features) == (3, 768, 1000)
    assert 0.8 < float(blk.norm1.weight.detach().mean()) < 1.2
    with torch.no_grad():  # block 0's attention on one image: far from uniform (1/197)
        x = m.patch_embed(calib[:1])
        x = torch.cat((m.cls_token.expand(1, -1, -1), x), dim=1) + m.pos_embed
        q, k, _ = blk.attn.qkv(blk.norm1(x)).reshape(1, 197, 3, 3, 64).permute(2, 0, 3, 1, 4).unbind(0)
        attn = ((q @ k.transpose(-2, -1)) * 64 ** -0.5).softmax(-1)
    assert float(attn.max(-1).values.mean()) > 10 / 197


def _to_hf(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """A timm-style state_dict in Hugging Face DeiT's names (written here from HF's layout, not from
    golden's mapping)."""
    out = {"classifier.weight": state["head.weight"], "classifier.bias": state["head.bias"],
           f"{prefix}embeddings.cls_token": state["cls_token"], f"{prefix}embeddings.position_embeddings": state["pos_embed"],
           f"{prefix}layernorm.weight": state["norm.weight"], f"{prefix}layernorm.bias": state["norm.bias"]}
    for w in ("weight", "bias"):
        out[f"{prefix}embeddings.patch_embeddings.projection.{w}"] = state[f"patch_embed.proj.{w}"]
    i = 0
    while f"blocks.{i}.norm1.weight" in state:
        p, b = f"{prefix}encoder.layer.{i}.", f"blocks.{i}."
        for w in ("weight", "bias"):
            q, k, v = state[f"{b}attn.qkv.{w}"].chunk(3)
            out.update({f"{p}attention.attention.query.{w}": q, f"{p}attention.attention.key.{w}": k,
                        f"{p}attention.attention.value.{w}": v, f"{p}attention.output.dense.{w}": state[f"{b}attn.proj.{w}"],
                        f"{p}layernorm_before.{w}": state[f"{b}norm1.{w}"], f"{p}layernorm_after.{w}": state[f"{b}norm2.{w}"],
                        f"{p}intermediate.dense.{w}": state[f"{b}mlp.fc1.{w}"], f"{p}output.dense.{w}": state[f"{b}mlp.fc2.{w}"]})
        i += 1
    return out


@pytest.mark.parametrize("style", ["timm", "hf-deit", "hf-vit"])
def test_state_dicts_of_timm_and_hugging_face_load(tmp_path: object, style: str, vit: nn.Module) -> None:
    from pathlib import Path

    from golden.models.vit_small_test import CLASSES, DEPTH, DIM, HEADS, MLP_RATIO, PATCH

    state = {k: v.clone() for k, v in vit.state_dict().items()}
    state = {f"module.{k}": v for k, v in state.items()} if style == "timm" else _to_hf(state, style[3:] + ".")
    path = Path(str(tmp_path)) / "w.pt"
    torch.save(state, path)
    m = deit.load_state(deit.VisionTransformer(SIZE, PATCH, DIM, DEPTH, HEADS, MLP_RATIO, CLASSES),
                        torch.load(path, weights_only=True))
    for k, v in vit.state_dict().items():
        assert torch.equal(m.state_dict()[k], v), k
    x = deit.calibration_images(2, 9, SIZE)
    with torch.no_grad():
        assert torch.equal(m(x), vit(x))
    distilled = {**state, "deit.embeddings.distillation_token": torch.zeros(1, 1, DIM)} if style != "timm" else \
        {"dist_token": torch.zeros(1, 1, DIM), **state}
    with pytest.raises(ModelLoadError, match="distill"):
        deit.load_state(deit.VisionTransformer(SIZE, PATCH, DIM, DEPTH, HEADS, MLP_RATIO, CLASSES), distilled)
    with pytest.raises(ModelLoadError, match="does not fit"):
        deit.load_state(deit.deit_tiny(), state)


def test_deit_tiny_loads_a_hugging_face_state_dict_file(tmp_path: object) -> None:
    from pathlib import Path

    src = deit.generate(seed=3, calibration=deit.calibration_images(2, 5))
    path = Path(str(tmp_path)) / "w.pt"
    torch.save(_to_hf(src.state_dict(), "deit."), path)
    m, calib = deit.load(path)
    assert calib.shape == (8, 3, 224, 224)
    for k, v in src.state_dict().items():
        assert torch.equal(m.state_dict()[k], v), k


def test_export_writes_the_token_records(timm_net: tuple, calib: torch.Tensor, tmp_path: object) -> None:  # type: ignore[type-arg]
    import json
    from pathlib import Path

    from golden.export import export

    net = timm_net[1]
    x_q = net.quantize_input(calib[:1])
    out = export(net, x_q, Path(str(tmp_path)) / "exp")
    doc = json.loads((out / "network.json").read_text())
    outs = net.run(x_q).outputs
    for entry in doc["layers"]:
        a = np.load(out / entry["file"])
        assert np.array_equal(a["output"], outs[entry["name"]]), entry["name"]
        if entry["kind"] == "matmul":
            assert entry["input_arrays"] == ["input_a", "input_b"] and int(a["z_b"]) == 128
        if entry["kind"] == "select":
            layer = net[entry["name"]]
            assert tuple(a["perm"]) == layer.perm and int(a["axis"]) == layer.axis
