"""Wall time of a full graph lottery ticket run (default: Cora GCN, 20 rounds of 200 + 200
epochs, one seed). Prints one JSON line: total seconds, seconds without the random-pruning
baseline, and the mean seconds per epoch of the run (mask search and retraining).

    python benchmarks/glt_speed.py [--config configs/glt/cora_gcn.yaml] [--rounds 20] [--device cpu]
        [--no-baseline] [--prune-weight 0]

``--prune-weight 0`` measures a graph-only sweep (weights stay dense); ``--pyg-epochs N`` also
times N training epochs of PyG's model of the config's architecture (``pyg.GCN`` for ``gcn``)
on the same graph in the same process: the median of a dense retraining epoch (step and
evaluation) of each and their ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from graphlottery import GLTConfig, run_glt
from graphlottery.data import load_dataset
from graphlottery.lottery.glt import build_model, build_run, output_width
from graphlottery.nn import pyg_model
from graphlottery.runtime import keep_freed_memory, reexec_with_huge_pages

ROOT = Path(__file__).resolve().parents[1]
PYG = {"gcn": "pyg.GCN", "gat": "pyg.GAT", "gin": "pyg.GIN", "sage": "pyg.GraphSAGE"}


def epoch_seconds(config: GLTConfig, epochs: int) -> dict[str, float]:
    """Median seconds of a dense retraining epoch (training step and evaluation, as a sweep's
    epochs are) of the config's model and of PyG's, alternating, after 3 warm-up epochs each."""
    data = load_dataset(config.dataset, config.data_root)
    f, c = data.num_features, output_width(config, data)
    runs = {}
    for name in ("ours", "pyg"):
        torch.manual_seed(0)
        model = build_model(config, f, c) if name == "ours" else pyg_model(
            PYG[config.model], f, config.hidden, config.layers, c, config.dropout, config.heads)
        ugs = build_run(config, data, 0, model)
        view = ugs._view()
        optimizer = torch.optim.Adam(ugs.model.parameters(), lr=ugs.lr, weight_decay=ugs.weight_decay)
        runs[name] = (ugs, view, optimizer)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(3 + epochs):
        for name in (("ours", "pyg") if i % 2 == 0 else ("pyg", "ours")):
            ugs, view, optimizer = runs[name]
            start = time.perf_counter()
            ugs._fit_epoch(optimizer, view)
            ugs._evaluate(view)
            if i >= 3:
                times[name].append(time.perf_counter() - start)
    ours, pyg = statistics.median(times["ours"]), statistics.median(times["pyg"])
    return {"epoch_ours_s": round(ours, 4), "epoch_pyg_s": round(pyg, 4), "pyg_over_ours": round(pyg / ours, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(ROOT / "configs/glt/cora_gcn.yaml"))
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--prune-weight", type=float, default=None, help="override the config's (0: graph only)")
    ap.add_argument("--pyg-epochs", type=int, default=0, help="also time PyG's model (see above)")
    args = ap.parse_args()
    config = GLTConfig.from_yaml(args.config, rounds=args.rounds, seeds=[0], device=args.device,
                                 mask_epochs=args.epochs, retrain_epochs=args.epochs,
                                 random_baseline=False if args.no_baseline else None,
                                 prune_weight=args.prune_weight)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        results = run_glt(config, out, progress=False)
        total = time.perf_counter() - start
    epochs = None if not args.pyg_epochs else epoch_seconds(config, args.pyg_epochs)
    per_seed = [r["per_seed"][0] for r in results["rounds"]]
    glt_seconds = sum(r["seconds"] for r in per_seed)
    random_seconds = sum(r["random"]["seconds"] for r in per_seed if "random" in r)
    print(json.dumps({
        "benchmark": "glt_speed",
        "dataset": results["dataset"],
        "model": results["model"],
        "rounds": config.rounds,
        "epochs_per_round": config.mask_epochs + config.retrain_epochs,
        "total_seconds": round(total, 1),
        "glt_seconds": round(glt_seconds, 1),
        "random_baseline_seconds": round(random_seconds, 1),
        "prune_weight": config.prune_weight,
        "mean_epoch_seconds": round(glt_seconds / (config.retrain_epochs
                                                   + config.rounds * (config.mask_epochs + config.retrain_epochs)), 4),
        **(epochs or {}),
        "dense_test": results["rounds"][0]["test"],
        "final_test": results["rounds"][-1]["test"],
        "threads": torch.get_num_threads(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "device": args.device,
    }))


if __name__ == "__main__":
    reexec_with_huge_pages()
    keep_freed_memory()
    main()
