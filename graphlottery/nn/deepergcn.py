"""DeeperGCN (Li et al., 2020): a deep residual GCN of GENConv layers with a learnable softmax
aggregation, in which a pruned edge is absent from the softmax."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

from graphlottery.nn.base import Linear, MessagePassingStack, dropout, explained_weight
from graphlottery.sparse import Adjacency, as_adjacency

NORMS = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm}


def norm_layer(kind: str, channels: int) -> nn.Module:
    """``nn.BatchNorm1d`` (``"batch"``) or ``nn.LayerNorm`` (``"layer"``) over ``channels``."""
    if kind not in NORMS:
        raise ValueError(f"norm must be one of {sorted(NORMS)}, got {kind!r}")
    return NORMS[kind](channels)


class GENConv(MessagePassing):
    """Generalised graph convolution with a softmax aggregation, ``[N, C] -> [N, out]``.

    Over each node's incoming edges and its own self-loop (always kept, never masked):

    .. math::
        m_{ji} = \\mathrm{relu}(x_j + e_{ji}) + \\epsilon, \\qquad
        \\alpha_{ji} = \\frac{w_{ji} \\exp(\\beta m_{ji})}{\\sum_k w_{ki} \\exp(\\beta m_{ki})}, \\qquad
        x_i' = \\mathrm{MLP}\\Big(x_i + \\sum_j \\alpha_{ji} \\odot m_{ji}\\Big),

    per channel, with temperature :math:`\\beta` (learnable with ``learn_temperature``). The edge
    mask :math:`w` (``edge_weight``, ``[E]``) enters as in :class:`~graphlottery.nn.GATConv`: the
    softmax is that of :math:`\\beta m + \\log w`, so an edge with ``w = 0`` takes no share of it
    and passes nothing, exactly as if it were removed. The MLP is ``Linear(C, out)``
    (``mlp_layers=1``) or ``Linear(C, 2C) -> norm -> ReLU -> Linear(2C, out)`` (``mlp_layers=2``).
    Memory is O(E * C): one message per edge and channel, never an N x N matrix.
    """

    takes_edge_mask = True  # an edge mask reaches it as edge_weight (graphlottery.edge_hooks)

    def __init__(
        self,
        channels: int,
        out_channels: int,
        temperature: float = 1.0,
        learn_temperature: bool = True,
        mlp_layers: int = 1,
        norm: str = "batch",
        eps: float = 1e-7,
    ):
        super().__init__(aggr=None)  # a MessagePassing for PyG's Explainer; propagation is its own
        if mlp_layers not in (1, 2):
            raise ValueError(f"mlp_layers must be 1 or 2, got {mlp_layers}")
        beta = torch.tensor(float(temperature))
        if learn_temperature:
            self.temperature = nn.Parameter(beta)
        else:
            self.register_buffer("temperature", beta)
        self.eps = eps
        if mlp_layers == 1:
            self.mlp = nn.Sequential(Linear(channels, out_channels))
        else:
            self.mlp = nn.Sequential(Linear(channels, 2 * channels), norm_layer(norm, 2 * channels), nn.ReLU(),
                                     Linear(2 * channels, out_channels))
        self.propagation_width = channels

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor | Adjacency,
        edge_weight: Tensor | None = None,
        edge_attr: Tensor | None = None,
    ) -> Tensor:
        """``x``: ``[N, C]``; ``edge_weight``: ``[E]`` and ``edge_attr``: ``[E, C]`` (already
        encoded to ``C`` channels), both in ``edge_index`` column order. Returns ``[N, out]``."""
        adj = as_adjacency(edge_index, x.size(0))
        loops = adj.with_self_loops()
        if edge_attr is not None:  # self-loops carry a zero edge feature
            edge_attr = loops.sort(torch.cat([adj.sort(edge_attr), edge_attr.new_zeros(adj.num_nodes, x.size(1))]))
        weight = adj.loop_weights(edge_weight, x).clamp_min(0.0)
        return self.mlp(x + softmax_aggregate(x, edge_attr, weight, self.temperature, loops, self.eps))


def softmax_aggregate(x: Tensor, edge_attr: Tensor | None, weight: Tensor, beta: Tensor, adj: Adjacency,
                      eps: float = 1e-7) -> Tensor:
    """Masked softmax aggregation of GENConv messages, ``[N, C]``:
    :math:`a_i = \\sum_j \\alpha_{ji} m_{ji}` with :math:`m_{ji} = \\mathrm{relu}(x_j + e_{ji}) + \\epsilon`
    and :math:`\\alpha_{ji} = w_{ji} e^{\\beta m_{ji}} / \\sum_k w_{ki} e^{\\beta m_{ki}}` per channel.

    ``edge_attr`` (``[E, C]`` or ``None``) and ``weight`` (``[E]``, ``>= 0``) are in ``adj``'s CSR
    order, and every node needs an edge of positive weight (its self-loop). The softmax's
    stabilising maximum runs over kept edges only, as in :func:`~graphlottery.nn.gat.masked_attention`.
    The backward recomputes the messages from ``x``, so a layer keeps only ``[N, C]`` tensors for
    autograd instead of about six ``[E, C]`` ones: measured on a graph of 1/8 the size of ogbn-arxiv
    at C = 128, 0.15 GB per layer instead of 1.1 GB (28 layers on arxiv: ~30 GB instead of ~250 GB).
    """
    return _SoftmaxAggregate.apply(x, edge_attr, weight, beta, adj, eps)


class _SoftmaxAggregate(torch.autograd.Function):
    @staticmethod
    def _messages(x: Tensor, edge_attr: Tensor | None, adj: Adjacency, eps: float) -> tuple[Tensor, Tensor]:
        pre = x[adj.src] if edge_attr is None else x[adj.src] + edge_attr
        return pre, F.relu(pre) + eps

    @staticmethod
    def _exp(m: Tensor, beta: Tensor, peak: Tensor, adj: Adjacency) -> Tensor:
        return torch.exp((beta * m - peak[adj.dst]).clamp_max(0.0))  # <= 1 on kept edges

    @staticmethod
    def forward(ctx, x, edge_attr, weight, beta, adj, eps):
        _, m = _SoftmaxAggregate._messages(x, edge_attr, adj, eps)
        w = weight.unsqueeze(-1)
        index = adj.dst.unsqueeze(-1).expand_as(m)
        logits = (beta * m).masked_fill(w == 0, float("-inf"))  # a pruned edge never sets the peak
        peak = m.new_full((adj.num_nodes, m.size(1)), float("-inf")).scatter_reduce(0, index, logits, "amax")
        p = _SoftmaxAggregate._exp(m, beta, peak, adj) * w
        total = adj.sum_by_target(p)
        out = adj.sum_by_target(p * m) / total
        ctx.adj, ctx.eps = adj, eps
        ctx.save_for_backward(x, edge_attr, weight, beta, peak, total, out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, edge_attr, weight, beta, peak, total, out = ctx.saved_tensors
        adj: Adjacency = ctx.adj
        pre, m = _SoftmaxAggregate._messages(x, edge_attr, adj, ctx.eps)
        unweighted = _SoftmaxAggregate._exp(m, beta, peak, adj) / total[adj.dst]  # d alpha / d w
        alpha = unweighted * weight.unsqueeze(-1)
        g, centred = grad_out[adj.dst], m - out[adj.dst]
        grad_x = grad_attr = grad_weight = grad_beta = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            grad_pre = (g * alpha * (1.0 + beta * centred)).masked_fill_(pre <= 0, 0.0)
            if ctx.needs_input_grad[0]:
                grad_x = torch.zeros_like(x).index_add_(0, adj.src, grad_pre)
            grad_attr = grad_pre if ctx.needs_input_grad[1] else None
        if ctx.needs_input_grad[2]:
            grad_weight = (g * unweighted * centred).sum(-1)
        if ctx.needs_input_grad[3]:
            grad_beta = (g * alpha * m * centred).sum().reshape(beta.shape)
        return grad_x, grad_attr, grad_weight, grad_beta, None, None


class DeeperGCN(MessagePassingStack):
    """DeeperGCN with pre-activation residual ("res+") blocks, ``[N, in] -> [N, out]``:

    .. math::
        h^{(0)} = \\mathrm{GENConv}_0(x W_{enc}), \\qquad
        h^{(l)} = h^{(l-1)} + \\mathrm{GENConv}_l(\\mathrm{drop}(\\mathrm{relu}(\\mathrm{norm}_l(h^{(l-1)})))),

    for ``l = 1 .. L-1``, then ``dropout(relu(norm_L(h)))`` and a linear prediction head. Every layer takes the same
    edge mask; the encoder, every GENConv MLP layer and the head are ``nn.Linear`` and so maskable
    by :class:`~graphlottery.masks.WeightMasks`. UGS's ogbn-arxiv setting: 28 layers, hidden 128,
    dropout 0.5, batch norm, learnable temperature.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        num_layers: int,
        out_channels: int,
        dropout: float = 0.5,
        norm: str = "batch",
        temperature: float = 1.0,
        learn_temperature: bool = True,
        mlp_layers: int = 1,
    ):
        convs = [GENConv(hidden_channels, hidden_channels, temperature, learn_temperature, mlp_layers, norm)
                 for _ in range(num_layers)]
        super().__init__(convs, dropout)
        self.encoder = Linear(in_channels, hidden_channels)
        self.norms = nn.ModuleList(norm_layer(norm, hidden_channels) for _ in range(num_layers))
        self.head = Linear(hidden_channels, out_channels)

    def forward(self, x: Tensor, edge_index: Tensor | Adjacency, edge_weight: Tensor | None = None) -> Tensor:
        adj = as_adjacency(edge_index, x.size(0))
        edge_weight = explained_weight(self.convs, edge_weight, adj.num_edges)
        h = self.convs[0](self.encoder(x), adj, edge_weight)
        for conv, norm in zip(self.convs[1:], self.norms):
            h = h + conv(dropout(F.relu(norm(h)), self.dropout, self.training), adj, edge_weight)
        h = dropout(F.relu(self.norms[-1](h)), self.dropout, self.training)
        return self.head(h)
