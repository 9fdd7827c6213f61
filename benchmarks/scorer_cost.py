"""What an inductive graph mask costs on wide features: one UGS round on Cora (GCN-512, 2-hop
context, 3 × 1,433 = 4,299 columns per node) with free edge scores, with an EdgeScorer on all
4,299 columns, and with one on their first 128 principal axes (``scorer_dim: 128``). The
settings run in turn in one process, ``--repeats`` times, and the fastest repeat counts, so
they share the machine's state. Prints one JSON line: per setting, the round's seconds divided
by its epochs (``--epochs`` of mask search, one of retraining), their ratios to free scores, and
the seconds of the one-off projection.

    python benchmarks/scorer_cost.py [--epochs 30] [--repeats 2]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

from graphlottery import GLTConfig, context_features, principal_components, run_glt
from graphlottery.lottery.glt import load_data

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"free": ("free", None), "scorer_full_width": ("inductive", None), "scorer_128_axes": ("inductive", 128)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(ROOT / "configs/glt/cora_gcn_inductive.yaml"))
    ap.add_argument("--epochs", type=int, default=30, help="mask-search epochs timed per setting")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    base = GLTConfig.from_yaml(args.config, rounds=1, seeds=[0], mask_epochs=args.epochs, retrain_epochs=1,
                               random_baseline=False)
    per_epoch: dict[str, float] = {}
    for _ in range(args.repeats):
        for name, (mask, dim) in SETTINGS.items():
            config = dataclasses.replace(base, graph_mask=mask, scorer_dim=dim)
            with tempfile.TemporaryDirectory() as out:
                seconds = run_glt(config, out, progress=False)["rounds"][1]["per_seed"][0]["seconds"]
            per_epoch[name] = min(per_epoch.get(name, float("inf")), seconds / (args.epochs + 1))
    data, _ = load_data(base)
    features = context_features(data.x, data.edge_index, base.scorer_hops)
    start = time.perf_counter()
    principal_components(features, 128)
    projection = time.perf_counter() - start
    print(json.dumps({
        "benchmark": "scorer_cost",
        "dataset": base.dataset,
        "context_columns": features.size(1),
        "seconds_per_epoch": {k: round(v, 4) for k, v in per_epoch.items()},
        "ratio_to_free": {k: round(v / per_epoch["free"], 2) for k, v in per_epoch.items()},
        "projection_seconds": round(projection, 2),
    }), flush=True)


if __name__ == "__main__":
    main()
