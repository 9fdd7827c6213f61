"""A lottery ticket on disk: masks, the weights to rewind to, the seed and the config.

Files are written with ``torch.save`` of plain tensors, strings and numbers, and read with
``torch.load(..., weights_only=True)``, so loading a ticket never runs pickled code.
"""
from __future__ import annotations

import os
import pickle
import struct
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from graphlottery.graph import MaskedGraph
from graphlottery.masks.weight import WeightMasks

FORMAT = "graphlottery-ticket"
VERSION = 1


class TicketError(ValueError):
    """A ticket file that cannot be read, or a ticket that does not fit a model or graph."""


@dataclass
class Ticket:
    """Masks plus rewind weights.

    Attributes:
        model_class: class name of the model the ticket was drawn from.
        rewind: the model's ``state_dict`` to rewind to (the initialisation, or epoch k).
        weight_masks: ``{parameter name: bool mask}``.
        edge_mask: bool ``[E]`` over the columns of the graph's ``edge_index`` (or ``None``).
        graph_fingerprint: hash of the graph's ``edge_index`` (see :func:`graphlottery.graph.fingerprint`).
        directed: whether edges were pruned per direction.
    """

    model_class: str
    rewind: dict[str, Tensor]
    weight_masks: dict[str, Tensor]
    edge_mask: Tensor | None = None
    graph_fingerprint: str | None = None
    directed: bool = False
    seed: int = 0
    round: int = 0
    config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def capture(
        cls,
        model: nn.Module,
        masks: WeightMasks,
        rewind: dict[str, Tensor],
        graph: MaskedGraph | None = None,
        **meta: Any,
    ) -> Ticket:
        """Snapshot the current masks of ``model`` / ``graph`` with the given rewind weights."""
        return cls(
            model_class=type(model).__name__,
            rewind={k: v.detach().cpu().clone() for k, v in rewind.items()},
            weight_masks=masks.hard_dict(),
            edge_mask=None if graph is None else graph.edge_mask().cpu(),
            graph_fingerprint=None if graph is None else graph.fingerprint,
            directed=False if graph is None else graph.directed,
            **meta,
        )

    # --- disk ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically (a temporary file renamed into place)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save({"format": FORMAT, "version": VERSION, **asdict(self)}, tmp)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Ticket:
        """Read a ticket with safe loading; a corrupt or foreign file raises :class:`TicketError`."""
        path = Path(path)
        if not path.is_file():
            raise TicketError(f"ticket file {str(path)!r} does not exist")
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, OSError, struct.error) as err:
            raise TicketError(f"{str(path)!r} is not a readable ticket file ({type(err).__name__}: {err})") from err
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise TicketError(f"{str(path)!r} is not a graphlottery ticket")
        if raw.get("version") != VERSION:
            raise TicketError(f"{str(path)!r} has ticket version {raw.get('version')}, this library reads {VERSION}")
        fields = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        missing = [k for k in ("model_class", "rewind", "weight_masks") if k not in fields]
        if missing:
            raise TicketError(f"{str(path)!r} lacks {', '.join(missing)}")
        for key in ("rewind", "weight_masks"):
            value = fields[key]
            if not isinstance(value, dict) or not all(isinstance(v, Tensor) for v in value.values()):
                raise TicketError(f"{str(path)!r}: {key} must map names to tensors")
        masks = [*fields["weight_masks"].values(), fields.get("edge_mask")]
        if not all(m is None or (isinstance(m, Tensor) and m.dtype == torch.bool) for m in masks):
            raise TicketError(f"{str(path)!r}: masks must be boolean tensors")
        return cls(**fields)

    # --- applying -----------------------------------------------------------------------
    def check(self, model: nn.Module, graph: MaskedGraph | None = None, masks: WeightMasks | None = None) -> None:
        """Raise :class:`TicketError` unless this ticket fits ``model`` (and ``graph``, ``masks``);
        :meth:`apply` changes nothing when this raises."""
        if type(model).__name__ != self.model_class:
            raise TicketError(f"ticket is for a {self.model_class}, not a {type(model).__name__}")
        state = model.state_dict()
        if set(state) != set(self.rewind):
            diff = sorted(set(state) ^ set(self.rewind))[:5]
            raise TicketError(f"ticket weights do not match the model's parameters (differ in {diff})")
        for name, value in self.rewind.items():
            if tuple(state[name].shape) != tuple(value.shape):
                raise TicketError(
                    f"ticket weight {name!r} has shape {tuple(value.shape)}, the model {tuple(state[name].shape)}"
                )
        params = dict(model.named_parameters())
        for name, mask in self.weight_masks.items():
            if name not in params or tuple(params[name].shape) != tuple(mask.shape):
                raise TicketError(f"ticket mask {name!r} does not fit the model")
        if masks is not None and set(masks.names) != set(self.weight_masks):
            raise TicketError(
                f"ticket masks {sorted(self.weight_masks)} differ from the masked weights {sorted(masks.names)}"
            )
        if graph is not None and self.edge_mask is not None:
            if graph.directed != self.directed:
                kind = "per direction" if self.directed else "per undirected edge"
                raise TicketError(
                    f"ticket edges were pruned {kind}; build the MaskedGraph with directed={self.directed}"
                )
            if self.graph_fingerprint != graph.fingerprint or self.edge_mask.numel() != graph.edge_unit.numel():
                raise TicketError(
                    f"ticket edge mask is for another graph ({self.edge_mask.numel()} edges, "
                    f"fingerprint {self.graph_fingerprint}) than this one ({graph.edge_unit.numel()} edges, "
                    f"fingerprint {graph.fingerprint})"
                )

    def apply(self, model: nn.Module, masks: WeightMasks, graph: MaskedGraph | None = None) -> None:
        """Rewind ``model``, set the hard weight masks and, if given, the graph's edge mask."""
        self.check(model, graph, masks)
        model.load_state_dict(self.rewind)
        masks.set_hard(self.weight_masks)
        if graph is not None and self.edge_mask is not None:
            graph.set_edge_mask(self.edge_mask)
