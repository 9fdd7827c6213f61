"""Mask semantics of every model against hand-computed small cases."""
import math

import pytest
import torch

from graphlottery.nn import GAT, GCN, GIN, GATConv, GCNConv, GINConv, GraphSAGE, SAGEConv, gcn_propagate
from graphlottery.sparse import Adjacency, sparse_features

# 0 <-> 1, 1 <-> 2, 2 <-> 3, plus 0 <-> 2
EDGES = torch.tensor([[0, 1, 1, 2, 2, 3, 0, 2], [1, 0, 2, 1, 3, 2, 2, 0]])
N = 4


def test_gcn_mask_before_normalisation_changes_degrees():
    x = torch.eye(N)
    mask = torch.ones(EDGES.size(1))
    mask[6:] = 0.0  # prune 0 <-> 2
    out = gcn_propagate(Adjacency(EDGES, N), x, mask)
    a = torch.zeros(N, N)
    for s, d in [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)]:
        a[d, s] = 1.0
    a_hat = a + torch.eye(N)
    dinv = a_hat.sum(1).rsqrt()
    expected = dinv[:, None] * a_hat * dinv[None, :]
    torch.testing.assert_close(out, expected)
    # degrees of nodes 0 and 2 dropped from 3 to 2 and from 4 to 3; the self-loop stays with weight 1
    assert math.isclose(float(out[0, 0]), 1 / 2, rel_tol=1e-6)
    assert math.isclose(float(out[2, 2]), 1 / 3, rel_tol=1e-6)


def test_gcn_soft_mask_scales_edge_weight():
    x = torch.eye(N)
    mask = torch.full((EDGES.size(1),), 0.5)
    out = gcn_propagate(Adjacency(EDGES, N), x, mask)
    deg = 1 + 0.5 * torch.tensor([2.0, 2.0, 3.0, 1.0])
    assert math.isclose(float(out[1, 0]), 0.5 / math.sqrt(deg[0] * deg[1]), rel_tol=1e-6)


def test_gat_pruned_edge_has_zero_influence():
    torch.manual_seed(0)
    conv = GATConv(3, 4, heads=2).eval()
    x = torch.randn(N, 3)
    mask = torch.ones(EDGES.size(1))
    mask[6] = 0.0  # prune 0 -> 2 only
    x2 = x.clone()
    x2[0] += 5.0  # node 0 changes; it reaches node 2 only through the pruned edge
    out1, out2 = conv(x, EDGES, mask), conv(x2, EDGES, mask)
    torch.testing.assert_close(out1[2], out2[2])
    assert not torch.allclose(out1[1], out2[1])  # but still reaches node 1
    # a zero-mask edge behaves exactly as an absent edge (it takes no share of the softmax)
    keep = mask.bool()
    torch.testing.assert_close(out1, conv(x, EDGES[:, keep]))


def test_gat_soft_mask_is_softmax_of_logits_plus_log_mask():
    torch.manual_seed(0)
    conv = GATConv(2, 1, heads=1).eval()
    edges = torch.tensor([[1, 2], [0, 0]])  # two messages into node 0
    x = torch.randn(3, 2)
    m = torch.tensor([0.25, 1.0])
    h = conv.lin(x)
    s_src, s_dst = (h * conv.att_src).sum(-1), (h * conv.att_dst).sum(-1)
    logits = torch.nn.functional.leaky_relu(torch.stack([s_src[0], s_src[1], s_src[2]]) + s_dst[0], 0.2)
    alpha = torch.softmax(logits + torch.log(torch.cat([torch.ones(1), m])), 0)
    expected = alpha[0] * h[0] + alpha[1] * h[1] + alpha[2] * h[2] + conv.bias
    torch.testing.assert_close(conv(x, edges, m)[0], expected)


def test_gin_sums_kept_edges():
    conv = GINConv(1, 1, train_eps=False)
    with torch.no_grad():
        conv.lin.weight.fill_(1.0)
    x = torch.tensor([[1.0], [10.0], [100.0], [1000.0]])
    mask = torch.ones(EDGES.size(1))
    mask[7] = 0.0  # prune 2 -> 0
    out = conv(x, EDGES, mask).detach()
    assert float(out[0]) == pytest.approx(1.0 + 10.0)  # self + node 1, not node 2
    assert float(out[2]) == pytest.approx(100.0 + 10.0 + 1000.0 + 1.0)


def test_gin_mean_denominator_counts_kept_edges_only():
    conv = GINConv(1, 1, aggr="mean", train_eps=False)
    with torch.no_grad():
        conv.lin.weight.fill_(1.0)
    x = torch.tensor([[1.0], [10.0], [100.0], [1000.0]])
    mask = torch.ones(EDGES.size(1))
    mask[7] = 0.0
    assert float(conv(x, EDGES, mask).detach()[0]) == pytest.approx(1.0 + 10.0)


def test_sage_mean_over_kept_neighbours():
    conv = SAGEConv(1, 1)
    with torch.no_grad():
        conv.lin_self.weight.zero_()
        conv.lin_neigh.weight.fill_(1.0)
    x = torch.tensor([[1.0], [10.0], [100.0], [1000.0]])
    mask = torch.ones(EDGES.size(1))
    mask[4] = 0.0  # prune 2 -> 3: node 3 has no kept neighbour left
    mask[3] = 0.0  # prune 2 -> 1
    out = conv(x, EDGES, mask).detach()
    assert float(out[1]) == pytest.approx(1.0)
    assert float(out[3]) == pytest.approx(0.0)
    assert float(out[2]) == pytest.approx((10.0 + 1000.0 + 1.0) / 3)


@pytest.mark.parametrize("model_cls", [GCN, GIN, GAT, GraphSAGE])
def test_zero_mask_equals_compacted_graph_and_sparse_features_equal_dense(model_cls, device):
    torch.manual_seed(0)
    model = model_cls(6, 8, 2, 3).eval().to(device)
    x = (torch.rand(N, 6) < 0.4).float().to(device)
    edges = EDGES.to(device)
    mask = torch.tensor([1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0], device=device)
    out = model(x, edges, mask)
    torch.testing.assert_close(out, model(x, edges[:, mask.bool()]))
    torch.testing.assert_close(out, model(sparse_features(x), edges, mask))
    # gradients reach the edge mask and the weights on every device
    mask.requires_grad_()
    model.train()
    model(sparse_features(x), edges, mask).square().sum().backward()
    assert mask.grad is not None and torch.isfinite(mask.grad).all() and mask.grad.abs().sum() > 0


def test_gat_pruned_edge_with_huge_logit_does_not_underflow_kept_ones():
    conv = GATConv(1, 1, heads=1).eval()
    with torch.no_grad():
        conv.lin.weight.fill_(1.0)
        conv.att_src.fill_(1.0)
        conv.att_dst.zero_()
    x = torch.tensor([[0.0], [500.0]])  # node 1's message into node 0 has a logit of 500
    out = conv(x, torch.tensor([[1], [0]]), torch.zeros(1))
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[0], conv.bias)  # only the self-loop (x_0 = 0) is left


def test_gcn_normalisation_gradient_matches_autograd():
    from graphlottery.nn.gcn import GCNNorm

    torch.manual_seed(0)
    edges = torch.randint(0, 7, (2, 20))
    adj = Adjacency(edges, 7)
    like = torch.zeros(1, dtype=torch.double)
    # negative soft scores too: degrees below 1 are clamped and pass no gradient
    for w in (torch.rand(20, dtype=torch.double), torch.rand(20, dtype=torch.double) - 0.7):
        torch.autograd.gradcheck(lambda m: GCNNorm.of(adj, m, like).weight, (w.requires_grad_(),))


def test_gcn_propagates_at_the_smaller_width():
    torch.manual_seed(0)
    conv = GCNConv(3, 8)
    x = torch.randn(N, 3)
    mask = torch.rand(EDGES.size(1))
    a = gcn_propagate(Adjacency(EDGES, N), torch.eye(N), mask)  # the normalised matrix itself
    torch.testing.assert_close(conv(x, EDGES, mask), a @ x @ conv.lin.weight.t() + conv.bias)


def _reference_gat(model: GAT, x: torch.Tensor, edge_index: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """This library's GAT computed the plain way: ``h = x W^T`` (dense), scores ``<h_k, a_k>``,
    PyG's softmax over the incoming edges with self-loops renormalised by the mask as
    ``m alpha / sum(m alpha)``, messages gathered and scattered; dropout in the library's order
    and with its draws (input, attention per layer in CSR order, hidden after ELU)."""
    import torch.nn.functional as F
    from torch_geometric.utils import scatter, softmax

    from graphlottery.edge_hooks import renormalise
    from graphlottery.nn.base import dropout, feature_dropout

    n = x.size(0)
    loops = torch.arange(n)
    src, dst = torch.cat([edge_index[0], loops]), torch.cat([edge_index[1], loops])
    m = torch.cat([mask, mask.new_ones(n)])
    order = torch.argsort(dst * n + src)  # CSR order, as the attention dropout draws
    src, dst, m = src[order], dst[order], m[order]
    x = feature_dropout(x, model.input_dropout, model.training)
    for i, conv in enumerate(model.convs):
        dense = x.to_dense() if x.layout == torch.sparse_csr else x
        h = (dense @ conv.lin.weight.t()).view(n, conv.heads, conv.out_channels)
        logits = F.leaky_relu((h * conv.att_src).sum(-1)[src] + (h * conv.att_dst).sum(-1)[dst], conv.negative_slope)
        alpha = dropout(renormalise(softmax(logits, dst, num_nodes=n), m, dst, n), conv.attention_dropout,
                        model.training)
        out = scatter(alpha.unsqueeze(-1) * h[src], dst, 0, n, "sum")
        x = (out.reshape(n, -1) if conv.concat else out.mean(1)) + conv.bias
        if i < len(model.convs) - 1:
            x = dropout(F.elu(x), model.dropout, model.training)
    return x


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("features", ["sparse", "dense"])
@pytest.mark.parametrize("training", [False, True])
def test_gat_equals_the_plain_computation_with_gradients(dtype, features, training):
    """The fused GAT (scores from the input, one multi-head CSR product, ELU and dropout in one op)
    computes what the plain gather/scatter GAT does: outputs and gradients wrt the input, every
    weight and a soft edge mask (negative values act as 0), with the same dropout draws; to
    rounding (float64: 1e-10 of each tensor's largest entry; float32: outputs 1e-5, gradients 1e-4,
    where the attention parameters' gradients sum terms that cancel)."""
    torch.manual_seed(0)
    n = 40
    pairs = torch.randperm(n * n)[:160]
    edges = torch.stack([pairs // n, pairs % n])
    edges = edges[:, edges[0] != edges[1]]
    model = GAT(9, 6, 3, 4, heads=3).train(training).to(dtype)
    x = ((torch.rand(n, 9) < 0.3) * torch.randn(n, 9)).to(dtype)
    grads = []
    for plain in (False, True):
        inp = x.clone().requires_grad_(features == "dense")
        mask = torch.rand(edges.size(1), generator=torch.Generator().manual_seed(1)) * 1.4 - 0.2
        mask = mask.to(dtype).requires_grad_()
        model.zero_grad()
        torch.manual_seed(5)  # the same dropout draws in both
        feed = sparse_features(inp.detach()) if features == "sparse" else inp
        out = _reference_gat(model, feed, edges, mask) if plain else model(feed, edges, mask)
        out.pow(3).sum().backward()
        grads.append([out.detach(), mask.grad] + ([inp.grad] if features == "dense" else [])
                     + [p.grad.clone() for p in model.parameters()])
    for i, (new, ref) in enumerate(zip(*grads)):
        tolerance = 1e-10 if dtype == torch.float64 else 1e-5 if i == 0 else 1e-4
        assert new.shape == ref.shape and torch.isfinite(new).all()
        assert float((new - ref).abs().max()) <= tolerance * float(ref.abs().max())


def test_fused_activation_dropout_equals_dropout_of_activation():
    """The hidden activation of the GAT and GCN stacks (ELU or ReLU and dropout in one op) draws
    what ``dropout(act(x))`` draws and gives its output exactly, and its gradient to rounding."""
    import torch.nn.functional as F

    from graphlottery.nn.base import act_dropout, dropout

    x = torch.randn(50, 33, dtype=torch.double, requires_grad=True)
    g = torch.randn(50, 33, dtype=torch.double)
    for act in (F.elu, F.relu):
        for p in (0.6, 0.5, 0.1):
            torch.manual_seed(3)
            ref = dropout(act(x), p, True)
            torch.manual_seed(3)
            out = act_dropout(x, act, p, True)
            assert torch.equal(out, ref)
            torch.testing.assert_close(torch.autograd.grad(out, x, g), torch.autograd.grad(ref, x, g))
        assert torch.equal(act_dropout(x, act, 0.6, False), act(x))


def test_linear_head_map_equals_mapping_the_output():
    """``Linear(x, head_map)`` (GAT's scores from the input) equals mapping each head of the
    output, with a bias too, for dense and sparse CSR input."""
    from graphlottery.nn.base import Linear

    torch.manual_seed(0)
    lin = Linear(7, 3 * 4, bias=True).double()
    head_map = torch.randn(3, 2, 4, dtype=torch.double)
    x = torch.randn(10, 7, dtype=torch.double) * (torch.rand(10, 7) < 0.4)
    for inp in (x, sparse_features(x)):
        out, mapped = lin(inp, head_map)
        torch.testing.assert_close(out, lin(x))
        expected = torch.einsum("nkc,ksc->nsk", out.view(10, 3, 4), head_map).reshape(10, 6)
        torch.testing.assert_close(mapped, expected)
