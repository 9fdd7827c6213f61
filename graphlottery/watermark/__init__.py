"""Ticket watermarks: a keyed signature in a ticket's mask topology, verified white-box from
the masks or black-box from a trigger set."""
from graphlottery.watermark.attacks import fine_tune, prune_further, randomise, regrow_random
from graphlottery.watermark.key import Carrier, WatermarkError, WatermarkKey
from graphlottery.watermark.signature import Verification, embed_watermark, suspect_masks, verify_watermark
from graphlottery.watermark.trigger import (
    TriggerSet,
    TriggerTask,
    TriggerVerification,
    add_trigger_nodes,
    input_triggers,
    verify_triggers,
)
from graphlottery.watermark.view import cell_positions, connectivity, subgraph_units

__all__ = [
    "Carrier",
    "TriggerSet",
    "TriggerTask",
    "TriggerVerification",
    "Verification",
    "WatermarkError",
    "WatermarkKey",
    "cell_positions",
    "connectivity",
    "embed_watermark",
    "fine_tune",
    "add_trigger_nodes",
    "input_triggers",
    "prune_further",
    "randomise",
    "regrow_random",
    "subgraph_units",
    "suspect_masks",
    "verify_triggers",
    "verify_watermark",
]
