"""Per-edge masks on any PyG model, through PyG's own ``MessagePassing`` hooks.

:class:`EdgeMask` makes every message-passing layer of a model see one mask value per column
of the ``edge_index`` the model is called with, without a positional ``edge_weight`` argument
and without forking a conv. A **boolean** mask compacts: each layer gets only the kept columns
(and their ``edge_weight`` / ``edge_attr``), which is exact for every layer. A **float** (soft)
mask :math:`m` acts by the layer's family, so that a mask of ones changes nothing and
:math:`m_e = 0` gives exactly the output of deleting column :math:`e`:

=====================  ==========================================================================
family                 soft semantics
=====================  ==========================================================================
``edge_weight``        layers whose ``forward`` takes ``edge_weight`` and sum their messages
                       (``GCNConv``, ``GraphConv``, ``ChebConv``, ...): ``edge_weight * m`` before
                       the layer's own normalisation (degrees are recomputed from it)
``attention``          softmax attention of ``GATConv``, ``GATv2Conv`` and ``TransformerConv``:
                       :math:`\\alpha = \\mathrm{softmax}(s + \\log m)` over each node's incoming
                       edges, computed as :math:`m\\alpha / \\sum m\\alpha`; attention dropout
                       is applied after the mask
``sum``                sum aggregation (``GINConv``, ...): message :math:`\\times m`
``mean``               mean aggregation (``SAGEConv``, ...): :math:`\\sum m x / \\sum m`
``softmax``            ``SoftmaxAggregation`` (``GENConv``): softmax weights of the messages
                       renormalised over :math:`m`, as for attention
hard only              max, min, multi-aggregation, PNA, LSTM, and other attention layers
                       (``AGNNConv``, ``SuperGATConv``, ...): a soft mask is an error
=====================  ==========================================================================

Self-loops a layer adds itself (``add_self_loops=True``) are never masked. A soft mask value
below 0 (UGS's scores can cross 0) acts as 0: the edge is absent. This library's own
models (:class:`~graphlottery.nn.MessagePassingStack` and its convs) take the mask through their
``edge_weight`` argument, whose semantics are the same. Memory is O(E).
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GATv2Conv, MessagePassing, TransformerConv
from torch_geometric.nn.aggr import MeanAggregation, SoftmaxAggregation, SumAggregation
from torch_geometric.utils import is_sparse, scatter, softmax

EDGE_ARGS = ("edge_weight", "edge_attr", "edge_type")  # per-column arguments sliced with the edges
NATIVE = "takes_edge_mask"  # class attribute of modules that read the mask from their edge_weight


class EdgeMaskError(ValueError):
    """A mask that cannot reach a layer exactly (the message names the layer and the fix)."""


def family(conv: MessagePassing) -> str:
    """How a soft mask acts on ``conv``: ``edge_weight``, ``attention``, ``transformer``, ``sum``,
    ``mean``, ``softmax``, or ``hard`` (hard masks only)."""
    aggr = getattr(conv, "aggr_module", None)
    summed = isinstance(aggr, SumAggregation)
    if isinstance(conv, TransformerConv) and summed:
        return "transformer"
    if isinstance(conv, (GATConv, GATv2Conv)) and summed:
        return "attention"
    if summed and not _normalises(conv):
        return "edge_weight" if "edge_weight" in inspect.signature(conv.forward).parameters else "sum"
    if isinstance(aggr, SoftmaxAggregation):
        return "softmax"
    if _normalises(conv):  # attention computed where no hook can reach it (AGNNConv, SuperGATConv, ...)
        return "hard"
    if isinstance(aggr, MeanAggregation):
        return "mean"
    return "hard"


def _normalises(conv: MessagePassing) -> bool:
    """Whether ``conv``'s class (or a base below ``MessagePassing``) calls a softmax itself, i.e. has
    attention a hook cannot reach; without source code, assume it does."""
    return _class_normalises(type(conv))


@functools.cache
def _class_normalises(layer_class: type) -> bool:
    for cls in layer_class.__mro__:
        if cls is MessagePassing:
            return False
        try:
            if "softmax(" in inspect.getsource(cls):
                return True
        except (OSError, TypeError):
            return True
    return False


def renormalise(alpha: Tensor, mask: Tensor, index: Tensor, dim_size: int) -> Tensor:
    """``mask * alpha / sum(mask * alpha)`` over the edges into each node: the softmax of
    ``s + log m`` when ``alpha = softmax(s)``. ``alpha``: ``[E, ...]``, ``mask``: ``[E]``."""
    return alpha * _renormaliser(alpha, mask, index, dim_size)


def _renormaliser(alpha: Tensor, mask: Tensor, index: Tensor, dim_size: int) -> Tensor:
    """The factor ``mask / sum(mask * alpha)`` of :func:`renormalise`, ``[E, 1, ...]``."""
    mask = mask.clamp_min(0.0).view(-1, *([1] * (alpha.dim() - 1)))
    total = scatter(alpha * mask, index, 0, dim_size, "sum")
    return mask / total.clamp_min(torch.finfo(total.dtype).tiny)[index]


@dataclass
class _Call:
    """What one call of a layer needs: the mask over its message columns, their targets and
    the number of target nodes; ``dropout``: the layer's attention dropout, moved after the mask."""

    mask: Tensor
    index: Tensor
    dim_size: int
    dropout: float = 0.0


class EdgeMask:
    """Show every message-passing layer of ``model`` a per-edge mask.

    Args:
        model: any module containing PyG ``MessagePassing`` layers (or this library's models).
        mask: ``[E]``, one value per column of the ``edge_index`` the model will be called with;
            boolean (hard: pruned columns are dropped) or float (soft); ``None``: no mask.
        fingerprint: the :func:`~graphlottery.graph.fingerprint` of the ``edge_index`` the mask
            was built for; each call is then checked against it (a mask for another graph, or
            for the same edges in another order, is an error).

    ``with EdgeMask(model, mask): model(x, edge_index)`` applies it for one block; ``attach()``
    / ``detach()`` is the persistent form, and ``set(mask)`` changes the mask between calls.
    ``calls`` counts, per layer name, the calls that saw the mask.
    """

    def __init__(self, model: nn.Module, mask: Tensor | None = None, fingerprint: str | None = None):
        self.model = model
        self.layers = _mask_layers(model)
        if not self.layers:
            raise EdgeMaskError(f"{type(model).__name__} has no MessagePassing layer for an edge mask to reach")
        self.families = {name: "native" if getattr(m, NATIVE, False) else family(m) for name, m in self.layers}
        self.signatures = {name: inspect.signature(m.forward) for name, m in self.layers}
        for name, layer in self.layers:
            if "edge_index" not in self.signatures[name].parameters:
                raise EdgeMaskError(f"layer {name!r} ({type(layer).__name__}): its forward takes no edge_index "
                                    "argument for the mask to follow")
        self.fingerprint = fingerprint
        self.calls: dict[str, int] = {}
        self._checked: tuple | None = None  # the last edge_index that matched the fingerprint
        self._handles: list = []
        self._state: dict[int, _Call] = {}
        self.mask: Tensor | None = None
        self.set(mask)

    # --- the mask -----------------------------------------------------------------------
    def set(self, mask: Tensor | None) -> EdgeMask:
        """Replace the mask (``[E]``, bool or float, or ``None``)."""
        if mask is not None:
            if not isinstance(mask, Tensor) or mask.dim() != 1:
                raise EdgeMaskError(f"an edge mask is a 1-D tensor with one value per edge_index column, got "
                                    f"{type(mask).__name__ if not isinstance(mask, Tensor) else tuple(mask.shape)}")
            if mask.dtype != torch.bool:
                if not mask.is_floating_point():
                    raise EdgeMaskError(f"an edge mask is boolean (hard) or floating point (soft), got {mask.dtype}")
                if not bool(torch.isfinite(mask.detach()).all()):
                    raise EdgeMaskError("the edge mask holds NaN or inf values")
                hard_only = [n for n, f in self.families.items() if f == "hard"]
                if hard_only:
                    layer = dict(self.layers)[hard_only[0]]
                    why = ("computes an attention softmax no hook can reach" if _normalises(layer) else
                           f"aggregates by {type(getattr(layer, 'aggr_module', None)).__name__}")
                    raise EdgeMaskError(
                        f"layer {hard_only[0]!r} ({type(layer).__name__}) {why}, so it cannot take a soft edge "
                        "mask exactly (sum, mean, softmax aggregation and GAT/GATv2/Transformer attention can); "
                        "use a boolean mask")
        self.mask = mask
        return self

    # --- hooks --------------------------------------------------------------------------
    def attach(self) -> EdgeMask:
        """Register the hooks (idempotent); refuses layer settings a mask cannot follow."""
        if self._handles:
            return self
        for name, layer in self.layers:
            _check_layer(name, layer)
        for name, layer in self.layers:
            kind = self.families[name]
            pre = _PreHook(self, name, layer, kind, self.signatures[name])
            self._handles.append(layer.register_forward_pre_hook(pre, with_kwargs=True))
            self._handles.append(layer.register_forward_hook(pre.after, always_call=True))
            if kind == "attention":
                self._handles.append(layer.register_message_forward_pre_hook(pre.attention))
            elif kind == "transformer":
                self._handles.append(layer.register_message_forward_hook(pre.transformer))
            elif kind in ("sum", "mean"):
                self._handles.append(layer.register_message_forward_hook(pre.scale_messages))
                if kind == "mean":
                    self._handles.append(layer.register_aggregate_forward_hook(pre.mean))
            elif kind == "softmax":
                self._handles.append(layer.aggr_module.register_forward_hook(pre.softmax, with_kwargs=True))
        return self

    def detach(self) -> EdgeMask:
        """Remove the hooks; the model runs unmasked again."""
        for handle in self._handles:
            handle.remove()
        self._handles, self._state = [], {}
        return self

    def __enter__(self) -> EdgeMask:
        return self.attach()

    def __exit__(self, *exc: Any) -> None:
        self.detach()

    def _check_fingerprint(self, edge_index: Tensor, num_nodes: int) -> None:
        from graphlottery.graph import fingerprint

        key = (edge_index.data_ptr(), tuple(edge_index.shape), edge_index._version, num_nodes)
        if key == self._checked:
            return
        if fingerprint(edge_index, num_nodes) != self.fingerprint:
            raise EdgeMaskError(f"the model was called with an edge_index ({edge_index.size(1)} columns, "
                                f"{num_nodes} nodes) other than the one the mask was built for (fingerprint "
                                f"{self.fingerprint}): another graph, or the same edges in another order")
        self._checked = key


def edge_mask(model: nn.Module, mask: Any, edge_ids: Tensor | None = None) -> EdgeMask:
    """A context manager that shows every message-passing layer of ``model`` the edge mask:

    ``with edge_mask(model, mask): out = model(x, edge_index)``.

    ``mask`` is a ``[E]`` tensor (bool: hard, float: soft) or a
    :class:`~graphlottery.graph.MaskedGraph` (its soft view while it has scores, else its hard
    mask, checked against its ``edge_index`` by fingerprint); with ``edge_ids`` (e.g. a
    ``NeighborLoader`` batch's ``e_id``), the mask of those columns of the graph only.
    """
    from graphlottery.graph import MaskedGraph

    if isinstance(mask, MaskedGraph):
        graph = mask
        units = None if edge_ids is None else graph.edge_unit[edge_ids.to(graph.edge_unit.device)]
        values = graph.edge_weight(units) if graph.score is not None else graph.edge_mask(units)
        return EdgeMask(model, values, None if edge_ids is not None else graph.fingerprint)
    if edge_ids is not None:
        mask = mask[edge_ids]
    return EdgeMask(model, mask)


# --- layers -------------------------------------------------------------------------------
def _mask_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules a mask reaches: PyG ``MessagePassing`` layers and this library's modules
    that take it as ``edge_weight`` (their submodules are theirs)."""
    found: list[tuple[str, nn.Module]] = []

    def visit(prefix: str, module: nn.Module) -> None:
        if getattr(module, NATIVE, False) or isinstance(module, MessagePassing):
            found.append((prefix or type(module).__name__, module))
            return
        for name, child in module.named_children():
            visit(f"{prefix}.{name}" if prefix else name, child)

    visit("", model)
    return found


def _check_layer(name: str, layer: nn.Module) -> None:
    label = f"layer {name!r} ({type(layer).__name__})"
    if getattr(layer, "cached", False):
        raise EdgeMaskError(f"{label} has cached=True: it would reuse the normalisation of its first call and "
                            "ignore later masks; build it with cached=False")
    if getattr(layer, "decomposed_layers", 1) > 1:
        raise EdgeMaskError(f"{label} has decomposed_layers > 1, whose messages skip the mask; set it to 1")


def _targets(x: Any, fallback: Tensor) -> int:
    """Number of target nodes of a layer called with ``x`` (a tensor or a ``(src, dst)`` pair)."""
    if isinstance(x, (tuple, list)):
        x = x[1] if x[1] is not None else x[0]
    if isinstance(x, Tensor):
        return x.size(0)
    return int(fallback.max()) + 1 if fallback.numel() else 0


class _PreHook:
    """The hooks of one layer: the forward pre-hook checks and applies the mask (compaction,
    ``edge_weight``, or the per-call state the message / aggregation hooks read)."""

    def __init__(self, owner: EdgeMask, name: str, layer: nn.Module, kind: str, signature: inspect.Signature):
        self.owner, self.name, self.layer, self.kind, self.signature = owner, name, layer, kind, signature

    @property
    def label(self) -> str:
        return f"layer {self.name!r} ({type(self.layer).__name__})"

    def __call__(self, layer: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        mask = self.owner.mask
        if mask is None:
            return None
        bound = self.signature.bind(*args, **kwargs)
        values = bound.arguments
        edge_index = values.get("edge_index")
        num_edges = self._num_edges(edge_index)
        if mask.numel() != num_edges:
            raise EdgeMaskError(f"{self.label} was called with {num_edges} edges but the edge mask has "
                                f"{mask.numel()} values (one per column of the edge_index the model is called with)")
        mask = mask.to(edge_index.device if isinstance(edge_index, Tensor) else mask.device)
        self.owner.calls[self.name] = self.owner.calls.get(self.name, 0) + 1
        if self.owner.fingerprint is not None and isinstance(edge_index, Tensor):
            self.owner._check_fingerprint(edge_index, _targets(values.get("x"), edge_index))
        if self.kind == "native":
            weight = values.get("edge_weight")
            mask = mask.to(weight.dtype) if isinstance(weight, Tensor) else mask
            if mask.dtype == torch.bool:
                mask = mask.float()
            values["edge_weight"] = mask if weight is None else weight * mask
            return bound.args, bound.kwargs
        if mask.dtype == torch.bool:  # hard: the layer sees the kept columns only
            for key in EDGE_ARGS:
                value = values.get(key)
                if isinstance(value, Tensor) and value.size(0) == num_edges:
                    values[key] = value[mask]
            values["edge_index"] = edge_index[:, mask]
            return bound.args, bound.kwargs
        mask = mask.clamp_min(0.0)  # a soft score below 0 weighs its edge 0 (a negative degree has no root)
        if self.kind == "edge_weight":
            if getattr(layer, "add_self_loops", False) is True:  # its loops are its own: never masked
                mask = torch.where(edge_index[0] == edge_index[1], mask.new_ones(()), mask)
            weight = values.get("edge_weight")
            values["edge_weight"] = mask if weight is None else weight * mask
            return bound.args, bound.kwargs
        self._prepare(layer, edge_index, mask, values.get("x"))
        return None

    def _num_edges(self, edge_index: Any) -> int:
        if isinstance(edge_index, Tensor) and not is_sparse(edge_index):
            from torch_geometric import EdgeIndex

            if isinstance(edge_index, EdgeIndex) and edge_index.is_sorted_by_col:
                raise EdgeMaskError(f"{self.label} got an EdgeIndex sorted by column, whose fused path skips the "
                                    "messages a mask acts on; pass a plain edge_index tensor")
            if edge_index.dim() != 2 or edge_index.size(0) != 2:
                raise EdgeMaskError(f"{self.label}: edge_index must be [2, E], got {tuple(edge_index.shape)}")
            return edge_index.size(1)
        num_edges = getattr(edge_index, "num_edges", None)  # this library's Adjacency
        if self.kind == "native" and isinstance(num_edges, int):
            return num_edges
        raise EdgeMaskError(f"{self.label} got a {type(edge_index).__name__} as edge_index (e.g. a SparseTensor), "
                            "whose fused path skips the messages a mask acts on; pass an edge_index tensor [2, E]")

    def _prepare(self, layer: MessagePassing, edge_index: Tensor, mask: Tensor, x: Any) -> None:
        """State for the message / aggregation hooks: the mask over the layer's own message
        columns (existing self-loops dropped and one unmasked loop per node appended when the
        layer adds self-loops) and their target nodes."""
        target = edge_index[1 if layer.flow == "source_to_target" else 0]
        dim_size = _targets(x, target)
        if getattr(layer, "add_self_loops", False) is True:
            keep = edge_index[0] != edge_index[1]
            loops = torch.arange(dim_size, device=target.device)
            target = torch.cat([target[keep], loops])
            mask = torch.cat([mask[keep], mask.new_ones(dim_size)])
        call = _Call(mask, target, dim_size)
        if self.kind in ("attention", "transformer"):  # dropout moves after the mask (same random draws)
            call.dropout, layer.dropout = layer.dropout, 0.0
        self.owner._state[id(layer)] = call

    def after(self, layer: nn.Module, args: tuple, output: Any) -> None:
        call = self.owner._state.pop(id(layer), None)
        if call is not None and self.kind in ("attention", "transformer"):
            layer.dropout = call.dropout

    def _call(self, layer: nn.Module, count: int) -> _Call:
        call = self.owner._state[id(layer)]
        if call.mask.numel() != count:
            raise EdgeMaskError(f"{self.label} passes {count} messages for {call.mask.numel()} masked edges: it "
                                "changes its edges in a way the mask cannot follow; use a boolean mask")
        return call

    def _view(self, layer: MessagePassing, mask: Tensor, like: Tensor) -> Tensor:
        shape = [1] * like.dim()
        shape[layer.node_dim] = -1
        return mask.view(shape).to(like.dtype)

    # message / aggregation hooks (soft masks only: hard masks were compacted)
    def attention(self, layer: MessagePassing, inputs: tuple) -> dict | None:
        if id(layer) not in self.owner._state:
            return None
        kwargs = dict(inputs[0])
        alpha = kwargs["alpha"]
        call = self._call(layer, alpha.size(0))
        alpha = renormalise(alpha, call.mask, call.index, call.dim_size)
        kwargs["alpha"] = F.dropout(alpha, call.dropout, layer.training)
        return kwargs

    def transformer(self, layer: MessagePassing, inputs: tuple, out: Tensor) -> Tensor | None:
        if id(layer) not in self.owner._state:
            return None
        alpha = layer._alpha  # the softmax TransformerConv.message just computed (before dropout)
        call = self._call(layer, alpha.size(0))
        scale = _renormaliser(alpha, call.mask, call.index, call.dim_size)  # out = alpha * value
        layer._alpha = alpha * scale
        return out * F.dropout(scale, call.dropout, layer.training).unsqueeze(-1)

    def scale_messages(self, layer: MessagePassing, inputs: tuple, out: Tensor) -> Tensor | None:
        if id(layer) not in self.owner._state:
            return None
        call = self._call(layer, out.size(layer.node_dim))
        return out * self._view(layer, call.mask, out)

    def mean(self, layer: MessagePassing, inputs: tuple, out: Tensor) -> Tensor | None:
        call = self.owner._state.get(id(layer))
        if call is None:
            return None
        count = scatter(torch.ones_like(call.mask), call.index, 0, call.dim_size, "sum")
        total = scatter(call.mask, call.index, 0, call.dim_size, "sum")
        factor = torch.where(total > 0, count / total.clamp_min(torch.finfo(total.dtype).tiny), 0.0)
        return out * self._view(layer, factor, out)

    def softmax(self, aggr: SoftmaxAggregation, args: tuple, kwargs: dict, out: Tensor) -> Tensor | None:
        layer = self.layer
        call = self.owner._state.get(id(layer))
        if call is None:
            return None
        x = args[0]
        index = args[1] if len(args) > 1 else kwargs.get("index")
        dim = kwargs.get("dim", -2)
        call = self._call(layer, x.size(dim))
        t = aggr.t
        if isinstance(t, Tensor) and aggr.channels != 1:
            t = t.view(-1, aggr.channels)
        logits = x if (not isinstance(t, Tensor) and t == 1) else x * t
        if not aggr.learn and aggr.semi_grad:
            with torch.no_grad():
                alpha = softmax(logits, index, None, call.dim_size, dim)
        else:
            alpha = softmax(logits, index, None, call.dim_size, dim)
        alpha = renormalise(alpha, call.mask, call.index, call.dim_size)
        return scatter(x * alpha, index, dim, call.dim_size, "sum")

