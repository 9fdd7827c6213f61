"""Mini-batch UGS: one graph ticket for a graph that does not fit full-batch training.

Every optimisation step trains on the sampled neighbourhood of a batch of training nodes
(:class:`~graphlottery.sampling.NeighborSampler`), or for link prediction of the endpoints of a
batch of training edges and as many uniformly drawn node pairs; or, with ``num_parts`` (cluster
batches, for deep models whose sampled neighbourhoods would cover the graph), on the subgraph
induced by one part of a random partition of all nodes, with the loss of the training nodes in
it (DeeperGCN's ogbn-proteins recipe). A sampled edge with global id ``e`` reads
its mask value from the one global score vector of the
:class:`~graphlottery.graph.MaskedGraph`,

.. math::
    w_e = s_{u(e)} \\cdot \\mathrm{keep}_{u(e)}, \\qquad u(e) = \\texttt{edge\\_unit}[e],

so the two directions of an undirected edge share a score, its gradient is the sum over the
batches that sampled either direction, and pruning ranks all edges of the graph together,
exactly as in full-batch UGS. Everything else (L1 sub-gradients, the best-validation snapshot,
exact-count pruning, rewinding, retraining, tickets, seeding) is :class:`~graphlottery.lottery.ugs.UGS`'s.

The steps of an epoch split a shuffle of the training nodes (edges) into ``ceil(n / (B W))``
groups of ``W`` near-equal batches (``W``: processes, 1 here). The loss of a batch is its summed
cross-entropy divided by the size of its group, so the summed gradients of a group are the
gradient of the group's mean loss however it is split over processes (for link prediction:
full-batch :class:`~graphlottery.tasks.LinkPrediction`'s loss, the mean over positives plus the
mean over as many negatives).
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from graphlottery.lottery.ticket import Ticket, TicketError
from graphlottery.lottery.ugs import UGS, derived_seed
from graphlottery.sampling import NeighborSampler, SampledSubgraph, check_fanouts
from graphlottery.sparse import Adjacency, gather_rows
from graphlottery.tasks import LinkPrediction, NodeClassification


class MiniBatchUGS(UGS):
    """:class:`~graphlottery.lottery.ugs.UGS` on sampled subgraphs (node classification,
    single- or multi-label, or link prediction).

    Args:
        model, data, task: as for :class:`UGS`; ``task`` must be a
            :class:`~graphlottery.tasks.NodeClassification` (the default) or a
            :class:`~graphlottery.tasks.LinkPrediction`.
        batch_size: training nodes (link prediction: training edges) per step and process.
        num_parts: cluster batches instead (node classification): every epoch splits a random
            permutation of all nodes into ``num_parts`` parts (rounded up to a multiple of the
            number of processes), and a step trains on the subgraph each part induces;
            evaluation uses one fixed random partition the same way. ``batch_size`` and the
            fan-outs are then unused.
        num_neighbors: fan-out per layer for training, e.g. ``[15, 10, 5]``; ``-1``: all.
        eval_batch_size: evaluated nodes per inference batch (default: ``4 * batch_size``).
        eval_num_neighbors: fan-outs for evaluation; default all neighbours (exact inference
            on the kept graph, as full-batch evaluation).
        **kwargs: every other :class:`UGS` option (``lr``, ``s1``, ``prune_graph``, ``seed``, ...).

    An epoch takes ``ceil(n_train / (batch_size W))`` optimisation steps (``W`` processes;
    cluster batches: ``ceil(num_parts / W)``, less the groups of parts without training nodes),
    so the L1 sub-gradient is applied once per step; with ``batch_size >= n_train`` the search
    takes one step per epoch like full-batch UGS.
    """

    full_batch_features = False  # batches gather rows of x: dense stays dense, sparse CSR stays plain CSR
    fused_adam = True  # every step updates all edge scores: one fused pass instead of ten

    def __init__(
        self,
        model: nn.Module,
        data: Data,
        task: NodeClassification | LinkPrediction | None = None,
        *,
        batch_size: int = 1024,
        num_neighbors: Sequence[int] = (10, 10),
        eval_batch_size: int | None = None,
        eval_num_neighbors: Sequence[int] | None = None,
        num_parts: int | None = None,
        **kwargs: Any,
    ):
        if kwargs.get("edge_scorer") is not None:
            raise ValueError("MiniBatchUGS does not take an edge_scorer (it scores every edge at each step: full "
                             "batch only); use UGS, or graph_mask: free")
        super().__init__(model, data, task, **kwargs)
        self.link = isinstance(self.task, LinkPrediction)
        if not (self.link or isinstance(self.task, NodeClassification)):
            raise ValueError("mini-batch UGS trains node classification or link prediction; got a "
                             f"{type(self.task).__name__} task")
        if num_parts is not None and self.link:
            raise ValueError("cluster batches (num_parts) train node classification; link prediction samples "
                             "the neighbourhoods of batch_size training edges")
        self.num_parts = num_parts
        if batch_size < 1 or (eval_batch_size is not None and eval_batch_size < 1):
            raise ValueError(f"batch sizes must be >= 1, got {batch_size} and {eval_batch_size}")
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size or 4 * batch_size)
        self.num_neighbors = check_fanouts(num_neighbors)
        fanouts = [-1] * len(self.num_neighbors) if eval_num_neighbors is None else eval_num_neighbors
        self.eval_num_neighbors = check_fanouts(fanouts, "eval_num_neighbors")
        self.rank, self.world_size = self._world()
        self.train_items = self.task.train.size(1) if self.link else self.task.splits["train"].numel()
        self.steps = math.ceil(self.train_items / (self.batch_size * self.world_size))
        if self.num_parts is not None:  # parts need not hold training nodes
            self.steps = math.ceil(self.num_parts / self.world_size)
            parts = self.steps * self.world_size  # rounded up to a multiple of the processes
            if not 1 <= parts <= self.graph.num_nodes // 2:
                raise ValueError(f"num_parts {self.num_parts} ({parts} on {self.world_size} process(es)) must be in "
                                 f"[1, {self.graph.num_nodes // 2}]: every part needs at least 2 of the "
                                 f"{self.graph.num_nodes} nodes")
            self._is_train = torch.zeros(self.graph.num_nodes, dtype=torch.bool, device=self.device)
            self._is_train[self.task.splits["train"]] = True
        elif self.train_items < self.steps * self.world_size:
            raise ValueError(f"{self.train_items} training {'edges' if self.link else 'nodes'} cannot fill "
                             f"{self.steps} steps on {self.world_size} processes")
        if self.link:  # the endpoints of every evaluated pair, positive or negative
            self.split_nodes = {k: torch.unique(torch.cat(pq, 1)) for k, pq in self.task.eval_edges.items()}
            self.eval_nodes = torch.unique(torch.cat(list(self.split_nodes.values())))
        else:
            self.eval_nodes = torch.unique(torch.cat([self.task.splits["val"], self.task.splits["test"]]))
        self._test_graph = self._test_graph_columns()
        self._test_sampler: tuple[NeighborSampler, NeighborSampler] | None = None
        self.out_width = self._out_width()

    def _test_graph_columns(self) -> tuple[Tensor, Tensor] | None:
        """With a task that scores test pairs on extra edges (``val_as_input``): the columns
        ``[2, E + V]`` of ``edge_index`` followed by those edges, and the unit id of each (the
        extra ones get the self-loop id, which reads mask value 1)."""
        extra = getattr(self.task, "test_input", None)
        if extra is None:
            return None
        unit = self.graph.edge_unit
        return (torch.cat([self.graph.data.edge_index, extra], 1),
                torch.cat([unit, unit.new_full((extra.size(1),), self.graph.num_units)]))

    def _world(self) -> tuple[int, int]:
        """This process's rank and the number of processes (one process here)."""
        return 0, 1

    @torch.no_grad()
    def _out_width(self) -> int:
        """Width of the model's output (classes, tasks or the link embedding), read from one node
        without edges in eval mode."""
        was_training = self.model.training
        self.model.eval()
        empty = torch.zeros(2, 0, dtype=torch.long, device=self.device)
        first = gather_rows(self.x, torch.zeros(1, dtype=torch.long, device=self.device))
        out = self._call(first, Adjacency(empty, 1, check=False) if self.native else empty, None,
                         empty[0], torch.zeros(1, dtype=torch.long, device=self.device))
        self.model.train(was_training)
        return int(out.size(-1))

    # --- collective hooks (DistributedUGS sums over processes) -------------------------------
    def _all_reduce_(self, tensors: list[Tensor]) -> None:
        """Sum each tensor over the processes, in place (one process: nothing to do)."""

    def _reduce_gradients(self, params: list[Tensor]) -> None:
        """Sum the gradients over processes; a parameter without a gradient counts as zeros."""
        if self.world_size == 1:
            return
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        self._all_reduce_([p.grad for p in params])

    # --- UGS hooks ------------------------------------------------------------------------
    def _seed(self, phase: int) -> None:
        """The shuffle of training nodes is the same on every process; sampling and dropout
        differ per process (process 0 of several draws as a single process would)."""
        base = derived_seed(self.seed, self.round, phase)
        own = (base + self.rank * 1_000_033) % (2**31 - 1)
        torch.manual_seed(own)
        self._shuffle = torch.Generator(device=self.device).manual_seed(base)
        self._sampling = torch.Generator(device=self.device).manual_seed(derived_seed(own, 0, 7))

    def _view(self) -> NeighborSampler:
        """A sampler over the kept edges (built once per phase)."""
        kept = self.graph.edge_mask().nonzero().view(-1)
        return NeighborSampler(self.graph.data.edge_index, self.graph.num_nodes, self.num_neighbors, kept)

    def _forward(self, sub: SampledSubgraph, units: Tensor | None = None) -> Tensor:
        """Model output for the seeds of ``sub`` (``[batch_size, out_width]``); the subgraph's edges
        read their mask values through their global ids (``units``: the unit id of every column
        of the sampled graph, default ``graph.edge_unit``)."""
        graph_input = Adjacency(sub.edge_index, sub.n_id.numel(), check=False) if self.native else sub.edge_index
        units = self.graph.edge_unit if units is None else units
        out = self._call(gather_rows(self.x, sub.n_id), graph_input, self._edge_weight(units[sub.e_id]), sub.e_id,
                         sub.n_id)
        return out[: sub.batch_size]

    def batches(self) -> Iterator[tuple[Tensor, int]]:
        """This process's training items of each step of one epoch (seed nodes ``[b]``, training
        edges ``[2, b]`` for link prediction, a part's nodes for cluster batches), with the size
        of the step's group (all processes' training nodes or edges of that step together)."""
        if self.num_parts is not None:
            groups, order = self._partition(self._shuffle)
            step_of = torch.repeat_interleave(torch.arange(self.steps, device=self.device),
                                              torch.tensor([sum(p.numel() for p in g) for g in groups],
                                                           device=self.device))
            sizes = torch.bincount(step_of, self._is_train[order].float(), self.steps).long().tolist()  # one sync
            for group, size in zip(groups, sizes):
                if size:  # a group without training nodes would still move Adam and the L1 term
                    yield group[self.rank], size
            return
        train = self.task.train if self.link else self.task.splits["train"]
        order = torch.randperm(self.train_items, generator=self._shuffle, device=self.device)
        pieces = order.tensor_split(self.steps * self.world_size)
        for step in range(self.steps):
            group = pieces[step * self.world_size:(step + 1) * self.world_size]
            yield train[..., group[self.rank]], sum(p.numel() for p in group)

    def _partition(self, generator: torch.Generator) -> tuple[list[list[Tensor]], Tensor]:
        """A random partition of all nodes into ``steps`` groups of one part per process, and
        the permutation the parts are consecutive slices of."""
        order = torch.randperm(self.graph.num_nodes, generator=generator, device=self.device)
        parts = order.tensor_split(self.steps * self.world_size)
        return [list(parts[i:i + self.world_size]) for i in range(0, len(parts), self.world_size)], order

    def _losses(self, view: NeighborSampler) -> Iterator[Tensor]:
        for items, group_size in self.batches():
            if self.link:
                yield self._link_loss(view, items) / group_size
            elif self.num_parts is not None:
                train = self._is_train[items]
                out = self._forward(view.induced(items))
                yield self.task.batch_loss(out[train], items[train]) / group_size
            else:
                yield self.task.batch_loss(self._forward(view.sample(items, self._sampling)), items) / group_size

    def _link_loss(self, view: NeighborSampler, pos: Tensor) -> Tensor:
        """Summed binary cross-entropy of the training edges ``pos`` (``[2, b]``) and of ``b``
        uniform node pairs, from the embeddings of their endpoints' sampled neighbourhoods."""
        neg = torch.randint(0, self.graph.num_nodes, pos.shape, generator=self._sampling, device=self.device)
        seeds, local = torch.unique(torch.cat([pos, neg], 1), return_inverse=True)
        logits = self.task.decode(self._forward(view.sample(seeds, self._sampling)), local)
        labels = torch.cat([logits.new_ones(pos.size(1)), logits.new_zeros(neg.size(1))])
        return F.binary_cross_entropy_with_logits(logits, labels, reduction="sum")

    @torch.no_grad()
    def predict(self, view: NeighborSampler, nodes: Tensor, units: Tensor | None = None) -> Tensor:
        """Model outputs for ``nodes`` (``[n, C]``), batch by batch with the evaluation fan-outs;
        with several processes each computes its share and the rows are summed over them.
        ``units``: as for :meth:`_forward`, when ``view`` samples another graph's columns."""
        self.model.eval()
        generator = torch.Generator(device=self.device).manual_seed(derived_seed(self.seed, self.round, 6))
        out = torch.zeros(nodes.numel(), self.out_width, device=self.device)
        if self.num_parts is not None:  # cluster batches: each part's induced subgraph
            slot = torch.full((self.graph.num_nodes,), -1, dtype=torch.long, device=self.device)
            slot[nodes] = torch.arange(nodes.numel(), device=self.device)
            for group in self._partition(generator)[0]:
                rows = slot[group[self.rank]]
                wanted = rows >= 0
                if bool(wanted.any()):
                    out[rows[wanted]] = self._forward(view.induced(group[self.rank]))[wanted].float()
            self._all_reduce_([out])
            return out
        share = torch.arange(nodes.numel(), device=self.device).tensor_split(self.world_size)[self.rank]
        for rows in share.split(self.eval_batch_size):
            out[rows] = self._forward(view.sample(nodes[rows], generator, self.eval_num_neighbors), units).float()
        self._all_reduce_([out])
        return out

    def _evaluate(self, view: NeighborSampler) -> tuple[float, float]:
        out = torch.zeros(self.graph.num_nodes, self.out_width, device=self.device)
        if self._test_graph is None:
            out[self.eval_nodes] = self.predict(view, self.eval_nodes)
            return self.task.evaluate(out)
        val, test = self.split_nodes["val"], self.split_nodes["test"]  # val_as_input: two graphs
        out[val] = self.predict(view, val)
        out_test = torch.zeros_like(out)
        out_test[test] = self.predict(self._test_view(view), test, self._test_graph[1])
        return self.task.evaluate(out, out_test)

    def _test_view(self, view: NeighborSampler) -> NeighborSampler:
        """A sampler over ``view``'s edges plus the task's test-time edges (built once per view)."""
        if self._test_sampler is None or self._test_sampler[0] is not view:
            edge_index = self._test_graph[0]
            extra = torch.arange(self.graph.edge_unit.numel(), edge_index.size(1), device=self.device)
            sampler = NeighborSampler(edge_index, self.graph.num_nodes, self.eval_num_neighbors,
                                      torch.cat([view.csr_e_id, extra]))
            self._test_sampler = (view, sampler)
        return self._test_sampler[1]

    def inference_ms(self, repeats: int = 5) -> float:
        """Median wall time of batched inference over the validation and test nodes on the
        kept graph, in milliseconds (full-graph inference may not fit in memory)."""
        view = self._view()
        times = []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            self.predict(view, self.eval_nodes)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            times.append(time.perf_counter() - start)
        return 1000.0 * sorted(times[1:])[repeats // 2]

    # --- tickets --------------------------------------------------------------------------
    def ticket(self, config: dict[str, Any] | None = None) -> Ticket:
        """:meth:`UGS.ticket`, recording the number of processes as ``config["world_size"]``."""
        return super().ticket({**(config or {}), "world_size": self.world_size})

    def load_ticket(self, ticket: Ticket) -> None:
        """:meth:`UGS.load_ticket`; refuses a ticket of a run on another number of processes,
        whose batches (and so whose results) would differ."""
        saved = ticket.config.get("world_size")
        if saved is not None and int(saved) != self.world_size:
            raise TicketError(
                f"mismatched world sizes: this run was saved by {saved} process(es) and is being resumed on "
                f"{self.world_size}; resume it with the same number of processes (torchrun --nnodes x "
                f"--nproc-per-node = {saved}) or start a new run in another folder"
            )
        super().load_ticket(ticket)
