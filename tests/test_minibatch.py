"""Mini-batch UGS: sampled subgraphs read the one global edge mask through their edge ids,
and a mini-batch round prunes like a full-batch one."""
import pytest
import torch

from graphlottery import GCN, UGS
from graphlottery.lottery import MiniBatchUGS
from graphlottery.sampling import NeighborSampler
from graphlottery.tasks import LinkPrediction, link_split

KW = dict(mask_epochs=30, retrain_epochs=20, seed=0, lr=0.01, s1=1e-2, s2=1e-2)


def test_sampler_returns_global_ids_and_respects_fanouts(cora):
    sampler = NeighborSampler(cora.edge_index, cora.num_nodes, [3, 2])
    seeds = torch.tensor([5, 17, 1000, 2500])
    sub = sampler.sample(seeds, torch.Generator().manual_seed(0))
    assert torch.equal(sub.n_id[: sub.batch_size], seeds) and sub.n_id.unique().numel() == sub.n_id.numel()
    assert torch.equal(sub.n_id[sub.edge_index], cora.edge_index[:, sub.e_id])
    assert sub.e_id.unique().numel() == sub.e_id.numel()
    into_seeds = torch.bincount(sub.edge_index[1], minlength=sub.n_id.numel())[: sub.batch_size]
    degree = torch.bincount(cora.edge_index[1], minlength=cora.num_nodes)[seeds]
    assert bool((into_seeds <= 3).all()) and bool((into_seeds >= 1).all()) and bool((into_seeds <= degree).all())
    everything = sampler.sample(seeds, num_neighbors=[-1])
    assert everything.e_id.numel() == int(degree.sum())  # all incoming edges of the seeds
    restricted = NeighborSampler(cora.edge_index, cora.num_nodes, [-1, -1], edge_id=torch.arange(0, 10556, 2))
    assert bool((restricted.sample(seeds).e_id % 2 == 0).all())  # only the allowed columns
    with pytest.raises(ValueError, match="distinct"):
        sampler.sample(torch.tensor([3, 3]))
    part = torch.randperm(cora.num_nodes, generator=torch.Generator().manual_seed(0))[:900]
    induced = sampler.induced(part)  # every edge with both ends in the part, and nothing else
    inside = torch.zeros(cora.num_nodes, dtype=torch.bool)
    inside[part] = True
    expected = (inside[cora.edge_index[0]] & inside[cora.edge_index[1]]).nonzero().view(-1)
    assert torch.equal(induced.e_id.sort().values, expected) and torch.equal(induced.n_id, part)
    assert torch.equal(part[induced.edge_index], cora.edge_index[:, induced.e_id])
    with pytest.raises(ValueError, match="fan-out"):
        NeighborSampler(cora.edge_index, cora.num_nodes, [0])


def test_sampled_edges_read_and_train_the_global_scores(cora):
    torch.manual_seed(0)
    ugs = MiniBatchUGS(GCN(cora.num_features, 16, 2, 7), cora, batch_size=64, num_neighbors=[5, 5])
    score = ugs.graph.make_soft()
    with torch.no_grad():
        score.copy_(torch.rand_like(score))
    sub = ugs._view().sample(torch.arange(64), torch.Generator().manual_seed(1))
    weight = ugs._edge_weight(ugs.graph.edge_unit[sub.e_id])
    # the score of an edge, found independently: its undirected pair's rank among all pairs
    src, dst = cora.edge_index[:, sub.e_id]
    pairs = torch.unique(torch.minimum(*cora.edge_index) * cora.num_nodes + torch.maximum(*cora.edge_index))
    unit = torch.searchsorted(pairs, torch.minimum(src, dst) * cora.num_nodes + torch.maximum(src, dst))
    assert torch.equal(weight, score[unit])
    weight.sum().backward()  # each unit's gradient counts its sampled directions
    assert torch.equal(score.grad, torch.bincount(unit, minlength=score.numel()).float())


def test_minibatch_round_agrees_with_full_batch(cora):
    torch.manual_seed(0)
    full = UGS(GCN(cora.num_features, 64, 2, 7), cora, **KW)
    full_record = full.step()
    torch.manual_seed(0)
    mini = MiniBatchUGS(GCN(cora.num_features, 64, 2, 7), cora, batch_size=35, num_neighbors=[10, 10], **KW)
    assert mini.steps == 4
    record = mini.step()
    assert record["graph_sparsity"] == full_record["graph_sparsity"] == pytest.approx(264 / 5278)
    assert record["weight_sparsity"] == full_record["weight_sparsity"]
    assert record["test"] > 0.7
    pruned_full, pruned_mini = ~full.graph.keep, ~mini.graph.keep
    overlap = int((pruned_full & pruned_mini).sum()) / int(pruned_full.sum())
    # measured 0.60 (159 of 264 pruned edges in common); chance is 264 / 5278 = 0.05
    assert overlap > 0.45
    ticket = mini.ticket()
    assert ticket.config["world_size"] == 1 and torch.equal(ticket.edge_mask, mini.graph.edge_mask())


def test_cluster_batches_prune_like_full_batch(cora):
    torch.manual_seed(0)
    full = UGS(GCN(cora.num_features, 64, 2, 7), cora, **KW)
    full.step()
    torch.manual_seed(0)
    one = MiniBatchUGS(GCN(cora.num_features, 64, 2, 7), cora, num_parts=1, **KW)  # one part: the whole graph
    record = one.step()
    overlap = int((~full.graph.keep & ~one.graph.keep).sum()) / int((~full.graph.keep).sum())
    assert record["graph_sparsity"] == pytest.approx(264 / 5278) and record["test"] > 0.75
    assert overlap > 0.7  # measured 0.88 at 60 + 60 epochs: the same search up to Adam's fused rounding
    torch.manual_seed(0)
    four = MiniBatchUGS(GCN(cora.num_features, 64, 2, 7), cora, num_parts=4, **KW)
    four._seed(1)  # a phase's seeding creates the shuffle
    parts, group = next(four.batches())
    assert four.steps == 4 and parts.numel() == 677 and group == int(cora.train_mask[parts].sum())
    assert four.step()["graph_sparsity"] == pytest.approx(264 / 5278)
    many = MiniBatchUGS(GCN(cora.num_features, 8, 2, 7), cora, num_parts=200)
    many._seed(1)
    sizes = [size for _, size in many.batches()]  # groups without training nodes are skipped
    assert sum(sizes) == 140 and 0 not in sizes and len(sizes) < 200
    for parts in (0, 1355):
        with pytest.raises(ValueError, match="every part needs at least 2"):
            MiniBatchUGS(GCN(cora.num_features, 8, 2, 7), cora, num_parts=parts)


def test_batch_losses_are_the_full_batch_loss(cora):
    """Without dropout, one cluster batch holding the whole graph gives full batch's loss, and a
    link batch (GIN, every neighbour: exact embeddings) gives the BCE of its pairs."""
    from graphlottery import GIN
    from graphlottery.sparse import Adjacency

    torch.manual_seed(0)
    ugs = MiniBatchUGS(GCN(cora.num_features, 16, 2, 7), cora, num_parts=1)
    ugs.model.eval()
    ugs._seed(1)
    loss = next(ugs._losses(ugs._view()))
    full = ugs.task.loss(ugs.model(cora.x, Adjacency(cora.edge_index, cora.num_nodes)))
    assert loss.item() == pytest.approx(full.item(), rel=1e-5)

    data = link_split(cora, seed=0)
    link = MiniBatchUGS(GIN(cora.num_features, 16, 2, 8), data, LinkPrediction(data), batch_size=500,
                        num_neighbors=[-1, -1])
    link.model.eval()
    link._seed(1)
    pos, group = next(link.batches())
    state = link._sampling.get_state()
    loss = link._link_loss(link._view(), pos)
    link._sampling.set_state(state)
    neg = torch.randint(0, cora.num_nodes, pos.shape, generator=link._sampling)
    z = link.model(data.x, Adjacency(data.edge_index, cora.num_nodes))
    logits = torch.cat([link.task.decode(z, pos), link.task.decode(z, neg)])
    labels = torch.cat([torch.ones(pos.size(1)), torch.zeros(neg.size(1))])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="sum")
    assert group == pos.size(1) == 499 and loss.item() == pytest.approx(expected.item(), rel=1e-4)


def test_sparse_features_stay_sparse_in_batches(cora):
    """Sparse CSR features (e.g. ogbl-ddi's one-hot node ids) reach the model as CSR batch rows,
    never densified, and a UGS round trains as with the same features stored dense."""
    sparse = cora.clone()
    sparse.x = cora.x.to_sparse_csr()
    results, layouts = [], set()
    for data in (cora, sparse):
        torch.manual_seed(0)
        model = GCN(cora.num_features, 16, 2, 7)
        ugs = MiniBatchUGS(model, data, batch_size=64, num_neighbors=[5, 5], mask_epochs=2, retrain_epochs=2)
        if data is sparse:
            model.register_forward_pre_hook(lambda _, args: layouts.add(args[0].layout))
        results.append(ugs.step())
    assert layouts == {torch.sparse_csr}
    for key in ("val", "test", "graph_sparsity", "weight_sparsity"):
        assert results[1][key] == pytest.approx(results[0][key], abs=1e-3), key


def test_minibatch_link_prediction_round(cora):
    data = link_split(cora, seed=0)
    torch.manual_seed(0)
    ugs = MiniBatchUGS(GCN(cora.num_features, 64, 2, 32), data, LinkPrediction(data), batch_size=1024,
                       num_neighbors=[10, 10], mask_epochs=15, retrain_epochs=15, lr=0.01, weight_decay=0.0, seed=0)
    assert ugs.steps == 5 and ugs.out_width == 32  # 4,488 training edges
    ugs._seed(1)  # a phase's seeding creates the shuffle
    pos, group = next(ugs.batches())
    assert pos.shape == (2, 898) and group == 898 and bool((pos[0] < pos[1]).all())
    record = ugs.step()
    kept = data.edge_index.size(1) // 2
    assert record["graph_sparsity"] == pytest.approx(round(0.05 * kept) / kept)
    assert record["weight_sparsity"] == pytest.approx(0.2, abs=1e-4)
    assert record["test"] > 0.8  # ROC-AUC from sampled neighbourhoods; measured 0.875


def test_minibatch_scores_test_pairs_with_validation_edges(cora):
    """``val_as_input`` in mini-batch: with every neighbour at evaluation (GIN: exact embeddings),
    validation and test scores equal full batch's, with soft edge masks too (the validation edges
    read mask value 1)."""
    from graphlottery import GIN

    data = link_split(cora, seed=0)
    torch.manual_seed(0)
    model = GIN(cora.num_features, 16, 2, 8)
    generator = torch.Generator().manual_seed(0)
    scores = torch.rand(data.edge_index.size(1) // 2, generator=generator)
    keep = torch.rand(scores.shape, generator=generator) > 0.3  # a third of the edges pruned
    results = {}
    for kind, flag in (("mini", True), ("full", True), ("full", False)):
        kw = dict(batch_size=500, num_neighbors=[3, 3], eval_batch_size=300) if kind == "mini" else {}
        ugs = (MiniBatchUGS if kind == "mini" else UGS)(model, data, LinkPrediction(data, val_as_input=flag), **kw)
        ugs.graph.set_keep(keep)
        ugs.graph.make_soft()
        ugs.graph.score.data.copy_(scores)
        view = ugs._view()
        results[kind, flag] = ugs._evaluate(view)
        if kind == "mini":  # one test sampler per view: a new phase's view gets a new one
            first = ugs._test_view(view)
            assert ugs._test_view(view) is first and ugs._test_view(ugs._view()) is not first
    assert results["mini", True] == pytest.approx(results["full", True], abs=1e-4)
    assert results["full", True][0] == results["full", False][0]
    assert results["full", True][1] != pytest.approx(results["full", False][1], abs=1e-3)


def test_minibatch_refuses_what_it_cannot_train(cora):
    from graphlottery.data import load_tu
    from graphlottery.tasks import GraphClassification, graph_folds, graph_union

    mutag = graph_union(load_tu("MUTAG"))
    with pytest.raises(ValueError, match="node classification or link prediction; got a GraphClassification"):
        MiniBatchUGS(GCN(mutag.num_features, 8, 2, 2), mutag, GraphClassification(mutag, graph_folds(mutag.y, 0)))
    model = GCN(cora.num_features, 8, 2, 8)
    with pytest.raises(ValueError, match="batch sizes"):
        MiniBatchUGS(model, cora, batch_size=0)
    with pytest.raises(ValueError, match="eval_num_neighbors"):
        MiniBatchUGS(model, cora, eval_num_neighbors=[0])


def test_the_glt_driver_runs_mini_batch(tmp_path):
    from graphlottery.config import ConfigError, GLTConfig
    from graphlottery.lottery import Ticket, run_glt

    config = GLTConfig(dataset="Cora", hidden=16, batch_size=70, num_neighbors=[5, 5], rounds=1, mask_epochs=3,
                       retrain_epochs=3, random_baseline=False)
    results = run_glt(config, tmp_path, progress=False)
    assert results["rounds"][1]["graph_sparsity"] == pytest.approx(round(0.05 * 5278) / 5278)
    assert 0.0 <= results["rounds"][1]["test"] <= 1.0
    assert Ticket.load(tmp_path / "seed_0" / "round_01.pt").config["world_size"] == 1
    with pytest.raises(ConfigError, match="one fan-out per layer"):
        GLTConfig(dataset="Cora", batch_size=70, num_neighbors=[5, 5, 5])
    with pytest.raises(ConfigError, match="graph classification runs full-batch"):
        GLTConfig(dataset="MUTAG", task="graph", batch_size=70)
    link = GLTConfig(dataset="Cora", task="link", hidden=16, embedding=8, batch_size=2048, num_neighbors=[5, 5],
                     rounds=1, mask_epochs=2, retrain_epochs=2, random_baseline=False)
    results = run_glt(link, tmp_path / "link", progress=False)
    assert 0.0 <= results["rounds"][1]["test"] <= 1.0 and results["metric"] == "roc_auc"
    with pytest.raises(ConfigError, match="set batch_size"):
        GLTConfig(dataset="Cora", distributed=True)
