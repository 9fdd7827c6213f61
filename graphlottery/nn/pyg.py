"""PyG's own ``BasicGNN`` models by name (``model: pyg.GAT`` in a config)."""
from __future__ import annotations

from torch import nn

PYG_MODELS = ("pyg.GAT", "pyg.GCN", "pyg.GIN", "pyg.GraphSAGE")
DEFAULT_DROPOUT = {"pyg.GAT": 0.6}  # else 0.5, as this library's models


def pyg_model(name: str, in_channels: int, hidden_channels: int, num_layers: int, out_channels: int,
              dropout: float | None = None, heads: int = 8) -> nn.Module:
    """``torch_geometric.nn.models.<name>`` with dropout on hidden features (default 0.6 for GAT,
    else 0.5). ``pyg.GAT`` takes ``hidden_channels`` per head, as this library's
    :class:`~graphlottery.nn.GAT` does (PyG's own argument is the concatenated width), and
    averages its ``heads`` heads in the output layer, where this library's GAT has one head."""
    from torch_geometric.nn import models

    if name not in PYG_MODELS:
        raise ValueError(f"unknown PyG model {name!r}; available: {list(PYG_MODELS)}")
    cls = getattr(models, name.removeprefix("pyg."))
    dropout = DEFAULT_DROPOUT.get(name, 0.5) if dropout is None else dropout
    if name == "pyg.GAT":
        return cls(in_channels, hidden_channels * heads, num_layers, out_channels, dropout=dropout, heads=heads)
    return cls(in_channels, hidden_channels, num_layers, out_channels, dropout=dropout)
