"""Inference cost of a sparse GNN ticket."""
from __future__ import annotations

from collections.abc import Sequence


def inference_macs(
    num_nodes: int, weight_nnz: Sequence[int], kept_edges: int, propagation_widths: Sequence[int]
) -> int:
    """Multiply-accumulates of one full-graph inference.

    :math:`\\sum_l N \\cdot \\mathrm{nnz}(W_l) + \\sum_l (|E_{kept}| + N) \\cdot d_l`: every node
    through every kept weight, plus one multiply-add per kept edge and self-loop for each
    propagated feature (``d_l`` = width a layer propagates).
    """
    dense = sum(num_nodes * int(n) for n in weight_nnz)
    graph = sum((int(kept_edges) + num_nodes) * int(d) for d in propagation_widths)
    return dense + graph
