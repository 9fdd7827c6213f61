"""Wikipedia page-page networks (chameleon, squirrel) with the geom-gcn splits."""
from __future__ import annotations

import os

import torch
from torch_geometric.data import Data
from torch_geometric.datasets import WikipediaNetwork
from torch_geometric.utils import to_undirected

from graphlottery.data.download import fetch_files, find_or_fetch
from graphlottery.data.root import DataError, data_root, open_cached, snapshot

WIKIPEDIA = {"chameleon": "chameleon", "squirrel": "squirrel"}
NODES = {"chameleon": 2277, "squirrel": 5201}


def load_wikipedia(name: str, root: str | os.PathLike | None = None, split: int = 0) -> Data:
    """Load chameleon or squirrel (geom-gcn features, edges made undirected) with geom-gcn split
    ``split`` (0-9, 60/20/20) as boolean ``train_mask`` / ``val_mask`` / ``test_mask``.

    Raw files are looked up in ``<root>/WikipediaNetwork/<name>/geom_gcn/raw`` or
    ``<root>/<name>/geom_gcn/raw`` (downloaded into the first when missing), checked against the
    root's ``SHA256SUMS`` if it has one, copied into the cache (in a folder keyed by their content)
    and processed there. The node count and the split (disjoint masks covering every node) are checked.
    """
    key = name.lower()
    if key not in WIKIPEDIA:
        raise ValueError(f"unknown Wikipedia dataset {name!r}; choose from {sorted(WIKIPEDIA)}")
    if not 0 <= split < 10:
        raise ValueError(f"split must be in 0..9 (the 10 geom-gcn splits), got {split}")
    expected = ["out1_node_feature_label.txt", "out1_graph_edges.txt"]
    expected += [f"{key}_split_0.6_0.2_{i}.npz" for i in range(10)]
    candidates = [f"WikipediaNetwork/{key}/geom_gcn/raw", f"{key}/geom_gcn/raw"]
    base_root = data_root(root)
    urls = {f: f"{WikipediaNetwork.processed_url}/{'new_data/' + key if f.startswith('out1') else 'splits'}/{f}"
            for f in expected}  # the geom-gcn files PyG's WikipediaNetwork downloads
    raw = find_or_fetch(key, base_root, candidates, expected, fetch_files(urls))
    cache = snapshot(base_root, {f"{key}/geom_gcn/raw/{f}": raw / f for f in expected}, "WikipediaNetwork")
    data = open_cached(cache, lambda: WikipediaNetwork(str(cache), key, geom_gcn_preprocess=True),
                       [cache / key / "geom_gcn" / "processed" / "data.pt"], raw)[0]
    masks = torch.stack([data[f"{part}_mask"][:, split] for part in ("train", "val", "test")]).long()
    if data.num_nodes != NODES[key] or data.x.size(0) != NODES[key] or bool((masks.sum(0) > 1).any()):
        raise DataError(f"{key} in {raw} has {data.num_nodes} nodes (not {NODES[key]}) or overlapping split masks: "
                        "its raw files are damaged or truncated")
    out = Data(x=data.x, y=data.y, edge_index=to_undirected(data.edge_index, num_nodes=data.num_nodes))
    for part in ("train", "val", "test"):
        out[f"{part}_mask"] = data[f"{part}_mask"][:, split].clone()
    out.name = key
    return out

