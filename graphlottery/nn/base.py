"""Shared pieces of the GNNs: sparse-aware dropout and a stack of message-passing layers."""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from graphlottery.sparse import Adjacency, as_adjacency, csr_linear, keep_entries, with_values


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
    return x * _keep_mask(x, p).mul_(1.0 / (1.0 - p))


def _keep_mask(x: Tensor, p: float) -> Tensor:
    """The dropout keep-mask of ``x`` as 0/1 in ``x``'s dtype (written by the comparison itself:
    casting a bool mask, or multiplying by one, is several times slower on CPU)."""
    keep = torch.empty_like(x, memory_format=torch.contiguous_format)
    return torch.ge(_random_bits(x.shape, p), _threshold(p), out=keep)


def _levels(p: float) -> tuple[torch.dtype, int]:
    return (torch.int8, 256) if float(p * 256).is_integer() else (torch.int16, 65536)


def _threshold(p: float) -> int:
    """An entry is kept where its random bits (see :func:`_random_bits`) are ``>=`` this."""
    levels = _levels(p)[1]
    return round(p * levels) - levels // 2


def _random_bits(shape: torch.Size, p: float) -> Tensor:
    """Uniform random integers of :func:`_levels`' width, one per entry of ``shape`` (CPU)."""
    dtype = _levels(p)[0]
    n, per_word = shape.numel(), 8 // dtype.itemsize
    bits = torch.empty((n + per_word - 1) // per_word, dtype=torch.int64).random_(-(2**63), 2**63 - 1)
    return bits.view(dtype)[:n].view(shape)


def act_dropout(x: Tensor, act: Callable[[Tensor], Tensor], p: float, training: bool) -> Tensor:
    """``dropout(act(x), p, training)``; for ``F.elu`` and ``F.relu`` on CPU one autograd op with
    the same random draws and the same output, products in place and a backward of two passes
    over ``x`` (the hidden layer of a wide GAT is ``[N, 4096]``: every pass costs milliseconds)."""
    fused = {F.elu: _EluDropout, F.relu: _ReluDropout}.get(act)
    if fused is None or p == 0.0 or not training or x.device.type != "cpu" or p >= 1.0 or x.dim() == 0:
        return dropout(act(x), p, training)
    return fused.apply(x, _keep_mask(x, p), 1.0 / (1.0 - p))


class _ReluDropout(torch.autograd.Function):
    """``relu(x) * keep * s``; the gradient passes (times ``s``) where the output is positive."""

    @staticmethod
    def forward(ctx, x: Tensor, keep: Tensor, scale: float) -> Tensor:
        out = torch.relu(x).mul_(keep.mul_(scale))  # relu(x) * (keep * s), as dropout(relu(x))
        ctx.scale = scale
        ctx.save_for_backward(out)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        (out,) = ctx.saved_tensors
        return torch.ops.aten.threshold_backward(grad, out, 0.0).mul_(ctx.scale), None, None


class _EluDropout(torch.autograd.Function):
    """``s * elu(x) * keep`` (``s = 1 / (1 - p)``, ``keep``: 0/1): an ELU of scale ``s``, whose
    derivative is ``s`` where the output is positive and ``out + s`` elsewhere."""

    @staticmethod
    def forward(ctx, x: Tensor, keep: Tensor, scale: float) -> Tensor:
        out = torch.ops.aten.elu(x, 1.0, scale, 1.0).mul_(keep)
        ctx.scale = scale
        ctx.save_for_backward(out, keep)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        out, keep = ctx.saved_tensors
        return torch.ops.aten.elu_backward(grad, 1.0, ctx.scale, 1.0, True, out).mul_(keep), None, None


def feature_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """:func:`dropout` that also works on sparse CSR features (drops stored values only)."""
    if p == 0.0 or not training:
        return x
    if x.layout == torch.sparse_csr:
        values = x.values()
        if x.device.type != "cpu" or p >= 1.0 or values.requires_grad:
            return with_values(x, dropout(values, p, training))
        keep = _keep_mask(values, p)  # the draws of dropout(values)
        return keep_entries(x, values * keep.mul(1.0 / (1.0 - p)), keep != 0)  # dropped entries not stored
    return dropout(x, p, training)


class Linear(nn.Linear):
    """``nn.Linear`` that also accepts sparse CSR input (see :func:`~graphlottery.sparse.csr_linear`).

    ``lin(x, head_map)`` also returns per-head linear maps of the output, as ``[N, S * H]``
    (column ``s * H + k``): with ``y = lin(x)`` viewed as ``[N, H, C]`` and ``head_map``
    ``[H, S, C]``, ``sum_c y[n, k, c] * head_map[k, s, c]``. It is computed from ``x`` as
    ``x @ M^T`` with ``M[s, k] = head_map[k, s] @ W_k`` (``[S * H, in]``), which reads ``x``
    instead of the wider ``y`` and has a weight gradient in ``in`` columns (GAT's attention
    scores on sparse or narrow input features). Inside ``forward``, so weight masks apply.
    """

    def forward(self, x: Tensor, head_map: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        sparse = x.layout == torch.sparse_csr
        if sparse:
            out = csr_linear(x, self.weight)
            out = out if self.bias is None else out + self.bias
        else:
            out = super().forward(x)
        if head_map is None:
            return out
        heads, maps, width = head_map.shape
        m = torch.bmm(head_map, self.weight.reshape(heads, width, -1)).transpose(0, 1).reshape(maps * heads, -1)
        mapped = csr_linear(x, m) if sparse else F.linear(x, m)
        if self.bias is not None:
            mapped = mapped + torch.bmm(head_map, self.bias.view(heads, width, 1)).transpose(0, 1).reshape(-1)
        return out, mapped


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
                x = act_dropout(x, self.act, self.dropout, self.training)
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
