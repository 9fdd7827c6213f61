"""Node dropping (GraphCL): every graph loses a ``ratio`` of its nodes, with their edges."""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from graphlottery.contrastive.augment.sampling import (
    bernoulli,
    check_generator,
    check_ratio,
    num_to_remove,
    randint_below,
    sample_exact,
)
from graphlottery.contrastive.augment.view import Graphs, graphs_of, make_view


def drop_node_mask(data: Data, ratio: float = 0.2, exact: bool = True,
                   generator: torch.Generator | None = None) -> Tensor:
    """Boolean ``[N]``, ``True`` for the nodes that survive node dropping.

    With ``exact=True`` graph ``g`` (``n_g`` nodes) loses exactly ``min(int(ratio * n_g), n_g - 1)``
    nodes drawn uniformly; with ``exact=False`` every node is dropped with probability ``ratio``.
    Either way every graph keeps at least one node.
    """
    return _drop_node_mask(graphs_of(data), check_ratio(ratio), exact, check_generator(generator))


def _drop_node_mask(graphs: Graphs, ratio: float, exact: bool, generator: torch.Generator | None) -> Tensor:
    if exact:
        drop = torch.minimum(num_to_remove(graphs.counts, ratio), graphs.counts - 1)
        return ~sample_exact(graphs.batch, drop, generator)
    keep = ~bernoulli(graphs.batch.numel(), ratio, generator, graphs.batch.device)
    # a graph that lost every node keeps one random node instead
    empty = torch.bincount(graphs.batch[keep], minlength=graphs.num_graphs) == 0
    rescue = graphs.ptr[:-1] + randint_below(graphs.counts, generator)
    keep[rescue[empty]] = True
    return keep


class NodeDrop(BaseTransform):
    """Drop a ``ratio`` of every graph's nodes uniformly (with their edges) and relabel the rest.

    Works on a ``Data`` or a ``Batch`` (per graph, vectorised). The view records ``n_id`` and
    ``e_id`` (see :func:`~graphlottery.contrastive.augment.view.make_view`).

    Args:
        ratio: fraction of the nodes to drop, in ``[0, 1]`` (GraphCL: 0.2).
        exact: drop exactly ``int(ratio * n_g)`` nodes per graph (at most ``n_g - 1``) instead of
            dropping every node with probability ``ratio``.
        generator: random generator (``None``: torch's default on the data's device).
    """

    def __init__(self, ratio: float = 0.2, exact: bool = True, generator: torch.Generator | None = None):
        self.ratio, self.exact = check_ratio(ratio), bool(exact)
        self.generator = check_generator(generator)

    def forward(self, data: Data) -> Data:
        graphs = graphs_of(data)
        return make_view(data, node_mask=_drop_node_mask(graphs, self.ratio, self.exact, self.generator), graphs=graphs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ratio={self.ratio}, exact={self.exact})"
