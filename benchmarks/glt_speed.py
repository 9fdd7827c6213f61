"""Wall time of a full graph lottery ticket run (default: Cora GCN, 20 rounds of 200 + 200
epochs, one seed). Prints one JSON line: total seconds, seconds without the random-pruning
baseline, and the mean time of a mask-search and a retraining epoch.

    python benchmarks/glt_speed.py [--config configs/glt/cora_gcn.yaml] [--rounds 20] [--device cpu]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from graphlottery import GLTConfig, run_glt
from graphlottery.runtime import keep_freed_memory, reexec_with_huge_pages

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(ROOT / "configs/glt/cora_gcn.yaml"))
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()
    config = GLTConfig.from_yaml(args.config, rounds=args.rounds, seeds=[0], device=args.device,
                                 mask_epochs=args.epochs, retrain_epochs=args.epochs,
                                 random_baseline=False if args.no_baseline else None)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        results = run_glt(config, out, progress=False)
        total = time.perf_counter() - start
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
        "dense_test": results["rounds"][0]["test"],
        "final_test": results["rounds"][-1]["test"],
        "threads": torch.get_num_threads(),
        "device": args.device,
    }))


if __name__ == "__main__":
    reexec_with_huge_pages()
    keep_freed_memory()
    main()
