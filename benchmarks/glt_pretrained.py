"""Graph lottery tickets from a GraphCL pre-trained GCN against tickets from random init.

For each dataset: pre-train the GCN's first layer with node-level GraphCL (one encoder,
``configs/graphcl/<name>.yaml``), then run the GLT driver from it (rounds rewind to the
pre-trained weights) and from random initialisation, over the same seeds. Prints one JSON line
per dataset (both curves, and the sparsity at which each stops matching its own dense accuracy)
and writes ``--out/pretrained_vs_random.png`` with all curves. Interrupted runs resume.

    GRAPHLOTTERY_DATA=../shared/data python benchmarks/glt_pretrained.py --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from graphlottery import GLTConfig, run_glt
from graphlottery.contrastive.run import GraphCLConfig, run_graphcl
from graphlottery.files import save_figure, subplots
from graphlottery.runtime import keep_freed_memory, reexec_with_huge_pages

ROOT = Path(__file__).resolve().parents[1]


def stops_matching(rounds: list[dict], tolerance: float) -> dict:
    """The first round whose test accuracy falls below dense - ``tolerance``, with its sparsity."""
    dense = rounds[0]["test"]
    for r in rounds[1:]:
        if r["test"] < dense - tolerance:
            return {"round": r["round"], "graph_sparsity": round(r["graph_sparsity"], 4),
                    "weight_sparsity": round(r["weight_sparsity"], 4)}
    return {"round": None, "graph_sparsity": None, "weight_sparsity": None}


def curve(results: dict) -> list[dict]:
    return [{"round": r["round"], "graph_sparsity": round(r["graph_sparsity"], 4),
             "weight_sparsity": round(r["weight_sparsity"], 4), "test": round(r["test"], 4),
             "test_std": round(r["test_std"], 4)} for r in results["rounds"]]


def plot(all_results: dict[str, dict[str, dict]], path: Path) -> None:
    fig, axes = subplots(1, len(all_results), figsize=(5 * len(all_results), 3.8), squeeze=False)
    for ax, (dataset, runs) in zip(axes[0], all_results.items()):
        for label, results in runs.items():
            rounds = results["rounds"]
            ax.errorbar([r["weight_sparsity"] * 100 for r in rounds], [r["test"] * 100 for r in rounds],
                        yerr=[r["test_std"] * 100 for r in rounds], marker="o", ms=3, capsize=2, label=label)
        ax.set_title(f"{dataset} GCN")
        ax.set_xlabel("weight sparsity (%); graph sparsity 1 - 0.95^k")
        ax.set_ylabel("test accuracy (%)")
        ax.legend()
    save_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["cora", "citeseer"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=None, help="GLT mask-search and retraining epochs")
    ap.add_argument("--tolerance", type=float, default=0.005)
    ap.add_argument("--out", default=str(ROOT / "runs" / "pretrained"))
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    all_results: dict[str, dict[str, dict]] = {}
    for name in args.datasets:
        pre = GraphCLConfig.from_yaml(ROOT / f"configs/graphcl/{name}.yaml", seeds=[0])
        pre_results = run_graphcl(pre, out / f"graphcl_{name}", progress=args.progress)
        encoder = out / f"graphcl_{name}" / "seed_0" / "encoder.pt"
        runs = {}
        for label, kind, init in (("GraphCL init", "graphcl", str(encoder)), ("random init", "random", None)):
            config = GLTConfig.from_yaml(ROOT / f"configs/glt/{name}_gcn{'_graphcl' if init else ''}.yaml",
                                         seeds=args.seeds, rounds=args.rounds, mask_epochs=args.epochs,
                                         retrain_epochs=args.epochs, random_baseline=False, init=init)
            runs[label] = run_glt(config, out / f"{name}_{kind}", progress=args.progress)
        all_results[pre.dataset] = runs
        print(json.dumps({
            "benchmark": "glt_pretrained",
            "dataset": pre.dataset,
            "seeds": args.seeds,
            "linear_probe_of_encoder": round(pre_results["accuracy_mean"], 4),
            **{label.split()[0].lower(): {"dense_test": round(r["rounds"][0]["test"], 4),
                                          "stops_matching_dense_at": stops_matching(r["rounds"], args.tolerance),
                                          "curve": curve(r)} for label, r in runs.items()},
        }), flush=True)
    plot(all_results, out / "pretrained_vs_random.png")


if __name__ == "__main__":
    reexec_with_huge_pages()
    keep_freed_memory()
    main()
