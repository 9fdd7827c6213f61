"""Degree statistics per prunable edge unit, shared by the degree-based sparsifiers."""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.utils import degree, scatter


def unit_edges(run) -> tuple[Tensor, Tensor, Tensor]:
    """``(src, dst, unit)`` of the prunable ``edge_index`` columns of ``run``'s graph (self-loops,
    which are never pruned, left out)."""
    graph = run.graph
    prunable = graph.edge_unit < graph.num_units
    src, dst = graph.data.edge_index[:, prunable]
    return src, dst, graph.edge_unit[prunable]


def node_degree(src: Tensor, dst: Tensor, num_nodes: int) -> Tensor:
    """In-degree per node over the given edges (both directions of an undirected graph are
    listed, so this is its degree), ``[N]`` float."""
    return degree(dst, num_nodes, dtype=torch.float)


def per_unit(values: Tensor, unit: Tensor, num_units: int) -> Tensor:
    """One value per unit from one per edge column (the units' columns agree; max breaks nothing)."""
    return scatter(values, unit, 0, dim_size=num_units, reduce="max")
