"""Planetoid citation graphs (Cora, CiteSeer, PubMed) with the public split."""
from __future__ import annotations

import os

import torch_geometric.transforms as T
from torch_geometric.data import Data
from torch_geometric.datasets import Planetoid

from graphlottery.data.root import cache_root, data_root, find_raw_dir, mirror

PLANETOID = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}
SUFFIXES = ["x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"]


def load_planetoid(name: str, root: str | os.PathLike | None = None) -> Data:
    """Load Cora, CiteSeer or PubMed with row-normalised features and the public split.

    The raw ``ind.<name>.*`` files are looked up in ``<root>/Planetoid/<Name>/raw`` or
    ``<root>/<Name>/raw`` (``root`` defaults to ``$GRAPHLOTTERY_DATA``), copied into the
    cache (``$GRAPHLOTTERY_CACHE``), and processed there, so the root may be read-only.
    """
    key = name.lower()
    if key not in PLANETOID:
        raise ValueError(f"unknown Planetoid dataset {name!r}; choose from {sorted(PLANETOID.values())}")
    proper = PLANETOID[key]
    expected = [f"ind.{key}.{s}" for s in SUFFIXES]
    raw = find_raw_dir(data_root(root), [f"Planetoid/{proper}/raw", f"{proper}/raw"], expected)
    cache = cache_root() / "Planetoid"
    mirror(raw, cache / proper / "raw")
    data = Planetoid(str(cache), proper, transform=T.NormalizeFeatures())[0]
    data.name = proper
    return data
