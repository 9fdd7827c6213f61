"""Full-batch node classification: cross-entropy on training nodes, accuracy elsewhere; and the
OGB variant scored by OGB's ``Evaluator`` (accuracy, or ROC-AUC over binary tasks)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data


class NodeClassification:
    """Loss and metric for node classification on one graph.

    Uses ``data.y`` and boolean ``data.train_mask`` / ``val_mask`` / ``test_mask`` (``[N]``).
    ``evaluate`` returns ``(val, test)`` accuracies in ``[0, 1]``.
    """

    metric = "accuracy"

    def __init__(self, data: Data):
        for key in ("y", "train_mask", "val_mask", "test_mask"):
            if data.get(key) is None:
                raise ValueError(f"node classification needs data.{key}")
        n = data.num_nodes
        for key in ("y", "train_mask", "val_mask", "test_mask"):
            if data[key].size(0) != n:
                raise ValueError(f"data.{key} has {data[key].size(0)} entries but the graph has {n} nodes")
        self.y = data.y
        self.splits = {k: data[f"{k}_mask"].nonzero().view(-1) for k in ("train", "val", "test")}
        for key, index in self.splits.items():
            if index.numel() == 0:
                raise ValueError(f"data.{key}_mask selects no nodes")
        self.num_classes = int(data.y.max()) + 1
        self.num_outputs = self.num_classes  # the model's output width

    def to(self, device: torch.device | str) -> NodeClassification:
        self.y = self.y.to(device)
        self.splits = {k: v.to(device) for k, v in self.splits.items()}
        return self

    def loss(self, out: Tensor) -> Tensor:
        idx = self.splits["train"]
        return F.cross_entropy(out[idx], self.y[idx])

    def batch_loss(self, out: Tensor, nodes: Tensor) -> Tensor:
        """The loss of ``nodes`` (``[b]``) from their outputs ``out`` (``[b, num_outputs]``),
        summed over nodes: dividing by the number of training nodes gives :meth:`loss`."""
        return F.cross_entropy(out, self.y[nodes], reduction="sum")

    @torch.no_grad()
    def evaluate(self, out: Tensor) -> tuple[float, float]:
        correct = out.argmax(-1) == self.y
        val, test = torch.stack([correct[self.splits[k]].float().mean() for k in ("val", "test")]).tolist()
        return val, test  # one device sync per evaluation


class OGBNodeClassification(NodeClassification):
    """Node classification on an OGB node dataset, scored by OGB's own ``Evaluator``.

    Single-label ``data.y`` (``[N]`` class indices; ogbn-arxiv, ogbn-products): cross-entropy and
    accuracy. Multi-label ``data.y`` (``[N, T]`` of 0/1; ogbn-proteins, T = 112): one logit per
    task, binary cross-entropy on the training nodes, and ROC-AUC averaged over the tasks that
    have both labels among the evaluated nodes. ``evaluate`` returns ``(val, test)`` in ``[0, 1]``.
    """

    def __init__(self, data: Data, name: str):
        from ogb.nodeproppred import Evaluator

        super().__init__(data)
        self.evaluator = Evaluator(name)
        self.multilabel = data.y.dim() == 2
        self.metric = {"acc": "accuracy", "rocauc": "roc_auc"}[self.evaluator.eval_metric]
        tasks = data.y.size(1) if self.multilabel else 1
        if tasks != self.evaluator.num_tasks:
            raise ValueError(f"{name} has {self.evaluator.num_tasks} task(s) but data.y holds {tasks}")
        self.num_outputs = tasks if self.multilabel else self.num_classes

    def loss(self, out: Tensor) -> Tensor:
        if not self.multilabel:
            return super().loss(out)
        idx = self.splits["train"]
        return F.binary_cross_entropy_with_logits(out[idx], self.y[idx].to(out.dtype))

    def batch_loss(self, out: Tensor, nodes: Tensor) -> Tensor:
        if not self.multilabel:
            return super().batch_loss(out, nodes)
        target = self.y[nodes].to(out.dtype)  # mean over tasks, summed over nodes
        return F.binary_cross_entropy_with_logits(out, target, reduction="sum") / max(out.size(1), 1)

    @torch.no_grad()
    def evaluate(self, out: Tensor) -> tuple[float, float]:
        pred = out if self.multilabel else out.argmax(-1, keepdim=True)
        key = "rocauc" if self.multilabel else "acc"
        scores = []
        for split in ("val", "test"):
            idx = self.splits[split]
            y_true = self.y[idx].view(idx.numel(), -1)
            scores.append(float(self.evaluator.eval({"y_true": y_true, "y_pred": pred[idx]})[key]))
        return scores[0], scores[1]
