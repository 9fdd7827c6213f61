"""Uniform neighbour sampling for mini-batch training, vectorised and in O(E) memory.

:class:`NeighborSampler` sorts the (kept) edges of a graph once by target node into CSR
order. A batch starts at its seed nodes; each hop takes, for every node reached in the
previous hop, up to ``k`` of its incoming edges ``j -> i``:

* a node with at most ``k`` incoming edges keeps all of them;
* a node with more draws ``k`` positions of its CSR row uniformly with replacement
  (``start_i + floor(u * deg_i)``) and keeps the distinct edges among them.

The sampled subgraph carries the *global* edge ids ``e_id`` (columns of the graph's
``edge_index``) and node ids ``n_id``, so a global per-edge tensor, such as the graph mask
of :class:`~graphlottery.graph.MaskedGraph`, is read for the subgraph as ``mask[e_id]``.
No per-node Python loop runs: every hop is a handful of gathers, one ``repeat_interleave``
and two ``unique`` calls over the sampled entries.

It exists because PyG's :class:`~torch_geometric.loader.NeighborLoader` needs ``pyg-lib`` or
``torch-sparse`` to sample, and this library depends on neither.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from graphlottery.sparse import check_edge_index


class SampledSubgraph(NamedTuple):
    """A sampled subgraph with local node numbering.

    Attributes:
        n_id: ``[n]`` global ids of its nodes; the first ``batch_size`` are the seeds, in order.
        e_id: ``[m]`` global ids (``edge_index`` columns) of its edges.
        edge_index: ``[2, m]`` its edges in local ids: ``n_id[edge_index] == edge_index_global[:, e_id]``.
        batch_size: the number of seed nodes.
    """

    n_id: Tensor
    e_id: Tensor
    edge_index: Tensor
    batch_size: int


def check_fanouts(num_neighbors: Sequence[int], name: str = "num_neighbors") -> list[int]:
    """Return ``num_neighbors`` as a list of ints (``k >= 1``, or ``-1`` for all neighbours)."""
    fanouts = [int(k) for k in num_neighbors]
    if not fanouts or any(k == 0 or k < -1 for k in fanouts):
        raise ValueError(f"{name} must list one fan-out per layer, each >= 1 or -1 (all), got {list(num_neighbors)}")
    return fanouts


class NeighborSampler:
    """Sample multi-hop neighbourhoods of seed nodes (messages flow ``src -> dst``).

    Args:
        edge_index: ``[2, E]`` edges of the whole graph.
        num_nodes: ``N``.
        num_neighbors: fan-out per hop (one per message-passing layer); ``-1``: all neighbours.
        edge_id: ``[E']`` ids of the columns that may be sampled (e.g. the edges a mask keeps);
            default: all of them. Sampled ``e_id`` are always columns of ``edge_index``.

    Memory: the CSR row pointer (``N + 1``) and the edge ids in CSR order (``E'``), plus one
    ``[N]`` scratch map from global to local node ids, reset after every batch.
    """

    def __init__(self, edge_index: Tensor, num_nodes: int, num_neighbors: Sequence[int], edge_id: Tensor | None = None):
        check_edge_index(edge_index, num_nodes)
        self.edge_index = edge_index
        self.num_nodes = int(num_nodes)
        self.num_neighbors = check_fanouts(num_neighbors)
        device = edge_index.device
        dst = edge_index[1] if edge_id is None else edge_index[1, edge_id]
        order = torch.sort(dst, stable=True).indices
        self.csr_e_id = order if edge_id is None else edge_id.to(device)[order]
        del order
        counts = torch.bincount(dst, minlength=self.num_nodes)
        self.rowptr = torch.zeros(self.num_nodes + 1, dtype=torch.long, device=device)
        torch.cumsum(counts, 0, out=self.rowptr[1:])
        self._local = torch.full((self.num_nodes,), -1, dtype=torch.long, device=device)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_nodes={self.num_nodes}, edges={self.csr_e_id.numel()}, " \
               f"num_neighbors={self.num_neighbors})"

    def _hop(self, frontier: Tensor, k: int, generator: torch.Generator | None) -> Tensor:
        """Global ids of the sampled incoming edges of ``frontier`` (up to ``k`` per node)."""
        start = self.rowptr[frontier]
        deg = self.rowptr[frontier + 1] - start
        take = deg if k < 0 else deg.clamp(max=k)
        row = torch.repeat_interleave(torch.arange(frontier.numel(), device=frontier.device), take)
        first = torch.cumsum(take, 0) - take
        offset = torch.arange(row.numel(), device=frontier.device) - first[row]
        if k >= 0:
            over = deg[row] > k  # rows sampled with replacement
            u = torch.rand(int(over.sum()), generator=generator, device=frontier.device)
            offset[over] = (u * deg[row][over]).long().clamp_max_(deg[row][over] - 1)
        e_id = self.csr_e_id[start[row] + offset]
        return torch.unique(e_id) if k >= 0 else e_id

    def sample(self, seeds: Tensor, generator: torch.Generator | None = None,
               num_neighbors: Sequence[int] | None = None) -> SampledSubgraph:
        """The sampled neighbourhood of ``seeds`` (``[B]`` distinct global node ids).

        ``num_neighbors`` overrides the fan-outs for this call (e.g. ``[-1, -1]`` for exact
        inference); ``generator`` drives the draws."""
        fanouts = self.num_neighbors if num_neighbors is None else check_fanouts(num_neighbors)
        seeds = self._enter(seeds)
        local = self._local
        nodes, edges, count, frontier = [seeds], [], seeds.numel(), seeds
        for k in fanouts:
            e_id = self._hop(frontier, k, generator)
            src = self.edge_index[0, e_id]
            frontier = torch.unique(src[local[src] < 0])
            local[frontier] = torch.arange(count, count + frontier.numel(), device=seeds.device)
            count += frontier.numel()
            nodes.append(frontier)
            edges.append(e_id)
        n_id, e_id = torch.cat(nodes), torch.cat(edges)
        edge_index = local[self.edge_index[:, e_id]]
        local[n_id] = -1
        return SampledSubgraph(n_id, e_id, edge_index, seeds.numel())

    def induced(self, nodes: Tensor) -> SampledSubgraph:
        """The subgraph induced by ``nodes`` (``[B]`` distinct global ids): every sampleable edge
        with both ends among them (a cluster batch). All of ``nodes`` are seeds, in order."""
        nodes = self._enter(nodes)
        e_id = self._hop(nodes, -1, None)
        e_id = e_id[self._local[self.edge_index[0, e_id]] >= 0]
        edge_index = self._local[self.edge_index[:, e_id]]
        self._local[nodes] = -1
        return SampledSubgraph(nodes, e_id, edge_index, nodes.numel())

    def _enter(self, seeds: Tensor) -> Tensor:
        """Give ``seeds`` local ids ``0..B-1`` in the scratch map; they must be distinct."""
        seeds = seeds.to(self.rowptr.device, torch.long)
        self._local[seeds] = torch.arange(seeds.numel(), device=seeds.device)
        if int(self._local[seeds].unique().numel()) != seeds.numel():
            self._local[seeds] = -1
            raise ValueError("seed nodes must be distinct")
        return seeds
