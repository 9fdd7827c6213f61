"""GraphCL: augmentations as masks over the graph, NT-Xent, JOAO, contrastive pre-training of
graph and node encoders, and the evaluation of frozen embeddings."""
from graphlottery.contrastive.augment import (
    JOAO,
    AttrMask,
    Compose,
    EdgePerturb,
    Identity,
    NodeDrop,
    RandomApply,
    RandomChoice,
    Subgraph,
)
from graphlottery.contrastive.evaluate import linear_probe_accuracy, svm_accuracy
from graphlottery.contrastive.loss import NTXentLoss, nt_xent
from graphlottery.contrastive.pretrain import ProjectionHead, embed_graphs, pretrain_graphs, pretrain_nodes
from graphlottery.contrastive.run import GraphCLConfig, run_graphcl

__all__ = [
    "JOAO",
    "AttrMask",
    "Compose",
    "EdgePerturb",
    "GraphCLConfig",
    "Identity",
    "NTXentLoss",
    "NodeDrop",
    "ProjectionHead",
    "RandomApply",
    "RandomChoice",
    "Subgraph",
    "embed_graphs",
    "linear_probe_accuracy",
    "nt_xent",
    "pretrain_graphs",
    "pretrain_nodes",
    "run_graphcl",
    "svm_accuracy",
]
