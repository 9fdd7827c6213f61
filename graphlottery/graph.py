"""The masked graph: a PyG ``Data`` plus a prunable mask over its edges.

Each column of ``edge_index`` belongs to a prunable *unit*. By default the two directions
of an undirected edge share one unit (they are kept or pruned together); with
``directed=True`` every column is its own unit, as in the original UGS code. Self-loops
already present in the data belong to no unit: they always keep weight 1 and never count
in the graph sparsity. Memory is O(E); nothing dense N x N is ever built.
"""
from __future__ import annotations

import copy
import hashlib

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from graphlottery.sparse import Adjacency, check_edge_index, mask_to_float


def check_graph(data: Data) -> None:
    """Raise a ``ValueError`` naming the problem unless ``data`` is a usable graph."""
    num_nodes = data.num_nodes
    if not num_nodes:
        raise ValueError("the graph is empty: it has no nodes")
    if data.edge_index is None:
        raise ValueError("the graph has no edge_index")
    check_edge_index(data.edge_index, num_nodes)
    x = data.x
    if x is not None:
        if x.size(0) != num_nodes:
            raise ValueError(f"x has {x.size(0)} rows but the graph has {num_nodes} nodes")
        if x.layout == torch.sparse_csr:  # e.g. one-hot node ids: check the stored values
            stored_row = torch._convert_indices_from_csr_to_coo(x.crow_indices(), x.col_indices())[0]
            bad = stored_row[~torch.isfinite(x.values())].unique()
        else:
            bad = (~torch.isfinite(x)).any(-1).nonzero().view(-1) if x.is_floating_point() else x.new_zeros(0)
        if bad.numel():
            raise ValueError(f"x holds NaN or inf values in {bad.numel()} rows, e.g. node {int(bad[0])}")


def fingerprint(edge_index: Tensor, num_nodes: int) -> str:
    """A short hash that identifies a graph's ``edge_index`` (to match tickets to graphs)."""
    digest = hashlib.sha256(str(num_nodes).encode())
    digest.update(edge_index.detach().cpu().to(torch.int64).contiguous().numpy())  # hashed in place, no copy
    return digest.hexdigest()[:16]


def edge_units(edge_index: Tensor, num_nodes: int, directed: bool) -> tuple[Tensor, int]:
    """Unit id of each edge (``[E]``) and the number of units; self-loops get id ``num_units``.

    Tied mode numbers the undirected pairs ``min * N + max`` in sorted order; the temporary
    memory is a few ``[E]`` integer tensors (graphs with tens of millions of edges)."""
    src, dst = edge_index.long()
    loop = src == dst
    has_loops = bool(loop.any())
    if directed:
        ids = torch.arange(src.numel() - int(loop.sum()), device=src.device)
    else:
        key = torch.minimum(src, dst).mul_(num_nodes).add_(torch.maximum(src, dst))
        ids = torch.unique(key[~loop] if has_loops else key, return_inverse=True)[1]
        del key
    num_units = int(ids.max()) + 1 if ids.numel() else 0
    if not has_loops:
        return ids, num_units
    unit = torch.full_like(src, num_units)
    unit[~loop] = ids
    return unit, num_units


class MaskedGraph(nn.Module):
    """A graph with a hard (boolean) and optionally soft (trainable) mask over its edges.

    Args:
        data: a PyG ``Data`` with ``edge_index`` (and usually ``x``); validated here.
        directed: one prunable unit per ``edge_index`` column instead of per undirected edge.

    Views:
        :meth:`edge_weight` – the soft view, one value per column of ``edge_index`` (``[E]``);
        :meth:`compact` – the hard view, a ``Data`` holding only the kept edges.
    """

    def __init__(self, data: Data, directed: bool = False):
        super().__init__()
        check_graph(data)
        self.data = data
        self.directed = directed
        self.num_nodes = int(data.num_nodes)
        unit, self.num_units = edge_units(data.edge_index, self.num_nodes, directed)
        self.register_buffer("edge_unit", unit)
        self.register_buffer("keep", torch.ones(self.num_units, dtype=torch.bool, device=unit.device))
        self.register_parameter("score", None)
        self._adjacency: Adjacency | None = None
        self.fingerprint = fingerprint(data.edge_index, self.num_nodes)

    @property
    def adjacency(self) -> Adjacency:
        """CSR structure of all edges (built once, cached)."""
        if self._adjacency is None or self._adjacency.device != self.edge_unit.device:
            self._adjacency = Adjacency(self.data.edge_index.to(self.edge_unit.device), self.num_nodes)
        return self._adjacency

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        self.data = copy.copy(self.data).apply(fn)  # never move the caller's Data in place
        return self

    # --- masks --------------------------------------------------------------------------
    def make_soft(self, noise: float = 1e-5, generator: torch.Generator | None = None) -> nn.Parameter:
        """Create the trainable score ``keep * (1 + U(-noise, noise))`` and return it."""
        u = torch.rand(self.num_units, generator=generator).to(self.keep.device)
        self.score = nn.Parameter(mask_to_float(self.keep) * (1.0 + noise * (2.0 * u - 1.0)))
        return self.score

    def make_hard(self) -> None:
        """Drop the soft score; the mask becomes the boolean ``keep`` again."""
        self.score = None

    def unit_weight(self) -> Tensor:
        """Mask value per unit: ``score * keep`` when soft, else ``keep`` as float."""
        keep = mask_to_float(self.keep)
        return keep if self.score is None else self.score * keep

    def edge_weight(self, edge_unit: Tensor | None = None) -> Tensor:
        """Soft view: the mask value of every column of ``edge_index`` (self-loops: 1), ``[E]``;
        or of the edges whose unit ids are given (e.g. those of :meth:`kept_edges`)."""
        if edge_unit is not None and bool((edge_unit < self.num_units).all()):
            keep = mask_to_float(self.keep[edge_unit])  # no self-loops: gather only these units
            return keep if self.score is None else self.score[edge_unit] * keep
        values = torch.cat([self.unit_weight(), self.keep.new_ones(1, dtype=torch.float)])
        return values[self.edge_unit if edge_unit is None else edge_unit]

    def kept_edges(self) -> tuple[Tensor, Tensor]:
        """``edge_index`` of the kept edges (``[2, E_kept]``) and their unit ids (``[E_kept]``)."""
        mask = self.edge_mask()
        return self.data.edge_index[:, mask], self.edge_unit[mask]

    def edge_mask(self, edge_unit: Tensor | None = None) -> Tensor:
        """Boolean ``[E]``: which columns of ``edge_index`` are kept (self-loops always); or which
        of the edges whose unit ids are given."""
        return torch.cat([self.keep, self.keep.new_ones(1)])[self.edge_unit if edge_unit is None else edge_unit]

    def set_edge_mask(self, edge_mask: Tensor) -> None:
        """Set the hard mask from a boolean ``[E]`` over ``edge_index`` columns."""
        if edge_mask.dtype != torch.bool:
            raise ValueError(f"edge mask must be boolean, got dtype {edge_mask.dtype}")
        if edge_mask.shape != self.edge_unit.shape:
            raise ValueError(
                f"edge mask has shape {tuple(edge_mask.shape)} but the graph has {self.edge_unit.numel()} edges"
            )
        edge_mask = edge_mask.to(self.keep.device, torch.bool)
        prunable = self.edge_unit < self.num_units
        units, values = self.edge_unit[prunable], edge_mask[prunable]
        keep = torch.ones(self.num_units, dtype=torch.bool, device=self.keep.device)
        keep[units[~values]] = False
        if not torch.equal(keep[units], values):
            raise ValueError("edge mask prunes one direction of an undirected edge; use directed=True for such masks")
        if bool((~edge_mask[~prunable]).any()):
            raise ValueError("edge mask prunes a self-loop; self-loops are never pruned")
        self.keep.copy_(keep)

    def set_keep(self, keep: Tensor) -> None:
        """Set the hard mask per unit (boolean ``[num_units]``)."""
        if keep.dtype != torch.bool:
            raise ValueError(f"unit mask must be boolean, got dtype {keep.dtype}")
        if keep.shape != self.keep.shape:
            raise ValueError(f"unit mask has shape {tuple(keep.shape)}, expected ({self.num_units},)")
        self.keep.copy_(keep.to(torch.bool))

    # --- views and accounting -------------------------------------------------------------
    def compact(self) -> Data:
        """Hard view: a shallow copy of ``data`` whose ``edge_index`` keeps only kept edges."""
        out = Data(**{k: v for k, v in self.data.items()})
        mask = self.edge_mask()
        for key, value in self.data.items():
            if key != "edge_index" and isinstance(value, Tensor) and self.data.is_edge_attr(key):
                out[key] = value[mask]
        out.edge_index = self.kept_edges()[0]
        return out

    @property
    def sparsity(self) -> float:
        """Fraction of prunable units (undirected edges by default) that are pruned."""
        return 0.0 if self.num_units == 0 else 1.0 - int(self.keep.sum()) / self.num_units

    @property
    def num_kept_edges(self) -> int:
        """Kept columns of ``edge_index`` (directed count, self-loops included)."""
        return int(self.edge_mask().sum())
