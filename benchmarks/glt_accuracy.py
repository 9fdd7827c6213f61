"""Accuracy of graph lottery tickets against sparsity, over several seeds.

For each config, runs (or resumes) the GLT driver into ``--out/<config name>`` and prints one
JSON line: dense test accuracy, the GLT and random-pruning curves (means over seeds), the last
round through which every GLT round stays within ``--tolerance`` of dense, and the rounds where
GLT beats random pruning. Interrupted runs resume where they stopped.

    python benchmarks/glt_accuracy.py --configs configs/glt/cora_gcn.yaml configs/glt/citeseer_gcn.yaml \\
        --seeds 0 1 2 3 4 --out runs/accuracy
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from graphlottery import GLTConfig, run_glt
from graphlottery.runtime import keep_freed_memory, reexec_with_huge_pages

ROOT = Path(__file__).resolve().parents[1]


def summarise(results: dict, tolerance: float) -> dict:
    rounds = results["rounds"]
    dense = rounds[0]["test"]
    matched = 0
    for r in rounds[1:]:
        if r["test"] < dense - tolerance:
            break
        matched = r["round"]
    with_random = [r for r in rounds[1:] if "random_test" in r]
    return {
        "benchmark": "glt_accuracy",
        "dataset": results["dataset"],
        "model": results["model"],
        "seeds": results["seeds"],
        "dense_test": round(dense, 4),
        "matches_dense_through_round": matched,
        "matched_sparsity": {
            "graph": round(rounds[matched]["graph_sparsity"], 4),
            "weight": round(rounds[matched]["weight_sparsity"], 4),
        },
        "glt_above_random_rounds": sum(r["test"] > r["random_test"] for r in with_random),
        "rounds_with_random": len(with_random),
        "curve": [
            {
                "round": r["round"],
                "graph_sparsity": round(r["graph_sparsity"], 4),
                "weight_sparsity": round(r["weight_sparsity"], 4),
                "test": round(r["test"], 4),
                "test_std": round(r["test_std"], 4),
                "random_test": round(r["random_test"], 4) if "random_test" in r else None,
                "macs": r["macs"],
            }
            for r in rounds
        ],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", nargs="+", default=[str(ROOT / "configs/glt/cora_gcn.yaml"),
                                                     str(ROOT / "configs/glt/citeseer_gcn.yaml")])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--device", default=None)
    ap.add_argument("--prune-graph", type=float, default=None, help="override p_g (0: weights only)")
    ap.add_argument("--prune-weight", type=float, default=None, help="override p_theta (0: graph only)")
    ap.add_argument("--l1", choices=["coupled", "decoupled"], default=None, help="override the L1 mode")
    ap.add_argument("--tolerance", type=float, default=0.005, help="accuracy below dense still counted as matching")
    ap.add_argument("--out", default=str(ROOT / "runs" / "accuracy"))
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args()
    for path in args.configs:
        config = GLTConfig.from_yaml(path, seeds=args.seeds, rounds=args.rounds, device=args.device,
                                     mask_epochs=args.epochs, retrain_epochs=args.epochs,
                                     prune_graph=args.prune_graph, prune_weight=args.prune_weight, l1=args.l1)
        results = run_glt(config, Path(args.out) / Path(path).stem, progress=args.progress)
        print(json.dumps(summarise(results, args.tolerance)), flush=True)


if __name__ == "__main__":
    reexec_with_huge_pages()
    keep_freed_memory()
    main()
