"""Cost of the masks at ogbn-arxiv scale, on a generated graph of the same size
(169,343 nodes, 1,166,243 undirected edges, 128 features, 40 classes).

Prints one JSON line with
  overhead_ratio        a UGS training epoch (soft edge + weight masks, L1 sub-gradients, Adam
                        over weights and masks) / a plain training epoch of the same GCN: the
                        two kinds alternate, and this is the median ratio of the pairs;
  propagation_ratio_50  message passing over a ticket compacted to 50% graph sparsity / dense;
  peak_rss_gib          the process's peak resident memory after the epochs (both models live).

    python benchmarks/mask_overhead.py [--nodes 169343] [--edges 1166243] [--hidden 256] [--device cpu]
"""
from __future__ import annotations

import argparse
import copy
import json
import resource
import time

import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, to_undirected

from graphlottery import GCN, MaskedGraph, WeightMasks
from graphlottery.nn import gcn_propagate
from graphlottery.runtime import keep_freed_memory, reexec_with_huge_pages
from graphlottery.sparse import Adjacency


def generated_graph(num_nodes: int, num_edges: int, features: int, classes: int, seed: int = 0) -> Data:
    """A random undirected graph with exactly ``num_edges`` distinct undirected edges."""
    g = torch.Generator().manual_seed(seed)
    pairs = torch.empty(2, 0, dtype=torch.long)
    while pairs.size(1) < num_edges:
        extra = torch.randint(0, num_nodes, (2, int(1.1 * (num_edges - pairs.size(1))) + 16), generator=g)
        extra = extra[:, extra[0] != extra[1]]
        lo, hi = torch.minimum(extra[0], extra[1]), torch.maximum(extra[0], extra[1])
        pairs = coalesce(torch.cat([pairs, torch.stack([lo, hi])], 1), num_nodes=num_nodes)
    edge_index = to_undirected(pairs[:, torch.randperm(pairs.size(1), generator=g)[:num_edges]], num_nodes=num_nodes)
    x = torch.randn(num_nodes, features, generator=g)
    y = torch.randint(0, classes, (num_nodes,), generator=g)
    return Data(x=x, edge_index=edge_index, y=y)


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def timed(fn, repeats: int, device: torch.device) -> float:
    return median(interleaved([fn], repeats, device)[0])


def interleaved(fns, repeats: int, device: torch.device) -> list[list[float]]:
    """Seconds of each run of each function, run in turn ``repeats`` times after one warm-up
    each, so that drifts of the machine (other load, the allocator's state) hit all alike."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            ts.append(time.perf_counter() - start)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=169_343)
    ap.add_argument("--edges", type=int, default=1_166_243)
    ap.add_argument("--features", type=int, default=128)
    ap.add_argument("--classes", type=int, default=40)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = torch.device(args.device)

    data = generated_graph(args.nodes, args.edges, args.features, args.classes)
    torch.manual_seed(0)
    plain_model = GCN(args.features, args.hidden, args.layers, args.classes).to(device)
    model = copy.deepcopy(plain_model)
    graph = MaskedGraph(data).to(device)
    x, y = data.x.to(device), data.y.to(device)
    adj = graph.adjacency
    train = torch.arange(0, args.nodes, 2, device=device)
    loss_fn = torch.nn.functional.cross_entropy

    plain_opt = torch.optim.Adam(plain_model.parameters(), lr=0.01)

    def plain_epoch():
        plain_model.train()
        plain_opt.zero_grad()
        loss_fn(plain_model(x, adj)[train], y[train]).backward()
        plain_opt.step()

    masks = WeightMasks(model).to(device).attach()
    edge_score = graph.make_soft()
    weight_scores = masks.make_soft().score_list()
    ugs_opt = torch.optim.Adam([*model.parameters(), edge_score, *weight_scores], lr=0.01)

    def ugs_epoch():
        model.train()
        ugs_opt.zero_grad()
        loss_fn(model(x, adj, graph.edge_weight())[train], y[train]).backward()
        with torch.no_grad():
            edge_score.grad.add_(edge_score.sign(), alpha=1e-6)
            torch._foreach_add_([s.grad for s in weight_scores], torch._foreach_sign(weight_scores), alpha=1e-4)
        ugs_opt.step()

    plain_times, ugs_times = interleaved([plain_epoch, ugs_epoch], args.repeats, device)
    plain, ugs = median(plain_times), median(ugs_times)
    ratio = median([u / p for u, p in zip(ugs_times, plain_times)])  # each pair ran back to back
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB

    graph.make_hard()
    h = torch.randn(args.nodes, args.hidden, device=device)
    dense_prop = timed(lambda: gcn_propagate(adj, h), args.repeats, device)
    keep = torch.ones(graph.num_units, dtype=torch.bool, device=device)
    keep[torch.randperm(graph.num_units, device=device)[: graph.num_units // 2]] = False
    graph.set_keep(keep)
    compact = Adjacency(graph.kept_edges()[0], args.nodes)
    sparse_prop = timed(lambda: gcn_propagate(compact, h), args.repeats, device)

    print(json.dumps({
        "benchmark": "mask_overhead",
        "nodes": args.nodes,
        "undirected_edges": graph.num_units,
        "directed_edges": data.edge_index.size(1),
        "hidden": args.hidden,
        "layers": args.layers,
        "device": args.device,
        "plain_epoch_s": round(plain, 4),
        "ugs_epoch_s": round(ugs, 4),
        "overhead_ratio": round(ratio, 3),
        "dense_propagation_s": round(dense_prop, 4),
        "compacted_50_propagation_s": round(sparse_prop, 4),
        "propagation_ratio_50": round(sparse_prop / dense_prop, 3),
        "peak_rss_gib": round(peak_rss, 3),
    }))


if __name__ == "__main__":
    reexec_with_huge_pages()
    keep_freed_memory()
    main()
