"""The sparsifier leaderboard: ``graphlottery bench`` as a benchmark script that prints JSON.

    python benchmarks/leaderboard.py --quick                      # < 3 min: one JSON line
    python benchmarks/leaderboard.py --models gcn gin gat --datasets Cora CiteSeer --jobs 2 --out runs/leaderboard

Without ``--quick`` it runs the whole protocol (5 seeds, 20 levels per sweep, every method; resumable)
and prints, per cell, method and sweep, the extreme sparsities, the area under the curve and the
cost ratio to UGS as one JSON object; ``table.md`` and a PNG per cell are written beside it.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from graphlottery.bench import METHODS, SWEEPS, BenchConfig, extreme_value, main_quick, run_bench


def compact(summary: dict) -> dict:
    """Per cell -> method -> sweep: extremes (%), AUC (%), seconds per seed, time vs UGS."""
    out: dict = {}
    for cell in summary["cells"]:
        row = out.setdefault(cell["cell"], {"dense": round(100 * cell["dense"], 2)})
        for spec, result in cell["methods"].items():
            for sweep, r in result.items():
                ext, half = extreme_value(result, sweep), extreme_value(result, sweep, "extreme_half")
                row.setdefault(spec, {})[sweep] = {
                    "extreme": None if ext is None else round(100 * ext, 2),
                    "extreme_half": None if half is None else round(100 * half, 2),
                    "auc": round(100 * r["auc"], 2), "seconds": round(r["seconds_per_seed"], 1),
                    "time_vs_ugs": None if "time_vs_ugs" not in r else round(r["time_vs_ugs"], 2),
                    "seeds": len(r["seeds"])}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--models", nargs="+", default=["gcn", "gin", "gat"])
    ap.add_argument("--datasets", nargs="+", default=["Cora", "CiteSeer"])
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--sweeps", nargs="+", default=list(SWEEPS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--levels", type=int, default=20)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--data-root")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.quick:
        print(json.dumps(main_quick(Path(args.out or "runs/leaderboard_quick"), args.data_root, progress=False)))
        return
    bench = BenchConfig(configs=[f"glt/{d.lower()}_{m}" for m in args.models for d in args.datasets],
                        methods=args.methods, sweeps=args.sweeps, seeds=args.seeds, levels=args.levels,
                        epochs=args.epochs, jobs=args.jobs, data_root=args.data_root, device=args.device)
    summary = run_bench(bench, Path(args.out or "runs/leaderboard"))
    print(json.dumps(compact(summary)))


if __name__ == "__main__":
    main()
