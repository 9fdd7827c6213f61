"""The graph lottery ticket driver: UGS rounds over several seeds, resumable, with a
random-pruning baseline, per-round tickets, ``results.json``, a curve and a table, for node
classification (Planetoid, WikipediaNetwork, OGB node datasets scored by OGB's Evaluator), link
prediction (``task: link``; ogbl-* datasets with OGB's split and Evaluator) and graph classification
(``task: graph``).

Layout of ``out``::

    config.yaml               the resolved config of the run
    seed_<s>/round_<k>.pt     the ticket after round k (round 0: dense)
    seed_<s>/history.json     one record per finished round
    results.json              means over seeds, per-seed values beside them
    curve.png                 test metric against graph and weight sparsity

A round's ticket is written before its record, so a run killed at any point and started
again with the same ``out`` continues after the last finished round and loses nothing.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from graphlottery.config import ConfigError, GLTConfig
from graphlottery.data import TU, load_dataset, load_tu
from graphlottery.data.ogb import OGBG, OGBL, OGBN, OGBN_METRIC, load_ogbg, load_ogbl, load_ogbn
from graphlottery.files import read_json, run_lock, save_figure, subplots, write_json
from graphlottery.lottery.distributed import DistributedUGS, init_distributed
from graphlottery.lottery.minibatch import MiniBatchUGS
from graphlottery.lottery.ticket import Ticket, load_weights, save_weights
from graphlottery.lottery.ugs import UGS
from graphlottery.masks import EdgeScorer, context_features, principal_components
from graphlottery.nn import MODELS, PYG_MODELS, GINClassifier, MLPDecoder, load_encoder, pyg_model
from graphlottery.tasks import (
    GraphClassification,
    LinkPrediction,
    OGBNodeClassification,
    graph_folds,
    graph_union,
    link_split,
)


def build_model(config: GLTConfig, in_channels: int, out_channels: int) -> torch.nn.Module:
    """The config's GNN with its width, depth, heads and dropout; with ``decoder: mlp`` it carries
    an :class:`~graphlottery.nn.MLPDecoder` as ``model.decoder``, so the decoder's parameters are
    trained, weight-masked, rewound and saved in tickets with the encoder's. A graph task's ``gin``
    is a :class:`~graphlottery.nn.GINClassifier` (its ``readout`` rides along the same way). ``pyg.GCN``,
    ``pyg.GAT``, ``pyg.GIN`` and ``pyg.GraphSAGE`` are PyG's own models (:func:`~graphlottery.nn.pyg_model`)."""
    if config.task == "graph" and config.model == "gin":
        return GINClassifier(in_channels, config.hidden, config.layers, out_channels,
                             0.5 if config.dropout is None else config.dropout, config.pool)
    if config.model in PYG_MODELS:
        model = pyg_model(config.model, in_channels, config.hidden, config.layers, out_channels, config.dropout,
                          config.heads)
    else:
        kwargs: dict[str, Any] = {}
        if config.dropout is not None:
            kwargs["dropout"] = config.dropout
        if config.model == "gat":
            kwargs["heads"] = config.heads
        if config.model == "deepergcn":
            kwargs.update(norm=config.norm, temperature=config.temperature,
                          learn_temperature=config.learn_temperature, mlp_layers=config.mlp_layers)
        model = MODELS[config.model](in_channels, config.hidden, config.layers, out_channels, **kwargs)
    if config.decoder == "mlp":
        model.decoder = MLPDecoder(out_channels)
    return model


ModelFn = Callable[[int, int], torch.nn.Module]  # (in_channels, out_channels) -> model
RUN_ONLY = {"rounds", "seeds", "random_baseline", "device", "data_root"}  # may change when resuming
NEEDS_MINI_BATCH = {  # graphs whose full-batch epoch does not fit in memory
    "ogbn-products": "2.4M nodes and 124M directed edges: one GENConv layer alone moves a 124M x hidden "
                     "message tensor (63 GB at hidden 128)",
    "ogbn-proteins": "132k nodes and 79M directed edges: each of DeeperGCN's 28 layers keeps a 79M x 64 message "
                     "tensor (20 GB) for the backward pass",
}


def output_width(config: GLTConfig, data) -> int:
    """The model's output width: the link embedding, one logit per task of a multi-label ``y``
    (``[N, T]``), else one per class."""
    if config.task == "link":
        return config.embedding
    return data.y.size(1) if data.y.dim() == 2 else int(data.y.max()) + 1


def build_task(config: GLTConfig, data, split: dict | None = None, model: torch.nn.Module | None = None) -> Any:
    """The UGS task of the config (``None``: node classification on ``data``'s masks); ``split``:
    the graph indices of an OGB dataset's own split; ``model``: where a link task finds its decoder."""
    if config.task == "link":
        evaluator = OGBL.get(config.dataset.lower())  # ogbl-*: Hits@K by OGB's Evaluator
        return LinkPrediction(data, config.link_metric, decoder=getattr(model, "decoder", None), evaluator=evaluator,
                              check_leaks=evaluator is None,  # OGB's own split is the benchmark's
                              val_as_input=config.link_val_as_input)
    if config.dataset.lower() in OGBN:
        return OGBNodeClassification(data, OGBN[config.dataset.lower()])
    if config.task == "graph":
        if split is not None:
            splits, metric = split, "roc_auc"
        else:
            splits, metric = graph_folds(data.y, config.fold, seed=config.split_seed), "accuracy"
        return GraphClassification(data, splits, metric, pool=config.pool, readout=getattr(model, "readout", None))
    return None


def seed_model(config: GLTConfig, data, seed: int, model_fn: ModelFn | None = None) -> torch.nn.Module:
    """The seed's model: built right after ``torch.manual_seed(seed)`` (the config's, or
    ``model_fn``'s), with the ``init`` encoder's weights loaded when the config names one."""
    torch.manual_seed(seed)
    build = model_fn if model_fn is not None else functools.partial(build_model, config)
    model = build(data.num_features, output_width(config, data))
    if config.init is not None:
        load_encoder(model, config.init, dataset=config.dataset)
    return model


def build_run(config: GLTConfig, data, seed: int, model: torch.nn.Module, split: dict | None = None,
              progress: bool = False) -> UGS:
    """The trainer of the config for ``model`` on ``data`` (:class:`~graphlottery.lottery.UGS`, or its
    mini-batch / distributed form), with the config's hyper-parameters."""
    kind, mini = UGS, {}
    if config.batch_size is not None or config.num_parts is not None:
        kind = DistributedUGS if config.distributed else MiniBatchUGS
        mini = {"num_neighbors": config.num_neighbors, "eval_batch_size": config.eval_batch_size,
                "eval_num_neighbors": config.eval_num_neighbors, "num_parts": config.num_parts}
        if config.batch_size is not None:  # cluster batches leave MiniBatchUGS's default
            mini["batch_size"] = config.batch_size
    scorer_features = None
    if config.graph_mask == "inductive":
        if data.x is None:
            raise ConfigError(f"graph_mask: inductive scores edges from node features; {config.dataset} has none")
        scorer_features = context_features(data.x, data.edge_index, config.scorer_hops)
        if config.scorer_dim is not None:
            scorer_features = principal_components(scorer_features, config.scorer_dim)
    return kind(
        model,
        data,
        build_task(config, data, split, model),
        directed=config.directed,
        lr=config.lr,
        weight_decay=config.weight_decay,
        s1=config.s1,
        s2=config.s2,
        mask_epochs=config.mask_epochs,
        retrain_epochs=config.retrain_epochs,
        prune_graph=config.prune_graph,
        prune_weight=config.prune_weight,
        mask_weight_decay=config.mask_weight_decay,
        mask_noise=config.mask_noise,
        l1=config.l1,
        early_bird=(config.early_bird_window, config.early_bird_threshold) if config.early_bird_window else None,
        edge_groups=data.batch[data.edge_index[0]] if config.task == "graph" else None,  # prune per graph
        edge_scorer=None if scorer_features is None else EdgeScorer(scorer_features.size(1)),
        scorer_features=scorer_features,
        dense_layers=config.dense_layers,
        seed=seed,
        device=config.device,
        progress=progress,
        **mini,
    )


def run_seed(config: GLTConfig, data, seed: int, out: Path, progress: bool = True, split: dict | None = None,
             model_fn: ModelFn | None = None) -> list[dict[str, Any]]:
    """All rounds of one seed, resuming from ``out/seed_<seed>`` if it holds finished rounds."""
    seed_dir = out / f"seed_{seed}"
    seed_dir.mkdir(parents=True, exist_ok=True)
    history_path = seed_dir / "history.json"
    history: list[dict[str, Any]] = read_json(history_path, list) if history_path.is_file() else []
    model = seed_model(config, data, seed, model_fn)
    writer = _rank() == 0
    ugs = build_run(config, data, seed, model, split, progress and writer)
    if isinstance(ugs, DistributedUGS):  # a process that cannot see --out would start again at round 0
        ugs.agree({"finished_rounds": len(history)}, f"when resuming {seed_dir}")
    if history:
        ugs.load_ticket(Ticket.load(seed_dir / f"round_{len(history) - 1:02d}.pt"))
        if writer:
            print(f"resuming seed {seed} after round {len(history) - 1}", file=sys.stderr)
    from graphlottery.sparsifiers import level_targets, make_sparsifier, sparsify  # they build on this package

    method = make_sparsifier(config.method, config.method_options)
    legacy = config.method == "ugs" and config.schedule == "imp"  # UGS.step: the same rounds as sparsify's
    dense_path = seed_dir / "dense_output.pt"
    if history and method.needs_dense:
        method.setup(ugs, load_weights(dense_path)["output"])
    elif history:
        method.setup(ugs)
    targets = level_targets(config.rounds, config.prune_graph, config.prune_weight)
    rounds = tqdm(range(len(history), config.rounds + 1), desc=f"seed {seed}", disable=not (progress and writer),
                  initial=len(history), total=config.rounds + 1)
    for r in rounds:
        if r == 0:
            record = ugs.dense()  # every process: these hold collectives
            method.setup(ugs, ugs.best_output)
            if method.needs_dense and writer:
                save_weights({"output": ugs.best_output.float().cpu()}, dense_path)
        elif legacy:
            record = ugs.step()
        else:
            record = next(sparsify(ugs, method, config.schedule, targets, start=r - 1))
        if config.random_baseline and r > 0:
            record["random"] = ugs.random_baseline(record["graph_sparsity"], record["weight_sparsity"])
        ticket = ugs.ticket(config.to_dict())
        history.append(record)
        if writer:
            ticket.save(seed_dir / f"round_{r:02d}.pt")
            write_json(history_path, history)
        rounds.set_postfix(test=f"{record['test']:.4f}", graph=f"{record['graph_sparsity']:.3f}",
                           weight=f"{record['weight_sparsity']:.3f}")
    return history


def _mean(values: list[float]) -> float:
    return statistics.fmean(values)


def _std(values: list[float]) -> float:
    return statistics.pstdev(values) if len(values) > 1 else 0.0


def aggregate(config: GLTConfig, histories: dict[int, list[dict[str, Any]]], data_name: str) -> dict[str, Any]:
    """Means over seeds per round, with the per-seed values beside them."""
    rounds = []
    for r in range(config.rounds + 1):
        recs = {seed: h[r] for seed, h in histories.items()}
        entry: dict[str, Any] = {"round": r}
        for key in ("graph_sparsity", "weight_sparsity", "val", "test", "macs", "seconds", "inference_ms"):
            entry[key] = _mean([rec[key] for rec in recs.values()])
        entry["macs"] = int(round(entry["macs"]))
        entry["test_std"] = _std([rec["test"] for rec in recs.values()])
        if all("random" in rec for rec in recs.values()):
            entry["random_test"] = _mean([rec["random"]["test"] for rec in recs.values()])
            entry["random_test_std"] = _std([rec["random"]["test"] for rec in recs.values()])
        entry["per_seed"] = [{"seed": seed, **rec} for seed, rec in recs.items()]
        rounds.append(entry)
    metric = {"link": config.link_metric, "node": OGBN_METRIC.get(config.dataset.lower(), "accuracy"),
              "graph": "roc_auc" if config.dataset.lower() in OGBG else "accuracy"}[config.task]
    method = config.method + (f" ({config.schedule})" if config.schedule != "imp" else "")
    return {"dataset": data_name, "model": config.model, "task": config.task, "metric": metric, "method": method,
            "seeds": list(histories), "mask_epochs": config.mask_epochs, "retrain_epochs": config.retrain_epochs,
            "rounds": rounds}


def format_table(results: dict[str, Any]) -> str:
    """A plain-text table of the rounds."""
    lines = [f"{results['dataset']} / {results['model']} ({results['metric']}, mean over seeds {results['seeds']})",
             f"{'round':>5} {'graph sp.':>9} {'weight sp.':>10} {'GLT test':>9} {'random':>7} {'MACs (M)':>9}"]
    for r in results["rounds"]:
        rand = f"{r['random_test']:.4f}" if "random_test" in r else "-"
        lines.append(f"{r['round']:>5} {r['graph_sparsity']:>9.4f} {r['weight_sparsity']:>10.4f} "
                     f"{r['test']:>9.4f} {rand:>7} {r['macs'] / 1e6:>9.1f}")
    return "\n".join(lines)


def plot_curve(results: dict[str, Any], path: Path) -> Path:
    """Test metric against graph and weight sparsity, GLT vs random pruning."""
    rounds = results["rounds"]
    fig, axes = subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, key, label in zip(axes, ("graph_sparsity", "weight_sparsity"), ("graph sparsity", "weight sparsity")):
        xs = [100 * r[key] for r in rounds]
        ax.errorbar(xs, [100 * r["test"] for r in rounds], yerr=[100 * r["test_std"] for r in rounds],
                    marker="o", ms=3, capsize=2, label=f"GLT ({results.get('method', 'ugs')})")
        rand = [r for r in rounds if "random_test" in r]
        if rand:
            ax.errorbar([100 * r[key] for r in rand], [100 * r["random_test"] for r in rand],
                        yerr=[100 * r["random_test_std"] for r in rand], marker="s", ms=3, capsize=2,
                        label="random pruning")
        ax.axhline(100 * rounds[0]["test"], color="grey", ls="--", lw=1, label="dense")
        ax.set_xlabel(f"{label} (%)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"test {results['metric']} (%)")
    axes[0].legend()
    epochs = ""
    if "mask_epochs" in results:  # results written before they were recorded lack them
        epochs = f", {results['mask_epochs']} + {results['retrain_epochs']} epochs a round"
    fig.suptitle(f"{results['dataset']} / {results['model']}: test {results['metric']}, seeds "
                 f"{', '.join(map(str, results['seeds']))}{epochs}")
    return save_figure(fig, path)


def load_data(config: GLTConfig) -> tuple[Any, dict | None]:
    """The config's graph (for a link task: split) and, for OGB molecules, their own split."""
    split = None  # an OGB dataset's own split of its graphs
    if config.task == "graph" and config.dataset.lower() in OGBG:
        dataset, split = load_ogbg(config.dataset, config.data_root)
        data = graph_union(dataset)
        data.name = OGBG[config.dataset.lower()]
    elif config.task == "graph":
        data = graph_union(load_tu(config.dataset, config.data_root))
        data.name = TU.get(config.dataset.lower(), config.dataset)  # any TUDataset name
    elif config.dataset.lower() in NEEDS_MINI_BATCH and config.batch_size is None and config.num_parts is None:
        raise ConfigError(f"{config.dataset} does not fit full-batch training "
                          f"({NEEDS_MINI_BATCH[config.dataset.lower()]}); it needs mini-batch training (graph "
                          "partitions or sampled subgraphs): set num_parts, or batch_size and num_neighbors")
    elif config.dataset.lower() in OGBN:
        data = load_ogbn(config.dataset, config.data_root)
    elif config.dataset.lower() in OGBL:
        data = load_ogbl(config.dataset, config.data_root)  # OGB's own edge split
    else:
        data = load_dataset(config.dataset, config.data_root)  # fails before anything is written
    if config.task == "link" and config.dataset.lower() not in OGBL:
        data = link_split(data, config.link_val, config.link_test, seed=config.split_seed)
    return data, split


def run_glt(config: GLTConfig, out: str | os.PathLike, progress: bool = True,
            model_fn: ModelFn | None = None) -> dict[str, Any]:
    """Run (or resume) every seed, then write ``results.json`` and ``curve.png``. With
    ``distributed: true`` (under ``torchrun``) every process runs this; rank 0 writes.

    ``model_fn(in_channels, out_channels)`` builds your own model instead of the config's
    ``model`` (called once per seed after ``torch.manual_seed(seed)``; any model
    :class:`~graphlottery.UGS` takes); the results name it by the function's ``__name__``. A
    resumed run must be given the same function: only the config is checked."""
    if config.distributed and not (dist.is_available() and dist.is_initialized()):
        config = dataclasses.replace(config, device=str(init_distributed()))
    if _rank() == 0:  # one process prepares the dataset cache; the others then read it
        data, split = load_data(config)
        _barrier()
    else:
        _barrier()
        data, split = load_data(config)
    config.check_model_memory(data.num_nodes, data.num_features, output_width(config, data))
    out = Path(out)
    with run_lock(out) if _rank() == 0 else contextlib.nullcontext():  # rank 0 holds --out for the run
        if _rank() == 0:
            config.check_resume(out, RUN_ONLY)
        _barrier()  # every process reads a finished run's files only after rank 0 checked them
        histories = {seed: run_seed(config, data, seed, out, progress, split, model_fn) for seed in config.seeds}
        results = aggregate(config, histories, getattr(data, "name", config.dataset))
        if model_fn is not None:
            results["model"] = model_fn.__name__
        if _rank() == 0:
            write_json(out / "results.json", results)
            plot_curve(results, out / "curve.png")
        _barrier()
    return results


def _rank() -> int:
    """This process's rank in a ``torch.distributed`` run (0 when there is none)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
