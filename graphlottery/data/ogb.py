"""OGB graph-property datasets (ogbg-molbace, ogbg-molhiv) through OGB's own loader, from a
local, possibly read-only root, with torch's safe ``weights_only`` loading."""
from __future__ import annotations

import os
import shutil

import torch
from torch_geometric.data import Data

from graphlottery.data.root import cache_root, data_root, find_raw_dir

OGBG = {"ogbg-molbace": "ogbg-molbace", "ogbg-molhiv": "ogbg-molhiv"}
RAW = ["edge.csv.gz", "edge-feat.csv.gz", "graph-label.csv.gz", "node-feat.csv.gz", "num-edge-list.csv.gz",
       "num-node-list.csv.gz"]
SPLIT = ["train.csv.gz", "valid.csv.gz", "test.csv.gz"]


def allow_pyg_data() -> None:
    """Let ``torch.load(weights_only=True)`` read PyG's ``Data`` objects (OGB saves them)."""
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import EdgeStorage, GlobalStorage, NodeStorage

    torch.serialization.add_safe_globals([Data, DataEdgeAttr, DataTensorAttr, GlobalStorage, NodeStorage,
                                          EdgeStorage])


class OneHotAtoms:
    """Transform: OGB's integer atom features ``[N, 9]`` → concatenated one-hot floats."""

    def __init__(self):
        from ogb.utils.features import get_atom_feature_dims

        self.dims = get_atom_feature_dims()
        self.offsets = torch.tensor([0, *self.dims[:-1]]).cumsum(0)

    def __call__(self, data: Data) -> Data:
        out = data.clone()
        x = torch.zeros(data.num_nodes, sum(self.dims))
        x.scatter_(1, data.x.long() + self.offsets, 1.0)
        out.x = x
        out.y = data.y.view(-1)
        return out


def load_ogbg(name: str, root: str | os.PathLike | None = None):
    """Load an OGB molecule dataset with one-hot atom features, and its scaffold split.

    Files are looked up in ``<root>/ogb/<name with _>/`` (``raw/`` and ``split/scaffold/``, as OGB
    lays them out), copied into the cache and processed there. Returns ``(dataset, split)``,
    ``split`` mapping ``train`` / ``val`` / ``test`` to graph indices. Needs the ``ogb`` extra.
    """
    key = name.lower()
    if key not in OGBG:
        raise ValueError(f"unknown OGB graph dataset {name!r}; available: {sorted(OGBG)}")
    try:
        from ogb.graphproppred import PygGraphPropPredDataset
    except ImportError:
        raise ImportError("OGB datasets need the ogb package: pip install 'graphlottery[ogb]'") from None
    folder = key.replace("-", "_")
    base = data_root(root)
    raw = find_raw_dir(base, [f"ogb/{folder}/raw", f"{folder}/raw"], RAW)
    split = find_raw_dir(raw.parent, ["split/scaffold"], SPLIT)
    target = cache_root() / "ogb" / folder
    for sub, source in (("raw", raw), ("split/scaffold", split)):
        (target / sub).mkdir(parents=True, exist_ok=True)
        for f in source.iterdir():
            if not (target / sub / f.name).is_file():
                shutil.copyfile(f, target / sub / f.name)
    for extra in ("RELEASE_v1.txt",):
        if (raw.parent / extra).is_file() and not (target / extra).is_file():
            shutil.copyfile(raw.parent / extra, target / extra)
    allow_pyg_data()
    dataset = PygGraphPropPredDataset(key, root=str(cache_root() / "ogb"), transform=OneHotAtoms())
    idx = dataset.get_idx_split()
    return dataset, {"train": idx["train"], "val": idx["valid"], "test": idx["test"]}
