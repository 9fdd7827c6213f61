"""How much of a ticket's accuracy is distillation alone: the dense model retrained (same rewind point,
no edge or weight pruned) with the KL term of a sparsifier's ``distill`` option, against the same
retraining without it (the same seeds: a paired comparison) and the dense model itself, on the dense
models of a ``graphlottery bench`` folder (its ``bench_config.json`` gives the cell's settings).

    python benchmarks/distillation_control.py runs/bench/gcn_cora_graph --distill 1.0

Prints one JSON object: per seed the dense test accuracy, the retrained and the distilled ones, and
their means.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from graphlottery.bench import BenchConfig, _trainer, cell_name
from graphlottery.files import read_json
from graphlottery.lottery.ticket import load_weights
from graphlottery.sparsifiers.teddy import distillation


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bench", help="a graphlottery bench output folder with the cell's dense models")
    ap.add_argument("--cell", type=int, default=0, help="which of the bench's cells (default the first)")
    ap.add_argument("--distill", type=float, default=1.0)
    ap.add_argument("--seeds", type=int, nargs="+", help="default: the bench's")
    args = ap.parse_args()
    saved = Path(args.bench) / "bench_config.json"
    if not saved.is_file():
        ap.error(f"{args.bench!r} is not a graphlottery bench folder (it has no bench_config.json)")
    bench = BenchConfig(**read_json(saved, dict))
    config = bench.cells()[args.cell]
    cell = Path(args.bench) / cell_name(config)
    rows = {}
    for seed in args.seeds or bench.seeds:
        dense = read_json(cell / f"seed_{seed}" / "dense.json", dict)["test"]
        output = load_weights(cell / f"seed_{seed}" / "dense.pt")["output"].to(config.device)
        run = _trainer(config, seed)
        run.round = 1  # the seeds of a level's retraining, as a one-shot ticket's
        retrained = run.retrain()["test"]
        with run.extend(loss=distillation(output, args.distill)):
            distilled = run.retrain()["test"]
        rows[seed] = {"dense": dense, "retrained": retrained, "distilled": distilled}
    print(json.dumps({"cell": cell_name(config), "distill": args.distill, "seeds": rows,
                      **{f"{k}_mean": statistics.mean(r[k] for r in rows.values())
                         for k in ("dense", "retrained", "distilled")}}))


if __name__ == "__main__":
    main()
