"""Graph lottery tickets for graph classification under the 10-fold protocol.

Runs a graph-classification GLT config once per test fold (``fold: 0..9`` of the stratified
10-fold split; the driver's output for fold ``f`` goes to ``--out/fold_<f>`` and resumes), then
reports, per round, the mean and standard deviation over folds of the test accuracy of the GLT
ticket and of the random-pruning baseline. Prints one JSON line and writes it to
``--out/folds.json``.

    python benchmarks/graphcls_folds.py configs/graphcls/mutag_gin.yaml --out runs/mutag_folds
    python benchmarks/graphcls_folds.py configs/graphcls/nci1_gin.yaml --rounds 4 --epochs 50 --out runs/nci1_folds
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from graphlottery.config import GLTConfig
from graphlottery.files import write_json
from graphlottery.lottery.glt import run_glt


def summarise(values: list[float]) -> dict[str, float]:
    return {"mean": round(statistics.fmean(values), 4), "std": round(statistics.pstdev(values), 4)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--out", required=True)
    ap.add_argument("--folds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--epochs", type=int, help="mask-search and retraining epochs")
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()
    per_fold = {}
    for fold in args.folds:
        config = GLTConfig.from_yaml(args.config, fold=fold, rounds=args.rounds, mask_epochs=args.epochs,
                                     retrain_epochs=args.epochs,
                                     random_baseline=False if args.no_baseline else None)
        if config.task != "graph":
            raise SystemExit(f"{args.config} is not a graph-classification config (task: {config.task})")
        per_fold[fold] = run_glt(config, Path(args.out) / f"fold_{fold}", progress=False)["rounds"]
    rounds = []
    for r in range(len(next(iter(per_fold.values())))):
        recs = [rounds_[r] for rounds_ in per_fold.values()]
        entry = {"round": r, "graph_sparsity": round(recs[0]["graph_sparsity"], 4),
                 "weight_sparsity": round(recs[0]["weight_sparsity"], 4),
                 "test": summarise([rec["test"] for rec in recs])}
        if all("random_test" in rec for rec in recs):
            entry["random_test"] = summarise([rec["random_test"] for rec in recs])
        rounds.append(entry)
    result = {"benchmark": "graphcls_folds", "dataset": config.dataset, "folds": args.folds, "rounds": rounds}
    write_json(Path(args.out) / "folds.json", result)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
