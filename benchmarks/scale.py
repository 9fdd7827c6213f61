"""UGS at OGB scale, on generated graphs of the sizes of ogbn-arxiv and ogbn-products.

* arxiv (169,343 nodes, 1,166,243 undirected edges, 128 features, 40 classes): seconds of one
  full-batch UGS mask-search epoch (train step with soft edge and weight masks, L1
  sub-gradients, Adam over weights and masks, then evaluation; median of ``--epochs`` after a
  warm-up), and the process's peak resident memory;
* products (2,449,029 nodes, 61,859,140 undirected edges, 100 features, 47 classes, 8% training
  nodes as in ogbn-products): mini-batch UGS (:class:`~graphlottery.lottery.MiniBatchUGS`)
  throughput in sampled edges per second over a fixed number of training steps (sampling,
  forward, backward, L1, Adam over the global edge scores), the epoch time extrapolated from
  it, and the peak resident memory.

Each size runs in its own subprocess, so each peak is that measurement's alone. Prints one
JSON line per measurement and, last, ``arxiv_epoch_seconds``, ``arxiv_peak_gib``,
``products_edges_per_second``, ``products_peak_gib``, ``products_epoch_seconds_estimate``.

    python benchmarks/scale.py [--quick] [--steps 8] [--device cpu]

``--quick`` uses graphs 10x smaller (under a minute on 2 CPU cores).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch
from torch_geometric.data import Data

from graphlottery import GCN, UGS
from graphlottery.lottery import MiniBatchUGS
from graphlottery.runtime import keep_freed_memory, reexec_with_huge_pages

SIZES = {  # nodes, undirected edges, features, classes, training share
    "arxiv": (169_343, 1_166_243, 128, 40, 0.537),
    "products": (2_449_029, 61_859_140, 100, 47, 0.08),
}


def generated_graph(num_nodes: int, num_edges: int, features: int, classes: int, train: float,
                    seed: int = 0) -> Data:
    """A uniformly random undirected graph with exactly ``num_edges`` distinct non-loop edges
    (both directions stored), Gaussian features, random labels and a random split (``train``
    share for training, the rest halved into validation and test). Vectorised; the temporary
    memory is a few ``[E]`` integer tensors."""
    g = torch.Generator().manual_seed(seed)
    keys = torch.empty(0, dtype=torch.long)
    while keys.numel() < num_edges:
        need = int(1.05 * (num_edges - keys.numel())) + 16
        a, b = torch.randint(0, num_nodes, (2, need), generator=g)
        new = torch.minimum(a, b).mul_(num_nodes).add_(torch.maximum(a, b))[a != b]
        del a, b
        keys = torch.unique(torch.cat([keys, new]))
        del new
    keys = keys[torch.randperm(keys.numel(), generator=g)[:num_edges]]
    lo, hi = keys // num_nodes, keys % num_nodes
    del keys
    edge_index = torch.stack([torch.cat([lo, hi]), torch.cat([hi, lo])])
    del lo, hi
    order = torch.randperm(num_nodes, generator=g)
    n_train, n_val = int(train * num_nodes), int((1 - train) * num_nodes / 2)
    masks = {}
    for name, part in (("train", order[:n_train]), ("val", order[n_train:n_train + n_val]),
                       ("test", order[n_train + n_val:])):
        masks[f"{name}_mask"] = torch.zeros(num_nodes, dtype=torch.bool).index_fill_(0, part, True)
    return Data(x=torch.randn(num_nodes, features, generator=g), edge_index=edge_index,
                y=torch.randint(0, classes, (num_nodes,), generator=g), num_nodes=num_nodes, **masks)


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB


def scaled(name: str, scale: float) -> tuple[int, int, int, int, float]:
    nodes, edges, features, classes, train = SIZES[name]
    return round(nodes * scale), round(edges * scale), features, classes, train


def measure_arxiv(args) -> dict:
    nodes, edges, features, classes, train = scaled("arxiv", args.scale)
    data = generated_graph(nodes, edges, features, classes, train)
    torch.manual_seed(0)
    model = GCN(features, args.hidden, args.layers, classes)
    ugs = UGS(model, data, lr=0.01, s1=1e-6, s2=1e-4, device=args.device)
    edge_score, weight_scores, optimizer = ugs.start_search()
    view = ugs._view()  # the compacted graph, as a search builds it
    seconds = []
    for _ in range(1 + args.epochs):  # one warm-up
        start = time.perf_counter()
        ugs._fit_epoch(optimizer, view, (edge_score, weight_scores))
        ugs._evaluate(view)
        seconds.append(time.perf_counter() - start)
    return {"measure": "arxiv", "nodes": nodes, "undirected_edges": ugs.graph.num_units,
            "hidden": args.hidden, "layers": args.layers,
            "epoch_seconds": round(sorted(seconds[1:])[args.epochs // 2], 3),
            "peak_gib": round(peak_gib(), 3)}


def measure_products(args) -> dict:
    nodes, edges, features, classes, train = scaled("products", args.scale)
    start = time.perf_counter()
    data = generated_graph(nodes, edges, features, classes, train)
    generate = time.perf_counter() - start
    torch.manual_seed(0)
    model = GCN(features, args.hidden, len(args.fanouts), classes)
    start = time.perf_counter()
    ugs = MiniBatchUGS(model, data, batch_size=args.batch_size, num_neighbors=args.fanouts,
                       lr=0.01, s1=1e-6, s2=1e-4, device=args.device)
    del data
    edge_score, weight_scores, optimizer = ugs.start_search()
    sampler = ugs._view()  # the sampler over the kept edges, as a search epoch builds it
    setup = time.perf_counter() - start
    sampled = []
    sample = sampler.sample

    def counting_sample(*a, **kw):
        sub = sample(*a, **kw)
        sampled.append(sub.e_id.numel())
        return sub

    sampler.sample = counting_sample
    scores = (edge_score, weight_scores)
    ugs._fit_epoch(optimizer, sampler, scores, check=True, steps=2)  # warm-up
    sampled.clear()
    start = time.perf_counter()
    ugs._fit_epoch(optimizer, sampler, scores, steps=args.steps)
    if ugs.device.type == "cuda":
        torch.cuda.synchronize(ugs.device)
    seconds = time.perf_counter() - start
    return {"measure": "products", "nodes": nodes, "undirected_edges": ugs.graph.num_units,
            "hidden": args.hidden, "fanouts": args.fanouts, "batch_size": args.batch_size,
            "steps": len(sampled), "sampled_edges_per_step": round(sum(sampled) / len(sampled)),
            "edges_per_second": round(sum(sampled) / seconds),
            "step_seconds": round(seconds / len(sampled), 3), "steps_per_epoch": ugs.steps,
            "epoch_seconds_estimate": round(seconds / len(sampled) * ugs.steps, 1),
            "generate_seconds": round(generate, 1), "setup_seconds": round(setup, 1),
            "peak_gib": round(peak_gib(), 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="graphs 10x smaller")
    ap.add_argument("--measure", choices=sorted(SIZES), help=argparse.SUPPRESS)  # one size, in this process
    ap.add_argument("--scale", type=float, default=1.0, help=argparse.SUPPRESS)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=3, help="GCN layers on arxiv")
    ap.add_argument("--epochs", type=int, default=3, help="timed full-batch epochs on arxiv")
    ap.add_argument("--fanouts", type=int, nargs="+", default=[15, 10], help="products: one per GCN layer")
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=8, help="timed mini-batch steps on products")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    if args.measure:
        measure = measure_arxiv if args.measure == "arxiv" else measure_products
        print(json.dumps({"threads": torch.get_num_threads(), "device": args.device, **measure(args)}))
        return
    results = {}
    passed = [a for a in sys.argv[1:] if a != "--quick"]
    for name in SIZES:
        command = [sys.executable, __file__, "--measure", name, "--scale", "0.1" if args.quick else "1", *passed]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[name] = json.loads(out.strip().splitlines()[-1])
        print(json.dumps(results[name]), flush=True)
    arxiv, products = results["arxiv"], results["products"]
    print(json.dumps({
        "benchmark": "scale", "quick": args.quick, "device": args.device,
        "arxiv_epoch_seconds": arxiv["epoch_seconds"], "arxiv_peak_gib": arxiv["peak_gib"],
        "products_edges_per_second": products["edges_per_second"], "products_peak_gib": products["peak_gib"],
        "products_epoch_seconds_estimate": products["epoch_seconds_estimate"],
    }))


if __name__ == "__main__":
    reexec_with_huge_pages()
    keep_freed_memory()
    main()
