"""Layer-wise densities for pruning at initialisation: uniform, Erdős–Rényi (ER) and ERK.

For a layer with weight shape ``(d_1, ..., d_k)`` and ``n = Π d_i`` entries, the schemes give
its density (kept fraction) as

* ``uniform``: :math:`\\epsilon` in every layer (the target density ``D`` unless layers are dense);
* ``er``: :math:`\\epsilon (d_1 + d_2) / (d_1 d_2)` (out and in features or channels);
* ``erk``: :math:`\\epsilon \\sum_i d_i / \\prod_i d_i` (kernel dimensions included),

with one :math:`\\epsilon` solved so the kept entries total ``D · Σ n``. A layer whose density
would exceed 1 is made dense and :math:`\\epsilon` is solved again over the others, until none
does. ``dense`` names layers kept dense from the start (e.g. the first and last layer).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from graphlottery.masks.prune import check_fraction

SCHEMES = ("uniform", "er", "erk")


def _raw(name: str, shape: Sequence[int], scheme: str) -> float:
    if len(shape) < 2:
        raise ValueError(f"the {scheme!r} scheme needs weights with at least 2 dimensions; "
                         f"{name!r} has shape {tuple(shape)} (biases and norms are not pruned)")
    dims = list(shape) if scheme == "erk" else list(shape[:2])
    size = 1
    for d in dims:
        size *= d
    return sum(dims) / size


def layer_densities(
    shapes: Mapping[str, Sequence[int]], sparsity: float, scheme: str = "erk", dense: Sequence[str] = ()
) -> dict[str, float]:
    """Density of every layer (``shapes``: name → weight shape) for overall ``sparsity``.

    Raises a ``ValueError`` for an unknown scheme, a sparsity outside ``[0, 1)``, a layer the
    scheme does not support, an unknown name in ``dense``, or dense layers that alone hold more
    than the budget of kept weights.
    """
    check_fraction(sparsity, "sparsity")
    if scheme not in SCHEMES:
        raise ValueError(f"unknown density scheme {scheme!r}; choose from {list(SCHEMES)}")
    unknown = sorted(set(dense) - set(shapes))
    if unknown:
        raise ValueError(f"dense layers {unknown} are not among the layers {sorted(shapes)}")
    sizes = {name: float(torch.Size(shape).numel()) for name, shape in shapes.items()}
    budget = (1.0 - sparsity) * sum(sizes.values())
    raw = {name: 1.0 if scheme == "uniform" else _raw(name, shape, scheme) for name, shape in shapes.items()}
    full = set(dense)
    while True:
        left = budget - sum(sizes[name] for name in full)
        if left < -1e-9:
            raise ValueError(f"the dense layers {sorted(full)} alone hold more than {1 - sparsity:.1%} of the weights")
        scaled = sum(raw[name] * sizes[name] for name in shapes if name not in full)
        epsilon = left / scaled if scaled > 0 else 0.0
        over = {name for name in shapes if name not in full and epsilon * raw[name] > 1.0}
        if not over:
            return {name: 1.0 if name in full else epsilon * raw[name] for name in shapes}
        full |= over


def kept_counts(shapes: Mapping[str, Sequence[int]], densities: Mapping[str, float]) -> dict[str, int]:
    """Whole numbers of kept entries per layer that total ``round(Σ density · n)`` exactly
    (largest-remainder rounding)."""
    sizes = {name: torch.Size(shape).numel() for name, shape in shapes.items()}
    wanted = {name: densities[name] * sizes[name] for name in shapes}
    counts = {name: min(sizes[name], int(w)) for name, w in wanted.items()}
    short = round(sum(wanted.values())) - sum(counts.values())
    by_remainder = sorted(shapes, key=lambda name: counts[name] - wanted[name])
    for name in by_remainder:
        if short <= 0:
            break
        if counts[name] < sizes[name]:
            counts[name] += 1
            short -= 1
    return counts


def random_masks(
    shapes: Mapping[str, Sequence[int]],
    sparsity: float,
    scheme: str = "erk",
    dense: Sequence[str] = (),
    exact: bool = True,
    generator: torch.Generator | None = None,
) -> dict[str, Tensor]:
    """Random boolean masks at the scheme's layer densities (name → mask shaped like the layer).

    ``exact``: each layer keeps exactly its count from :func:`kept_counts` (uniformly chosen
    entries), so the overall sparsity is exact; else every entry is kept with its layer's density.
    The result can be handed to :meth:`~graphlottery.masks.WeightMasks.set_hard`.
    """
    densities = layer_densities(shapes, sparsity, scheme, dense)
    if not exact:
        return {name: torch.rand(tuple(shape), generator=generator) < densities[name]
                for name, shape in shapes.items()}
    masks = {}
    for name, count in kept_counts(shapes, densities).items():
        order = torch.randperm(torch.Size(shapes[name]).numel(), generator=generator)
        mask = torch.zeros(torch.Size(shapes[name]).numel(), dtype=torch.bool)
        mask[order[:count]] = True
        masks[name] = mask.view(tuple(shapes[name]))
    return masks
