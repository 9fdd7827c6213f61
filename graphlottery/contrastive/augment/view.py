"""Turn node / edge masks into an augmented view of a ``Data`` or a ``Batch``.

A view is a new object of the input's class (the input is never modified; tensors that do not
change are shared). It records where everything came from:

* ``n_id`` (``[N_view]``): index into the input's nodes of every view node;
* ``e_id`` (``[E_view]``): index into the input's ``edge_index`` columns of every view edge,
  ``-1`` for an added edge.

Dropped nodes take their edges with them, the kept nodes are relabelled to ``0 .. N_view - 1``
in their original order, node-level attributes are indexed with ``n_id`` and edge-level ones with
``e_id`` (zeros for added edges). On a ``Batch`` the view stays a ``Batch`` with the same number
of graphs: ``batch``, ``ptr`` and the slice / increment bookkeeping behind ``to_data_list()`` are
rebuilt, graph-level attributes (``y``) are untouched, and the edges stay grouped by graph. In
``to_data_list()`` every graph keeps its ``n_id`` / ``e_id``, still indexing the input *batch*.
"""
from __future__ import annotations

import copy
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from graphlottery.sparse import check_edge_index

ID_KEYS = ("n_id", "e_id")
_SPECIAL = {"edge_index", "batch", "ptr", "num_nodes", *ID_KEYS}


class Graphs(NamedTuple):
    """How the nodes of a ``Data`` / ``Batch`` split into graphs (nodes of a graph are contiguous)."""

    batch: Tensor  # [N] graph of every node
    ptr: Tensor  # [B + 1] node offsets
    counts: Tensor  # [B] nodes per graph

    @property
    def num_graphs(self) -> int:
        return self.counts.numel()


def graphs_of(data: Data) -> Graphs:
    """The graphs of ``data``: one for a ``Data``, ``num_graphs`` for a ``Batch`` (or a ``Data``
    carrying a ``batch`` vector). Raises a ``ValueError`` naming the problem for a graph without
    nodes, node features with the wrong number of rows, ``edge_index`` entries out of range, or
    an edge joining two graphs of a batch."""
    graphs = _graphs_of(data)
    num_nodes = graphs.batch.numel()
    x = data.get("x")
    if isinstance(x, Tensor) and x.dim() > 0 and x.size(0) != num_nodes:
        raise ValueError(f"x has {x.size(0)} rows but the data has {num_nodes} nodes")
    edge_index = data.get("edge_index")
    if edge_index is not None:
        check_edge_index(edge_index, num_nodes)
        if graphs.num_graphs > 1:
            across = (graphs.batch[edge_index[0]] != graphs.batch[edge_index[1]]).nonzero().view(-1)
            if across.numel():
                raise ValueError(f"edge {int(across[0])} joins two graphs of the batch; an edge must stay in its graph")
    return graphs


def _graphs_of(data: Data) -> Graphs:
    if not isinstance(data, Data):
        raise TypeError(f"expected a torch_geometric Data or Batch, got {type(data).__name__}")
    num_nodes = data.num_nodes
    batch = data.get("batch")
    if isinstance(data, Batch) or batch is not None:
        if batch is None:
            raise ValueError("the Batch has no batch vector; build it with Batch.from_data_list or a DataLoader")
        device = batch.device
        num_graphs = data.num_graphs if isinstance(data, Batch) else (int(batch.max()) + 1 if batch.numel() else 0)
        ptr = data.get("ptr")
        if ptr is None or ptr.numel() != num_graphs + 1:
            if batch.numel() > 1 and not bool((batch[1:] >= batch[:-1]).all()):
                raise ValueError("the batch vector is not sorted: the nodes of every graph must be contiguous")
            ptr = torch.zeros(num_graphs + 1, dtype=torch.long, device=device)
            torch.cumsum(torch.bincount(batch, minlength=num_graphs), 0, out=ptr[1:])
        counts = ptr[1:] - ptr[:-1]
        if num_graphs == 0:
            raise ValueError("the batch holds no graphs")
        empty = (counts == 0).nonzero()
        if empty.numel():
            raise ValueError(f"graph {int(empty[0])} of the batch has no nodes; every graph needs at least one node")
        return Graphs(batch.long(), ptr.long(), counts.long())
    if not num_nodes:
        raise ValueError("the graph has no nodes")
    device = _device(data)
    return Graphs(torch.zeros(num_nodes, dtype=torch.long, device=device),
                  torch.tensor([0, num_nodes], device=device), torch.tensor([num_nodes], device=device))


def _device(data: Data) -> torch.device:
    for value in data.values():
        if isinstance(value, Tensor):
            return value.device
    return torch.device("cpu")


def _node_and_edge_keys(data: Data, num_graphs: int) -> tuple[list[str], list[str]]:
    """Node-level and edge-level tensor attributes (PyG's rules; an attribute with one row per
    graph is an edge attribute only if its name says so, so ``y`` is never mistaken for one)."""
    nodes, edges = [], []
    for key, value in data.items():
        if key in _SPECIAL or not isinstance(value, (Tensor, np.ndarray)) or value.ndim == 0:
            continue
        if data.is_node_attr(key):
            nodes.append(key)
        elif data.is_edge_attr(key):
            if value.shape[data.__cat_dim__(key, value)] != num_graphs or "edge" in key:
                edges.append(key)
    return nodes, edges


def _check_mask(mask: Tensor | None, size: int, what: str) -> None:
    if mask is None:
        return
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        raise ValueError(f"the {what} mask must be a boolean tensor, got {getattr(mask, 'dtype', type(mask))}")
    if mask.shape != (size,):
        raise ValueError(f"the {what} mask has shape {tuple(mask.shape)} but the graph has {size} {what}s")


def _take(value, dim: int, index: Tensor, num_added: int = 0):
    """``value`` indexed along ``dim`` by ``index``, then ``num_added`` zero slices appended."""
    if isinstance(value, np.ndarray):
        out = np.take(value, index.cpu().numpy(), axis=dim)
        if num_added:
            shape = list(out.shape)
            shape[dim] = num_added
            out = np.concatenate([out, np.zeros(shape, dtype=out.dtype)], axis=dim)
        return out
    out = value.index_select(dim, index.to(value.device))
    if num_added:
        shape = list(out.shape)
        shape[dim] = num_added
        out = torch.cat([out, out.new_zeros(shape)], dim)
    return out


def _ptr(counts: Tensor) -> Tensor:
    ptr = counts.new_zeros(counts.numel() + 1)
    torch.cumsum(counts, 0, out=ptr[1:])
    return ptr


def make_view(data: Data, node_mask: Tensor | None = None, edge_mask: Tensor | None = None,
              added_edges: Tensor | None = None, updates: dict[str, Tensor] | None = None,
              graphs: Graphs | None = None) -> Data:
    """The view of ``data`` that keeps the masked nodes and edges and adds new edges.

    Args:
        data: a ``Data`` or ``Batch`` (not modified).
        node_mask: boolean ``[N]``, nodes to keep (``None``: all).
        edge_mask: boolean ``[E]``, ``edge_index`` columns to keep (``None``: all); an edge with a
            dropped endpoint is dropped whatever its mask says.
        added_edges: ``[2, A]`` new edges in the input's node indices, each within one graph and
            between kept nodes; their edge attributes are zeros and their ``e_id`` is ``-1``.
        updates: replacement values for attributes of the input (e.g. a masked ``x``), applied
            before the view is cut out of it.
        graphs: ``graphs_of(data)`` when the caller has it already.

    Returns:
        A new object of ``data``'s class with ``n_id`` and ``e_id`` set (see the module docstring).
    """
    graphs = graphs_of(data) if graphs is None else graphs
    num_nodes, device = graphs.batch.numel(), graphs.batch.device
    edge_index = data.get("edge_index")
    num_edges = 0 if edge_index is None else edge_index.size(1)
    _check_mask(node_mask, num_nodes, "node")
    _check_mask(edge_mask, num_edges, "edge")
    if added_edges is not None and (added_edges.dim() != 2 or added_edges.size(0) != 2):
        raise ValueError(f"added_edges must have shape [2, A], got {tuple(added_edges.shape)}")
    out = copy.copy(data)
    for key, value in (updates or {}).items():
        out[key] = value

    nodes_change = node_mask is not None and not bool(node_mask.all())
    if edge_mask is not None and bool(edge_mask.all()):
        edge_mask = None
    if added_edges is not None and added_edges.size(1) == 0:
        added_edges = None
    edges_change = nodes_change or edge_mask is not None or added_edges is not None
    if edge_index is None and (edge_mask is not None or added_edges is not None):
        raise ValueError("the graph has no edge_index, so it has no edges to drop or add")

    if not edges_change:  # only attributes changed (or nothing): ids are the identity
        out.n_id = torch.arange(num_nodes, device=device)
        out.e_id = torch.arange(num_edges, device=device)
        if isinstance(data, Batch):
            edge_ptr = data._slice_dict.get("edge_index")
            _set_id_slices(out, data, graphs.ptr.cpu(), None if edge_ptr is None else edge_ptr.cpu(), graphs.num_graphs)
        return out

    node_keys, edge_keys = _node_and_edge_keys(out, graphs.num_graphs)
    index_keys = [k for k in out.keys() if k.endswith("_index") and k != "edge_index" and isinstance(out[k], Tensor)]
    if nodes_change and index_keys:
        raise ValueError(f"cannot relabel the node indices in {index_keys} when nodes are dropped; "
                         "remove them before augmenting")

    # nodes
    if nodes_change:
        n_id = node_mask.nonzero().view(-1)
        new_batch = graphs.batch[n_id]
        new_counts = torch.bincount(new_batch, minlength=graphs.num_graphs)
    else:
        n_id = torch.arange(num_nodes, device=device)
        new_batch, new_counts = graphs.batch, graphs.counts
    new_ptr = _ptr(new_counts)

    # edges
    keep = edge_mask
    if nodes_change and edge_index is not None:
        ends = node_mask[edge_index[0]] & node_mask[edge_index[1]]
        keep = ends if keep is None else keep & ends
    e_id = keep.nonzero().view(-1) if keep is not None else torch.arange(num_edges, device=device)
    num_added = 0 if added_edges is None else added_edges.size(1)
    perm = edge_graph = None
    if edge_index is not None:
        new_edges = edge_index.index_select(1, e_id)
        if num_added:
            new_edges = torch.cat([new_edges, added_edges.to(new_edges.dtype)], 1)
        edge_graph = graphs.batch[new_edges[0]]
        if num_added and graphs.num_graphs > 1:  # move the added edges into their graph's slice
            edge_graph, perm = torch.sort(edge_graph, stable=True)
            new_edges = new_edges[:, perm]
        if nodes_change:
            relabel = torch.cumsum(node_mask, 0) - 1
            new_edges = relabel[new_edges]
        out.edge_index = new_edges

    for key in node_keys if nodes_change else ():
        value = out[key]
        out[key] = _take(value, out.__cat_dim__(key, value), n_id)
    for key in edge_keys:
        value = out[key]
        dim = out.__cat_dim__(key, value)
        taken = _take(value, dim, e_id, num_added)
        out[key] = taken if perm is None else _take(taken, dim, perm)
    if num_added:
        e_id = torch.cat([e_id, e_id.new_full((num_added,), -1)])
        if perm is not None:
            e_id = e_id[perm]
    out.n_id, out.e_id = n_id, e_id
    if "num_nodes" in data:
        out.num_nodes = n_id.numel()
    if "batch" in data:
        out.batch = new_batch
    if "ptr" in data:
        out.ptr = new_ptr

    if isinstance(data, Batch):
        new_ptr = new_ptr.cpu()
        edge_ptr = None
        if edge_graph is not None:
            edge_ptr = _ptr(torch.bincount(edge_graph, minlength=graphs.num_graphs)).cpu()
        slices, incs = dict(data._slice_dict), dict(data._inc_dict)
        for key in node_keys if nodes_change else ():
            if key in slices:
                slices[key] = new_ptr
        for key in ["edge_index", *edge_keys] if edge_ptr is not None else ():
            if key in slices:
                slices[key] = edge_ptr
        if "edge_index" in incs and nodes_change:
            incs["edge_index"] = new_ptr[:-1]
        out._slice_dict, out._inc_dict = slices, incs
        if hasattr(data._store, "_num_nodes"):
            out._store._num_nodes = new_counts.tolist()
        _set_id_slices(out, out, new_ptr, edge_ptr, graphs.num_graphs)
    return out


def _set_id_slices(out: Batch, source: Batch, node_ptr: Tensor, edge_ptr: Tensor | None, num_graphs: int) -> None:
    """Register ``n_id`` / ``e_id`` in the batch bookkeeping (no increments: they index the input batch)."""
    slices, incs = dict(source._slice_dict), dict(source._inc_dict)
    zeros = torch.zeros(num_graphs, dtype=torch.long)
    slices["n_id"], incs["n_id"] = node_ptr.cpu(), zeros
    if edge_ptr is not None:
        slices["e_id"], incs["e_id"] = edge_ptr.cpu(), zeros
    else:
        slices["e_id"], incs["e_id"] = torch.zeros(num_graphs + 1, dtype=torch.long), zeros
    out._slice_dict, out._inc_dict = slices, incs
