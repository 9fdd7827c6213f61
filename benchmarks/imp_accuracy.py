"""IMP, random pruning (uniform, ERK) and early-bird tickets on the digits ResNet, 5 seeds.

Runs ``configs/imp/digits_resnet.yaml`` (8 rounds of 20%: 83.2% weight sparsity) into ``--out``
(resumable), then draws an early-bird ticket per seed at the last round's sparsity. Prints one
JSON line: the curves, the first round at >= 80% sparsity with IMP / ERK / uniform accuracy
against dense (targets: IMP within 1 point, ERK within 2), and the early-bird epoch (target:
before 40% of training) and accuracy against the IMP ticket (target: within 1 point).

    python benchmarks/imp_accuracy.py --seeds 0 1 2 3 4
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from graphlottery.lottery.imp import IMPConfig, early_bird_ticket, run_imp

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(ROOT / "configs/imp/digits_resnet.yaml"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--out", default=str(ROOT / "runs" / "imp_digits"))
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args()
    config = IMPConfig.from_yaml(args.config, seeds=args.seeds, epochs=args.epochs)
    results = run_imp(config, args.out, progress=args.progress)
    rounds = results["rounds"]
    dense = rounds[0]["test"]
    at80 = next((r for r in rounds if r["sparsity"] >= 0.8 - 1e-9), None)
    if at80 is None:
        raise SystemExit(f"no round reaches 80% sparsity (last: {rounds[-1]['sparsity']:.3f}); run more rounds")
    # an early-bird ticket has no trained dense teacher, so a KD config reports none
    birds = [] if config.kd else [early_bird_ticket(config, seed, at80["sparsity"]) for seed in args.seeds]
    fractions = [b["dense_epochs"] / config.epochs for b in birds]
    early_bird = {"epoch_fraction_mean": round(statistics.fmean(fractions), 3),
                  "epoch_fraction_max": round(max(fractions), 3),
                  "test": round(statistics.fmean(b["test"] for b in birds), 4),
                  "gap_to_imp_points": round(100 * (statistics.fmean(b["test"] for b in birds) - at80["test"]), 2),
                  "per_seed": [{"epoch": b["epoch"], "test": round(b["test"], 4)} for b in birds]} if birds else None
    print(json.dumps({
        "benchmark": "imp_accuracy",
        "seeds": args.seeds,
        "dense_test": round(dense, 4),
        "at_80": {"round": at80["round"], "sparsity": round(at80["sparsity"], 4),
                  "imp": round(at80["test"], 4), "imp_gap_points": round(100 * (at80["test"] - dense), 2),
                  **{f"random_{s}": round(at80[f"random_{s}"], 4) for s in config.baselines},
                  **{f"random_{s}_gap_points": round(100 * (at80[f"random_{s}"] - dense), 2)
                     for s in config.baselines}},
        "early_bird": early_bird,
        "curve": [{"round": r["round"], "sparsity": round(r["sparsity"], 4), "imp": round(r["test"], 4),
                   **{s: round(r[f"random_{s}"], 4) for s in config.baselines if f"random_{s}" in r}}
                  for r in rounds],
    }), flush=True)


if __name__ == "__main__":
    main()
