"""JOAO: a learnable distribution over augmentations ("Graph Contrastive Learning Automated",
You et al., ICML 2021).

The augmentation distribution ``P`` on the probability simplex is the inner maximiser of

.. math::
    \\min_\\theta \\max_{P \\in \\Delta} \\; \\sum_k P_k \\, L_k(\\theta) - \\frac{\\gamma}{2} \\| P - 1/K \\|^2 ,

updated by one projected gradient-ascent step per call of :meth:`JOAO.update`:
``P <- proj(P + beta * (L - gamma * (P - 1/K)))``, with ``L`` the current loss of every candidate.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from graphlottery.contrastive.augment.compose import RandomChoice
from graphlottery.contrastive.augment.sampling import check_generator, rand


def project_simplex(v: Tensor) -> Tensor:
    """Euclidean projection of ``v`` (``[K]``) onto ``{p : p >= 0, sum(p) = 1}``.

    Exact and sort-based (Held et al. 1974; Duchi et al. 2008): with ``u`` sorted decreasingly
    and ``rho`` the last ``j`` with ``u_j > (sum_{i<=j} u_i - 1) / j``, the projection is
    ``max(v - theta, 0)`` for ``theta = (sum_{i<=rho} u_i - 1) / rho``.
    """
    if v.dim() != 1 or v.numel() == 0:
        raise ValueError(f"expected a non-empty vector [K], got shape {tuple(v.shape)}")
    if not bool(torch.isfinite(v).all()):
        raise ValueError(f"cannot project a vector with NaN or inf entries: {v.tolist()}")
    u = torch.sort(v, descending=True)[0]
    excess = torch.cumsum(u, 0) - 1
    j = torch.arange(1, v.numel() + 1, dtype=v.dtype, device=v.device)
    rho = int((u - excess / j > 0).nonzero().max())
    theta = excess[rho] / (rho + 1)
    return (v - theta).clamp_min(0)


class JOAO:
    """The JOAO augmentation distribution ``P`` over ``K`` candidates (uniform at the start).

    Args:
        choice: a :class:`RandomChoice` whose ``probs`` JOAO drives (set to uniform now and
            rewritten by every :meth:`update`), or the number of candidates ``K`` (then draw
            with :meth:`sample`, e.g. over augmentation pairs).
        gamma: weight of the pull toward the uniform distribution (paper: tuned in {0.01, 0.1, 1}).
        beta: step size of the projected gradient ascent (paper: 1).

    Use: once per epoch, estimate the contrastive loss of every candidate (no gradient, on a
    sample of the data) and call ``update(losses)``; mass moves toward the higher-loss candidates.
    """

    def __init__(self, choice: RandomChoice | int, gamma: float = 0.1, beta: float = 1.0):
        if isinstance(choice, RandomChoice):
            self.choice, k = choice, len(choice.transforms)
        elif isinstance(choice, int) and not isinstance(choice, bool) and choice >= 1:
            self.choice, k = None, choice
        else:
            raise ValueError(f"choice must be a RandomChoice or a positive number of candidates, got {choice!r}")
        for name, value in (("gamma", gamma), ("beta", beta)):
            if not math.isfinite(float(value)) or float(value) < 0:
                raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
        self.num_candidates, self.gamma, self.beta = k, float(gamma), float(beta)
        self.probs = torch.full((k,), 1.0 / k, dtype=torch.float64)

    @property
    def probs(self) -> Tensor:
        """The distribution ``P`` (float64 ``[K]``, on the simplex)."""
        return self._probs

    @probs.setter
    def probs(self, probs: Tensor) -> None:
        p = torch.as_tensor(probs, dtype=torch.float64).detach().cpu()
        if p.shape != (self.num_candidates,):
            raise ValueError(f"probs must have shape ({self.num_candidates},), got {tuple(p.shape)}")
        self._probs = p
        if self.choice is not None:
            self.choice.probs = p

    def update(self, losses: Tensor) -> Tensor:
        """One projected gradient-ascent step on ``P`` from the candidates' losses (``[K]``); returns
        the new ``P``."""
        loss = torch.as_tensor(losses, dtype=torch.float64).detach().cpu()
        if loss.shape != (self.num_candidates,):
            raise ValueError(f"losses must have shape ({self.num_candidates},) (one per candidate), "
                             f"got {tuple(loss.shape)}")
        if not bool(torch.isfinite(loss).all()):
            raise ValueError(f"losses must be finite, got {loss.tolist()}")
        uniform = 1.0 / self.num_candidates
        step = self._probs + self.beta * (loss - self.gamma * (self._probs - uniform))
        self.probs = project_simplex(step)
        return self.probs

    def sample(self, num_samples: int = 1, generator: torch.Generator | None = None) -> Tensor:
        """``num_samples`` candidate indices drawn from ``P`` (``LongTensor [num_samples]``)."""
        u = rand(num_samples, check_generator(generator), torch.device("cpu"), torch.float64)
        return torch.searchsorted(torch.cumsum(self._probs, 0)[:-1], u, right=True)

    def __repr__(self) -> str:
        probs = ", ".join(f"{p:.3g}" for p in self._probs.tolist())
        return f"{type(self).__name__}(probs=[{probs}], gamma={self.gamma}, beta={self.beta})"
