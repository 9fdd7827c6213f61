"""Graph convolution (Kipf & Welling) with a per-edge mask applied before normalisation."""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

from graphlottery.nn.base import MessagePassingStack, explained_weight, glorot_linear
from graphlottery.sparse import Adjacency, as_adjacency


class GCNNorm(NamedTuple):
    """The normalised propagation matrix :math:`\\hat A` of one graph and edge mask: the graph
    with self-loops and its normalised weights (``[E + N]``, in that graph's CSR order).
    Computed once per forward and shared by every layer of a :class:`GCN`."""

    loops: Adjacency
    weight: Tensor

    @classmethod
    def of(cls, adj: Adjacency, edge_weight: Tensor | None, like: Tensor) -> GCNNorm:
        """:math:`\\hat A = D^{-1/2}(A_m + I)D^{-1/2}` with :math:`d_i = 1 + \\sum_{j \\to i} m_{ji}`."""
        loops = adj.with_self_loops()
        w = adj.loop_weights(edge_weight, like)
        if not w.requires_grad:
            return cls(loops, _normalise(loops, w)[0])
        return cls(loops, _Normalise.apply(w, loops))


def _normalise(loops: Adjacency, w: Tensor) -> tuple[Tensor, Tensor]:
    deg = loops.sum_by_target(w)
    dinv = deg.clamp_min(1.0).rsqrt()  # >= 1 unless soft scores went negative
    return dinv[loops.dst] * w * dinv[loops.src], deg


class _Normalise(torch.autograd.Function):
    """``w -> d_dst^{-1/2} w d_src^{-1/2}`` with a backward of two segment sums and gathers:
    with ``q = g * out``, :math:`\\partial L/\\partial d_i = -(\\sum_{dst=i} q + \\sum_{src=i} q) / 2 d_i`."""

    @staticmethod
    def forward(ctx, w: Tensor, loops: Adjacency) -> Tensor:
        out, deg = _normalise(loops, w)
        ctx.loops = loops
        ctx.save_for_backward(out, deg)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        out, deg = ctx.saved_tensors
        loops: Adjacency = ctx.loops
        q = grad * out
        per_node = loops.sum_by_target(q).index_add_(0, loops.src, q)
        dinv = deg.clamp_min(1.0).rsqrt()
        grad_deg = per_node.mul_(dinv.square()).mul_(-0.5).masked_fill_(deg < 1.0, 0.0)
        return grad * dinv[loops.dst] * dinv[loops.src] + grad_deg[loops.dst], None


def gcn_propagate(adj: Adjacency, x: Tensor, edge_weight: Tensor | None = None) -> Tensor:
    """:math:`\\hat A x` with :math:`\\hat A = D^{-1/2}(A_m + I)D^{-1/2}` (see :class:`GCNNorm`).

    ``A_m`` carries the edge mask ``edge_weight`` (``[E]``), so degrees
    :math:`d_i = 1 + \\sum_{j \\to i} m_{ji}` are recomputed from the masked weights; the
    self-loops ``I`` are added after masking with weight 1 and are never masked.
    ``x``: ``[N, F]`` -> ``[N, F]``.
    """
    norm = GCNNorm.of(adj, edge_weight, x)
    return norm.loops.matmul(norm.weight, x)


class GCNConv(MessagePassing):
    """:math:`x' = \\hat A x W^\\top + b` (``[N, in] -> [N, out]``); ``x`` may be sparse CSR.

    ``edge_weight`` is the edge mask (``[E]``) or a precomputed :class:`GCNNorm`. Dense inputs
    narrower than the output are propagated before the linear map, wider ones after it, so
    the sparse product always runs at the smaller width.
    """

    takes_edge_mask = True  # an edge mask reaches it as edge_weight (graphlottery.edge_hooks)

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__(aggr=None)  # a MessagePassing for PyG's Explainer; propagation is its own
        self.lin = glorot_linear(in_channels, out_channels)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.propagation_width = out_channels

    def forward(
        self, x: Tensor, edge_index: Tensor | Adjacency, edge_weight: Tensor | GCNNorm | None = None
    ) -> Tensor:
        norm = edge_weight
        if not isinstance(norm, GCNNorm):
            norm = GCNNorm.of(as_adjacency(edge_index, x.size(0)), edge_weight, x)
        if x.layout == torch.strided and self.lin.in_features < self.lin.out_features:
            out = self.lin(norm.loops.matmul(norm.weight, x))
            return out if self.bias is None else out + self.bias
        return norm.loops.matmul(norm.weight, self.lin(x), self.bias)  # the bias added by the product


class GCN(MessagePassingStack):
    """``num_layers`` GCN layers with ReLU and dropout on hidden features (UGS: 2 layers, 512)."""

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
        super().__init__([GCNConv(a, b) for a, b in zip(dims[:-1], dims[1:])], dropout, input_dropout)

    def forward(self, x: Tensor, edge_index: Tensor | Adjacency, edge_weight: Tensor | None = None) -> Tensor:
        adj = as_adjacency(edge_index, x.size(0))
        like = x if x.layout == torch.strided else x.values()
        edge_weight = explained_weight(self.convs, edge_weight, adj.num_edges)
        return super().forward(x, adj, GCNNorm.of(adj, edge_weight, like))
