"""Edge perturbation (GraphCL): every graph loses a ``ratio`` of its edges and gains as many new ones."""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform
from torch_geometric.utils import is_undirected

from graphlottery.contrastive.augment.sampling import (
    bernoulli,
    check_generator,
    check_ratio,
    num_to_remove,
    randint_below,
    sample_exact,
)
from graphlottery.contrastive.augment.view import Graphs, graphs_of, make_view

RESAMPLE_ROUNDS = 4  # rounds of redrawing the added edges that collided with an edge or each other


def perturb_edge_mask(data: Data, ratio: float = 0.2, add: bool = True, exact: bool = True,
                      undirected: bool | None = None,
                      generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Edges kept and edges added by edge perturbation.

    The unit of perturbation is an ``edge_index`` column, or with ``undirected`` (default: whether
    ``is_undirected(edge_index)``) an undirected edge, whose two directions go together; a self-loop
    is a unit of its own. Graph ``g`` with ``m_g`` units loses ``int(ratio * m_g)`` of them
    (``exact``) or each with probability ``ratio``, and, if ``add``, gains as many new units
    between random node pairs of the same graph: never self-loops, never an edge of the input,
    never twice. Colliding pairs are redrawn (``RESAMPLE_ROUNDS`` vectorised rounds); pairs still
    colliding after that (only in nearly complete graphs) are not added. A graph with fewer than
    two nodes gains nothing.

    Returns:
        ``keep`` (boolean ``[E]`` over the columns of ``edge_index``) and ``added`` (``[2, A]`` in
        the input's node indices; both directions of every new undirected edge).
    """
    return _perturb(graphs_of(data), _edge_index(data), check_ratio(ratio), add, exact, undirected,
                    check_generator(generator))


def _edge_index(data: Data) -> Tensor:
    edge_index = data.get("edge_index")
    if edge_index is None:
        raise ValueError("edge perturbation needs an edge_index, but the data has none")
    return edge_index


def _perturb(graphs: Graphs, edge_index: Tensor, ratio: float, add: bool, exact: bool, undirected: bool | None,
             generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    num_nodes, device = graphs.batch.numel(), graphs.batch.device
    src, dst = edge_index.long()
    if undirected is None:
        undirected = is_undirected(edge_index, num_nodes=num_nodes)
    if undirected:
        key = torch.minimum(src, dst) * num_nodes + torch.maximum(src, dst)
        existing, unit = torch.unique(key, return_inverse=True)  # sorted keys of the undirected edges
        unit_graph = graphs.batch[existing // num_nodes]
    else:
        existing = src * num_nodes + dst
        unit, unit_graph = torch.arange(src.numel(), device=device), graphs.batch[src]
    if exact:
        units_per_graph = torch.bincount(unit_graph, minlength=graphs.num_graphs)
        drop = sample_exact(unit_graph, num_to_remove(units_per_graph, ratio), generator)
    else:
        drop = bernoulli(unit_graph.numel(), ratio, generator, device)
    keep = ~drop[unit]
    if not add:
        return keep, edge_index.new_zeros(2, 0)
    num_add = torch.bincount(unit_graph[drop], minlength=graphs.num_graphs)
    num_add[graphs.counts < 2] = 0
    return keep, _new_edges(graphs, num_add, existing, undirected, generator)


def _new_edges(graphs: Graphs, num_add: Tensor, existing: Tensor, undirected: bool,
               generator: torch.Generator | None) -> Tensor:
    """``num_add[g]`` new node pairs per graph whose keys are not in ``existing`` nor repeated."""
    num_nodes, device = graphs.batch.numel(), graphs.batch.device
    missing, taken, found = num_add, existing, []
    graph_ids = torch.arange(graphs.num_graphs, device=device)
    for _ in range(RESAMPLE_ROUNDS):
        draws = 2 * missing + (missing > 0)  # oversample so that a round rarely falls short
        total = int(draws.sum())
        if total == 0:
            break
        graph = torch.repeat_interleave(graph_ids, draws, output_size=total)
        n, offset = graphs.counts[graph], graphs.ptr[graph]
        u = randint_below(n, generator)
        v = (u + 1 + randint_below(n - 1, generator)) % n  # uniform over the other n - 1 nodes
        u, v = u + offset, v + offset
        if undirected:
            u, v = torch.minimum(u, v), torch.maximum(u, v)
        key = u * num_nodes + v
        valid = ~torch.isin(key, taken) & _first_occurrence(key)
        # keep the first `missing[g]` valid candidates of every graph (candidates are grouped by graph)
        valid_count = torch.bincount(graph[valid], minlength=graphs.num_graphs)
        before = torch.cumsum(valid_count, 0) - valid_count
        rank = torch.cumsum(valid, 0) - 1 - before[graph]
        accept = valid & (rank < missing[graph])
        found.append(torch.stack([u[accept], v[accept]]))
        taken = torch.cat([taken, key[accept]])
        missing = missing - torch.bincount(graph[accept], minlength=graphs.num_graphs)
    if not found:
        return torch.zeros(2, 0, dtype=torch.long, device=device)
    pairs = torch.cat(found, 1)
    return torch.cat([pairs, pairs.flip(0)], 1) if undirected else pairs


def _first_occurrence(key: Tensor) -> Tensor:
    """Boolean ``[M]``: ``True`` at the first position of every distinct value of ``key``."""
    unique, inverse = torch.unique(key, return_inverse=True)
    position = torch.arange(key.numel(), device=key.device)
    first = torch.full_like(unique, key.numel()).scatter_reduce(0, inverse, position, "amin")
    return first[inverse] == position


class EdgePerturb(BaseTransform):
    """Drop a ``ratio`` of every graph's edges and add as many new random edges within the graph.

    Undirected inputs stay undirected (both directions dropped and added together). Added edges
    get zero edge attributes and ``e_id = -1``; nodes are all kept (``n_id = arange(N)``).

    Args:
        ratio: fraction of the edges to perturb, in ``[0, 1]`` (GraphCL: 0.2).
        add: add as many edges as were dropped (GraphCL's semi-supervised / transfer code);
            ``False`` only drops (its unsupervised code).
        exact: ``int(ratio * m_g)`` edges per graph instead of each with probability ``ratio``.
        undirected: perturb undirected edges; ``None`` checks the input with ``is_undirected``.
        generator: random generator (``None``: torch's default on the data's device).

    See :func:`perturb_edge_mask` for the sampling rules.
    """

    def __init__(self, ratio: float = 0.2, add: bool = True, exact: bool = True, undirected: bool | None = None,
                 generator: torch.Generator | None = None):
        self.ratio, self.add, self.exact = check_ratio(ratio), bool(add), bool(exact)
        self.undirected, self.generator = undirected, check_generator(generator)

    def forward(self, data: Data) -> Data:
        graphs = graphs_of(data)
        keep, added = _perturb(graphs, _edge_index(data), self.ratio, self.add, self.exact, self.undirected,
                               self.generator)
        return make_view(data, edge_mask=keep, added_edges=added, graphs=graphs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ratio={self.ratio}, add={self.add}, exact={self.exact})"
