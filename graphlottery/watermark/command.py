"""``graphlottery watermark embed|verify``: watermark ticket files and check suspects (the arguments
are defined in :mod:`graphlottery.cli`)."""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphlottery.data import load_dataset
from graphlottery.graph import fingerprint
from graphlottery.lottery.ticket import Ticket, TicketError
from graphlottery.watermark.key import WatermarkError, WatermarkKey
from graphlottery.watermark.signature import embed_watermark, verify_watermark


def ticket_graph(ticket: Ticket, dataset: str | None, root: str | None) -> tuple[Data | None, str]:
    """The graph of a ticket's edge mask (``dataset``, default the ticket's config), or ``None``
    with the reason when it has none or the dataset's graph is another one (e.g. the
    message-passing graph of a link-prediction split)."""
    if ticket.edge_mask is None:
        return None, "the ticket has no graph mask"
    name = dataset or ticket.config.get("dataset")
    if name is None:
        return None, "the ticket names no dataset; pass --dataset"
    try:
        data = load_dataset(name, root)
    except (ValueError, FileNotFoundError) as err:
        return None, str(err)
    if fingerprint(data.edge_index, data.num_nodes) != ticket.graph_fingerprint:
        return None, f"the ticket's graph is not {name}'s full graph (another split or dataset)"
    return data, name


def embed_command(args: argparse.Namespace) -> None:
    ticket = Ticket.load(args.ticket)
    graph, note = ticket_graph(ticket, args.dataset, args.data_root) if not args.weights_only else (None, "")
    marked, key = embed_watermark(ticket, args.payload, args.seed, layers=args.layers, pairs=args.pairs, graph=graph,
                                  graph_pairs=args.graph_pairs)
    marked.save(args.out)
    key.save(args.key)
    print(f"watermarked ticket: {args.out}; secret key: {args.key} (keep it apart from the ticket)")
    for carrier in key.carriers:
        print(f"  {carrier.name:<40} {carrier.view:<10} {carrier.pairs:>5} pairs")
    if graph is None and not args.weights_only:
        print(f"  graph mask not used: {note}")
    print("retrain or fine-tune the watermarked ticket before you release it")


def read_suspect(path: str) -> Ticket | dict[str, Tensor]:
    """A ticket file, or any ``torch.save``d dict of tensors (a state_dict whose pruned weights are
    zero, or a dict of boolean masks), read with ``weights_only`` loading."""
    try:
        return Ticket.load(path)
    except TicketError as err:
        if "is not a graphlottery ticket" not in str(err):
            raise
    state = torch.load(path, map_location="cpu", weights_only=True)  # readable: Ticket.load read it
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise WatermarkError(f"{path!r} is neither a ticket nor a dict of tensors (a state_dict or masks)")
    return state


def verify_command(args: argparse.Namespace) -> None:
    key = WatermarkKey.load(args.key)
    suspect = read_suspect(args.suspect)
    graph, note = None, "the suspect is not a ticket" if not isinstance(suspect, Ticket) else ""
    if isinstance(suspect, Ticket) and any(c.is_graph for c in key.carriers):
        graph, note = ticket_graph(suspect, args.dataset, args.data_root)
    result = verify_watermark(suspect, key, graph=graph, alpha=args.alpha)
    hidden = {"carriers"} if result.verified else {"carriers", "payload", "bit_error_rate"}  # no payload unproven
    report = {k: v for k, v in asdict(result).items() if k not in hidden}
    print(json.dumps(report))
    for name, counts in result.carriers.items():
        print(f"  {name:<40} {counts['agree']:>5} of {counts['informative']:>5} informative pairs agree")
    if result.skipped:
        print(f"  not read: {', '.join(result.skipped)} ({note})")
    verdict = "VERIFIED" if result.verified else "not verified"
    print(f"{verdict}: p = {result.p_value:.3g} (log10 {result.log10_p_value:.1f}) at alpha = {result.alpha:g}")
