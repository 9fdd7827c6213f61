"""Weighted sparse propagation over ``edge_index`` in O(E) memory.

:class:`Adjacency` sorts the edges of a graph once into CSR order (rows are target
nodes) and multiplies ``A_w @ X`` with

.. math::
    (A_w X)_i = \\sum_{(j \\to i) \\in E} w_{ji} \\, x_j .

Its backward computes the edge-weight gradient directly,
:math:`\\partial L / \\partial w_{ji} = \\langle g_i, x_j \\rangle`, as a sampled
dense-dense product on the sparsity pattern, so no :math:`E \\times H` message tensor
and no dense :math:`N \\times N` matrix is ever built.
"""
from __future__ import annotations

import sys
import warnings

import torch
from torch import Tensor

# torch's beta notices for sparse CSR tensors, which this module uses on purpose
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")


def mask_to_float(mask: Tensor, dtype: torch.dtype = torch.float) -> Tensor:
    """Boolean mask as 0/1 floats (through a ``uint8`` view: bool casts are slow on CPU)."""
    return mask.view(torch.uint8).to(dtype) if mask.dtype == torch.bool else mask.to(dtype)


def check_edge_index(edge_index: Tensor, num_nodes: int) -> None:
    """Raise ``ValueError`` unless ``edge_index`` is an integer ``[2, E]`` tensor in ``[0, N)``."""
    if not isinstance(edge_index, Tensor):
        raise TypeError(f"edge_index must be a torch.Tensor, got {type(edge_index).__name__}")
    if edge_index.dtype.is_floating_point or edge_index.dtype == torch.bool or edge_index.is_complex():
        raise ValueError(f"edge_index must hold integer node indices, got dtype {edge_index.dtype}")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {tuple(edge_index.shape)}")
    if edge_index.numel() > 0:
        lo, hi = int(edge_index.min()), int(edge_index.max())
        if lo < 0 or hi >= num_nodes:
            raise ValueError(
                f"edge_index holds node indices in [{lo}, {hi}] but the graph has {num_nodes} nodes "
                f"(valid range [0, {num_nodes - 1}])"
            )


# addmm(beta=0) on CPU ignores what its output held with MKL's sparse BLAS (Linux builds); torch's
# native fallback of some versions scales the output by beta instead, which keeps NaN garbage
_ADDMM_IGNORES_OUTPUT = sys.platform.startswith("linux") and torch.backends.mkl.is_available()


def spmm(a: Tensor, x: Tensor) -> Tensor:
    """``a @ x`` for a sparse CSR ``a`` and a dense ``x``. On CPU with MKL it writes into a fresh
    ``empty`` tensor through ``addmm(..., beta=0, out=)``: ``a @ x`` zero-fills a result and
    copies MKL's product into it, two extra passes that cost as much as the product at
    GNN widths (beta 0 ignores the uninitialised memory)."""
    if x.device.type != "cpu" or not _ADDMM_IGNORES_OUTPUT:
        return a @ x
    out = torch.empty((a.size(0), x.size(1)), dtype=x.dtype, device=x.device)
    return torch.addmm(out, a, x, beta=0.0, out=out)


def _csr_ptr(rows: Tensor, num_rows: int, dtype: torch.dtype) -> Tensor:
    return torch._convert_indices_from_coo_to_csr(rows, num_rows, out_int32=dtype == torch.int32)


class Adjacency:
    """CSR view of ``edge_index`` (shape ``[2, E]``, messages flow ``src -> dst``).

    Built once per graph; weights are passed per call in the original column order of
    ``edge_index``, so a trainable per-edge mask keeps its own indexing.
    """

    def __init__(self, edge_index: Tensor, num_nodes: int, check: bool = True):
        if check:
            check_edge_index(edge_index, num_nodes)
        self.num_nodes = int(num_nodes)
        self.num_edges = edge_index.size(1)
        n = max(self.num_nodes, 1)
        src, dst = edge_index[0].long(), edge_index[1].long()
        index_dtype = torch.int32 if n < 2**31 and self.num_edges < 2**31 else torch.int64
        self.perm = torch.argsort(dst * n + src)
        self.src, self.dst = src[self.perm], dst[self.perm]
        self.rowptr = _csr_ptr(self.dst, self.num_nodes, index_dtype)
        self.col = self.src.to(index_dtype)
        # transpose (rows = source nodes), as positions into the sorted edge order
        self.perm_t = torch.argsort(self.src * n + self.dst)
        self.rowptr_t = _csr_ptr(self.src[self.perm_t], self.num_nodes, index_dtype)
        self.col_t = self.dst[self.perm_t].to(index_dtype)

    @property
    def device(self) -> torch.device:
        return self.perm.device

    def to(self, device: torch.device | str) -> Adjacency:
        out = object.__new__(Adjacency)
        out.__dict__ = {k: v.to(device) if isinstance(v, (Tensor, Adjacency)) else v for k, v in self.__dict__.items()}
        for cached in ("_multi_head", "_sort", "_loop_index"):
            out.__dict__.pop(cached, None)
        return out

    def with_self_loops(self) -> Adjacency:
        """This graph plus one self-loop per node (built once, cached). Its edges are ordered as
        ``[this graph's edges in CSR order, loops 0..N-1]`` for :meth:`sort`."""
        cached = self.__dict__.get("_with_loops")
        if cached is None:
            loop = torch.arange(self.num_nodes, device=self.device)
            edges = torch.stack([torch.cat([self.src, loop]), torch.cat([self.dst, loop])])
            cached = self.__dict__["_with_loops"] = Adjacency(edges, self.num_nodes, check=False)
        return cached

    def loop_weights(self, edge_weight: Tensor | None, like: Tensor) -> Tensor:
        """Per-edge weights (``[E]``, ``edge_index`` order; ``None``: ones) and a weight of 1
        per self-loop, in the CSR order of :meth:`with_self_loops` (``[E + N]``), as one gather."""
        loops = self.with_self_loops()
        if edge_weight is None:
            return torch.ones(loops.num_edges, dtype=like.dtype, device=like.device)
        if edge_weight.size(0) != self.num_edges:
            raise ValueError(f"expected {self.num_edges} edge values, got {edge_weight.size(0)}")
        index = self.__dict__.get("_loop_index")
        if index is None:  # position in [edge_weight, ones] of each loops-CSR edge
            base = torch.cat([self.perm, torch.arange(self.num_edges, loops.num_edges, device=self.device)])
            index = self.__dict__["_loop_index"] = Permutation(base[loops.perm])
        values = torch.cat([edge_weight.to(like.dtype), like.new_ones(self.num_nodes)])
        return index.gather(values)

    def multi_head(self, heads: int) -> Adjacency:
        """The graph repeated once per head on nodes ``n * heads + k`` (built once, cached), so
        ``heads`` weighted products become one: its edges are ordered as ``e * heads + k`` over
        this graph's CSR order ``e``, i.e. a ``[E, heads]`` weight tensor flattened."""
        cache = self.__dict__.setdefault("_multi_head", {})
        if heads not in cache:
            k = torch.arange(heads, device=self.device)
            src = (self.src.unsqueeze(1) * heads + k).reshape(-1)
            dst = (self.dst.unsqueeze(1) * heads + k).reshape(-1)
            cache[heads] = Adjacency(torch.stack([src, dst]), self.num_nodes * heads, check=False)
        return cache[heads]

    def sort(self, edge_values: Tensor) -> Tensor:
        """Reorder per-edge values (``[E, ...]``, ``edge_index`` order) into CSR order."""
        if edge_values.size(0) != self.num_edges:
            raise ValueError(f"expected {self.num_edges} edge values, got {edge_values.size(0)}")
        perm = self.__dict__.get("_sort")
        if perm is None:
            perm = self.__dict__["_sort"] = Permutation(self.perm)
        return perm.gather(edge_values)

    def matmul(self, sorted_weight: Tensor | None, x: Tensor, bias: Tensor | None = None) -> Tensor:
        """``A_w @ x`` for weights already in CSR order (``None``: all ones), plus ``bias`` if
        given (added in place, as ``out.view(-1, *bias.shape) += bias``: ``[F]`` per row, or e.g.
        ``[heads, F]`` for the rows of :meth:`multi_head`)."""
        if sorted_weight is None:
            sorted_weight = torch.ones(self.num_edges, dtype=x.dtype, device=x.device)
        return _WeightedSpmm.apply(sorted_weight, x, self, bias)

    def sum_by_target(self, sorted_values: Tensor) -> Tensor:
        """Sum CSR-ordered edge values into their target nodes (shape ``[N, ...]``)."""
        out = sorted_values.new_zeros((self.num_nodes, *sorted_values.shape[1:]))
        return out.index_add(0, self.dst, sorted_values)


class Permutation:
    """A permutation of ``n`` positions whose gather ``values[index]`` has a gather as its
    backward too (through the inverse permutation), instead of a scatter-add."""

    def __init__(self, index: Tensor):
        self.index = index
        self.inverse = torch.empty_like(index)
        self.inverse[index] = torch.arange(index.numel(), device=index.device)

    def gather(self, values: Tensor) -> Tensor:
        """``values[index]`` for ``values`` of shape ``[n, ...]``."""
        if not values.requires_grad:
            return values[self.index]
        return _Gather.apply(values, self)


class _Gather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, values: Tensor, perm: Permutation) -> Tensor:
        ctx.perm = perm
        return values[perm.index]

    @staticmethod
    def backward(ctx, grad: Tensor):
        return grad[ctx.perm.inverse], None


class _WeightedSpmm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight: Tensor, x: Tensor, adj: Adjacency, bias: Tensor | None = None) -> Tensor:
        ctx.adj = adj
        ctx.save_for_backward(weight, x)
        a = torch.sparse_csr_tensor(adj.rowptr, adj.col, weight, (adj.num_nodes, adj.num_nodes))
        out = spmm(a, x)
        if bias is not None:
            ctx.bias_shape = bias.shape
            out.view(-1, *bias.shape).add_(bias)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        weight, x = ctx.saved_tensors
        adj: Adjacency = ctx.adj
        n = adj.num_nodes
        grad_w = grad_x = grad_bias = None
        grad_out = grad_out.contiguous()
        if ctx.needs_input_grad[3]:
            grad_bias = grad_out.view(-1, *ctx.bias_shape).sum(0)
        if ctx.needs_input_grad[0]:
            pattern = torch.sparse_csr_tensor(adj.rowptr, adj.col, weight.detach(), (n, n))
            grad_w = torch.sparse.sampled_addmm(pattern, grad_out, x.detach().t(), beta=0.0).values()
        if ctx.needs_input_grad[1]:
            a_t = torch.sparse_csr_tensor(adj.rowptr_t, adj.col_t, weight.detach()[adj.perm_t], (n, n))
            grad_x = spmm(a_t, grad_out)
        return grad_w, grad_x, None, grad_bias


def as_adjacency(edge_index: Tensor | Adjacency, num_nodes: int) -> Adjacency:
    """Accept either a prebuilt :class:`Adjacency` or a raw ``edge_index``."""
    if isinstance(edge_index, Adjacency):
        return edge_index
    return Adjacency(edge_index, num_nodes)


def sparse_identity(n: int, dtype: torch.dtype = torch.float) -> Tensor:
    """The ``[n, n]`` identity as a sparse CSR tensor in O(n) memory (one-hot node ids as features)."""
    index = torch.arange(n + 1)
    return torch.sparse_csr_tensor(index, index[:n], torch.ones(n, dtype=dtype), (n, n))


def gather_rows(x: Tensor, index: Tensor) -> Tensor:
    """``x[index]`` for a dense or sparse CSR ``x`` (``[N, F]``) and non-negative integer ``index``
    (``[B]``); CSR rows stay CSR (same index dtype), gathered in O(their stored values)."""
    if x.layout != torch.sparse_csr:
        return x[index]
    crow, col = x.crow_indices(), x.col_indices()
    start, count = crow[index].long(), (crow[index + 1] - crow[index]).long()
    new_crow = torch.cat([count.new_zeros(1), count.cumsum(0)])
    row = torch.repeat_interleave(torch.arange(index.numel(), device=x.device), count)
    pos = start[row] + torch.arange(row.numel(), device=x.device) - new_crow[row]
    return torch.sparse_csr_tensor(new_crow.to(col.dtype), col[pos], x.values()[pos], (index.numel(), x.size(1)))


def sparse_features(x: Tensor) -> Tensor:
    """``x`` (``[N, F]``) as a sparse CSR tensor that also carries its transpose (as
    ``x.transposed``, and ``x.transpose_perm`` mapping stored values into the transpose's
    order), so :func:`csr_linear` computes weight gradients ``x^T g`` without re-sorting."""
    csr = _int32_csr(x.to_sparse_csr())
    rows = torch._convert_indices_from_csr_to_coo(csr.crow_indices(), csr.col_indices())[0].long()
    csr.transpose_perm = torch.argsort(csr.col_indices().long() * x.size(0) + rows)
    csr.transposed = _int32_csr(x.t().to_sparse_csr())
    return csr


def with_values(x: Tensor, values: Tensor) -> Tensor:
    """A tensor from :func:`sparse_features` with new stored values (same pattern)."""
    out = torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), values, x.shape)
    x_t = getattr(x, "transposed", None)
    if x_t is not None:
        out.transpose_perm = x.transpose_perm
        out.transposed = torch.sparse_csr_tensor(
            x_t.crow_indices(), x_t.col_indices(), values[x.transpose_perm], x_t.shape
        )
    return out


def keep_entries(x: Tensor, values: Tensor, keep: Tensor) -> Tensor:
    """A tensor from :func:`sparse_features` with new stored ``values`` of which only those where
    ``keep`` (bool, same length) is true are stored (with its transpose, if ``x`` carries one).

    Dropout on sparse features zeroes most stored values (60% for a GAT); dropping them from the
    pattern makes both products of :func:`csr_linear` that much cheaper, and a sum without its
    zero terms is the same sum."""
    crow, col = x.crow_indices(), x.col_indices()
    kept = keep.nonzero().view(-1)
    values = values[kept]
    zero = torch.zeros(1, dtype=torch.int64, device=keep.device)
    before = torch.cat([zero, keep.cumsum(0)])  # kept entries before each stored entry, and in all
    out = torch.sparse_csr_tensor(before[crow.long()].to(crow.dtype), col[kept], values, x.shape)
    x_t = getattr(x, "transposed", None)
    if x_t is not None:
        perm = x.transpose_perm
        keep_t = keep[perm]
        kept_t = keep_t.nonzero().view(-1)
        crow_t = x_t.crow_indices()
        crow_t = torch.cat([zero, keep_t.cumsum(0)])[crow_t.long()].to(crow_t.dtype)
        out.transpose_perm = before[perm[kept_t]]  # kept positions, in the kept transpose's order
        out.transposed = torch.sparse_csr_tensor(crow_t, x_t.col_indices()[kept_t], values[out.transpose_perm],
                                                 x_t.shape)
    return out


def _int32_csr(x: Tensor) -> Tensor:
    if x.values().numel() >= 2**31 or max(x.shape) >= 2**31:
        return x
    return torch.sparse_csr_tensor(x.crow_indices().int(), x.col_indices().int(), x.values(), x.shape)


def csr_linear(x: Tensor, weight: Tensor) -> Tensor:
    """``x @ weight.T`` for sparse CSR ``x`` (``[N, in]``) and dense ``weight`` (``[out, in]``)."""
    return _CsrLinear.apply(weight, x)


class _CsrLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight: Tensor, x: Tensor) -> Tensor:
        ctx.x = x
        return spmm(x, weight.t().contiguous())

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        x_t = getattr(ctx.x, "transposed", None)
        if x_t is None:
            x_t = _int32_csr(ctx.x.t().to_sparse_csr())
        # contiguous like the weight: the weight-mask hook's products and Adam run over this
        # gradient, and elementwise ops on a transposed operand are ~10x slower on CPU
        return spmm(x_t, grad_out.contiguous()).t().contiguous(), None
