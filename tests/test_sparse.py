import pytest
import torch

from graphlottery.sparse import Adjacency, check_edge_index, csr_linear, gather_rows, sparse_features


def random_graph(n=12, e=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, n, (2, e), generator=g), n


def dense_adjacency(edge_index, weight, n):
    a = torch.zeros(n, n, dtype=weight.dtype, device=weight.device)
    return a.index_put((edge_index[1], edge_index[0]), weight, accumulate=True)


def test_matmul_and_gradients_match_dense(device):
    edge_index, n = random_graph()
    edge_index = edge_index.to(device)
    adj = Adjacency(edge_index, n)
    w = torch.rand(edge_index.size(1), dtype=torch.double, device=device, requires_grad=True)
    x = torch.randn(n, 5, dtype=torch.double, device=device, requires_grad=True)
    out = adj.matmul(adj.sort(w), x)
    ref_w = w.detach().clone().requires_grad_()
    ref_x = x.detach().clone().requires_grad_()
    ref = dense_adjacency(edge_index, ref_w, n) @ ref_x
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(out)
    out.backward(g)
    ref.backward(g)
    torch.testing.assert_close(w.grad, ref_w.grad)
    torch.testing.assert_close(x.grad, ref_x.grad)


def test_csr_linear_matches_dense(device):
    x = ((torch.rand(30, 20) < 0.2).float() * torch.rand(30, 20)).to(device)
    weight = torch.randn(8, 20, device=device, requires_grad=True)
    out = csr_linear(sparse_features(x), weight)
    out.sum().backward()
    ref_w = weight.detach().clone().requires_grad_()
    (x @ ref_w.t()).sum().backward()
    torch.testing.assert_close(out, x @ weight.detach().t())
    torch.testing.assert_close(weight.grad, ref_w.grad)


@pytest.mark.parametrize(
    "edge_index, message",
    [
        (torch.tensor([[0, 1], [1, 5]]), "valid range"),
        (torch.tensor([[0, -1], [1, 2]]), "valid range"),
        (torch.tensor([[0.0, 1.0], [1.0, 2.0]]), "integer"),
        (torch.tensor([0, 1, 2]), "shape"),
    ],
)
def test_bad_edge_index_is_named(edge_index, message):
    with pytest.raises(ValueError, match=message):
        check_edge_index(edge_index, 3)


def test_dropout_on_sparse_features_keeps_the_transpose_consistent(device):
    from graphlottery.nn.base import feature_dropout

    torch.manual_seed(0)
    x = ((torch.rand(30, 20) < 0.3).float() * torch.rand(30, 20)).to(device)
    dropped = feature_dropout(sparse_features(x), 0.5, training=True)
    dense = dropped.to_dense()
    assert 0 < int((dense != 0).sum()) < int((x != 0).sum())
    torch.testing.assert_close(dropped.transposed.to_dense(), dense.t())
    weight = torch.randn(4, 20, device=device, requires_grad=True)
    csr_linear(dropped, weight).sum().backward()
    torch.testing.assert_close(weight.grad, torch.ones(30, 4, device=device).t() @ dense)


def test_gathered_rows_of_sparse_features_equal_dense_indexing():
    x = torch.randn(7, 5)
    x[x < 0.4] = 0.0
    x[1] = 0.0  # a row with no stored values
    for csr in (x.to_sparse_csr(), sparse_features(x)):  # int64 and int32 indices
        indices = (torch.tensor([4, 0, 4, 1, 6]), torch.tensor([3], dtype=torch.int32), torch.zeros(0).long())
        for index in indices:
            with torch.sparse.check_sparse_tensor_invariants():
                got = gather_rows(csr, index)
                got.to_dense()
            assert got.layout == torch.sparse_csr and got.crow_indices().dtype == csr.col_indices().dtype
            assert torch.equal(got.to_dense(), x[index]) and torch.equal(gather_rows(x, index), x[index])


def test_matmul_adds_a_bias_in_place_with_its_gradient(device):
    """``matmul(w, x, bias)``: ``bias`` of ``[F]`` per row, or ``[heads, F]`` over the rows of
    ``multi_head`` (node ``i``'s heads are rows ``i * heads + k``); a node without edges gets the bias."""
    edge_index, n = random_graph(n=9, e=20)
    adj = Adjacency(edge_index.to(device), n)
    for heads in (1, 3):
        graph = adj.multi_head(heads) if heads > 1 else adj
        w = torch.rand(graph.num_edges, dtype=torch.double, device=device, requires_grad=True)
        x = torch.randn(n * heads, 4, dtype=torch.double, device=device, requires_grad=True)
        bias = torch.randn(heads, 4, dtype=torch.double, device=device, requires_grad=True)
        out = graph.matmul(w, x, bias if heads > 1 else bias[0])
        ref = (graph.matmul(w, x).view(n, heads, 4) + bias).view(n * heads, 4)
        torch.testing.assert_close(out, ref)
        g = torch.randn_like(out)
        grads = torch.autograd.grad(out, (w, x, bias), g)
        torch.testing.assert_close(grads, torch.autograd.grad(ref, (w, x, bias), g))


def test_spmm_writes_every_entry():
    """``spmm`` multiplies into uninitialised memory (``addmm`` with ``beta=0``): rows without
    entries are zeros and earlier garbage (NaN) never leaks in."""
    from graphlottery.sparse import spmm

    a = torch.sparse_csr_tensor(torch.tensor([0, 1, 1, 3]), torch.tensor([2, 0, 2]), torch.tensor([1.0, 2.0, 3.0]),
                                (3, 3))
    for _ in range(3):
        torch.full((64, 64), float("nan")).sum()  # leave NaN in freed memory
        x = torch.randn(3, 5)
        torch.testing.assert_close(spmm(a, x), a.to_dense() @ x)
        empty = torch.sparse_csr_tensor(torch.zeros(4, dtype=torch.int64), torch.zeros(0, dtype=torch.int64),
                                        torch.zeros(0), (3, 3))
        assert torch.equal(spmm(empty, x), torch.zeros(3, 5))
