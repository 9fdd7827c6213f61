"""Graph attention layer in which a pruned edge is absent from the softmax."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

from graphlottery.nn.base import MessagePassingStack, dropout, glorot_linear
from graphlottery.sparse import Adjacency, as_adjacency


def masked_attention(adj: Adjacency, logits: Tensor, mask: Tensor) -> Tensor:
    """Softmax of ``logits`` over each node's incoming edges, weighted by the edge mask.

    :math:`\\alpha_{ji} = m_{ji} e^{s_{ji}} / \\sum_k m_{ki} e^{s_{ki}}`, i.e. the softmax of
    ``s + log m``: an edge with ``m = 0`` gets exactly zero attention and takes no share of the
    normaliser. ``adj`` must give every node an edge (e.g. its self-loop) so the normaliser is
    positive. ``logits``: ``[E, H]`` and ``mask``: ``[E]`` (clamped at zero), both in CSR order.
    """
    index = adj.dst.unsqueeze(-1).expand_as(logits)
    mask = mask.clamp_min(0.0).unsqueeze(-1)
    kept_logits = logits.detach().masked_fill(mask == 0, float("-inf"))  # a pruned edge never sets the peak
    peak = logits.new_full((adj.num_nodes, logits.size(1)), float("-inf"))
    peak = peak.scatter_reduce(0, index, kept_logits, "amax", include_self=True)
    p = torch.exp((logits - peak[adj.dst]).clamp_max(0.0)) * mask  # > 0 only on pruned edges
    return p / adj.sum_by_target(p)[adj.dst]


class GATConv(MessagePassing):
    """Multi-head graph attention, ``[N, in] -> [N, heads * out]`` (concat) or ``[N, out]`` (mean).

    Self-loops are always present and unmasked; attention dropout is applied to the
    normalised coefficients. All heads propagate in one sparse product over
    :meth:`~graphlottery.sparse.Adjacency.multi_head`.
    """

    takes_edge_mask = True  # an edge mask reaches it as edge_weight (graphlottery.edge_hooks)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        heads: int = 1,
        concat: bool = True,
        negative_slope: float = 0.2,
        attention_dropout: float = 0.0,
    ):
        super().__init__(aggr=None)  # a MessagePassing for PyG's Explainer; propagation is its own
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
        loops = adj.with_self_loops()
        n, heads, width = x.size(0), self.heads, self.out_channels
        if x.layout == torch.sparse_csr or x.size(1) < heads * width:
            # the scores <h_k, a_k> = x (a_k W_k)^T from x: narrower than h, no pass over h
            h, scores = self.lin(x, torch.stack([self.att_src, self.att_dst], 1))  # [N, 2H]
        else:
            h = self.lin(x)
            # both attention scores in one GEMM: h [N, H*C] @ block-diagonal [H*C, 2H]
            eye = torch.eye(heads, dtype=h.dtype, device=h.device)
            att = torch.cat([self.att_src, self.att_dst], 0)  # [2H, C]
            blocks = (att.unsqueeze(-1) * torch.cat([eye, eye], 0).unsqueeze(1)).permute(2, 1, 0)  # [H, C, 2H]
            scores = h @ blocks.reshape(-1, 2 * heads)
        score_src, score_dst = scores.split(heads, dim=1)
        logits = F.leaky_relu(score_src[loops.src] + score_dst[loops.dst], self.negative_slope)
        mask = adj.loop_weights(edge_weight, h)
        alpha = dropout(masked_attention(loops, logits, mask), self.attention_dropout, self.training)
        multi = loops.multi_head(heads)
        alpha = multi.sort(alpha.reshape(-1))
        if self.concat:  # the bias added in place by the product ([H, C] per node)
            return multi.matmul(alpha, h.reshape(n * heads, width), self.bias.view(heads, width)).view(n, -1)
        return multi.matmul(alpha, h.reshape(n * heads, width)).view(n, heads, -1).mean(1) + self.bias


class GAT(MessagePassingStack):
    """Two-or-more-layer GAT: hidden layers with ``heads`` concatenated heads and ELU, a
    one-head output layer; dropout on inputs, hidden features and attention (UGS: 8 x 512, 0.6)."""

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        num_layers: int,
        out_channels: int,
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
