"""Shared pieces of the GNNs: sparse-aware dropout and a stack of message-passing layers."""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphlottery.sparse import Adjacency, as_adjacency, csr_linear, with_values


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """``F.dropout`` with a faster mask on CPU.

    CPU Bernoulli sampling dominates a small GNN's epoch, so on CPU the keep-mask is drawn
    from 8 random bits per entry when ``256 p`` is whole (``p = 0.5``: exact), else 16
    (``P(keep) = 1 - p`` to within ``2^-16``).
    """
    if p == 0.0 or not training:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return F.dropout(x, p, training)
    n = x.numel()
    dtype, levels = (torch.int8, 256) if float(p * 256).is_integer() else (torch.int16, 65536)
    per_word = 8 // dtype.itemsize
    bits = torch.empty((n + per_word - 1) // per_word, dtype=torch.int64).random_(-(2**63), 2**63 - 1)
    keep = bits.view(dtype)[:n].view(x.shape) >= round(p * levels) - levels // 2
    return (x * keep.view(torch.uint8)).mul_(1.0 / (1.0 - p))


def feature_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """:func:`dropout` that also works on sparse CSR features (drops stored values only)."""
    if p == 0.0 or not training:
        return x
    if x.layout == torch.sparse_csr:
        return with_values(x, dropout(x.values(), p, training))
    return dropout(x, p, training)


class Linear(nn.Linear):
    """``nn.Linear`` that also accepts sparse CSR input (see :func:`~graphlottery.sparse.csr_linear`)."""

    def forward(self, x: Tensor) -> Tensor:
        if x.layout == torch.sparse_csr:
            out = csr_linear(x, self.weight)
            return out if self.bias is None else out + self.bias
        return super().forward(x)


def glorot_linear(in_channels: int, out_channels: int) -> Linear:
    """A bias-free :class:`Linear` with Glorot-uniform weights (the prunable part of a layer)."""
    lin = Linear(in_channels, out_channels, bias=False)
    nn.init.xavier_uniform_(lin.weight)
    return lin


class MessagePassingStack(nn.Module):
    """``convs[0] -> act -> dropout -> convs[1] -> ... -> convs[-1]``.

    Every conv is called as ``conv(x, adj, edge_weight)``; ``edge_weight`` (shape ``[E]``,
    in ``edge_index`` column order) is the soft or hard edge mask and may be ``None``.
    ``propagation_widths`` lists the feature width each layer propagates over the edges,
    which MACs accounting uses.
    """

    takes_edge_mask = True  # an edge mask reaches it as edge_weight (graphlottery.edge_hooks)

    def __init__(
        self,
        convs: list[nn.Module],
        dropout: float,
        input_dropout: float = 0.0,
        act: Callable[[Tensor], Tensor] = F.relu,
    ):
        super().__init__()
        self.convs = nn.ModuleList(convs)
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.act = act

    @property
    def propagation_widths(self) -> list[int]:
        return [conv.propagation_width for conv in self.convs]

    def forward(self, x: Tensor, edge_index: Tensor | Adjacency, edge_weight: Tensor | None = None) -> Tensor:
        adj = as_adjacency(edge_index, x.size(0))
        if not isinstance(edge_weight, tuple):  # a GCN passes its normalisation, explained already
            edge_weight = explained_weight(self.convs, edge_weight, adj.num_edges)
        x = feature_dropout(x, self.input_dropout, self.training)
        for i, conv in enumerate(self.convs):
            x = conv(x, adj, edge_weight)
            if i < len(self.convs) - 1:
                x = dropout(self.act(x), self.dropout, self.training)
        return x


def explained_weight(layers: nn.ModuleList, edge_weight: Tensor | None, num_edges: int) -> Tensor | None:
    """``edge_weight`` times the edge mask PyG's ``Explainer`` set on ``layers`` (one value per
    ``edge_index`` column, sigmoid-ed if the explainer asks), so an explanation of this library's
    models learns through the same edge semantics as UGS's masks; ``edge_weight`` when no
    explainer is active."""
    layer = layers[0]
    mask = getattr(layer, "_edge_mask", None)
    if not getattr(layer, "explain", False) or mask is None:
        return edge_weight
    if mask.numel() != num_edges:
        raise ValueError(f"the explainer's edge mask has {mask.numel()} values for {num_edges} edges")
    mask = mask.sigmoid() if layer._apply_sigmoid else mask
    return mask if edge_weight is None else edge_weight * mask


def sorted_weight(adj: Adjacency, edge_weight: Tensor | None, like: Tensor) -> Tensor:
    """Edge weights in CSR order, ones when ``edge_weight`` is ``None``."""
    if edge_weight is None:
        return torch.ones(adj.num_edges, dtype=like.dtype, device=like.device)
    return adj.sort(edge_weight).to(like.dtype)
