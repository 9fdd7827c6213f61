"""GLT curves of PyG's layers under edge masks beside this library's fused models, same architecture.

This library's ``GAT`` (input, hidden and attention dropout 0.6, ELU, one output head) and ``GIN``
(one Linear per layer, trainable eps) are rebuilt from PyG's ``GATConv`` and ``GINConv``; the
GLT driver then runs them with the hyper-parameters of ``cora_gat8.yaml`` / ``cora_gin64.yaml``
(through ``run_glt(..., model_fn=...)``), so the mask reaches PyG's layers through
:class:`~graphlottery.EdgeMask`. The two compute the same function (``tests/test_edge_mask.py``
checks it with shared weights); what can differ is the random draws of dropout and rounding.
Prints one JSON line per run with the test accuracy per round (mean over seeds); resumes.

    OMP_NUM_THREADS=1 python benchmarks/pyg_vs_own.py --seeds 0 1 2 --epochs 100 --out runs/pyg_vs_own
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import GATConv, GINConv

from graphlottery import GLTConfig, run_glt

CONFIGS = Path(__file__).resolve().parents[1] / "graphlottery" / "configs" / "glt"


def pyg_gat_layers(in_channels: int, out_channels: int) -> nn.Module:
    """``graphlottery.GAT(in, 8, 2, out, heads=8)`` from PyG's GATConv."""

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = GATConv(in_channels, 8, heads=8, dropout=0.6)
            self.conv2 = GATConv(64, out_channels, heads=1, concat=False, dropout=0.6)

        def forward(self, x, edge_index):
            x = F.dropout(x, 0.6, self.training)
            return self.conv2(F.dropout(F.elu(self.conv1(x, edge_index)), 0.6, self.training), edge_index)

    return Model()


def pyg_gin_layers(in_channels: int, out_channels: int) -> nn.Module:
    """``graphlottery.GIN(in, 64, 2, out)`` from PyG's GINConv."""

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = GINConv(nn.Linear(in_channels, 64), train_eps=True)
            self.conv2 = GINConv(nn.Linear(64, out_channels), train_eps=True)

        def forward(self, x, edge_index):
            return self.conv2(F.dropout(F.relu(self.conv1(x, edge_index)), 0.5, self.training), edge_index)

    return Model()


RUNS = {"pyg_gat_layers": ("cora_gat8.yaml", pyg_gat_layers), "pyg_gin_layers": ("cora_gin64.yaml", pyg_gin_layers)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, default=100, help="mask-search and retraining epochs per round")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--out", default="runs/pyg_vs_own")
    args = parser.parse_args()
    for name in args.runs:
        config_file, model_fn = RUNS[name]
        config = GLTConfig.from_yaml(CONFIGS / config_file, seeds=args.seeds, rounds=args.rounds,
                                     mask_epochs=args.epochs, retrain_epochs=args.epochs, random_baseline=False)
        results = run_glt(config, Path(args.out) / name, progress=True, model_fn=model_fn)
        print(json.dumps({"benchmark": "pyg_vs_own", "run": name, "config": config_file, "seeds": results["seeds"],
                          "epochs": args.epochs,
                          "test": [round(r["test"], 4) for r in results["rounds"]],
                          "graph_sparsity": [round(r["graph_sparsity"], 4) for r in results["rounds"]]}), flush=True)


if __name__ == "__main__":
    main()
