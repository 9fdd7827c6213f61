"""graphlottery: sparse graph neural networks on PyTorch Geometric.

One masked-graph abstraction (:class:`MaskedGraph`), weight masks for any module
(:class:`WeightMasks`) and edge masks on any PyG model (:func:`edge_mask`); on them, Unified GNN
Sparsification (:class:`UGS`) and graph lottery tickets (:func:`run_glt`, :class:`Ticket`); Cold
Brew for cold-start nodes (:func:`run_coldbrew`); GraphCL augmentations as masks and contrastive
pre-training (:func:`run_graphcl`); keyed ticket watermarks (:func:`embed_watermark`,
:func:`verify_watermark`).

Names are imported on first use (PEP 562), so ``import graphlottery`` and the command's
``--help`` cost no torch import.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "graphlottery.bench": (
        "BenchConfig", "run_bench",
    ),
    "graphlottery.coldbrew": (
        "ColdBrewConfig", "ColdBrewStudent", "ColdStartSplit", "StructuralEmbeddingGCN", "cold_start_split",
        "feature_contribution_ratio", "run_coldbrew",
    ),
    "graphlottery.config": (
        "ConfigError", "GLTConfig",
    ),
    "graphlottery.contrastive": (
        "JOAO", "AttrMask", "EdgePerturb", "GraphCLConfig", "NodeDrop", "RandomChoice", "Subgraph", "nt_xent",
        "run_graphcl",
    ),
    "graphlottery.data": (
        "load_dataset", "load_ogbl", "load_ogbn", "load_planetoid", "load_tu",
    ),
    "graphlottery.edge_hooks": (
        "EdgeMask", "EdgeMaskError", "edge_mask",
    ),
    "graphlottery.graph": (
        "MaskedGraph",
    ),
    "graphlottery.lottery": (
        "UGS", "DistributedUGS", "MiniBatchUGS", "Ticket", "TicketError", "init_distributed", "run_glt",
        "ApplyTicket", "attach_ticket", "graph_keep", "l1_step", "prune_graph", "prune_weights", "rewind",
        "rewind_point", "soft_masks",
    ),
    "graphlottery.masks": (
        "EdgeScorer", "WeightMasks", "context_features", "inference_macs", "principal_components",
        "prune_lowest", "sparsity",
    ),
    "graphlottery.nn": (
        "GAT", "GCN", "GIN", "Adjacency", "DeeperGCN", "GINEncoder", "GraphSAGE", "MLPDecoder", "load_encoder",
        "save_encoder",
    ),
    "graphlottery.sparsifiers": (
        "SPARSIFIERS", "Selection", "Sparsifier", "level_targets", "make_sparsifier", "sparsify",
    ),
    "graphlottery.tasks": (
        "LinkPrediction", "NodeClassification", "OGBNodeClassification",
    ),
    "graphlottery.watermark": (
        "WatermarkKey", "embed_watermark", "verify_watermark",
    ),
}
_MODULE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE)


def __getattr__(name: str) -> Any:
    if name not in _MODULE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_MODULE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
