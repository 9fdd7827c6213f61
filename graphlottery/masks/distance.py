"""Distances between masks, and early-bird detection (You et al., ICLR 2020).

The early-bird ticket is drawn as soon as the pruning mask stops changing: after each epoch the
mask the current weights would give is compared with the last few, and the ticket is drawn when
every normalised Hamming distance in that window is below a threshold.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import torch
from torch import Tensor


def mask_distance(a: Sequence[Tensor], b: Sequence[Tensor], relative: bool = False) -> float:
    """Distance in ``[0, 1]`` between two sets of boolean masks (same count and shapes).

    Default: the normalised Hamming distance, the fraction of all entries that differ (You et
    al.). ``relative``: the differing entries over the pruned entries of both,
    :math:`|A \triangle B| / (|A| + |B|)` for pruned sets ``A``, ``B``, which is 1 for disjoint
    prunings whatever the sparsity (use it when few entries are pruned, e.g. 5% of the edges,
    where unrelated masks differ in under 10% of all entries).
    """
    if len(a) != len(b):
        raise ValueError(f"cannot compare {len(a)} masks with {len(b)}")
    differ, total = 0, 0
    for x, y in zip(a, b):
        if x.shape != y.shape:
            raise ValueError(f"mask shapes differ: {tuple(x.shape)} and {tuple(y.shape)}")
        x, y = x.to(torch.bool), y.to(x.device, torch.bool)
        differ += int((x != y).sum())
        total += int((~x).sum() + (~y).sum()) if relative else x.numel()
    return differ / total if total else 0.0


class EarlyBird:
    """Stop when the masks stop changing.

    Each :meth:`update` takes one or more *groups* of masks (e.g. the weight masks alone, or
    ``[graph.keep]`` and the weight masks of a GNN) and returns ``True`` once the previous
    ``window - 1`` updates are all within ``threshold`` of the newest one, in every group
    (:func:`mask_distance`, ``relative`` as there).
    """

    def __init__(self, window: int = 5, threshold: float = 0.1, relative: bool = False):
        if window < 2:
            raise ValueError(f"window must be at least 2, got {window}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.window, self.threshold, self.relative = window, threshold, relative
        self.history: deque[list[list[Tensor]]] = deque(maxlen=window)
        self.distances: list[float] = []

    def update(self, *groups: Sequence[Tensor]) -> bool:
        """Record the current masks; ``True`` once they have settled."""
        if not groups:
            raise ValueError("update needs at least one group of masks")
        current = [[m.detach().to(torch.bool).clone() for m in group] for group in groups]
        if self.history and len(self.history[-1]) != len(current):
            raise ValueError(f"got {len(current)} mask groups, earlier updates had {len(self.history[-1])}")
        self.history.append(current)
        if len(self.history) < self.window:
            self.distances.append(float("nan"))
            return False
        newest = self.history[-1]
        worst = max(mask_distance(old[g], newest[g], self.relative)
                    for old in list(self.history)[:-1] for g in range(len(newest)))
        self.distances.append(worst)
        return worst < self.threshold
