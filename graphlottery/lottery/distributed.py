"""Mini-batch UGS on several processes (``torch.distributed``: gloo on CPU, NCCL on GPU).

Data-parallel as :class:`~torch.nn.parallel.DistributedDataParallel` is: every process holds
the whole model, the masked graph and the optimiser state, trains on its own share of each
step's batches, and before every optimiser step the gradients of the weights *and of the mask
scores* (the global edge scores and the weight-mask scores) are summed over the processes in
one collective per dtype. The per-batch losses are scaled so that the sum is the gradient of
the step's mean loss (see :mod:`~graphlottery.lottery.minibatch`), so

.. math::
    g = \\sum_{r=0}^{W-1} \\nabla \\frac{1}{|S|} \\sum_{i \\in S_r} \\ell_i
      = \\nabla \\frac{1}{|S|} \\sum_{i \\in S} \\ell_i, \\qquad S = S_0 \\cup \\dots \\cup S_{W-1}.

The reduced gradient is the same tensor on every process, the L1 sub-gradients, Adam and
the evaluation (each process infers a share of the nodes, the rows are summed) are
deterministic functions of it, and the shuffle of training nodes is seeded identically, so the
processes stay in lockstep; before pruning, the chosen mask scores are broadcast from rank 0
as well, so every process takes the same pruning decision by construction.

The gradients are reduced explicitly, not by wrapping the model in ``DistributedDataParallel``:
the mask scores are created afresh every round, the edge-score gradient is a dense
``[num_units]`` tensor outside the model, and DDP would broadcast the graph's ``[E]`` buffers
from rank 0 at every wrap. The collective is what DDP's reducer does (a sum of the
per-process gradients, here with the mean already in the loss).

Launch one process per device with ``torchrun``; :func:`init_distributed` joins the group it
describes. A run records its number of processes in its tickets, and resuming it on another
number raises :class:`~graphlottery.lottery.ticket.TicketError`.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch_geometric.data import Data

from graphlottery.lottery.minibatch import MiniBatchUGS
from graphlottery.tasks import LinkPrediction, NodeClassification


def init_distributed(backend: str | None = None) -> torch.device:
    """Join the process group described by ``torchrun``'s environment (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``, ``LOCAL_RANK``) and return this process's device:
    ``cuda:LOCAL_RANK`` with NCCL when CUDA is available, else CPU with gloo."""
    missing = [k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not set: start the processes with torchrun (see README)")
    cuda = torch.cuda.is_available() and backend != "gloo"
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if cuda else "gloo"))
    return device


def _coalesced(tensors: Sequence[Tensor], collective) -> None:
    """Run ``collective`` on one flat tensor per dtype and copy the results back in place."""
    groups: dict[torch.dtype, list[Tensor]] = {}
    for t in tensors:
        groups.setdefault(t.dtype, []).append(t)
    for group in groups.values():
        flat = torch.cat([t.reshape(-1) for t in group])
        collective(flat)
        for t, part in zip(group, flat.split([t.numel() for t in group])):
            t.copy_(part.view_as(t))


class DistributedUGS(MiniBatchUGS):
    """:class:`~graphlottery.lottery.minibatch.MiniBatchUGS` on every process of the default
    ``torch.distributed`` group; ``batch_size`` is per process, so a step trains on up to
    ``world_size * batch_size`` nodes.

    Every process must be given the same graph, model configuration, options and ``seed``
    (checked at construction), and must start every round from the same round and masks
    (checked by :meth:`dense` and :meth:`step`): a mismatch raises ``ValueError`` on every
    process instead of leaving them waiting in different collectives. The model's initial
    weights are taken from rank 0.
    """

    def __init__(self, model: nn.Module, data: Data, task: NodeClassification | LinkPrediction | None = None,
                 **kwargs: Any):
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError(
                "DistributedUGS needs torch.distributed: call graphlottery.lottery.init_distributed() "
                "(under torchrun) or torch.distributed.init_process_group first"
            )
        super().__init__(model, data, task, **kwargs)
        self._check_same_run()
        self._broadcast_(list(self.rewind_state.values()))
        self.model.load_state_dict(self.rewind_state)

    def _world(self) -> tuple[int, int]:
        return dist.get_rank(), dist.get_world_size()

    def _all_reduce_(self, tensors: list[Tensor]) -> None:
        _coalesced(tensors, lambda flat: dist.all_reduce(flat, op=dist.ReduceOp.SUM))

    def _broadcast_(self, tensors: Sequence[Tensor]) -> None:
        """Overwrite ``tensors`` with rank 0's values."""
        with torch.no_grad():
            _coalesced(tensors, lambda flat: dist.broadcast(flat, src=0))

    RUN_OPTIONS = ("lr", "weight_decay", "s1", "s2", "mask_epochs", "retrain_epochs", "prune_graph", "prune_weight",
                   "mask_weight_decay", "mask_noise", "l1", "early_bird", "batch_size", "num_neighbors",
                   "eval_batch_size", "eval_num_neighbors", "num_parts", "seed")

    def agree(self, mine: dict[str, Any], when: str) -> None:
        """Raise ``ValueError`` naming the keys where another process's ``mine`` differs. A
        process that went on with other options or from another round would wait forever in a
        collective the others never reach, so the processes compare before they start."""
        everyone: list[Any] = [None] * self.world_size
        dist.all_gather_object(everyone, mine)
        for rank, theirs in enumerate(everyone):
            diff = sorted(k for k in mine if theirs.get(k) != mine[k])
            if diff:
                shown = {k: (theirs.get(k), mine[k]) for k in diff if k != "model"}
                raise ValueError(f"process {rank} differs from process {self.rank} {when} in {diff}"
                                 + (f" (theirs, mine): {shown}" if shown else ""))

    def _check_same_run(self) -> None:
        """Every process must have the same graph, model, task and run options."""
        mine = {k: getattr(self, k) for k in self.RUN_OPTIONS}
        mine.update(graph=self.graph.fingerprint, directed=self.graph.directed, task=type(self.task).__name__,
                    train_items=self.train_items,
                    model=[(k, tuple(v.shape)) for k, v in self.rewind_state.items()])
        self.agree(mine, "at construction")

    def _check_same_round(self, phase: str) -> None:
        """Every process must start the same round from the same masks (e.g. all resumed from
        the same ticket: a process without the run's files would start again at round 0)."""
        digest = hashlib.sha1(self.graph.keep.cpu().numpy().tobytes())
        for _, mask in self.masks.items():
            digest.update(mask.cpu().numpy().tobytes())
        self.agree({"phase": phase, "round": self.round, "edges_kept": int(self.graph.keep.sum()),
                    "weights_kept": sum(int(m.sum()) for _, m in self.masks.items()), "masks": digest.hexdigest()},
                   "at the start of a round")

    def dense(self) -> dict[str, Any]:
        self._check_same_round("dense")
        return super().dense()

    def step(self) -> dict[str, Any]:
        self._check_same_round("step")
        return super().step()

    def _evaluate(self, view: Any) -> tuple[float, float]:
        """Average the model's floating-point buffers (BatchNorm running statistics, which each
        process updates from its own batches) over the processes, then evaluate."""
        buffers = [b for b in self.model.buffers() if b.is_floating_point()]
        if buffers:
            with torch.no_grad():
                self._all_reduce_(buffers)
                torch._foreach_div_(buffers, float(self.world_size))
        return super()._evaluate(view)

    def search_masks(self) -> tuple[Tensor, list[Tensor]]:
        """:meth:`UGS.search_masks`, then rank 0's chosen scores on every process."""
        edge_score, weight_scores = super().search_masks()
        self._broadcast_([edge_score, *weight_scores])
        return edge_score, weight_scores
