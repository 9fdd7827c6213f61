"""GraphSAGE layer with a masked mean over kept neighbours."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

from graphlottery.nn.base import MessagePassingStack, glorot_linear, sorted_weight
from graphlottery.sparse import Adjacency, as_adjacency


class SAGEConv(MessagePassing):
    """:math:`x'_i = W_1 x_i + W_2 \\frac{\\sum_{j \\to i} m_{ji} x_j}{|\\{j : m_{ji} \\neq 0\\}|} + b`.

    Pruned edges (:math:`m = 0`) leave both the sum and the neighbour count. ``[N, in] -> [N, out]``.
    """

    takes_edge_mask = True  # an edge mask reaches it as edge_weight (graphlottery.edge_hooks)

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(aggr=None)  # a MessagePassing for PyG's Explainer; propagation is its own
        self.lin_self = glorot_linear(in_channels, out_channels)
        self.lin_neigh = glorot_linear(in_channels, out_channels)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.propagation_width = out_channels

    def forward(self, x: Tensor, edge_index: Tensor | Adjacency, edge_weight: Tensor | None = None) -> Tensor:
        adj = as_adjacency(edge_index, x.size(0))
        z = self.lin_neigh(x)
        w = sorted_weight(adj, edge_weight, z)
        count = adj.sum_by_target((w != 0).to(z.dtype)).clamp_min(1.0).unsqueeze(-1)
        return self.lin_self(x) + adj.matmul(w, z) / count + self.bias


class GraphSAGE(MessagePassingStack):
    """``num_layers`` SAGE layers with ReLU and dropout between them."""

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        num_layers: int,
        out_channels: int,
        dropout: float = 0.5,
        input_dropout: float = 0.0,
    ):
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        super().__init__([SAGEConv(a, b) for a, b in zip(dims[:-1], dims[1:])], dropout, input_dropout)
