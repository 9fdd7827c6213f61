"""GraphCL graph augmentations as masks: batch-aware, vectorised, recording what each view kept.

Every augmentation is a functional utility computing its mask(s) plus a PyG ``BaseTransform``
applying it to a ``Data`` or a whole ``Batch`` (ratios per graph, no loop over graphs); views carry
``n_id`` / ``e_id`` into the input (see :mod:`~graphlottery.contrastive.augment.view`).
"""
from graphlottery.contrastive.augment.attr_mask import FILLS, MODES, AttrMask, feature_mask, fill_masked
from graphlottery.contrastive.augment.compose import Compose, Identity, RandomApply, RandomChoice
from graphlottery.contrastive.augment.edge_perturb import EdgePerturb, perturb_edge_mask
from graphlottery.contrastive.augment.joao import JOAO, project_simplex
from graphlottery.contrastive.augment.node_drop import NodeDrop, drop_node_mask
from graphlottery.contrastive.augment.subgraph import Subgraph, subgraph_mask
from graphlottery.contrastive.augment.view import Graphs, graphs_of, make_view

__all__ = [
    "FILLS",
    "JOAO",
    "MODES",
    "AttrMask",
    "Compose",
    "EdgePerturb",
    "Graphs",
    "Identity",
    "NodeDrop",
    "RandomApply",
    "RandomChoice",
    "Subgraph",
    "drop_node_mask",
    "feature_mask",
    "fill_masked",
    "graphs_of",
    "make_view",
    "perturb_edge_mask",
    "project_simplex",
    "subgraph_mask",
]
