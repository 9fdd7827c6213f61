"""Connectivity views: a mask seen as the adjacency of a bipartite (or node) graph.

A layer's weight mask connects its inputs to its outputs; a *cell* of the view is one
input–output connection, kept when any weight of its block survives:

* ``"auto"`` – a Linear weight ``[out, in]`` as is (blocks of one weight); a conv weight
  ``[out, in, kh, kw]`` reduced over the kernel (a block is one ``kh × kw`` kernel);
* ``"entries"`` – every weight its own cell (``[out, in · kh · kw]`` for a conv);
* ``"heads_out:H"`` – a query/key/value projection ``[H · d, in]`` per head: cell ``(h, i)``
  is the block of rows of head ``h`` at input ``i``;
* ``"heads_in:H"`` – an attention output projection ``[out, H · d]``: cell ``(o, h)``.

:func:`cell_positions` gives, for every cell, the flat positions of its block's weights, so
reading and writing a view is indexing (no per-cell loops). The graph mask's view is the
sub-adjacency over a node subset: :func:`subgraph_units` lists the prunable edges inside it.
"""
from __future__ import annotations

import torch
from torch import Tensor


def cell_positions(shape: tuple[int, ...] | torch.Size, view: str = "auto") -> Tensor:
    """Flat weight positions per cell, ``[rows, cols, block]`` (``int64``), for a weight of ``shape``."""
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ValueError(f"a connectivity view needs a weight with at least 2 dimensions, got shape {shape}")
    flat = torch.arange(torch.Size(shape).numel()).view(shape)
    kind, _, heads = view.partition(":")
    if kind == "auto":
        return flat.reshape(shape[0], shape[1], -1)
    if kind == "entries":
        return flat.reshape(shape[0], -1, 1)
    if kind not in ("heads_out", "heads_in") or not heads.isdigit() or int(heads) < 1:
        raise ValueError(f"unknown view {view!r}; use 'auto', 'entries', 'heads_out:H' or 'heads_in:H'")
    if len(shape) != 2:
        raise ValueError(f"view {view!r} needs a Linear weight [out, in], got shape {shape}")
    h = int(heads)
    grouped = shape[0] if kind == "heads_out" else shape[1]
    if grouped % h:
        raise ValueError(f"view {view!r}: {grouped} is not divisible into {h} heads (weight shape {shape})")
    if kind == "heads_out":
        return flat.view(h, grouped // h, shape[1]).permute(0, 2, 1)
    return flat.view(shape[0], h, grouped // h)


def connectivity(mask: Tensor, view: str = "auto") -> Tensor:
    """The boolean adjacency ``[rows, cols]`` of a weight mask: a cell is kept when any weight of
    its block is."""
    positions = cell_positions(mask.shape, view).to(mask.device)
    return mask.reshape(-1).to(torch.bool)[positions].any(-1)


def subgraph_units(edge_index: Tensor, edge_unit: Tensor, num_units: int, nodes: Tensor, num_nodes: int) -> Tensor:
    """Sorted ids of the prunable units (undirected edges by default) with both ends in ``nodes``:
    the graph mask's view over a node subset. ``edge_unit``: unit id per ``edge_index`` column
    (``num_units`` marks unprunable self-loops), as in :class:`~graphlottery.MaskedGraph`."""
    inside = torch.zeros(num_nodes, dtype=torch.bool, device=edge_index.device)
    inside[nodes.to(edge_index.device)] = True
    both = inside[edge_index[0]] & inside[edge_index[1]] & (edge_unit < num_units)
    return torch.unique(edge_unit[both]).cpu()
