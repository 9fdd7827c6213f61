"""How much of a ticket's accuracy is distillation alone: the dense model retrained (same rewind point,
no edge or weight pruned) with the KL term of a sparsifier's ``distill`` option, against the dense
model itself, on the dense models a ``graphlottery bench`` folder already holds.

    python benchmarks/distillation_control.py runs/bench/gcn_cora_graph --distill 1.0 --seeds 0 1 2 3 4

Prints one JSON object: per seed the dense test accuracy and the distilled one, and their means.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from graphlottery.bench import BenchConfig, _trainer, cell_name
from graphlottery.lottery.ticket import load_weights
from graphlottery.sparsifiers.teddy import distillation


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bench", help="a graphlottery bench output folder with the cell's dense models")
    ap.add_argument("--config", default="glt/cora_gcn")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--distill", type=float, default=1.0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = ap.parse_args()
    config = BenchConfig(configs=[args.config], data_root=args.data_root).cells()[0]  # the bench's cell
    cell = Path(args.bench) / cell_name(config)
    rows = {}
    for seed in args.seeds:
        dense = json.loads((cell / f"seed_{seed}" / "dense.json").read_text())["test"]
        output = load_weights(cell / f"seed_{seed}" / "dense.pt")["output"]
        run = _trainer(config, seed)
        run.round = 1  # the seeds of a level's retraining, as a one-shot ticket's
        with run.extend(loss=distillation(output, args.distill)):
            distilled = run.retrain()["test"]
        rows[seed] = {"dense": dense, "distilled": distilled}
    print(json.dumps({"cell": cell_name(config), "distill": args.distill, "seeds": rows,
                      "dense_mean": statistics.mean(r["dense"] for r in rows.values()),
                      "distilled_mean": statistics.mean(r["distilled"] for r in rows.values())}))


if __name__ == "__main__":
    main()
