"""The GraphCL experiment: pre-train an encoder per seed and evaluate its frozen embeddings.

Graph level (TU datasets): a GIN encoder, each graph contrasted with an augmented view, then
the unsupervised protocol (10-fold SVM, ``C`` chosen on the training folds). Node level
(Planetoid): a one-layer GCN encoder whose weights a GLT run can start from (``init:``),
evaluated by a linear probe on the public split.

Layout of ``out``::

    config.yaml             the resolved config
    seed_<s>/encoder.pt     the pre-trained encoder (a checkpoint for ``init:`` in GLT configs)
    seed_<s>/result.json    that seed's accuracy and per-epoch losses (a rerun skips the seed)
    results.json            {"dataset", "accuracy_mean", "accuracy_std", "seeds", "per_seed"}
    loss.png                pre-training loss per epoch and seed
"""
from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from graphlottery.config import Config, ConfigError
from graphlottery.contrastive.augment import JOAO, AttrMask, EdgePerturb, Identity, NodeDrop, RandomChoice, Subgraph
from graphlottery.contrastive.evaluate import linear_probe_accuracy, svm_accuracy
from graphlottery.contrastive.pretrain import embed_graphs, node_embeddings, pretrain_graphs, pretrain_nodes
from graphlottery.data import DATASETS, TU, load_dataset, load_tu
from graphlottery.files import cached_json, run_lock, save_figure, subplots, write_json
from graphlottery.nn import GCN, GINEncoder, save_encoder

AUGMENTATIONS = {
    "node_drop": lambda ratio, g: NodeDrop(ratio, generator=g),
    "subgraph": lambda ratio, g: Subgraph(ratio, generator=g),
    "edge_perturb": lambda ratio, g: EdgePerturb(ratio, generator=g),
    "attr_mask": lambda ratio, g: AttrMask(ratio, generator=g),
    "attr_mask_columns": lambda ratio, g: AttrMask(ratio, mode="columns", fill="zero", generator=g),
    "identity": lambda ratio, g: Identity(),
}
RUN_ONLY = {"seeds", "device", "data_root"}  # may change when resuming


@dataclass
class GraphCLConfig(Config):
    """GraphCL pre-training and evaluation on one dataset.

    ``augmentations``: the pool one augmentation is drawn from per batch (graph level: the
    batch is contrasted with its view, as in GraphCL's unsupervised setting; node level: two
    views are drawn per step); names from ``AUGMENTATIONS``, each of strength ``aug_ratio``.
    ``joao``: learn the draw probabilities with JOAO (``joao_gamma``; graph level only).
    Graph level uses ``hidden``/``layers`` for the GIN encoder, ``batch_size`` and
    ``featureless`` (features for TU graphs without any); node level a one-layer GCN of width
    ``hidden`` (``layers`` unused), ``weight_decay`` and ``max_nodes`` (nodes contrasted per step).
    """

    dataset: str
    augmentations: list[str] = field(default_factory=lambda: ["node_drop", "subgraph", "edge_perturb", "attr_mask"])
    aug_ratio: float = 0.2
    joao: bool = False
    joao_gamma: float = 0.1
    hidden: int = 32
    layers: int = 3
    epochs: int = 20
    batch_size: int = 128
    lr: float = 0.01
    weight_decay: float = 0.0
    temperature: float = 0.2
    featureless: str = "constant"
    max_nodes: int = 4096
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    device: str = "cpu"
    data_root: str | None = None

    def __post_init__(self) -> None:
        self._check(("hidden", "layers", "epochs", "batch_size", "max_nodes"),
                    {"featureless": ("constant", "degree")}, datasets={**TU, **DATASETS})
        unknown = sorted(set(self.augmentations) - set(AUGMENTATIONS))
        if unknown or not self.augmentations:
            raise ConfigError(f"augmentations must name at least one of {sorted(AUGMENTATIONS)}, got {unknown}")
        if not 0.0 <= self.aug_ratio <= 1.0:
            raise ConfigError(f"aug_ratio must be in [0, 1], got {self.aug_ratio}")
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be positive, got {self.temperature}")
        if self.joao and self.level == "node":
            raise ConfigError("joao is implemented for graph-level pre-training (TU datasets) only")

    @property
    def level(self) -> str:
        """``"graph"`` for TU datasets, ``"node"`` for single-graph ones."""
        return "graph" if self.dataset.lower() in TU else "node"


def build_augment(config: GraphCLConfig, generator: torch.Generator) -> RandomChoice:
    """A ``RandomChoice`` over the config's augmentations (uniform to start)."""
    return RandomChoice([AUGMENTATIONS[name](config.aug_ratio, generator) for name in config.augmentations],
                        generator=generator)


def run_seed(config: GraphCLConfig, seed: int, seed_dir: Path, progress: bool = True) -> dict[str, Any]:
    """Pre-train and evaluate one seed; save the encoder to ``seed_dir/encoder.pt``."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    augment = build_augment(config, generator)
    device = torch.device(config.device)
    if config.level == "graph":
        dataset = load_tu(config.dataset, config.data_root, featureless=config.featureless)
        encoder = GINEncoder(dataset.num_features, config.hidden, config.layers)
        joao = JOAO(augment, gamma=config.joao_gamma) if config.joao else None
        history = pretrain_graphs(encoder, dataset, augment, config.epochs, config.batch_size, config.lr,
                                  config.temperature, joao=joao, device=device, generator=generator,
                                  progress=progress)
        embeddings, labels = embed_graphs(encoder, dataset, device=device)
        accuracy, folds = svm_accuracy(embeddings, labels, seed=seed)
        result: dict[str, Any] = {"seed": seed, "accuracy": accuracy, "fold_accuracies": folds}
    else:
        data = load_dataset(config.dataset, config.data_root)
        encoder = GCN(data.num_features, config.hidden, 1, config.hidden)
        history = pretrain_nodes(encoder, data, augment, config.hidden, config.epochs, config.lr,
                                 config.weight_decay, config.temperature, config.max_nodes, device, generator,
                                 progress)
        encoder.eval()
        with torch.no_grad():
            embeddings = node_embeddings(encoder, data.to(device))
        accuracy = linear_probe_accuracy(embeddings, data.y, data.train_mask, data.test_mask)
        result = {"seed": seed, "accuracy": accuracy}
    save_encoder(encoder, seed_dir / "encoder.pt", dataset=config.dataset, seed=seed, config=config.to_dict())
    result["history"] = history
    return result


def aggregate(dataset: str, per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and (population) std of the accuracy over seeds, as the GLT results, with the per-seed values."""
    accuracies = [r["accuracy"] for r in per_seed]
    return {
        "dataset": dataset,
        "accuracy_mean": statistics.fmean(accuracies),
        "accuracy_std": statistics.pstdev(accuracies),
        "seeds": [r["seed"] for r in per_seed],
        "per_seed": accuracies,
    }


def plot_losses(per_seed: list[dict[str, Any]], path: Path) -> Path:
    """Pre-training loss against epoch, one line per seed."""
    fig, ax = subplots(figsize=(5, 3.5))
    for result in per_seed:
        ax.plot([h["epoch"] for h in result["history"]], [h["loss"] for h in result["history"]],
                label=f"seed {result['seed']}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("NT-Xent loss")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def run_graphcl(config: GraphCLConfig, out: str | os.PathLike, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) every seed, then write ``results.json`` and ``loss.png``."""
    out = Path(out)
    with run_lock(out):
        config.check_resume(out, RUN_ONLY)
        per_seed = [cached_json(out / f"seed_{seed}" / "result.json",
                                lambda seed=seed: run_seed(config, seed, out / f"seed_{seed}", progress))
                    for seed in tqdm(config.seeds, desc="seeds", disable=not progress)]
        results = aggregate(config.dataset, per_seed)
        write_json(out / "results.json", results)
        plot_losses(per_seed, out / "loss.png")
    return results


def format_table(results: dict[str, Any]) -> str:
    """One line: dataset, mean ± std accuracy in percent, and the per-seed values."""
    seeds = ", ".join(f"{a * 100:.2f}" for a in results["per_seed"])
    return (f"{results['dataset']}: accuracy {results['accuracy_mean'] * 100:.2f} ± "
            f"{results['accuracy_std'] * 100:.2f} (seeds: {seeds})")


__all__ = ["AUGMENTATIONS", "GraphCLConfig", "build_augment", "format_table", "run_graphcl", "run_seed"]
