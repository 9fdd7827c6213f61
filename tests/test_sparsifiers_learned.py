"""FastGLT and ACE-GLT: exact levels, the ticket they change, bad options."""
import pytest
import torch

from graphlottery.lottery import UGS
from graphlottery.nn import GCN, pyg_model
from graphlottery.sparsifiers.aceglt import ACEGLTSparsifier
from graphlottery.sparsifiers.base import level_targets, sparsify
from graphlottery.sparsifiers.fastglt import FastGLTSparsifier, swap, weight_keep

FAST = {"denoise_epochs": 20, "delta": 2}
ACE = {"rounds": 2, "erase_epochs": 5, "recover": 0.5}


def _run(cora, model=None, epochs=10):
    torch.manual_seed(0)
    model = model if model is not None else GCN(cora.num_features, 16, 2, 7)
    return UGS(model, cora, mask_epochs=epochs, retrain_epochs=epochs, prune_graph=0.2, prune_weight=0.2)


def _spy(cls):
    """``cls`` recording the ticket that ``train`` starts from (the UGS-pruned one)."""

    class Spy(cls):
        def train(self, run, selection, weight_fraction):
            self.pruned = (run.graph.keep.clone(), weight_keep(run))
            return super().train(run, selection, weight_fraction)

    return Spy


def _level(cora, method, schedule, model=None, epochs=10):
    run = _run(cora, model, epochs)
    record = next(sparsify(run, method, schedule, [(0.2, 0.2)]))
    return run, record


def test_swap_keeps_the_count_and_ranks_each_side_alone():
    keep = torch.tensor([True, True, True, False, False])
    drop = torch.tensor([3.0, 1.0, 2.0, 0.0, 0.0])  # the pruned entries' 0 is ignored
    grow = torch.tensor([9.0, 9.0, 9.0, 1.0, 5.0])  # the kept entries' 9 is ignored
    assert swap(keep, drop, grow, 1).tolist() == [True, False, True, False, True]
    assert int(swap(keep, drop, grow, 5).sum()) == 3  # k capped at the pruned side
    assert torch.equal(swap(keep, drop, grow, 0), keep)


@pytest.mark.parametrize("cls,options,schedule", [(FastGLTSparsifier, FAST, "one_shot"),
                                                  (ACEGLTSparsifier, ACE, "imp")])
def test_each_level_is_reached_exactly_and_trains(cora, cls, options, schedule):
    run = _run(cora)
    run.dense()
    method = cls(**options)
    method.setup(run, run.best_output)
    targets = level_targets(2, 0.2, 0.2)
    units, total = run.graph.num_units, sum(m.numel() for _, m in run.masks.items())
    for (graph, weight), record in zip(targets, sparsify(run, method, schedule, targets)):
        assert abs(record["graph_sparsity"] - graph) <= 1.0 / units
        assert abs(record["weight_sparsity"] - weight) <= 1.0 / total
        assert 0.4 < record["test"] <= 1.0  # it trained (chance is 1/7)


def test_fastglt_denoising_regrows_edges_and_weights_with_the_counts_kept(cora):
    method = _spy(FastGLTSparsifier)(**FAST)
    run, _ = _level(cora, method, "one_shot")
    graph, weights = method.pruned
    assert not torch.equal(run.graph.keep, graph) and not torch.equal(weight_keep(run), weights)
    assert int(run.graph.keep.sum()) == int(graph.sum())
    assert int(weight_keep(run).sum()) == int(weights.sum())


@pytest.mark.parametrize("options", [{"regrow": 1e-6, "denoise_epochs": 4, "delta": 1}, {"denoise_epochs": 0}])
def test_fastglt_without_regrowth_keeps_the_one_shot_ticket(cora, options):
    method = _spy(FastGLTSparsifier)(**options)
    run, _ = _level(cora, method, "one_shot")
    assert torch.equal(run.graph.keep, method.pruned[0]) and torch.equal(weight_keep(run), method.pruned[1])


def test_aceglt_revives_pruned_edges_and_weights_with_the_counts_kept(cora):
    rounds = []

    class Recorder(ACEGLTSparsifier):
        def erase(self, run, graph, weights):
            val, new_graph, new_weights = super().erase(run, graph, weights)
            rounds.append((graph, weights, new_graph, new_weights))
            return val, new_graph, new_weights

    _level(cora, Recorder(**ACE), "imp")
    assert len(rounds) == ACE["rounds"]
    for graph, weights, new_graph, new_weights in rounds:
        assert bool((new_graph & ~graph).any()) and bool((new_weights & ~weights).any())  # revived
        assert int(new_graph.sum()) == int(graph.sum()) and int(new_weights.sum()) == int(weights.sum())


def test_aceglt_reference_refines_the_weights_only(cora):
    method = _spy(ACEGLTSparsifier)(**ACE, reference=True)
    run, _ = _level(cora, method, "imp")
    assert torch.equal(run.graph.keep, method.pruned[0])
    assert not torch.equal(weight_keep(run), method.pruned[1])  # the best round's refinement
    assert int(weight_keep(run).sum()) == int(method.pruned[1].sum())


def test_aceglt_leaves_a_dimension_with_nothing_pruned(cora):
    method = _spy(ACEGLTSparsifier)(**ACE)
    run = _run(cora)
    record = next(sparsify(run, method, "imp", [(0.2, 0.0)]))
    assert bool(weight_keep(run).all()) and record["weight_sparsity"] == 0.0
    assert int(run.graph.keep.sum()) == int(method.pruned[0].sum())


def test_fastglt_runs_on_any_pyg_model(cora):
    torch.manual_seed(0)
    model = pyg_model("pyg.GCN", cora.num_features, 16, 2, 7)
    run, record = _level(cora, FastGLTSparsifier(**FAST), "one_shot", model=model, epochs=20)
    assert abs(record["graph_sparsity"] - 0.2) <= 1.0 / run.graph.num_units
    assert record["weight_sparsity"] == pytest.approx(0.2, abs=1e-4)
    assert record["test"] > 0.4


@pytest.mark.parametrize("cls,options,key", [
    (FastGLTSparsifier, {"regrow": 1.0}, "regrow"),
    (FastGLTSparsifier, {"denoise_epochs": 5, "delta": 10}, "delta"),
    (FastGLTSparsifier, {"denoise_epochs": 10, "stop": 1.0, "delta": 10}, "delta"),
    (FastGLTSparsifier, {"regrow": 0.0}, "regrow"),
    (FastGLTSparsifier, {"delta": 0}, "delta"),
    (FastGLTSparsifier, {"denoise_epochs": -1}, "denoise_epochs"),
    (FastGLTSparsifier, {"stop": 0.0}, "stop"),
    (FastGLTSparsifier, {"l1": -1.0}, "l1"),
    (ACEGLTSparsifier, {"recover": 0.0}, "recover"),
    (ACEGLTSparsifier, {"recover": 1.0}, "recover"),
    (ACEGLTSparsifier, {"rounds": 0}, "rounds"),
    (ACEGLTSparsifier, {"erase_epochs": 0}, "erase_epochs"),
])
def test_bad_options_name_the_key(cls, options, key):
    with pytest.raises(ValueError, match=repr(key)):
        cls(**options)


def test_schedules_and_names():
    assert (FastGLTSparsifier.name, FastGLTSparsifier.schedules) == ("fastglt", ("one_shot",))
    assert (ACEGLTSparsifier.name, ACEGLTSparsifier.schedules) == ("aceglt", ("imp",))
    with pytest.raises(ValueError, match="runs on the schedule"):
        FastGLTSparsifier().check("imp", True, True)
