"""Structured masks from unstructured ones (Structure-LTH, Chen et al., ICML 2022).

Both transforms read a layer's mask as a matrix, one row per output channel or neuron
(``[out, in · k · k]`` for a conv), and return a mask of the same shape:

* :func:`refill` keeps whole channels: the rows with the highest importance become dense and all
  others empty, with as many rows as hold ``fill_rate`` times the mask's kept entries;
* :func:`regroup` keeps dense blocks: rows are chained by similarity into groups of
  ``group_size``, and each group keeps, for all its rows, the columns it uses most, as many as
  its rows kept on average, so the count stays about the same and every group is one dense block.
"""
from __future__ import annotations

import torch
from torch import Tensor


def _rows(mask: Tensor) -> Tensor:
    if mask.dim() < 2:
        raise ValueError(f"structured transforms need a mask with an output dimension and inputs, got shape "
                         f"{tuple(mask.shape)}")
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be boolean, got {mask.dtype}")
    return mask.reshape(mask.size(0), -1)


def refill(mask: Tensor, scores: Tensor | None = None, fill_rate: float = 1.0) -> Tensor:
    """Channel-wise refill: rank rows by ``Σ |score|`` over their kept entries (by their kept
    count without ``scores``) and make the best ``round(fill_rate · kept / row_size)`` rows
    (at least one, unless the mask is empty) dense, the rest empty."""
    rows = _rows(mask)
    if fill_rate <= 0:
        raise ValueError(f"fill_rate must be positive, got {fill_rate}")
    if scores is not None and scores.shape != mask.shape:
        raise ValueError(f"scores have shape {tuple(scores.shape)}, the mask {tuple(mask.shape)}")
    weight = rows.float() if scores is None else rows * scores.detach().reshape_as(rows).abs()
    importance = weight.sum(1)
    if not bool(rows.any()):
        return torch.zeros_like(mask)
    count = min(rows.size(0), max(1, round(fill_rate * int(rows.sum()) / rows.size(1))))
    keep = torch.zeros(rows.size(0), dtype=torch.bool, device=mask.device)
    keep[torch.argsort(importance, descending=True, stable=True)[:count]] = True
    return keep.view(-1, 1).expand_as(rows).reshape(mask.shape).clone()


def _chain(rows: Tensor) -> Tensor:
    """Row order that starts at the densest row and always moves to the most similar unvisited
    row (Hamming distance), so similar rows end up next to each other."""
    x = rows.float()
    distance = x.sum(1, keepdim=True) + x.sum(1) - 2.0 * (x @ x.t())  # [out, out]
    order = [int(torch.argmax(x.sum(1)))]
    visited = torch.zeros(rows.size(0), dtype=torch.bool, device=rows.device)
    visited[order[0]] = True
    for _ in range(rows.size(0) - 1):
        d = distance[order[-1]].masked_fill(visited, float("inf"))
        nxt = int(torch.argmin(d))
        order.append(nxt)
        visited[nxt] = True
    return torch.tensor(order, device=rows.device)


def regroup(mask: Tensor, group_size: int = 8) -> Tensor:
    """Block-wise regroup: chain rows by similarity, cut the chain into groups of ``group_size``
    rows, and give every row of a group the same ``round(kept in group / rows in group)`` columns,
    those most of the group's rows kept (ties: lower column first)."""
    rows = _rows(mask)
    if group_size < 1:
        raise ValueError(f"group_size must be a positive integer, got {group_size}")
    group = torch.empty(rows.size(0), dtype=torch.long, device=rows.device)
    group[_chain(rows)] = torch.arange(rows.size(0), device=rows.device) // group_size
    votes = torch.zeros(int(group.max()) + 1, rows.size(1), device=rows.device).index_add_(0, group, rows.float())
    width = torch.round(votes.sum(1) / torch.bincount(group))  # [groups], half to even as round()
    ranked = torch.argsort(votes, dim=1, descending=True, stable=True)  # ties: lower column first
    positions = torch.arange(rows.size(1), device=rows.device).expand_as(ranked)
    rank = torch.empty_like(ranked).scatter_(1, ranked, positions)  # rank of every column in its group
    return (rank < width.unsqueeze(1))[group].reshape(mask.shape)
