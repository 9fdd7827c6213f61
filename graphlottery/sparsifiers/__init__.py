"""Graph sparsifiers on one interface: the method (:class:`Sparsifier`) apart from the schedule
(``imp``, ``one_shot``) and the trainer (:class:`~graphlottery.lottery.UGS` and its mini-batch and
distributed forms). :func:`make_sparsifier` builds one by name; :func:`sparsify` runs a schedule."""
from __future__ import annotations

from typing import Any

from graphlottery.sparsifiers.aceglt import ACEGLTSparsifier
from graphlottery.sparsifiers.adaglt import AdaGLTSparsifier
from graphlottery.sparsifiers.agreement import AgreementSparsifier, agreement_scores
from graphlottery.sparsifiers.base import SCHEDULES, Options, Selection, Sparsifier, level_targets, sparsify
from graphlottery.sparsifiers.dspar import DSparSparsifier
from graphlottery.sparsifiers.fastglt import FastGLTSparsifier
from graphlottery.sparsifiers.sinkhorn import sinkhorn_distance
from graphlottery.sparsifiers.teddy import TeddySparsifier, teddy_scores
from graphlottery.sparsifiers.ugs import RandomSparsifier, UGSSparsifier
from graphlottery.sparsifiers.wdglt import WDGLTSparsifier, class_separation

SPARSIFIERS: dict[str, type[Sparsifier]] = {
    cls.name: cls for cls in (UGSSparsifier, RandomSparsifier, TeddySparsifier, WDGLTSparsifier, DSparSparsifier,
                              AgreementSparsifier, AdaGLTSparsifier, FastGLTSparsifier,
                              ACEGLTSparsifier)
}


def make_sparsifier(name: str, options: dict[str, Any] | None = None) -> Sparsifier:
    """The method ``name`` (see ``SPARSIFIERS``) with ``options`` (its ``Options`` keys)."""
    if name not in SPARSIFIERS:
        raise ValueError(f"unknown method {name!r}; methods: {sorted(SPARSIFIERS)}")
    return SPARSIFIERS[name](**(options or {}))


def check_method(name: str, options: dict[str, Any] | None, schedule: str, graph: bool, weights: bool,
                 task: str = "node", full_batch: bool = True, edge_scorer: bool = False) -> None:
    """Raise ``ValueError`` before anything trains for an unknown method, option or schedule, a
    dimension the method cannot prune, or a task or trainer (mini-batch, an inductive edge scorer)
    its criterion does not fit (the dense output it may read comes later, from the run)."""
    method = make_sparsifier(name, options)
    method.check(schedule, graph, weights, dense_output=0 if method.needs_dense else None, task=task,
                 full_batch=full_batch, edge_scorer=edge_scorer)


__all__ = ["SCHEDULES", "SPARSIFIERS", "ACEGLTSparsifier", "AdaGLTSparsifier", "AgreementSparsifier", "DSparSparsifier",
           "FastGLTSparsifier", "Options", "RandomSparsifier",
           "Selection", "Sparsifier", "TeddySparsifier", "UGSSparsifier", "WDGLTSparsifier", "agreement_scores",
           "check_method", "class_separation", "level_targets", "make_sparsifier", "sinkhorn_distance", "sparsify",
           "teddy_scores"]
