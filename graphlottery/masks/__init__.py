"""Masks and pruning criteria shared by every method."""
from graphlottery.masks.accounting import inference_macs
from graphlottery.masks.prune import (
    check_fraction,
    prune_lowest,
    prune_lowest_layerwise,
    random_scores,
    sparsity,
)
from graphlottery.masks.weight import WeightMasks, maskable_weights

__all__ = [
    "WeightMasks",
    "check_fraction",
    "inference_macs",
    "maskable_weights",
    "prune_lowest",
    "prune_lowest_layerwise",
    "random_scores",
    "sparsity",
]
