"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR and GraphCL."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def nt_xent(z1: Tensor, z2: Tensor, temperature: float = 0.2, symmetric: bool = False) -> Tensor:
    """NT-Xent between two views of the same ``B`` items, ``z1, z2: [B, D]`` → scalar.

    With cosine similarity :math:`s_{nm} = \\cos(z_{1,n}, z_{2,m}) / \\tau`, the loss of item
    :math:`n` anchored in view 1 is

    .. math::
        \\ell_n = -\\log \\frac{e^{s_{nn}}}{\\sum_{m \\neq n} e^{s_{nm}}},

    as in GraphCL's paper (Eq. 3) and code: the negatives are the other items of the other view
    and the positive is *not* in the denominator. The loss is the mean over the batch;
    ``symmetric=True`` averages it with the same loss anchored in view 2.
    """
    if z1.dim() != 2 or z1.shape != z2.shape:
        raise ValueError(f"the two views must be [B, D] of the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if z1.size(0) < 2:
        raise ValueError("NT-Xent needs at least 2 items per batch (the others are the negatives)")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    sim = F.normalize(z1, dim=-1) @ F.normalize(z2, dim=-1).t() / temperature  # [B, B]
    loss = _anchored(sim)
    return 0.5 * (loss + _anchored(sim.t())) if symmetric else loss


def _anchored(sim: Tensor) -> Tensor:
    """Mean of ``-s_nn + logsumexp_{m != n} s_nm`` over the rows of ``sim``."""
    eye = torch.eye(sim.size(0), dtype=torch.bool, device=sim.device)
    negatives = torch.logsumexp(sim.masked_fill(eye, float("-inf")), dim=-1)
    return (negatives - sim.diagonal()).mean()


class NTXentLoss(nn.Module):
    """Module form of :func:`nt_xent`."""

    def __init__(self, temperature: float = 0.2, symmetric: bool = False):
        super().__init__()
        self.temperature, self.symmetric = temperature, symmetric

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        return nt_xent(z1, z2, self.temperature, self.symmetric)
