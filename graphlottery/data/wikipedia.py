"""Wikipedia page-page networks (chameleon, squirrel) with the geom-gcn splits."""
from __future__ import annotations

import os

from torch_geometric.data import Data
from torch_geometric.datasets import WikipediaNetwork
from torch_geometric.utils import to_undirected

from graphlottery.data.root import cache_root, data_root, find_raw_dir, mirror

WIKIPEDIA = {"chameleon": "chameleon", "squirrel": "squirrel"}


def load_wikipedia(name: str, root: str | os.PathLike | None = None, split: int = 0) -> Data:
    """Load chameleon or squirrel (geom-gcn features, edges made undirected) with geom-gcn split
    ``split`` (0-9, 60/20/20) as boolean ``train_mask`` / ``val_mask`` / ``test_mask``.

    Raw files are looked up in ``<root>/WikipediaNetwork/<name>/geom_gcn/raw`` or
    ``<root>/<name>/geom_gcn/raw``, copied into the cache and processed there.
    """
    key = name.lower()
    if key not in WIKIPEDIA:
        raise ValueError(f"unknown Wikipedia dataset {name!r}; choose from {sorted(WIKIPEDIA)}")
    if not 0 <= split < 10:
        raise ValueError(f"split must be in 0..9 (the 10 geom-gcn splits), got {split}")
    expected = ["out1_node_feature_label.txt", "out1_graph_edges.txt"]
    expected += [f"{key}_split_0.6_0.2_{i}.npz" for i in range(10)]
    candidates = [f"WikipediaNetwork/{key}/geom_gcn/raw", f"{key}/geom_gcn/raw"]
    raw = find_raw_dir(data_root(root), candidates, expected)
    cache = cache_root() / "WikipediaNetwork"
    mirror(raw, cache / key / "geom_gcn" / "raw")
    data = WikipediaNetwork(str(cache), key, geom_gcn_preprocess=True)[0]
    out = Data(x=data.x, y=data.y, edge_index=to_undirected(data.edge_index, num_nodes=data.num_nodes))
    for part in ("train", "val", "test"):
        out[f"{part}_mask"] = data[f"{part}_mask"][:, split].clone()
    out.name = key
    return out

