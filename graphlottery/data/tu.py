"""TU graph-classification benchmarks (MUTAG, NCI1, IMDB-BINARY, ...) from a local root."""
from __future__ import annotations

import os

import torch
from torch_geometric.data import Data
from torch_geometric.datasets import TUDataset
from torch_geometric.utils import degree

from graphlottery.data.download import NotUpstream, OfflineError, fetch_zip, find_or_fetch, tu_name_ok
from graphlottery.data.root import DataError, data_root, open_cached, snapshot

GRAPHS = {"MUTAG": 188, "NCI1": 4110, "IMDB-BINARY": 1000, "IMDB-MULTI": 1500, "ENZYMES": 600, "PTC_MR": 344,
          "PROTEINS": 1113, "DD": 1178, "COLLAB": 5000, "REDDIT-BINARY": 2000, "REDDIT-MULTI-5K": 4999}
TU = {name.lower(): name for name in GRAPHS}


FEATURELESS = ("constant", "degree", None)


class NodeFeatures:
    """A transform giving featureless graphs node features: ``"constant"`` (``x = 1``, ``[N, 1]``,
    as GraphCL and InfoGraph do) or ``"degree"`` (one-hot degree, ``[N, max_degree + 1]``;
    larger degrees share the last column)."""

    def __init__(self, kind: str, max_degree: int = 135):
        if kind not in ("constant", "degree"):
            raise ValueError(f"node features must be 'constant' or 'degree', got {kind!r}")
        self.kind, self.max_degree = kind, max_degree

    def __call__(self, data: Data) -> Data:
        out = data.clone()
        if self.kind == "constant":
            out.x = torch.ones(data.num_nodes, 1)
        else:
            deg = degree(data.edge_index[0], data.num_nodes, dtype=torch.long).clamp_max(self.max_degree)
            out.x = torch.nn.functional.one_hot(deg, self.max_degree + 1).float()
        return out

    def __repr__(self) -> str:
        return f"NodeFeatures({self.kind!r})"


def load_tu(name: str, root: str | os.PathLike | None = None, featureless: str | None = "constant") -> TUDataset:
    """Load a TU dataset as a PyG ``TUDataset`` (node labels as one-hot features): any name of the
    TU collection (case-sensitive, e.g. ``NCI109``), downloaded as PyG does when missing.

    Raw files ``<NAME>_A.txt``, ``<NAME>_graph_indicator.txt`` and ``<NAME>_graph_labels.txt``
    are looked up in ``<root>/TUDataset/<NAME>/raw`` or ``<root>/<NAME>/raw`` (``root`` defaults
    to ``$GRAPHLOTTERY_DATA``; downloaded into the first when missing), checked against the root's
    ``SHA256SUMS`` if it has one, copied into the cache (in a folder keyed by their content) and
    processed there; the number of graphs of the benchmarks in ``GRAPHS`` is checked. Datasets
    without node features (IMDB-BINARY, COLLAB, REDDIT) get :class:`NodeFeatures` of kind ``featureless``
    (``"constant"``, ``"degree"``, or ``None`` to leave ``x`` unset).
    """
    if featureless not in FEATURELESS:
        raise ValueError(f"featureless must be one of {list(FEATURELESS)}, got {featureless!r}")
    proper = TU.get(name.lower(), name)
    if not tu_name_ok(proper):
        raise ValueError(f"unknown TU dataset {name!r}: not a TUDataset name; e.g. {sorted(TU.values())}")
    expected = [f"{proper}_{s}.txt" for s in ("A", "graph_indicator", "graph_labels")]
    base_root = data_root(root)
    try:
        raw = find_or_fetch(proper, base_root, [f"TUDataset/{proper}/raw", f"{proper}/raw"], expected,
                            fetch_zip(f"{TUDataset.url}/{proper}.zip", proper))
    except (OfflineError, NotUpstream) as err:
        if proper in GRAPHS:
            raise
        raise ValueError(f"unknown TU dataset {name!r} (names are case-sensitive; known here: "
                         f"{sorted(TU.values())}): {err}") from None
    files = {f"{proper}/raw/{f.name}": f for f in sorted(raw.iterdir()) if f.is_file() and f.name.startswith(proper)}
    cache = snapshot(base_root, files, "TUDataset")
    dataset = open_cached(cache, lambda: TUDataset(str(cache), proper), [cache / proper / "processed" / "data.pt"], raw)
    if proper in GRAPHS and len(dataset) != GRAPHS[proper]:
        raise DataError(f"{proper} in {raw} has {len(dataset)} graphs, not {GRAPHS[proper]}: its raw files are damaged "
                        "or truncated")
    if dataset.num_node_features == 0 and featureless is not None:
        dataset = TUDataset(str(cache), proper, transform=NodeFeatures(featureless))
    return dataset
