"""OGB datasets through OGB's own loaders, from a possibly read-only root, with torch's safe
``weights_only`` loading, downloaded from the URL of OGB's ``master.csv`` when missing: the
single-task binary molecule datasets of OGB's graph-property list (ogbg-molbace, ogbg-molbbbp,
ogbg-molhiv), the node-property graphs ogbn-arxiv, ogbn-proteins and ogbn-products, and the
link-property graphs ogbl-collab, ogbl-ppa and ogbl-ddi. :func:`ogb_info` reads any dataset's
task type and metric from OGB's master list."""
from __future__ import annotations

import csv
import functools
import hashlib
import importlib
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch_geometric.data import Data
from torch_geometric.utils import index_to_mask, scatter, to_undirected

from graphlottery.data.download import fetch_zip, install
from graphlottery.data.root import DataError, cache_root, check_files, data_root, open_cached, snapshot
from graphlottery.sparse import sparse_identity

KINDS = {"ogbg": "graphproppred", "ogbn": "nodeproppred", "ogbl": "linkproppred"}


@functools.cache
def ogb_master(prefix: str) -> dict[str, dict[str, str]]:
    """OGB's own ``master.csv`` for ``prefix`` (``ogbg``, ``ogbn`` or ``ogbl``): dataset name ->
    its fields (``task type``, ``eval metric``, ``num tasks``, ``url``, ``download_name``, ...),
    read from the installed ``ogb`` package without importing it; empty without ``ogb``."""
    spec = importlib.util.find_spec("ogb")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / KINDS[prefix] / "master.csv"
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    names = rows[0][1:]
    return {name: {row[0]: row[i + 1] for row in rows[1:]} for i, name in enumerate(names)}


def ogb_info(name: str) -> dict[str, str]:
    """OGB's master-list entry of dataset ``name`` (e.g. ``ogb_info("ogbg-molbbbp")["eval metric"]``
    is ``"rocauc"``); a ``ValueError`` names OGB's datasets of that kind if it is not listed."""
    key = name.lower()
    master = ogb_master(key[:4]) if key[:4] in KINDS else {}
    if key not in master:
        listed = sorted(master) or "(install the ogb package: pip install 'graphlottery[ogb]')"
        raise ValueError(f"{name!r} is not in OGB's master list of datasets; OGB lists: {listed}")
    return master[key]


def _single_task_molecules() -> dict[str, str]:
    """OGB's graph datasets this library classifies: molecules, one binary task, ROC-AUC."""
    master = ogb_master("ogbg")
    if not master:  # without ogb: the shipped configs' datasets, so loading names the missing package
        return {"ogbg-molbace": "ogbg-molbace", "ogbg-molhiv": "ogbg-molhiv"}
    return {name: name for name, m in master.items() if m["data type"] == "mol" and m["num tasks"] == "1"
            and m["task type"] == "binary classification" and m["eval metric"] == "rocauc"}


OGBG = _single_task_molecules()


def unknown_ogb(name: str, kind: str, known: dict) -> ValueError:
    """The error for an OGB dataset the loaders do not take, with OGB's description if it lists it."""
    try:
        info = ogb_info(name)
        tasks = f", {info['num tasks']} task(s)" if "num tasks" in info else ""
        why = (f": OGB lists it ({info.get('task type', 'no task type')}{tasks}, metric {info.get('eval metric')}) "
               "but it is not one this library trains on")
    except ValueError:
        why = ""
    return ValueError(f"unknown OGB {kind} dataset {name!r}{why}; available: {sorted(known)}")


def find_or_fetch_ogb(name: str, root: Path, layout: dict[str, list[str]]) -> Path:
    """:func:`find_ogb_dir`, downloading OGB's zip (``url`` of its master list) into
    ``<root>/ogb/<folder>`` when files are missing."""
    try:
        return find_ogb_dir(name, root, layout)
    except FileNotFoundError as missing:
        info = ogb_info(name)
        install(name, root, f"ogb/{name.replace('-', '_')}", fetch_zip(info["url"], info["download_name"]), missing)
    return find_ogb_dir(name, root, layout)
RAW = ["edge.csv.gz", "edge-feat.csv.gz", "graph-label.csv.gz", "node-feat.csv.gz", "num-edge-list.csv.gz",
       "num-node-list.csv.gz"]
SPLIT = ["train.csv.gz", "valid.csv.gz", "test.csv.gz"]
SIZES = {  # the real datasets: graphs or nodes, and their train / valid / test split sizes
    "ogbg-molbace": (1513, 1210, 151, 152), "ogbg-molhiv": (41127, 32901, 4113, 4113),
    "ogbn-arxiv": (169343, 90941, 29799, 48603), "ogbn-proteins": (132534, 86619, 21236, 24679),
    "ogbn-products": (2449029, 196615, 39323, 2213091),
}


def check_split(name: str, size: int, idx: dict, where: Path) -> None:
    """OGB's split of ``size`` graphs or nodes: disjoint, non-empty, in range, and for the real
    dataset (the known ``size``) the known part sizes; else a :class:`DataError`."""
    parts = [idx[k].view(-1).long() for k in ("train", "valid", "test")]
    counts = tuple(p.numel() for p in parts)
    every = torch.cat(parts)
    bad = (min(counts) == 0 or int(every.min()) < 0 or int(every.max()) >= size
           or every.unique().numel() != every.numel())
    known = SIZES.get(name)
    if bad or (known is not None and size == known[0] and counts != known[1:]):
        expected = f"; the real one has {known[0]} with {known[1]}/{known[2]}/{known[3]}" if known else ""
        raise DataError(f"{name} in {where}: a {counts[0]}/{counts[1]}/{counts[2]} split of {size} that is "
                        f"overlapping, empty or out of range, or of unexpected size{expected}: its files are "
                        "damaged or truncated")


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
    """Load an OGB molecule dataset with one-hot atom features, and its scaffold split: any
    single-task binary one of OGB's master list (``OGBG``: ogbg-molbace, ogbg-molbbbp, ogbg-molhiv).

    Files are looked up in ``<root>/ogb/<name with _>/`` or ``<root>/<name with _>/`` (``raw/`` and
    ``split/scaffold/``, as OGB lays them out; downloaded from OGB's URL into the first when
    missing; offline, a ``FileNotFoundError`` names the missing file and the layout), copied into
    the cache and processed there. Returns ``(dataset, split)``,
    ``split`` mapping ``train`` / ``val`` / ``test`` to graph indices. Needs the ``ogb`` extra.
    """
    key = name.lower()
    if key not in OGBG:
        raise unknown_ogb(name, "graph", OGBG)
    try:
        from ogb.graphproppred import PygGraphPropPredDataset
    except ImportError:
        raise ImportError("OGB datasets need the ogb package: pip install 'graphlottery[ogb]'") from None
    folder = key.replace("-", "_")
    base_root = data_root(root)
    base = find_or_fetch_ogb(key, base_root, {"raw": RAW, "split/scaffold": SPLIT})
    files = {f"{folder}/{sub}/{f}": base / sub / f for sub, names in (("raw", RAW), ("split/scaffold", SPLIT))
             for f in names}
    if (base / "RELEASE_v1.txt").is_file():
        files[f"{folder}/RELEASE_v1.txt"] = base / "RELEASE_v1.txt"
    cache = snapshot(base_root, files, "ogb")
    (cache / folder / "RELEASE_v1.txt").touch()  # without it OGB asks on stdin whether to re-download
    allow_pyg_data()
    dataset = open_cached(cache, lambda: PygGraphPropPredDataset(key, root=str(cache), transform=OneHotAtoms()),
                          [cache / folder / "processed" / "geometric_data_processed.pt"], base)
    idx = dataset.get_idx_split()
    check_split(key, len(dataset), idx, base)
    return dataset, {"train": idx["train"], "val": idx["valid"], "test": idx["test"]}


OGBN = {"ogbn-arxiv": "ogbn-arxiv", "ogbn-proteins": "ogbn-proteins", "ogbn-products": "ogbn-products"}
OGBN_METRIC = {"ogbn-arxiv": "accuracy", "ogbn-proteins": "roc_auc", "ogbn-products": "accuracy"}
OGBN_RAW = {  # the files OGB's PygNodePropPredDataset reads from raw/, and the split it uses
    "ogbn-arxiv": (["edge", "node-feat", "node-label", "node_year", "num-node-list", "num-edge-list"], "time"),
    "ogbn-proteins": (["edge", "edge-feat", "node-label", "node_species", "num-node-list", "num-edge-list"],
                      "species"),
    "ogbn-products": (["edge", "node-feat", "node-label", "num-node-list", "num-edge-list"], "sales_ranking"),
}


def ogbn_layout(name: str) -> dict[str, list[str]]:
    """The files OGB reads for node dataset ``name``, by folder relative to its dataset folder."""
    raw, split = OGBN_RAW[name]
    return {"raw": [f"{f}.csv.gz" for f in raw], f"split/{split}": SPLIT}


def find_ogb_dir(name: str, root: Path, layout: dict[str, list[str]]) -> Path:
    """``<root>/ogb/<folder>`` or ``<root>/<folder>`` holding every file of ``layout`` (files by
    folder, relative to the dataset folder); else a ``FileNotFoundError`` naming the missing
    files and the expected layout."""
    folder = name.replace("-", "_")
    candidates = [root / "ogb" / folder, root / folder]
    expected = "; ".join(f"{sub}/{{{','.join(files)}}}" for sub, files in layout.items())
    where = f"Expected OGB's on-disk layout (as unzipped from its download) in {candidates[1]} or {candidates[0]}"
    base = next((c for c in candidates if c.is_dir()), None)
    if base is None:
        raise FileNotFoundError(f"{name}: no folder {candidates[1]} or {candidates[0]}. {where}: {expected}")
    missing = [str(base / sub / f) for sub, files in layout.items() for f in files if not (base / sub / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{name}: missing {', '.join(missing)}. {where}: {expected}")
    return base


def _source_digest(root: Path, base: Path, layout: dict[str, list[str]]) -> str:
    """Identify the source files by content (checked against ``root``'s ``SHA256SUMS``), to key the cache."""
    paths = [base / sub / f for sub, files in layout.items() for f in files]
    digests = check_files(paths, root)
    digest = hashlib.sha256("".join(f"{p.relative_to(base)}:{digests[p]};" for p in paths).encode())
    return digest.hexdigest()[:16]


def _local_root(name: str, root: str | os.PathLike | None, known: dict,
                layout_of: Callable[[str], dict[str, list[str]]], kind: str) -> Path:
    """Check ``name`` and the ogb package, find the files of ``layout_of(name)`` under the data
    ``root`` and link them into the cache; returns the cache folder OGB's loader reads."""
    if name not in known:
        raise unknown_ogb(name, kind.lower(), known)
    layout = layout_of(name)
    try:
        importlib.import_module(f"ogb.{kind.lower()}proppred")
    except ImportError:
        raise ImportError("OGB datasets need the ogb package: pip install 'graphlottery[ogb]'") from None
    allow_pyg_data()
    base_root = data_root(root)
    return _link_into_cache(name, base_root, find_or_fetch_ogb(name, base_root, layout), layout)


def _open_local(name: str, root: Path, kind: str = "Node"):
    """OGB's own ``Pyg{kind}PropPredDataset`` (``kind``: ``Node`` or ``Link``) on ``root``, raising
    instead of downloading (:func:`find_or_fetch_ogb` has put every file in place)."""
    module = importlib.import_module(f"ogb.{kind.lower()}proppred")

    class Local(getattr(module, f"Pyg{kind}PropPredDataset")):
        def download(self):
            raise FileNotFoundError(f"{name}: raw files missing under {self.raw_dir}; graphlottery never downloads")

    processed = root / name.replace("-", "_") / "processed" / "geometric_data_processed.pt"
    return open_cached(root, lambda: Local(name, root=str(root)), [processed], root / name.replace("-", "_"))


def _link_into_cache(name: str, data: Path, base: Path, layout: dict[str, list[str]]) -> Path:
    """Symlink the ``layout`` files of ``base`` into ``<cache>/<ogbn|ogbl>/<digest>/<folder>/`` (the
    root may be read-only, OGB writes ``processed/`` beside ``raw/``) with OGB's release marker;
    return the OGB root. The cache folder is keyed by the files' content (see :func:`_source_digest`)."""
    root = cache_root() / name[:4] / _source_digest(data, base, layout)
    target = root / name.replace("-", "_")
    for sub, files in layout.items():
        (target / sub).mkdir(parents=True, exist_ok=True)
        for f in files:
            link = target / sub / f
            if not link.is_symlink():
                link.symlink_to((base / sub / f).resolve())
    (target / "RELEASE_v1.txt").touch()  # without it OGB asks on stdin whether to re-download
    return root


def load_ogbn(name: str, root: str | os.PathLike | None = None) -> Data:
    """Load ogbn-arxiv, ogbn-proteins or ogbn-products through OGB's loader.

    Files are read from ``<root>/<folder>/`` or ``<root>/ogb/<folder>/`` (``<folder>`` =
    ``ogbn_arxiv`` ...), laid out as OGB unzips them: ``raw/*.csv.gz`` and
    ``split/<time|species|sales_ranking>/{train,valid,test}.csv.gz`` (downloaded from OGB's URL
    into the second when missing). They are linked into the
    cache and processed there (``weights_only`` loading), so the root may be read-only. Returns a
    ``Data`` with ``x`` ``[N, F]`` (float), an undirected ``edge_index``, ``y`` and boolean
    ``train_mask`` / ``val_mask`` / ``test_mask`` from OGB's split:

    * arxiv, products: ``y`` ``[N]`` class indices (arxiv's citations are made undirected);
    * proteins: ``y`` ``[N, 112]`` binary labels; no node features in OGB, so ``x`` is the mean
      of each node's incoming edge features (``[N, 8]``), as OGB's examples do.
    """
    key = name.lower()
    dataset = _open_local(key, _local_root(key, root, OGBN, ogbn_layout, "Node"))
    graph, idx = dataset[0], dataset.get_idx_split()
    n = graph.num_nodes
    check_split(key, n, idx, data_root(root))
    if key == "ogbn-proteins":
        x = scatter(graph.edge_attr.float(), graph.edge_index[1], dim=0, dim_size=n, reduce="mean")
        y = graph.y.float()
    else:
        x, y = graph.x.float(), graph.y.view(-1)
    data = Data(x=x, edge_index=to_undirected(graph.edge_index, num_nodes=n), y=y, num_nodes=n)
    for split, index in (("train", idx["train"]), ("val", idx["valid"]), ("test", idx["test"])):
        data[f"{split}_mask"] = index_to_mask(index, n)
    data.name = OGBN[key]
    return data


OGBL = {"ogbl-collab": "ogbl-collab", "ogbl-ppa": "ogbl-ppa", "ogbl-ddi": "ogbl-ddi"}
OGBL_METRIC = {"ogbl-collab": "hits@50", "ogbl-ppa": "hits@100", "ogbl-ddi": "hits@20"}  # OGB's leaderboard metric
OGBL_RAW = {  # the files OGB's PygLinkPropPredDataset reads from raw/, and the split it uses
    "ogbl-collab": (["edge", "node-feat", "edge_weight", "edge_year", "num-node-list", "num-edge-list"], "time"),
    "ogbl-ppa": (["edge", "node-feat", "num-node-list", "num-edge-list"], "throughput"),
    "ogbl-ddi": (["edge", "num-node-list", "num-edge-list"], "target"),
}
LINK_SPLIT = ["train.pt", "valid.pt", "test.pt"]


def ogbl_layout(name: str) -> dict[str, list[str]]:
    """The files OGB reads for link dataset ``name``, by folder relative to its dataset folder."""
    raw, split = OGBL_RAW[name]
    return {"raw": [f"{f}.csv.gz" for f in raw], f"split/{split}": LINK_SPLIT}


def numpy_globals() -> list:
    """What ``torch.load(weights_only=True)`` needs to rebuild numeric numpy arrays (OGB's link
    splits are dicts of them): the array reconstructor under its numpy 2 and numpy 1 names,
    ``ndarray``, ``dtype`` and the boolean, integer and float dtype classes (no object dtype, so
    nothing but numbers can be unpickled through them)."""
    import numpy as np

    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:
        from numpy.core.multiarray import _reconstruct
    numeric = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32",
               "float64")
    return [_reconstruct, (_reconstruct, "numpy.core.multiarray._reconstruct"), np.ndarray, np.dtype,
            *(type(np.dtype(t)) for t in numeric)]


def load_ogbl(name: str, root: str | os.PathLike | None = None) -> Data:
    """Load ogbl-collab, ogbl-ppa or ogbl-ddi and OGB's edge split.

    Files are read from ``<root>/<folder>/`` or ``<root>/ogb/<folder>/`` (``<folder>`` =
    ``ogbl_collab`` ...), laid out as OGB unzips them: ``raw/*.csv.gz`` and
    ``split/<time|throughput|target>/{train,valid,test}.pt`` (downloaded from OGB's URL into the
    second when missing). They are linked into the cache and
    read there by OGB's loader with ``weights_only`` loading (the split files hold numpy arrays,
    allowed through :func:`numpy_globals` for that call only), so the root may be read-only.

    Returns a ``Data`` shaped like :func:`~graphlottery.tasks.link_split`'s output:

    * ``edge_index``: the training edges only, undirected and coalesced (``[2, 2 E_train]``; a
      pair collaborating in several years is one edge), so message passing and the graph mask
      never see a validation or test edge;
    * ``val_edge_index`` / ``test_edge_index`` (``[2, P]``) and ``val_neg_edge_index`` /
      ``test_neg_edge_index`` (``[2, Q]``): OGB's ``edge`` and ``edge_neg``, transposed;
    * ``x``: OGB's node features as floats (ogbl-ddi has none: one-hot node ids ``[N, N]``, built
      as a sparse CSR identity in O(N) memory, so a first linear layer is a learnable node embedding).
    """
    key = name.lower()
    dataset = _open_local(key, _local_root(key, root, OGBL, ogbl_layout, "Link"), "Link")
    with torch.serialization.safe_globals(numpy_globals()):
        split = dataset.get_edge_split()
    graph = dataset[0]
    n = graph.num_nodes
    pairs = [split[part][kind] for part in ("train", "valid", "test") for kind in ("edge", "edge_neg")
             if kind in split[part]]
    if any(p.numel() == 0 or int(p.min()) < 0 or int(p.max()) >= n for p in pairs):
        raise DataError(f"{key} in {data_root(root)}: its edge split is empty or names nodes beyond its {n}; "
                        "the split files are damaged")
    x = graph.x.float() if graph.x is not None else sparse_identity(n)
    data = Data(x=x, edge_index=to_undirected(split["train"]["edge"].t().long(), num_nodes=n), num_nodes=n)
    for part, ogb_part in (("val", "valid"), ("test", "test")):
        data[f"{part}_edge_index"] = split[ogb_part]["edge"].t().long()
        data[f"{part}_neg_edge_index"] = split[ogb_part]["edge_neg"].t().long()
    data.name = OGBL[key]
    return data
