"""Graph convolution (Kipf & Welling) with a per-edge mask applied before normalisation."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from graphlottery.nn.base import MessagePassingStack, glorot_linear, sorted_weight
from graphlottery.sparse import Adjacency, as_adjacency


def gcn_propagate(adj: Adjacency, x: Tensor, edge_weight: Tensor | None = None) -> Tensor:
    """:math:`\\hat A x` with :math:`\\hat A = D^{-1/2}(A_m + I)D^{-1/2}`.

    ``A_m`` carries the edge mask ``edge_weight`` (``[E]``), so degrees
    :math:`d_i = 1 + \\sum_{j \\to i} m_{ji}` are recomputed from the masked weights; the
    self-loops ``I`` are added after masking with weight 1 and are never masked.
    ``x``: ``[N, F]`` -> ``[N, F]``.
    """
    loops = adj.with_self_loops()
    w = sorted_weight(adj, edge_weight, x)
    w = loops.sort(torch.cat([w, w.new_ones(adj.num_nodes)]))
    deg = loops.sum_by_target(w)
    dinv = deg.clamp_min(1.0).rsqrt()  # >= 1 unless soft scores went negative
    return loops.matmul(dinv[loops.dst] * w * dinv[loops.src], x)


class GCNConv(nn.Module):
    """:math:`x' = \\hat A x W^\\top + b` (``[N, in] -> [N, out]``); ``x`` may be sparse CSR."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__()
        self.lin = glorot_linear(in_channels, out_channels)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.propagation_width = out_channels

    def forward(self, x: Tensor, edge_index: Tensor | Adjacency, edge_weight: Tensor | None = None) -> Tensor:
        out = gcn_propagate(as_adjacency(edge_index, x.size(0)), self.lin(x), edge_weight)
        return out if self.bias is None else out + self.bias


class GCN(MessagePassingStack):
    """``num_layers`` GCN layers with ReLU and dropout on hidden features (UGS: 2 layers, 512)."""

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.5,
        input_dropout: float = 0.0,
    ):
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        super().__init__([GCNConv(a, b) for a, b in zip(dims[:-1], dims[1:])], dropout, input_dropout)
