"""Subgraph sampling (GraphCL): keep the nodes a random walk visits, ``1 - ratio`` of every graph."""
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
    pick_one,
    rand,
    randint_below,
)
from graphlottery.contrastive.augment.view import Graphs, graphs_of, make_view

PATIENCE = 3  # steps without a new node before a walker jumps
STEPS_PER_DRAW = 32  # walk steps whose random numbers are drawn at once
TABLE_BUDGET = 4  # use a padded [N, max_degree] neighbour table if it is at most this times the CSR size


def subgraph_mask(data: Data, ratio: float = 0.2, exact: bool = True, patience: int = PATIENCE,
                  generator: torch.Generator | None = None) -> Tensor:
    """Boolean ``[N]``, ``True`` for the nodes visited by one random walker per graph.

    Graph ``g`` keeps ``n_g - int(ratio * n_g)`` nodes (``exact``), or ``n_g`` minus a
    ``Binomial(n_g, ratio)`` draw, and always at least one. All walkers move in parallel: each
    starts at a random node of its graph and steps to a uniform random neighbour (edges taken as
    undirected, self-loops ignored), visiting nodes until its graph's count is reached. A walker
    that found no new node for ``patience`` steps, or stands on an isolated node, jumps to a
    random *frontier* node (unvisited, next to a visited one), so the kept set of a connected
    graph stays connected and every walk ends within ``target * (patience + 1)`` steps; only when
    the visited component has no frontier left does it jump to any unvisited node of its graph.
    ``patience=0`` is pure random frontier expansion (as in GraphCL's JOAO code). Unlike GraphCL's
    original code (its 1-hop ego-net bug), the kept set is the visited set.

    Vectorised over graphs: one step of all walkers is a gather from a padded neighbour table
    (or from the CSR arrays when a hub makes the table too large); Python loops over steps only.
    """
    return _subgraph_mask(graphs_of(data), data.get("edge_index"), check_ratio(ratio), exact, _patience(patience),
                          check_generator(generator))


def _patience(patience: int) -> int:
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
        raise ValueError(f"patience must be a non-negative integer, got {patience!r}")
    return patience


def _subgraph_mask(graphs: Graphs, edge_index: Tensor | None, ratio: float, exact: bool, patience: int,
                   generator: torch.Generator | None) -> Tensor:
    batch, num_nodes, device = graphs.batch, graphs.batch.numel(), graphs.batch.device
    if exact:
        target = graphs.counts - num_to_remove(graphs.counts, ratio)
    else:
        dropped = bernoulli(num_nodes, ratio, generator, device)
        target = graphs.counts - torch.bincount(batch[dropped], minlength=graphs.num_graphs)
    target = target.clamp_min(1)

    # the undirected walking graph (both directions, no self-loops), as CSR or as a padded
    # neighbour table; node `num_nodes` is a sink: isolated nodes lead to it, inactive walkers rest on it
    if edge_index is None:
        edge_index = torch.zeros(2, 0, dtype=torch.long, device=device)
    src, dst = edge_index.long()
    loop = src == dst
    walk_src = torch.cat([src[~loop], dst[~loop]])
    walk_dst = torch.cat([dst[~loop], src[~loop]])
    sink = num_nodes
    walk_src, order = torch.sort(walk_src)
    col = torch.cat([walk_dst[order], walk_dst.new_full((1,), sink)])
    degree = torch.bincount(walk_src, minlength=num_nodes + 1)
    rowptr = torch.cumsum(degree, 0) - degree
    max_degree = int(degree.max())
    table = None
    if (num_nodes + 1) * max_degree <= TABLE_BUDGET * (col.numel() + num_nodes):
        table = torch.full((num_nodes + 1, max(max_degree, 1)), sink, dtype=torch.long, device=device)
        table[walk_src, torch.arange(walk_src.numel(), device=device) - rowptr[walk_src]] = col[:-1]

    num_walkers = graphs.num_graphs
    visited = torch.zeros(num_nodes + 1, dtype=torch.bool, device=device)
    near = None if table is None else torch.zeros(num_nodes + 1, dtype=torch.bool, device=device)
    cur = graphs.ptr[:-1] + randint_below(graphs.counts, generator)
    visited[cur] = True
    if near is not None:
        near[table[cur]] = True
    count = torch.ones_like(target)
    stale = torch.zeros_like(target)
    max_steps = int(target.max()) * (patience + 1) + 1  # every walker finds a new node within patience + 1 steps
    for step in range(max_steps):
        if step % STEPS_PER_DRAW == 0:
            u = rand((STEPS_PER_DRAW, num_walkers), generator, device, torch.float64)
        active = count < target
        if not bool(active.any()):
            break
        deg = degree[cur]
        pick = (u[step % STEPS_PER_DRAW] * deg).long()  # uniform neighbour (the sink if there is none)
        nxt = table[cur, pick] if table is not None else col[rowptr[cur] + pick]
        jump = active & ((deg == 0) | (stale >= patience))
        if bool(jump.any()):
            nxt = torch.where(jump, _jump_targets(visited, near, walk_src, col[:-1], graphs, generator), nxt)
        new = active & ~visited[nxt]
        marked = torch.where(new, nxt, sink)  # walkers never share a node: each stays in its own graph
        visited[marked] = True
        if near is not None:
            near[table[marked]] = True
        count = count + new
        stale = torch.where(new, 0, stale + 1)
        cur = torch.where(active, nxt, sink)
    return visited[:-1]


def _jump_targets(visited: Tensor, near: Tensor | None, walk_src: Tensor, walk_dst: Tensor, graphs: Graphs,
                  generator: torch.Generator | None) -> Tensor:
    """A random frontier node per graph, or a random unvisited node where the frontier is empty
    (``visited`` / ``near``: ``[N + 1]``, ``near`` marks the neighbours of visited nodes)."""
    num_nodes = graphs.batch.numel()
    if near is None:
        near = torch.zeros(num_nodes + 1, dtype=torch.int32, device=visited.device)
        near = near.index_add_(0, walk_dst, visited[walk_src].to(torch.int32)) > 0
    unvisited = ~visited[:num_nodes]
    priority = unvisited.to(torch.int32) + (unvisited & near[:num_nodes]).to(torch.int32)  # 2 frontier, 1 unvisited
    return pick_one(priority, graphs.batch, graphs.num_graphs, generator)


class Subgraph(BaseTransform):
    """Keep a random-walk subgraph of ``n_g - int(ratio * n_g)`` nodes (at least one) of every graph.

    The kept nodes are relabelled and the edges among them kept (the induced subgraph); the view
    records ``n_id`` and ``e_id``. See :func:`subgraph_mask` for the walk.

    Args:
        ratio: fraction of the nodes to leave out, in ``[0, 1]`` (0.2: keep 80%, as GraphCL's JOAO
            code; GraphCL's own code keeps only 20%, i.e. ``ratio=0.8``).
        exact: leave out exactly ``int(ratio * n_g)`` nodes instead of a ``Binomial(n_g, ratio)`` count.
        patience: steps without a new node before a walker jumps to the frontier.
        generator: random generator (``None``: torch's default on the data's device).
    """

    def __init__(self, ratio: float = 0.2, exact: bool = True, patience: int = PATIENCE,
                 generator: torch.Generator | None = None):
        self.ratio, self.exact, self.patience = check_ratio(ratio), bool(exact), _patience(patience)
        self.generator = check_generator(generator)

    def forward(self, data: Data) -> Data:
        graphs = graphs_of(data)
        keep = _subgraph_mask(graphs, data.get("edge_index"), self.ratio, self.exact, self.patience, self.generator)
        return make_view(data, node_mask=keep, graphs=graphs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ratio={self.ratio}, exact={self.exact}, patience={self.patience})"
