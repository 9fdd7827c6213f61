"""Batched vs per-graph GraphCL augmentations on NCI1.

For every augmentation: (a) one call on a ``Batch`` of 128 graphs, (b) the same augmentation applied
graph by graph to the 128 ``Data`` objects followed by ``Batch.from_data_list`` (what GraphCL's
dataset-level augmentation amounts to). Median over repeats after warm-up; the last line is JSON.
One intra-op thread by default (``--threads``): these are many small ops, and with a busy second core
OpenMP waits, not the augmentations, dominate the timings of both paths.

    GRAPHLOTTERY_DATA=../shared/data python benchmarks/augment_speed.py
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch_geometric.data import Batch

from graphlottery.contrastive.augment import AttrMask, EdgePerturb, NodeDrop, Subgraph
from graphlottery.data import load_tu


def median_ms(fn, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="NCI1")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--loop-repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    torch.manual_seed(args.seed)
    dataset = load_tu(args.dataset)
    index = torch.randperm(len(dataset))[: args.batch_size].tolist()
    graphs = [dataset[i] for i in index]
    batch = Batch.from_data_list(graphs)
    augmentations = {
        "NodeDrop": NodeDrop(0.2),
        "EdgePerturb": EdgePerturb(0.2),
        "AttrMask": AttrMask(0.2),
        "Subgraph": Subgraph(0.2),
    }
    batched, looped, speedup = {}, {}, {}
    print(f"{args.dataset}: {len(graphs)} graphs, {batch.num_nodes} nodes, {batch.num_edges} edges, "
          f"{torch.get_num_threads()} threads")
    print(f"{'augmentation':<12} {'batched ms':>11} {'per-graph loop ms':>18} {'speed-up':>9}")
    for name, aug in augmentations.items():
        batched[name] = median_ms(lambda aug=aug: aug(batch), args.repeats, args.warmup)
        looped[name] = median_ms(lambda aug=aug: Batch.from_data_list([aug(g) for g in graphs]),
                                 args.loop_repeats, 1)
        speedup[name] = looped[name] / batched[name]
        print(f"{name:<12} {batched[name]:>11.2f} {looped[name]:>18.2f} {speedup[name]:>8.1f}x")
    print(json.dumps({
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "ms_batched": {k: round(v, 3) for k, v in batched.items()},
        "ms_per_graph_loop": {k: round(v, 3) for k, v in looped.items()},
        "speedup": {k: round(v, 2) for k, v in speedup.items()},
        "min_speedup": round(min(speedup.values()), 2),
    }))


if __name__ == "__main__":
    main()
