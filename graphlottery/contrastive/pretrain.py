"""GraphCL pre-training: contrast two views of each graph (graph level) or of each node (node
level) with NT-Xent, optionally choosing the augmentation with JOAO."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader
from tqdm.auto import tqdm

from graphlottery.contrastive.augment import JOAO
from graphlottery.contrastive.loss import nt_xent

Augment = Callable[[Data], Data]


class ProjectionHead(nn.Sequential):
    """``Linear -> ReLU -> Linear`` at constant width, discarded after pre-training."""

    def __init__(self, channels: int):
        super().__init__(nn.Linear(channels, channels), nn.ReLU(), nn.Linear(channels, channels))
        for lin in (self[0], self[2]):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)


def graph_embeddings(encoder: nn.Module, data: Batch) -> Tensor:
    """Graph embeddings ``[num_graphs, D]`` of a batch from a :class:`~graphlottery.nn.GINEncoder`."""
    return encoder(data.x, data.edge_index, data.batch, num_graphs=data.num_graphs)[0]


def view_loss(encoder: nn.Module, head: nn.Module, batch: Batch, augment: Augment, temperature: float) -> Tensor:
    """NT-Xent between the batch itself and its augmented view (GraphCL's unsupervised setting)."""
    z1 = head(graph_embeddings(encoder, batch))
    z2 = head(graph_embeddings(encoder, augment(batch)))
    return nt_xent(z1, z2, temperature)


def pretrain_graphs(
    encoder: nn.Module,
    dataset: Sequence[Data],
    augment: Augment,
    epochs: int = 20,
    batch_size: int = 128,
    lr: float = 0.01,
    temperature: float = 0.2,
    joao: JOAO | None = None,
    joao_fraction: float = 0.2,
    device: str | torch.device = "cpu",
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> list[dict[str, float | list[float]]]:
    """Pre-train a graph encoder with GraphCL and return one record per epoch (mean loss, and
    JOAO's augmentation distribution when given).

    Each batch is contrasted with its view ``augment(batch)``. With ``joao`` (a
    :class:`~graphlottery.contrastive.augment.JOAO` driving the ``RandomChoice`` that is
    ``augment``), after each epoch the loss of every candidate augmentation is estimated on a
    ``joao_fraction`` of the batches and the distribution takes one projected ascent step.
    """
    if joao is not None and getattr(joao, "choice", None) is not augment:
        raise ValueError("joao must drive the RandomChoice used as augment: build it as JOAO(augment)")
    device = torch.device(device)
    head = ProjectionHead(encoder.out_channels).to(device)
    encoder.to(device)
    optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=lr)
    # NT-Xent needs two graphs per batch: never leave a last batch of one
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator,
                        drop_last=len(dataset) % batch_size == 1)
    history: list[dict[str, float | list[float]]] = []
    for epoch in tqdm(range(epochs), desc="pre-training", disable=not progress):
        encoder.train()
        head.train()
        total, count = torch.zeros((), device=device), 0
        for batch in loader:
            batch = batch.to(device)
            loss = view_loss(encoder, head, batch, augment, temperature)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, count = total + loss.detach() * batch.num_graphs, count + batch.num_graphs
        record: dict[str, float | list[float]] = {"epoch": epoch + 1, "loss": float(total) / count}  # one sync
        if joao is not None:
            losses = candidate_losses(encoder, head, loader, joao.choice.transforms, temperature, joao_fraction, device)
            record["joao_probs"] = joao.update(losses).tolist()
        history.append(record)
    return history


@torch.no_grad()
def candidate_losses(
    encoder: nn.Module,
    head: nn.Module,
    loader: DataLoader,
    candidates: list[Augment],
    temperature: float,
    fraction: float,
    device: torch.device,
) -> Tensor:
    """Mean NT-Xent of each candidate augmentation on the first ``fraction`` of the batches."""
    encoder.eval()
    head.eval()
    num_batches = max(1, round(fraction * len(loader)))
    losses = torch.zeros(len(candidates))
    for i, batch in enumerate(loader):
        if i == num_batches:
            break
        batch = batch.to(device)
        for k, candidate in enumerate(candidates):
            losses[k] += float(view_loss(encoder, head, batch, candidate, temperature)) / num_batches
    return losses


@torch.no_grad()
def embed_graphs(
    encoder: nn.Module, dataset: Iterable[Data], batch_size: int = 512, device: str | torch.device = "cpu"
) -> tuple[Tensor, Tensor]:
    """Frozen graph embeddings ``[G, D]`` (encoder in eval mode) and graph labels ``[G]``."""
    encoder.eval()
    embeddings, labels = [], []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        batch = batch.to(device)
        embeddings.append(graph_embeddings(encoder, batch).cpu())
        labels.append(batch.y.view(-1).cpu())
    return torch.cat(embeddings), torch.cat(labels)


def node_embeddings(encoder: nn.Module, data: Data, edge_weight: Tensor | None = None) -> Tensor:
    """Node embeddings ``ReLU(encoder(x, edge_index))``, ``[N, D]``."""
    return F.relu(encoder(data.x, data.edge_index, edge_weight))


def aligned(view1: Data, view2: Data, num_nodes: int) -> tuple[Tensor, Tensor]:
    """Positions in ``view1`` and ``view2`` of the input nodes both views kept (via their ``n_id``)."""
    position = torch.full((num_nodes,), -1, dtype=torch.long, device=view2.n_id.device)
    position[view2.n_id] = torch.arange(view2.n_id.numel(), device=view2.n_id.device)
    in_both = position[view1.n_id]
    keep = in_both >= 0
    return keep.nonzero().view(-1), in_both[keep]


def pretrain_nodes(
    encoder: nn.Module,
    data: Data,
    augment: Augment,
    channels: int,
    epochs: int = 200,
    lr: float = 0.001,
    weight_decay: float = 1e-5,
    temperature: float = 0.5,
    max_nodes: int = 4096,
    device: str | torch.device = "cpu",
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Node-level GraphCL: two augmented views of the graph, NT-Xent between the projected
    embeddings of the nodes both views kept (aligned through ``n_id``; at most ``max_nodes``
    of them per step, so memory stays O(max_nodes²)). Returns one record per epoch."""
    device = torch.device(device)
    encoder.to(device)
    data = data.to(device)
    head = ProjectionHead(channels).to(device)
    optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=lr, weight_decay=weight_decay)
    history = []
    for epoch in tqdm(range(epochs), desc="pre-training", disable=not progress):
        encoder.train()
        head.train()
        view1, view2 = augment(data), augment(data)
        i1, i2 = aligned(view1, view2, data.num_nodes)
        if i1.numel() > max_nodes:
            pick = torch.randperm(i1.numel(), generator=generator)[:max_nodes].to(i1.device)
            i1, i2 = i1[pick], i2[pick]
        z1 = head(node_embeddings(encoder, view1)[i1])
        z2 = head(node_embeddings(encoder, view2)[i2])
        loss = nt_xent(z1, z2, temperature, symmetric=True)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append({"epoch": epoch + 1, "loss": float(loss.detach())})
    return history
