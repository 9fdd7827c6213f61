"""DSpar (Liu et al., TMLR 2023): one-shot edge sampling by a degree proxy of effective resistance."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from graphlottery.lottery.ugs import derived_seed
from graphlottery.sparsifiers.base import Options, Selection, Sparsifier
from graphlottery.sparsifiers.degree import node_degree, per_unit, unit_edges


@dataclass
class DSparOptions(Options):
    """``reweight``: kept edges carry ``count / (q p_e)`` instead of 1 (for a fixed number of draws
    ``q`` an unbiased estimate of the adjacency; stopping at a number of distinct edges biases it
    by O(1/q)). ``reference``: draw ``q = ceil((1 - target) |E|)``
    samples as the paper does, so fewer distinct edges than the target are kept (the level's
    recorded sparsity says how many); by default draws continue until exactly the level's number of
    distinct edges is reached, so every method is compared at the same sparsity."""

    reweight: bool = True
    reference: bool = False


def sample_until(probs: Tensor, distinct: int | None, draws: int | None, generator: torch.Generator,
                 chunk: int = 1 << 20) -> tuple[Tensor, int]:
    """Draw units from ``probs`` (``[U]``) with replacement, ``draws`` times or until ``distinct``
    different units came up; return the count per unit and the number of draws ``q``. Streamed in
    chunks of ``chunk`` draws (inverse-CDF sampling): memory O(U + chunk) whatever ``q`` is."""
    units = probs.numel()
    cdf = probs.double().cpu().cumsum(0)
    cdf /= cdf[-1].clone()
    counts = torch.zeros(units, dtype=torch.long)
    q, seen = 0, 0
    while (q < draws) if draws is not None else (seen < distinct):
        size = chunk if draws is None else min(chunk, draws - q)
        drawn = torch.searchsorted(cdf, torch.rand(size, generator=generator, dtype=torch.double)).clamp_max(units - 1)
        if distinct is not None:  # stop at the draw that brings the distinct-th unit
            first = torch.full((units,), size, dtype=torch.long)
            first.scatter_reduce_(0, drawn, torch.arange(size), reduce="amin")
            new = first[(counts == 0) & (first < size)].sort().values
            if seen + new.numel() >= distinct:
                drawn = drawn[:int(new[distinct - seen - 1]) + 1]
            seen += min(new.numel(), distinct - seen)
        counts += torch.bincount(drawn, minlength=units)
        q += drawn.numel()
    return counts, q


class DSparSparsifier(Sparsifier):
    """DSpar: sample edge units with replacement with probability proportional to
    :math:`1/d_u + 1/d_v` (a degree-based upper bound of the effective resistance), keep those
    drawn and, with ``reweight``, weight them by ``count / (q p_e)``. Graph only, one shot."""

    name = "dspar"
    schedules = ("one_shot",)
    prunes = ("graph",)
    tasks = ("node", "link")  # graph tasks prune per graph (groups), which sampling does not follow
    Options = DSparOptions

    def setup(self, run, dense_output: Tensor | None = None) -> None:
        super().setup(run, dense_output)
        src, dst, unit = unit_edges(run)
        inv = node_degree(src, dst, run.graph.num_nodes).reciprocal().nan_to_num(posinf=0.0)
        score = per_unit(inv[src] + inv[dst], unit, run.graph.num_units)
        self._probs = score / score.sum()

    def select(self, run, graph_fraction: float, weight_fraction: float) -> Selection:
        units = run.graph.num_units
        keep = units - round(graph_fraction * units)
        generator = torch.Generator().manual_seed(derived_seed(run.seed, run.round, 6))
        if self.options.reference:
            counts, q = sample_until(self._probs, None, math.ceil((1 - graph_fraction) * units), generator)
        else:
            counts, q = sample_until(self._probs, keep, None, generator)
        counts = counts.to(self._probs.device)
        drawn = counts > 0
        scores = drawn.float() + torch.rand(units, generator=generator).to(drawn.device) * 0.5  # drawn first
        values = None
        if self.options.reweight:
            values = torch.where(drawn, counts / (q * self._probs), torch.zeros_like(self._probs))
        if self.options.reference:  # keep only what was drawn, even below the level's count
            return Selection(scores, edge_values=values, drop=~drawn)
        return Selection(scores, edge_values=values)
