"""The cost of one level of every sparsifier as a ratio to UGS's, measured in one process one after
the other (the bench's per-seed times come from runs with different loads on the machine).

    python benchmarks/sparsifier_cost.py                       # GCN-512 on Cora, joint level 1
    python benchmarks/sparsifier_cost.py --methods ugs adaglt --sweep graph --repeats 2

A sweep runs the same number of levels for every method, each level costing about the same (one-shot
levels all start from the dense model; an IMP level trains from the previous ticket), so the ratio of
one level is the ratio of a sweep. Prints one JSON object: seconds per level (median over
``--repeats``) and the ratio to UGS per method.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time

from graphlottery.bench import METHODS, BenchConfig, _trainer, parse_method, sweep_prune
from graphlottery.sparsifiers import level_targets, make_sparsifier, sparsify


def level_seconds(config, spec: str, sweep: str, seed: int) -> float:
    """Seconds of the first level of ``sweep`` for method ``spec`` (the dense model trained first,
    untimed, when the method reads its output)."""
    name, options = parse_method(spec)
    method = make_sparsifier(name, options)
    prune_graph, prune_weight = sweep_prune(config, sweep)
    config = dataclasses.replace(config, prune_graph=prune_graph, prune_weight=prune_weight)
    run = _trainer(config, seed)
    dense_output = None
    if method.needs_dense:
        run.dense()
        dense_output = run.best_output
    method.setup(run, dense_output)
    started = time.perf_counter()
    next(sparsify(run, method, method.schedules[0], level_targets(1, prune_graph, prune_weight)))
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="glt/cora_gcn")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--sweep", default="joint", choices=["graph", "weight", "joint"])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    config = BenchConfig(configs=[args.config], data_root=args.data_root).cells()[0]
    methods = ["ugs", *[m for m in args.methods if m != "ugs"]]
    level_seconds(config, "ugs", args.sweep, args.seed)  # untimed: the first level pays the warm-up
    seconds = {}
    for spec in methods:
        if args.sweep != "graph" and parse_method(spec)[0] == "dspar":
            continue  # graph only
        seconds[spec] = statistics.median(level_seconds(config, spec, args.sweep, args.seed)
                                          for _ in range(args.repeats))
    print(json.dumps({"config": args.config, "sweep": args.sweep, "seconds_per_level": seconds,
                      "vs_ugs": {m: s / seconds["ugs"] for m, s in seconds.items()}}))


if __name__ == "__main__":
    main()
