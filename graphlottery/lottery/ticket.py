"""A lottery ticket on disk: masks, the weights to rewind to, the seed and the config.

Files are written with ``torch.save`` of plain tensors, strings and numbers, and read with
``torch.load(..., weights_only=True)``, so loading a ticket never runs pickled code. Each file
holds a SHA-256 checksum of its content (every tensor's bytes, dtype and shape, and the other
fields), verified on load, so a damaged file is refused instead of resuming from wrong weights.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import struct
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from graphlottery.files import atomic_write
from graphlottery.graph import MaskedGraph
from graphlottery.masks.weight import WeightMasks

FORMAT = "graphlottery-ticket"
VERSION = 2  # 2: with a checksum; version 1 files (no checksum) are still read
WEIGHTS = "graphlottery-weights"


class TicketError(ValueError):
    """A ticket file that cannot be read, or a ticket that does not fit a model or graph."""


def checksum(value: Any) -> str:
    """SHA-256 of ``value``: nested dicts / lists of tensors, strings, numbers, booleans and ``None``
    (tensors by dtype, shape and bytes; dict keys in sorted order)."""
    digest = hashlib.sha256()

    def feed(item: Any) -> None:
        if isinstance(item, Tensor):
            flat = item.detach().cpu().contiguous().reshape(-1)
            digest.update(f"T{item.dtype}{tuple(item.shape)}".encode())
            digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
        elif isinstance(item, dict):
            digest.update(f"D{len(item)}".encode())
            for key in sorted(item, key=str):
                feed(str(key))
                feed(item[key])
        elif isinstance(item, (list, tuple)):
            digest.update(f"L{len(item)}".encode())
            for entry in item:
                feed(entry)
        else:
            digest.update(("J" + json.dumps(item)).encode())

    feed(value)
    return digest.hexdigest()


def _read(path: Path, what: str) -> Any:
    """``torch.load(path, weights_only=True)``; any failure a :class:`TicketError` naming ``path``."""
    if not path.is_file():
        raise TicketError(f"{what} file {str(path)!r} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, OSError, struct.error,
            ValueError, UnicodeDecodeError) as err:
        raise TicketError(f"{str(path)!r} is not a readable {what} file ({type(err).__name__}: "
                          f"{str(err).splitlines()[0] if str(err) else ''})") from None


def save_weights(state: dict[str, Tensor], path: str | os.PathLike) -> Path:
    """Write a ``state_dict`` (on CPU) with its checksum, atomically and durably."""
    tensors = {k: v.detach().cpu() for k, v in state.items()}
    blob = {"format": WEIGHTS, "state_dict": tensors, "checksum": checksum(tensors)}
    return atomic_write(path, lambda f: torch.save(blob, f))


def load_weights(path: str | os.PathLike) -> dict[str, Tensor]:
    """Read :func:`save_weights`' file (safe loading, checksum verified; a plain ``state_dict`` from
    before checksums is accepted); a damaged file raises :class:`TicketError` naming it."""
    path = Path(path)
    raw = _read(path, "weights")
    if isinstance(raw, dict) and raw.get("format") == WEIGHTS:
        state = raw.get("state_dict")
        if not isinstance(state, dict) or raw.get("checksum") != checksum(state):
            raise TicketError(f"{str(path)!r} is damaged: its checksum does not match its content")
        raw = state
    if not isinstance(raw, dict) or not all(isinstance(v, Tensor) for v in raw.values()):
        raise TicketError(f"{str(path)!r} is not a weights file (a dict of tensors)")
    return raw


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
        """Write with a checksum, atomically and durably (see :func:`~graphlottery.files.atomic_write`)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fields = asdict(self)
        blob = {"format": FORMAT, "version": VERSION, **fields, "checksum": checksum(fields)}
        return atomic_write(path, lambda f: torch.save(blob, f))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Ticket:
        """Read a ticket with safe loading and verify its checksum; a damaged or foreign file raises
        :class:`TicketError` naming it."""
        path = Path(path)
        raw = _read(path, "ticket")
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise TicketError(f"{str(path)!r} is not a graphlottery ticket")
        if raw.get("version") not in (1, VERSION):
            raise TicketError(f"{str(path)!r} has ticket version {raw.get('version')}, this library reads {VERSION}")
        fields = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        if raw["version"] >= 2 and raw.get("checksum") != checksum(fields):
            raise TicketError(f"{str(path)!r} is damaged: its checksum does not match its content")
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
