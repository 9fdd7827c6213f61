"""Planetoid citation graphs (Cora, CiteSeer, PubMed) with the public split.

The raw ``ind.<name>.*`` files are Python pickles; they are read with a restricted unpickler that
rebuilds only the numpy arrays, scipy CSR matrices, lists and dicts they hold, so a file carrying
any other object (code) is refused instead of run.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch_geometric.transforms as T
from torch_geometric.data import Data
from torch_geometric.datasets import Planetoid
from torch_geometric.utils import coalesce, index_to_mask, remove_self_loops

from graphlottery.data.download import fetch_files, find_or_fetch
from graphlottery.data.root import DataError, data_root, open_cached, snapshot

PLANETOID = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}
SUFFIXES = ["x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"]
SPLITS = {"cora": (2708, 140), "citeseer": (3327, 120), "pubmed": (19717, 60)}  # nodes, training nodes
VAL, TEST = 500, 1000  # the public split's validation and test nodes


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays, scipy CSR matrices, lists and (default)dicts, nothing else."""

    ALLOWED = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("collections", "defaultdict"): __import__("collections").defaultdict,
        ("__builtin__", "list"): list,
        ("builtins", "list"): list,
        ("__builtin__", "dict"): dict,
        ("builtins", "dict"): dict,
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[(module, name)]
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own array reconstructor
        if name == "csr_matrix" and module in ("scipy.sparse.csr", "scipy.sparse._csr", "scipy.sparse"):
            import scipy.sparse

            return scipy.sparse.csr_matrix
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: raw Planetoid files hold only arrays")


def _read(path: Path) -> Any:
    """One raw file: ``test.index`` as a long tensor, ``graph`` as a dict, the others as float tensors."""
    try:
        if path.name.endswith(".test.index"):
            return torch.tensor([int(line) for line in path.read_text().split()], dtype=torch.long)
        with open(path, "rb") as f:
            value = _ArraysOnly(f, encoding="latin1").load()
        if path.name.endswith(".graph"):
            if not isinstance(value, dict):
                raise TypeError(f"expected a dict of adjacency lists, got {type(value).__name__}")
            return value
        dense = value.toarray() if hasattr(value, "toarray") else np.asarray(value)
        return torch.from_numpy(np.asarray(dense, dtype=np.float32))
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            UnicodeDecodeError) as err:
        raise DataError(f"{path} is damaged or not a Planetoid file ({type(err).__name__}: {err})") from None


def read_planetoid(raw: Path, name: str) -> Data:
    """Build the graph from ``raw/ind.<name>.*``: features and labels of the training, other and
    test nodes (test rows reordered by ``test.index``; CiteSeer's missing test nodes as zero rows),
    the adjacency lists as a coalesced ``edge_index`` without self-loops, and the public split
    (the first ``len(y)`` nodes train, the next 500 validate, ``test.index`` tests)."""
    key = name.lower()
    x, tx, allx, y, ty, ally, graph, test_index = (_read(raw / f"ind.{key}.{s}") for s in SUFFIXES)
    ordered = test_index.sort().values
    if key == "citeseer":  # isolated test nodes are missing from tx / ty
        span = int(test_index.max() - test_index.min()) + 1
        tx_full, ty_full = tx.new_zeros(span, tx.size(1)), ty.new_zeros(span, ty.size(1))
        tx_full[ordered - test_index.min()], ty_full[ordered - test_index.min()] = tx, ty
        tx, ty = tx_full, ty_full
    features = torch.cat([allx, tx])
    features[test_index] = features[ordered]
    labels = torch.cat([ally, ty]).argmax(1)
    labels[test_index] = labels[ordered]
    n = labels.numel()
    rows = torch.tensor([u for u, vs in graph.items() for _ in vs], dtype=torch.long)
    cols = torch.tensor([v for vs in graph.values() for v in vs], dtype=torch.long)
    if rows.numel() and int(torch.cat([rows, cols]).max()) >= n:
        raise DataError(f"{raw / f'ind.{key}.graph'} names nodes beyond the {n} of the feature files")
    edge_index, _ = remove_self_loops(torch.stack([rows, cols]))
    edge_index = coalesce(edge_index, num_nodes=n, sort_by_row=False)
    data = Data(x=features, edge_index=edge_index, y=labels)
    data.train_mask = index_to_mask(torch.arange(y.size(0)), n)
    data.val_mask = index_to_mask(torch.arange(y.size(0), y.size(0) + VAL), n)
    data.test_mask = index_to_mask(test_index, n)
    return data


class _SafePlanetoid(Planetoid):
    """PyG's ``Planetoid`` (public split) reading its raw files with :func:`read_planetoid`."""

    def process(self) -> None:
        self.save([read_planetoid(Path(self.raw_dir), self.name)], self.processed_paths[0])


def check_split(data: Data, key: str, source: Path) -> None:
    """The public split's sizes: a truncated or altered raw file changes them."""
    nodes, train = SPLITS[key]
    found = (data.num_nodes, int(data.train_mask.sum()), int(data.val_mask.sum()), int(data.test_mask.sum()))
    if found != (nodes, train, VAL, TEST) or data.x.size(0) != nodes:
        raise DataError(f"{PLANETOID[key]} in {source} has {found[0]} nodes and a {found[1]}/{found[2]}/{found[3]} "
                        f"split, not {nodes} and {train}/{VAL}/{TEST}: its raw files are damaged or truncated")


def load_planetoid(name: str, root: str | os.PathLike | None = None) -> Data:
    """Load Cora, CiteSeer or PubMed with row-normalised features and the public split.

    The raw ``ind.<name>.*`` files are looked up in ``<root>/Planetoid/<Name>/raw`` or
    ``<root>/<Name>/raw`` (``root`` defaults to ``$GRAPHLOTTERY_DATA``; downloaded into the first
    when missing, see :mod:`~graphlottery.data.download`), checked against the root's
    ``SHA256SUMS`` if it has one, copied into the cache (``$GRAPHLOTTERY_CACHE``, in a folder keyed
    by their content) and processed there, so the root may be read-only. The split sizes are
    checked (a :class:`~graphlottery.data.root.DataError` otherwise).
    """
    key = name.lower()
    if key not in PLANETOID:
        raise ValueError(f"unknown Planetoid dataset {name!r}; choose from {sorted(PLANETOID.values())}")
    proper = PLANETOID[key]
    expected = [f"ind.{key}.{s}" for s in SUFFIXES]
    base_root = data_root(root)
    raw = find_or_fetch(proper, base_root, [f"Planetoid/{proper}/raw", f"{proper}/raw"], expected,
                        fetch_files({f: f"{Planetoid.url}/{f}" for f in expected}))
    cache = snapshot(base_root, {f"{proper}/raw/{f}": raw / f for f in expected}, "Planetoid")
    data = open_cached(cache, lambda: _SafePlanetoid(str(cache), proper, transform=T.NormalizeFeatures()),
                       [cache / proper / "processed" / "data.pt"], raw)[0]
    check_split(data, key, raw)
    data.name = proper
    return data
