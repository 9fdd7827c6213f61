r"""Black-box verification with a trigger set: keyed inputs with keyed random labels that the
owner trains into the ticket (for a GNN: isolated trigger nodes, :func:`add_trigger_nodes`).
A model trained without the key predicts each trigger's label with probability exactly
``1 / C`` (the labels are uniform and independent of it), so ``hits ~ Binomial(n, 1/C)`` under
the null and the p-value needs only the suspect's outputs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data

from graphlottery.watermark.code import log10_binomial_tail


@dataclass
class TriggerSet:
    """Trigger ``inputs`` (node ids ``[n]`` of a graph, or inputs ``[n, ...]``), owner-chosen
    ``labels`` ``[n]`` and the number of classes."""

    inputs: Tensor
    labels: Tensor
    num_classes: int


@dataclass
class TriggerVerification:
    """``hits`` of ``n`` triggers, ``accuracy``, the p-value against chance and the verdict."""

    verified: bool
    accuracy: float
    hits: int
    n: int
    p_value: float
    log10_p_value: float
    alpha: float


def _labels(n: int, num_classes: int, generator: torch.Generator) -> Tensor:
    if num_classes < 2:
        raise ValueError(f"a trigger set needs at least 2 classes, got {num_classes}")
    return torch.randint(0, num_classes, (n,), generator=generator)


def add_trigger_nodes(data: Data, triggers: TriggerSet) -> tuple[Data, Tensor]:
    """``data`` with the triggers appended as isolated nodes (features ``triggers.inputs``,
    labels ``triggers.labels``, outside every split mask), and their node ids. A GNN sees a
    trigger node only through its own features, so learning the triggers leaves the
    predictions of the graph's nodes alone."""
    n, num = data.num_nodes, triggers.labels.numel()
    if triggers.inputs.shape != (num, data.num_features):
        raise ValueError(f"trigger features have shape {list(triggers.inputs.shape)}, the graph's nodes "
                         f"{data.num_features} features")
    out = data.clone()
    out.x = torch.cat([data.x, triggers.inputs.to(data.x)])
    if data.get("y") is not None:
        out.y = torch.cat([data.y, triggers.labels.to(data.y)])
    for key in ("train_mask", "val_mask", "test_mask"):
        if data.get(key) is not None:
            out[key] = torch.cat([data[key], data[key].new_zeros(num)])
    out.num_nodes = n + num
    return out, torch.arange(n, n + num, device=data.x.device)


def input_triggers(like: Tensor, num: int, num_classes: int, seed: int) -> TriggerSet:
    """``num`` keyed noise inputs shaped like the rows of ``like`` (uniform over its value range),
    with keyed random labels: an abstract-image trigger set."""
    generator = torch.Generator().manual_seed(seed)
    low, high = float(like.min()), float(like.max())
    inputs = low + (high - low) * torch.rand((num, *like.shape[1:]), generator=generator)
    return TriggerSet(inputs, _labels(num, num_classes, generator), num_classes)


class TriggerTask:
    """A node task (see :class:`~graphlottery.tasks.NodeClassification`) on a graph with trigger
    nodes (:func:`add_trigger_nodes`) whose loss also fits them:
    ``task.loss(out) + weight · CE(out[nodes], triggers.labels)``; the metric is unchanged."""

    def __init__(self, task, nodes: Tensor, triggers: TriggerSet, weight: float = 1.0):
        self.task, self.nodes, self.labels, self.weight = task, nodes, triggers.labels, weight
        self.metric = task.metric

    def to(self, device: torch.device | str) -> TriggerTask:
        self.task, self.nodes, self.labels = self.task.to(device), self.nodes.to(device), self.labels.to(device)
        return self

    def loss(self, out: Tensor) -> Tensor:
        return self.task.loss(out) + self.weight * F.cross_entropy(out[self.nodes], self.labels)

    def evaluate(self, out: Tensor) -> tuple[float, float]:
        return self.task.evaluate(out)


def verify_triggers(logits: Tensor, triggers: TriggerSet, alpha: float = 1e-6) -> TriggerVerification:
    """Test a suspect's logits on the triggers (``[n, C]``) against chance ``1 / C``."""
    if logits.dim() != 2 or logits.size(0) != triggers.labels.numel() or logits.size(1) != triggers.num_classes:
        raise ValueError(f"expected logits [{triggers.labels.numel()}, {triggers.num_classes}] for the triggers, "
                         f"got {list(logits.shape)}")
    hits, n = int((logits.argmax(-1).cpu() == triggers.labels.cpu()).sum()), triggers.labels.numel()
    log10_p = log10_binomial_tail(hits, n, 1.0 / triggers.num_classes)
    return TriggerVerification(verified=log10_p < math.log10(alpha), accuracy=hits / n, hits=hits, n=n,
                               p_value=10.0**log10_p, log10_p_value=log10_p, alpha=alpha)
