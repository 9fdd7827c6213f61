"""Prediction agreement: prune first the edges whose endpoints the dense model puts in different
classes; weights by projected gradient descent onto the l0 ball while the ticket retrains."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from graphlottery.lottery.ugs import derived_seed
from graphlottery.sparsifiers.base import Options, Selection, Sparsifier, require
from graphlottery.sparsifiers.degree import per_unit, unit_edges
from graphlottery.sparsifiers.teddy import distillation, teddy_scores, train_projected


@dataclass
class AgreementOptions(Options):
    """``use_labels``: the training nodes' own labels replace the dense model's prediction there
    (they are known to the model anyway). ``within``: the order of the edges predicted within a
    class, ``"random"`` or ``"degree"`` (TEDDY's score: edges between hubs first). ``distill``:
    weight of the KL divergence from the dense model's output while the ticket retrains (0: none;
    the default 1 validated best of 0, 0.1 and 1 on GCN Cora)."""

    use_labels: bool = True
    within: str = "random"
    distill: float = 1.0

    def check(self) -> None:
        require(self.within in ("random", "degree"), "agreement", "within", "'random' or 'degree'", self.within)
        require(self.distill >= 0, "agreement", "distill", ">= 0", self.distill)


def agreement_scores(probs: Tensor, src: Tensor, dst: Tensor, generator: torch.Generator | None = None,
                     within: Tensor | None = None) -> Tensor:
    """With each node's most likely class :math:`\\hat y` and its probability :math:`c` under
    ``probs`` (``[N, C]``): :math:`s(u, v) = 1 - c_u c_v` if :math:`\\hat y_u \\ne \\hat y_v`, so
    edges between confidently different predictions score lowest and an uncertain endpoint keeps its
    edges longer; else :math:`1 + w_{uv}`: edges predicted within a class go only after all
    others, in the order of ``within`` (``[E]`` in [0, 1); default :math:`U(0, 1)`, a random order:
    an order by index would strip whole neighbourhoods; ordering them by confidence measured
    worse). ``[E]``, O(E + N C)."""
    confidence, predicted = probs.max(-1)
    same = predicted[src] == predicted[dst]
    if within is None:
        within = torch.rand(src.numel(), generator=generator).to(probs.device)
    return torch.where(same, 1.0 + within, 1.0 - confidence[src] * confidence[dst])


def rank_fraction(values: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Each value's rank among ``values`` as a fraction in [0, 1), float64 (distinct for any E), ties
    in random order (an order by position would strip whole neighbourhoods), ``[E]``."""
    shuffle = torch.randperm(values.numel(), generator=generator).to(values.device)
    order = shuffle[values[shuffle].argsort(stable=True)]
    ranks = torch.empty(values.numel(), dtype=torch.float64, device=values.device)
    ranks[order] = torch.arange(values.numel(), device=values.device, dtype=torch.float64)
    return ranks / max(values.numel(), 1)


class AgreementSparsifier(Sparsifier):
    """A graph sparsifier of this library: one shot, the edges with the lowest
    :func:`agreement_scores` under the dense model's softmax output (with the training labels)
    go first. Message passing averages neighbours; an edge between nodes of different classes
    pulls a node's representation towards the wrong class, so those edges are the ones to drop.
    Weights (joint sweep) are pruned while the ticket retrains, by projected gradient descent onto
    the l0 ball (:func:`~graphlottery.sparsifiers.teddy.train_projected`, TEDDY's weight rule),
    with ``distill`` times the KL divergence from the dense model's output added to the loss (the
    output it reads anyway). ``benchmarks/distillation_control.py`` measures what distillation
    alone gives the unpruned model; ``benchmarks/RESULTS.md`` reports the ticket against it."""

    name = "agreement"
    schedules = ("one_shot",)
    needs_dense = True
    Options = AgreementOptions

    def setup(self, run, dense_output: Tensor | None = None) -> None:
        super().setup(run, dense_output)
        if dense_output is None:
            return  # sparsify's check names what is missing
        probs = torch.softmax(dense_output.to(run.graph.keep.device).float(), dim=-1)
        train, y = getattr(run.task, "splits", {}).get("train"), getattr(run.task, "y", None)
        if self.options.use_labels and train is not None and y is not None and y.dim() == 1:
            probs = probs.clone()
            probs[train] = F.one_hot(y[train], probs.size(-1)).float()
        src, dst, unit = unit_edges(run)
        generator = torch.Generator().manual_seed(derived_seed(run.seed, 0, 8))
        within = None
        if self.options.within == "degree":
            within = rank_fraction(teddy_scores(src, dst, run.graph.num_nodes).to(probs.device), generator)
        scores = agreement_scores(probs, src, dst, generator, within)
        self._scores = per_unit(scores, unit, run.graph.num_units)

    def select(self, run, graph_fraction: float, weight_fraction: float) -> Selection:
        return Selection(edge_scores=self._scores)

    def train(self, run, selection: Selection, weight_fraction: float) -> dict[str, float]:
        loss = distillation(self.dense_output, self.options.distill) if self.options.distill > 0 else None
        return train_projected(run, selection.edge_values, weight_fraction, loss)
