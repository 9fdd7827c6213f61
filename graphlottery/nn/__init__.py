"""GNNs whose message passing takes a per-edge mask as ``edge_weight``."""
from graphlottery.nn.base import MessagePassingStack, feature_dropout
from graphlottery.nn.checkpoint import load_encoder, read_encoder, save_encoder
from graphlottery.nn.decoder import MLPDecoder
from graphlottery.nn.deepergcn import DeeperGCN, GENConv
from graphlottery.nn.gat import GAT, GATConv
from graphlottery.nn.gcn import GCN, GCNConv, GCNNorm, gcn_propagate
from graphlottery.nn.gin import GIN, GINClassifier, GINConv, GINEncoder
from graphlottery.nn.pyg import PYG_MODELS, pyg_model
from graphlottery.nn.sage import GraphSAGE, SAGEConv
from graphlottery.sparse import Adjacency

MODELS = {"gcn": GCN, "gin": GIN, "gat": GAT, "sage": GraphSAGE, "deepergcn": DeeperGCN}

__all__ = [
    "Adjacency",
    "DeeperGCN",
    "GAT",
    "GATConv",
    "GCN",
    "GCNConv",
    "GCNNorm",
    "GENConv",
    "GIN",
    "GINConv",
    "GINClassifier",
    "GINEncoder",
    "GraphSAGE",
    "MLPDecoder",
    "MODELS",
    "MessagePassingStack",
    "PYG_MODELS",
    "SAGEConv",
    "feature_dropout",
    "gcn_propagate",
    "pyg_model",
    "load_encoder",
    "read_encoder",
    "save_encoder",
]
