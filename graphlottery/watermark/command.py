"""``graphlottery watermark embed|verify``: watermark ticket files and check suspects."""
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
                                  graph_pairs=args.graph_pairs, alpha=args.alpha)
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
    report = {k: v for k, v in asdict(result).items() if k != "carriers"}
    print(json.dumps(report))
    for name, counts in result.carriers.items():
        print(f"  {name:<40} {counts['agree']:>5} of {counts['informative']:>5} informative pairs agree")
    if result.skipped:
        print(f"  not read: {', '.join(result.skipped)} ({note})")
    verdict = "VERIFIED" if result.verified else "not verified"
    print(f"{verdict}: p = {result.p_value:.3g} (log10 {result.log10_p_value:.1f}) at alpha = {result.alpha:g}")


def add_parser(sub) -> None:
    """The ``watermark`` subcommand with ``embed`` and ``verify``."""
    wm = sub.add_parser("watermark", help="embed a keyed signature into a ticket's masks, or verify one")
    actions = wm.add_subparsers(dest="action", required=True)
    embed = actions.add_parser("embed", help="write a signature into a ticket file")
    embed.add_argument("ticket", help="ticket file, e.g. runs/cora_gcn/seed_0/round_04.pt")
    embed.add_argument("--payload", required=True, help="the signature text, e.g. your name and a date")
    embed.add_argument("--seed", type=int, required=True, help="the key's secret seed")
    embed.add_argument("--key", required=True, help="where to write the secret key (JSON)")
    embed.add_argument("--out", required=True, help="where to write the watermarked ticket")
    embed.add_argument("--pairs", type=int, default=256, help="cell pairs per layer (capped per layer)")
    embed.add_argument("--layers", nargs="+", help="weights to write into (default: every mask large enough)")
    embed.add_argument("--graph-pairs", type=int, default=256, help="edge pairs in the graph mask")
    embed.add_argument("--weights-only", action="store_true", help="leave the graph mask alone")
    embed.add_argument("--alpha", type=float, default=1e-6, help="false-positive rate of a verification")
    embed.set_defaults(func=embed_command)
    verify = actions.add_parser("verify", help="look for a key's signature in a suspect ticket file")
    verify.add_argument("suspect", help="the suspect's ticket file, or a saved state_dict / dict of masks")
    verify.add_argument("--key", required=True, help="the owner's secret key")
    verify.add_argument("--alpha", type=float, help="false-positive rate (default: the key's)")
    verify.set_defaults(func=verify_command)
    for cmd in (embed, verify):
        cmd.add_argument("--dataset", help="the graph of the ticket's edge mask (default: from the ticket)")
        cmd.add_argument("--data-root", help="dataset root (default $GRAPHLOTTERY_DATA)")
