"""Lottery-ticket search: UGS rounds, the GLT driver and tickets on disk."""
from graphlottery.lottery.glt import build_model, run_glt
from graphlottery.lottery.ticket import Ticket, TicketError
from graphlottery.lottery.ugs import UGS

__all__ = ["Ticket", "TicketError", "UGS", "build_model", "run_glt"]
