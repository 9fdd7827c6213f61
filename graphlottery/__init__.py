"""graphlottery: sparse graph neural networks on PyTorch Geometric.

One masked-graph abstraction (:class:`MaskedGraph`) and weight masks for any module
(:class:`WeightMasks`); on them, Unified GNN Sparsification (:class:`UGS`) and graph lottery
tickets (:func:`run_glt`, :class:`Ticket`); Cold Brew for cold-start nodes (:func:`run_coldbrew`);
GraphCL augmentations as masks and contrastive pre-training (:func:`run_graphcl`); keyed
ticket watermarks (:func:`embed_watermark`, :func:`verify_watermark`).
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
from graphlottery.contrastive import (
    JOAO,
    AttrMask,
    EdgePerturb,
    GraphCLConfig,
    NodeDrop,
    RandomChoice,
    Subgraph,
    nt_xent,
    run_graphcl,
)
from graphlottery.data import load_dataset, load_ogbl, load_ogbn, load_planetoid, load_tu
from graphlottery.graph import MaskedGraph
from graphlottery.lottery import UGS, DistributedUGS, MiniBatchUGS, Ticket, TicketError, init_distributed, run_glt
from graphlottery.masks import (
    EdgeScorer,
    WeightMasks,
    context_features,
    inference_macs,
    principal_components,
    prune_lowest,
    sparsity,
)
from graphlottery.nn import (
    GAT,
    GCN,
    GIN,
    Adjacency,
    DeeperGCN,
    GINEncoder,
    GraphSAGE,
    MLPDecoder,
    load_encoder,
    save_encoder,
)
from graphlottery.tasks import LinkPrediction, NodeClassification, OGBNodeClassification
from graphlottery.watermark import WatermarkKey, embed_watermark, verify_watermark

__version__ = "0.1.0"

__all__ = [
    "load_ogbl",
    "init_distributed",
    "LinkPrediction",
    "MLPDecoder",
    "MiniBatchUGS",
    "DistributedUGS",
    "EdgeScorer",
    "context_features",
    "principal_components",
    "JOAO",
    "AttrMask",
    "EdgePerturb",
    "GINEncoder",
    "GraphCLConfig",
    "NodeDrop",
    "RandomChoice",
    "Subgraph",
    "load_encoder",
    "load_tu",
    "nt_xent",
    "run_graphcl",
    "save_encoder",
    "ColdBrewConfig",
    "ColdBrewStudent",
    "ColdStartSplit",
    "StructuralEmbeddingGCN",
    "DeeperGCN",
    "GAT",
    "GCN",
    "GIN",
    "Adjacency",
    "ConfigError",
    "GLTConfig",
    "GraphSAGE",
    "MaskedGraph",
    "NodeClassification",
    "OGBNodeClassification",
    "Ticket",
    "TicketError",
    "UGS",
    "WatermarkKey",
    "WeightMasks",
    "cold_start_split",
    "embed_watermark",
    "feature_contribution_ratio",
    "inference_macs",
    "load_dataset",
    "load_ogbn",
    "load_planetoid",
    "prune_lowest",
    "run_coldbrew",
    "run_glt",
    "sparsity",
    "verify_watermark",
]
