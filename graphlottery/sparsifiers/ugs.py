"""UGS and random pruning as sparsifiers."""
from __future__ import annotations

import torch

from graphlottery.lottery.ugs import derived_seed
from graphlottery.masks import random_scores
from graphlottery.sparsifiers.base import TASKS, Selection, Sparsifier


class UGSSparsifier(Sparsifier):
    """Unified GNN Sparsification (Chen et al., ICML 2021): train soft edge and weight masks with
    the task loss and L1 sub-gradients from the rewind point, prune the lowest ``|score|``, rewind
    and retrain. Its hyper-parameters (``s1``, ``s2``, ``mask_epochs``, ``l1``, ...) are the
    trainer's (:class:`~graphlottery.lottery.UGS`); ``reference`` there too."""

    name = "ugs"
    searches_masks = True
    full_batch_only = False
    tasks = TASKS

    def select(self, run, graph_fraction: float, weight_fraction: float) -> Selection:
        edge_scores, weight_scores = run.search_masks()
        return Selection(edge_scores, weight_scores)


class RandomSparsifier(Sparsifier):
    """Random pruning: uniform scores for the edge units (exact count, global) and for the
    weights (the same fraction of every layer), drawn from ``(seed, level)``."""

    name = "random"
    schedules = ("one_shot", "imp")  # one_shot first: each level an independent draw from the dense model
    full_batch_only = False
    tasks = TASKS

    def select(self, run, graph_fraction: float, weight_fraction: float) -> Selection:
        generator = torch.Generator().manual_seed(derived_seed(run.seed, run.round, 7))  # not random_baseline's
        edge = random_scores([torch.ones_like(run.graph.keep)], generator)[0]
        weights = random_scores([torch.ones_like(m) for _, m in run.masks.items()], generator)
        return Selection(edge, weights, layerwise=True)
