"""Using a saved ticket: its pruned graph as a PyG transform, its weight masks on a model."""
from __future__ import annotations

import os

from torch import nn
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from graphlottery.graph import MaskedGraph
from graphlottery.lottery.ticket import Ticket, TicketError
from graphlottery.masks import WeightMasks


class ApplyTicket(BaseTransform):
    """Drop the edges a ticket pruned: ``data = ApplyTicket(ticket)(data)``.

    The graph must be the one the ticket was drawn on (its ``edge_index`` fingerprint is checked,
    so another graph or the same edges in another order is a :class:`TicketError`). Every
    edge-level attribute (``edge_attr``, ``edge_weight``, ...) is sliced with ``edge_index``;
    node-level ones are kept. The result is the compacted graph, on which the pruned edges cost
    nothing. Args: ``ticket``: a :class:`Ticket` or the path of a saved one.
    """

    def __init__(self, ticket: Ticket | str | os.PathLike):
        self.ticket = ticket if isinstance(ticket, Ticket) else Ticket.load(ticket)
        if self.ticket.edge_mask is None:
            raise TicketError("this ticket holds no edge mask (its graph was not pruned)")

    def forward(self, data: Data) -> Data:
        graph = MaskedGraph(data, directed=self.ticket.directed)
        if graph.fingerprint != self.ticket.graph_fingerprint:
            raise TicketError(f"the ticket's edge mask is for another graph ({self.ticket.edge_mask.numel()} edges, "
                              f"fingerprint {self.ticket.graph_fingerprint}) than this one "
                              f"({data.edge_index.size(1)} edges, fingerprint {graph.fingerprint})")
        graph.set_edge_mask(self.ticket.edge_mask)
        return graph.compact()

    def __repr__(self) -> str:
        kept = int(self.ticket.edge_mask.sum())
        return f"{type(self).__name__}({self.ticket.model_class}, round {self.ticket.round}, {kept} edges kept)"


def attach_ticket(model: nn.Module, ticket: Ticket | str | os.PathLike, rewind: bool = True) -> WeightMasks:
    """Put a ticket's weight masks on ``model`` (attached, hard) and, with ``rewind``, load its
    rewind weights; returns the masks (``masks.detach()`` removes them). The model must be of the
    ticket's class and shapes (:meth:`Ticket.check`)."""
    ticket = ticket if isinstance(ticket, Ticket) else Ticket.load(ticket)
    ticket.check(model)
    WeightMasks.detach_all(model)
    masks = WeightMasks(model, list(ticket.weight_masks)).set_hard(ticket.weight_masks)
    if rewind:
        model.load_state_dict(ticket.rewind)
    return masks.attach()
