import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader
from torch_geometric.utils import is_undirected, to_undirected

from graphlottery.contrastive.augment import (
    JOAO,
    AttrMask,
    Compose,
    EdgePerturb,
    Identity,
    NodeDrop,
    RandomApply,
    RandomChoice,
    Subgraph,
    drop_node_mask,
    feature_mask,
    perturb_edge_mask,
    project_simplex,
    subgraph_mask,
)

AUGMENTATIONS = {
    "node_drop": lambda g: NodeDrop(0.2, generator=g),
    "edge_perturb": lambda g: EdgePerturb(0.2, generator=g),
    "attr_mask": lambda g: AttrMask(0.2, fill="mean", generator=g),
    "subgraph": lambda g: Subgraph(0.2, generator=g),
    "compose": lambda g: Compose([NodeDrop(0.3, generator=g), EdgePerturb(0.3, generator=g), Subgraph(generator=g)]),
}


@pytest.fixture(scope="module")
def mutag(data_env):
    from graphlottery.data import load_tu

    return [data for data in load_tu("MUTAG")[:48]]


@pytest.fixture(scope="module")
def batch(mutag):
    return Batch.from_data_list(mutag)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def path_graph(n, features=3):
    edge_index = to_undirected(torch.stack([torch.arange(n - 1), torch.arange(1, n)]), num_nodes=n)
    return Data(x=torch.randn(n, features), edge_index=edge_index, y=torch.tensor([n]))


def components(num_nodes, edge_index):
    """Connected components by BFS (reference implementation for the tests)."""
    neighbours = [[] for _ in range(num_nodes)]
    for u, v in edge_index.t().tolist():
        neighbours[u].append(v)
        neighbours[v].append(u)
    seen, count = set(), 0
    for start in range(num_nodes):
        if start in seen:
            continue
        count += 1
        stack = [start]
        seen.add(start)
        while stack:
            for v in neighbours[stack.pop()]:
                if v not in seen:
                    seen.add(v)
                    stack.append(v)
    return count


def snapshot(data):
    return {key: value.clone() for key, value in data.items() if isinstance(value, torch.Tensor)}


def assert_unchanged(data, before):
    after = {key: value for key, value in data.items() if isinstance(value, torch.Tensor)}
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert torch.equal(after[key], value), key


def assert_consistent(inp, view, same_x=True):
    """Every view's invariants, checked against its input."""
    n_id, e_id = view.n_id, view.e_id
    assert n_id.numel() == view.num_nodes and e_id.numel() == view.edge_index.size(1)
    assert torch.equal(n_id, torch.sort(n_id)[0]) and n_id.unique().numel() == n_id.numel()
    if same_x:
        assert torch.equal(view.x, inp.x[n_id])
    old = e_id >= 0
    assert torch.equal(n_id[view.edge_index[:, old]], inp.edge_index[:, e_id[old]])
    added = view.edge_index[:, ~old]
    assert not bool((added[0] == added[1]).any())
    if "edge_attr" in inp:
        assert torch.equal(view.edge_attr[old], inp.edge_attr[e_id[old]])
        assert bool((view.edge_attr[~old] == 0).all())
    if "y" in inp:
        assert torch.equal(view.y, inp.y)
    if not isinstance(inp, Batch):
        return
    assert view.num_graphs == inp.num_graphs
    assert torch.equal(view.batch, inp.batch[n_id])
    counts = torch.bincount(view.batch, minlength=view.num_graphs)
    assert torch.equal(view.ptr, torch.cat([counts.new_zeros(1), counts.cumsum(0)]))
    edge_graph = view.batch[view.edge_index]
    assert torch.equal(edge_graph[0], edge_graph[1])  # every edge lies within its graph
    assert bool((edge_graph[0][1:] >= edge_graph[0][:-1]).all())  # and edges stay grouped by graph
    inputs, views = inp.to_data_list(), view.to_data_list()
    edge_start = inp._slice_dict["edge_index"]
    for g, (a, v) in enumerate(zip(inputs, views)):
        local_n = v.n_id - inp.ptr[g]
        assert v.num_nodes == counts[g] and bool((local_n >= 0).all()) and bool((local_n < a.num_nodes).all())
        if same_x:
            assert torch.equal(v.x, a.x[local_n])
        assert torch.equal(v.y, a.y)
        keep = v.e_id >= 0
        assert torch.equal(local_n[v.edge_index[:, keep]], a.edge_index[:, v.e_id[keep] - edge_start[g]])
        if "edge_attr" in a:
            assert v.edge_attr.size(0) == v.edge_index.size(1)


# --- node dropping ------------------------------------------------------------------------------
def test_node_drop_exact_per_graph_counts(batch):
    before = snapshot(batch)
    view = NodeDrop(0.2, generator=gen())(batch)
    counts = batch.ptr.diff()
    assert torch.equal(view.ptr.diff(), counts - (0.2 * counts.double()).floor().long())
    assert [int(0.2 * n) for n in counts.tolist()] == (counts - view.ptr.diff()).tolist()
    assert_consistent(batch, view)
    assert_unchanged(batch, before)


def test_node_drop_keeps_a_node_of_every_graph():
    tiny = Batch.from_data_list([path_graph(1), path_graph(2), path_graph(5)])
    for exact in (True, False):
        view = NodeDrop(1.0, exact=exact, generator=gen())(tiny)
        assert view.ptr.diff().tolist() == [1, 1, 1]
        assert view.edge_index.size(1) == 0
        assert_consistent(tiny, view)
    single = path_graph(1)
    assert NodeDrop(0.9, generator=gen())(single).num_nodes == 1


def test_node_drop_bernoulli_is_per_node(batch):
    keep = drop_node_mask(batch, 0.5, exact=False, generator=gen())
    assert 0.35 < float(keep.float().mean()) < 0.65
    assert int(torch.bincount(batch.batch[keep], minlength=batch.num_graphs).min()) >= 1


def test_featureless_batch_keeps_num_nodes_per_graph():
    graphs = [Data(edge_index=path_graph(n).edge_index, num_nodes=n, y=torch.tensor([0])) for n in (4, 7, 10)]
    batch = Batch.from_data_list(graphs)
    view = NodeDrop(0.5, generator=gen())(batch)
    assert view.num_nodes == 2 + 4 + 5
    assert [d.num_nodes for d in view.to_data_list()] == [2, 4, 5]


# --- edge perturbation --------------------------------------------------------------------------
def test_edge_perturb_drops_and_adds_per_undirected_edge(batch):
    before = snapshot(batch)
    view = EdgePerturb(0.2, generator=gen())(batch)
    assert_consistent(batch, view)
    assert_unchanged(batch, before)
    assert is_undirected(view.edge_index, num_nodes=view.num_nodes)
    assert torch.equal(view.n_id, torch.arange(batch.num_nodes))
    n = batch.num_nodes
    for g in range(batch.num_graphs):
        lo, hi = batch.ptr[g], batch.ptr[g + 1]
        old = batch.edge_index[:, (batch.edge_index[0] >= lo) & (batch.edge_index[0] < hi)]
        new = view.edge_index[:, (view.edge_index[0] >= lo) & (view.edge_index[0] < hi)]
        old_keys = set((old[0] * n + old[1]).tolist())
        new_keys = (new[0] * n + new[1]).tolist()
        assert len(set(new_keys)) == len(new_keys)  # no duplicates
        units = old.size(1) // 2
        assert len(old_keys - set(new_keys)) == 2 * int(0.2 * units)  # exactly int(0.2 * m_g) undirected edges
        assert len(set(new_keys) - old_keys) == 2 * int(0.2 * units)  # as many added, none re-added
    assert int((view.e_id == -1).sum()) == view.edge_index.size(1) - int((view.e_id >= 0).sum())


def test_edge_perturb_directed_input_and_drop_only():
    edge_index = torch.tensor([[0, 1, 2, 3, 4, 0, 2, 4, 1, 3], [1, 2, 3, 4, 0, 2, 4, 1, 3, 0]])
    data = Data(x=torch.randn(5, 2), edge_index=edge_index, edge_weight=torch.rand(10))
    keep, added = perturb_edge_mask(data, 0.3, generator=gen())
    assert int((~keep).sum()) == 3 and added.size(1) == 3  # the complete digraph minus these has 10 free pairs
    view = EdgePerturb(0.3, add=False, generator=gen())(data)
    assert view.edge_index.size(1) == 7 and bool((view.e_id >= 0).all())
    assert torch.equal(view.edge_weight, data.edge_weight[view.e_id])


def test_edge_perturb_edgeless_and_complete_graphs():
    edgeless = Data(x=torch.randn(4, 2), edge_index=torch.zeros(2, 0, dtype=torch.long))
    view = EdgePerturb(0.5, generator=gen())(edgeless)
    assert view.edge_index.size(1) == 0 and view.num_nodes == 4
    full = torch.ones(4, 4).triu(1).nonzero().t()
    complete = Data(x=torch.randn(4, 2), edge_index=to_undirected(full))
    view = EdgePerturb(0.5, generator=gen())(complete)
    assert view.edge_index.size(1) == 6  # 3 of 6 edges dropped; the only free pairs are those, never re-added
    assert is_undirected(view.edge_index)


# --- attribute masking --------------------------------------------------------------------------
def test_attr_mask_rows_with_mean_token(batch):
    before = snapshot(batch)
    view = AttrMask(0.2, fill="mean", generator=gen())(batch)
    assert_consistent(batch, view, same_x=False)
    assert_unchanged(batch, before)
    assert torch.equal(view.n_id, torch.arange(batch.num_nodes))
    assert torch.equal(view.e_id, torch.arange(batch.num_edges))
    mask = feature_mask(batch, 0.2, "rows", generator=gen())  # the same draws as the transform's
    counts = batch.ptr.diff()
    assert torch.equal(torch.bincount(batch.batch[mask[:, 0]], minlength=batch.num_graphs),
                       (0.2 * counts.double()).floor().long())
    token = torch.stack([batch.x[batch.batch == g].mean(0) for g in range(batch.num_graphs)])[batch.batch]
    assert torch.allclose(view.x, torch.where(mask, token, batch.x))


def test_attr_mask_modes_count_per_graph(batch):
    counts = batch.ptr.diff()
    num_features = batch.x.size(1)
    rows = feature_mask(batch, 0.3, "rows", generator=gen())
    assert torch.equal(torch.bincount(batch.batch[rows.all(1)], minlength=48), (0.3 * counts.double()).floor().long())
    columns = feature_mask(batch, 0.3, "columns", generator=gen())
    for g in range(batch.num_graphs):
        block = columns[batch.ptr[g]:batch.ptr[g + 1]]
        assert bool((block == block[0]).all()) and int(block[0].sum()) == int(0.3 * num_features)
    entries = feature_mask(batch, 0.3, "entries", generator=gen())
    per_graph = torch.zeros(48, dtype=torch.long).index_add_(0, batch.batch, entries.sum(1))
    assert torch.equal(per_graph, (0.3 * (counts * num_features).double()).floor().long())


def test_attr_mask_zero_and_noise_fill():
    data = path_graph(50, features=4)
    zero = AttrMask(0.2, mode="entries", generator=gen())(data)
    assert int((zero.x == 0).sum()) == 40
    noise = AttrMask(1.0, fill="noise", generator=gen())(path_graph(2000, features=4))
    assert abs(float(noise.x.mean()) - 0.5) < 0.05 and abs(float(noise.x.std()) - 0.5) < 0.05


def test_attr_mask_needs_features():
    data = Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=2)
    with pytest.raises(ValueError, match="featureless='constant'"):
        AttrMask()(data)
    with pytest.raises(ValueError, match="floating-point"):
        AttrMask(fill="mean")(Data(x=torch.ones(2, 3, dtype=torch.long), edge_index=data.edge_index))


# --- subgraph -----------------------------------------------------------------------------------
def test_subgraph_counts_and_connectivity(batch, mutag):
    before = snapshot(batch)
    view = Subgraph(0.2, generator=gen())(batch)
    assert_consistent(batch, view)
    assert_unchanged(batch, before)
    counts = batch.ptr.diff()
    assert torch.equal(view.ptr.diff(), counts - (0.2 * counts.double()).floor().long())
    for original, sub in zip(mutag, view.to_data_list()):
        if components(original.num_nodes, original.edge_index) == 1:
            assert components(sub.num_nodes, sub.edge_index) == 1
    # the view is the subgraph induced by the kept nodes
    keep = torch.zeros(batch.num_nodes, dtype=torch.bool)
    keep[view.n_id] = True
    induced = keep[batch.edge_index].all(0)
    assert view.edge_index.size(1) == int(induced.sum())


def test_subgraph_small_keep_is_connected_on_a_long_path():
    data = path_graph(60)
    for seed in range(5):
        keep = subgraph_mask(data, 0.8, generator=gen(seed))
        idx = keep.nonzero().view(-1)
        assert idx.numel() == 12 and int(idx.max() - idx.min()) == 11  # a contiguous stretch


def test_subgraph_reaches_target_across_components_and_isolated_nodes():
    # two triangles and two isolated nodes: keeping 6 of 8 needs jumps between components
    edges = torch.tensor([[0, 1, 2, 3, 4, 5], [1, 2, 0, 4, 5, 3]])
    data = Data(x=torch.randn(8, 2), edge_index=to_undirected(edges))
    for seed in range(5):
        view = Subgraph(0.25, generator=gen(seed))(data)
        assert view.num_nodes == 6
        assert_consistent(data, view)
    one = Batch.from_data_list([path_graph(1), path_graph(3)])
    assert Subgraph(0.5, generator=gen())(one).ptr.diff().tolist() == [1, 2]


def test_subgraph_walk_is_the_same_with_the_neighbour_table_or_csr(batch, monkeypatch):
    import graphlottery.contrastive.augment.subgraph as subgraph_module

    spokes = torch.stack([torch.zeros(40, dtype=torch.long), torch.arange(1, 41)])
    star = Data(x=torch.randn(41, 2), edge_index=to_undirected(spokes))
    for data in (batch, star):
        with_table = subgraph_mask(data, 0.3, generator=gen(1))
        monkeypatch.setattr(subgraph_module, "TABLE_BUDGET", 0)
        assert torch.equal(subgraph_mask(data, 0.3, generator=gen(1)), with_table)
        monkeypatch.undo()
    view = Subgraph(0.5, generator=gen())(star)  # (a hub: the CSR path) keeps the hub and 20 leaves
    assert view.num_nodes == 21 and int(view.n_id[0]) == 0 and components(21, view.edge_index) == 1


# --- composition ------------------------------------------------------------------------------
def test_compose_maps_ids_to_the_original_input(batch):
    before = snapshot(batch)
    view = AUGMENTATIONS["compose"](gen())(batch)
    assert_consistent(batch, view)
    assert_unchanged(batch, before)
    assert bool((view.e_id == -1).any())
    counts = batch.ptr.diff()
    after_drop = counts - (0.3 * counts.double()).floor().long()
    assert torch.equal(view.ptr.diff(), after_drop - (0.2 * after_drop.double()).floor().long())


def test_compose_accepts_transforms_that_record_no_ids(batch):
    from torch_geometric.transforms import NormalizeFeatures

    view = Compose([NodeDrop(generator=gen()), NormalizeFeatures()])(batch)
    assert view.num_nodes == view.n_id.numel()
    assert torch.allclose(view.x, NormalizeFeatures()(batch.clone()).x[view.n_id])


def test_identity_random_apply_and_random_choice(batch):
    view = Identity()(batch)
    assert torch.equal(view.n_id, torch.arange(batch.num_nodes)) and view.edge_index is batch.edge_index
    assert_consistent(batch, view)
    assert RandomApply(NodeDrop(), p=0.0)(batch).num_nodes == batch.num_nodes
    assert RandomApply(NodeDrop(), p=1.0)(batch).num_nodes < batch.num_nodes
    choice = RandomChoice([Identity(), NodeDrop(0.5)], probs=[0.0, 1.0], generator=gen())
    assert choice(batch).num_nodes < batch.num_nodes and choice.last == 1
    choice.probs = torch.tensor([3.0, 1.0])
    assert torch.allclose(choice.probs, torch.tensor([0.75, 0.25], dtype=torch.float64))
    picks = [choice.sample() for _ in range(400)]
    assert 0.65 < picks.count(0) / 400 < 0.85
    with pytest.raises(ValueError, match="shape"):
        choice.probs = [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="non-negative"):
        choice.probs = [-1.0, 2.0]


# --- JOAO ---------------------------------------------------------------------------------------
def test_simplex_projection():
    torch.manual_seed(0)
    for _ in range(50):
        v = torch.randn(6, dtype=torch.float64) * 3
        p = project_simplex(v)
        assert bool((p >= 0).all()) and float(p.sum()) == pytest.approx(1.0)
        # optimality (KKT): p = max(v - theta, 0) with one theta for all coordinates
        theta = (v - p)[p > 0]
        assert float(theta.max() - theta.min()) < 1e-9 and bool((v[p == 0] <= theta[0] + 1e-12).all())
    assert torch.allclose(project_simplex(torch.tensor([0.2, 0.3, 0.5])), torch.tensor([0.2, 0.3, 0.5]))
    assert project_simplex(torch.tensor([5.0, 0.0, 0.0])).tolist() == [1.0, 0.0, 0.0]


def test_joao_moves_mass_to_the_harder_augmentation():
    choice = RandomChoice([NodeDrop(), Subgraph(), EdgePerturb(), AttrMask(), Identity()], probs=[1, 0, 0, 0, 0])
    joao = JOAO(choice, gamma=0.1)
    assert torch.allclose(choice.probs, torch.full((5,), 0.2, dtype=torch.float64))
    losses = torch.tensor([0.1, 0.5, 0.1, 0.1, 0.1])
    p = joao.update(losses)
    assert float(p.sum()) == pytest.approx(1.0) and bool((p >= 0).all())
    # b = P + (loss - 0.1 * (P - 1/5)) = [0.3, 0.7, 0.3, 0.3, 0.3]; projection subtracts 0.9 / 5
    assert torch.allclose(p, torch.tensor([0.12, 0.52, 0.12, 0.12, 0.12], dtype=torch.float64))
    assert torch.allclose(choice.probs, p)
    for _ in range(5):
        p = joao.update(losses)
    assert float(p[1]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="one per candidate"):
        joao.update(torch.ones(3))
    standalone = JOAO(25)
    assert standalone.sample(10, generator=gen()).shape == (10,)


# --- inputs, devices, generators ----------------------------------------------------------------
@pytest.mark.parametrize("make", [NodeDrop, EdgePerturb, AttrMask, Subgraph])
def test_bad_ratio_and_empty_graph(make):
    for ratio in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="ratio"):
            make(ratio)
    empty = Batch.from_data_list([path_graph(3), Data(x=torch.zeros(0, 3), edge_index=torch.zeros(2, 0).long(),
                                                      y=torch.tensor([0])), path_graph(2)])
    with pytest.raises(ValueError, match="graph 1 of the batch has no nodes"):
        make(0.2)(empty)
    with pytest.raises(ValueError, match="no nodes"):
        make(0.2)(Data(x=torch.zeros(0, 3), edge_index=torch.zeros(2, 0).long()))


def test_bad_options():
    with pytest.raises(ValueError, match="mode"):
        AttrMask(mode="cols")
    with pytest.raises(ValueError, match="fill"):
        AttrMask(fill="token")
    with pytest.raises(ValueError, match="patience"):
        Subgraph(patience=-1)
    with pytest.raises(ValueError, match="at least one"):
        RandomChoice([])


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_generator_makes_views_reproducible(batch, name):
    a, b = AUGMENTATIONS[name](gen(3))(batch), AUGMENTATIONS[name](gen(3))(batch)
    c = AUGMENTATIONS[name](gen(4))(batch)
    assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index) and torch.equal(a.e_id, b.e_id)
    assert not (torch.equal(a.x, c.x) and torch.equal(a.edge_index, c.edge_index))


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_augmentations_on_device(batch, device, name):
    data = batch.to(device)
    view = AUGMENTATIONS[name](None)(data)
    assert view.x.device.type == device.type and view.edge_index.device.type == device.type
    assert view.n_id.device.type == device.type
    assert_consistent(data, view, same_x=name != "attr_mask")
    # a CPU generator gives the same view on every device
    on_device = AUGMENTATIONS[name](gen(5))(data)
    on_cpu = AUGMENTATIONS[name](gen(5))(batch)
    assert torch.equal(on_device.edge_index.cpu(), on_cpu.edge_index) and torch.equal(on_device.x.cpu(), on_cpu.x)


def test_dataloader_batches(mutag):
    loader = DataLoader(mutag, batch_size=16)
    for data in loader:
        for make in AUGMENTATIONS.values():
            assert_consistent(data, make(gen())(data), same_x=False)


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_inconsistent_graphs_are_rejected(name):
    aug = AUGMENTATIONS[name](gen())
    out_of_range = Data(x=torch.randn(4, 3), edge_index=torch.tensor([[0, 1, 3], [1, 0, 7]]))
    with pytest.raises(ValueError, match="node indices in \\[0, 7\\]"):
        aug(out_of_range)
    with pytest.raises(ValueError, match="x has 3 rows"):
        aug(Data(x=torch.randn(3, 3), edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=4))
    a = Data(x=torch.randn(3, 3), edge_index=torch.tensor([[0, 1], [1, 0]]))
    batch = Batch.from_data_list([a, a.clone()])
    batch.edge_index = torch.tensor([[0, 1, 2], [1, 0, 4]])
    with pytest.raises(ValueError, match="joins two graphs"):
        aug(batch)


def test_node_indices_other_than_edges_are_not_silently_kept():
    data = Data(x=torch.randn(6, 2), edge_index=torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]]),
                edge_label_index=torch.tensor([[0, 5], [4, 2]]))
    with pytest.raises(ValueError, match="edge_label_index"):
        NodeDrop(0.5, generator=gen())(data)
    assert EdgePerturb(0.5, generator=gen())(data).edge_label_index.equal(data.edge_label_index)
