"""Masks and pruning criteria shared by every method."""
from graphlottery.masks.accounting import inference_macs
from graphlottery.masks.density import SCHEMES, kept_counts, layer_densities, random_masks
from graphlottery.masks.distance import EarlyBird, mask_distance
from graphlottery.masks.prune import (
    check_fraction,
    prune_lowest,
    prune_lowest_grouped,
    prune_lowest_layerwise,
    random_scores,
    sparsity,
)
from graphlottery.masks.scorer import EdgeScorer, context_features, principal_components, unit_endpoints
from graphlottery.masks.structured import refill, regroup
from graphlottery.masks.weight import WeightMasks, maskable_weights

__all__ = [
    "EarlyBird",
    "EdgeScorer",
    "SCHEMES",
    "WeightMasks",
    "check_fraction",
    "context_features",
    "principal_components",
    "inference_macs",
    "kept_counts",
    "layer_densities",
    "mask_distance",
    "maskable_weights",
    "prune_lowest",
    "prune_lowest_grouped",
    "prune_lowest_layerwise",
    "random_masks",
    "random_scores",
    "refill",
    "regroup",
    "sparsity",
    "unit_endpoints",
]
