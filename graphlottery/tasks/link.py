"""Link prediction: held-out edges, negative sampling, pair decoders, ROC-AUC and Hits@K.

:func:`link_split` holds validation and test edges out of message passing; the graph it returns
holds only the training edges, so a graph mask over its ``edge_index`` never covers a
supervision edge of validation or test (OGB's ogbl-* splits, loaded by
:func:`~graphlottery.data.load_ogbl`, have the same shape). :class:`LinkPrediction` is the UGS
task: binary cross-entropy of :math:`\\sigma(s(u, v))` on the training edges against as many freshly
sampled node pairs per step, with :math:`s(u, v) = z_u^\\top z_v` or a trainable decoder such as
:class:`~graphlottery.nn.MLPDecoder`, and ROC-AUC or Hits@K (:func:`hits_at_k`, or OGB's
``Evaluator`` for ogbl-* datasets) on fixed validation / test positives and negatives.
"""
from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data


def _pair_keys(edge_index: Tensor, num_nodes: int) -> Tensor:
    """One integer per undirected pair ``(min, max)``."""
    lo, hi = torch.minimum(edge_index[0], edge_index[1]), torch.maximum(edge_index[0], edge_index[1])
    return lo * num_nodes + hi


def _non_edges(num_nodes: int, forbidden: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """``count`` distinct undirected node pairs ``[2, count]`` (no self-loops) whose keys are not in
    ``forbidden``, drawn uniformly (vectorised rejection sampling)."""
    found = torch.empty(0, dtype=torch.long)
    while found.numel() < count:
        need = 2 * (count - found.numel()) + 16
        pairs = torch.randint(0, num_nodes, (2, need), generator=generator)
        pairs = pairs[:, pairs[0] != pairs[1]]
        keys = torch.unique(_pair_keys(pairs, num_nodes))
        keys = keys[~torch.isin(keys, forbidden)]
        found = torch.unique(torch.cat([found, keys]))
        forbidden = torch.cat([forbidden, keys])
    found = found[torch.randperm(found.numel(), generator=generator)[:count]]
    return torch.stack([found // num_nodes, found % num_nodes])


def link_split(data: Data, val: float = 0.05, test: float = 0.1, seed: int = 0) -> Data:
    """Hold out ``val`` and ``test`` fractions of the undirected edges, with as many non-edges each.

    Returns a copy of ``data`` whose ``edge_index`` keeps the training edges (both directions)
    and which carries ``val_edge_index`` / ``test_edge_index`` (``[2, P]``, one direction) and
    ``val_neg_edge_index`` / ``test_neg_edge_index`` (``[2, P]``, never edges of the full graph).
    """
    if not (0 < val < 1 and 0 < test < 1 and val + test < 1):
        raise ValueError(f"val and test must be fractions in (0, 1) that sum below 1, got {val} and {test}")
    n = data.num_nodes
    src, dst = data.edge_index
    keep = src != dst
    keys = torch.unique(_pair_keys(data.edge_index[:, keep], n))
    if keys.numel() < 3:
        raise ValueError(f"the graph has {keys.numel()} undirected edges; link prediction needs more")
    generator = torch.Generator().manual_seed(seed)
    order = keys[torch.randperm(keys.numel(), generator=generator)]
    n_val, n_test = max(1, round(val * keys.numel())), max(1, round(test * keys.numel()))
    val_keys, test_keys, train_keys = order[:n_val], order[n_val:n_val + n_test], order[n_val + n_test:]
    train = torch.stack([train_keys // n, train_keys % n])
    out = copy.copy(data)  # shares x and the other tensors
    out.edge_index = torch.cat([train, train.flip(0)], 1)
    negatives = _non_edges(n, keys, n_val + n_test, generator)
    for name, part, neg in (("val", val_keys, negatives[:, :n_val]), ("test", test_keys, negatives[:, n_val:])):
        out[f"{name}_edge_index"] = torch.stack([part // n, part % n])
        out[f"{name}_neg_edge_index"] = neg
    for key in ("train_mask", "val_mask", "test_mask"):
        if key in out:
            del out[key]
    return out


def roc_auc(pos: Tensor, neg: Tensor) -> float:
    """ROC-AUC of scores for positives against negatives (ties count half), by ranks."""
    scores = torch.cat([pos, neg])
    order = scores.argsort()
    ranks = torch.empty_like(scores, dtype=torch.float64)
    ranks[order] = torch.arange(1, scores.numel() + 1, dtype=torch.float64, device=scores.device)
    _, inverse, counts = torch.unique(scores, return_inverse=True, return_counts=True)
    tie_mean = torch.zeros(counts.numel(), dtype=torch.float64, device=scores.device).index_add_(0, inverse, ranks)
    ranks = (tie_mean / counts)[inverse]
    n_pos, n_neg = pos.numel(), neg.numel()
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def hits_at_k(pos: Tensor, neg: Tensor, k: int) -> float:
    """OGB's Hits@K: the fraction of positives scored above the ``k``-th highest negative
    (all of them if there are fewer than ``k`` negatives)."""
    if neg.numel() < k:
        return 1.0
    threshold = torch.topk(neg, k).values[-1]
    return int((pos > threshold).sum()) / pos.numel()


def check_link_metric(metric: str) -> str:
    """Return ``metric`` if it is ``"roc_auc"`` or ``"hits@K"``; else raise a ``ValueError``."""
    if metric != "roc_auc" and not (metric.startswith("hits@") and metric[5:].isdigit()):
        raise ValueError(f"metric must be 'roc_auc' or 'hits@K' (e.g. 'hits@50'), got {metric!r}")
    return metric


def ogb_link_evaluator(name: str, k: int) -> Any:
    """OGB's ``ogb.linkproppred.Evaluator`` for dataset ``name``, set to Hits@``k`` (OGB's own
    examples set ``evaluator.K`` the same way to report several K)."""
    try:
        from ogb.linkproppred import Evaluator
    except ImportError:
        raise ImportError("OGB's Evaluator needs the ogb package: pip install 'graphlottery[ogb]'") from None
    evaluator = Evaluator(name)
    if not evaluator.eval_metric.startswith("hits@"):
        raise ValueError(f"{name} is scored by {evaluator.eval_metric!r}; LinkPrediction computes Hits@K only")
    evaluator.K = k
    return evaluator


class LinkPrediction:
    """Loss and metric for link prediction on a graph from :func:`link_split` (or
    :func:`~graphlottery.data.load_ogbl`).

    ``loss(z)``: binary cross-entropy of the pair scores :math:`s(u, v)` on the message-passing
    (training) edges against as many uniformly sampled node pairs; ``evaluate(z)``: ``(val,
    test)`` of ``metric``, ``"roc_auc"`` (Planetoid) or ``"hits@K"`` (OGB's ogbl-* metric, e.g.
    ``"hits@50"`` for ogbl-collab). Refuses a graph whose message passing contains a validation
    or test edge.

    Args:
        data: the split graph: ``edge_index`` (message passing and training positives) and
            ``{val,test}_edge_index`` / ``{val,test}_neg_edge_index`` (``[2, P]``).
        metric: ``"roc_auc"`` or ``"hits@K"``.
        decoder: ``None`` for the dot product :math:`s(u, v) = z_u^\\top z_v` (:meth:`score`), or a
            module called as ``decoder(z, pairs) -> [P]`` (e.g. :class:`~graphlottery.nn.MLPDecoder`);
            register it on the encoder (``model.decoder = decoder``) so UGS trains, masks, rewinds
            and saves it with the model.
        evaluator: an OGB link dataset name (``"ogbl-collab"``): Hits@K is then computed by OGB's
            ``Evaluator(evaluator).eval({"y_pred_pos", "y_pred_neg"})`` instead of :func:`hits_at_k`.
        check_leaks: refuse validation / test pairs that are also message-passing edges. Off for
            a benchmark's own split: ogbl-collab's 2018–2019 collaborations may repeat earlier ones.
        val_as_input: score the test pairs with the validation edges added to message passing
            (both directions, unmasked), as OGB allows for ogbl-collab; validation pairs are
            always scored on the training edges alone. ``test_input`` holds those edges.
    """

    def __init__(self, data: Data, metric: str = "roc_auc", decoder: nn.Module | None = None,
                 evaluator: str | None = None, check_leaks: bool = True, val_as_input: bool = False):
        self.metric = check_link_metric(metric)
        for key in ("val_edge_index", "val_neg_edge_index", "test_edge_index", "test_neg_edge_index"):
            if data.get(key) is None:
                raise ValueError(f"link prediction needs data.{key}; split the graph with link_split first")
        if evaluator is not None and metric == "roc_auc":
            raise ValueError(f"OGB's Evaluator ({evaluator}) is used for Hits@K; metric is {metric!r}")
        n = data.num_nodes
        message = _pair_keys(data.edge_index, n)
        for part in ("val", "test") if check_leaks else ():
            leaked = torch.isin(_pair_keys(data[f"{part}_edge_index"], n), message)
            if bool(leaked.any()):
                raise ValueError(f"{int(leaked.sum())} {part} edges are also message-passing edges: the split leaks")
        self.num_nodes = n
        self.decoder = decoder
        self.evaluator = None if evaluator is None else ogb_link_evaluator(evaluator, int(metric[5:]))
        self.train = data.edge_index[:, data.edge_index[0] < data.edge_index[1]]
        self.eval_edges = {p: (data[f"{p}_edge_index"], data[f"{p}_neg_edge_index"]) for p in ("val", "test")}
        val = data.val_edge_index
        self.test_input = torch.cat([val, val.flip(0)], 1) if val_as_input else None

    def to(self, device: torch.device | str) -> LinkPrediction:
        self.train = self.train.to(device)
        if self.test_input is not None:
            self.test_input = self.test_input.to(device)
        self.eval_edges = {k: (p.to(device), q.to(device)) for k, (p, q) in self.eval_edges.items()}
        if self.decoder is not None:
            self.decoder.to(device)
        return self

    @staticmethod
    def score(z: Tensor, pairs: Tensor) -> Tensor:
        """Dot-product decoder: :math:`z_u^\\top z_v` for each pair, ``[P]``."""
        return (z[pairs[0]] * z[pairs[1]]).sum(-1)

    def decode(self, z: Tensor, pairs: Tensor) -> Tensor:
        """Logits ``[P]`` of the pairs ``[2, P]``: the decoder's, else the dot product."""
        return self.score(z, pairs) if self.decoder is None else self.decoder(z, pairs)

    def loss(self, z: Tensor) -> Tensor:
        pos = self.decode(z, self.train)
        neg_pairs = torch.randint(0, self.num_nodes, self.train.shape, device=z.device)
        neg = self.decode(z, neg_pairs)
        return (F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos))
                + F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg)))

    def metric_value(self, pos: Tensor, neg: Tensor) -> float:
        """``metric`` of positive scores ``[P]`` against negative scores ``[Q]``."""
        if self.metric == "roc_auc":
            return roc_auc(pos, neg)
        if self.evaluator is not None:
            return float(self.evaluator.eval({"y_pred_pos": pos, "y_pred_neg": neg})[self.metric])
        return hits_at_k(pos, neg, int(self.metric[5:]))

    @torch.no_grad()
    def evaluate(self, z: Tensor, z_test: Tensor | None = None) -> tuple[float, float]:
        """``(val, test)`` from the embeddings ``z`` (``[N, d]``); ``z_test``: the embeddings
        the test pairs are scored with (default ``z``; with ``val_as_input``, those computed with
        the validation edges added)."""
        (val_pos, val_neg), (test_pos, test_neg) = self.eval_edges["val"], self.eval_edges["test"]
        z_test = z if z_test is None else z_test
        val = self.metric_value(self.decode(z, val_pos), self.decode(z, val_neg))
        return val, self.metric_value(self.decode(z_test, test_pos), self.decode(z_test, test_neg))
