"""Ordinary PyG models under edge masks on Cora: exactness, and one GLT round beside random pruning.

The ten models of issue 18 (PyG's ``GCN``, ``GAT``, ``GIN``, ``GraphSAGE`` and two-layer
tutorial-style models ``forward(self, x, edge_index)`` with ``GATv2Conv``, ``TransformerConv``,
``SAGEConv``, ``GraphConv``, ``GINConv``, ``ChebConv``) and PyG's ``GENConv``. Per model:

* exactness (eval mode, seed-0 weights): the largest absolute difference between a mask of
  ones and no mask (``ones_err``), between a 0/1 soft mask and deleting its zero columns
  (``soft_zero_err``; 30% of the columns dropped at random) and between the boolean mask and
  deleting them (``hard_err``); ``grad_fraction``: the share of edges whose soft-mask entry gets a
  non-zero gradient, and whether every message-passing layer saw the mask;
* one GLT round per seed with :class:`~graphlottery.UGS` (hyper-parameters of the shipped Cora GCN
  config: lr 0.008, weight decay 8e-5, s1 = s2 = 1e-2, 5% of edges and 20% of weights per round):
  dense test accuracy, round-1 test accuracy, and random pruning at round 1's sparsities.

Results go to ``--out`` (JSON, written after every entry; a rerun skips the finished ones and
tries failed ones again) and one JSON line summary is printed at the end.

    OMP_NUM_THREADS=1 python benchmarks/pyg_models.py [--models pyg.GCN GINConv] [--seeds 3] [--epochs 200]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import ChebConv, GATv2Conv, GENConv, GINConv, GraphConv, SAGEConv, TransformerConv
from torch_geometric.nn.models import GAT, GCN, GIN, GraphSAGE

from graphlottery import UGS, load_planetoid
from graphlottery.edge_hooks import EdgeMask, EdgeMaskError
from graphlottery.files import read_json, write_json

ROOT = Path(__file__).resolve().parents[1]
HIDDEN, HEADS = 64, 8  # GCN/GIN/SAGE-type width; attention: 8 heads x 8
UGS_SETTINGS = {"lr": 0.008, "weight_decay": 8e-5, "s1": 1e-2, "s2": 1e-2, "prune_graph": 0.05, "prune_weight": 0.2}
FIVE_SEEDS = ("pyg.GCN", "pyg.GAT", "pyg.GIN", "pyg.GraphSAGE")


class TwoLayer(nn.Module):
    """A model as PyG's tutorials write them: two convs, ReLU and dropout between."""

    def __init__(self, conv1: nn.Module, conv2: nn.Module, dropout: float = 0.5):
        super().__init__()
        self.conv1, self.conv2, self.dropout = conv1, conv2, dropout

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        x = F.dropout(x, self.dropout, self.training)
        x = F.relu(self.conv1(x, edge_index))
        x = F.dropout(x, self.dropout, self.training)
        return self.conv2(x, edge_index)


def mlp(a: int, b: int) -> nn.Module:
    return nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Linear(b, b))


def builders(f: int, c: int) -> dict[str, Callable[[], nn.Module]]:
    """The eleven models at the benchmark's widths (``f`` features, ``c`` classes)."""
    h, per_head = HIDDEN, HIDDEN // HEADS
    return {
        "pyg.GCN": lambda: GCN(f, h, 2, c, dropout=0.5),
        "pyg.GAT": lambda: GAT(f, h, 2, c, heads=HEADS, dropout=0.6),  # 8 x 8 concatenated, output heads averaged
        "pyg.GIN": lambda: GIN(f, h, 2, c, dropout=0.5),
        "pyg.GraphSAGE": lambda: GraphSAGE(f, h, 2, c, dropout=0.5),
        "GATv2Conv": lambda: TwoLayer(GATv2Conv(f, per_head, heads=HEADS, dropout=0.6),
                                      GATv2Conv(h, c, heads=1, dropout=0.6), dropout=0.6),
        "TransformerConv": lambda: TwoLayer(TransformerConv(f, per_head, heads=HEADS, dropout=0.6),
                                            TransformerConv(h, c, heads=1, dropout=0.6), dropout=0.6),
        "SAGEConv": lambda: TwoLayer(SAGEConv(f, h), SAGEConv(h, c)),
        "GraphConv": lambda: TwoLayer(GraphConv(f, h), GraphConv(h, c)),
        "GINConv": lambda: TwoLayer(GINConv(mlp(f, h)), GINConv(mlp(h, c))),
        "ChebConv": lambda: TwoLayer(ChebConv(f, h, K=2), ChebConv(h, c, K=2)),
        "GENConv": lambda: TwoLayer(GENConv(f, h), GENConv(h, c)),
    }


def exactness(model: nn.Module, x: Tensor, edge_index: Tensor) -> dict:
    """Mask of ones vs none, 0/1 soft and boolean masks vs deleting the columns, mask gradients."""
    drop = torch.rand(edge_index.size(1), generator=torch.Generator().manual_seed(0)) < 0.3
    model.eval()
    with torch.no_grad():
        ref = model(x, edge_index)
        with EdgeMask(model, torch.ones(edge_index.size(1))):
            ones = model(x, edge_index)
        with EdgeMask(model, (~drop).float()):
            zero = model(x, edge_index)
        with EdgeMask(model, ~drop):
            hard = model(x, edge_index)
        deleted = model(x, edge_index[:, ~drop])
    soft = torch.rand(edge_index.size(1), generator=torch.Generator().manual_seed(1)).requires_grad_()
    with EdgeMask(model, soft) as hooks:
        model(x, edge_index).square().sum().backward()
    model.zero_grad(set_to_none=True)
    return {
        "ones_err": float((ones - ref).abs().max()),
        "soft_zero_err": float((zero - deleted).abs().max()),
        "hard_err": float((hard - deleted).abs().max()),
        "deletion_effect": float((deleted - ref).abs().max()),  # the dropped columns mattered
        "grad_fraction": 0.0 if soft.grad is None else float(soft.grad.ne(0).float().mean()),
        "all_layers_masked": all(hooks.calls.get(name, 0) >= 1 for name, _ in hooks.layers),
        "families": sorted(set(hooks.families.values())),
    }


def glt_round(build: Callable[[], nn.Module], data, seed: int, epochs: int, l1: str) -> dict:
    """Dense training, one UGS round and random pruning at its sparsities."""
    torch.manual_seed(seed)
    model = build()
    ugs = UGS(model, data, mask_epochs=epochs, retrain_epochs=epochs, seed=seed, l1=l1, **UGS_SETTINGS)
    start = time.perf_counter()
    dense = ugs.dense()
    round1 = ugs.step()
    rand = ugs.random_baseline(round1["graph_sparsity"], round1["weight_sparsity"])
    return {
        "dense": dense["test"],
        "round1": round1["test"],
        "random": rand["test"],
        "graph_sparsity": round1["graph_sparsity"],
        "weight_sparsity": round1["weight_sparsity"],
        "seconds": time.perf_counter() - start,
    }


def mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


def summarise(results: dict, names: list[str]) -> dict:
    out = {}
    for name in names:
        ex = results["exactness"].get(name, {})
        entries = [results["runs"][key] for key in sorted(results["runs"]) if key.split("/")[0] == name]
        runs = [r for r in entries if "error" not in r]
        out[name] = {
            "ones_err": ex.get("ones_err"),
            "soft_zero_err": ex.get("soft_zero_err"),
            "hard_err": ex.get("hard_err"),
            "grad_fraction": ex.get("grad_fraction"),
            "dense": mean([r["dense"] for r in runs]),
            "round1": mean([r["round1"] for r in runs]),
            "random": mean([r["random"] for r in runs]),
            "round1_std": round(statistics.pstdev([r["round1"] for r in runs]), 4) if runs else None,
            "seeds": len(runs),
            "failed_seeds": len(entries) - len(runs),
        }
    return {"benchmark": "pyg_models", "dataset": "Cora", "epochs": results["config"]["epochs"],
            "l1": results["config"]["l1"], "models": out}


def main() -> None:
    models = list(builders(1, 1))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=models, choices=models)
    ap.add_argument("--seeds", type=int, default=1, help="seeds for the models outside PyG's GCN/GAT/GIN/GraphSAGE")
    ap.add_argument("--epochs", type=int, default=200, help="epochs of dense training, mask search and retraining")
    ap.add_argument("--l1", choices=["coupled", "decoupled"], default="coupled", help="UGS's L1 mode")
    ap.add_argument("--out", default=str(ROOT / "runs" / "pyg_models" / "results.json"))
    args = ap.parse_args()
    if args.seeds < 1 or args.epochs < 1:
        ap.error("--seeds and --epochs must be at least 1")
    out = Path(args.out)
    config = {"epochs": args.epochs, "l1": args.l1, "hidden": HIDDEN, "heads": HEADS, **UGS_SETTINGS}
    if out.exists():
        results = read_json(out, dict)
        if results.get("config") != config:
            sys.exit(f"{out} holds results for another setting ({results.get('config')}); pass another --out")
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        results = {"config": config, "exactness": {}, "runs": {}}

    data = load_planetoid("Cora", os.environ.get("GRAPHLOTTERY_DATA"))
    build = builders(data.num_features, int(data.y.max()) + 1)
    for name in args.models:
        if name not in results["exactness"]:
            torch.manual_seed(0)
            results["exactness"][name] = exactness(build[name](), data.x, data.edge_index)
            write_json(out, results)
        print(f"[{name}] exactness {results['exactness'][name]}", file=sys.stderr, flush=True)
    for name in args.models:
        for seed in range(5 if name in FIVE_SEEDS else args.seeds):
            key = f"{name}/{seed}"
            if "error" not in results["runs"].get(key, {"error": ""}):
                continue  # finished (a failed entry is tried again)
            try:
                run = glt_round(build[name], data, seed, args.epochs, args.l1)
            except EdgeMaskError as err:  # recorded, and tried again by a rerun
                run = {"error": f"{type(err).__name__}: {err}"}
            results["runs"][key] = run
            write_json(out, results)
            if "error" in run:
                print(f"[{key}] failed: {run['error']}", file=sys.stderr, flush=True)
                continue
            print(f"[{key}] dense {run['dense']:.4f} round1 {run['round1']:.4f} random {run['random']:.4f} "
                  f"({run['seconds']:.0f} s)", file=sys.stderr, flush=True)
    print(json.dumps(summarise(results, args.models)), flush=True)


if __name__ == "__main__":
    main()
