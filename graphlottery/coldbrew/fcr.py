"""Feature-free label propagation and the feature-contribution ratio (FCR) of Cold Brew."""
from __future__ import annotations

import torch
from torch import Tensor

from graphlottery.sparse import Adjacency


@torch.no_grad()
def label_propagation(
    adj: Adjacency,
    y: Tensor,
    train_mask: Tensor,
    num_classes: int | None = None,
    steps: int = 50,
    alpha: float = 0.5,
    edge_weight: Tensor | None = None,
) -> Tensor:
    """Class scores ``[N, C]`` from labels alone (as in Correct & Smooth):
    :math:`Y \\leftarrow \\alpha D^{-1/2} A D^{-1/2} Y + (1 - \\alpha) Y_0`, ``steps`` times,
    clamped to ``[0, 1]``, where :math:`Y_0` is one-hot on training nodes and zero elsewhere.
    ``edge_weight`` (``[E]``) masks edges, e.g. a cold-start split's ``cold_edge_mask``."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    num_classes = int(y.max()) + 1 if num_classes is None else num_classes
    y0 = torch.zeros(adj.num_nodes, num_classes, device=y.device)
    y0[train_mask] = torch.nn.functional.one_hot(y[train_mask], num_classes).float()
    w = torch.ones(adj.num_edges, device=y.device) if edge_weight is None else edge_weight.float()
    w = adj.sort(w)
    dinv = adj.sum_by_target(w).clamp_min(1e-12).rsqrt()
    w = dinv[adj.dst] * w * dinv[adj.src]
    out = y0
    for _ in range(steps):
        out = (alpha * adj.matmul(w, out) + (1 - alpha) * y0).clamp_(0.0, 1.0)
    return out


def feature_contribution_ratio(gnn: float, mlp: float, label_propagation: float) -> float:
    """FCR (as a fraction) from the test accuracies of a GNN, an MLP and label propagation.

    With :math:`\\delta_{MLP} = z_{GNN} - z_{MLP}` and :math:`\\delta_{LP} = z_{GNN} - z_{LP}`:
    :math:`\\delta_{LP} / (\\delta_{MLP} + \\delta_{LP})` when the MLP does not beat the GNN, else
    :math:`1 + |\\delta_{MLP}| / (|\\delta_{MLP}| + \\delta_{LP})`. Below 0.5 structure dominates,
    0.5-1 features dominate, above 1 the MLP beats the GNN.
    """
    d_mlp, d_lp = gnn - mlp, gnn - label_propagation
    if mlp <= gnn:
        if d_mlp + d_lp <= 0:
            raise ValueError(f"FCR is undefined: the GNN ({gnn:.4f}) beats neither the MLP nor label propagation")
        return d_lp / (d_mlp + d_lp)
    return 1.0 + abs(d_mlp) / (abs(d_mlp) + d_lp)
