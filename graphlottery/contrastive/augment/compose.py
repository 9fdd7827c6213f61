"""Combining augmentations: ``Compose``, ``RandomChoice``, ``RandomApply`` and ``Identity``.

Every combinator returns a view whose ``n_id`` / ``e_id`` index the *original* input: the ids of
consecutive steps are chained, ``n_id = n_1[n_2]`` and ``e_id = e_1[e_2]`` (``-1`` stays ``-1``).
A step that records no ids (any other PyG transform) must keep the nodes / edges as they are.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.transforms import BaseTransform

from graphlottery.contrastive.augment.sampling import check_generator, check_ratio, rand
from graphlottery.contrastive.augment.view import ID_KEYS, graphs_of, make_view

Transform = Callable[[Data], Data]


class Identity(BaseTransform):
    """The unchanged graph as a view: ``n_id = arange(N)``, ``e_id = arange(E)``."""

    def forward(self, data: Data) -> Data:
        return make_view(data)


def _strip_ids(data: Data) -> Data:
    """A shallow copy of ``data`` without ``n_id`` / ``e_id`` (so a step's own ids can be told apart)."""
    if not any(key in data for key in ID_KEYS):
        return data
    out = copy.copy(data)
    for key in ID_KEYS:
        if key in out:
            del out[key]
    if isinstance(out, Batch):
        out._slice_dict = {k: v for k, v in out._slice_dict.items() if k not in ID_KEYS}
        out._inc_dict = {k: v for k, v in out._inc_dict.items() if k not in ID_KEYS}
    return out


def _step(transform: Transform, data: Data) -> tuple[Data, Tensor, Tensor]:
    """Apply one step; return its output and its ``n_id`` / ``e_id`` relative to ``data``."""
    out = transform(data)
    if not isinstance(out, Data):
        raise ValueError(f"{transform!r} returned {type(out).__name__}, expected a Data or Batch")
    n_id, e_id = out.get("n_id"), out.get("e_id")
    if n_id is None or e_id is None:
        device = graphs_of(data).batch.device
        if n_id is None:
            if out.num_nodes != data.num_nodes:
                raise ValueError(f"{transform!r} changed the number of nodes without recording n_id")
            n_id = torch.arange(data.num_nodes, device=device)
        if e_id is None:
            if out.num_edges != data.num_edges:
                raise ValueError(f"{transform!r} changed the number of edges without recording e_id")
            e_id = torch.arange(data.num_edges, device=device)
    return out, n_id, e_id


def _finish(out: Data, n_id: Tensor, e_id: Tensor) -> Data:
    """``out`` with the chained ids set (and registered in a ``Batch``'s bookkeeping)."""
    if out.get("n_id") is n_id and out.get("e_id") is e_id:
        return out
    out = copy.copy(out)
    out.n_id, out.e_id = n_id, e_id
    if isinstance(out, Batch):
        slices, incs = dict(out._slice_dict), dict(out._inc_dict)
        zeros = torch.zeros(out.num_graphs, dtype=torch.long)
        slices["n_id"], incs["n_id"] = graphs_of(out).ptr.cpu(), zeros
        edge_slices = slices.get("edge_index")
        slices["e_id"] = edge_slices if edge_slices is not None else torch.zeros(out.num_graphs + 1, dtype=torch.long)
        incs["e_id"] = zeros
        out._slice_dict, out._inc_dict = slices, incs
    return out


class Compose(BaseTransform):
    """Apply ``transforms`` one after the other; ``n_id`` / ``e_id`` index the original input."""

    def __init__(self, transforms: Sequence[Transform]):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise ValueError(f"every transform must be callable, got {t!r}")

    def forward(self, data: Data) -> Data:
        if not self.transforms:
            return make_view(data)
        current = data
        n_id = e_id = None
        for t in self.transforms:
            current, step_n, step_e = _step(t, _strip_ids(current))
            if n_id is None:
                n_id, e_id = step_n, step_e
            else:
                n_id = n_id[step_n]
                e_id = torch.where(step_e >= 0, e_id[step_e.clamp_min(0)], -1) if e_id.numel() else step_e
        return _finish(current, n_id, e_id)

    def __repr__(self) -> str:
        inner = ", ".join(repr(t) for t in self.transforms)
        return f"{type(self).__name__}([{inner}])"


class RandomChoice(BaseTransform):
    """Apply one of ``transforms``, drawn with probabilities ``probs`` (uniform by default) per call.

    ``probs`` (a float tensor ``[K]``, normalised when set) may be changed at any time, e.g. by
    :class:`~graphlottery.contrastive.augment.joao.JOAO`. On a ``Batch`` one transform is drawn for
    the whole batch; ``last`` holds the index of the latest draw.
    """

    def __init__(self, transforms: Sequence[Transform], probs: Sequence[float] | Tensor | None = None,
                 generator: torch.Generator | None = None):
        self.transforms = list(transforms)
        if not self.transforms:
            raise ValueError("RandomChoice needs at least one transform")
        self.probs = probs
        self.generator = check_generator(generator)
        self.last: int | None = None

    @property
    def probs(self) -> Tensor:
        return self._probs

    @probs.setter
    def probs(self, probs: Sequence[float] | Tensor | None) -> None:
        k = len(self.transforms)
        p = torch.full((k,), 1.0 / k) if probs is None else torch.as_tensor(probs, dtype=torch.float64).detach()
        p = p.cpu().to(torch.float64)
        if p.shape != (k,):
            raise ValueError(f"probs must have shape ({k},) (one per transform), got {tuple(p.shape)}")
        if not bool(torch.isfinite(p).all()) or bool((p < 0).any()) or float(p.sum()) <= 0:
            raise ValueError(f"probs must be finite, non-negative and not all zero, got {p.tolist()}")
        self._probs = p / p.sum()

    def sample(self) -> int:
        """Draw the index of a transform (inverse CDF of one uniform draw)."""
        u = rand(1, self.generator, torch.device("cpu"), torch.float64)
        return int(torch.searchsorted(torch.cumsum(self._probs, 0)[:-1], u, right=True))

    def forward(self, data: Data) -> Data:
        self.last = self.sample()
        return Compose([self.transforms[self.last]])(data)

    def __repr__(self) -> str:
        inner = ", ".join(repr(t) for t in self.transforms)
        probs = ", ".join(f"{p:.3g}" for p in self._probs.tolist())
        return f"{type(self).__name__}([{inner}], probs=[{probs}])"


class RandomApply(BaseTransform):
    """Apply ``transform`` with probability ``p``, else return the identity view."""

    def __init__(self, transform: Transform, p: float = 0.5, generator: torch.Generator | None = None):
        if not callable(transform):
            raise ValueError(f"transform must be callable, got {transform!r}")
        self.transform, self.p = transform, check_ratio(p, "p")
        self.generator = check_generator(generator)

    def forward(self, data: Data) -> Data:
        device = self.generator.device if self.generator is not None else torch.device("cpu")
        if float(rand(1, self.generator, device)) < self.p:
            return Compose([self.transform])(data)
        return make_view(data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.transform!r}, p={self.p})"

