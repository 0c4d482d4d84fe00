"""The generated model MODEL=deeplabv3_513 (golden/models/deeplabv3_513.py): DeepLabV3, MobileNetV2
backbone at output stride 16 (dilated depthwise convs), ASPP (atrous convs, image pooling,
upsampling, concatenation), the logits upsampled by 16. Its shapes at 513x513 on the meta device;
golden against PyTorch's kernels on the same network at 65x65 (a full-size run: slow)."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from golden import extract, quantize
from golden.layers import ConcatLayer, ConvLayer, Network, UpsampleLayer
from golden.models import GENERATED, load_model
from golden.models.deeplabv3_513 import ASPP_RATES, DEAD, DeepLabV3_513, backbone_blocks, generate, load, tf_scopes
from golden.models.mobilenetv2_224 import calibration_images
from golden.oracle import compare_layers

SMALL = 65  # features 5x5: the image pooling branch upsamples by 5


def conv_macs(model: nn.Module, size: int) -> tuple[torch.Tensor, int]:
    """(output, MACs) of one image through the model on the meta device (shapes only, no arithmetic)."""
    macs = []
    hooks = [m.register_forward_hook(lambda m, _i, out: macs.append(out.numel() * m.weight[0].numel()))
             for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        out = model.to("meta")(torch.empty(1, 3, size, size, device="meta"))
    finally:
        for h in hooks:
            h.remove()
    return out, sum(macs)


def test_architecture_at_513() -> None:
    model = DeepLabV3_513()
    out, macs = conv_macs(model, 513)
    assert tuple(out.shape) == (1, 21, 528, 528) and macs == 5_363_508_928
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 58 and sum(p.numel() for p in model.parameters()) == 4_506_229
    # output stride 16: four stride-2 convs (the stem and three blocks), the 160 stage's first block at stride 1,
    # and its depthwise convs after it dilated by 2 (TF-slim's rate), as the 320 block's
    assert [b[2:] for b in backbone_blocks()] == [(1, 1)] + [(2, 1), (1, 1)] + [(2, 1), (1, 1), (1, 1)] + \
        [(2, 1)] + [(1, 1)] * 7 + [(1, 2)] * 3
    assert sum(c.stride == (2, 2) for c in convs) == 4
    dilated = [(c.dilation[0], c.padding[0], c.groups > 1) for c in convs if c.dilation != (1, 1)]
    assert dilated == [(2, 2, True)] * 3 + [(r, r, False) for r in ASPP_RATES]
    # TF 'SAME' on odd sides: every conv pads symmetrically, (k - 1) / 2 x dilation
    assert all(c.padding[0] == c.dilation[0] * (c.kernel_size[0] // 2) for c in convs)
    assert not any(isinstance(m, nn.ZeroPad2d) for m in model.modules())
    with pytest.raises(ValueError, match="16 m \\+ 1"):
        DeepLabV3_513(512)


def test_generated_weights_are_deterministic_with_dead_channels() -> None:
    a, calibration = load(size=SMALL)  # what MODEL=deeplabv3_513 loads, at 65x65
    assert GENERATED["deeplabv3_513"][1] == load.__module__ and tuple(calibration.shape) == (16, 3, SMALL, SMALL)
    b, c = generate(calibration=calibration, size=SMALL), generate(seed=1, calibration=calibration, size=SMALL)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.classifier.weight, c.classifier.weight)
    convs = [m for m in a.modules() if isinstance(m, nn.Conv2d)]
    dead = [int((m.weight.flatten(1).abs().sum(1) == 0).sum()) for m in convs]
    assert {i: n for i, n in enumerate(dead) if n} == dict(DEAD)
    # one architecture at every size: a state_dict of the 65x65 network loads into the 513x513 one
    DeepLabV3_513().load_state_dict(a.state_dict())


def test_trained_weights_load_through_a_factory(tmp_path) -> None:
    """docs/golden.md: a state_dict of DeepLabV3_513 (BN folded) through `load` in a factory; tf_scopes
    names the TF DeepLab checkpoint scope of every conv."""
    trained = DeepLabV3_513(SMALL)
    with torch.no_grad():
        for p in trained.parameters():
            p.uniform_(-0.1, 0.1)
    torch.save(trained.state_dict(), tmp_path / "weights.pt")
    (tmp_path / "mine.py").write_text(
        "from golden.models.deeplabv3_513 import load\n\n\n"
        f"def make():\n    return load({str(tmp_path / 'weights.pt')!r}, size={SMALL})\n")
    loaded = load_model(f"{tmp_path / 'mine.py'}:make")
    got = loaded.float_model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in trained.state_dict().items())
    assert tuple(loaded.calibration.shape[1:]) == (3, SMALL, SMALL)
    scopes = tf_scopes(trained)
    convs = {n for n, m in trained.named_modules() if isinstance(m, nn.Conv2d)}
    assert set(scopes) == convs and len(set(scopes.values())) == len(convs)
    assert scopes["backbone.17.conv.1.0"] == "MobilenetV2/expanded_conv_16/depthwise"
    assert scopes["backbone.1.conv.1.0"] == "MobilenetV2/expanded_conv/project"
    assert scopes["aspp.branches.3.0"] == "aspp3" and scopes["classifier"] == "logits/semantic"


def quantized(size: int, images: int) -> tuple[Network, torch.fx.GraphModule, torch.Tensor]:
    calibration = calibration_images(images, size=size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize(generate(calibration=calibration, size=size), calibration)
        return extract(q, calibration[:2]), q, calibration


def check_layers(net: Network, side: int, scale: int) -> None:
    """The layer kinds golden makes of the network at a feature side and output upsampling factor."""
    kinds = [l.kind for l in net.layers]
    assert kinds.count("add") == 10 and sum(isinstance(l, ConvLayer) for l in net.layers) == 58
    dilated = [(l.kind, l.dilation, l.pads) for l in net.layers if isinstance(l, ConvLayer) and l.dilation != (1, 1)]
    assert dilated == [("depthwise", (2, 2), (2, 2, 2, 2))] * 3 + [("conv", (r, r), (r,) * 4) for r in ASPP_RATES]
    cat = next(l for l in net.layers if isinstance(l, ConcatLayer))
    assert cat.channels == (256,) * 5 and all(cat.copies) and cat.out_shape == (1280, side, side)
    ups = [l for l in net.layers if isinstance(l, UpsampleLayer)]
    assert [(u.scale, u.in_shape, u.out_shape) for u in ups] == [
        ((side, side), (256, 1, 1), (256, side, side)), ((scale, scale), (21, side, side), (21, side * scale, side * scale))]
    assert cat.inputs[-1] == ups[0].name and net.output_names == (ups[1].name,)


def test_golden_matches_pytorchs_kernels_at_65() -> None:
    net, q, x = quantized(SMALL, 4)
    check_layers(net, 5, 16)
    rows = compare_layers(net, q, x[:1])
    bad = [str(r) for r in rows if not r.within_bound]
    assert not bad, "golden outside the bound of PyTorch's int8 kernels:\n" + "\n".join(bad)
    # the segmentation depends on the image: more than one class in golden's class map
    out = net.run(net.quantize_input(x)).output
    assert out.shape == (4, 21, 80, 80) and len(set(out.argmax(1).ravel().tolist())) > 2


@pytest.mark.slow
def test_full_size_model_through_golden_matches_pytorchs_kernels() -> None:
    net, q, x = quantized(513, 4)
    check_layers(net, 33, 16)
    assert sum(l.macs for l in net.compute_layers()) == 5_363_508_928
    rows = compare_layers(net, q, x[:1])
    bad = [str(r) for r in rows if not r.within_bound]
    assert not bad, "golden outside the bound of PyTorch's int8 kernels:\n" + "\n".join(bad)
    assert net.run(net.quantize_input(x[:1])).output.shape == (1, 21, 528, 528)

