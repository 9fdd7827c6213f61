"""TEDDY (Seo, Yun and Yang, ICLR 2024): one-shot edge pruning by a multi-level degree score,
weights by projected gradient descent onto the l0 ball, distillation from the dense model."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from graphlottery.sparsifiers.base import Options, Selection, Sparsifier, require, train_with_values
from graphlottery.sparsifiers.degree import node_degree, per_unit, unit_edges


def teddy_scores(src: Tensor, dst: Tensor, num_nodes: int) -> Tensor:
    """TEDDY's edge score, ``[E]``: with degrees ``d`` and the neighbourhood mean of
    :math:`d^{-1/2}`, :math:`\\bar n_v = \\frac{1}{d_v}\\sum_{u \\in N(v)} d_u^{-1/2}`,

    .. math:: s(u, v) = \\frac{\\bar n_u}{d_u} \\cdot \\frac{\\bar n_v}{d_v}.

    Edges between hubs score lowest and go first; edges at low-degree nodes stay. O(E)."""
    deg = node_degree(src, dst, num_nodes)
    inv = deg.reciprocal().nan_to_num(posinf=0.0)
    inv_sqrt = deg.rsqrt().nan_to_num(posinf=0.0)
    mean = torch.zeros(num_nodes, device=src.device).index_add_(0, dst, inv_sqrt[src]) * inv
    level = mean * inv
    return level[src] * level[dst]


@dataclass
class TeddyOptions(Options):
    """``distill``: weight of the KL divergence from the dense model's output over all nodes
    (0: no distillation). ``reference``: project every parameter (biases too) onto the l0 ball,
    with ``ceil`` of the pruned count, as the original code does; by default only the masked
    weights (the others are never pruned by any method here) with the exact count of every level."""

    distill: float = 0.1
    reference: bool = False

    def check(self) -> None:
        require(self.distill >= 0, "teddy", "distill", ">= 0", self.distill)


class TeddySparsifier(Sparsifier):
    """TEDDY: the edges with the lowest :func:`teddy_scores` of the whole graph are pruned in one
    shot (no training needed); the ticket is then trained once from the rewind point with
    ``distill`` times the KL divergence from the dense model's output (all nodes) added to the
    loss, and, for weight sparsity, every optimiser step followed by the projection onto the l0
    ball (the weights of largest magnitude kept, the rest zeroed; pruned weights can come back).
    The weight mask is the support at the best-validation epoch."""

    name = "teddy"
    schedules = ("one_shot",)
    Options = TeddyOptions

    @property
    def needs_dense(self) -> bool:  # type: ignore[override]
        return self.options.distill > 0

    def setup(self, run, dense_output: Tensor | None = None) -> None:
        super().setup(run, dense_output)
        src, dst, unit = unit_edges(run)
        self._scores = per_unit(teddy_scores(src, dst, run.graph.num_nodes), unit, run.graph.num_units)

    def select(self, run, graph_fraction: float, weight_fraction: float) -> Selection:
        return Selection(edge_scores=self._scores)

    def train(self, run, selection: Selection, weight_fraction: float) -> dict[str, float]:
        loss = distillation(self.dense_output, self.options.distill) if self.options.distill > 0 else None
        return train_projected(run, selection.edge_values, weight_fraction, loss, self.options.reference)


def distillation(dense_output: Tensor, weight: float) -> Callable[[Tensor], Tensor]:
    """The loss term ``weight`` times the KL divergence of the output from the dense model's
    (softmax over classes, averaged over all nodes)."""
    teachers = {dense_output.device: F.softmax(dense_output.float(), dim=-1)}

    def loss(out: Tensor) -> Tensor:
        if out.device not in teachers:
            teachers[out.device] = next(iter(teachers.values())).to(out.device)
        kl = F.kl_div(F.log_softmax(out.float(), dim=-1), teachers[out.device], reduction="sum") / out.size(0)
        return weight * kl

    return loss


def train_projected(run, edge_values: Tensor | None, weight_fraction: float,
                    loss: Callable[[Tensor], Tensor] | None = None, reference: bool = False) -> dict[str, float]:
    """Retrain ``run``'s ticket with ``loss`` added and, if ``weight_fraction`` > 0, every optimiser
    step followed by the projection onto the l0 ball (the ``weight_fraction`` of the masked weights
    of smallest magnitude zeroed; pruned weights can come back); the weight mask becomes the support
    at the best-validation epoch, with exactly that many weights pruned. ``reference``: TEDDY's code
    (every parameter, biases too, projected, with ``ceil`` of the count; the support as it falls)."""
    if weight_fraction <= 0:
        with run.extend(loss=loss):
            return train_with_values(run, edge_values)
    if not all(bool(m.all()) for _, m in run.masks.items()):
        raise ValueError("projected-gradient weight pruning starts from unpruned weights (a one-shot level); "
                         "this ticket already has pruned weights")
    params = _projected(run, reference)
    total = sum(p.numel() for p in params)
    count = math.ceil(total * weight_fraction) if reference else round(total * weight_fraction)
    best: dict[str, Tensor] = {}

    @torch.no_grad()
    def project() -> None:
        magnitude = torch.cat([p.detach().abs().view(-1) for p in params])
        keep = torch.ones_like(magnitude, dtype=torch.bool)
        keep[torch.topk(magnitude, count, largest=False, sorted=False).indices] = False
        for p, k in zip(params, keep.split([p.numel() for p in params])):
            p.mul_(k.view_as(p))

    def snapshot() -> None:  # the best epoch's weights: their support is the ticket
        best.update({name: run.model.get_parameter(name).detach().clone() for name in run.masks.names})

    with run.extend(loss=loss, after_step=project, on_best=snapshot):
        result = train_with_values(run, edge_values)
    support = {name: weight != 0 for name, weight in best.items()}
    run.masks.set_hard(support if reference else _exact(support, best, count))
    return result


def _projected(run, reference: bool) -> list[Tensor]:
    if reference:
        return [p for p in run.model.parameters() if p.requires_grad]
    return [run.model.get_parameter(name) for name in run.masks.names]


def _exact(support: dict[str, Tensor], weights: dict[str, Tensor], count: int) -> dict[str, Tensor]:
    """The support, with exactly ``count`` entries pruned (a weight that is exactly zero after a
    step could shift the count), ranked by the same epoch's ``weights``."""
    names = list(support)
    flat = torch.cat([support[n].view(-1) for n in names])
    if int((~flat).sum()) == count:
        return support
    magnitude = torch.cat([weights[n].abs().view(-1) for n in names])
    magnitude = torch.where(flat, magnitude + magnitude.max() + 1.0, magnitude)  # the support first, then by size
    keep = torch.ones_like(flat)
    keep[torch.topk(magnitude, count, largest=False, sorted=False).indices] = False
    return {n: k.view_as(support[n]) for n, k in zip(names, keep.split([support[n].numel() for n in names]))}
