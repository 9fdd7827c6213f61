"""The secret key of a watermark: where the signature lives and what it says.

Cell positions are never stored: they are drawn from ``seed`` and each carrier's name, so a
key cannot be fitted to a mask after the fact except by trying seeds, and a forged key needs
about ``1 / p`` tries to reach a p-value ``p``. Keys are small JSON files, kept apart from the
ticket.
"""
from __future__ import annotations

import json
import os
import re
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
MAX_BITS = 8 * 1024  # payload bits a key may hold (1 KiB of text)
MAX_CELLS = 2**26  # cells (weights, or graph units) a carrier may span
MAX_PAIRS = 2**24  # pairs a key may hold in all (the code is one small tensor per pair)
VIEW = re.compile(r"auto|entries|heads_(out|in):[1-9][0-9]{0,5}")
MAX_SEED = 2**63 - 1


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
    """Payload bits, seed and carriers. The significance level of a verdict is the verifier's
    (:func:`~graphlottery.watermark.verify_watermark`'s ``alpha``), never the key's: whoever
    holds a key file could otherwise raise it until anything verifies."""

    model_class: str
    payload: list[int]
    seed: int
    carriers: list[Carrier]
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
            key = cls(model_class=raw["model_class"], payload=raw["payload"], seed=raw["seed"],
                      carriers=[Carrier(**c) for c in raw["carriers"]], payload_text=raw.get("payload_text"))
        except (KeyError, TypeError, ValueError) as err:
            raise WatermarkError(f"{str(path)!r} is a damaged watermark key ({type(err).__name__}: {err})") from None
        problem = key.problem()
        if problem:
            raise WatermarkError(f"{str(path)!r} is a damaged watermark key: {problem}")
        return key

    def problem(self) -> str | None:
        """What makes this key unusable (a wrong type or a value out of bounds), or ``None``."""

        def whole(v: object, low: int, high: int) -> bool:
            return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high

        if not isinstance(self.model_class, str) or not (self.payload_text is None or isinstance(self.payload_text,
                                                                                                    str)):
            return "model_class and payload_text must be text"
        if not isinstance(self.payload, list) or not 0 < len(self.payload) <= MAX_BITS or \
                not all(whole(b, 0, 1) for b in self.payload):
            return f"payload must be 1 to {MAX_BITS} bits (0 or 1)"
        if not whole(self.seed, 0, MAX_SEED):
            return "seed must be an integer in [0, 2^63)"
        if not isinstance(self.carriers, list) or not self.carriers:
            return "it has no carriers"
        for c in self.carriers:
            if not (isinstance(c.name, str) and isinstance(c.view, str) and isinstance(c.directed, bool)
                    and (c.fingerprint is None or isinstance(c.fingerprint, str))):
                return f"carrier {c.name!r}: name, view and fingerprint must be text, directed true or false"
            if not (c.view == GRAPH if c.is_graph else VIEW.fullmatch(c.view)):
                return f"carrier {c.name!r}: unknown view {c.view!r}"
            if not isinstance(c.shape, list) or not c.shape or not all(whole(d, 1, MAX_CELLS) for d in c.shape):
                return f"carrier {c.name!r}: shape must list positive sizes"
            cells = 1
            for d in c.shape:
                cells *= d
            if cells > MAX_CELLS:
                return f"carrier {c.name!r}: shape must list positive sizes of at most {MAX_CELLS} cells in all"
            if not whole(c.pairs, 1, cells // 2):
                return f"carrier {c.name!r}: pairs must be in [1, {cells // 2}] (half its {cells} cells)"
            if not isinstance(c.node_fraction, (int, float)) or not 0.0 <= c.node_fraction <= 1.0 or \
                    (c.is_graph and c.node_fraction == 0):
                return f"carrier {c.name!r}: node_fraction must be in [0, 1] (graph: above 0)"
        if self.num_pairs > MAX_PAIRS:
            return f"{self.num_pairs} pairs in all, more than {MAX_PAIRS}"
        if self.num_pairs < len(self.payload):
            return f"{self.num_pairs} pairs cannot carry {len(self.payload)} payload bits"
        return None
