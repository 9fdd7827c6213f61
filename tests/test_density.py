import pytest
import torch
from torch import nn

from graphlottery.masks import WeightMasks, maskable_weights, sparsity
from graphlottery.masks.density import kept_counts, layer_densities, random_masks
from graphlottery.masks.distance import EarlyBird, mask_distance

SHAPES = {"conv1": (16, 1, 3, 3), "conv2": (32, 16, 3, 3), "fc1": (128, 512), "fc2": (10, 128)}
TOTAL = sum(torch.Size(s).numel() for s in SHAPES.values())


@pytest.mark.parametrize("scheme", ["uniform", "er", "erk"])
def test_random_masks_hit_the_sparsity_exactly(scheme):
    masks = random_masks(SHAPES, 0.8, scheme, generator=torch.Generator().manual_seed(0))
    assert sum(int(m.sum()) for m in masks.values()) == round(0.2 * TOTAL)
    assert all(masks[n].shape == SHAPES[n] for n in SHAPES)
    densities = layer_densities(SHAPES, 0.8, scheme)
    for name, mask in masks.items():
        assert float(mask.float().mean()) == pytest.approx(densities[name], abs=1.0 / mask.numel() + 1e-9)


def test_erk_follows_its_formula_and_resolves_overfull_layers():
    densities = layer_densities(SHAPES, 0.8, "erk")
    # conv1 and fc2 would exceed density 1: they are dense and the rest is re-solved
    assert densities["conv1"] == 1.0 and densities["fc2"] == 1.0
    raw = {"conv2": (32 + 16 + 3 + 3) / (32 * 16 * 9), "fc1": (128 + 512) / (128 * 512)}
    assert densities["conv2"] / densities["fc1"] == pytest.approx(raw["conv2"] / raw["fc1"])
    kept = sum(densities[n] * torch.Size(s).numel() for n, s in SHAPES.items())
    assert kept == pytest.approx(0.2 * TOTAL)
    er = layer_densities(SHAPES, 0.95, "er")
    assert er["conv2"] / er["fc1"] == pytest.approx((48 / 512) / (640 / 65536))
    uniform_dense = layer_densities(SHAPES, 0.5, "uniform", dense=["fc2"])
    assert uniform_dense["fc2"] == 1.0 and uniform_dense["fc1"] < 0.5


def test_density_schemes_reject_bad_input():
    with pytest.raises(ValueError, match="sparsity must be in"):
        layer_densities(SHAPES, 1.0)
    with pytest.raises(ValueError, match="unknown density scheme"):
        layer_densities(SHAPES, 0.5, "snip")
    with pytest.raises(ValueError, match="'bn.weight' has shape \\(16,\\)"):
        layer_densities({**SHAPES, "bn.weight": (16,)}, 0.5, "erk")
    with pytest.raises(ValueError, match="not among the layers"):
        layer_densities(SHAPES, 0.5, dense=["fc3"])
    with pytest.raises(ValueError, match="alone hold more"):
        layer_densities(SHAPES, 0.9, "erk", dense=["fc1"])


def test_kept_counts_total_exactly():
    counts = kept_counts({"a": (3, 3), "b": (7,)}, {"a": 0.5, "b": 0.5})
    assert sum(counts.values()) == 8 and counts["a"] in (4, 5)


def test_random_masks_drive_weight_masks():
    model = nn.Sequential(nn.Linear(20, 50), nn.ReLU(), nn.Linear(50, 5))
    names = maskable_weights(model)
    shapes = {n: tuple(model.get_parameter(n).shape) for n in names}
    masks = WeightMasks(model).set_hard(random_masks(shapes, 0.7, "erk", dense=[names[-1]]))
    assert sparsity(list(masks.hard_dict().values())) == pytest.approx(0.7, abs=1e-3)
    assert bool(masks.hard(names[-1]).all())


def test_mask_distance_and_early_bird():
    a = [torch.tensor([True, True, False, False]), torch.ones(2, 2, dtype=torch.bool)]
    b = [torch.tensor([True, False, False, True]), torch.ones(2, 2, dtype=torch.bool)]
    assert mask_distance(a, b) == pytest.approx(2 / 8)
    assert mask_distance(a, a) == 0.0
    assert mask_distance(a, b, relative=True) == pytest.approx(2 / 4)  # 2 differ, 2 + 2 pruned
    # unrelated masks that prune 5% differ in under 10% of all entries, but almost fully relatively
    g0 = torch.Generator().manual_seed(0)
    u, v = torch.rand(5000, generator=g0) > 0.05, torch.rand(5000, generator=g0) > 0.05
    assert mask_distance([u], [v]) < 0.11 and mask_distance([u], [v], relative=True) > 0.9
    relative_bird = EarlyBird(window=2, threshold=0.1, relative=True)
    relative_bird.update([u])
    assert not relative_bird.update([v])
    with pytest.raises(ValueError, match="shapes differ"):
        mask_distance(a, [b[0], torch.ones(4, dtype=torch.bool)])
    bird = EarlyBird(window=3, threshold=0.1)
    g = torch.Generator().manual_seed(0)
    moving = [bird.update([torch.rand(100, generator=g) < 0.5]) for _ in range(4)]
    assert moving == [False, False, False, False]
    settled = torch.rand(100, generator=g) < 0.5
    results = [bird.update([settled]) for _ in range(3)]
    assert results == [False, False, True] and bird.distances[-1] == 0.0
    # joint graph + weight groups: both must settle
    joint = EarlyBird(window=2, threshold=0.05)
    joint.update([settled], a)
    assert not joint.update([~settled], a)
    with pytest.raises(ValueError, match="mask groups"):
        joint.update(a)


def test_refill_keeps_whole_channels():
    from graphlottery.masks import refill

    g = torch.Generator().manual_seed(0)
    mask = torch.rand(32, 16, 3, 3, generator=g) < 0.2
    rows = refill(mask).reshape(32, -1)
    assert bool((rows.all(1) | ~rows.any(1)).all())  # every channel dense or empty
    assert int(rows.all(1).sum()) == round(int(mask.sum()) / 144)
    assert int(refill(mask, fill_rate=2.0).reshape(32, -1).all(1).sum()) == round(2 * int(mask.sum()) / 144)
    scores = torch.zeros(32, 16, 3, 3)
    scores[7] = 5.0
    assert bool(refill(mask, scores)[7].all())  # the channel with the largest kept weights survives
    with pytest.raises(ValueError, match="fill_rate"):
        refill(mask, fill_rate=0.0)
    assert not refill(torch.zeros(4, 3, dtype=torch.bool)).any()  # nothing kept, nothing refilled
    with pytest.raises(ValueError, match="output dimension"):
        refill(torch.ones(5, dtype=torch.bool))


def test_regroup_makes_dense_blocks_of_similar_rows():
    from graphlottery.masks import regroup

    base = torch.zeros(16, 20, dtype=torch.bool)
    base[0::2, :10] = True  # two kinds of rows, interleaved
    base[1::2, 10:15] = True
    noisy = base.clone()
    noisy[0, 19] = True
    out = regroup(noisy, group_size=8)
    assert torch.equal(out, base)  # rows grouped by kind; the stray entry goes
    g = torch.Generator().manual_seed(1)
    mask = torch.rand(24, 40, generator=g) < 0.3
    out = regroup(mask, group_size=6)
    assert abs(int(out.sum()) - int(mask.sum())) <= 24 // 2  # rounding of one width per group
    patterns = {tuple(row.tolist()) for row in out}
    assert len(patterns) <= 4  # at most one column set per group
