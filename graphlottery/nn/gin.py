"""Graph isomorphism layer with masked sum (or mean) aggregation over kept edges."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

from graphlottery.nn.base import MessagePassingStack, explained_weight, glorot_linear, sorted_weight
from graphlottery.sparse import Adjacency, as_adjacency


class GINConv(MessagePassing):
    """:math:`x'_i = W\\big((1+\\epsilon) x_i + \\mathrm{AGG}_{j \\to i}\\, m_{ji} x_j\\big) + b`.

    ``AGG`` is a sum (default), or a mean whose denominator counts only kept edges
    (:math:`m_{ji} \\neq 0`), so a pruned edge contributes nothing anywhere. The one-layer
    MLP is applied before aggregating, which is exact by linearity and lets sparse
    features be multiplied once. ``[N, in] -> [N, out]``.
    """

    takes_edge_mask = True  # an edge mask reaches it as edge_weight (graphlottery.edge_hooks)

    def __init__(self, in_channels: int, out_channels: int, aggr: str = "sum", train_eps: bool = True):
        super().__init__(aggr=None)  # a MessagePassing for PyG's Explainer; propagation is its own
        if aggr not in ("sum", "mean"):
            raise ValueError(f"GINConv aggr must be 'sum' or 'mean', got {aggr!r}")
        self.aggr = aggr
        self.lin = glorot_linear(in_channels, out_channels)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.eps = nn.Parameter(torch.zeros(1), requires_grad=train_eps)
        self.propagation_width = out_channels

    def forward(self, x: Tensor, edge_index: Tensor | Adjacency, edge_weight: Tensor | None = None) -> Tensor:
        adj = as_adjacency(edge_index, x.size(0))
        z = self.lin(x)
        w = sorted_weight(adj, edge_weight, z)
        agg = adj.matmul(w, z)
        if self.aggr == "mean":
            agg = agg / adj.sum_by_target((w != 0).to(z.dtype)).clamp_min(1.0).unsqueeze(-1)
        return (1.0 + self.eps) * z + agg + self.bias


class GIN(MessagePassingStack):
    """``num_layers`` GIN layers with ReLU and dropout between them."""

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        num_layers: int,
        out_channels: int,
        dropout: float = 0.5,
        input_dropout: float = 0.0,
        aggr: str = "sum",
    ):
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        convs = [GINConv(a, b, aggr) for a, b in zip(dims[:-1], dims[1:])]
        super().__init__(convs, dropout, input_dropout)


class GINEncoder(nn.Module):
    """Graph-level GIN encoder (GraphCL / InfoGraph): per layer

    .. math::
        h^{(l+1)} = \\mathrm{BN}\\big(\\mathrm{ReLU}(\\mathrm{MLP}((1+\\epsilon) h^{(l)}_i
        + \\textstyle\\sum_{j \\to i} m_{ji} h^{(l)}_j))\\big),
        \\quad \\mathrm{MLP} = \\mathrm{Linear} \\to \\mathrm{ReLU} \\to \\mathrm{Linear},

    and the graph embedding is the concatenation over layers of each layer's sum (or mean)
    pool, ``[num_graphs, num_layers * hidden]``. ``m`` is the edge mask (``edge_weight``, ``[E]``).
    The MLP's first Linear is the :class:`GINConv`'s own (applied before aggregating).
    """

    takes_edge_mask = True  # an edge mask reaches it as edge_weight (graphlottery.edge_hooks)

    def __init__(self, in_channels: int, hidden_channels: int = 32, num_layers: int = 3, pool: str = "sum"):
        super().__init__()
        if pool not in ("sum", "mean"):
            raise ValueError(f"pool must be 'sum' or 'mean', got {pool!r}")
        if in_channels < 1:
            raise ValueError("GINEncoder needs node features (in_channels >= 1); give featureless graphs some, "
                             "e.g. load_tu(name, featureless='constant')")
        self.pool = pool
        dims = [in_channels] + [hidden_channels] * num_layers
        self.convs = nn.ModuleList(GINConv(a, b, train_eps=False) for a, b in zip(dims[:-1], dims[1:]))
        self.lins = nn.ModuleList(nn.Linear(hidden_channels, hidden_channels) for _ in range(num_layers))
        self.norms = nn.ModuleList(nn.BatchNorm1d(hidden_channels) for _ in range(num_layers))
        for lin in self.lins:
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)
        self.out_channels = hidden_channels * num_layers

    def node_embeddings(self, x: Tensor, edge_index: Tensor | Adjacency, edge_weight: Tensor | None = None) -> Tensor:
        """Every layer's node embeddings, concatenated: ``[N, out_channels]``."""
        adj = as_adjacency(edge_index, x.size(0))
        edge_weight = explained_weight(self.convs, edge_weight, adj.num_edges)
        layers = []
        for conv, lin, norm in zip(self.convs, self.lins, self.norms):
            x = norm(torch.relu(lin(torch.relu(conv(x, adj, edge_weight)))))
            layers.append(x)
        return torch.cat(layers, dim=-1)

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        batch: Tensor | None = None,
        edge_weight: Tensor | None = None,
        num_graphs: int | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Graph embeddings ``[num_graphs, out_channels]`` and node embeddings ``[N, out_channels]``."""
        from torch_geometric.utils import scatter

        if batch is None:
            batch = x.new_zeros(x.size(0), dtype=torch.long)
        if num_graphs is None:
            num_graphs = int(batch.max()) + 1 if batch.numel() else 0
        nodes = self.node_embeddings(x, edge_index, edge_weight)
        return scatter(nodes, batch, dim=0, dim_size=num_graphs, reduce=self.pool), nodes


class GINClassifier(GINEncoder):
    """:class:`GINEncoder` for supervised graph classification on a graph union (the GLT driver's
    ``task: graph`` with ``model: gin``): ``forward(x, edge_index, edge_weight)`` returns the node
    embeddings ``[N, num_layers * hidden]``, and ``readout`` (dropout, then a Linear to
    ``out_channels`` classes) maps each graph's pooled embedding to logits. The task pools and
    applies it (``GraphClassification(..., readout=model.readout)``); as a submodule it is
    trained, masked, rewound and saved with the encoder.
    """

    def __init__(self, in_channels: int, hidden_channels: int, num_layers: int, out_channels: int,
                 dropout: float = 0.5, pool: str = "sum"):
        super().__init__(in_channels, hidden_channels, num_layers, pool)
        self.readout = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.out_channels, out_channels))
        self.propagation_widths = [hidden_channels] * num_layers

    def forward(self, x: Tensor, edge_index: Tensor | Adjacency, edge_weight: Tensor | None = None) -> Tensor:
        return self.node_embeddings(x, edge_index, edge_weight)
