"""Dataset loading from a local, possibly read-only data root."""
from __future__ import annotations

import os

from torch_geometric.data import Data

from graphlottery.data.planetoid import PLANETOID, load_planetoid
from graphlottery.data.root import CACHE_ENV, DATA_ENV, cache_root, data_root

DATASETS = dict(PLANETOID)  # lower-case name -> proper name


def load_dataset(name: str, root: str | os.PathLike | None = None) -> Data:
    """Load a single-graph node-classification dataset by name (Planetoid for now)."""
    if name.lower() in PLANETOID:
        return load_planetoid(name, root)
    raise ValueError(f"unknown dataset {name!r}; available: {sorted(PLANETOID.values())}")


__all__ = ["CACHE_ENV", "DATASETS", "DATA_ENV", "cache_root", "data_root", "load_dataset", "load_planetoid"]
