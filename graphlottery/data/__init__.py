"""Dataset loading from a possibly read-only data root; datasets missing from it are downloaded
(:mod:`graphlottery.data.download`)."""
from __future__ import annotations

import os

from torch_geometric.data import Data

from graphlottery.data.download import DownloadError, OfflineError
from graphlottery.data.ogb import OGBL, OGBN, load_ogbl, load_ogbn, ogb_info
from graphlottery.data.planetoid import PLANETOID, load_planetoid
from graphlottery.data.root import CACHE_ENV, DATA_ENV, cache_root, data_root
from graphlottery.data.tu import TU, NodeFeatures, load_tu
from graphlottery.data.wikipedia import WIKIPEDIA, load_wikipedia

DATASETS = {**PLANETOID, **WIKIPEDIA}  # lower-case name -> proper name


def load_dataset(name: str, root: str | os.PathLike | None = None, split: int = 0) -> Data:
    """Load a single-graph node-classification dataset by name: Planetoid (public split) or
    chameleon / squirrel (geom-gcn split number ``split``)."""
    if name.lower() in PLANETOID:
        return load_planetoid(name, root)
    if name.lower() in WIKIPEDIA:
        return load_wikipedia(name, root, split)
    raise ValueError(f"unknown dataset {name!r}; available: {sorted(DATASETS.values())}")


__all__ = [
    "CACHE_ENV",
    "DATASETS",
    "DATA_ENV",
    "DownloadError",
    "NodeFeatures",
    "OGBL",
    "OGBN",
    "OfflineError",
    "TU",
    "cache_root",
    "data_root",
    "load_dataset",
    "load_ogbl",
    "load_ogbn",
    "load_planetoid",
    "load_tu",
    "load_wikipedia",
    "ogb_info",
]
