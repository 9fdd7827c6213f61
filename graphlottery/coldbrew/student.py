"""The Cold Brew student: an MLP that mimics the teacher's embeddings, finds "virtual
neighbours" among teacher embeddings, and classifies from its features plus their aggregate."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from graphlottery.nn.base import Linear, dropout


class MLP(nn.Module):
    """``Linear -> LayerNorm -> GELU -> Dropout`` blocks and a final ``Linear``
    (``dims = [in, hidden..., out]``); the input may be sparse CSR.

    ``side_channels > 0`` adds a second input ``side`` (``[N, side_channels]``, dense) whose own
    bias-free linear map is added to the first layer's: exactly a ``Linear`` over the
    concatenation ``[x || side]``, without densifying a sparse ``x``.
    """

    def __init__(self, dims: Sequence[int], dropout: float = 0.5, side_channels: int = 0):
        super().__init__()
        if len(dims) < 2:
            raise ValueError(f"an MLP needs at least [in, out] dims, got {list(dims)}")
        self.lins = nn.ModuleList(Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.side = Linear(side_channels, dims[1], bias=False) if side_channels else None
        self.norms = nn.ModuleList(nn.LayerNorm(d) for d in dims[1:-1])
        self.dropout = dropout

    def forward(self, x: Tensor, side: Tensor | None = None) -> Tensor:
        if (side is None) != (self.side is None):
            raise ValueError("pass a side input exactly when the MLP was built with side_channels")
        for i, lin in enumerate(self.lins):
            x = lin(x) if i > 0 or side is None else lin(x) + self.side(side)
            if i < len(self.norms):
                x = dropout(nn.functional.gelu(self.norms[i](x)), self.dropout, self.training)
        return x


SCORES = ("dot", "cosine")
# |s - s_bf16| <= BF16_ERROR * |q| |p| for a bf16 product with fp32 accumulation and bf16 output:
# two input roundings and one output rounding of at most 2^-8 each, plus the fp32 sums, with slack
BF16_ERROR = 3.1 * 2.0**-8
SCREEN_ABOVE = 2e10  # multiply-adds (Q * P * d) above which the search screens in bf16 first


def virtual_neighbours(
    query: Tensor,
    pool: Tensor,
    k: int,
    self_index: Tensor | None = None,
    score: str = "dot",
    temperature: float = 1.0,
    chunk_bytes: int = 256 * 2**20,
    screen: bool | None = None,
    margin: int = 32,
) -> tuple[Tensor, Tensor]:
    """Top-``k`` pool rows by similarity to each query row, and their softmax weights.

    :math:`\\tilde e_i = \\mathrm{softmax}(\\Theta_k(s(\\hat e_i, \\bar E)) / \\tau) \\bar E` with
    ``score`` ``"dot"`` (the paper: raw dot products, ``temperature`` 1) or ``"cosine"``. Returns
    ``(index [Q, k], weight [Q, k])``; the aggregate is ``(weight[..., None] * pool[index]).sum(1)``.
    Queries are processed in chunks whose score block stays under ``chunk_bytes``, so memory is
    ``O(Q k + chunk)``, never ``Q x P``. ``self_index`` (``[Q]``, ``-1`` for none) names a pool row
    each query may not pick (the node itself).

    ``screen`` (default: for searches above ``SCREEN_ABOVE`` multiply-adds) first scores in bfloat16,
    about 4x faster on CPUs with bf16 dot products, keeps ``k + margin`` candidates and rescores them
    in float32. The result stays exact: a row is accepted only if its ``k``-th exact score beats every
    non-candidate's bfloat16 score plus the rounding bound ``BF16_ERROR |q| max|p|``; other rows are
    searched again in float32.
    """
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if query.dim() != 2 or pool.dim() != 2 or query.size(1) != pool.size(1):
        raise ValueError(f"query [Q, d] and pool [P, d] must share d, got {tuple(query.shape)} and {tuple(pool.shape)}")
    excluded = 0 if self_index is None else 1
    if not 1 <= k <= pool.size(0) - excluded:
        raise ValueError(f"k={k} must be in [1, {pool.size(0) - excluded}] (the candidate pool has {pool.size(0)} "
                         f"nodes{', minus the node itself' if excluded else ''})")
    if score == "cosine":
        query, pool = nn.functional.normalize(query, dim=1), nn.functional.normalize(pool, dim=1)
    if screen is None:
        screen = query.size(0) * pool.size(0) * pool.size(1) > SCREEN_ABOVE
    candidates = min(k + margin, pool.size(0) - excluded)
    screen = screen and candidates < pool.size(0) - excluded
    rows = max(1, chunk_bytes // ((2 if screen else 4) * pool.size(0)))
    pool_t = pool.t().contiguous()
    pool_t16 = pool_t.bfloat16() if screen else None
    bound = BF16_ERROR * float(pool.norm(dim=1).max()) if screen else 0.0
    index, top = [], []
    for start in range(0, query.size(0), rows):
        q = query[start : start + rows]
        own = None if self_index is None else self_index[start : start + rows]
        if screen:
            t, i = _screened_topk(q, pool, pool_t, pool_t16, own, k, candidates, bound)
        else:
            t, i = _scores(q, pool_t, own).topk(k, dim=1)
        top.append(t)
        index.append(i)
    top_all = torch.cat(top)
    return torch.cat(index), torch.softmax(top_all / temperature, dim=1)


def _scores(q: Tensor, pool_t: Tensor, own: Tensor | None) -> Tensor:
    scores = q @ pool_t
    if own is not None:
        hit = (own >= 0).nonzero().view(-1)
        scores[hit, own[hit]] = float("-inf")
    return scores


def _screened_topk(q: Tensor, pool: Tensor, pool_t: Tensor, pool_t16: Tensor, own: Tensor | None, k: int,
                   candidates: int, bound: float) -> tuple[Tensor, Tensor]:
    approx_top, cand = _scores(q.bfloat16(), pool_t16, own).topk(candidates, dim=1)
    approx_top = approx_top.float()
    exact = torch.einsum("cd,cmd->cm", q, pool[cand])
    exact = exact.masked_fill(approx_top == float("-inf"), float("-inf"))
    top, pos = exact.topk(k, dim=1)
    index = cand.gather(1, pos)
    # a non-candidate scores at most approx_top[:, -1] in bf16, so at most that + bound exactly
    unsure = (top[:, -1] < approx_top[:, -1] + bound * q.norm(dim=1)).nonzero().view(-1)
    if unsure.numel():
        redo = None if own is None else own[unsure]
        top[unsure], index[unsure] = _scores(q[unsure], pool_t, redo).topk(k, dim=1)
    return top, index


class ColdBrewStudent(nn.Module):
    """:math:`\\xi_1` maps features to teacher embeddings (``[F] -> [D]``); :math:`\\xi_2`
    classifies ``[x || \\tilde e || \\hat e]`` (``[F + 2D] -> [C]``; without ``\\hat e`` when
    ``include_mimic=False``, the paper's input), where :math:`\\hat e = \\xi_1(x)` and
    :math:`\\tilde e` aggregates its top-``k`` virtual neighbours among the pool's teacher
    embeddings (see :func:`virtual_neighbours` for ``score`` and ``temperature``).

    ``gate_init``: if set, each side input is scaled by a learnable scalar starting at this value
    (the released code's alphas, ``1e-4``), so the classifier starts as a plain MLP on ``x``.
    """

    def __init__(self, in_channels: int, target_channels: int, num_classes: int, hidden: int = 256,
                 dropout: float = 0.5, k: int = 10, score: str = "cosine", temperature: float = 0.1,
                 include_mimic: bool = True, gate_init: float | None = None):
        super().__init__()
        self.mimic = MLP([in_channels, hidden, target_channels], dropout)
        parts = 2 if include_mimic else 1
        self.classify = MLP([in_channels, hidden, num_classes], dropout, side_channels=parts * target_channels)
        self.k, self.score, self.temperature, self.include_mimic = k, score, temperature, include_mimic
        self.target_channels = target_channels
        # learnable scales of the side inputs (the released code's alphas): starting near zero,
        # the classifier begins as a plain MLP on x and uses the teacher's view only as it helps
        self.gate = None if gate_init is None else nn.Parameter(torch.full((parts,), float(gate_init)))

    @torch.no_grad()
    def neighbour_features(self, x: Tensor, pool_targets: Tensor, self_index: Tensor | None = None) -> Tensor:
        """The side input of :math:`\\xi_2` for every row of ``x``, after :math:`\\xi_1` is trained:
        :math:`\\tilde e` (``[N, D]``), followed by :math:`\\hat e` if ``include_mimic``."""
        was_training = self.mimic.training
        self.mimic.eval()
        query = self.mimic(x)
        self.mimic.train(was_training)
        index, weight = virtual_neighbours(query, pool_targets, self.k, self_index, self.score, self.temperature)
        aggregate = (weight.unsqueeze(-1) * pool_targets[index]).sum(1)
        return torch.cat([aggregate, query], dim=-1) if self.include_mimic else aggregate

    def forward(self, x: Tensor, neighbour_features: Tensor) -> Tensor:
        if self.gate is not None:
            neighbour_features = neighbour_features * self.gate.repeat_interleave(self.target_channels)
        return self.classify(x, neighbour_features)
