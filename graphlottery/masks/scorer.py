"""Inductive edge-mask scores: one small network scores every edge from its endpoints' features.

UGS's graph mask is one free score per edge. On a union of graphs (graph classification) the
scores of the training graphs' edges then fit those graphs' labels one by one, while the edges
of validation and test graphs get no gradient: the search memorises the training graphs and the
pruned training graphs no longer look like the test graphs. A scorer shared by all edges (as in
ICPG's edge-importance predictor) can only learn which *kinds* of edges matter, so its scores
rank the edges of unseen graphs by the same rule. What it reads per node is the node's features
and, through :func:`context_features`, its neighbourhood's: with one-hot atom types alone an
edge has only a few dozen kinds.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


def unit_endpoints(edge_index: Tensor, edge_unit: Tensor, num_units: int) -> Tensor:
    """One ``(u, v)`` column per prunable unit, ``[2, num_units]``: the last column of
    ``edge_index`` with that unit id (self-loops, id ``num_units``, are left out)."""
    prunable = edge_unit < num_units
    columns = torch.arange(edge_unit.numel(), device=edge_unit.device)[prunable]
    last = torch.full((num_units,), -1, dtype=torch.long, device=edge_unit.device)
    last.scatter_reduce_(0, edge_unit[prunable], columns, "amax")
    if num_units and bool((last < 0).any()):
        raise ValueError("edge_unit leaves some units without an edge")
    return edge_index[:, last]


def dense_float(x: Tensor) -> Tensor:
    """``x`` as a dense float tensor (sparse layouts densified)."""
    return (x.to_dense() if x.layout != torch.strided else x).float()


def context_features(x: Tensor, edge_index: Tensor, hops: int) -> Tensor:
    r"""Node features with their neighbourhood's, for an :class:`EdgeScorer` to read:

    .. math::
        [\,X \,\|\, \bar A X \,\|\, \dots \,\|\, \bar A^{k} X\,], \qquad
        (\bar A X)_v = \frac{1}{\max(1, d_v)} \sum_{u \to v} x_u,

    the mean over in-neighbours (PyG stores an undirected edge both ways, so: over neighbours)
    repeated ``hops`` (``k``) times on the full, unpruned graph, so an edge's score depends on the
    ``k``-hop environment of its endpoints (an atom's neighbours, not only its type) and not on
    the pruning so far. Sparse products: O(k·E·F) time, O(E + k·N·F) memory.

    Shapes: ``x [N, F]`` (dense or sparse), ``edge_index [2, E]`` -> ``[N, (hops + 1) · F]``.
    """
    if hops < 0:
        raise ValueError(f"hops must be >= 0, got {hops}")
    x = dense_float(x)
    src, dst = edge_index
    degree = torch.bincount(dst, minlength=x.size(0)).clamp(min=1).to(x.dtype)
    mean = torch.sparse_coo_tensor(torch.stack([dst, src]), 1.0 / degree[dst], (x.size(0), x.size(0)))
    features, h = [x], x
    for _ in range(hops):
        h = torch.sparse.mm(mean, h)
        features.append(h)
    return torch.cat(features, dim=1)


def principal_components(x: Tensor, dim: int) -> Tensor:
    r"""The rows of ``x`` on their first ``dim`` principal axes, :math:`(X - \bar x)\,V_{:, :\mathrm{dim}}`,
    so an :class:`EdgeScorer` on wide features (Cora's 2-hop context: 4,299 columns) reads a
    ``dim``-wide summary and its per-edge cost no longer grows with the feature width. A rotation
    and a truncation, not a whitening: the scorer's :math:`x_u + x_v` term sees the top-``dim``
    subspace of the original features at their own scale. Exact and free of random numbers: an
    eigendecomposition of the smaller of the ``F x F`` covariance and the ``N x N`` Gram matrix
    (O(N·F·min(N, F)) time), each axis's sign fixed by its largest entry. Every row counts, so on a
    union of graphs the axes are fitted on held-out graphs' features too (unsupervised). Features
    no wider than ``dim`` are returned unprojected; with fewer than ``dim`` rows, the columns past
    the ``N - 1`` informative axes are zero up to rounding.

    Shapes: ``x [N, F]`` (dense or sparse, any dtype) -> ``[N, min(F, dim)]`` float.
    """
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    x = dense_float(x)
    if x.size(1) <= dim:
        return x
    centred = x - x.mean(0)
    rank = min(dim, x.size(0))
    if x.size(1) <= x.size(0):  # covariance: eigenvectors are the axes
        _, vectors = torch.linalg.eigh(centred.t() @ centred)
        axes = vectors[:, -rank:].flip(1)
        out = centred @ (axes * _signs(axes))
    else:  # Gram: eigenvectors are the projected rows up to the singular values
        values, vectors = torch.linalg.eigh(centred @ centred.t())
        rows = vectors[:, -rank:].flip(1)
        out = rows * _signs(rows) * values[-rank:].flip(0).clamp(min=0).sqrt()
    return out if rank == dim else nn.functional.pad(out, (0, dim - rank))


def _signs(vectors: Tensor) -> Tensor:
    """``±1`` per column making each column's largest-magnitude entry positive (``[1, k]``)."""
    peak = vectors.gather(0, vectors.abs().argmax(0, keepdim=True))
    return torch.where(peak < 0, -1.0, 1.0).to(vectors.dtype)


class EdgeScorer(nn.Module):
    """Edge-mask score from the features of an edge's endpoints, the same function for every
    graph:

    .. math::
        s_{uv} = 2\\,\\sigma\\big(\\mathrm{MLP}([\\,x_u + x_v \\,\\|\\, x_u \\odot x_v\\,])\\big) \\in (0, 2),

    symmetric in ``u`` and ``v`` (both directions of an undirected edge get one score) and
    positive, so a message is only ever scaled down or up and pruning the lowest scores removes
    the least useful edges. The last layer starts at zero, so every score starts at 1, as UGS's
    free mask does.

    Args:
        in_channels: node feature width ``F``.
        hidden: width of the hidden layer.

    Shapes: ``forward(x [N, F], pairs [2, P]) -> [P]``.
    """

    def __init__(self, in_channels: int, hidden: int = 64):
        super().__init__()
        if in_channels < 1 or hidden < 1:
            raise ValueError(f"in_channels and hidden must be >= 1, got {in_channels} and {hidden}")
        self.mlp = nn.Sequential(nn.Linear(2 * in_channels, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.mlp[0].reset_parameters()
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    def forward(self, x: Tensor, pairs: Tensor) -> Tensor:
        if x.dim() != 2 or x.size(1) * 2 != self.mlp[0].in_features:
            raise ValueError(f"EdgeScorer expects x of shape [N, {self.mlp[0].in_features // 2}], "
                             f"got {tuple(x.shape)}")
        u, v = x[pairs[0]], x[pairs[1]]
        return 2.0 * torch.sigmoid(self.mlp(torch.cat([u + v, u * v], dim=-1)).view(-1))
