"""The full-size model MODEL=mobilenetv2_224 (golden/models/mobilenetv2_224.py): MobileNetV2 1.0's
layer shapes at 224x224 with TF 'SAME' padding and dead channels, deterministic generated weights;
through golden against PyTorch's own int8 kernels, and (slow) a sample of its layers on the engine
with the edge hardware description."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from golden import extract, quantize
from golden.layers import AddLayer, ConvLayer, LinearLayer
from golden.models import load_model
from golden.models.mobilenetv2_224 import DEAD, MobileNetV2_224, generate
from golden.oracle import compare_layers


def test_generated_weights_are_deterministic_and_have_dead_channels() -> None:
    a, b = generate(), generate()
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    convs = [m for m in a.modules() if isinstance(m, nn.Conv2d)]
    dead = sum(int((m.weight.flatten(1).abs().sum(1) == 0).sum()) for m in convs)
    assert dead == sum(n for _, n in DEAD)
    # the state_dict of the architecture is what a user's trained weights load into
    assert set(MobileNetV2_224().state_dict()) == set(a.state_dict())


def test_users_trained_weights_load_through_a_factory(tmp_path) -> None:
    """docs/golden.md: a state_dict of MobileNetV2_224 (BN folded) through `load` in a factory."""
    trained = MobileNetV2_224()
    with torch.no_grad():
        for p in trained.parameters():
            p.uniform_(-0.1, 0.1)
    torch.save(trained.state_dict(), tmp_path / "weights.pt")
    (tmp_path / "mine.py").write_text(
        "from golden.models.mobilenetv2_224 import load\n\n\n"
        f"def make():\n    return load({str(tmp_path / 'weights.pt')!r})\n")
    loaded = load_model(f"{tmp_path / 'mine.py'}:make")
    got = loaded.float_model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in trained.state_dict().items())
    assert tuple(loaded.calibration.shape[1:]) == (3, 224, 224)


def test_full_size_model_through_golden_matches_pytorchs_kernels() -> None:
    loaded = load_model("mobilenetv2_224")
    x = loaded.calibration[:4]  # a quarter of the calibration set: quantizing is most of this test
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize(loaded.float_model, x)
        net = extract(q, x[:2])
    convs = [l for l in net.layers if isinstance(l, ConvLayer)]
    assert len(convs) == 52 and sum(isinstance(l, LinearLayer) for l in net.layers) == 1
    assert sum(isinstance(l, AddLayer) for l in net.layers) == 10
    assert round(sum(l.macs for l in net.compute_layers()) / 1e6, 1) == 300.8
    # TF 'SAME': the stem and the four stride-2 depthwise convs pad right and bottom only
    asym = [l.name for l in convs if not l.symmetric]
    assert len(asym) == 5 and all(l.pads == (0, 1, 0, 1) for l in convs if not l.symmetric), asym
    # every ReLU6 folded into its conv's output range: 256 codes, not 16 (conv2's before the fold)
    relu6 = [l for l in convs if l.requant.lo == l.requant.z_out]
    assert len(relu6) == 35 and all(l.requant.z_out == 0 and l.requant.hi == 255 for l in relu6), \
        [(l.name, l.requant.z_out, l.requant.hi) for l in relu6 if l.requant.hi != 255 or l.requant.z_out]
    rows = compare_layers(net, q, x[:1])
    bad = [str(r) for r in rows if not r.within_bound]
    assert not bad, "golden outside the bound of PyTorch's int8 kernels:\n" + "\n".join(bad)
    # the generated network's prediction depends on the image
    pred = net.predict(net.quantize_input(loaded.calibration[:8]))
    assert len(set(pred.tolist())) > 3, pred


@pytest.mark.slow
@pytest.mark.sim
def test_full_size_layers_on_the_edge_engine() -> None:
    """The stem (four bands, TF 'SAME'), a stride-2 depthwise layer in six bands, a pointwise layer
    at 112x112, a depthwise, the widest pointwise and the fc, bit-exact on Verilator (every layer:
    `make sim MODEL=mobilenetv2_224 HW=edge`)."""
    from tb import layer_sim

    names = ["conv1", "conv5", "conv4", "conv14", "conv52", "fc1"]
    res = layer_sim.run(layers=names, sim="verilator", model="mobilenetv2_224", seed=0, hw="edge")
    assert [r["status"] for r in res] == ["PASS"] * len(names), [(r["layer"], r["status"], r.get("reason")) for r in res]


@pytest.mark.slow
@pytest.mark.sim
def test_full_size_layers_on_icarus() -> None:
    """A sample on Icarus (slow: ~2 k cycles/s): the stride-2 depthwise layer to 7x7 and a 7x7 one."""
    from tb import layer_sim

    res = layer_sim.run(layers=["conv41", "conv44"], sim="icarus", model="mobilenetv2_224", seed=0, hw="edge")
    assert [r["status"] for r in res] == ["PASS"] * 2, [(r["layer"], r["status"], r.get("reason")) for r in res]
