"""The secret key of a watermark: where the signature lives and what it says.

Cell positions are never stored: they are drawn from ``seed`` and each carrier's name, so a
key cannot be fitted to a mask after the fact except by trying seeds, and a forged key needs
about ``1 / p`` tries to reach a p-value ``p``. Keys are small JSON files, kept apart from the
ticket.
"""
from __future__ import annotations

import json
import os
import zlib
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor

from graphlottery.watermark.view import cell_positions, subgraph_units

FORMAT = "graphlottery-watermark-key"
VERSION = 1
GRAPH = "graph"  # the carrier name of the graph mask


class WatermarkError(ValueError):
    """A key that does not fit a model, mask or graph, or a key file that cannot be read."""


@dataclass
class Carrier:
    """One mask holding part of the signature.

    Attributes:
        name: the weight's qualified name, or ``"graph"`` for the graph mask.
        view: connectivity view of a weight (see :mod:`~graphlottery.watermark.view`); ``"graph"``.
        shape: the weight's shape; ``[num_units]`` for the graph mask.
        pairs: cell pairs written into it.
        node_fraction: graph mask only: share of the nodes in the keyed subset.
        fingerprint: graph mask only: the graph's fingerprint.
        directed: graph mask only: edges pruned per direction.
    """

    name: str
    view: str
    shape: list[int]
    pairs: int
    node_fraction: float = 0.0
    fingerprint: str | None = None
    directed: bool = False

    @property
    def is_graph(self) -> bool:
        return self.name == GRAPH


def _generator(seed: int, tag: str) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + zlib.crc32(tag.encode())) % (2**63 - 1))


@lru_cache(maxsize=64)
def _weight_pairs(seed: int, name: str, view: str, shape: tuple[int, ...], pairs: int) -> Tensor:
    positions = cell_positions(shape, view)
    cells = positions.shape[0] * positions.shape[1]
    if 2 * pairs > cells:
        raise WatermarkError(f"the window of {pairs} pairs ({2 * pairs} cells) is larger than {name!r}, whose "
                             f"{view!r} view has {cells} cells")
    return torch.randperm(cells, generator=_generator(seed, name))[: 2 * pairs].view(-1, 2)


@dataclass
class WatermarkKey:
    """Payload bits, seed, carriers and the verdict threshold ``alpha`` (the false-positive rate
    a verification accepts)."""

    model_class: str
    payload: list[int]
    seed: int
    carriers: list[Carrier]
    alpha: float = 1e-6
    payload_text: str | None = field(default=None)

    @property
    def num_pairs(self) -> int:
        return sum(c.pairs for c in self.carriers)

    def generator(self, tag: str) -> torch.Generator:
        """A generator seeded from the key's seed and ``tag`` (a carrier name, ``"code"``, ...)."""
        return _generator(self.seed, tag)

    def carrier(self, name: str) -> Carrier:
        for c in self.carriers:
            if c.name == name:
                return c
        raise WatermarkError(f"the key has no carrier {name!r}")

    # --- positions ------------------------------------------------------------------------
    def weight_pairs(self, carrier: Carrier) -> Tensor:
        """Keyed cell pairs of a weight carrier: flat cell ids of its view, ``[pairs, 2]``."""
        return _weight_pairs(self.seed, carrier.name, carrier.view, tuple(carrier.shape), carrier.pairs)

    def graph_pairs(self, carrier: Carrier, edge_index: Tensor, edge_unit: Tensor, num_units: int,
                    num_nodes: int) -> Tensor:
        """Keyed unit pairs of the graph carrier: edges inside a keyed node subset, ``[pairs, 2]``."""
        generator = self.generator(carrier.name)
        nodes = torch.randperm(num_nodes, generator=generator)[: round(carrier.node_fraction * num_nodes)]
        units = subgraph_units(edge_index, edge_unit, num_units, nodes, num_nodes)
        if 2 * carrier.pairs > units.numel():
            raise WatermarkError(f"the graph window of {carrier.pairs} pairs needs {2 * carrier.pairs} edges, the "
                                 f"keyed {carrier.node_fraction:.0%} of the nodes span only {units.numel()}; "
                                 "lower graph_pairs or raise node_fraction")
        return units[torch.randperm(units.numel(), generator=generator)[: 2 * carrier.pairs]].view(-1, 2)

    # --- disk -----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"format": FORMAT, "version": VERSION, **asdict(self)}, indent=1))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> WatermarkKey:
        """Read a key file; anything malformed raises :class:`WatermarkError`."""
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise WatermarkError(f"key file {str(path)!r} does not exist") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise WatermarkError(f"{str(path)!r} is not a watermark key ({err})") from err
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise WatermarkError(f"{str(path)!r} is not a graphlottery watermark key")
        if raw.get("version") != VERSION:
            raise WatermarkError(f"{str(path)!r} has key version {raw.get('version')}, this library reads {VERSION}")
        try:
            carriers = [Carrier(**c) for c in raw["carriers"]]
            key = cls(model_class=str(raw["model_class"]), payload=[int(b) for b in raw["payload"]],
                      seed=int(raw["seed"]), carriers=carriers, alpha=float(raw["alpha"]),
                      payload_text=raw.get("payload_text"))
        except (KeyError, TypeError, ValueError) as err:
            raise WatermarkError(f"{str(path)!r} is a damaged watermark key ({type(err).__name__}: {err})") from err
        if not key.carriers or not key.payload or set(key.payload) - {0, 1} or not 0.0 < key.alpha < 1.0:
            raise WatermarkError(f"{str(path)!r} is a damaged watermark key (no carriers, a non-binary payload or "
                                 "alpha outside (0, 1))")
        return key
