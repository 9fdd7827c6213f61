"""Tasks: what a model is trained on and how it is scored."""
from graphlottery.tasks.graph import GraphClassification, graph_folds, graph_union
from graphlottery.tasks.link import LinkPrediction, hits_at_k, link_split, roc_auc
from graphlottery.tasks.node import NodeClassification, OGBNodeClassification

__all__ = [
    "GraphClassification",
    "LinkPrediction", "NodeClassification", "OGBNodeClassification", "hits_at_k", "link_split", "roc_auc",
    "graph_folds",
    "graph_union",
]
