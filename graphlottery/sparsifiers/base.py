"""What a graph sparsifier is, apart from when it prunes and how training runs.

A :class:`Sparsifier` (the method) says *what* to keep: given a training run and the fractions of
the remaining edges and weights to remove, :meth:`Sparsifier.select` returns a score per edge unit
and per weight (the lowest go), and :meth:`Sparsifier.train` trains the pruned model (default:
rewind and retrain). A schedule says *when*: ``imp`` prunes level after level from the previous
ticket (with rewinding), ``one_shot`` prunes each level from the dense model. The trainer
(:class:`~graphlottery.lottery.UGS`, :class:`~graphlottery.lottery.MiniBatchUGS`,
:class:`~graphlottery.lottery.DistributedUGS`) says *how* an epoch runs; a method changes training
only through :meth:`~graphlottery.lottery.UGS.extend` (extra loss terms, mask transforms, calls
after each step), so every method runs on every trainer that supports what it adds.

Levels are the sparsities ``1 - (1 - p)^k`` of IMP with per-level fraction ``p``
(:func:`level_targets`), so iterative and one-shot methods are compared at the same points.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from graphlottery.lottery import pieces
from graphlottery.masks.prune import check_fraction, sparsity

SCHEDULES = ("imp", "one_shot")
TASKS = ("node", "link", "graph")


@dataclass
class Selection:
    """What a method keeps: a score per edge unit (``[num_units]``; ``None``: the graph is left as
    it is) and per masked weight (one tensor per mask; ``None``: weights left), the lowest pruned;
    ``layerwise``: prune the same fraction of every weight tensor instead of globally;
    ``edge_values``: a value per unit the kept edges carry while training (reweighting);
    ``drop``: units to prune as well, beyond the level's count (``[num_units]`` bool)."""

    edge_scores: Tensor | None = None
    weight_scores: list[Tensor] | None = None
    layerwise: bool = False
    edge_values: Tensor | None = None
    drop: Tensor | None = None


@dataclass
class Options:
    """A method's hyper-parameters (subclasses add fields with defaults). Where this library's
    default differs from the original code, a ``reference`` field follows the original."""

    def check(self) -> None:
        """Raise ``ValueError`` naming a key whose value cannot be used (:func:`require`)."""


def require(ok: bool, method: str, key: str, rule: str, value: Any) -> None:
    """Unless ``ok``, raise the one error for an unusable option:
    ``option 'key' of method 'method' must be <rule>, got <value>``."""
    if not ok:
        raise ValueError(f"option {key!r} of method {method!r} must be {rule}, got {value!r}")


class Sparsifier:
    """A graph / weight sparsification method: scores what to prune and trains what is left.

    Subclasses set ``name``, the ``schedules`` they support, what they ``prune`` (``"graph"``,
    ``"weights"``) and an :class:`Options` dataclass of their hyper-parameters.
    """

    name: ClassVar[str]
    schedules: ClassVar[tuple[str, ...]] = SCHEDULES
    prunes: ClassVar[tuple[str, ...]] = ("graph", "weights")
    needs_dense: ClassVar[bool] = False  # reads the dense model's output (distillation, predictions)
    searches_masks: ClassVar[bool] = False  # trains soft masks (UGS's search and its keys s1, s2, mask_epochs, ...)
    full_batch_only: ClassVar[bool] = True  # needs the whole graph's output or one mask view per phase
    tasks: ClassVar[tuple[str, ...]] = ("node",)  # e.g. its criterion reads class outputs per node
    Options: ClassVar[type] = Options

    def __init__(self, **options: Any):
        fields = {f.name for f in dataclasses.fields(self.Options)}
        unknown = sorted(set(options) - fields)
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} of method {self.name!r}; its options: {sorted(fields)}")
        self.options = self.Options(**options)
        for f in dataclasses.fields(self.options):
            value, kind = getattr(self.options, f.name), type(f.default)
            if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"option {f.name!r} of method {self.name!r} must be an integer, got {value!r}")
            if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError(f"option {f.name!r} of method {self.name!r} must be a number, got {value!r}")
            if kind is str and not isinstance(value, str):
                raise ValueError(f"option {f.name!r} of method {self.name!r} must be a string, got {value!r}")
            if kind is bool and not isinstance(value, bool):
                raise ValueError(f"option {f.name!r} of method {self.name!r} must be true or false, got {value!r}")
        self.options.check()
        self.dense_output: Tensor | None = None

    def __repr__(self) -> str:
        changed = {f.name: getattr(self.options, f.name) for f in dataclasses.fields(self.options)
                   if getattr(self.options, f.name) != f.default}
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in changed.items())})"

    def check(self, schedule: str, graph: bool, weights: bool, dense_output: Tensor | None = None,
              task: str = "node", full_batch: bool = True, edge_scorer: bool = False) -> None:
        """Refuse, before training, a schedule this method does not run, a dimension it cannot prune,
        a task or trainer its criterion does not fit, or a missing dense output it reads."""
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {schedule!r}; schedules: {list(SCHEDULES)}")
        if schedule not in self.schedules:
            raise ValueError(f"method {self.name!r} runs on the schedule(s) {list(self.schedules)}, not {schedule!r}")
        for wanted, what in ((graph, "graph"), (weights, "weights")):
            if wanted and what not in self.prunes:
                raise ValueError(f"method {self.name!r} prunes only the {' and '.join(self.prunes)}; set its "
                                 f"{'prune_graph' if what == 'graph' else 'prune_weight'} to 0")
        if task not in self.tasks:
            raise ValueError(f"method {self.name!r} runs on the task(s) {list(self.tasks)}, not {task!r} (see "
                             "its class docstring for why)")
        if not full_batch and self.full_batch_only:
            raise ValueError(f"method {self.name!r} needs the whole graph's output at every step: it runs "
                             "full-batch (remove batch_size / num_parts)")
        if edge_scorer and self.name != "ugs":
            raise ValueError(f"graph_mask: inductive (a learnt edge scorer) is UGS's; method {self.name!r} "
                             "scores edges its own way: use graph_mask: free")
        if self.needs_dense and dense_output is None:
            raise ValueError(f"method {self.name!r} reads the dense model's output: train the dense level "
                             "first and pass its output (run.best_output) to setup()")

    def setup(self, run: Any, dense_output: Tensor | None = None) -> None:
        """Once per run, after the dense level: ``dense_output`` is the dense model's output at its
        best-validation epoch (``run.best_output``)."""
        self.dense_output = dense_output

    def select(self, run: Any, graph_fraction: float, weight_fraction: float) -> Selection:
        """Scores for pruning ``graph_fraction`` of the remaining edge units and ``weight_fraction``
        of the remaining weights of ``run``'s ticket."""
        raise NotImplementedError

    def train(self, run: Any, selection: Selection, weight_fraction: float) -> dict[str, float]:
        """Train the pruned ticket; return ``{"val", "test", "epoch"}`` at the best-validation epoch."""
        return train_with_values(run, selection.edge_values)


def train_with_values(run: Any, edge_values: Tensor | None) -> dict[str, float]:
    """``run.retrain()``, with the kept edges carrying ``edge_values`` (per unit) if given."""
    if edge_values is None:
        return run.retrain()
    run.graph.score = torch.nn.Parameter(edge_values.to(run.graph.keep.device).float(), requires_grad=False)
    try:
        return run.retrain()
    finally:
        run.graph.make_hard()


def level_targets(levels: int, prune_graph: float, prune_weight: float) -> list[tuple[float, float]]:
    """``(graph, weight)`` sparsity of levels 1..``levels``: ``1 - (1 - p)^k``."""
    check_fraction(prune_graph, "prune_graph")
    check_fraction(prune_weight, "prune_weight")
    return [(1 - (1 - prune_graph) ** k, 1 - (1 - prune_weight) ** k) for k in range(1, levels + 1)]


def _fraction(target: float, current: float) -> float:
    """The fraction of what remains at sparsity ``current`` to prune to reach ``target``."""
    if target <= current:
        return 0.0
    return min(1.0 - (1.0 - target) / (1.0 - current), 1.0)


def _reset(run: Any) -> None:
    run.graph.set_keep(torch.ones_like(run.graph.keep))
    run.masks.set_hard({name: torch.ones_like(mask) for name, mask in run.masks.items()})


def task_kind(task: Any) -> str:
    """``"node"``, ``"link"`` or ``"graph"``: what a trainer's task predicts."""
    from graphlottery.tasks import GraphClassification, LinkPrediction

    return "link" if isinstance(task, LinkPrediction) else "graph" if isinstance(task, GraphClassification) else "node"


def sparsify(run: Any, method: Sparsifier, schedule: str, targets: Sequence[tuple[float, float]],
             start: int = 0) -> Iterator[dict[str, Any]]:
    """Prune ``run``'s ticket to each ``(graph, weight)`` sparsity of ``targets`` in turn (from
    index ``start``; ``imp``: from the previous level's ticket, ``one_shot``: from the dense one),
    train it, and yield the level's record (:meth:`~graphlottery.lottery.UGS.record`). Call
    ``method.setup`` first. Every level reseeds from ``(seed, level)``, so a resumed run continues
    as an uninterrupted one."""
    graph = any(g > 0 for g, _ in targets)
    weights = any(w > 0 for _, w in targets)
    method.check(schedule, graph, weights, method.dense_output, task_kind(run.task), run.full_batch_features,
                 run.edge_scorer is not None)
    for g, w in targets:
        check_fraction(g, "a target graph sparsity")
        check_fraction(w, "a target weight sparsity")
    for level in range(start, len(targets)):
        run.round = level + 1
        started = time.perf_counter()
        if schedule == "one_shot":
            _reset(run)
        target_g, target_w = targets[level]
        graph_fraction = _fraction(target_g, run.graph.sparsity)
        weight_fraction = _fraction(target_w, sparsity([m for _, m in run.masks.items()]))
        selection = method.select(run, graph_fraction, weight_fraction)
        if selection.edge_scores is not None and graph_fraction > 0:
            pieces.prune_graph(run.graph, graph_fraction, selection.edge_scores.detach(), run.unit_groups)
        if selection.drop is not None:
            run.graph.set_keep(run.graph.keep & ~selection.drop.to(run.graph.keep.device))
        if selection.weight_scores is not None and weight_fraction > 0:
            pieces.prune_weights(run.masks, weight_fraction, [s.detach() for s in selection.weight_scores],
                                 selection.layerwise)
        run.graph.make_hard()
        run.masks.make_hard()
        result = method.train(run, selection, weight_fraction)
        record = run.record(result, time.perf_counter() - started)
        record["method"] = repr(method)
        yield record
