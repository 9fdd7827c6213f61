"""graphlottery: sparse graph neural networks on PyTorch Geometric.

One masked-graph abstraction (:class:`MaskedGraph`) and weight masks for any module
(:class:`WeightMasks`); on them, Unified GNN Sparsification (:class:`UGS`) and graph lottery
tickets (:func:`run_glt`, :class:`Ticket`); Cold Brew for cold-start nodes (:func:`run_coldbrew`).
"""
from graphlottery.coldbrew import (
    ColdBrewConfig,
    ColdBrewStudent,
    ColdStartSplit,
    StructuralEmbeddingGCN,
    cold_start_split,
    feature_contribution_ratio,
    run_coldbrew,
)
from graphlottery.config import ConfigError, GLTConfig
from graphlottery.data import load_dataset, load_planetoid
from graphlottery.graph import MaskedGraph
from graphlottery.lottery import UGS, Ticket, TicketError, run_glt
from graphlottery.masks import WeightMasks, inference_macs, prune_lowest, sparsity
from graphlottery.nn import GAT, GCN, GIN, Adjacency, GraphSAGE
from graphlottery.tasks import NodeClassification

__version__ = "0.1.0"

__all__ = [
    "ColdBrewConfig",
    "ColdBrewStudent",
    "ColdStartSplit",
    "StructuralEmbeddingGCN",
    "GAT",
    "GCN",
    "GIN",
    "Adjacency",
    "ConfigError",
    "GLTConfig",
    "GraphSAGE",
    "MaskedGraph",
    "NodeClassification",
    "Ticket",
    "TicketError",
    "UGS",
    "WeightMasks",
    "cold_start_split",
    "feature_contribution_ratio",
    "inference_macs",
    "load_dataset",
    "load_planetoid",
    "prune_lowest",
    "run_coldbrew",
    "run_glt",
    "sparsity",
]
