"""Full-batch node classification: cross-entropy on training nodes, accuracy elsewhere."""
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

    def to(self, device: torch.device | str) -> NodeClassification:
        self.y = self.y.to(device)
        self.splits = {k: v.to(device) for k, v in self.splits.items()}
        return self

    def loss(self, out: Tensor) -> Tensor:
        idx = self.splits["train"]
        return F.cross_entropy(out[idx], self.y[idx])

    @torch.no_grad()
    def evaluate(self, out: Tensor) -> tuple[float, float]:
        correct = out.argmax(-1) == self.y
        val, test = torch.stack([correct[self.splits[k]].float().mean() for k in ("val", "test")]).tolist()
        return val, test  # one device sync per evaluation
