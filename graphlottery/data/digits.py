"""scikit-learn's bundled 8×8 digits images (1,797 images, 10 classes): real data for the CNN
and transformer pruning examples that installs with scikit-learn, no download."""
from __future__ import annotations

import torch
from torch import Tensor


def load_digits(seed: int = 0, val: float = 0.2, test: float = 0.2) -> dict[str, Tensor]:
    """Images ``x`` (``[1797, 1, 8, 8]``, scaled to [0, 1]), labels ``y`` (``[1797]``), and
    stratified, disjoint ``train`` / ``val`` / ``test`` index tensors drawn with ``seed``."""
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    if not (0 < val < 1 and 0 < test < 1 and val + test < 1):
        raise ValueError(f"val and test must be fractions in (0, 1) that sum below 1, got {val} and {test}")
    images, labels = sklearn_digits(return_X_y=True)
    x = torch.tensor(images, dtype=torch.float).view(-1, 1, 8, 8) / 16.0
    y = torch.tensor(labels, dtype=torch.long)
    index = torch.arange(y.numel()).numpy()
    rest, test_idx = train_test_split(index, test_size=test, stratify=labels, random_state=seed)
    train_idx, val_idx = train_test_split(rest, test_size=val / (1 - test), stratify=labels[rest], random_state=seed)
    return {"x": x, "y": y, "train": torch.as_tensor(train_idx), "val": torch.as_tensor(val_idx),
            "test": torch.as_tensor(test_idx)}
