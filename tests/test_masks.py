import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from graphlottery.masks import WeightMasks, maskable_weights, prune_lowest, prune_lowest_layerwise, sparsity
from graphlottery.nn import GCN


def small_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))


def test_masked_forward_keeps_state_dict_keys():
    model = small_model()
    keys = list(model.state_dict())
    masks = WeightMasks(model).attach()
    assert masks.names == ["0.weight", "2.weight"]
    hard = {n: torch.rand_like(m, dtype=torch.float) > 0.5 for n, m in masks.items()}
    masks.set_hard(hard)
    x = torch.randn(4, 5)
    out = model(x)
    assert list(model.state_dict()) == keys
    ref = small_model()
    with torch.no_grad():
        ref[0].weight.mul_(hard["0.weight"])
        ref[2].weight.mul_(hard["2.weight"])
    torch.testing.assert_close(out, ref(x))
    # the dense weights are untouched and the gradient of pruned entries is zero
    out.sum().backward()
    assert torch.all(model[0].weight.grad[~hard["0.weight"]] == 0)
    masks.detach()
    torch.testing.assert_close(model(x), small_model()(x))


def test_soft_masks_are_trainable_scores():
    model = small_model()
    masks = WeightMasks(model).make_soft(noise=0.0).attach()
    scores = masks.score_list()
    model(torch.randn(4, 5)).sum().backward()
    assert all(s.grad is not None and s.grad.abs().sum() > 0 for s in scores)
    assert all(p.grad is not None for p in model.parameters())


def test_finds_linears_inside_pyg_style_convs():
    names = maskable_weights(GCN(10, 16, 2, 3))
    assert names == ["convs.0.lin.weight", "convs.1.lin.weight"]


def test_torch_prune_round_trip():
    model = small_model()
    masks = WeightMasks(model)
    hard = {n: torch.rand(m.shape) > 0.3 for n, m in masks.items()}
    masks.set_hard(hard)
    masks.to_torch_prune()
    assert hasattr(model[0], "weight_mask") and torch.equal(model[0].weight_mask.bool(), hard["0.weight"])
    imported = WeightMasks.from_torch_prune(model)
    assert imported.names == ["0.weight", "2.weight"]
    for name, mask in imported.items():
        assert torch.equal(mask, hard[name])
    assert set(model.state_dict()) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    torch.testing.assert_close(model[0].weight, small_model()[0].weight)  # dense weights restored


def test_import_from_torch_prune_global_unstructured():
    model = small_model()
    torch_prune.global_unstructured([(model[0], "weight"), (model[2], "weight")],
                                    pruning_method=torch_prune.L1Unstructured, amount=0.5)
    masks = WeightMasks.from_torch_prune(model)
    assert sparsity([m for _, m in masks.items()]) == pytest.approx(0.5, abs=1e-9)


def test_bad_masks_are_named():
    model = small_model()
    masks = WeightMasks(model)
    with pytest.raises(KeyError, match="missing"):
        masks.set_hard({"0.weight": torch.ones(7, 5, dtype=torch.bool)})
    with pytest.raises(ValueError, match="shape"):
        masks.set_hard({"0.weight": torch.ones(5, 7, dtype=torch.bool), "2.weight": torch.ones(3, 7, dtype=torch.bool)})
    with pytest.raises(KeyError, match="no parameter"):
        WeightMasks(model, names=["1.weight"])
    with pytest.raises(ValueError, match="no torch.nn.utils.prune masks"):
        WeightMasks.from_torch_prune(model)


def test_prune_lowest_exact_count_global_and_ties():
    scores = [torch.tensor([0.5, 0.1, 0.3]), torch.tensor([[0.2, 0.2], [0.9, 0.05]])]
    keep = [torch.ones(3, dtype=torch.bool), torch.ones(2, 2, dtype=torch.bool)]
    new = prune_lowest(scores, keep, 0.43)  # round(0.43 * 7) = 3 entries
    assert [m.tolist() for m in new] == [[True, False, True], [[False, True], [True, False]]]
    # the tie between the two 0.2 entries is broken by position


def test_sparsity_after_k_rounds_is_exact():
    torch.manual_seed(0)
    keep = [torch.ones(100, 30, dtype=torch.bool), torch.ones(1000, dtype=torch.bool)]
    remaining = 4000
    for _ in range(6):
        scores = [torch.randn(k.shape) for k in keep]
        keep = prune_lowest(scores, keep, 0.2)
        remaining -= round(0.2 * remaining)
        assert sum(int(k.sum()) for k in keep) == remaining
    assert sparsity(keep) == pytest.approx(1 - 0.8**6, abs=1e-3)


def test_layerwise_prunes_each_layer_alike():
    keep = [torch.ones(50, dtype=torch.bool), torch.ones(200, dtype=torch.bool)]
    scores = [torch.zeros(50), torch.ones(200)]
    new = prune_lowest_layerwise(scores, keep, 0.1)
    assert [int((~m).sum()) for m in new] == [5, 20]


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 2.0])
def test_fraction_out_of_range(fraction):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        prune_lowest([torch.ones(3)], [torch.ones(3, dtype=torch.bool)], fraction)


def test_second_attach_is_refused_until_detached():
    model = small_model()
    first = WeightMasks(model).attach()
    second = WeightMasks(model)
    with pytest.raises(ValueError, match="already has other weight masks"):
        second.attach()
    WeightMasks.detach_all(model)
    second.set_hard({n: torch.zeros_like(m) for n, m in second.items()}).attach()
    assert torch.all(model(torch.randn(2, 5)) == model[2].bias)  # the second masks are the ones used
    assert not first._handles


def test_to_torch_prune_while_attached_hands_over_cleanly():
    model = small_model()
    masks = WeightMasks(model).attach()
    masks.set_hard({n: torch.rand(m.shape) > 0.5 for n, m in masks.items()})
    expected = model(torch.ones(1, 5))
    masks.to_torch_prune()
    torch.testing.assert_close(model(torch.ones(1, 5)), expected)


def test_grouped_pruning_takes_the_fraction_from_every_group():
    from graphlottery.masks import prune_lowest_grouped

    groups = torch.tensor([0] * 10 + [1] * 30 + [2] * 5)
    score = torch.arange(45, 0, -1).float()  # group 2 holds the lowest scores
    keep = torch.ones(45, dtype=torch.bool)
    keep[0] = False
    out = prune_lowest_grouped(score, keep, groups, 0.2)
    assert int((keep & ~out).sum()) == round(0.2 * 44)  # exact total, as global pruning
    assert [int((keep & ~out)[groups == g].sum()) for g in range(3)] == [2, 6, 1]  # 9 * 0.2, 30 * 0.2, 5 * 0.2
    assert not out[34:40].any() and out[10:34].all()  # the 6 lowest scores of group 1 (ids 10..39) go
    with pytest.raises(ValueError, match="1-D of one shape"):
        prune_lowest_grouped(score, keep, groups[:5], 0.2)
