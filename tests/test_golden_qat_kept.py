"""A model trained at a width is kept and taken (issue 25 item 2): `make train QAT=1 W_BITS=N
A_BITS=M` keeps the trained state (golden.qat.save_trained: FX's converted model does not pickle),
QAT=1 reads it instead of training again (golden.qat.load_trained), and what it reads is the network
training ended with, integer for integer; a kept state the float checkpoint no longer matches is
refused in one line; an image's key covers the kept file (tb.run_settings)."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import golden.qat as qat
from golden import extract
from golden.errors import ModelLoadError
from golden.models import SHIPPED, checkpoint_path, load_model
from golden.models.digits import digits

W, A = 2, 4


def _train(tmp: Path, epochs: int = 2) -> tuple[Any, Any, Path]:
    """The MLP trained at w2a4 (briefly), its converted model and the kept state's file."""
    m = load_model("mlp")
    d = digits(SHIPPED["mlp"].size, SHIPPED["mlp"].channels)
    kept: list[dict[str, torch.Tensor]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = qat.train_qat(m.float_model, m.calibration, d.x_train, d.y_train, w_bits=W, a_bits=A, epochs=epochs,
                           freeze_epoch=1, keep=kept.append)
    path = qat.trained_path("mlp", W, A, False)
    assert path.parent == tmp
    qat.save_trained(path, kept[0], name="mlp", w_bits=W, a_bits=A, keep_ends=False,
                     float_checkpoint=checkpoint_path("mlp"), epochs=epochs)
    return m, gm, path


def _same_network(a: Any, b: Any) -> None:
    assert [l.name for l in a.layers] == [l.name for l in b.layers]
    for x, y in zip(a.layers, b.layers):
        if hasattr(x, "weight"):
            assert np.array_equal(x.weight, y.weight), x.name
            assert np.array_equal(x.requant.m0, y.requant.m0) and np.array_equal(x.requant.n, y.requant.n), x.name
            assert np.array_equal(x.bias.mantissa, y.bias.mantissa) and np.array_equal(x.bias.shift, y.bias.shift), x.name
            assert (x.z_in, x.requant.z_out, x.requant.lo, x.requant.hi) == (y.z_in, y.requant.z_out, y.requant.lo, y.requant.hi)


def test_the_kept_model_is_the_trained_one_and_qat_takes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INT8SIM_TRAINED", str(tmp_path))
    m, gm, path = _train(tmp_path)
    trained = extract(gm, m.calibration[:2])
    kept = qat.load_trained(m, w_bits=W, a_bits=A, keep_ends=False)
    assert kept is not None
    _same_network(trained, extract(kept, m.calibration[:2]))

    # QAT=1 reads it: no training happens (a default run would train 6 epochs and give other weights)
    def no_training(*args: Any, **kw: Any) -> Any:
        raise AssertionError("QAT=1 trained although a trained model is kept")

    monkeypatch.setattr(qat, "train_qat", no_training)
    digest = qat.trained_digest("mlp", W, A, False)
    taken = qat.quantized_model(m, w_bits=W, a_bits=A, qat=True, trained=digest)
    _same_network(trained, extract(taken, m.calibration[:2]))
    # ... and refuses to read one that changed after the run keyed its image by it
    with pytest.raises(qat.InputError, match="changed while this run used it"):
        qat.quantized_model(m, w_bits=W, a_bits=A, qat=True, trained=qat.NO_TRAINED)


def test_a_stale_kept_model_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INT8SIM_TRAINED", str(tmp_path))
    m, _gm, path = _train(tmp_path, epochs=1)
    data = torch.load(path, weights_only=True)
    data["float_checkpoint"] = "0" * 64  # trained from a float model since retrained
    torch.save(data, path)
    with pytest.raises(ModelLoadError) as e:
        qat.load_trained(m, w_bits=W, a_bits=A, keep_ends=False)
    msg = str(e.value)
    assert "\n" not in msg and "another float checkpoint" in msg and "make train QAT=1 MODELS=mlp W_BITS=2 A_BITS=4" in msg, msg
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelLoadError, match="does not load"):
        qat.load_trained(m, w_bits=W, a_bits=A, keep_ends=False)
    # none kept at other widths: QAT=1 trains (load_trained says so with None)
    assert qat.load_trained(m, w_bits=4, a_bits=4, keep_ends=False) is None


def test_make_train_qat_keeps_it_and_the_image_key_follows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from train_models import main
    from tb.run_settings import RunSettings

    monkeypatch.setenv("INT8SIM_TRAINED", str(tmp_path))
    before = RunSettings(model="mlp", w_bits=W, a_bits=A, qat=True).widths
    assert before is not None and before["trained"] == qat.NO_TRAINED
    assert main(["mlp", "--qat", "--w-bits", str(W), "--a-bits", str(A), "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "[mlp w2a4] golden test accuracy" in out and str(qat.trained_path("mlp", W, A, False)) in out, out
    after = RunSettings(model="mlp", w_bits=W, a_bits=A, qat=True).widths
    assert after is not None and after["trained"] == qat.trained_digest("mlp", W, A, False) != qat.NO_TRAINED
    assert main(["nope", "--qat"]) == 2
