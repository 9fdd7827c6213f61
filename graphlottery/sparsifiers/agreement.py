"""Prediction agreement: prune first the edges whose endpoints the dense model puts in different classes."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from graphlottery.lottery.ugs import derived_seed
from graphlottery.sparsifiers.base import Options, Selection, Sparsifier
from graphlottery.sparsifiers.degree import per_unit, unit_edges


@dataclass
class AgreementOptions(Options):
    """``use_labels``: the training nodes' own labels replace the dense model's prediction there
    (they are known to the model anyway)."""

    use_labels: bool = True


def agreement_scores(probs: Tensor, src: Tensor, dst: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """With each node's most likely class :math:`\\hat y` and its probability :math:`c` under
    ``probs`` (``[N, C]``): :math:`s(u, v) = 1 - c_u c_v` if :math:`\\hat y_u \\ne \\hat y_v`, so
    edges between confidently different predictions score lowest and an uncertain endpoint keeps its
    edges longer; else :math:`1 + U(0, 1)`: edges predicted within a class go only after all
    others, in random order (an order by index would strip whole neighbourhoods; ordering them by
    confidence measured worse). ``[E]``, O(E + N C)."""
    confidence, predicted = probs.max(-1)
    same = predicted[src] == predicted[dst]
    within = 1.0 + torch.rand(src.numel(), generator=generator).to(probs.device)
    return torch.where(same, within, 1.0 - confidence[src] * confidence[dst])


class AgreementSparsifier(Sparsifier):
    """A graph sparsifier of this library: one shot, the edges with the lowest
    :func:`agreement_scores` under the dense model's softmax output (with the training labels)
    go first. Message passing averages neighbours; an edge between nodes of different classes
    pulls a node's representation towards the wrong class, so those edges are the ones to drop.
    Graph only; reads the dense model's output (no distillation)."""

    name = "agreement"
    schedules = ("one_shot",)
    prunes = ("graph",)
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
        self._scores = per_unit(agreement_scores(probs, src, dst, generator), unit, run.graph.num_units)

    def select(self, run, graph_fraction: float, weight_fraction: float) -> Selection:
        return Selection(edge_scores=self._scores)
