"""FastGLT (Yue, Zhang, Yang and Cheng, AAAI 2025, "Fast Track to Winning Tickets"): one-shot UGS
pruning to the level's target, then a denoising phase that drops and regrows entries of the
ticket RigL-style, then rewind and retrain."""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from graphlottery.sparsifiers.base import Options, Selection, Sparsifier, require
from graphlottery.sparsifiers.degree import node_degree, per_unit, unit_edges


def swap(keep: Tensor, drop_score: Tensor, grow_score: Tensor, k: int) -> Tensor:
    """``keep`` (bool, flat) with its ``k`` kept entries of lowest ``drop_score`` pruned and its
    ``k`` pruned entries of highest ``grow_score`` kept: the count of kept entries is unchanged
    (``k`` is capped at the smaller side). Scores outside each side are ignored. O(n)."""
    k = min(k, int(keep.sum()), int((~keep).sum()))
    if k <= 0:
        return keep.clone()
    inf = torch.tensor(float("inf"), device=keep.device)
    drop = torch.where(keep, drop_score.float(), inf).topk(k, largest=False, sorted=False).indices
    grow = torch.where(keep, -inf, grow_score.float()).topk(k, sorted=False).indices
    out = keep.clone()
    out[drop] = False
    out[grow] = True
    return out


def flatten(tensors: Sequence[Tensor]) -> Tensor:
    """One flat tensor of ``tensors`` (e.g. every weight mask, for a global ranking)."""
    return torch.cat([t.reshape(-1) for t in tensors])


def weight_keep(run) -> Tensor:
    """The hard weight masks of ``run`` as one flat boolean tensor."""
    return flatten([m for _, m in run.masks.items()]).clone()


def set_weight_keep(run, flat: Tensor) -> None:
    """Set ``run``'s hard weight masks from one flat boolean tensor (:func:`weight_keep`'s order)."""
    masks = [m for _, m in run.masks.items()]
    parts = flat.split([m.numel() for m in masks])
    run.masks.set_hard({name: part.view_as(m) for name, part, m in zip(run.masks.names, parts, masks)})


def degree_prior(src: Tensor, dst: Tensor, unit: Tensor, keep: Tensor, num_nodes: int) -> Tensor:
    """FastGLT's regrowth prior per unit, ``[num_units]``: with ``d`` the degrees in the ticket
    (degree 0 counted as 1),

    .. math:: p(u, v) = d_u^{-1/2} d_u^{-1} \\cdot d_v^{-1/2} d_v^{-1} = (d_u d_v)^{-3/2},

    so edges between low-degree nodes come back first (symmetric: both directions of a unit agree)."""
    kept = keep[unit]
    deg = node_degree(src[kept], dst[kept], num_nodes).clamp_min(1.0)
    return per_unit((deg[src] * deg[dst]).pow(-1.5), unit, keep.numel())


@dataclass
class FastGLTOptions(Options):
    """``denoise_epochs``: epochs of the denoising phase (0: none, plain one-shot UGS then
    retraining); ``delta``: steps between two drop-and-regrow updates; ``stop``: the fraction of
    the denoising steps after which the ticket is frozen; ``regrow``: the fraction of the kept
    entries swapped at the first update, cosine-decayed; ``l1``: the L1 strength on the edge mask
    during denoising (the trainer's ``s1`` meanwhile). ``reference``: as the original code (see
    :class:`FastGLTSparsifier`)."""

    denoise_epochs: int = 100
    delta: int = 10
    stop: float = 0.75
    regrow: float = 0.1
    l1: float = 1e-4
    reference: bool = False

    def check(self) -> None:
        require(0.0 < self.regrow < 1.0, "fastglt", "regrow", "in (0, 1) (0 regrows nothing, 1 everything)",
                self.regrow)
        require(self.delta >= 1, "fastglt", "delta", ">= 1", self.delta)
        require(self.denoise_epochs >= 0, "fastglt", "denoise_epochs", ">= 0", self.denoise_epochs)
        require(0.0 < self.stop <= 1.0, "fastglt", "stop", "in (0, 1]", self.stop)
        require(self.l1 >= 0, "fastglt", "l1", ">= 0", self.l1)
        require(self.denoise_epochs == 0 or self.delta < self.end, "fastglt", "delta",
                f"below the last step that may update the ticket (stop * denoise_epochs = {self.end}, where the "
                "swapped share has decayed to 0), or denoising never drops or regrows anything", self.delta)

    @property
    def end(self) -> int:
        """The last denoising step that may update the ticket (full batch: one step per epoch)."""
        return math.floor(self.stop * self.denoise_epochs)


class _Denoiser:
    """The state of one denoising phase: the ticket (graph units and flat weights), the |gradient|
    accumulated on its pruned entries, and the step count; called after every optimiser step."""

    def __init__(self, run, options: FastGLTOptions, graph: Tensor, weights: Tensor):
        self.run, self.options = run, options
        self.graph, self.weights = graph, weights
        self.prune_graph, self.prune_weights = not bool(graph.all()), not bool(weights.all())
        self.graph_grad = torch.zeros(graph.shape, device=graph.device)
        self.weight_grad = torch.zeros(weights.shape, device=weights.device)
        self.edges = unit_edges(run)
        self.end = options.end
        sizes = [m.numel() for _, m in run.masks.items()]
        self.offsets = dict(zip(run.masks.names, zip(itertools.accumulate([0, *sizes[:-1]]), sizes)))
        self.step = 0

    def transform(self, values: Tensor, units: Tensor) -> Tensor:
        """The forward sees the ticket: pruned units carry 0, yet ``dL/dm`` reaches their score."""
        kept = torch.cat([self.graph, self.graph.new_ones(1)])[units]  # the last: self-loops
        return torch.where(kept, values, values - values.detach())

    def weight_transform(self, name: str, weight: Tensor, mask: Tensor) -> Tensor:
        """The same for a masked weight: pruned entries multiply by 0, ``dL/dm`` still reaches their score."""
        start, size = self.offsets[name]
        kept = self.weights[start:start + size].view_as(mask)
        return torch.where(kept, mask, mask - mask.detach())

    @torch.no_grad()
    def __call__(self) -> None:
        self.step += 1
        scores = self.run.masks.score_list()
        if self.prune_graph:
            self.graph_grad += self.run.graph.score.grad.abs()
        if self.prune_weights:
            self.weight_grad += flatten([s.grad.abs() for s in scores])
        if self.step % self.options.delta == 0 and self.step <= self.end:
            self._update(scores)
        self._hide(scores)

    def _fraction(self) -> float:
        """RigL's cosine decay, :math:`\\alpha_t = \\alpha (1 + \\cos(\\pi t / T)) / 2`."""
        return self.options.regrow * (1.0 + math.cos(math.pi * self.step / self.end)) / 2.0

    def _update(self, scores: list[Tensor]) -> None:
        """Drop the ``k = round(alpha_t * kept)`` kept entries of lowest ``|score|`` and regrow as
        many pruned ones by accumulated ``|grad|`` (edges: times :func:`degree_prior`), per dimension."""
        fraction, reference = self._fraction(), self.options.reference
        if self.prune_graph:
            score = self.run.graph.score
            prior = degree_prior(*self.edges, self.graph, self.run.graph.num_nodes)
            grow = self.graph_grad + prior if reference else self.graph_grad * prior
            new = swap(self.graph, score.abs(), grow, round(fraction * int(self.graph.sum())))
            start = score[self.graph].mean() if reference else score[self.graph].abs().mean()
            score[new & ~self.graph] = start
            self.graph = new
            self.graph_grad.zero_()
        if self.prune_weights:
            flat = flatten([s.detach() for s in scores])
            new = swap(self.weights, flat.abs(), self.weight_grad, round(fraction * int(self.weights.sum())))
            start = 0.0 if reference else float(flat[self.weights].abs().mean())
            flat[new & ~self.weights] = start
            for s, part in zip(scores, flat.split([s.numel() for s in scores])):
                s.copy_(part.view_as(s))
            self.weights = new
            self.weight_grad.zero_()

    def _hide(self, scores: list[Tensor]) -> None:
        """Zero the scores of pruned entries, so the next forward (and the validation pass, which
        sees no transform) runs on the ticket."""
        if self.prune_graph:
            self.run.graph.score.mul_(self.graph)
        if self.prune_weights:
            for s, part in zip(scores, self.weights.split([s.numel() for s in scores])):
                s.mul_(part.view_as(s))


class FastGLTSparsifier(Sparsifier):
    """FastGLT: prune to the level's target in one shot by UGS mask scores, then denoise the ticket.

    Denoising is a mask search of ``denoise_epochs`` (L1 ``l1`` on the edge mask) from the rewind
    point on the *whole* graph and all weights, the forward seeing only the ticket: pruned units
    carry the value 0 (a mask transform; the gradient still reaches their scores) and the scores of
    pruned weights are zeroed after every step (their gradient at 0 is
    :math:`\\partial L / \\partial (w m) \\cdot w`). Every ``delta`` steps up to ``stop`` of the
    phase, per pruned dimension, the :math:`k = \\mathrm{round}(\\alpha_t \\cdot kept)` kept entries
    with the lowest ``|score|`` are dropped and the ``k`` pruned entries with the largest
    ``|grad|`` accumulated since the last update regrown (edges: times :func:`degree_prior`;
    weights: globally over all masked tensors), with
    :math:`\\alpha_t = \\mathrm{regrow} (1 + \\cos(\\pi t / T)) / 2`. Regrown entries start at the
    mean ``|score|`` of the kept ones. The denoised ticket (same counts) is rewound and retrained.

    Differences from the original code (``yanweiyue/FastGLT``):

    * the original prunes weights per layer (uniform sparsity) and drops by the magnitude of the
      weights themselves; here weights are ranked globally by their mask scores, as UGS prunes them;
    * the original accumulates the gradient over the last ``accumulation_n`` steps before an
      update; here over all ``delta`` steps since the last one;
    * the original adds the degree prior to ``|grad|`` and starts regrown edges at the mean kept
      score and regrown weights at 0; ``reference`` does both, by default the prior multiplies and
      both start at the mean kept ``|score|``;
    * L1 during denoising: the original's only on the edge mask; by default the trainer's ``s2``
      stays on the weight masks, ``reference`` sets it to 0.

    Graph classification (per-graph pruning quotas) is not supported: a swap moves edges between
    graphs.
    """

    name = "fastglt"
    schedules = ("one_shot",)
    searches_masks = True
    tasks = ("node", "link")
    Options = FastGLTOptions

    def select(self, run, graph_fraction: float, weight_fraction: float) -> Selection:
        edge_scores, weight_scores = run.search_masks()
        return Selection(edge_scores, weight_scores)

    def train(self, run, selection: Selection, weight_fraction: float) -> dict[str, float]:
        if self.options.denoise_epochs > 0:
            graph, weights = self.denoise(run)
            run.graph.set_keep(graph)
            set_weight_keep(run, weights)
        return run.retrain()

    def denoise(self, run) -> tuple[Tensor, Tensor]:
        """The denoising phase on ``run``'s ticket; returns the denoised graph keep
        (``[num_units]``) and flat weight keep (:func:`weight_keep`'s order). The run's masks
        are left all ones."""
        o = self.options
        state = _Denoiser(run, o, run.graph.keep.clone(), weight_keep(run))
        run.graph.set_keep(torch.ones_like(run.graph.keep))
        set_weight_keep(run, torch.ones_like(state.weights))
        saved = run.mask_epochs, run.s1, run.s2, run.early_bird
        run.mask_epochs, run.s1, run.early_bird = o.denoise_epochs, o.l1, None  # an early bird would cut the schedule
        if o.reference:
            run.s2 = 0.0
        try:
            with run.extend(transform=state.transform if state.prune_graph else None, after_step=state,
                            weight_transform=state.weight_transform if state.prune_weights else None):
                run.search_masks()
        finally:
            run.mask_epochs, run.s1, run.s2, run.early_bird = saved
        return state.graph, state.weights
