"""The Cold Brew teacher: a GCN with a learnable structural embedding per node."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from graphlottery.nn.base import dropout, feature_dropout
from graphlottery.nn.gcn import GCN, GCNNorm
from graphlottery.sparse import Adjacency, as_adjacency


class StructuralEmbeddingGCN(nn.Module):
    """A :class:`~graphlottery.nn.GCN` whose chosen layers add a node-specific embedding
    :math:`E^{(l)} \\in \\mathbb{R}^{N \\times d_l}` after the linear map, before aggregation:

    .. math::
        X^{(l+1)} = \\sigma\\big(\\hat A (X^{(l)} W^{(l)} + E^{(l)}) + b^{(l)}\\big).

    ``gnn`` keeps its own parameters and module names, so a GCN ticket's weight masks apply to
    ``teacher.gnn`` unchanged. The embeddings are transductive: inputs must have exactly
    ``num_nodes`` rows. :meth:`regulariser` is :math:`\\sum_l \\|E^{(l)}\\|_F^2` (``squared=False``:
    the released code's unsquared norm).

    Args:
        gnn: the GCN to extend.
        num_nodes: ``N``.
        se_layers: indices of the layers that get an embedding (the paper's ``"100"`` is ``(0,)``).
        init_std: standard deviation of the embeddings' normal initialisation.
    """

    takes_edge_mask = True  # an edge mask reaches it as edge_weight (graphlottery.edge_hooks)

    def __init__(self, gnn: GCN, num_nodes: int, se_layers: Sequence[int] = (0,), init_std: float = 0.1):
        super().__init__()
        if not isinstance(gnn, GCN):
            raise TypeError(f"the structural-embedding teacher extends a graphlottery GCN, got {type(gnn).__name__}")
        bad = [i for i in se_layers if not 0 <= i < len(gnn.convs)]
        if bad:
            raise ValueError(f"se_layers {bad} out of range for a {len(gnn.convs)}-layer GCN")
        self.gnn, self.num_nodes = gnn, int(num_nodes)
        self.embeddings = nn.ParameterDict({
            str(i): nn.Parameter(torch.randn(num_nodes, gnn.convs[i].lin.out_features) * init_std)
            for i in sorted(set(se_layers))
        })

    def layer_outputs(self, x: Tensor, edge_index: Tensor | Adjacency, edge_weight: Tensor | None = None
                      ) -> list[Tensor]:
        """Every layer's output before its activation (the last one: logits)."""
        if x.size(0) != self.num_nodes:
            raise ValueError(
                f"the teacher's structural embeddings cover {self.num_nodes} nodes, the input has {x.size(0)}"
            )
        gnn = self.gnn
        adj = as_adjacency(edge_index, x.size(0))
        like = x if x.layout == torch.strided else x.values()
        norm = GCNNorm.of(adj, edge_weight, like)
        x = feature_dropout(x, gnn.input_dropout, self.training)
        outputs = []
        for i, conv in enumerate(gnn.convs):
            h = conv.lin(x)
            if str(i) in self.embeddings:
                h = h + self.embeddings[str(i)]
            out = norm.loops.matmul(norm.weight, h)
            out = out if conv.bias is None else out + conv.bias
            outputs.append(out)
            if i < len(gnn.convs) - 1:
                x = dropout(gnn.act(out), gnn.dropout, self.training)
        return outputs

    def forward(self, x: Tensor, edge_index: Tensor | Adjacency, edge_weight: Tensor | None = None) -> Tensor:
        return self.layer_outputs(x, edge_index, edge_weight)[-1]

    @torch.no_grad()
    def targets(self, x: Tensor, edge_index: Tensor | Adjacency, edge_weight: Tensor | None = None) -> Tensor:
        """What the student mimics: all layer outputs concatenated (``[N, sum d_l]``), in eval mode."""
        was_training = self.training
        self.eval()
        out = torch.cat(self.layer_outputs(x, edge_index, edge_weight), dim=-1)
        self.train(was_training)
        return out

    def regulariser(self, squared: bool = True) -> Tensor:
        norms = [e.square().sum() if squared else e.norm() for e in self.embeddings.values()]
        return torch.stack(norms).sum() if norms else torch.zeros(())
