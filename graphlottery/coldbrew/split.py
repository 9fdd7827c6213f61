"""The strict-cold-start protocol as a mask over the graph: head, tail and isolated nodes by
degree, and an edge mask that removes every edge of the isolated nodes."""
from __future__ import annotations

import copy

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from graphlottery.graph import check_graph

MODES = ("fraction", "coldbrew_code")


def node_degree(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Number of distinct neighbours of each node (self-loops and duplicate edges ignored,
    either direction counted once), shape ``[N]``."""
    src, dst = edge_index
    keep = src != dst
    lo, hi = torch.minimum(src[keep], dst[keep]), torch.maximum(src[keep], dst[keep])
    pairs = torch.unique(lo * num_nodes + hi)
    ends = torch.cat([pairs // num_nodes, pairs % num_nodes])
    return torch.bincount(ends, minlength=num_nodes)


def _by_fraction(deg: Tensor, isolated: float, tail: float, head: float, seed: int):
    n = deg.numel()
    counts = [round(f * n) for f in (isolated, tail, head)]
    # ascending degree, ties broken by a seeded random order
    tiebreak = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    order = tiebreak[torch.argsort(deg[tiebreak], stable=True)]
    iso = order[: counts[0]]
    tail_idx = order[counts[0] : counts[0] + counts[1]]
    head_idx = order[n - counts[2] :] if counts[2] else order[:0]
    return iso, tail_idx, head_idx


def _median_chain(deg: Tensor, steps: int, keep_low: bool) -> Tensor:
    idx = torch.arange(deg.numel())
    for _ in range(steps):
        med = torch.quantile(deg[idx].double(), 0.5)
        idx = idx[deg[idx] <= med] if keep_low else idx[deg[idx] >= med]
    return idx


def _released_code(deg: Tensor):
    """The released Cold Brew code's split: degree counts the self-loop; "<= median" four times
    gives a low-degree set whose lower half (by degree) is isolated and upper half is the tail;
    ">= median" five times gives the head. Ties are kept, so the sets exceed 6.25% / 3.1%."""
    deg = deg + 1
    low = _median_chain(deg, 4, keep_low=True)
    low = low[torch.argsort(deg[low], stable=True)]
    half = low.numel() // 2
    return low[:half], low[half:], _median_chain(deg, 5, keep_low=False)


def cold_start_split(
    data: Data,
    isolated: float = 0.1,
    tail: float = 0.1,
    head: float = 0.1,
    mode: str = "fraction",
    seed: int = 0,
) -> Data:
    """A copy of ``data`` with boolean ``isolated_mask``, ``tail_mask``, ``head_mask`` (``[N]``)
    and ``cold_edge_mask`` (``[E]``, False on every edge that touches an isolated node).

    ``mode="fraction"``: the ``isolated`` fraction of lowest-degree nodes is isolated, the next
    ``tail`` fraction is the tail, the top ``head`` fraction the head (ties in random order from
    ``seed``; nodes without neighbours sort first, so they are always isolated when there is room).
    ``mode="coldbrew_code"`` reproduces the released code's median-chain split instead (the
    fractions are then ignored). ``edge_index`` itself is left whole: message passing applies
    ``cold_edge_mask`` as an edge mask, and the train/val/test masks are unchanged, so isolated
    evaluation nodes are evaluated without any of their edges.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    fractions = {"isolated": isolated, "tail": tail, "head": head}
    for name, value in fractions.items():
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{name} fraction must be in [0, 1], got {value}")
    if sum(fractions.values()) > 1.0 + 1e-9:
        raise ValueError(f"isolated + tail + head fractions must sum to at most 1, got {sum(fractions.values()):.3f}")
    check_graph(data)
    if data.edge_index.size(1) == 0:
        raise ValueError("the graph has no edges: there is no neighbourhood to take away")
    n = data.num_nodes
    deg = node_degree(data.edge_index.cpu(), n)
    if mode == "fraction":
        iso, tail_idx, head_idx = _by_fraction(deg, isolated, tail, head, seed)
    else:
        iso, tail_idx, head_idx = _released_code(deg)
    out = copy.copy(data)
    for key, idx in (("isolated_mask", iso), ("tail_mask", tail_idx), ("head_mask", head_idx)):
        mask = torch.zeros(n, dtype=torch.bool)
        mask[idx] = True
        out[key] = mask.to(data.edge_index.device)
    src, dst = data.edge_index
    out.cold_edge_mask = ~(out.isolated_mask[src] | out.isolated_mask[dst])
    return out


class ColdStartSplit(BaseTransform):
    """Transform form of :func:`cold_start_split` (defaults: 10% isolated, 10% tail, 10% head)."""

    def __init__(self, isolated: float = 0.1, tail: float = 0.1, head: float = 0.1, mode: str = "fraction",
                 seed: int = 0):
        self.isolated, self.tail, self.head, self.mode, self.seed = isolated, tail, head, mode, seed

    def forward(self, data: Data) -> Data:
        return cold_start_split(data, self.isolated, self.tail, self.head, self.mode, self.seed)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(isolated={self.isolated}, tail={self.tail}, head={self.head}, "
                f"mode={self.mode!r})")
