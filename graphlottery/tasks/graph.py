"""Graph classification on one masked graph: the disjoint union of a dataset of graphs.

:func:`graph_union` stacks every graph of a dataset into one ``Data`` (node ``batch`` ids, one
label per graph), so a single edge mask covers every edge of the dataset with stable global ids
(the union's ``edge_index`` columns, in dataset order) and UGS runs on it unchanged.
:class:`GraphClassification` pools the model's node outputs per graph (sum or mean) and, given a
``readout`` module, maps the pooled embeddings to logits; without one the pooled outputs are the
logits (for a GNN whose last layer is linear, mean-pooling its outputs equals pooling its
embeddings and applying that layer).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.utils import scatter

from graphlottery.tasks.link import roc_auc


def graph_union(dataset) -> Data:
    """One ``Data`` holding every graph of ``dataset``: ``x``, ``edge_index`` (global ids),
    ``batch`` (``[N]`` graph of every node) and ``y`` (``[G]``)."""
    if len(dataset) == 0:
        raise ValueError("the dataset holds no graphs")
    batch = Batch.from_data_list(list(dataset))
    if batch.x is None:
        raise ValueError("the graphs have no node features; load TU datasets with featureless='constant' or 'degree'")
    return Data(x=batch.x, edge_index=batch.edge_index, batch=batch.batch, y=batch.y.view(-1),
                num_nodes=batch.num_nodes)


def graph_folds(y: Tensor, fold: int, folds: int = 10, seed: int = 0) -> dict[str, Tensor]:
    """Train / val / test graph indices: stratified ``folds``-fold split, fold ``fold`` as the
    test set and a stratified ninth of the rest as the validation set."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    if not 0 <= fold < folds:
        raise ValueError(f"fold must be in [0, {folds}), got {fold}")
    labels = y.cpu().numpy()
    rest, test = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(labels, labels))[fold]
    train, val = train_test_split(rest, test_size=1 / (folds - 1), stratify=labels[rest], random_state=seed)
    return {k: torch.as_tensor(v) for k, v in (("train", train), ("val", val), ("test", test))}


class GraphClassification:
    """Loss and metric for graph classification on a :func:`graph_union`: cross-entropy of the
    graph logits on the training graphs; ``metric`` ``"accuracy"``, or ``"roc_auc"`` for binary
    labels (OGB's molecule metric; scores: class-1 minus class-0 logit).

    The logits of graph ``g`` are ``readout(POOL_{i in g} out_i)`` with ``pool`` ``"mean"`` or
    ``"sum"``; without ``readout`` the pooled node outputs themselves. Register the readout on the
    model (as :class:`~graphlottery.nn.GINClassifier` does) so UGS trains, masks and rewinds it.
    """

    def __init__(self, data: Data, splits: dict[str, Tensor], metric: str = "accuracy", pool: str = "mean",
                 readout: nn.Module | None = None):
        if metric not in ("accuracy", "roc_auc"):
            raise ValueError(f"metric must be 'accuracy' or 'roc_auc', got {metric!r}")
        if pool not in ("mean", "sum"):
            raise ValueError(f"pool must be 'mean' or 'sum', got {pool!r}")
        self.reduce, self.readout = pool, readout
        if metric == "roc_auc" and int(data.y.max()) > 1:
            raise ValueError("roc_auc needs binary graph labels")
        self.metric = metric
        if data.get("batch") is None or data.batch.numel() != data.num_nodes:
            raise ValueError("graph classification needs data.batch with the graph of every node (see graph_union)")
        self.num_graphs = int(data.y.numel())
        named = int(data.batch.max()) + 1
        if named != self.num_graphs:
            raise ValueError(f"data.y has {self.num_graphs} labels but data.batch names {named} graphs")
        for key in ("train", "val", "test"):
            if splits.get(key) is None or splits[key].numel() == 0:
                raise ValueError(f"the {key} split holds no graphs")
        self.batch, self.y, self.splits = data.batch, data.y, splits

    def to(self, device: torch.device | str) -> GraphClassification:
        self.batch, self.y = self.batch.to(device), self.y.to(device)
        self.splits = {k: v.to(device) for k, v in self.splits.items()}
        return self

    def pool(self, out: Tensor) -> Tensor:
        """Graph logits ``[G, C]``: the pooled node outputs, through ``readout`` when given."""
        pooled = scatter(out, self.batch, dim=0, dim_size=self.num_graphs, reduce=self.reduce)
        return pooled if self.readout is None else self.readout(pooled)

    def loss(self, out: Tensor) -> Tensor:
        idx = self.splits["train"]
        return F.cross_entropy(self.pool(out)[idx], self.y[idx])

    @torch.no_grad()
    def evaluate(self, out: Tensor) -> tuple[float, float]:
        pooled = self.pool(out)
        if self.metric == "roc_auc":
            score = pooled[:, 1] - pooled[:, 0]
            positive = self.y == 1
            val, test = (roc_auc(score[i][positive[i]], score[i][~positive[i]])
                         for i in (self.splits["val"], self.splits["test"]))
            return val, test
        correct = pooled.argmax(-1) == self.y
        val, test = torch.stack([correct[self.splits[k]].float().mean() for k in ("val", "test")]).tolist()
        return val, test
