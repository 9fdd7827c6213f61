"""WD-GLT (Hui, Yan, Ma and Ku, ICLR 2023, "Rethinking Graph Lottery Tickets: Graph Sparsity
Matters"): UGS plus a Wasserstein term over every node's prediction and a min-max mask step."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from graphlottery.sparsifiers.base import Options, Selection, Sparsifier, require
from graphlottery.sparsifiers.sinkhorn import sinkhorn_distance


@dataclass
class WDGLTOptions(Options):
    """``wd_weight``: weight of the Wasserstein term; ``sinkhorn_eps`` / ``sinkhorn_iters``: its
    entropic regularisation and iterations; ``points``: nodes drawn per side and class at each step
    (memory O(points^2); 0: every node, quadratic in N); ``adversarial``: radius of the min-max step
    on the edge mask (0: off). ``reference``: as the public PyG re-implementation (in TEDDY's code)
    runs it: every node, no L1 term on the graph mask, the graph mask clamped to [0, 1] after each
    step, no min-max step."""

    wd_weight: float = 0.1
    sinkhorn_eps: float = 0.05
    sinkhorn_iters: int = 10
    points: int = 128
    adversarial: float = 0.05
    reference: bool = False

    def check(self) -> None:
        for name in ("wd_weight", "adversarial", "points"):
            require(getattr(self, name) >= 0, "wdglt", name, ">= 0", getattr(self, name))
        require(self.sinkhorn_eps > 0, "wdglt", "sinkhorn_eps", "> 0", self.sinkhorn_eps)
        require(self.sinkhorn_iters >= 1, "wdglt", "sinkhorn_iters", ">= 1", self.sinkhorn_iters)


def class_separation(out: Tensor, points: int = 256, eps: float = 0.05, iters: int = 10) -> Tensor:
    """:math:`\\sum_c W(P_c, P_{\\neg c})`: for every predicted class ``c``, the Sinkhorn distance
    between the softmax outputs of the nodes predicted ``c`` and of the others. With ``points`` > 0
    each side is ``points`` nodes drawn with replacement at each call (all classes in one batched
    transport, memory O(C points^2)); with 0, every node (a loop over classes, memory O(N^2)). Any
    node's output can take part, so every edge gets a gradient over the steps, not only those near
    labelled nodes."""
    probs = torch.softmax(out.float(), dim=-1)
    inside = probs.argmax(-1)[None, :] == torch.arange(probs.size(-1), device=probs.device)[:, None]  # [C, N]
    counts = inside.sum(-1)
    classes = ((counts > 0) & (counts < probs.size(0))).nonzero().view(-1)  # classes with two sides
    if not classes.numel():
        return probs.new_zeros(())
    if points:
        sides = [torch.multinomial(side[classes].float(), points, replacement=True) for side in (inside, ~inside)]
        return sinkhorn_distance(probs[sides[0]], probs[sides[1]], eps, iters).sum()
    return sum(sinkhorn_distance(probs[inside[c]], probs[~inside[c]], eps, iters) for c in classes.tolist())


class WDGLTSparsifier(Sparsifier):
    """WD-GLT: a UGS mask search whose loss subtracts ``wd_weight`` times
    :func:`class_separation` (pushing apart the predicted classes' output distributions over all
    nodes), with a min-max step on the edge mask: each step's forward sees the mask moved by
    ``adversarial`` along the normalised gradient of the previous step (the direction that
    raised the loss most; per unit, both directions of an edge alike, self-loops unmoved), and the
    gradient taken there updates the unmoved mask."""

    name = "wdglt"
    searches_masks = True
    Options = WDGLTOptions

    def select(self, run, graph_fraction: float, weight_fraction: float) -> Selection:
        o = self.options
        points = 0 if o.reference else o.points
        radius = 0.0 if o.reference else o.adversarial
        previous: list[Tensor] = []

        def loss(out: Tensor) -> Tensor:
            return -o.wd_weight * class_separation(out, points, o.sinkhorn_eps, o.sinkhorn_iters)

        units_seen: list[Tensor] = []

        def remember(grad: Tensor) -> None:  # the ascent direction per unit, summed over its columns
            unit = grad.new_zeros(run.graph.num_units + 1).index_add_(0, units_seen[0], grad)
            unit[-1] = 0.0  # self-loops are not masks
            previous[:] = [unit / unit.norm().clamp_min(1e-12)]

        def perturb(values: Tensor, units: Tensor) -> Tensor:
            moved = values + radius * previous[0][units] if previous else values
            if moved.requires_grad:
                units_seen[:] = [units]
                moved.register_hook(remember)
            return moved

        def clamp() -> None:
            if run.graph.score is not None:
                run.graph.score.data.clamp_(0.0, 1.0)

        s1 = run.s1
        if o.reference:
            run.s1 = 0.0
        try:
            with run.extend(loss=loss if o.wd_weight > 0 else None, transform=perturb if radius > 0 else None,
                            after_step=clamp if o.reference else None):
                edge_scores, weight_scores = run.search_masks()
        finally:
            run.s1 = s1
        return Selection(edge_scores, weight_scores)
