"""Cold Brew: distil a GNN teacher into an MLP student that serves cold-start nodes."""
from graphlottery.coldbrew.fcr import feature_contribution_ratio, label_propagation
from graphlottery.coldbrew.run import ColdBrewConfig, run_coldbrew
from graphlottery.coldbrew.split import ColdStartSplit, cold_start_split, node_degree
from graphlottery.coldbrew.student import MLP, ColdBrewStudent, virtual_neighbours
from graphlottery.coldbrew.teacher import StructuralEmbeddingGCN

__all__ = [
    "MLP",
    "ColdBrewConfig",
    "ColdBrewStudent",
    "ColdStartSplit",
    "StructuralEmbeddingGCN",
    "cold_start_split",
    "feature_contribution_ratio",
    "label_propagation",
    "node_degree",
    "run_coldbrew",
    "virtual_neighbours",
]
