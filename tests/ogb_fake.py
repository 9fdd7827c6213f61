"""Small generated datasets written in OGB's raw on-disk layout (the real ones cannot be
downloaded in the tests): ``<root>/ogbn_arxiv/`` and ``<root>/ogbn_proteins/`` with ``raw/*.csv.gz``,
``split/<type>/{train,valid,test}.csv.gz``, ``mapping/`` and ``RELEASE_v1.txt``, and
``<root>/ogbl_collab/`` with ``raw/*.csv.gz`` and ``split/time/{train,valid,test}.pt``, as OGB
unzips them.

Nodes fall into communities; edges mostly join nodes of one community, and labels and features
follow the community, so a GNN can learn something in a few epochs.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def _csv(path: Path, values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(values.reshape(len(values), -1))
    frame.to_csv(path, header=False, index=False, compression="gzip")


def _communities(rng: np.random.Generator, num_nodes: int, num_edges: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Community of every node ``[N]`` and ``[E, 2]`` distinct non-loop pairs, 80% inside a community."""
    group = rng.integers(0, k, num_nodes)
    members = np.argsort(group, kind="stable")
    start, size = np.searchsorted(group[members], np.arange(k)), np.bincount(group, minlength=k)
    src = rng.integers(0, num_nodes, 4 * num_edges)
    same = members[start[group[src]] + (rng.random(src.size) * size[group[src]]).astype(np.int64)]
    dst = np.where(rng.random(src.size) < 0.8, same, rng.integers(0, num_nodes, src.size))
    pairs = np.unique(np.stack([np.minimum(src, dst), np.maximum(src, dst)], 1)[src != dst], axis=0)
    return group, rng.permutation(pairs)[:num_edges]


def _split(base: Path, kind: str, num_nodes: int, rng: np.random.Generator) -> None:
    order = rng.permutation(num_nodes)
    cut = [int(0.6 * num_nodes), int(0.8 * num_nodes)]
    for name, index in zip(("train", "valid", "test"), np.split(order, cut)):
        _csv(base / "split" / kind / f"{name}.csv.gz", np.sort(index))


def _common(base: Path, num_nodes: int, edges: np.ndarray) -> None:
    _csv(base / "raw" / "edge.csv.gz", edges)
    _csv(base / "raw" / "num-node-list.csv.gz", np.array([num_nodes]))
    _csv(base / "raw" / "num-edge-list.csv.gz", np.array([len(edges)]))
    (base / "mapping").mkdir(parents=True, exist_ok=True)
    (base / "mapping" / "README.md").write_text("generated test data\n")
    (base / "RELEASE_v1.txt").write_text("generated test data in OGB's layout\n")


def write_arxiv_like(root: Path, num_nodes: int = 300, num_edges: int = 900, classes: int = 5,
                     features: int = 16, seed: int = 0) -> Path:
    """``<root>/ogbn_arxiv``: directed citations, float features, one class per node, time split."""
    rng = np.random.default_rng(seed)
    base = Path(root) / "ogbn_arxiv"
    group, pairs = _communities(rng, num_nodes, num_edges, classes)
    flip = rng.random(len(pairs)) < 0.5  # citations point one way
    edges = np.where(flip[:, None], pairs[:, ::-1], pairs)
    centres = rng.normal(size=(classes, features))
    x = (centres[group] + rng.normal(scale=1.5, size=(num_nodes, features))).astype(np.float32)
    _common(base, num_nodes, edges)
    _csv(base / "raw" / "node-feat.csv.gz", x)
    _csv(base / "raw" / "node-label.csv.gz", group)
    _csv(base / "raw" / "node_year.csv.gz", rng.integers(2010, 2020, num_nodes))
    _split(base, "time", num_nodes, rng)
    return base


def write_proteins_like(root: Path, num_nodes: int = 200, num_edges: int = 800, tasks: int = 112,
                        seed: int = 0) -> Path:
    """``<root>/ogbn_proteins``: undirected edges listed once with 8-d edge features, no node
    features, ``tasks`` binary labels per node (OGB's Evaluator wants 112), species split."""
    rng = np.random.default_rng(seed)
    base = Path(root) / "ogbn_proteins"
    group, edges = _communities(rng, num_nodes, num_edges, 4)
    edge_feat = rng.random((len(edges), 8)) * 0.5 + 0.5 * (group[edges[:, :1]] == np.arange(8) % 4)
    prob = rng.random((4, tasks))[group]
    labels = (rng.random((num_nodes, tasks)) < prob).astype(np.int64)
    _common(base, num_nodes, edges)
    _csv(base / "raw" / "edge-feat.csv.gz", edge_feat.astype(np.float32).round(3))
    _csv(base / "raw" / "node-label.csv.gz", labels)
    _csv(base / "raw" / "node_species.csv.gz", rng.choice([3702, 4932, 6239], num_nodes))
    _split(base, "species", num_nodes, rng)
    return base


def _save_numpy_split(path: Path, split: dict[str, np.ndarray]) -> None:
    """``torch.save`` a dict of numpy arrays as OGB's 2020 split files are: torch's legacy format,
    pickled under numpy 1, so the array reconstructor is named ``numpy.core.multiarray._reconstruct``
    (the legacy pickle names globals as text lines, so the name can be rewritten in place)."""
    buffer = io.BytesIO()
    torch.save(split, buffer, _use_new_zipfile_serialization=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))


def write_collab_like(root: Path, num_nodes: int = 400, num_pairs: int = 1600, features: int = 32,
                      num_neg: int = 300, seed: int = 0) -> Path:
    """``<root>/ogbl_collab``: undirected collaborations with a year and a weight, 128-d-like float
    features; pairs first seen up to 2017 train (some repeated in a later training year, so
    ``raw/edge.csv.gz`` lists them twice, as in OGB), 2018 validate, 2019 test, each evaluation
    set with ``num_neg`` non-edges (``edge_neg``)."""
    rng = np.random.default_rng(seed)
    base = Path(root) / "ogbl_collab"
    group, pairs = _communities(rng, num_nodes, num_pairs, 6)
    x = rng.normal(size=(6, features))[group] + rng.normal(scale=1.0, size=(num_nodes, features))
    year = rng.choice([2015, 2016, 2017, 2018, 2019], len(pairs), p=[0.3, 0.25, 0.25, 0.1, 0.1])
    train = year <= 2017
    again = np.flatnonzero(train & (year < 2017))[:50]  # repeated collaborations, a later year
    edges = np.concatenate([pairs[train], pairs[again]])
    years = np.concatenate([year[train], year[again] + 1])
    weights = rng.integers(1, 4, len(edges))
    _csv(base / "raw" / "edge.csv.gz", edges)
    _csv(base / "raw" / "node-feat.csv.gz", x.astype(np.float32).round(4))
    _csv(base / "raw" / "edge_weight.csv.gz", weights)
    _csv(base / "raw" / "edge_year.csv.gz", years)
    _csv(base / "raw" / "num-node-list.csv.gz", np.array([num_nodes]))
    _csv(base / "raw" / "num-edge-list.csv.gz", np.array([len(edges)]))
    (base / "RELEASE_v1.txt").write_text("generated test data in OGB's layout\n")
    keys = set((pairs[:, 0] * num_nodes + pairs[:, 1]).tolist())
    cand = rng.integers(0, num_nodes, (20 * num_neg, 2))
    cand = cand[(cand[:, 0] != cand[:, 1])
                & ~np.isin(np.minimum(cand[:, 0], cand[:, 1]) * num_nodes + np.maximum(cand[:, 0], cand[:, 1]),
                           list(keys))]
    split = base / "split" / "time"
    _save_numpy_split(split / "train.pt", {"edge": edges, "weight": weights, "year": years})
    for i, (name, y) in enumerate((("valid", 2018), ("test", 2019))):
        part = year == y
        _save_numpy_split(split / f"{name}.pt", {"edge": pairs[part], "weight": rng.integers(1, 4, int(part.sum())),
                                                  "year": year[part], "edge_neg": cand[i * num_neg:(i + 1) * num_neg]})
    return base


def write_ddi_like(root: Path, num_nodes: int = 300, num_pairs: int = 1500, num_neg: int = 200, seed: int = 0) -> Path:
    """``<root>/ogbl_ddi``: an undirected interaction graph with no node features, OGB's
    ``target`` split of its pairs (80 / 10 / 10) and ``num_neg`` non-edges per evaluation set."""
    rng = np.random.default_rng(seed)
    base = Path(root) / "ogbl_ddi"
    _, pairs = _communities(rng, num_nodes, num_pairs, 5)
    part = rng.choice(3, len(pairs), p=[0.8, 0.1, 0.1])
    _csv(base / "raw" / "edge.csv.gz", pairs[part == 0])
    _csv(base / "raw" / "num-node-list.csv.gz", np.array([num_nodes]))
    _csv(base / "raw" / "num-edge-list.csv.gz", np.array([int((part == 0).sum())]))
    (base / "RELEASE_v1.txt").write_text("generated test data in OGB's layout\n")
    keys = pairs[:, 0] * num_nodes + pairs[:, 1]
    cand = rng.integers(0, num_nodes, (20 * num_neg, 2))
    cand = cand[(cand[:, 0] != cand[:, 1])
                & ~np.isin(np.minimum(cand[:, 0], cand[:, 1]) * num_nodes + np.maximum(cand[:, 0], cand[:, 1]), keys)]
    split = base / "split" / "target"
    _save_numpy_split(split / "train.pt", {"edge": pairs[part == 0]})
    for i, name in enumerate(("valid", "test")):
        _save_numpy_split(split / f"{name}.pt", {"edge": pairs[part == i + 1],
                                                  "edge_neg": cand[i * num_neg:(i + 1) * num_neg]})
    return base
