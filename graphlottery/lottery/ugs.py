"""Unified GNN Sparsification: jointly learn edge and weight masks, prune, rewind, retrain.

One round (:meth:`UGS.step`):

1. rewind the weights to the initialisation and start soft masks at the current hard
   masks times ``1 + U(-noise, noise)``;
2. train weights and both masks with Adam, adding the L1 sub-gradients ``s1 * sign(m_g)``
   and ``s2 * sign(m_theta)`` to the mask gradients before each step;
3. keep the mask scores of the best-validation epoch and prune exactly ``p_g`` of the
   remaining edges and ``p_theta`` of the remaining weights (global across layers, lowest
   ``|score|``);
4. rewind again and retrain with the masks fixed; report the test metric at the
   best-validation epoch.

Every phase reseeds torch from ``(seed, round, phase)``, so a run resumed from a saved
ticket continues exactly as an uninterrupted one would.

What an epoch trains on is a hook: :class:`UGS` takes one full-batch step per epoch on the
compacted graph; :class:`~graphlottery.lottery.minibatch.MiniBatchUGS` takes one step per
sampled subgraph, each reading its edges' scores from the one global mask, and
:class:`~graphlottery.lottery.distributed.DistributedUGS` sums the gradients of those steps
over processes. Pruning, the L1 sub-gradients, rewinding and tickets are shared.
"""
from __future__ import annotations

import contextlib
import inspect
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import subgraph
from tqdm.auto import trange

from graphlottery.edge_hooks import EdgeMask, EdgeMaskError
from graphlottery.graph import MaskedGraph
from graphlottery.lottery import pieces
from graphlottery.lottery.ticket import Ticket
from graphlottery.masks import (
    EarlyBird,
    WeightMasks,
    inference_macs,
    maskable_weights,
    prune_lowest,
    prune_lowest_layerwise,
    random_scores,
    unit_endpoints,
)
from graphlottery.masks.scorer import dense_float
from graphlottery.nn.base import MessagePassingStack
from graphlottery.sparse import Adjacency, gather_rows, sparse_features
from graphlottery.tasks import NodeClassification

SPARSE_FEATURES_BELOW = 0.25  # density under which features are stored as sparse CSR


def derived_seed(seed: int, round_: int, phase: int) -> int:
    """A seed per (run seed, round, phase), independent of what ran before."""
    return (seed * 1_000_003 + round_ * 1_009 + phase) % (2**31 - 1)


def prepare_features(x: Tensor, sparse_ok: bool, full_batch: bool = True) -> Tensor:
    """Features for a model. Sparse CSR input (e.g. one-hot node ids) stays sparse if the model
    takes it (``sparse_ok``), else is densified. ``full_batch``: the model multiplies all of ``x``
    at once, so mostly-zero dense features become sparse CSR and CSR carries its transpose for the
    weight gradient (:func:`~graphlottery.sparse.sparse_features`); mini-batches gather rows
    instead and take ``x`` as it is."""
    if x.layout == torch.sparse_csr:
        if not sparse_ok:
            return x.to_dense()
        return sparse_features(x) if full_batch else x
    if sparse_ok and full_batch and x.dim() == 2 and x.is_floating_point():
        if float((x != 0).float().mean()) < SPARSE_FEATURES_BELOW:
            return sparse_features(x)
    return x


def _masked_weights(model: nn.Module, dense_layers: Sequence[str]) -> list[str]:
    """The model's maskable weights outside the modules named (as prefixes) in ``dense_layers``."""
    names = maskable_weights(model)

    def inside(name: str, layer: str) -> bool:
        return name == layer or name.startswith(layer + ".")

    unknown = [layer for layer in dense_layers if not any(inside(n, layer) for n in names)]
    if unknown:
        raise ValueError(f"dense_layers {unknown} name no maskable weight of {type(model).__name__} "
                         f"(its maskable weights: {names})")
    kept = [n for n in names if not any(inside(n, layer) for layer in dense_layers)]
    if not kept:
        raise ValueError(f"dense_layers {list(dense_layers)} leave {type(model).__name__} no weight to prune")
    return kept


class UGS:
    """Graph lottery ticket search on one graph with one model, full batch.

    Args:
        model: any GNN called as ``model(x, edge_index)`` whose message passing is PyG
            ``MessagePassing`` layers or this library's models (which also take an
            :class:`~graphlottery.sparse.Adjacency` in place of ``edge_index``). The edge mask
            reaches every layer through :class:`~graphlottery.edge_hooks.EdgeMask`, never through
            an argument; what ``data`` carries is passed by name when ``forward`` takes it
            (``edge_weight``, which the mask multiplies, and ``edge_attr``, both sliced to the edges a
            phase propagates over, and ``batch``). Built, UGS runs one forward and backward on a
            piece of the graph and refuses a model a soft mask cannot reach in every layer.
        data: the graph (``x``, ``edge_index`` and whatever ``task`` needs).
        task: loss and metric; default :class:`~graphlottery.tasks.NodeClassification`.
        directed: prune each direction of an undirected edge on its own (original UGS).
        lr, weight_decay: Adam settings, for mask search and retraining.
        s1, s2: L1 sub-gradient strengths on the graph and weight masks.
        mask_epochs, retrain_epochs: epochs of mask search and of retraining per round.
        prune_graph, prune_weight: fractions of the remaining edges / weights pruned per round.
        mask_weight_decay: let weight decay shrink the masks too (original UGS).
        mask_noise: relative noise on the soft masks at the start of a search.
        l1: ``"coupled"`` (UGS): ``s * sign(m)`` is added to the mask gradients before the Adam
            step, so Adam normalises it and every mask without task signal shrinks at exactly
            ``lr`` per step; ``"decoupled"``: the step ``lr * s * sign(m)`` is applied after
            Adam's (as AdamW decouples weight decay), so masks move by their task gradient and
            the L1 term only breaks ties.
        early_bird: ``(window, threshold)`` to end each mask search early (graph early-bird
            tickets): after every epoch the graph and weight masks the current scores would give
            are compared with those of the last ``window - 1`` epochs, and once both distances
            (relative to the pruned entries, see :func:`~graphlottery.masks.mask_distance`) stay
            below ``threshold`` the search stops with those scores.
        edge_groups: group id of every ``edge_index`` column (``[E]``; e.g. the graph of every
            edge of a graph union, ``data.batch[data.edge_index[0]]``): the graph pruning then
            removes ``prune_graph`` of each group's remaining edges. Without it, pruning is global,
            and edges that get no task gradient (those of validation and test graphs) shrink under
            the L1 term alone and go first.
        edge_scorer: score edges with this module (``scorer(features, pairs) -> [P]`` positive
            scores, with ``reset_parameters()``; e.g. :class:`~graphlottery.masks.EdgeScorer`) instead of
            one free score per edge: it is reset at the start of every search and trained with the
            masks (with weight decay if ``mask_weight_decay``), and the scores it gives at the
            best-validation epoch are pruned on, ties (edges alike to the scorer) broken by the
            ``mask_noise`` draw. Scores of unseen edges then follow the rule learnt on the training
            edges (graph classification: the free scores of the training graphs' edges memorise
            their labels). The L1 term ``s1`` does not apply to it (it would lower every score
            together). Full batch only.
        scorer_features: what ``edge_scorer`` reads per node, ``[N, F']`` (default ``data.x``;
            e.g. :func:`~graphlottery.masks.context_features` adds each node's neighbourhood).
        dense_layers: module names (prefixes, e.g. ``["readout"]``) whose weights get no mask and
            are never pruned: a small classifier head pruned globally with the rest can lose
            every weight and leave a model that predicts one class.
        seed: the run's seed (model initialisation is the caller's).
        device: ``"cpu"``, ``"cuda"``, ...
        progress: show tqdm bars over epochs.
    """

    full_batch_features = True  # the model multiplies all of x at once (see prepare_features)
    fused_adam = False  # the mask search's Adam as one fused kernel (faster, rounds differently)

    def __init__(
        self,
        model: nn.Module,
        data: Data,
        task: Any | None = None,
        *,
        directed: bool = False,
        lr: float = 0.01,
        weight_decay: float = 5e-4,
        s1: float = 1e-2,
        s2: float = 1e-2,
        mask_epochs: int = 200,
        retrain_epochs: int = 200,
        prune_graph: float = 0.05,
        prune_weight: float = 0.2,
        mask_weight_decay: bool = False,
        mask_noise: float = 1e-5,
        l1: str = "coupled",
        early_bird: tuple[int, float] | None = None,
        edge_groups: Tensor | None = None,
        edge_scorer: nn.Module | None = None,
        scorer_features: Tensor | None = None,
        dense_layers: Sequence[str] = (),
        seed: int = 0,
        device: str | torch.device = "cpu",
        progress: bool = False,
    ):
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.graph = MaskedGraph(data, directed=directed).to(self.device)
        WeightMasks.detach_all(model)  # e.g. a previous UGS on the same model
        self.masks = WeightMasks(model, _masked_weights(model, dense_layers)).to(self.device).attach()
        self.task = (task if task is not None else NodeClassification(data)).to(self.device)
        self.native = isinstance(model, MessagePassingStack)
        try:  # shows every message-passing layer the mask (see _call)
            self.hooks: EdgeMask | None = EdgeMask(model)
        except EdgeMaskError:
            if prune_graph > 0:
                raise
            self.hooks = None  # e.g. an MLP whose weights alone are pruned
        params = inspect.signature(model.forward).parameters
        self._edge_data = {k: data[k].to(self.device) for k in ("edge_weight", "edge_attr")
                           if k in params and isinstance(data.get(k), Tensor)}
        if self._edge_data and getattr(self.task, "test_input", None) is not None:
            raise ValueError(f"the task adds test edges to message passing, which have no {sorted(self._edge_data)}")
        self._node_data = {k: data[k].to(self.device) for k in ("batch",)
                           if k in params and isinstance(data.get(k), Tensor)}
        self.x = prepare_features(data.x.to(self.device), self.native, self.full_batch_features)
        self.lr, self.weight_decay, self.s1, self.s2 = lr, weight_decay, s1, s2
        self.mask_epochs, self.retrain_epochs = mask_epochs, retrain_epochs
        self.prune_graph, self.prune_weight = prune_graph, prune_weight
        self.mask_weight_decay, self.mask_noise = mask_weight_decay, mask_noise
        if l1 not in ("coupled", "decoupled"):
            raise ValueError(f"l1 must be 'coupled' or 'decoupled', got {l1!r}")
        self.l1 = l1
        if early_bird is not None:
            EarlyBird(*early_bird)  # checks window and threshold
        self.early_bird = early_bird
        self.unit_groups = None if edge_groups is None else self._unit_groups(edge_groups)
        self.edge_scorer = None if edge_scorer is None else edge_scorer.to(self.device)
        if edge_scorer is not None:  # the scorer reads dense features at each unit's endpoints
            if not callable(getattr(edge_scorer, "reset_parameters", None)):
                raise ValueError(f"edge_scorer {type(edge_scorer).__name__} needs reset_parameters(): UGS resets it "
                                 "at the start of every mask search")
            features = data.x if scorer_features is None else scorer_features
            if features is None or features.dim() != 2 or features.size(0) != self.graph.num_nodes:
                raise ValueError(f"edge_scorer scores edges from node features: scorer_features (default data.x) "
                                 f"must be [{self.graph.num_nodes}, F], got "
                                 f"{None if features is None else tuple(features.shape)}")
            features = dense_float(features)
            if not bool(torch.isfinite(features).all()):
                raise ValueError("scorer_features contain NaN or inf")
            self._scorer_features = features.to(self.device)
            self._unit_pairs = unit_endpoints(self.graph.data.edge_index, self.graph.edge_unit, self.graph.num_units)
            # drawn per search: the kept units, their endpoints and tie-break factors 1 + U(-noise, noise)
            self._search_units: tuple[Tensor, Tensor, Tensor] | None = None
        elif scorer_features is not None:
            raise ValueError("scorer_features are what an edge_scorer reads; pass edge_scorer too")
        self.seed, self.progress = seed, progress
        if prune_graph > 0:
            self._check_edge_mask()
        self.rewind_state = pieces.rewind_point(model)
        self.round = 0
        self.search_result: dict[str, float] = {}  # best validation score and epoch of the last search
        self._kept: Tensor | None = None  # boolean [E]: the columns of the graph a phase propagates over
        # what a sparsifier adds to training (see extend): loss terms on the full-batch output, transforms of the
        # soft mask values the model sees, calls after every optimiser step
        self.loss_terms: list[Callable[[Tensor], Tensor]] = []
        self.mask_transforms: list[Callable[[Tensor, Tensor], Tensor]] = []
        self.after_step: list[Callable[[], None]] = []
        self.on_best: list[Callable[[], None]] = []
        self.best_output: Tensor | None = None  # the model's output at the best-validation epoch of retrain()
        self._last_output: Tensor | None = None

    @contextlib.contextmanager
    def extend(self, loss: Callable[[Tensor], Tensor] | None = None,
               transform: Callable[[Tensor, Tensor], Tensor] | None = None,
               after_step: Callable[[], None] | None = None,
               on_best: Callable[[], None] | None = None,
               weight_transform: Callable[[str, Tensor, Tensor], Tensor] | None = None) -> Iterator[None]:
        """Within the block, add ``loss(out)`` to every full-batch loss, show the model
        ``transform(values, units)`` instead of the soft mask values of the edges with these unit
        ids (self-loops: ``graph.num_units``; the gradient still reaches the scores), show every
        masked module ``weight * weight_transform(name, weight, mask)`` instead of ``weight * mask``
        (``name``: the parameter's qualified name, ``mask``: its effective mask, soft or hard; see
        :attr:`~graphlottery.masks.WeightMasks.transforms`), call ``after_step()`` after every
        optimiser step and ``on_best()`` when a retraining epoch is the best on validation so far:
        how a :class:`~graphlottery.sparsifiers.Sparsifier` changes training without owning the
        loop. Both transforms act in training forwards only (evaluation sees the masks as they are)."""
        if (loss is not None or transform is not None) and not self.full_batch_features:
            raise ValueError(f"{type(self).__name__} trains on sampled subgraphs; a loss over the whole graph's "
                             "output or a mask transform needs full-batch training (remove batch_size / num_parts)")
        in_training = None if weight_transform is None else self._in_training(weight_transform)
        added = [(hooks, hook) for hooks, hook in ((self.loss_terms, loss), (self.mask_transforms, transform),
                                                   (self.after_step, after_step), (self.on_best, on_best),
                                                   (self.masks.transforms, in_training))
                 if hook is not None]
        for hooks, hook in added:
            hooks.append(hook)
        try:
            yield
        finally:
            for hooks, hook in added:
                hooks.remove(hook)

    def _in_training(self, weight_transform: Callable[[str, Tensor, Tensor], Tensor]
                     ) -> Callable[[str, Tensor, Tensor], Tensor]:
        """``weight_transform`` in training forwards, the mask unchanged in evaluation."""
        def transform(name: str, weight: Tensor, mask: Tensor) -> Tensor:
            return weight_transform(name, weight, mask) if self.model.training else mask
        return transform

    # --- calling the model -----------------------------------------------------------------
    def _call(self, x: Tensor, graph_input: Tensor | Adjacency, mask: Tensor | None,
              columns: Tensor | None = None, nodes: Tensor | None = None) -> Tensor:
        """``model(x, graph_input, **data)`` with ``mask`` (``[E']``, or ``None``: the edges are
        kept) on every message-passing layer; ``columns`` (indices or a boolean mask over
        ``data.edge_index``) and ``nodes`` select the edge and node data of the graph passed."""
        extras = {k: v if columns is None else v[columns] for k, v in self._edge_data.items()}
        extras.update({k: v if nodes is None else v[nodes] for k, v in self._node_data.items()})
        if mask is None or self.hooks is None:
            return self.model(x, graph_input, **extras)
        with self.hooks.set(mask):
            return self.model(x, graph_input, **extras)

    def _check_edge_mask(self) -> None:
        """One forward and backward with a soft mask on the subgraph induced by the endpoints of
        the first 1000 edges: every message-passing layer must see the mask, and the output must
        depend on it. Raises :class:`~graphlottery.edge_hooks.EdgeMaskError` naming the layer."""
        edge_index = self.graph.data.edge_index
        if edge_index.size(1) == 0 or self.edge_scorer is not None:
            return
        nodes = edge_index[:, :1000].reshape(-1).unique()
        sub, _, columns = subgraph(nodes, edge_index, relabel_nodes=True, num_nodes=self.graph.num_nodes,
                                   return_edge_mask=True)
        mask = torch.ones(sub.size(1), device=self.device, requires_grad=True)
        was_training = self.model.training
        self.model.eval()  # no running statistics move
        self.hooks.calls.clear()
        try:
            graph_input = Adjacency(sub, nodes.numel()) if self.native else sub
            out = self._call(gather_rows(self.x, nodes), graph_input, mask, columns, nodes)
            out.float().sum().backward()
        finally:
            self.model.train(was_training)
            self.model.zero_grad(set_to_none=True)
        unreached = [name for name, _ in self.hooks.layers if not self.hooks.calls.get(name)]
        if unreached:
            raise EdgeMaskError(f"layer {unreached[0]!r} of {type(self.model).__name__} is never called with the "
                                "edge_index the model gets, so the edge mask cannot reach it; call every "
                                "message-passing layer on that edge_index, or prune_graph=0")
        loops = sub[0] == sub[1]  # layers that add their own self-loops ignore the mask there
        if bool((~loops).any()) and (mask.grad is None or not bool(mask.grad[~loops].ne(0).any())):
            raise EdgeMaskError(f"the output of {type(self.model).__name__} does not depend on the edge mask (its "
                                "forward detaches or drops the messages), so the graph mask cannot be learnt; "
                                "or prune_graph=0")

    # --- helpers --------------------------------------------------------------------------
    def _graph_input(self, edge_index: Tensor) -> Tensor | Adjacency:
        return Adjacency(edge_index, self.graph.num_nodes) if self.native else edge_index

    def _epochs(self, n: int, what: str):
        return trange(n, desc=f"round {self.round} {what}", leave=False, disable=not self.progress)

    def _seed(self, phase: int) -> None:
        """Reseed torch for a phase of the current round."""
        torch.manual_seed(derived_seed(self.seed, self.round, phase))

    def _edge_weight(self, units: Tensor) -> Tensor | None:
        """Mask values of the edges with these unit ids while the mask is soft, else ``None``
        (a phase propagates over kept edges only, whose hard value is 1). With an edge scorer the
        scores are computed now, and ``graph.score`` is refreshed to mirror them."""
        if self.graph.score is None:
            return None
        if self.edge_scorer is None:
            values = self.graph.edge_weight(units)
            for transform in self.mask_transforms if self.model.training else ():
                values = transform(values, units)
            return values
        kept, pairs, tiebreak = self._search_units  # pruned edges need no score
        scores = self.edge_scorer(self._scorer_features, pairs)
        self.graph.score.data.zero_().index_copy_(0, kept, scores.detach() * tiebreak)  # ties: random order
        values = torch.cat([scores.new_zeros(self.graph.num_units).index_copy(0, kept, scores),
                            scores.new_ones(1)])  # the last: self-loops
        return values[units]

    # --- what an epoch runs on (hooks: MiniBatchUGS samples subgraphs instead) -------------
    def _view(self) -> Any:
        """What a phase's epochs run on: the model's input for the kept edges, their unit ids,
        and the input for scoring test pairs when the task adds edges there (else ``None``)."""
        edge_index, units = self.graph.kept_edges()
        self._kept = self.graph.edge_mask() if self._edge_data else None  # the columns edge data follow
        extra = getattr(self.task, "test_input", None)
        test_input = None if extra is None else self._graph_input(torch.cat([edge_index, extra], 1))
        return self._graph_input(edge_index), units, test_input

    def _losses(self, view: Any) -> Iterator[Tensor]:
        """The losses of one epoch's optimisation steps, in order (full batch: one)."""
        graph_input, units, _ = view
        out = self._call(self.x, graph_input, self._edge_weight(units), self._kept)
        loss = self.task.loss(out)
        for term in self.loss_terms:
            loss = loss + term(out)
        yield loss

    def _reduce_gradients(self, params: list[Tensor]) -> None:
        """Combine the gradients of ``params`` across processes (one process: nothing to do)."""

    def _evaluate(self, view: Any) -> tuple[float, float]:
        """``(val, test)`` of the model with the current masks; test pairs are scored with the
        task's ``test_input`` edges (unmasked) added to message passing when it has them."""
        graph_input, units, test_input = view
        self.model.eval()
        with torch.no_grad():
            weight = self._edge_weight(units)
            out = self._call(self.x, graph_input, weight, self._kept)
            self._last_output = out
            if test_input is None:
                return self.task.evaluate(out)
            if weight is not None:
                weight = torch.cat([weight, weight.new_ones(self.task.test_input.size(1))])
            return self.task.evaluate(out, self._call(self.x, test_input, weight))

    def _fit_epoch(self, optimizer: torch.optim.Optimizer, view: Any,
                   scores: tuple[Tensor, list[Tensor]] | None = None, check: bool = False,
                   steps: int | None = None) -> None:
        """One epoch of steps (only the first ``steps`` if given). With ``scores`` (the soft graph
        and weight masks) the L1 sub-gradients are applied as ``self.l1`` says; ``check``: verify
        that the masks get gradients."""
        self.model.train()
        params = [p for group in optimizer.param_groups for p in group["params"]]
        for loss in itertools.islice(self._losses(view), steps):
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if check and scores is not None:
                self._check_mask_gradients(*scores)
                check = False
            self._reduce_gradients(params)
            graph_l1 = self.edge_scorer is None  # a scorer's scores take no L1 step (clarity: no grad anyway)
            lr = None if self.l1 == "coupled" else self.lr  # coupled: on the gradients, before the step
            if scores is not None and lr is None:
                if graph_l1:
                    pieces.l1_step(scores[0], self.s1)
                pieces.l1_step(scores[1], self.s2)
            optimizer.step()
            if scores is not None and lr is not None:
                if graph_l1:
                    pieces.l1_step(scores[0], self.s1, lr)
                pieces.l1_step(scores[1], self.s2, lr)
            for hook in self.after_step:
                hook()

    def _check_mask_gradients(self, edge_score: Tensor, weight_scores: list[Tensor]) -> None:
        if self.edge_scorer is not None:
            learnt = any(p.grad is not None for p in self.edge_scorer.parameters())
        else:
            learnt = edge_score.grad is not None
        if edge_score.numel() and not learnt:
            raise ValueError(
                f"the graph mask of {type(self.model).__name__} gets no gradient (its output does not depend on "
                "the edge mask), so it cannot be learnt; or prune_graph=0"
            )
        unused = [n for n, s in zip(self.masks.names, weight_scores) if s.grad is None]
        if unused:
            raise ValueError(f"weights {unused} are not used in the forward pass, so their masks cannot be learnt")

    # --- the three phases -------------------------------------------------------------------
    def start_search(self) -> tuple[Tensor, list[Tensor], torch.optim.Optimizer]:
        """Reseed, rewind, draw the soft graph and weight masks and build Adam over weights and
        masks: the state a mask search starts from (its first epoch: :meth:`search_masks`)."""
        self._seed(1)
        pieces.rewind(self.model, self.rewind_state)
        generator = torch.Generator().manual_seed(derived_seed(self.seed, self.round, 2))
        edge_score, *weight_scores = pieces.soft_masks(self.graph, self.masks, self.mask_noise, generator)
        graph_params = [edge_score]
        if self.edge_scorer is not None:  # trained instead of the free scores, which mirror it
            self.edge_scorer.reset_parameters()
            kept = self.graph.keep.nonzero().view(-1)
            self._search_units = (kept, self._unit_pairs[:, kept], edge_score.detach()[kept])  # 1 + noise
            edge_score.requires_grad_(False)
            graph_params = list(self.edge_scorer.parameters())
        optimizer = torch.optim.Adam(
            [
                {"params": list(self.model.parameters()), "weight_decay": self.weight_decay},
                {
                    "params": [*graph_params, *weight_scores],
                    "weight_decay": self.weight_decay if self.mask_weight_decay else 0.0,
                },
            ],
            lr=self.lr,
            fused=self.fused_adam or None,
        )
        return edge_score, weight_scores, optimizer

    def search_masks(self) -> tuple[Tensor, list[Tensor]]:
        """Train weights and soft masks from the rewind point; return the graph and weight
        mask scores of the best-validation epoch."""
        edge_score, weight_scores, optimizer = self.start_search()
        view = self._view()
        best, snapshot = -1.0, (edge_score.detach().clone(), [s.detach().clone() for s in weight_scores])
        bird = None if self.early_bird is None else EarlyBird(*self.early_bird, relative=True)
        for epoch in self._epochs(self.mask_epochs, "mask search"):
            self._fit_epoch(optimizer, view, (edge_score, weight_scores), check=epoch == 0)
            val, _ = self._evaluate(view)
            if val > best:
                best = val
                snapshot = (edge_score.detach().clone(), [s.detach().clone() for s in weight_scores])
                self.search_result = {"val": val, "epoch": epoch}
            if bird is not None and bird.update(*self._would_keep(edge_score, weight_scores)):
                snapshot = (edge_score.detach().clone(), [s.detach().clone() for s in weight_scores])
                self.search_result = {"val": val, "epoch": epoch, "early_bird": True}
                break
        self.graph.make_hard()
        self.masks.make_hard()
        return snapshot

    def _unit_groups(self, edge_groups: Tensor) -> Tensor:
        """Group id per prunable unit from one per ``edge_index`` column (both directions of an
        undirected edge must agree)."""
        edge_groups = edge_groups.to(self.device).long()
        if edge_groups.shape != self.graph.edge_unit.shape or bool((edge_groups < 0).any()):
            raise ValueError(f"edge_groups needs one non-negative id per edge_index column "
                             f"({self.graph.edge_unit.numel()}), got shape {tuple(edge_groups.shape)}")
        prunable = self.graph.edge_unit < self.graph.num_units
        units = self.graph.edge_unit[prunable]
        groups = torch.zeros(self.graph.num_units, dtype=torch.long, device=self.device)
        groups[units] = edge_groups[prunable]
        if not torch.equal(groups[units], edge_groups[prunable]):
            raise ValueError("edge_groups gives the two directions of an edge different groups")
        return groups

    def _would_keep(self, edge_score: Tensor, weight_scores: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        """The graph and weight masks that pruning with these scores would give now, over the
        entries still kept (so only this round's choice is compared)."""
        keep = [m for _, m in self.masks.items()]
        graph = pieces.graph_keep(self.graph, self.prune_graph, edge_score, self.unit_groups)[self.graph.keep]
        weights = prune_lowest(weight_scores, keep, self.prune_weight)
        return [graph], [w[k] for w, k in zip(weights, keep)]

    def prune(self, edge_scores: Tensor, weight_scores: list[Tensor], layerwise: bool = False) -> None:
        """Prune ``prune_graph`` of the remaining edges and ``prune_weight`` of the remaining weights."""
        pieces.prune_graph(self.graph, self.prune_graph, edge_scores, self.unit_groups)
        pieces.prune_weights(self.masks, self.prune_weight, weight_scores, layerwise)

    def retrain(self, phase: int = 3) -> dict[str, float]:
        """Rewind and train with the masks fixed on the compacted graph; return val/test at
        the best-validation epoch."""
        self._seed(phase)
        pieces.rewind(self.model, self.rewind_state)
        view = self._view()
        optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        best = {"val": -1.0, "test": 0.0, "epoch": 0}
        self._last_output = None
        for epoch in self._epochs(self.retrain_epochs, "retrain"):
            self._fit_epoch(optimizer, view)
            val, test = self._evaluate(view)
            if val > best["val"]:
                best = {"val": val, "test": test, "epoch": epoch}
                self.best_output = self._last_output
                for hook in self.on_best:
                    hook()
        return best

    # --- rounds -----------------------------------------------------------------------------
    def dense(self) -> dict[str, Any]:
        """Train with the current masks (round 0: none pruned) and return its record."""
        start = time.perf_counter()
        result = self.retrain()
        return self.record(result, time.perf_counter() - start)

    def step(self) -> dict[str, Any]:
        """One UGS round: search masks, prune, rewind, retrain. Returns the round's record."""
        self.round += 1
        start = time.perf_counter()
        self.prune(*self.search_masks())
        result = self.retrain()
        record = self.record(result, time.perf_counter() - start)
        record["search_val"], record["search_epoch"] = self.search_result["val"], self.search_result["epoch"]
        return record

    def random_baseline(self, graph_sparsity: float, weight_sparsity: float) -> dict[str, float]:
        """Retrain with random masks at the given sparsities (edges: exact count globally;
        weights: the same fraction in every layer), then restore the current masks."""
        saved_keep, saved_masks = self.graph.keep.clone(), self.masks.hard_dict()
        generator = torch.Generator().manual_seed(derived_seed(self.seed, self.round, 4))
        ones = [torch.ones_like(self.graph.keep)]
        self.graph.set_keep(prune_lowest(random_scores(ones, generator), ones, graph_sparsity)[0])
        full = [torch.ones_like(m) for _, m in self.masks.items()]
        scores = random_scores(full, generator)
        self.masks.set_hard(dict(zip(self.masks.names, prune_lowest_layerwise(scores, full, weight_sparsity))))
        start = time.perf_counter()
        try:
            result = self.retrain(phase=5)
        finally:
            self.graph.set_keep(saved_keep)
            self.masks.set_hard(saved_masks)
        result["seconds"] = time.perf_counter() - start
        return result

    def record(self, result: dict[str, float], seconds: float) -> dict[str, Any]:
        """The round's numbers: sparsities, metric, MACs, time, compacted inference time."""
        weights = [m for _, m in self.masks.items()]
        nnz = [int(m.count_nonzero()) for m in weights]
        src, dst = self.graph.kept_edges()[0]
        kept = int((src != dst).sum())
        widths = getattr(self.model, "propagation_widths", [])
        return {
            "round": self.round,
            "graph_sparsity": self.graph.sparsity,
            "weight_sparsity": 1.0 - sum(nnz) / sum(m.numel() for m in weights),
            "val": result["val"],
            "test": result["test"],
            "best_epoch": result["epoch"],
            "macs": inference_macs(self.graph.num_nodes, nnz, kept, widths),
            "seconds": seconds,
            "inference_ms": self.inference_ms(),
        }

    def inference_ms(self, repeats: int = 5) -> float:
        """Median wall time of one inference on the compacted graph, in milliseconds."""
        graph_input = self._graph_input(self.graph.kept_edges()[0])
        self._kept = self.graph.edge_mask() if self._edge_data else None
        self.model.eval()
        times = []
        with torch.no_grad():
            for _ in range(repeats + 1):
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                start = time.perf_counter()
                self._call(self.x, graph_input, None, self._kept)
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                times.append(time.perf_counter() - start)
        return 1000.0 * sorted(times[1:])[repeats // 2]

    # --- tickets ----------------------------------------------------------------------------
    def ticket(self, config: dict[str, Any] | None = None) -> Ticket:
        """The current masks with the rewind weights, seed, round and config."""
        return Ticket.capture(
            self.model, self.masks, self.rewind_state, self.graph, seed=self.seed, round=self.round, config=config or {}
        )

    def load_ticket(self, ticket: Ticket) -> None:
        """Continue from a saved ticket: its rewind weights, masks and round."""
        ticket.apply(self.model, self.masks, self.graph)
        self.rewind_state = {k: v.to(self.device) for k, v in ticket.rewind.items()}
        self.round = ticket.round

