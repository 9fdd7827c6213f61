"""AdaGLT as a sparsifier: exact levels, the straight-through masks, the weight-mask transform hook."""
import pytest
import torch
from torch import nn
from torch_geometric.utils import scatter

from graphlottery.lottery import UGS, pieces
from graphlottery.masks import WeightMasks
from graphlottery.nn import GCN, pyg_model
from graphlottery.sparsifiers import level_targets, sparsify
from graphlottery.sparsifiers.adaglt import AdaGLTSparsifier, AdaGLTState, straight_through


def _run(cora, model=None, epochs=10):
    torch.manual_seed(0)
    model = model if model is not None else GCN(cora.num_features, 16, 2, 7)
    return UGS(model, cora, mask_epochs=epochs, retrain_epochs=epochs, prune_graph=0.2, prune_weight=0.2)


def _check_levels(run, method, targets):
    units, total = run.graph.num_units, sum(m.numel() for _, m in run.masks.items())
    records = list(sparsify(run, method, "one_shot", targets))
    for (graph, weight), record in zip(targets, records):
        assert abs(record["graph_sparsity"] - graph) <= 1.0 / units
        assert abs(record["weight_sparsity"] - weight) <= 1.0 / total
        assert 0.4 < record["test"] <= 1.0  # it trained (chance is 1/7)
    return records


def test_adaglt_reaches_each_level_exactly_and_trains(cora):
    run = _run(cora)
    run.dense()
    method = AdaGLTSparsifier()
    method.setup(run, run.best_output)
    s1, s2, noise = run.s1, run.s2, run.mask_noise
    _check_levels(run, method, level_targets(2, 0.2, 0.2))
    assert (run.s1, run.s2, run.mask_noise) == (s1, s2, noise)  # restored after each search
    assert not run.masks.transforms and not run.mask_transforms and not run.after_step


def test_straight_through_is_hard_forward_and_soft_backward():
    margin = torch.tensor([-0.05, 0.0, 0.05, 3.0], requires_grad=True)
    mask = straight_through(margin, 0.1)
    assert torch.equal(mask.detach(), torch.tensor([0.0, 0.0, 1.0, 1.0]))
    mask.sum().backward()
    soft = torch.sigmoid(margin.detach() / 0.1)
    assert torch.allclose(margin.grad, soft * (1 - soft) / 0.1)
    assert bool((margin.grad[:3] > 1.0).all())  # pruned entries near the threshold get gradient


def test_pruned_edges_come_back_during_training(cora):
    run = _run(cora, epochs=40)
    method = AdaGLTSparsifier()
    kept = []

    def record():  # the hard edge mask of every search step (retraining steps have no soft mask)
        if run.graph.score is not None:
            kept.append(method.state.margin > 0)

    with run.extend(after_step=record):
        next(sparsify(run, method, "one_shot", [(0.3, 0.2)]))
    kept = torch.stack(kept)
    assert len(kept) == 40
    pruned_before = (~kept).cummax(0).values
    restored = (pruned_before[:-1] & kept[1:]).any(0)
    assert int(restored.sum()) > 50  # hundreds on Cora: pruned at one step, kept at a later one


def test_margins_agree_for_both_directions_of_an_edge(cora):
    run = _run(cora)
    state = AdaGLTState(run, AdaGLTSparsifier().options, 0.3, 0.0)
    with torch.no_grad():
        state.node_threshold.uniform_(0.1, 0.9, generator=torch.Generator().manual_seed(0))
    forward = state.edge_margin()
    state.pairs = state.pairs.flip(0)
    assert torch.allclose(forward, state.edge_margin(), atol=1e-6)
    values = state.edges(torch.ones(run.graph.edge_unit.numel()), run.graph.edge_unit)
    lowest, highest = (scatter(values, run.graph.edge_unit, reduce=r) for r in ("min", "max"))
    assert torch.equal(lowest, highest)  # both columns of a unit alike


def test_the_lowest_signed_margins_are_pruned(cora):
    run = _run(cora)
    state = AdaGLTState(run, AdaGLTSparsifier().options, 0.3, 0.3)
    with torch.no_grad():
        state.node_threshold.uniform_(0.1, 0.9, generator=torch.Generator().manual_seed(0))
        state.layer_threshold.uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(1))
    margin = state.edge_margin()
    weight_margins = [state.weight_margin(n, run.model.get_parameter(n).detach().float()) for n in state.names]
    assert bool((margin < 0).any()) and bool((margin > 0).any())  # both sides of the threshold
    edge_scores, weight_scores = state.scores()
    pieces.prune_graph(run.graph, 0.3, edge_scores)
    count = int((~run.graph.keep).sum())
    assert torch.equal(torch.sort((~run.graph.keep).nonzero().view(-1)).values,
                       torch.sort(margin.argsort()[:count]).values)
    pieces.prune_weights(run.masks, 0.3, weight_scores)
    flat = torch.cat([m.view(-1) for m in weight_margins])
    assert bool((flat < 0).any()) and bool((flat > 0).any())
    kept = torch.cat([run.masks.hard(n).view(-1) for n in state.names])
    assert float(flat[~kept].max()) <= float(flat[kept].min())  # every pruned weight below every kept one


def test_weight_transform_hook():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
    masks = WeightMasks(model).attach()
    hard = {name: torch.rand_like(m, dtype=torch.float) > 0.3 for name, m in masks.items()}
    masks.set_hard(hard)
    x = torch.randn(6, 5)

    def by_hand(scale: float) -> torch.Tensor:
        first, last = model[0], model[2]
        hidden = torch.relu(x @ (first.weight * (hard["0.weight"].float() * scale)).t() + first.bias)
        return hidden @ (last.weight * hard["2.weight"].float()).t() + last.bias

    assert torch.equal(model(x), by_hand(1.0))  # no transform: weight * mask, as before
    params, seen = dict(model.named_parameters()), []

    def halve_first(name, weight, mask):
        seen.append((name, weight is params[name]))
        return mask * 0.5 if name == "0.weight" else mask

    masks.transforms.append(halve_first)
    assert torch.allclose(model(x), by_hand(0.5))
    assert seen == [("0.weight", True), ("2.weight", True)]
    masks.transforms.remove(halve_first)
    assert torch.equal(model(x), by_hand(1.0))


def test_extend_applies_the_weight_transform_in_training_only(cora):
    run = _run(cora)
    names = []

    def zero(name, weight, mask):
        names.append(name)
        return mask * 0

    run.model.eval()
    with torch.no_grad():
        before = run.model(run.x, run.graph.adjacency)
        with run.extend(weight_transform=zero):
            assert torch.equal(run.model(run.x, run.graph.adjacency), before)  # evaluation: untouched
            assert not names
            run.model.train()
            out = run.model(run.x, run.graph.adjacency)
            run.model.eval()
    assert names == run.masks.names
    assert torch.allclose(out, out[:1].expand_as(out))  # no weight reaches the output: bias only
    assert not run.masks.transforms


@pytest.mark.parametrize("options,key", [
    ({"tau": 0.0}, "tau"),
    ({"init_threshold": 1.0}, "init_threshold"),
    ({"init_threshold": 0.0}, "init_threshold"),
    ({"sparsity_weight": -1.0}, "sparsity_weight"),
    ({"hidden": 0}, "hidden"),
    ({"lr": 0.0}, "lr"),
    ({"bogus": 1}, "bogus"),
])
def test_bad_options_name_the_key(options, key):
    with pytest.raises(ValueError, match=key):
        AdaGLTSparsifier(**options)


def test_adaglt_on_a_pyg_model_and_reference_retraining(cora):
    torch.manual_seed(0)
    run = _run(cora, model=pyg_model("pyg.GCN", cora.num_features, 16, 2, 7), epochs=30)
    rewind = {k: v.clone() for k, v in run.rewind_state.items()}
    _check_levels(run, AdaGLTSparsifier(reference=True), [(0.3, 0.5)])
    assert all(torch.equal(rewind[k], v) for k, v in run.rewind_state.items())  # the rewind point is kept
