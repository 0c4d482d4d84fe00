"""scikit-learn's digits data set (bundled with scikit-learn, no download), as float tensors.

8x8 grey images with values 0..16 are scaled to [0, 1], optionally upsampled (bilinear) so the
stride-2 stages of the CNNs have something to reduce, and replicated to `channels` channels.
The train/test split is fixed (stratified, random_state=0, 20% test: 360 test images).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

TEST_FRACTION = 0.2
SPLIT_SEED = 0


@dataclass(frozen=True)
class DigitsSplit:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


@lru_cache(maxsize=8)
def digits(size: int = 8, channels: int = 1) -> DigitsSplit:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(data.target, dtype=torch.int64)
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    if channels != 1:
        x = x.repeat(1, channels, 1, 1)
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=data.target)
    tr_t, te_t = torch.from_numpy(np.sort(tr)), torch.from_numpy(np.sort(te))
    return DigitsSplit(x[tr_t].contiguous(), y[tr_t], x[te_t].contiguous(), y[te_t])
