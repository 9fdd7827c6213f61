"""Per-graph random sampling shared by the augmentations, vectorised over a whole batch.

Random numbers are drawn on ``generator.device`` when a generator is given (then moved to the
data's device, so a CPU generator gives the same views on every device), else on the data's
device with torch's default generator.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor


def check_ratio(ratio: float, name: str = "ratio") -> float:
    """Return ``ratio`` as a float, or raise a ``ValueError`` unless it lies in ``[0, 1]``."""
    try:
        value = float(ratio)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], got {ratio!r}") from None
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {ratio!r}")
    return value


def check_generator(generator: torch.Generator | None) -> torch.Generator | None:
    """Raise a ``TypeError`` unless ``generator`` is ``None`` or a ``torch.Generator``."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return generator


def rand(size: int | tuple[int, ...], generator: torch.Generator | None, device: torch.device,
         dtype: torch.dtype = torch.float) -> Tensor:
    """``U[0, 1)`` samples of shape ``size`` on ``device``."""
    if generator is None:
        return torch.rand(size, device=device, dtype=dtype)
    return torch.rand(size, generator=generator, device=generator.device, dtype=dtype).to(device)


def randn(size: int | tuple[int, ...], generator: torch.Generator | None, device: torch.device,
          dtype: torch.dtype = torch.float) -> Tensor:
    """``N(0, 1)`` samples of shape ``size`` on ``device``."""
    if generator is None:
        return torch.randn(size, device=device, dtype=dtype)
    return torch.randn(size, generator=generator, device=generator.device, dtype=dtype).to(device)


def randint_below(high: Tensor, generator: torch.Generator | None) -> Tensor:
    """One uniform integer in ``[0, high_i)`` per entry of ``high`` (``[M]``, all ``high_i >= 1``)."""
    u = rand(high.numel(), generator, high.device, torch.float64)
    return (u * high).long().clamp_max_(high - 1)  # clamp guards the u * high == high rounding case


def num_to_remove(counts: Tensor, ratio: float) -> Tensor:
    """``int(ratio * n_g)`` for every count ``n_g`` (float64 product, exactly as Python computes it)."""
    return (counts.to(torch.float64) * ratio).floor().long()


def bernoulli(size: int, p: float, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Boolean ``[size]``, each entry ``True`` with probability ``p``."""
    return rand(size, generator, device) < p


def sample_exact(group: Tensor, k: Tensor, generator: torch.Generator | None) -> Tensor:
    """Pick exactly ``k[g]`` items of every group ``g``, uniformly without replacement.

    Args:
        group: ``[M]`` group id of every item (any order; ids in ``[0, G)``).
        k: ``[G]`` how many items to pick per group (at most the group's size).

    Returns:
        Boolean ``[M]``, ``True`` for the picked items. One sort of ``group + U[0, 1)`` ranks the
        items of each group in random order; the first ``k[g]`` of group ``g`` are picked.
    """
    m = group.numel()
    if m == 0:
        return torch.zeros(0, dtype=torch.bool, device=group.device)
    key = group.to(torch.float64) + rand(m, generator, group.device, torch.float64)
    order = torch.argsort(key)
    sorted_group = group[order]
    counts = torch.bincount(group, minlength=k.numel())
    start = torch.cumsum(counts, 0) - counts
    rank = torch.arange(m, device=group.device) - start[sorted_group]
    picked = torch.empty(m, dtype=torch.bool, device=group.device)
    picked[order] = rank < k[sorted_group]
    return picked


def pick_one(priority: Tensor, group: Tensor, num_groups: int, generator: torch.Generator | None) -> Tensor:
    """A uniformly random item among the highest-``priority`` items of every group (``[G]``;
    ``-1`` for an empty group).

    ``priority`` is an integer ``[M]`` in ``[0, 1024)``. One ``amax`` scatter of the int64 key
    ``(priority * 2**21 + random 21 bits) * M + index`` picks the item: no ties, no sort.
    """
    m = group.numel()
    noise = (rand(m, generator, group.device) * 2**21).long()  # float32: 24 random bits
    key = (priority.long() * 2**21 + noise) * m + torch.arange(m, device=group.device)
    best = torch.full((num_groups,), -1, dtype=torch.long, device=group.device).scatter_reduce_(0, group, key, "amax")
    return torch.where(best >= 0, best % max(m, 1), -1)
