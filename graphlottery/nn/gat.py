"""Graph attention layer in which a pruned edge is absent from the softmax."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphlottery.nn.base import MessagePassingStack, dropout, glorot_linear, sorted_weight
from graphlottery.sparse import Adjacency, as_adjacency


def masked_attention(adj: Adjacency, logits: Tensor, self_logits: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Softmax over each node's incoming edges plus its self-loop, weighted by the edge mask.

    :math:`\\alpha_{ji} = m_{ji} e^{s_{ji}} / (e^{s_{ii}} + \\sum_k m_{ki} e^{s_{ki}})`, i.e. the
    softmax of ``s + log m``: an edge with ``m = 0`` gets exactly zero attention and takes
    no share of the normaliser. ``logits``: ``[E, H]`` (CSR order), ``self_logits``: ``[N, H]``,
    ``mask``: ``[E]`` clamped at zero. Returns ``([E, H], [N, H])``.
    """
    heads = logits.size(1)
    index = adj.dst.unsqueeze(-1).expand(-1, heads)
    peak = self_logits.detach().scatter_reduce(0, index, logits.detach(), "amax", include_self=True)
    p = torch.exp(logits - peak[adj.dst]) * mask.clamp_min(0.0).unsqueeze(-1)
    p_self = torch.exp(self_logits - peak)
    denom = adj.sum_by_target(p) + p_self
    return p / denom[adj.dst], p_self / denom


class GATConv(nn.Module):
    """Multi-head graph attention, ``[N, in] -> [N, heads * out]`` (concat) or ``[N, out]`` (mean).

    Self-loops are always present and unmasked; attention dropout is applied to the
    normalised coefficients.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        heads: int = 1,
        concat: bool = True,
        negative_slope: float = 0.2,
        attention_dropout: float = 0.0,
    ):
        super().__init__()
        self.heads, self.out_channels, self.concat = heads, out_channels, concat
        self.negative_slope, self.attention_dropout = negative_slope, attention_dropout
        self.lin = glorot_linear(in_channels, heads * out_channels)
        self.att_src = nn.Parameter(torch.empty(heads, out_channels))
        self.att_dst = nn.Parameter(torch.empty(heads, out_channels))
        nn.init.xavier_uniform_(self.att_src)
        nn.init.xavier_uniform_(self.att_dst)
        width = heads * out_channels if concat else out_channels
        self.bias = nn.Parameter(torch.zeros(width))
        self.propagation_width = heads * out_channels

    def forward(self, x: Tensor, edge_index: Tensor | Adjacency, edge_weight: Tensor | None = None) -> Tensor:
        adj = as_adjacency(edge_index, x.size(0))
        h = self.lin(x).view(-1, self.heads, self.out_channels)
        score_src = (h * self.att_src).sum(-1)
        score_dst = (h * self.att_dst).sum(-1)
        logits = F.leaky_relu(score_src[adj.src] + score_dst[adj.dst], self.negative_slope)
        self_logits = F.leaky_relu(score_src + score_dst, self.negative_slope)
        alpha, alpha_self = masked_attention(adj, logits, self_logits, sorted_weight(adj, edge_weight, h))
        alpha = dropout(alpha, self.attention_dropout, self.training)
        alpha_self = dropout(alpha_self, self.attention_dropout, self.training)
        out = torch.stack(
            [adj.matmul(alpha[:, k].contiguous(), h[:, k].contiguous()) for k in range(self.heads)], dim=1
        )
        out = out + alpha_self.unsqueeze(-1) * h
        out = out.flatten(1) if self.concat else out.mean(1)
        return out + self.bias


class GAT(MessagePassingStack):
    """Two-or-more-layer GAT: hidden layers with ``heads`` concatenated heads and ELU, a
    one-head output layer; dropout on inputs, hidden features and attention (UGS: 8 x 512, 0.6)."""

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        heads: int = 8,
        dropout: float = 0.6,
        attention_dropout: float = 0.6,
    ):
        convs: list[nn.Module] = []
        width = in_channels
        for _ in range(num_layers - 1):
            convs.append(GATConv(width, hidden_channels, heads, True, attention_dropout=attention_dropout))
            width = heads * hidden_channels
        convs.append(GATConv(width, out_channels, 1, False, attention_dropout=attention_dropout))
        super().__init__(convs, dropout, input_dropout=dropout, act=F.elu)
