"""Attribute masking (GraphCL): hide a ``ratio`` of every graph's node features."""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from graphlottery.contrastive.augment.sampling import (
    bernoulli,
    check_generator,
    check_ratio,
    num_to_remove,
    randn,
    sample_exact,
)
from graphlottery.contrastive.augment.view import Graphs, graphs_of, make_view

MODES = ("rows", "columns", "entries")
FILLS = ("zero", "mean", "noise")
NOISE_MEAN, NOISE_STD = 0.5, 0.5  # GraphCL's unsupervised code: N(0.5, 0.5)


def feature_mask(data: Data, ratio: float = 0.2, mode: str = "rows", exact: bool = True,
                 generator: torch.Generator | None = None) -> Tensor:
    """Boolean ``[N, F]``, ``True`` for the entries of ``x`` to mask.

    ``mode="rows"`` masks whole nodes (GraphCL): ``int(ratio * n_g)`` rows of graph ``g``;
    ``"columns"`` masks whole features per graph: ``int(ratio * F)`` columns of every graph;
    ``"entries"`` masks single entries: ``int(ratio * n_g * F)`` of graph ``g``. With
    ``exact=False`` every row / column / entry is masked with probability ``ratio`` instead.
    """
    _check_choice(mode, MODES, "mode")
    return _feature_mask(graphs_of(data), _features(data), check_ratio(ratio), mode, exact,
                         check_generator(generator))


def _check_choice(value: str, choices: tuple[str, ...], name: str) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def _features(data: Data) -> Tensor:
    x = data.get("x")
    if x is None:
        raise ValueError(
            "attribute masking needs node features x, but the data has none; give featureless graphs "
            "features first, e.g. graphlottery.data.load_tu(name, featureless='constant') or "
            "featureless='degree' (or the graphlottery.data.NodeFeatures transform)"
        )
    if not isinstance(x, Tensor) or x.dim() not in (1, 2):
        raise ValueError(f"x must be a tensor of shape [N] or [N, F], got {getattr(x, 'shape', type(x))}")
    return x


def _feature_mask(graphs: Graphs, x: Tensor, ratio: float, mode: str, exact: bool,
                  generator: torch.Generator | None) -> Tensor:
    num_nodes, num_features = x.size(0), (x.size(1) if x.dim() == 2 else 1)
    num_graphs, device = graphs.num_graphs, graphs.batch.device
    if mode == "rows":
        if exact:
            rows = sample_exact(graphs.batch, num_to_remove(graphs.counts, ratio), generator)
        else:
            rows = bernoulli(num_nodes, ratio, generator, device)
        return rows[:, None].expand(num_nodes, num_features)
    if mode == "columns":
        if exact:
            group = torch.arange(num_graphs, device=device).repeat_interleave(num_features)
            k = num_to_remove(torch.full((num_graphs,), num_features, device=device), ratio)
            columns = sample_exact(group, k, generator)
        else:
            columns = bernoulli(num_graphs * num_features, ratio, generator, device)
        return columns.view(num_graphs, num_features)[graphs.batch]
    if exact:
        group = graphs.batch[:, None].expand(num_nodes, num_features).reshape(-1)
        entries = sample_exact(group, num_to_remove(graphs.counts * num_features, ratio), generator)
    else:
        entries = bernoulli(num_nodes * num_features, ratio, generator, device)
    return entries.view(num_nodes, num_features)


def fill_masked(x: Tensor, mask: Tensor, fill: str = "zero", batch: Tensor | None = None,
                generator: torch.Generator | None = None) -> Tensor:
    """A copy of ``x`` (``[N, F]``) whose ``mask``-ed entries hold ``fill``: ``"zero"``, ``"mean"``
    (the mean feature vector of the node's graph, from ``batch``; GraphCL's token) or ``"noise"``
    (i.i.d. ``N(0.5, 0.5)``, GraphCL unsupervised)."""
    _check_choice(fill, FILLS, "fill")
    if fill == "zero":
        return x.masked_fill(mask, 0)
    if not x.is_floating_point():
        raise ValueError(f"fill={fill!r} needs floating-point features, got x of dtype {x.dtype}; use fill='zero'")
    if fill == "mean":
        batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device) if batch is None else batch
        num_graphs = int(batch.max()) + 1 if batch.numel() else 0
        sums = x.new_zeros((num_graphs, *x.shape[1:])).index_add_(0, batch, x)
        counts = torch.bincount(batch, minlength=num_graphs).clamp_min(1).to(x.dtype)
        token = (sums / counts.view(-1, *[1] * (x.dim() - 1)))[batch]
        return torch.where(mask, token, x)
    out = x.clone()
    out[mask] = NOISE_MEAN + NOISE_STD * randn(int(mask.sum()), generator, x.device, x.dtype)
    return out


class AttrMask(BaseTransform):
    """Mask a ``ratio`` of every graph's node features (nodes and edges all kept).

    Args:
        ratio: fraction to mask, in ``[0, 1]`` (GraphCL: 0.2).
        mode: ``"rows"`` (whole nodes, GraphCL), ``"columns"`` (whole features, per graph) or
            ``"entries"`` (single entries); see :func:`feature_mask`.
        fill: ``"zero"``, ``"mean"`` (the graph's mean feature vector, GraphCL semi-supervised and
            transfer) or ``"noise"`` (``N(0.5, 0.5)``, GraphCL unsupervised); see :func:`fill_masked`.
        exact: mask exactly ``int(ratio * count)`` per graph instead of each with probability ``ratio``.
        generator: random generator (``None``: torch's default on the data's device).

    The view has a new ``x`` and ``n_id = arange(N)``, ``e_id = arange(E)``. Featureless graphs
    (e.g. IMDB-BINARY) need features first: ``load_tu(name, featureless="constant" or "degree")``.
    """

    def __init__(self, ratio: float = 0.2, mode: str = "rows", fill: str = "zero", exact: bool = True,
                 generator: torch.Generator | None = None):
        _check_choice(mode, MODES, "mode")
        _check_choice(fill, FILLS, "fill")
        self.ratio, self.mode, self.fill, self.exact = check_ratio(ratio), mode, fill, bool(exact)
        self.generator = check_generator(generator)

    def forward(self, data: Data) -> Data:
        x = _features(data)
        graphs = graphs_of(data)
        mask = _feature_mask(graphs, x, self.ratio, self.mode, self.exact, self.generator)
        x2 = x.view(x.size(0), -1)
        masked = fill_masked(x2, mask, self.fill, graphs.batch, self.generator).view_as(x)
        return make_view(data, updates={"x": masked}, graphs=graphs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ratio={self.ratio}, mode={self.mode!r}, fill={self.fill!r}, exact={self.exact})"
