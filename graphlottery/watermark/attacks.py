"""Removal and ambiguity attacks on a watermarked ticket, as an attacker holding it would run
them. Mask attacks take and return ``{name: bool mask}`` dicts (weight masks, or a graph's
``{"graph": keep}``) and never modify their inputs. The second-signature (ambiguity) attack is
:func:`~graphlottery.watermark.embed_watermark` with the attacker's own payload and seed."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from graphlottery.masks.prune import prune_lowest, random_scores


def prune_further(masks: dict[str, Tensor], fraction: float, weights: dict[str, Tensor] | None = None,
                  generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """Prune ``fraction`` of the remaining entries of all masks together: those with the lowest
    ``|weight|`` (global magnitude pruning), or random ones when ``weights`` is ``None``."""
    names = list(masks)
    keep = [masks[n] for n in names]
    scores = random_scores(keep, generator) if weights is None else [weights[n].detach() * masks[n] for n in names]
    return dict(zip(names, prune_lowest(scores, keep, fraction)))


def regrow_random(masks: dict[str, Tensor], fraction: float, generator: torch.Generator | None = None
                  ) -> dict[str, Tensor]:
    """Re-enable ``fraction`` of each mask's pruned entries, chosen at random."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    out = {}
    for name, mask in masks.items():
        pruned = (~mask).reshape(-1).nonzero().view(-1)
        chosen = pruned[torch.randperm(pruned.numel(), generator=generator)[: round(fraction * pruned.numel())]]
        flat = mask.reshape(-1).clone()
        flat[chosen] = True
        out[name] = flat.view_as(mask)
    return out


def randomise(masks: dict[str, Tensor], names: list[str], generator: torch.Generator | None = None
              ) -> dict[str, Tensor]:
    """Replace the masks ``names`` by random ones keeping exactly as many entries."""
    out = dict(masks)
    for name in names:
        mask = masks[name]
        flat = torch.zeros(mask.numel(), dtype=torch.bool)
        flat[torch.randperm(mask.numel(), generator=generator)[: int(mask.sum())]] = True
        out[name] = flat.view_as(mask).to(mask.device)
    return out


def fine_tune(model: nn.Module, loss: Callable[[nn.Module], Tensor], epochs: int, lr: float = 1e-3,
              weight_decay: float = 0.0) -> nn.Module:
    """``epochs`` Adam steps on ``loss(model)`` (a full-batch loss, or one mini-batch per call);
    masks attached to ``model`` stay fixed."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    for _ in range(epochs):
        optimizer.zero_grad(set_to_none=True)
        loss(model).backward()
        optimizer.step()
    return model
