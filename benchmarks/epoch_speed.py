"""Seconds per training epoch of this library's GAT (or GCN) against PyG's, on Cora, in one process.

An epoch is what UGS runs per epoch minus evaluation: forward in train mode (dropout on),
cross-entropy on the training nodes, backward, Adam step, full batch
(``UGS._fit_epoch``). Both models run inside :class:`~graphlottery.lottery.UGS` with the
config's hyper-parameters, so each gets its input the way UGS gives it (ours: sparse CSR
features and an ``Adjacency``; PyG's: ``x`` and ``edge_index``, the mask through
:class:`~graphlottery.edge_hooks.EdgeMask`), in two phases:

* ``retrain``: hard masks (round 0: the whole graph, dense weights), as ``UGS.retrain``;
* ``search``: soft edge and weight masks that require grad, as ``UGS.search_masks``.

Within a phase the two models' epochs alternate (which goes first alternates too), so a change
of machine load hits both; each reports the median of ``--epochs`` epochs after ``--warmup``,
and ``ratio`` is PyG / ours. Prints one JSON line.

    OMP_NUM_THREADS=2 python benchmarks/epoch_speed.py [--model gat] [--epochs 7] [--profile]

``--model gat``: ours ``GAT(F, 512, 2, C, heads=8)`` against PyG's ``GAT(F, 8 * 512, 2, C,
heads=8)`` (``pyg_model("pyg.GAT", ...)``: 512 per head); ``--model gcn``: GCN-512 against
PyG's GCN-512. ``--profile`` prints torch.profiler's table of our epochs (stderr).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from graphlottery.data import load_dataset
from graphlottery.lottery import UGS
from graphlottery.nn import GAT, GCN, pyg_model
from graphlottery.runtime import keep_freed_memory, reexec_with_huge_pages

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETTINGS = {  # configs/glt/cora_gat.yaml and cora_gcn.yaml
    "gat": {"lr": 0.008, "weight_decay": 8e-5, "s1": 1e-3, "s2": 1e-3},
    "gcn": {"lr": 0.008, "weight_decay": 8e-5, "s1": 1e-2, "s2": 1e-2},
}


def build(kind: str, which: str, data, hidden: int, heads: int) -> UGS:
    f, c = data.num_features, int(data.y.max()) + 1
    torch.manual_seed(0)
    if which == "ours":
        model = GAT(f, hidden, 2, c, heads=heads) if kind == "gat" else GCN(f, hidden, 2, c)
    else:
        model = pyg_model(f"pyg.{kind.upper()}", f, hidden, 2, c, heads=heads)
    return UGS(model, data, **SETTINGS[kind])


def timed_epoch(ugs: UGS, optimizer, view, scores) -> float:
    start = time.perf_counter()
    ugs._fit_epoch(optimizer, view, scores)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["gat", "gcn"], default="gat")
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=7, help="timed epochs per model and phase")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--phases", nargs="+", default=["retrain", "search"], choices=["retrain", "search"])
    ap.add_argument("--no-pyg", action="store_true", help="time ours only")
    ap.add_argument("--data", default=os.environ.get("GRAPHLOTTERY_DATA", str(DATA)))
    ap.add_argument("--profile", action="store_true", help="torch.profiler table of our epochs (stderr)")
    args = ap.parse_args()
    data = load_dataset("Cora", args.data)
    names = ["ours"] if args.no_pyg else ["ours", "pyg"]
    runs = {name: build(args.model, name, data, args.hidden, args.heads) for name in names}
    result: dict = {"benchmark": "epoch_speed", "dataset": "Cora", "model": args.model, "hidden": args.hidden,
                    "heads": args.heads if args.model == "gat" else None, "threads": torch.get_num_threads()}
    for phase in args.phases:
        state = {}
        for name, ugs in runs.items():
            if phase == "search":
                edge_score, weight_scores, optimizer = ugs.start_search()
                state[name] = (optimizer, ugs._view(), (edge_score, weight_scores))
            else:
                ugs._seed(3)
                state[name] = (torch.optim.Adam(ugs.model.parameters(), lr=ugs.lr, weight_decay=ugs.weight_decay),
                               ugs._view(), None)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for i in range(args.warmup + args.epochs):
            order = names if i % 2 == 0 else names[::-1]
            for name in order:
                t = timed_epoch(runs[name], *state[name])
                if i >= args.warmup:
                    times[name].append(t)
        for name in names:
            result[f"{phase}_{name}_s"] = round(statistics.median(times[name]), 4)
        if "pyg" in runs:
            result[f"{phase}_ratio"] = round(result[f"{phase}_pyg_s"] / result[f"{phase}_ours_s"], 2)
        if args.profile:
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(3):
                    timed_epoch(runs["ours"], *state["ours"])
            print(f"--- {phase}, ours, 3 epochs", file=sys.stderr)
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30), file=sys.stderr)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    reexec_with_huge_pages()
    keep_freed_memory()
    main()
