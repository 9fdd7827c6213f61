"""Lottery-ticket search: UGS rounds (full batch, mini-batch, several processes), the GLT
driver and tickets on disk."""
from graphlottery.lottery.distributed import DistributedUGS, init_distributed
from graphlottery.lottery.glt import build_model, run_glt
from graphlottery.lottery.minibatch import MiniBatchUGS
from graphlottery.lottery.ticket import Ticket, TicketError
from graphlottery.lottery.ugs import UGS

__all__ = ["DistributedUGS", "MiniBatchUGS", "Ticket", "TicketError", "UGS", "build_model", "init_distributed",
           "run_glt"]
