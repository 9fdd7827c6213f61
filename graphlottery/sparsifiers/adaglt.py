"""AdaGLT (Zhang, Wang, ..., Liang, ICLR 2024, "Graph Lottery Ticket Automated"): an edge
explainer and learnable thresholds, binarised with a straight-through estimator, prune and restore
edges and weights during one training run (no IMP)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from graphlottery.lottery import pieces
from graphlottery.lottery.ugs import derived_seed
from graphlottery.masks.scorer import unit_endpoints
from graphlottery.sparse import csr_linear, mask_to_float
from graphlottery.sparsifiers.base import Options, Selection, Sparsifier, require, train_with_values


def straight_through(margin: Tensor, tau: float) -> Tensor:
    """The hard mask :math:`\\mathbb{1}[margin > 0]` in the forward, the gradient of
    :math:`\\sigma(margin / \\tau)` in the backward, so entries below their threshold still get a
    gradient and can come back. Same shape as ``margin``."""
    soft = torch.sigmoid(margin / tau)
    return (margin > 0).to(soft.dtype) + (soft - soft.detach())


class EdgeExplainer(nn.Module):
    """AdaGLT's edge explainer, symmetric in the endpoints: with ``h = x W + b`` (``[N, hidden]``),

    .. math:: s(u, v) = \\sigma\\big(\\mathrm{MLP}([h_u \\odot h_v \\,\\|\\, |h_u - h_v|])\\big) \\in (0, 1),

    an MLP ``2 hidden -> hidden -> 1``. ``x`` may be sparse CSR. O(N hidden + P hidden^2) for P pairs."""

    def __init__(self, in_features: int, hidden: int):
        super().__init__()
        self.project = nn.Linear(in_features, hidden)
        self.mlp = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def embed(self, x: Tensor) -> Tensor:
        """``h``, ``[N, hidden]``."""
        if x.layout == torch.sparse_csr:
            return csr_linear(x, self.project.weight) + self.project.bias
        return self.project(x.float())

    def forward(self, x: Tensor, pairs: Tensor) -> Tensor:
        """Scores of the node pairs ``pairs`` (``[2, P]``), ``[P]``."""
        h = self.embed(x)
        h_u, h_v = h[pairs[0]], h[pairs[1]]
        return torch.sigmoid(self.mlp(torch.cat([h_u * h_v, (h_u - h_v).abs()], -1))).squeeze(-1)


@dataclass
class AdaGLTOptions(Options):
    """``hidden``: width of the edge explainer (the original's 2048 is too slow for CPU training);
    ``tau``: temperature of the straight-through gradient (edges: on scores in (0, 1); weights: on
    magnitudes relative to their layer's mean); ``init_threshold``: the nodes' initial edge
    threshold, in (0, 1) (at or above every score would prune every edge, at or below 0 none);
    ``sparsity_weight``: weight of the penalty pulling the soft pruned fractions to the level's
    targets; ``lr``: Adam's step for the explainer and the thresholds. ``reference``: retrain the
    ticket from a fresh initialisation instead of the rewind point, as the original code does."""

    hidden: int = 64
    tau: float = 0.1
    init_threshold: float = 0.2
    sparsity_weight: float = 1.0
    lr: float = 0.01
    reference: bool = False

    def check(self) -> None:
        require(self.hidden >= 1, "adaglt", "hidden", ">= 1", self.hidden)
        for name in ("tau", "lr"):
            require(getattr(self, name) > 0, "adaglt", name, "> 0", getattr(self, name))
        require(0 < self.init_threshold < 1, "adaglt", "init_threshold", "in (0, 1) (scores are in (0, 1): at or "
                "above 1 every edge is pruned, at or below 0 none)", self.init_threshold)
        require(self.sparsity_weight >= 0, "adaglt", "sparsity_weight", ">= 0", self.sparsity_weight)


class AdaGLTState:
    """One level's explainer and thresholds, trained by their own Adam, and the hooks through which
    they act on a run's training (:meth:`~graphlottery.lottery.UGS.extend`).

    Edges (if ``graph_target`` > 0): per unit ``e = (u, v)`` the margin
    :math:`\\mu_e = s(u, v) - \\bar\\theta_e`, with one learnable threshold per node and
    :math:`\\bar\\theta_e = (\\theta_u + \\theta_v) / 2` (``directed`` graphs: :math:`\\theta_v`, the
    receiving node), so both directions of an undirected edge agree. Weights (if ``weight_target``
    > 0): per masked tensor ``l`` the margin :math:`|w| / \\bar{|w_l|} - t_l` (:math:`\\bar{|w_l|}`:
    the mean magnitude at the rewind point, a constant), one threshold per tensor, starting at 0.
    The model sees ``straight_through(margin, tau)`` times the trainer's soft masks, which
    :meth:`step` holds at their hard values (1), and :meth:`penalty` adds
    ``sparsity_weight * sum (soft pruned fraction - target)^2`` with the soft pruned fraction
    :math:`\\mathrm{mean}\\,\\sigma(-\\mu / \\tau)` over the units (over all masked weights).
    ``margin``: the edge margins of the last training forward (``[num_units]``, detached)."""

    def __init__(self, run: Any, options: AdaGLTOptions, graph_target: float, weight_target: float):
        self.run, self.options = run, options
        self.graph_target, self.weight_target = graph_target, weight_target
        self.soft: dict[str, Tensor] = {}
        self.margin: Tensor | None = None
        graph, device = run.graph, run.graph.keep.device
        params: list[Tensor] = []
        self.explainer: EdgeExplainer | None = None
        if graph_target > 0 and graph.num_units:
            self.pairs = unit_endpoints(graph.data.edge_index.to(device), graph.edge_unit, graph.num_units)
            self.explainer = EdgeExplainer(run.x.size(1), options.hidden).to(device)
            self.node_threshold = nn.Parameter(torch.full((graph.num_nodes,), options.init_threshold, device=device))
            params += [*self.explainer.parameters(), self.node_threshold]
        self.names = list(run.masks.names) if weight_target > 0 else []
        if self.names:
            self.scale = {n: run.rewind_state[n].float().abs().mean().clamp_min(1e-12) for n in self.names}
            self.index = {n: i for i, n in enumerate(self.names)}
            self.layer_threshold = nn.Parameter(torch.zeros(len(self.names), device=device))
            self.total = sum(run.masks.hard(n).numel() for n in self.names)
            params.append(self.layer_threshold)
        self.optimizer = torch.optim.Adam(params, lr=options.lr) if params else None

    def edge_margin(self) -> Tensor:
        """:math:`\\mu_e` per unit, ``[num_units]``."""
        src, dst = self.pairs
        threshold = self.node_threshold[dst] if self.run.graph.directed else \
            0.5 * (self.node_threshold[src] + self.node_threshold[dst])
        return self.explainer(self.run.x, self.pairs) - threshold

    def weight_margin(self, name: str, weight: Tensor) -> Tensor:
        """:math:`|w| / \\bar{|w_l|} - t_l`, shaped like ``weight``."""
        return weight.abs() / self.scale[name] - self.layer_threshold[self.index[name]]

    def edges(self, values: Tensor, units: Tensor) -> Tensor:
        """The edge transform: ``values`` (``[E']``, of units ``units``) times the straight-through
        mask of their unit (self-loops, unit ``num_units``: 1)."""
        margin = self.edge_margin()
        self.margin = margin.detach()
        self.soft["graph"] = torch.sigmoid(-margin / self.options.tau).mean()
        mask = straight_through(margin, self.options.tau)
        return values * torch.cat([mask, mask.new_ones(1)])[units].to(values.dtype)

    def weights(self, name: str, weight: Tensor, mask: Tensor) -> Tensor:
        """The weight transform: ``mask`` times the straight-through mask of ``weight``."""
        margin = self.weight_margin(name, weight.float())
        self.soft[name] = torch.sigmoid(-margin / self.options.tau).sum()
        return mask * straight_through(margin, self.options.tau).to(mask.dtype)

    def penalty(self, out: Tensor) -> Tensor:
        """``sparsity_weight`` times the squared gaps between the soft pruned fractions of this
        step's forward and the targets."""
        gap = out.new_zeros((), dtype=torch.float)
        if "graph" in self.soft:
            gap = gap + (self.soft["graph"] - self.graph_target) ** 2
        seen = [self.soft[n] for n in self.names if n in self.soft]
        if seen:
            gap = gap + (torch.stack(seen).sum() / self.total - self.weight_target) ** 2
        return self.options.sparsity_weight * gap

    def step(self) -> None:
        """After the trainer's step: step the explainer and thresholds, and hold the trainer's soft
        masks at their hard values so the model sees the straight-through masks only."""
        if self.optimizer is not None:
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        self.soft.clear()
        run = self.run
        with torch.no_grad():
            if run.graph.score is not None:
                run.graph.score.copy_(mask_to_float(run.graph.keep, run.graph.score.dtype))
            for name, score in zip(run.masks.names, run.masks.score_list()):
                score.copy_(mask_to_float(run.masks.hard(name), score.dtype))

    @torch.no_grad()
    def scores(self) -> tuple[Tensor | None, list[Tensor] | None]:
        """The margins now (the model's current weights), the lowest pruned first: per unit
        (``None`` without an explainer) and per masked weight (``None`` without weight target),
        shifted to be >= 0 (the library prunes the lowest ``|score|``; margins can be negative),
        the weights by one global shift since they are ranked together."""
        edge = self.edge_margin() if self.explainer is not None else None
        if edge is not None and edge.numel():
            edge = edge - edge.min()
        if not self.names:
            return edge, None
        weights = [self.weight_margin(n, self.run.model.get_parameter(n).float()) for n in self.names]
        low = min(float(w.min()) for w in weights if w.numel())
        return edge, [w - low for w in weights]


class AdaGLTSparsifier(Sparsifier):
    """AdaGLT: from the rewind point, the model's weights, an :class:`EdgeExplainer` and learnable
    thresholds (per node for edges, per masked tensor for weights) train jointly for
    ``mask_epochs`` epochs on the dense graph and weights, which the model sees through hard
    masks :math:`\\mathbb{1}[margin > 0]` with straight-through gradients (:class:`AdaGLTState`),
    so edges and weights are pruned and restored during training. The level's ticket prunes the
    lowest final margins, exactly the level's target; it is then rewound and retrained. The
    trainer's ``s1``, ``s2``, ``mask_noise`` and ``early_bird`` are suspended during the search
    (its soft masks are held at 1), so a level costs ``mask_epochs + retrain_epochs`` epochs, as
    UGS's, each search step also running the explainer (O(N hidden + E hidden^2)).

    Differences from the original code (``bingreeky/AdaGLT``):

    * one edge mask shared by every layer (a ticket is one graph), with one threshold per node;
      the original has one threshold vector per layer, each layer's mask nested in the previous
      one's (nested masks sharing one threshold collapse to this one mask);
    * the threshold of an undirected edge is the mean of its endpoints' (directed graphs: the
      receiving node's), so both directions agree; the original thresholds each row of a dense
      adjacency;
    * the explainer scores a learnt ``hidden``-wide projection of the features with a symmetric
      MLP and a sigmoid; the original feeds ``[x_u || x_v]`` to a 2048-wide MLP and standardises
      the scores over the edges (a threshold transform ``coef (t^3 + 20 t)`` on top);
    * the model sees the hard mask alone; the original multiplies it by the explainer's
      standardised edge weights (``1 + O(0.01)``) and builds dense N x N adjacencies: all here is
      O(E);
    * one threshold per weight tensor on magnitudes relative to the tensor's mean magnitude at the
      rewind point, with a sigmoid straight-through gradient; the original has one per output row
      on raw magnitudes with a piecewise-linear gradient window;
    * sparsity: the original pushes thresholds up with ``e1 sum exp(-theta)`` and keeps the best
      validation epoch whose sparsity lies in a band around the target; here a squared penalty
      pulls the soft pruned fractions to the level's targets and the final margins are ranked, so
      every level is exact; the margins are those of the last epoch (the trainer validates
      without the transforms, on the dense model);
    * the original runs graph and weight sparsification in separate runs; here both at once, and
      on the one-shot schedule of this library's levels;
    * the ticket is rewound and retrained (``reference``: from a fresh initialisation, as the
      original, whose rewind line is commented out); no dense pre-training epochs.
    """

    name = "adaglt"
    schedules = ("one_shot",)
    searches_masks = True  # its training runs the trainer's search loop for mask_epochs (s1, s2 unused)
    Options = AdaGLTOptions

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.state: AdaGLTState | None = None

    def select(self, run, graph_fraction: float, weight_fraction: float) -> Selection:
        torch.manual_seed(derived_seed(run.seed, run.round, 11))  # the explainer's initialisation
        state = self.state = AdaGLTState(run, self.options, graph_fraction, weight_fraction)
        saved = run.s1, run.s2, run.mask_noise, run.early_bird
        run.s1 = run.s2 = run.mask_noise = 0.0
        run.early_bird = None  # the trainer's soft scores are held still: they would always agree
        try:
            with run.extend(loss=state.penalty if self.options.sparsity_weight > 0 else None,
                            transform=state.edges if state.explainer is not None else None,
                            weight_transform=state.weights if state.names else None,
                            after_step=state.step):
                run.search_masks()
        finally:
            run.s1, run.s2, run.mask_noise, run.early_bird = saved
        edge_scores, weight_scores = state.scores()
        return Selection(edge_scores, weight_scores)

    def train(self, run, selection: Selection, weight_fraction: float) -> dict[str, float]:
        if not self.options.reference:
            return train_with_values(run, selection.edge_values)
        torch.manual_seed(derived_seed(run.seed, run.round, 12))
        for module in run.model.modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
        rewind_state = run.rewind_state
        run.rewind_state = pieces.rewind_point(run.model)  # retrain starts from this fresh draw
        try:
            return train_with_values(run, selection.edge_values)
        finally:
            run.rewind_state = rewind_state
