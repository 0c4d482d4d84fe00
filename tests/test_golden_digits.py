"""The digits data set and its fixed split without importing scikit-learn in every process
(golden.models.digits.digits_arrays): the same arrays and split as load_digits and train_test_split,
the split kept in the cache by what decides it, a damaged cache file made again."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import importlib

digits_mod = importlib.import_module("golden.models.digits")


def test_the_data_and_split_are_scikit_learns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    monkeypatch.setenv("INT8SIM_CACHE", str(tmp_path))
    d = load_digits()
    tr, te = train_test_split(np.arange(len(d.target)), test_size=digits_mod.TEST_FRACTION, random_state=digits_mod.SPLIT_SEED,
                              stratify=d.target)
    for _ in range(2):  # made, then read from the cache
        images, target, got_tr, got_te = digits_mod.digits_arrays()
        assert np.array_equal(images, d.images) and np.array_equal(target, d.target)
        assert np.array_equal(got_tr, np.sort(tr)) and np.array_equal(got_te, np.sort(te))
    assert len(list((tmp_path / "digits").glob("split-*.npz"))) == 1


def test_a_damaged_split_file_is_made_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INT8SIM_CACHE", str(tmp_path))
    want = digits_mod.digits_arrays()
    (cached,) = (tmp_path / "digits").glob("split-*.npz")
    cached.write_bytes(cached.read_bytes()[:100])  # truncated
    got = digits_mod.digits_arrays()
    assert all(np.array_equal(a, b) for a, b in zip(got, want))
    np.savez(cached, train=np.arange(5), test=np.arange(5, 10))  # whole, but not a split of this data
    got = digits_mod.digits_arrays()
    assert all(np.array_equal(a, b) for a, b in zip(got, want))
