"""scikit-learn's digits data set (bundled with scikit-learn, no download), as float tensors.

8x8 grey images with values 0..16 are scaled to [0, 1], optionally upsampled (bilinear) so the
stride-2 stages of the CNNs have something to reduce, and replicated to `channels` channels.
The train/test split is fixed (stratified, random_state=0, 20% test: 360 test images).
"""
from __future__ import annotations

import importlib.util
import io
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from golden.errors import ModelLoadError

TEST_FRACTION = 0.2
SPLIT_SEED = 0


@dataclass(frozen=True)
class DigitsSplit:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def _data_file() -> Path:
    """scikit-learn's own copy of the data set (what load_digits reads), found without importing it."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError("scikit-learn is not installed (its digits data set is the shipped models' data); run `make bootstrap`")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"


def digits_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(images [1797, 8, 8] float64 0..16, targets [1797], train indices, test indices), as
    load_digits and train_test_split(stratify, TEST_FRACTION, SPLIT_SEED) give them. The split is
    scikit-learn's, computed once per data file, scikit-learn version and split setting and kept in
    int8sim's cache (golden.cache): importing scikit-learn (and SciPy with it) took 1.3 s in every
    process that loads a shipped model (each make sim, make golden), the data file itself 20 ms."""
    import gzip
    import hashlib
    import importlib.metadata
    import zipfile

    from golden.cache import cache_root

    path = _data_file()
    raw = path.read_bytes()
    data = np.loadtxt(gzip.open(io.BytesIO(raw), "rt"), delimiter=",")  # as load_digits reads it
    images, target = data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)
    key = hashlib.sha256(raw + f"|{importlib.metadata.version('scikit-learn')}|{TEST_FRACTION}|{SPLIT_SEED}".encode()).hexdigest()
    cached = cache_root() / "digits" / f"split-{key[:24]}.npz"
    try:
        with np.load(cached) as z:
            tr, te = z["train"], z["test"]
        if len(tr) + len(te) == len(target) and len(np.union1d(tr, te)) == len(target):
            return images, target, tr, te
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        pass  # absent, or not a whole file: made again below
    from sklearn.model_selection import train_test_split

    tr, te = train_test_split(np.arange(len(target)), test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=target)
    tr, te = np.sort(tr), np.sort(te)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp.npz")
        np.savez(tmp, train=tr, test=te)
        os.replace(tmp, cached)
    except OSError:
        pass  # a read-only cache: computed again next time
    return images, target, tr, te


@lru_cache(maxsize=8)
def digits(size: int = 8, channels: int = 1) -> DigitsSplit:
    images, target, tr, te = digits_arrays()
    x = torch.tensor(images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(target, dtype=torch.int64)
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    if channels != 1:
        x = x.repeat(1, channels, 1, 1)
    tr_t, te_t = torch.from_numpy(tr), torch.from_numpy(te)
    return DigitsSplit(x[tr_t].contiguous(), y[tr_t], x[te_t].contiguous(), y[te_t])
