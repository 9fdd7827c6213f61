"""Virtual-neighbour search of the Cold Brew student at ogbn-arxiv scale.

169,343 query nodes with 256-d embeddings; the candidate pool is every node that is not a
validation or test node under ogbn-arxiv's split sizes (90,941 training nodes), each node
excluded from its own candidates; top-10 by cosine similarity. Prints one JSON line with the
seconds and the process's peak resident memory, and checks a sample of rows against a plain
float32 search.

    python benchmarks/virtual_neighbours.py [--nodes 169343] [--pool 90941] [--dim 256] [--k 10]
"""
from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from graphlottery.coldbrew import virtual_neighbours
from graphlottery.runtime import keep_freed_memory, reexec_with_huge_pages


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=169_343)
    ap.add_argument("--pool", type=int, default=90_941)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--score", default="cosine")
    ap.add_argument("--screen", choices=["auto", "on", "off"], default="auto")
    args = ap.parse_args()
    g = torch.Generator().manual_seed(0)
    query = torch.randn(args.nodes, args.dim, generator=g)
    pool_nodes = torch.randperm(args.nodes, generator=g)[: args.pool]
    # the pool's embeddings are those nodes' own rows, plus noise (a teacher's targets vs the student's guess)
    pool = query[pool_nodes] + 0.5 * torch.randn(args.pool, args.dim, generator=g)
    self_index = torch.full((args.nodes,), -1, dtype=torch.long)
    self_index[pool_nodes] = torch.arange(args.pool)
    screen = {"auto": None, "on": True, "off": False}[args.screen]
    start = time.perf_counter()
    index, weight = virtual_neighbours(query, pool, args.k, self_index, score=args.score, screen=screen)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    rows = torch.randperm(args.nodes, generator=g)[:2000]
    ref_index, _ = virtual_neighbours(query[rows], pool, args.k, self_index[rows], score=args.score, screen=False)
    print(json.dumps({
        "benchmark": "virtual_neighbours",
        "queries": args.nodes,
        "pool": args.pool,
        "dim": args.dim,
        "k": args.k,
        "score": args.score,
        "screen": args.screen,
        "seconds": round(seconds, 2),
        "peak_rss_gib": round(peak, 3),
        "sample_rows_matching_float32": float((index[rows] == ref_index).all(1).float().mean()),
        "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    reexec_with_huge_pages()
    keep_freed_memory()
    main()
