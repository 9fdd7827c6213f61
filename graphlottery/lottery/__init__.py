"""Lottery-ticket search: UGS rounds (full batch, mini-batch, several processes), the GLT
driver and tickets on disk."""
from graphlottery.lottery.apply import ApplyTicket, attach_ticket
from graphlottery.lottery.distributed import DistributedUGS, init_distributed
from graphlottery.lottery.glt import build_model, run_glt
from graphlottery.lottery.minibatch import MiniBatchUGS
from graphlottery.lottery.pieces import (
    graph_keep,
    l1_step,
    prune_graph,
    prune_weights,
    rewind,
    rewind_point,
    soft_masks,
)
from graphlottery.lottery.ticket import Ticket, TicketError
from graphlottery.lottery.ugs import UGS

__all__ = [
    "ApplyTicket",
    "DistributedUGS",
    "MiniBatchUGS",
    "Ticket",
    "TicketError",
    "UGS",
    "attach_ticket",
    "build_model",
    "graph_keep",
    "init_distributed",
    "l1_step",
    "prune_graph",
    "prune_weights",
    "rewind",
    "rewind_point",
    "run_glt",
    "soft_masks",
]
