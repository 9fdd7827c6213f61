"""Unsupervised graph classification with GraphCL (the paper's TU protocol), 5 seeds.

Pre-trains a GIN encoder per seed with ``graphlottery graphcl``'s code, evaluates the frozen
embeddings with the 10-fold SVM protocol, and prints one JSON line per dataset with the mean
and std accuracy next to the GraphCL paper's mean (target: within 2 points). Finished seeds in
``--out`` are kept, so an interrupted run resumes.

    GRAPHLOTTERY_DATA=../shared/data python benchmarks/graphcl_accuracy.py
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from graphlottery.contrastive.run import GraphCLConfig, run_graphcl

ROOT = Path(__file__).resolve().parents[1]
PAPER = {"MUTAG": 0.8680, "NCI1": 0.7787, "IMDB-BINARY": 0.7114}  # GraphCL (NeurIPS 2020), Table 3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", nargs="+", default=[str(ROOT / f"configs/graphcl/{n}.yaml")
                                                     for n in ("mutag", "nci1", "imdb_binary")])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--joao", action="store_true", help="learn the augmentation distribution with JOAO")
    ap.add_argument("--out", default=str(ROOT / "runs" / "graphcl"))
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    for path in args.configs:
        config = GraphCLConfig.from_yaml(path, seeds=args.seeds, epochs=args.epochs, joao=args.joao or None)
        start = time.perf_counter()
        out = Path(args.out) / (Path(path).stem + ("_joao" if args.joao else ""))
        results = run_graphcl(config, out, progress=args.progress)
        paper = PAPER.get(config.dataset)
        print(json.dumps({
            "benchmark": "graphcl_accuracy",
            "dataset": config.dataset,
            "joao": config.joao,
            "seeds": results["seeds"],
            "accuracy_mean": round(results["accuracy_mean"], 4),
            "accuracy_std": round(results["accuracy_std"], 4),
            "per_seed": [round(a, 4) for a in results["per_seed"]],
            "paper_mean": paper,
            "gap_points": None if paper is None else round(100 * (results["accuracy_mean"] - paper), 2),
            "seconds": round(time.perf_counter() - start, 1),
        }), flush=True)


if __name__ == "__main__":
    main()
