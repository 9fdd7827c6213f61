r"""The signature code: payload bits, their spreading over cell pairs, and the statistics.

Each payload bit is repeated over many *pairs* of cells. A pair ``(u, v)`` carries one bit
``b`` as ``(u, v) = (b, 1 - b)``, with ``b`` the payload bit XOR a keyed whitening bit. Reading
a pair gives ``b`` when ``u != v`` and nothing (an erasure) when ``u == v``, so pruning, which
only turns cells off, erases bits rather than flipping them.

For a mask chosen without the key, every informative pair (``u != v``) agrees with its bit
with probability exactly 1/2: the whitening bits are fair coins independent of the mask. The
number of agreements among ``m`` informative pairs is then ``Binomial(m, 1/2)`` whatever the
mask's density or structure, which gives the p-value (:func:`binomial_tail`).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor


def text_to_bits(payload: str | bytes) -> Tensor:
    """UTF-8 bytes of ``payload`` as bits, most significant first (``uint8`` ``[8 · bytes]``)."""
    data = payload.encode() if isinstance(payload, str) else bytes(payload)
    if not data:
        raise ValueError("the payload is empty")
    byte = torch.tensor(list(data), dtype=torch.uint8)
    return ((byte.unsqueeze(-1) >> torch.arange(7, -1, -1, dtype=torch.uint8)) & 1).view(-1)


def bits_to_text(bits: Tensor) -> str:
    """Inverse of :func:`text_to_bits` (undecodable bytes become U+FFFD)."""
    weights = 2 ** torch.arange(7, -1, -1)
    values = (bits.view(-1, 8).long() * weights).sum(-1)
    return bytes(values.tolist()).decode(errors="replace")


def log10_binomial_tail(k: int, n: int, p: float = 0.5) -> float:
    r""":math:`\log_{10} P(X \ge k)` for :math:`X \sim \mathrm{Binomial}(n, p)`, exact and free of
    underflow (a log-sum-exp over the tail)."""
    if k <= 0:
        return 0.0
    if k > n:
        return -math.inf
    i = torch.arange(k, n + 1, dtype=torch.float64)
    log_pmf = (math.lgamma(n + 1) - torch.lgamma(i + 1) - torch.lgamma(n - i + 1)
               + i * math.log(p) + (n - i) * math.log1p(-p))
    return float(torch.logsumexp(log_pmf, 0)) / math.log(10)


def binomial_tail(k: int, n: int, p: float = 0.5) -> float:
    """``P(X >= k)`` for ``X ~ Binomial(n, p)`` (0.0 once it underflows; see :func:`log10_binomial_tail`)."""
    return 10.0 ** log10_binomial_tail(k, n, p)


def spread(num_bits: int, num_pairs: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Which payload bit each pair carries (every bit ``⌊pairs / bits⌋`` or one more times, in a
    keyed order) and the pairs' whitening bits, ``([pairs], [pairs])``."""
    if num_pairs < num_bits:
        raise ValueError(f"a payload of {num_bits} bits needs at least {num_bits} cell pairs, the carriers "
                         f"hold {num_pairs}; shorten the payload or add carriers / pairs")
    assign = (torch.arange(num_pairs) % num_bits)[torch.randperm(num_pairs, generator=generator)]
    whiten = torch.randint(0, 2, (num_pairs,), generator=generator, dtype=torch.uint8)
    return assign, whiten


def decode(first: Tensor, second: Tensor, expected: Tensor, assign: Tensor, whiten: Tensor,
           num_bits: int) -> dict[str, Tensor | int]:
    """Read pairs ``(first, second)`` (bool ``[pairs]``): informative pairs, agreements with the
    ``expected`` pair bits, and the payload by a majority vote over each bit's pairs (bits with no
    vote, or a tied one, come out 0 and count as errors)."""
    informative = first != second
    read = first.to(torch.uint8)
    agree = informative & (read == expected)
    votes = torch.zeros(num_bits, dtype=torch.long)
    signed = torch.where(informative, 2 * (read ^ whiten).long() - 1, torch.zeros_like(assign))
    votes.index_add_(0, assign, signed)
    return {"informative": int(informative.sum()), "agree": int(agree.sum()),
            "payload": (votes > 0).to(torch.uint8), "decided": votes != 0}
