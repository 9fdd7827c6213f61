"""The Cold Brew experiment: baselines, teacher and student on a strict-cold-start split,
per head / tail / isolated node set, over several seeds, plus the dataset's FCR.

Layout of ``out``::

    config.yaml        the resolved config
    seed_<s>.json      one finished seed (a rerun with the same ``out`` skips it)
    results.json       means over seeds, per-seed values beside them
    accuracy.png       accuracy per node set and model
"""
from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from graphlottery.coldbrew.fcr import feature_contribution_ratio, label_propagation
from graphlottery.coldbrew.split import MODES, cold_start_split
from graphlottery.coldbrew.student import MLP, SCORES, ColdBrewStudent
from graphlottery.coldbrew.teacher import StructuralEmbeddingGCN
from graphlottery.config import Config, ConfigError
from graphlottery.data import load_dataset
from graphlottery.files import cached_json, run_lock, save_figure, subplots, write_json
from graphlottery.graph import MaskedGraph
from graphlottery.lottery.ticket import Ticket
from graphlottery.lottery.ugs import prepare_features
from graphlottery.masks import WeightMasks
from graphlottery.nn import GCN
from graphlottery.sparse import Adjacency

MODELS = ("gcn", "mlp", "label_propagation", "teacher", "coldbrew")
NODE_SETS = ("isolated", "tail", "head", "all")
RUN_ONLY = {"seeds", "device", "data_root"}  # may change when resuming


@dataclass
class ColdBrewConfig(Config):
    """Cold Brew on one dataset. Teacher / baseline GCN and MLP share ``hidden``, ``dropout``,
    ``lr``, ``weight_decay`` and ``epochs``; the student has its own ``student_*`` settings.

    ``mimic_nodes``: nodes whose teacher embeddings the student's first MLP learns to predict
    (``non_isolated``, the paper; ``train``, the released code). ``pool``: nodes whose teacher
    embeddings may be virtual neighbours (``non_evaluation``: neither validation nor test nodes;
    ``train``; ``all``, the released code). ``score`` / ``temperature`` / ``k``: how virtual
    neighbours are found and weighted (the paper: ``dot``, 1, 3); ``include_mimic``: the student's
    classifier also sees its own predicted teacher embedding (the released code does; the paper
    does not). ``student_gate``: start the side inputs' learnable scales at this value (the released
    code: ``1e-4``; ``None``: no scales). ``ticket``: a GCN ticket (e.g. from ``graphlottery glt``)
    whose rewind weights, weight masks and edge mask the teacher starts from and keeps.
    """

    dataset: str
    hidden: int = 64
    dropout: float = 0.6
    lr: float = 0.005
    weight_decay: float = 5e-4
    epochs: int = 300
    se_layers: list[int] = field(default_factory=lambda: [0])
    se_reg: float = 1e-3
    se_init_std: float = 0.1
    student_hidden: int = 256
    student_dropout: float = 0.5
    student_lr: float = 0.005
    mimic_epochs: int = 300
    k: int = 10
    score: str = "cosine"
    temperature: float = 0.1
    include_mimic: bool = True
    student_gate: float | None = None
    mimic_nodes: str = "non_isolated"
    pool: str = "non_evaluation"
    isolated: float = 0.1
    tail: float = 0.1
    head: float = 0.1
    split_mode: str = "fraction"
    lp_steps: int = 50
    lp_alpha: float = 0.5
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    ticket: str | None = None
    device: str = "cpu"
    data_root: str | None = None

    def __post_init__(self) -> None:
        self._check(("hidden", "epochs", "student_hidden", "mimic_epochs", "k", "lp_steps"),
                    {"mimic_nodes": ("non_isolated", "train"), "pool": ("non_evaluation", "train", "all"),
                     "split_mode": MODES, "score": SCORES})
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be positive, got {self.temperature}")


def train_classifier(
    model: nn.Module,
    forward: Callable[[], Tensor],
    y: Tensor,
    masks: dict[str, Tensor],
    epochs: int,
    lr: float,
    weight_decay: float,
    regulariser: Callable[[], Tensor] | None = None,
) -> Tensor:
    """Train with Adam on ``masks["train"]``; return the predictions (``[N]``) of the epoch with
    the best validation accuracy."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, foreach=True)
    best, best_pred = -1.0, None
    for _ in range(epochs):
        model.train()
        optimizer.zero_grad(set_to_none=True)
        out = forward()
        loss = F.cross_entropy(out[masks["train"]], y[masks["train"]])
        if regulariser is not None:
            loss = loss + regulariser()
        loss.backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            pred = forward().argmax(-1)
        val = float((pred[masks["val"]] == y[masks["val"]]).float().mean())
        if val > best:
            best, best_pred = val, pred
    return best_pred


def train_mimic(student: ColdBrewStudent, x: Tensor, targets: Tensor, nodes: Tensor, epochs: int, lr: float,
                weight_decay: float) -> None:
    """Fit the student's first MLP to the teacher embeddings of ``nodes`` (mean squared error)."""
    optimizer = torch.optim.Adam(student.mimic.parameters(), lr=lr, weight_decay=weight_decay, foreach=True)
    student.mimic.train()
    for _ in range(epochs):
        optimizer.zero_grad(set_to_none=True)
        F.mse_loss(student.mimic(x)[nodes], targets[nodes]).backward()
        optimizer.step()


def accuracies(pred: Tensor, y: Tensor, data) -> dict[str, float]:
    """Test accuracy on each node set (isolated / tail / head, intersected with the test set) and overall."""
    out = {}
    for name in NODE_SETS:
        nodes = data.test_mask if name == "all" else data.test_mask & data[f"{name}_mask"]
        out[name] = float((pred[nodes] == y[nodes]).float().mean()) if bool(nodes.any()) else float("nan")
    return out


def _teacher(config: ColdBrewConfig, data, num_classes: int, device: torch.device) -> tuple[nn.Module, Tensor]:
    """The structural-embedding teacher and its edge weights (cold-start mask, and the ticket's)."""
    data = data.cpu()  # tickets load on the CPU; both results move to ``device`` at the end
    gnn = GCN(data.num_features, config.hidden, 2, num_classes, dropout=config.dropout)
    edge_weight = data.cold_edge_mask.float()
    if config.ticket is not None:
        graph = MaskedGraph(data)
        masks = WeightMasks(gnn)
        Ticket.load(config.ticket).apply(gnn, masks, graph)
        masks.attach()
        edge_weight = edge_weight * graph.edge_mask().float()
    teacher = StructuralEmbeddingGCN(gnn, data.num_nodes, config.se_layers, config.se_init_std)
    return teacher.to(device), edge_weight.to(device)


def run_seed(config: ColdBrewConfig, seed: int, progress: bool = False) -> dict[str, Any]:
    """Every model on one seed's cold-start split; accuracies per node set, and the FCR inputs."""
    device = torch.device(config.device)
    data = load_dataset(config.dataset, config.data_root, split=seed % 10)
    data = cold_start_split(data, config.isolated, config.tail, config.head, config.split_mode, seed)
    data = data.to(device)
    x, y = prepare_features(data.x, sparse_ok=True), data.y
    num_classes = int(y.max()) + 1
    adj = Adjacency(data.edge_index, data.num_nodes)
    cold = data.cold_edge_mask.float()
    masks = {"train": data.train_mask, "val": data.val_mask}
    common = dict(y=y, masks=masks, epochs=config.epochs, lr=config.lr, weight_decay=config.weight_decay)
    preds: dict[str, Tensor] = {}
    steps = tqdm(total=7, desc=f"seed {seed}", leave=False, disable=not progress)

    def step(name: str, fn: Callable[[], Tensor]) -> Tensor:
        torch.manual_seed(seed)
        out = fn()
        steps.set_postfix_str(name)
        steps.update()
        return out

    def gcn_on(edge_weight: Tensor | None) -> Tensor:
        gcn = GCN(data.num_features, config.hidden, 2, num_classes, dropout=config.dropout).to(device)
        return train_classifier(gcn, lambda: gcn(x, adj, edge_weight), **common)

    def mlp() -> Tensor:
        model = MLP([data.num_features, config.hidden, num_classes], config.dropout).to(device)
        return train_classifier(model, lambda: model(x), **common)

    def lp_on(edge_weight: Tensor | None) -> Tensor:
        return label_propagation(adj, y, data.train_mask, num_classes, config.lp_steps, config.lp_alpha,
                                 edge_weight).argmax(-1)

    preds["gcn"] = step("gcn", lambda: gcn_on(cold))
    preds["mlp"] = step("mlp", mlp)
    preds["label_propagation"] = step("label propagation", lambda: lp_on(cold))
    torch.manual_seed(seed)
    teacher, teacher_weight = _teacher(config, data, num_classes, device)
    preds["teacher"] = step("teacher", lambda: train_classifier(
        teacher, lambda: teacher(x, adj, teacher_weight), regulariser=lambda: config.se_reg * teacher.regulariser(),
        **common))
    targets = teacher.targets(x, adj, teacher_weight)

    def student() -> Tensor:
        model = ColdBrewStudent(data.num_features, targets.size(1), num_classes, config.student_hidden,
                                config.student_dropout, config.k, config.score, config.temperature,
                                config.include_mimic, config.student_gate).to(device)
        mimic = ~data.isolated_mask if config.mimic_nodes == "non_isolated" else data.train_mask
        train_mimic(model, x, targets, mimic.nonzero().view(-1), config.mimic_epochs, config.student_lr,
                    config.weight_decay)
        pool = {"non_evaluation": ~(data.val_mask | data.test_mask), "train": data.train_mask,
                "all": torch.ones_like(data.train_mask)}[config.pool].nonzero().view(-1)
        self_index = torch.full((data.num_nodes,), -1, dtype=torch.long, device=device)
        self_index[pool] = torch.arange(pool.numel(), device=device)
        neighbours = model.neighbour_features(x, targets[pool], self_index)
        return train_classifier(model, lambda: model(x, neighbours), y=y, masks=masks, epochs=config.epochs,
                                lr=config.student_lr, weight_decay=config.weight_decay)

    preds["coldbrew"] = step("cold brew student", student)
    # FCR is a property of the dataset: GCN and label propagation on the whole graph
    full = {"gcn": step("gcn, whole graph", lambda: gcn_on(None)),
            "label_propagation": step("label propagation, whole graph", lambda: lp_on(None))}
    steps.close()
    scored = {m: accuracies(p, y, data) for m, p in preds.items()}
    splits = {name: {m: acc[name] for m, acc in scored.items()} for name in NODE_SETS}
    whole = {m: accuracies(p, y, data)["all"] for m, p in full.items()}
    whole["mlp"] = splits["all"]["mlp"]
    sizes = {name: int((data.test_mask & data[f"{name}_mask"]).sum()) for name in NODE_SETS if name != "all"}
    return {"seed": seed, "splits": splits, "fcr_inputs": whole,
            "fcr": feature_contribution_ratio(whole["gcn"], whole["mlp"], whole["label_propagation"]),
            "test_nodes": {**sizes, "all": int(data.test_mask.sum())}}


def aggregate(dataset: str, per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over seeds, with the per-seed values beside them."""
    def mean(values):
        values = [v for v in values if v == v]  # skip NaN (a node set with no test nodes)
        return statistics.fmean(values) if values else float("nan")

    def std(values):
        values = [v for v in values if v == v]
        return statistics.pstdev(values) if len(values) > 1 else 0.0

    splits = {
        name: {m: mean([r["splits"][name][m] for r in per_seed]) for m in MODELS} for name in NODE_SETS
    }
    splits_std = {
        name: {m: std([r["splits"][name][m] for r in per_seed]) for m in MODELS} for name in NODE_SETS
    }
    return {
        "dataset": dataset,
        "seeds": [r["seed"] for r in per_seed],
        "splits": splits,
        "splits_std": splits_std,
        "fcr": mean([r["fcr"] for r in per_seed]),
        "fcr_inputs": {m: mean([r["fcr_inputs"][m] for r in per_seed]) for m in ("gcn", "mlp", "label_propagation")},
        "per_seed": per_seed,
    }


def format_table(results: dict[str, Any]) -> str:
    lines = [f"{results['dataset']}: test accuracy, mean over seeds {results['seeds']}",
             f"{'nodes':>9} " + " ".join(f"{m:>17}" for m in MODELS)]
    for name in NODE_SETS:
        lines.append(f"{name:>9} " + " ".join(f"{results['splits'][name][m]:>17.4f}" for m in MODELS))
    inputs = results["fcr_inputs"]
    lines.append(f"FCR {100 * results['fcr']:.1f}% (whole graph: GCN {inputs['gcn']:.4f}, MLP {inputs['mlp']:.4f}, "
                 f"label propagation {inputs['label_propagation']:.4f})")
    return "\n".join(lines)


def plot_bars(results: dict[str, Any], path: Path) -> Path:
    fig, ax = subplots(figsize=(9, 4))
    width = 0.8 / len(MODELS)
    for i, m in enumerate(MODELS):
        xs = [j + (i - (len(MODELS) - 1) / 2) * width for j in range(len(NODE_SETS))]
        ax.bar(xs, [100 * results["splits"][s][m] for s in NODE_SETS], width,
               yerr=[100 * results["splits_std"][s][m] for s in NODE_SETS], capsize=2, label=m.replace("_", " "))
    ax.set_xticks(range(len(NODE_SETS)), NODE_SETS)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{results['dataset']}: cold start (FCR {100 * results['fcr']:.1f}%)")
    ax.legend(fontsize=8, ncol=len(MODELS), loc="lower center")
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)


def run_coldbrew(config: ColdBrewConfig, out: str | os.PathLike, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) every seed, then write ``results.json`` and ``accuracy.png``."""
    out = Path(out)
    with run_lock(out):
        config.check_resume(out, RUN_ONLY)
        per_seed = [cached_json(out / f"seed_{seed}.json", lambda seed=seed: run_seed(config, seed, progress))
                    for seed in tqdm(config.seeds, desc="seeds", disable=not progress)]
        results = aggregate(config.dataset, per_seed)
        write_json(out / "results.json", results)
        plot_bars(results, out / "accuracy.png")
    return results
