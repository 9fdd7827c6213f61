"""Embed a keyed signature into a ticket's masks, and verify it in a suspect's.

Embedding (:func:`embed_watermark`) writes each cell pair of the key, then restores every
mask's number of kept entries exactly: surplus entries are pruned (lowest ``|score|`` first)
and missing ones regrown (highest ``|score|`` first), only outside the key's cells. A cell set to
1 whose block is empty gets its block's highest-scoring weight back; a cell set to 0 loses its
whole block. The graph mask's balance is restored with keyed random edges.

Verification (:func:`verify_watermark`) reads the pairs back from any suspect (a ticket, a
ticket file, masks, a model whose pruned weights are zero) and tests them against the null of
a mask chosen without the key (see :mod:`~graphlottery.watermark.code`).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from graphlottery.graph import MaskedGraph
from graphlottery.lottery.ticket import Ticket
from graphlottery.masks.weight import _OWNER, WeightMasks
from graphlottery.watermark.code import bits_to_text, decode, log10_binomial_tail, spread, text_to_bits
from graphlottery.watermark.key import GRAPH, Carrier, WatermarkError, WatermarkKey
from graphlottery.watermark.view import cell_positions, connectivity

MAX_SHARE = 0.125  # default: at most this share of a layer's cells carry the signature
MIN_PAIRS = 8  # default: layers that would hold fewer pairs are left out
BALANCE_SHARE = 0.25  # default: pairs at most this share of a layer's kept and of its pruned entries
DEFAULT_ALPHA = 1e-6  # the verifier's default significance level
RARE = 0.1  # default view: connectivity unless kept (or pruned) cells are rarer than this, then entries


@dataclass
class Verification:
    """Outcome of a white-box verification.

    Attributes:
        verified: ``p_value < alpha``.
        p_value, log10_p_value: chance of at least this many agreements for a mask chosen
            without the key (``Binomial(informative, 1/2)`` tail).
        informative, agree, pairs: informative pairs (cells differ), those agreeing with the
            key, and all pairs read.
        bit_error_rate: share of payload bits decoded wrongly (undecided bits count as wrong).
        payload: the decoded payload as text.
        carriers: per carrier, ``{"informative", "agree"}``.
        skipped: carriers not read (the graph mask when no graph was given).
    """

    verified: bool
    p_value: float
    log10_p_value: float
    informative: int
    agree: int
    pairs: int
    bit_error_rate: float
    payload: str
    alpha: float
    carriers: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def _graph_of(data: Data, carrier: Carrier) -> MaskedGraph:
    graph = MaskedGraph(data, directed=carrier.directed)
    if graph.fingerprint != carrier.fingerprint or graph.num_units != carrier.shape[0]:
        raise WatermarkError(f"the key's graph mask is for another graph ({carrier.shape[0]} prunable edges, "
                             f"fingerprint {carrier.fingerprint}) than the one given ({graph.num_units}, "
                             f"{graph.fingerprint})")
    return graph


def _graph_pairs(key: WatermarkKey, carrier: Carrier, graph: MaskedGraph) -> Tensor:
    return key.graph_pairs(carrier, graph.data.edge_index.cpu(), graph.edge_unit.cpu(), graph.num_units,
                           graph.num_nodes)


def _pair_bits(key: WatermarkKey) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Payload bits, each pair's payload bit index, whitening bit and written bit ``b``."""
    payload = torch.tensor(key.payload, dtype=torch.uint8)
    assign, whiten = spread(payload.numel(), key.num_pairs, key.generator("code"))
    return payload, assign, whiten, payload[assign] ^ whiten


def _balance(mask: Tensor, count: int, eligible: Tensor, score: Tensor, what: str) -> None:
    """Prune or regrow eligible entries of the flat ``mask`` in place until it keeps ``count``."""
    diff = int(mask.sum()) - count
    if diff == 0:
        return
    candidates = (mask if diff > 0 else ~mask) & eligible
    index = candidates.nonzero().view(-1)
    if index.numel() < abs(diff):
        raise WatermarkError(f"{what}: cannot keep its number of kept entries; the window leaves only "
                             f"{index.numel()} entries to rebalance {abs(diff)} (the layer is too dense or too "
                             "sparse for this many pairs)")
    order = torch.sort(score[index], descending=diff < 0, stable=True).indices[: abs(diff)]
    mask[index[order]] = diff < 0


def _write_weight(mask: Tensor, score: Tensor, carrier: Carrier, pairs: Tensor, bits: Tensor) -> Tensor:
    positions = cell_positions(carrier.shape, carrier.view)
    blocks = positions.reshape(-1, positions.shape[-1])[pairs.reshape(-1)]  # [2P, block]
    want = torch.stack([bits, 1 - bits], 1).reshape(-1).bool()
    flat, before = mask.reshape(-1).clone(), int(mask.sum())
    flat[blocks[~want].reshape(-1)] = False
    empty = want & ~flat[blocks].any(-1)
    best = score[blocks[empty]].argmax(-1, keepdim=True)
    flat[blocks[empty].gather(1, best).view(-1)] = True
    eligible = torch.ones_like(flat)
    eligible[blocks.reshape(-1)] = False
    _balance(flat, before, eligible, score, f"weight {carrier.name!r}")
    return flat.view_as(mask)


def _write_graph(keep: Tensor, pairs: Tensor, bits: Tensor, generator: torch.Generator) -> Tensor:
    keep, before = keep.clone(), int(keep.sum())
    keep[pairs[:, 0]] = bits.bool()
    keep[pairs[:, 1]] = ~bits.bool()
    eligible = torch.ones_like(keep)
    eligible[pairs.reshape(-1)] = False
    _balance(keep, before, eligible, torch.rand(keep.shape, generator=generator), "graph mask")
    return keep


def _default_view(mask: Tensor) -> str:
    """``"auto"`` (connectivity), unless kept or pruned cells are rarer than :data:`RARE` there
    (a conv ticket's kernels are mostly non-empty): then ``"entries"``. A rare value stands out,
    and a signature written in it is cheap to erase (e.g. give every empty kernel one weight)."""
    density = float(connectivity(mask).float().mean())
    return "auto" if RARE <= density <= 1.0 - RARE else "entries"


def _default_carriers(masks: dict[str, Tensor], views: dict[str, str], layers: list[str] | None,
                      pairs: int | dict[str, int]) -> list[Carrier]:
    names = layers if layers is not None else [n for n, m in masks.items() if m.dim() >= 2]
    carriers = []
    for name in names:
        if name not in masks:
            raise WatermarkError(f"the ticket has no weight mask {name!r}; it has {sorted(masks)}")
        view = views.get(name) or _default_view(masks[name])
        positions = cell_positions(masks[name].shape, view)
        cells = positions.shape[0] * positions.shape[1]
        if isinstance(pairs, dict):
            if name not in pairs:
                continue
            count = int(pairs[name])
        else:
            kept = int(masks[name].sum())
            spare = min(kept, masks[name].numel() - kept)  # a dense (or empty) layer cannot rebalance
            count = min(int(pairs), int(MAX_SHARE * cells / 2), int(BALANCE_SHARE * spare))
            if layers is None and count < MIN_PAIRS:
                continue
            if count < 1:
                raise WatermarkError(f"{name!r} cannot carry a signature: it is too small, too dense or too sparse")
        carriers.append(Carrier(name=name, view=view, shape=list(masks[name].shape), pairs=count))
    if not carriers:
        raise WatermarkError("no weight mask is large enough to carry a signature; pass layers= and pairs=")
    return carriers


def embed_watermark(
    ticket: Ticket,
    payload: str | bytes,
    seed: int,
    *,
    layers: list[str] | None = None,
    pairs: int | dict[str, int] = 256,
    views: dict[str, str] | None = None,
    graph: Data | None = None,
    graph_pairs: int = 256,
    node_fraction: float = 0.5,
    scores: dict[str, Tensor] | None = None,
) -> tuple[Ticket, WatermarkKey]:
    """Write ``payload`` into ``ticket``'s masks; returns the new ticket and the secret key.

    Args:
        ticket: the ticket (its masks change, its rewind weights do not).
        payload: text or bytes; every bit is repeated over ``total pairs / bits`` pairs.
        seed: the key's secret seed (cell positions, whitening, balancing).
        layers: weight masks to write into; default every mask with at least 2 dimensions whose
            view holds :data:`MIN_PAIRS` pairs.
        pairs: pairs per layer, or ``{name: pairs}``; an int is capped at 1/8 of a layer's cells and
            at 1/4 of its kept and of its pruned entries (a nearly dense layer cannot rebalance).
        views: connectivity view per layer, e.g. ``{"blocks.0.attn.q.weight": "heads_out:4"}``;
            default ``"auto"`` unless its kept or pruned cells are rarer than 10%, then ``"entries"``.
        graph: the ticket's graph (a PyG ``Data``) to also write ``graph_pairs`` pairs into the
            graph mask, among the edges of a keyed ``node_fraction`` of the nodes.
        scores: importance per weight (e.g. the trained weights); default the rewind weights.
            Only ``|score|`` matters: which weight a cell gets back, which entries rebalance.

    Every mask keeps exactly its number of kept entries. Retrain (or fine-tune) the ticket
    afterwards, as any ticket.
    """
    carriers = _default_carriers(ticket.weight_masks, views or {}, layers, pairs)
    masked_graph = None
    if graph is not None:
        if ticket.edge_mask is None:
            raise WatermarkError("the ticket has no graph mask to write into; leave graph=None")
        if not 0.0 < node_fraction <= 1.0:
            raise ValueError(f"node_fraction must be in (0, 1], got {node_fraction}")
        masked_graph = MaskedGraph(graph, directed=ticket.directed)
        if masked_graph.fingerprint != ticket.graph_fingerprint:
            raise WatermarkError("the graph given is not the ticket's graph (fingerprints differ)")
        masked_graph.set_edge_mask(ticket.edge_mask)
        carriers.append(Carrier(name=GRAPH, view=GRAPH, shape=[masked_graph.num_units], pairs=int(graph_pairs),
                                node_fraction=node_fraction, fingerprint=masked_graph.fingerprint,
                                directed=ticket.directed))
    bits = text_to_bits(payload)
    key = WatermarkKey(model_class=ticket.model_class, payload=bits.tolist(), seed=int(seed), carriers=carriers,
                       payload_text=payload if isinstance(payload, str) else None)
    _, _, _, written = _pair_bits(key)
    masks, edge_mask, start = dict(ticket.weight_masks), ticket.edge_mask, 0
    for carrier in carriers:
        chunk = written[start: start + carrier.pairs]
        start += carrier.pairs
        if carrier.is_graph:
            keep = _write_graph(masked_graph.keep.cpu(), _graph_pairs(key, carrier, masked_graph), chunk,
                                key.generator("balance"))
            masked_graph.set_keep(keep)
            edge_mask = masked_graph.edge_mask().cpu()
            continue
        source = scores[carrier.name] if scores is not None and carrier.name in scores else ticket.rewind.get(
            carrier.name)
        if source is None:
            raise WatermarkError(f"no scores for {carrier.name!r}: pass scores= or a ticket with its rewind weights")
        masks[carrier.name] = _write_weight(masks[carrier.name], source.detach().abs().reshape(-1).float().cpu(),
                                            carrier, key.weight_pairs(carrier), chunk)
    return replace(ticket, weight_masks=masks, edge_mask=edge_mask), key


def suspect_masks(suspect: Any) -> tuple[dict[str, Tensor], Tensor | None]:
    """Weight masks (and the edge mask, when there is one) of a suspect: a :class:`Ticket`, a
    ticket file, :class:`WeightMasks`, a model (its attached masks, else its nonzero weights), or
    a dict of boolean masks or of weights (nonzero = kept)."""
    if isinstance(suspect, (str, os.PathLike)):
        suspect = Ticket.load(suspect)
    if isinstance(suspect, Ticket):
        return dict(suspect.weight_masks), suspect.edge_mask
    if isinstance(suspect, WeightMasks):
        return suspect.hard_dict(), None
    if isinstance(suspect, nn.Module):
        masks = {name: (p.detach() != 0).cpu() for name, p in suspect.named_parameters()}
        prefixes = {id(module): f"{name}." if name else "" for name, module in suspect.named_modules()}
        owners = {id(m.__dict__[_OWNER]): m.__dict__[_OWNER] for m in suspect.modules() if _OWNER in m.__dict__}
        for owner in owners.values():
            prefix = prefixes.get(id(owner._model_ref[0]))
            for name, hard in owner.hard_dict().items():
                full = None if prefix is None else prefix + name
                if full in masks:  # masks attached to the suspect or to one of its submodules
                    masks[full] = hard & masks[full]
        return masks, None
    if isinstance(suspect, dict) and all(isinstance(v, Tensor) for v in suspect.values()):
        return {k: (v if v.dtype == torch.bool else v != 0).cpu() for k, v in suspect.items()}, None
    raise TypeError(f"cannot read masks from a {type(suspect).__name__}; pass a Ticket, a ticket path, "
                    "WeightMasks, a model or a dict of masks")


def verify_watermark(suspect: Any, key: WatermarkKey, *, graph: Data | None = None,
                     edge_mask: Tensor | None = None, alpha: float = DEFAULT_ALPHA) -> Verification:
    """White-box verification of ``key``'s signature in ``suspect`` (see :func:`suspect_masks`).

    The graph carrier is read when ``graph`` is given (with the suspect's ``edge_mask``, or the
    one of a suspect ticket) and skipped otherwise. ``alpha``: the verifier's significance level
    (the key holds none). A suspect lacking a carrier's weight, or
    with another shape, raises :class:`WatermarkError`: it never verifies.
    """
    masks, suspect_edges = suspect_masks(suspect)
    edge_mask = edge_mask if edge_mask is not None else suspect_edges
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    payload, assign, whiten, written = _pair_bits(key)
    firsts, seconds, keep_pairs, per_carrier, skipped, start = [], [], [], {}, [], 0
    for carrier in key.carriers:
        chunk = slice(start, start + carrier.pairs)
        start += carrier.pairs
        if carrier.is_graph:
            if graph is None:
                skipped.append(GRAPH)
                continue
            if edge_mask is None:
                raise WatermarkError("the key has a graph carrier but the suspect has no edge mask; pass edge_mask=")
            masked_graph = _graph_of(graph, carrier)
            masked_graph.set_edge_mask(edge_mask.cpu())
            cells = masked_graph.keep.cpu()[_graph_pairs(key, carrier, masked_graph)]
        else:
            if carrier.name not in masks:
                raise WatermarkError(f"the suspect has no weight {carrier.name!r} (a key for another architecture? "
                                     f"the key is for a {key.model_class})")
            mask = masks[carrier.name]
            if list(mask.shape) != carrier.shape:
                raise WatermarkError(f"the suspect's {carrier.name!r} has shape {list(mask.shape)}, the key's "
                                     f"{carrier.shape}")
            view = cell_positions(carrier.shape, carrier.view)
            cells = mask.reshape(-1)[view.reshape(-1, view.shape[-1])].any(-1)[key.weight_pairs(carrier)]
        firsts.append(cells[:, 0])
        seconds.append(cells[:, 1])
        keep_pairs.append(torch.arange(chunk.start, chunk.stop))
        informative = cells[:, 0] != cells[:, 1]
        agree = informative & (cells[:, 0].to(torch.uint8) == written[chunk])
        per_carrier[carrier.name] = {"informative": int(informative.sum()), "agree": int(agree.sum())}
    if not keep_pairs:
        raise WatermarkError(f"no carrier of the key could be read (skipped: {skipped}); pass graph=")
    index = torch.cat(keep_pairs)
    result = decode(torch.cat(firsts), torch.cat(seconds), written[index], assign[index], whiten[index],
                    payload.numel())
    log10_p = log10_binomial_tail(result["agree"], result["informative"])
    errors = int(((result["payload"] != payload) | ~result["decided"]).sum())
    return Verification(
        verified=log10_p < math.log10(alpha), p_value=10.0**log10_p, log10_p_value=log10_p,
        informative=result["informative"], agree=result["agree"], pairs=int(index.numel()),
        bit_error_rate=errors / payload.numel(), payload=bits_to_text(result["payload"]), alpha=alpha,
        carriers=per_carrier, skipped=skipped,
    )
