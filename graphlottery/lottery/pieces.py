"""The steps of a graph lottery ticket search as functions for your own training loop.

In the spirit of ``torch.nn.utils.prune``: each acts on a
:class:`~graphlottery.graph.MaskedGraph`, a :class:`~graphlottery.masks.WeightMasks` or a model,
and owns no loop, optimiser or sampler. :class:`~graphlottery.lottery.UGS` is built from them.

A round of UGS in a plain loop::

    init = rewind_point(model)
    params = soft_masks(graph, masks)                    # trainable mask scores
    for batch in loader:                                 # your optimiser, loss, sampler, AMP...
        with edge_mask(model, graph, batch.e_id):
            loss = ...
        loss.backward()
        l1_step(graph, s1); l1_step(masks, s2)           # UGS's L1 sub-gradients
        optimizer.step(); optimizer.zero_grad()
    prune_graph(graph, 0.05); prune_weights(masks, 0.2)  # exact, global, lowest |score|
    rewind(model, init)                                  # then retrain with the hard masks
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from graphlottery.graph import MaskedGraph
from graphlottery.masks import WeightMasks, prune_lowest, prune_lowest_grouped, prune_lowest_layerwise


def soft_masks(graph: MaskedGraph | None, masks: WeightMasks | None, noise: float = 1e-5,
               generator: torch.Generator | None = None) -> list[Tensor]:
    """Start trainable scores at the hard masks times ``1 + U(-noise, noise)`` (pruned entries stay
    0) and return them, graph score first, for the optimiser."""
    scores = [] if graph is None else [graph.make_soft(noise, generator)]
    return scores + ([] if masks is None else masks.make_soft(noise, generator).score_list())


def _scores(target: MaskedGraph | WeightMasks | Tensor | Sequence[Tensor]) -> list[Tensor]:
    if isinstance(target, MaskedGraph):
        if target.score is None:
            raise ValueError("the graph mask is hard; call soft_masks() first")
        return [target.score]
    if isinstance(target, WeightMasks):
        if not target.is_soft:
            raise ValueError("the weight masks are hard; call soft_masks() first")
        return target.score_list()
    return [target] if isinstance(target, Tensor) else list(target)


@torch.no_grad()
def l1_step(target: MaskedGraph | WeightMasks | Tensor | Sequence[Tensor], strength: float,
            lr: float | None = None) -> None:
    """UGS's L1 term on soft mask scores, ``strength * sign(score)``.

    Coupled (``lr=None``, UGS): added to the scores' gradients; call it after ``backward()`` and
    before the optimiser's step, which then normalises it with the task gradient. Decoupled (``lr``
    given): the scores move by ``-lr * strength * sign(score)``; call it after the step.
    """
    scores = _scores(target)
    if lr is None:
        pairs = [(s.grad, s) for s in scores if s.grad is not None]
        alpha = strength
    else:
        pairs, alpha = [(s, s) for s in scores], -lr * strength
    if pairs:
        torch._foreach_add_([t for t, _ in pairs], torch._foreach_sign([s for _, s in pairs]), alpha=alpha)


def graph_keep(graph: MaskedGraph, fraction: float, scores: Tensor | None = None,
               groups: Tensor | None = None) -> Tensor:
    """The unit mask (``[num_units]`` bool) after pruning exactly ``round(fraction * remaining)``
    kept edges with the lowest ``|score|`` (default: the current soft scores); ``groups``: a group
    id per unit, to prune ``fraction`` of each group's remaining edges instead of globally. The
    graph is not changed."""
    scores = _scores(graph)[0] if scores is None else scores
    if groups is None:
        return prune_lowest([scores], [graph.keep], fraction)[0]
    return prune_lowest_grouped(scores, graph.keep, groups, fraction)


def prune_graph(graph: MaskedGraph, fraction: float, scores: Tensor | None = None,
                groups: Tensor | None = None) -> None:
    """Apply :func:`graph_keep` and make the graph mask hard."""
    keep = graph_keep(graph, fraction, scores, groups)
    graph.make_hard()
    graph.set_keep(keep)


def prune_weights(masks: WeightMasks, fraction: float, scores: Sequence[Tensor] | None = None,
                  layerwise: bool = False) -> None:
    """Prune exactly ``round(fraction * remaining)`` kept weights with the lowest ``|score|``
    (default: the current soft scores), globally across layers or ``layerwise``, and make the
    masks hard."""
    scores = _scores(masks) if scores is None else list(scores)
    rule = prune_lowest_layerwise if layerwise else prune_lowest
    keep = rule(scores, [m for _, m in masks.items()], fraction)
    masks.make_hard()
    masks.set_hard(dict(zip(masks.names, keep)))


def rewind_point(model: nn.Module) -> dict[str, Tensor]:
    """A copy of ``model``'s state to rewind to (e.g. the initialisation, or epoch k)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def rewind(model: nn.Module, state: dict[str, Tensor]) -> None:
    """Load the weights of a :func:`rewind_point` (masks are kept: they live outside the model)."""
    model.load_state_dict(state)
