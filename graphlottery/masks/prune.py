"""Exact-count pruning criteria on masks.

"Prune a fraction ``p`` of the remaining entries" removes exactly ``round(p * remaining)``
of the entries that are still kept, those with the lowest ``|score|``, with ties broken by
position (a stable sort), so sparsity after ``k`` rounds is ``1 - (1 - p)^k`` up to rounding.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def check_fraction(fraction: float, name: str = "fraction") -> float:
    """Raise ``ValueError`` unless ``0 <= fraction < 1``."""
    if not 0.0 <= float(fraction) < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {fraction}")
    return float(fraction)


def prune_lowest(scores: Sequence[Tensor], keep: Sequence[Tensor], fraction: float) -> list[Tensor]:
    """Globally prune ``round(fraction * remaining)`` kept entries with the lowest ``|score|``.

    Args:
        scores: importance scores, one tensor per mask (any shapes).
        keep: boolean masks of the same shapes; only ``True`` entries compete.
        fraction: share of the *remaining* entries to prune, in ``[0, 1)``.

    Returns:
        new boolean masks (the inputs are not modified).
    """
    check_fraction(fraction)
    if len(scores) != len(keep):
        raise ValueError(f"got {len(scores)} score tensors for {len(keep)} masks")
    for s, k in zip(scores, keep):
        if s.shape != k.shape:
            raise ValueError(f"score shape {tuple(s.shape)} does not match mask shape {tuple(k.shape)}")
    flat_keep = torch.cat([k.reshape(-1).to(torch.bool) for k in keep])
    flat_score = torch.cat([s.detach().reshape(-1).abs().to(torch.float) for s in scores])
    if torch.isnan(flat_score[flat_keep]).any():
        raise ValueError("pruning scores contain NaN; the training diverged")
    kept_positions = flat_keep.nonzero().view(-1)
    n_prune = round(fraction * kept_positions.numel())
    if n_prune > 0:
        order = torch.sort(flat_score[kept_positions], stable=True).indices[:n_prune]
        flat_keep = flat_keep.clone()
        flat_keep[kept_positions[order]] = False
    return [m.view_as(k) for m, k in zip(flat_keep.split([k.numel() for k in keep]), keep)]


def prune_lowest_layerwise(scores: Sequence[Tensor], keep: Sequence[Tensor], fraction: float) -> list[Tensor]:
    """:func:`prune_lowest` applied to each mask on its own (the same fraction per layer)."""
    return [prune_lowest([s], [k], fraction)[0] for s, k in zip(scores, keep)]


def random_scores(keep: Sequence[Tensor], generator: torch.Generator | None = None) -> list[Tensor]:
    """Uniform random scores shaped like ``keep``, for random pruning with the same rules."""
    return [torch.rand(k.shape, generator=generator).to(k.device) for k in keep]


def sparsity(masks: Sequence[Tensor]) -> float:
    """Fraction of pruned entries over all masks together."""
    total = sum(m.numel() for m in masks)
    if total == 0:
        return 0.0
    kept = sum(int(m.count_nonzero()) for m in masks)
    return 1.0 - kept / total
