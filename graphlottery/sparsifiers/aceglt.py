"""ACE-GLT (Wang et al., ECAI 2023, "Adversarial Erasing with Pruned Elements"): after each UGS
pruning round, short mask searches on the ticket and on its complement swap a few kept entries
for pruned ones that proved useful, before rewinding and retraining."""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from graphlottery.sparsifiers.base import Options, Selection, Sparsifier, require
from graphlottery.sparsifiers.fastglt import flatten, set_weight_keep, swap, weight_keep


@dataclass
class ACEGLTOptions(Options):
    """``rounds``: erasing rounds (each one swap); ``erase_epochs``: epochs of each short mask
    search (the trainer's ``mask_epochs`` meanwhile); ``recover``: the swapped share of the pruned
    entries per unit of sparsity, :math:`K = \\mathrm{round}(\\mathrm{recover} \\cdot s \\cdot
    n_{pruned})` (the original's 0.002); ``graph``: refine the graph too, not only the weights.
    ``reference``: as the original GCN code (see :class:`ACEGLTSparsifier`)."""

    rounds: int = 6
    erase_epochs: int = 20
    recover: float = 0.002
    graph: bool = True
    reference: bool = False

    def check(self) -> None:
        require(0.0 < self.recover < 1.0, "aceglt", "recover", "in (0, 1)", self.recover)
        for name in ("rounds", "erase_epochs"):
            require(getattr(self, name) >= 1, "aceglt", name, ">= 1", getattr(self, name))


def _count(keep: Tensor, recover: float) -> int:
    """:math:`K = \\mathrm{round}(\\mathrm{recover} \\cdot s \\cdot n_{pruned})` for a ticket of sparsity ``s``."""
    pruned = int((~keep).sum())
    return round(recover * pruned / keep.numel() * pruned)


class ACEGLTSparsifier(Sparsifier):
    """ACE-GLT: UGS scores select the ticket; then ``rounds`` erasing rounds refine it. A round
    runs two short mask searches (``erase_epochs``, from the rewind point, soft masks and L1):
    "origin" on the ticket and "adversarial" on its complement (the pruned entries only; a
    dimension not refined keeps the ticket there). The ``K`` pruned entries with the largest
    adversarial ``|score|`` are revived and the ``K`` kept ones with the lowest origin ``|score|``
    dropped (each ranked within its own model's entries; counts exact), separately for the graph
    and, globally, for the weights; a dimension with nothing pruned (or, for the graph, nothing
    kept) is left as it is. Every ticket, the unrefined one included, is judged by the best
    validation score of its own origin search; the best is rewound and retrained.

    Differences from the original code (``Wangyuwen0627/ACE-GLT``, GCN):

    * the original refines the weights only; ``graph`` (default on) refines the graph alike;
    * the original keeps the *refinement* of the ticket whose origin search validated best (the
      refined ticket itself is never validated) and runs no origin search after the last round;
      ``reference`` does that and leaves the graph as UGS pruned it;
    * ``K`` uses each dimension's own sparsity; the original uses the weight sparsity;
    * the original's re-try of a round whose revived weights resemble the previous round's
      (cosine similarity > 0.6, with a smaller recover rate) is left out.

    With the original's ``recover`` the swap is small: on Cora (5,278 edges, GCN-512) at the first
    levels ``K`` is 0 for the graph and about 60 of 150k pruned weights.
    """

    name = "aceglt"
    schedules = ("imp",)
    searches_masks = True
    tasks = ("node", "link")  # graph classification prunes per graph; a swap would move edges between graphs
    Options = ACEGLTOptions

    def select(self, run, graph_fraction: float, weight_fraction: float) -> Selection:
        edge_scores, weight_scores = run.search_masks()
        return Selection(edge_scores, weight_scores)

    def train(self, run, selection: Selection, weight_fraction: float) -> dict[str, float]:
        o = self.options
        graph, weights = run.graph.keep.clone(), weight_keep(run)
        if not any(self.refines(graph, weights)):
            return run.retrain()
        saved = run.mask_epochs, run.early_bird
        run.mask_epochs, run.early_bird = o.erase_epochs, None
        try:
            best = (-1.0, graph, weights)
            for _ in range(o.rounds):
                val, refined_graph, refined_weights = self.erase(run, graph, weights)
                if val > best[0]:
                    best = (val, refined_graph, refined_weights) if o.reference else (val, graph, weights)
                graph, weights = refined_graph, refined_weights
            if not o.reference:
                val, _ = self.validate(run, graph, weights)
                if val > best[0]:
                    best = (val, graph, weights)
        finally:
            run.mask_epochs, run.early_bird = saved
        run.graph.set_keep(best[1])
        set_weight_keep(run, best[2])
        return run.retrain()

    def refines(self, graph: Tensor, weights: Tensor) -> tuple[bool, bool]:
        """Whether the graph and the weights of this ticket are refined: something pruned and
        something kept (and, for the graph, ``graph`` on and ``reference`` off)."""
        o = self.options
        graph_on = o.graph and not o.reference and not bool(graph.all()) and bool(graph.any())
        return graph_on, not bool(weights.all()) and bool(weights.any())

    def validate(self, run, graph: Tensor, weights: Tensor) -> tuple[float, list[Tensor]]:
        """A short mask search on this ticket: its best validation score and the scores
        (edge units, then the flat weights)."""
        run.graph.set_keep(graph)
        set_weight_keep(run, weights)
        run.search_result = {}
        edge_scores, weight_scores = run.search_masks()
        if "val" not in run.search_result:
            raise ValueError("ACE-GLT: no epoch of an erasing search gave a validation score (NaN outputs?)")
        return run.search_result["val"], [edge_scores, flatten(weight_scores)]

    def erase(self, run, graph: Tensor, weights: Tensor) -> tuple[float, Tensor, Tensor]:
        """One erasing round on the ticket (graph keep ``[num_units]``, flat weight keep): the
        origin search's best validation score and the swapped ticket."""
        graph_on, weights_on = self.refines(graph, weights)
        val, (origin_graph, origin_weights) = self.validate(run, graph, weights)
        if not (graph_on or weights_on):
            return val, graph, weights
        _, (adv_graph, adv_weights) = self.validate(run, ~graph if graph_on else graph,
                                                    ~weights if weights_on else weights)
        recover = self.options.recover
        if graph_on:
            graph = swap(graph, origin_graph.abs(), adv_graph.abs(), _count(graph, recover))
        if weights_on:
            weights = swap(weights, origin_weights.abs(), adv_weights.abs(), _count(weights, recover))
        return val, graph, weights

