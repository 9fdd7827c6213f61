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


def prune_lowest_grouped(score: Tensor, keep: Tensor, groups: Tensor, fraction: float) -> Tensor:
    """:func:`prune_lowest` within groups: every group loses ``fraction`` of its own remaining
    entries (lowest ``|score|`` first), with largest-remainder rounding so the total is exactly
    ``round(fraction * remaining)`` as in :func:`prune_lowest`.

    Args:
        score, keep: ``[U]`` scores and boolean mask.
        groups: ``[U]`` non-negative group id of every entry (e.g. the graph of every edge).
    """
    check_fraction(fraction)
    if not score.shape == keep.shape == groups.shape or keep.dim() != 1:
        raise ValueError(f"score, keep and groups must be 1-D of one shape, got {tuple(score.shape)}, "
                         f"{tuple(keep.shape)}, {tuple(groups.shape)}")
    kept = keep.nonzero().view(-1)
    value, group = score.detach().abs().float()[kept], groups[kept].long()
    if torch.isnan(value).any():
        raise ValueError("pruning scores contain NaN; the training diverged")
    counts = torch.bincount(group, minlength=int(groups.max()) + 1 if groups.numel() else 0)
    quota = fraction * counts.double()
    budget = quota.floor().long()
    short = round(fraction * kept.numel()) - int(budget.sum())
    if short > 0:  # the largest remainders get one more (ties: lower group id)
        budget[torch.sort(budget.double() - quota, stable=True).indices[:short]] += 1
    by_score = torch.sort(value, stable=True).indices
    order = by_score[torch.sort(group[by_score], stable=True).indices]  # by group, then by score
    rank = torch.arange(order.numel(), device=order.device) - (torch.cumsum(counts, 0) - counts)[group[order]]
    out = keep.clone()
    out[kept[order[rank < budget[group[order]]]]] = False
    return out


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
