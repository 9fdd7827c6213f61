"""Entropy-regularised optimal transport between two point clouds (Sinkhorn, log domain)."""
from __future__ import annotations

import math

import torch
from torch import Tensor


def sinkhorn_distance(x: Tensor, y: Tensor, eps: float = 0.05, iters: int = 10) -> Tensor:
    """The transport cost :math:`\\sum_{ij} P_{ij} \\lVert x_i - y_j \\rVert^2` of the
    entropy-regularised plan between the uniform distributions on the rows of ``x`` (``[n, d]``,
    or a batch ``[B, n, d]``) and ``y`` (``[m, d]`` / ``[B, m, d]``), after ``iters`` Sinkhorn
    iterations in the log domain (stable for small ``eps``); one value (``[]`` / ``[B]``),
    differentiable in ``x`` and ``y`` through the cost at the final plan (the envelope gradient: the
    iterations run without autograd). Memory O(B n m): callers bound ``n`` and ``m``."""
    if x.dim() not in (2, 3) or x.dim() != y.dim() or x.shape[:-2] != y.shape[:-2] or x.size(-1) != y.size(-1) \
            or not x.size(-2) or not y.size(-2):
        raise ValueError(f"sinkhorn_distance needs [(B,) n, d] and [(B,) m, d] with n, m > 0, got {tuple(x.shape)}, "
                         f"{tuple(y.shape)}")
    cost = torch.cdist(x, y).pow(2)
    log_a = -math.log(x.size(-2))
    log_b = -math.log(y.size(-2))
    with torch.no_grad():
        scaled = cost / eps
        f = cost.new_zeros(cost.shape[:-1])
        g = cost.new_zeros(cost.shape[:-2] + cost.shape[-1:])
        for _ in range(iters):
            f = -torch.logsumexp(g.unsqueeze(-2) - scaled + log_b, dim=-1)
            g = -torch.logsumexp(f.unsqueeze(-1) - scaled + log_a, dim=-2)
        plan = torch.exp(f.unsqueeze(-1) + g.unsqueeze(-2) - scaled + log_a + log_b)
    return (plan * cost).sum((-2, -1))
