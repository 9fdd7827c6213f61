from pathlib import Path

import pytest
import torch

from graphlottery import ConfigError, GLTConfig, Ticket, run_glt
from graphlottery.data import load_tu
from graphlottery.tasks import GraphClassification, graph_folds, graph_union


def test_union_and_folds_cover_the_dataset():
    mutag = load_tu("MUTAG")
    union = graph_union(mutag)
    assert union.num_nodes == sum(g.num_nodes for g in mutag) and union.y.numel() == 188
    assert union.edge_index.size(1) == sum(g.edge_index.size(1) for g in mutag)
    # global edge ids: graph 1's edges follow graph 0's, shifted by its node count
    assert torch.equal(union.edge_index[:, mutag[0].edge_index.size(1)], mutag[1].edge_index[:, 0] + mutag[0].num_nodes)
    tests = []
    for fold in range(10):
        split = graph_folds(union.y, fold)
        assert not set(split["train"].tolist()) & set(split["test"].tolist())
        assert not set(split["val"].tolist()) & (set(split["train"].tolist()) | set(split["test"].tolist()))
        tests += split["test"].tolist()
    assert sorted(tests) == list(range(188))  # every graph is tested exactly once
    with pytest.raises(ValueError, match="fold must be in"):
        graph_folds(union.y, 10)


def test_graph_task_rejects_inconsistent_input():
    union = graph_union(load_tu("MUTAG"))
    split = graph_folds(union.y, 0)
    with pytest.raises(ValueError, match="data.batch"):
        GraphClassification(union.clone().update({"batch": None}), split)
    with pytest.raises(ValueError, match="test split holds no graphs"):
        GraphClassification(union, {**split, "test": torch.zeros(0, dtype=torch.long)})
    with pytest.raises(ValueError, match="featureless"):
        graph_union(load_tu("IMDB-BINARY", featureless=None))
    with pytest.raises(ConfigError, match="does not fit dataset"):
        GLTConfig(dataset="Cora", task="graph")
    with pytest.raises(ConfigError, match="does not fit dataset"):
        GLTConfig(dataset="MUTAG", task="node")


def test_short_graph_classification_ticket(tmp_path):
    config = GLTConfig(dataset="MUTAG", task="graph", model="gin", pool="sum", hidden=32, layers=3, dropout=0.5,
                       lr=0.01, weight_decay=0.0, l1="decoupled", mask_epochs=40, retrain_epochs=40, rounds=1,
                       seeds=[0], random_baseline=False, graph_mask="inductive")  # the scorer reads 2-hop context
    results = run_glt(config, tmp_path, progress=False)
    dense, first = results["rounds"]
    assert results["task"] == "graph" and dense["test"] > 0.75  # 19 test graphs; the majority class is 2/3
    assert first["graph_sparsity"] == pytest.approx(0.05, abs=1e-3)
    ticket = Ticket.load(tmp_path / "seed_0" / "round_01.pt")
    assert ticket.edge_mask.numel() == 7442  # one mask over every edge of the dataset
    assert ticket.model_class == "GINClassifier" and "readout.1.weight" in ticket.weight_masks  # trained, pruned


def test_dense_layers_are_never_pruned():
    """A classifier head named in dense_layers gets no mask: after pruning 90% of the rest, its
    weights all still act, and the ticket holds masks for the other layers only."""
    from graphlottery import GCN, UGS
    from graphlottery.data import load_planetoid

    cora = load_planetoid("Cora")
    torch.manual_seed(0)
    ugs = UGS(GCN(cora.num_features, 16, 2, 7), cora, dense_layers=["convs.1"], mask_epochs=3, retrain_epochs=3,
              prune_weight=0.9)
    ugs.dense()
    record = ugs.step()
    assert ugs.masks.names == ["convs.0.lin.weight"] and record["weight_sparsity"] == pytest.approx(0.9, abs=1e-4)
    assert set(ugs.ticket().weight_masks) == {"convs.0.lin.weight"}
    assert not ugs.model.convs[1].lin._forward_pre_hooks  # the head runs unmasked
    with pytest.raises(ValueError, match=r"dense_layers \['readout'\] name no maskable weight"):
        UGS(GCN(cora.num_features, 16, 2, 7), cora, dense_layers=["readout"])
    with pytest.raises(ValueError, match="no weight to prune"):
        UGS(GCN(cora.num_features, 16, 2, 7), cora, dense_layers=["convs"])


def test_ogb_molecules_load_safely_with_their_scaffold_split(tmp_path):
    pytest.importorskip("ogb")
    from graphlottery.data.ogb import load_ogbg

    dataset, split = load_ogbg("ogbg-molbace")  # OGB's own loader, weights_only loading allowed for PyG Data
    assert len(dataset) == 1513 and dataset.num_features == 174
    assert {k: v.numel() for k, v in split.items()} == {"train": 1210, "val": 151, "test": 152}
    assert bool((dataset[0].x.sum(1) == 9).all())  # nine one-hot atom features per node
    with pytest.raises(FileNotFoundError, match="edge.csv.gz"):
        load_ogbg("ogbg-molbace", root=tmp_path)
    with pytest.raises(ValueError, match="unknown OGB graph dataset"):
        load_ogbg("ogbg-molpcba")


def test_graph_roc_auc_matches_ogb_evaluator():
    ogb = pytest.importorskip("ogb.graphproppred")
    union = graph_union(load_tu("MUTAG"))
    split = graph_folds(union.y, 0)
    task = GraphClassification(union, split, metric="roc_auc")
    out = torch.randn(union.num_nodes, 2, generator=torch.Generator().manual_seed(0))
    val, test = task.evaluate(out)
    pooled = task.pool(out)
    idx = split["test"]
    expected = ogb.Evaluator("ogbg-molbace").eval({"y_true": union.y[idx].view(-1, 1).numpy(),
                                                   "y_pred": (pooled[idx, 1] - pooled[idx, 0]).view(-1, 1).numpy()})
    assert test == pytest.approx(expected["rocauc"])
    with pytest.raises(ValueError, match="binary"):
        GraphClassification(graph_union(load_tu("ENZYMES")), graph_folds(graph_union(load_tu("ENZYMES")).y, 0),
                            metric="roc_auc")


def test_inductive_graph_mask_ranks_unseen_graphs_by_a_shared_rule():
    """With an EdgeScorer, edges whose endpoints read the same features get the same (positive)
    score in every graph, held-out ones included, up to the seeded tie-break; free scores do not.
    With context features, edges of one kind of atom pair but different neighbourhoods are told
    apart. Ties are broken at random, not by edge id, and pruning takes exactly 5% of each
    graph's edges."""
    from graphlottery import GIN, UGS, EdgeScorer, context_features, graph_keep
    from graphlottery.masks import unit_endpoints

    union = graph_union(load_tu("MUTAG"))
    split = graph_folds(union.y, 0)
    groups = union.batch[union.edge_index[0]]
    context = context_features(union.x, union.edge_index, 1)

    def spread(rule: torch.Tensor, features: torch.Tensor, pairs: torch.Tensor) -> float:
        """How far scores vary among edges whose endpoints read the same features."""
        u, v = features[pairs[0]], features[pairs[1]]
        kind = torch.unique(torch.cat([u + v, u * v], 1), dim=0, return_inverse=True)[1]
        first = torch.zeros(int(kind.max()) + 1).scatter_(0, kind, rule)  # one score per kind of edge
        return float((rule - first[kind]).abs().max())

    for mode in ("free", "raw", "context"):
        torch.manual_seed(0)
        features = {"free": None, "raw": union.x, "context": context}[mode]
        ugs = UGS(GIN(union.num_features, 16, 2, 2), union, GraphClassification(union, split, pool="sum"),
                  lr=0.01, weight_decay=0.0, l1="decoupled", mask_epochs=20, seed=0, edge_groups=groups,
                  edge_scorer=None if features is None else EdgeScorer(features.size(1)), scorer_features=features)
        ugs.round = 1
        edge_score, _ = ugs.search_masks()
        pairs = unit_endpoints(union.edge_index, ugs.graph.edge_unit, ugs.graph.num_units)
        if mode == "free":
            assert spread(edge_score, union.x, pairs) > 1e-2
            continue
        kept, _, tiebreak = ugs._search_units
        assert kept.numel() == ugs.graph.num_units  # round 1: every edge is scored
        rule = edge_score / tiebreak  # the scorer's own output
        assert spread(rule, features, pairs) < 1e-5 and bool((edge_score > 0).all())
        assert float(rule.max() - rule.min()) > 1e-2  # it learnt a ranking
        assert (spread(rule, union.x, pairs) > 1e-2) == (mode == "context")  # neighbourhoods tell edges apart
        keep = graph_keep(ugs.graph, ugs.prune_graph, edge_score, ugs.unit_groups)
        pruned = torch.zeros(union.y.numel()).index_add_(0, ugs.unit_groups, (~keep).float())
        sizes = torch.bincount(ugs.unit_groups, minlength=union.y.numel())
        assert float((pruned - 0.05 * sizes).abs().max()) < 1 and pruned.sum() == round(0.05 * keep.numel())
        assert not torch.equal(keep, graph_keep(ugs.graph, ugs.prune_graph, rule, ugs.unit_groups))  # ties by id differ
        ugs.prune(edge_score, [m.float() for _, m in ugs.masks.items()])
        ugs.round = 2
        ugs.start_search()
        scored = []
        ugs.edge_scorer.register_forward_hook(lambda module, args, out, record=scored.append: record(args[1].size(1)))
        ugs._edge_weight(ugs.graph.kept_edges()[1])
        assert scored == [int(ugs.graph.keep.sum())] and scored[0] < ugs.graph.num_units  # pruned edges: not scored
        assert bool((ugs.graph.score[~ugs.graph.keep] == 0).all()) and bool((ugs.graph.score[ugs.graph.keep] > 0).all())


def test_context_features_average_neighbourhoods():
    from graphlottery import context_features

    x = torch.eye(4)  # a path 0 - 1 - 2, and a one-way edge 3 -> 0 (node 3 has no in-neighbour)
    edge_index = torch.tensor([[0, 1, 1, 2, 3], [1, 0, 2, 1, 0]])
    out = context_features(x, edge_index, 2)
    assert out.shape == (4, 12) and torch.equal(out[:, :4], x)
    one_hop = torch.tensor([[0, 0.5, 0, 0.5], [0.5, 0, 0.5, 0], [0, 1, 0, 0], [0, 0, 0, 0]])
    two_hop = torch.tensor([[0.25, 0, 0.25, 0], [0, 0.75, 0, 0.25], [0.5, 0, 0.5, 0], [0, 0, 0, 0]])
    assert torch.allclose(out[:, 4:8], one_hop) and torch.allclose(out[:, 8:], two_hop)
    assert torch.allclose(context_features(x.to_sparse(), edge_index, 2), out)  # sparse features
    assert torch.equal(context_features(x, edge_index, 0), x)
    with pytest.raises(ValueError, match="hops"):
        context_features(x, edge_index, -1)


def test_principal_components_keep_the_geometry_of_low_rank_features():
    from graphlottery import principal_components

    gen = torch.Generator().manual_seed(0)
    for rows, cols in ((40, 50), (60, 20)):  # wider than tall (Gram matrix) and taller than wide (covariance)
        x = torch.randn(rows, 3, generator=gen) @ torch.randn(3, cols, generator=gen) + 5.0  # rank 3 around a mean
        state = torch.get_rng_state()
        out = principal_components(x, 3)
        assert torch.equal(torch.get_rng_state(), state)  # exact: draws no random numbers
        centred = x - x.mean(0)
        assert out.shape == (rows, 3)
        assert torch.allclose(out @ out.t(), centred @ centred.t(), atol=1e-3)  # a rotation of the centred rows
        assert torch.allclose(out.var(0), torch.linalg.svdvals(centred)[:3] ** 2 / (rows - 1), rtol=1e-3)
    assert torch.equal(principal_components(x.to_sparse(), 2), principal_components(x, 2))
    assert principal_components(torch.ones(4, 2, dtype=torch.long), 3).dtype == torch.float32  # unprojected
    padded = principal_components(x[:4], 10)  # 4 rows span at most 3 axes; the rest is zero
    assert padded.shape == (4, 10) and padded[:, 4:].abs().max() < 1e-3
    with pytest.raises(ValueError, match="dim"):
        principal_components(x, 0)


def test_inductive_graph_mask_on_a_node_task(tmp_path, monkeypatch):
    """The shipped Cora config with the inductive mask runs end to end: the scorer reads the
    128 principal axes of the context features, exact sparsity, a ticket that keeps accuracy
    after a short round."""
    from graphlottery.lottery import glt

    widths = []

    class Recording(glt.EdgeScorer):
        def __init__(self, in_channels: int):
            widths.append(in_channels)
            super().__init__(in_channels)

    monkeypatch.setattr(glt, "EdgeScorer", Recording)
    config = GLTConfig.from_yaml(Path(__file__).parents[1] / "configs/glt/cora_gcn_inductive.yaml", hidden=64,
                                 mask_epochs=15, retrain_epochs=50, rounds=1, random_baseline=False)
    assert (config.graph_mask, config.scorer_hops, config.scorer_dim) == ("inductive", 2, 128)
    dense, first = run_glt(config, tmp_path, progress=False)["rounds"]
    assert widths == [128]
    assert first["graph_sparsity"] == pytest.approx(0.05, abs=1e-3) and first["weight_sparsity"] == pytest.approx(0.2)
    assert dense["test"] > 0.78 and first["test"] > dense["test"] - 0.03


def test_graph_mask_option_is_checked():
    assert GLTConfig.from_yaml(Path(__file__).parents[1] / "configs/graphcls/mutag_gin.yaml").graph_mask == "inductive"
    assert GLTConfig(dataset="MUTAG", task="graph").graph_mask == "free"  # UGS's own free scores
    with pytest.raises(ConfigError, match="graph_mask"):
        GLTConfig(dataset="MUTAG", task="graph", graph_mask="learned")
    with pytest.raises(ConfigError, match="full-batch"):
        GLTConfig(dataset="Cora", graph_mask="inductive", batch_size=64)
    from graphlottery import GCN, UGS, EdgeScorer
    from graphlottery.data import load_planetoid
    from graphlottery.lottery import MiniBatchUGS

    cora = load_planetoid("Cora")
    with pytest.raises(ValueError, match="does not take an edge_scorer"):
        MiniBatchUGS(GCN(cora.num_features, 8, 2, 7), cora, edge_scorer=EdgeScorer(cora.num_features))
    with pytest.raises(ValueError, match="needs reset_parameters"):
        UGS(GCN(cora.num_features, 8, 2, 7), cora, edge_scorer=torch.nn.Identity())
    with pytest.raises(ValueError, match=r"expects x of shape \[N, 3\]"):
        EdgeScorer(3)(torch.zeros(4, 5), torch.zeros(2, 1, dtype=torch.long))
    scorer = EdgeScorer(cora.num_features)
    with pytest.raises(ValueError, match=r"must be \[2708, F\], got \(5, 1433\)"):
        UGS(GCN(cora.num_features, 8, 2, 7), cora, edge_scorer=scorer, scorer_features=torch.zeros(5, 1433))
    with pytest.raises(ValueError, match="NaN or inf"):
        UGS(GCN(cora.num_features, 8, 2, 7), cora, edge_scorer=scorer,
            scorer_features=torch.full((2708, 3), float("nan")))
    with pytest.raises(ValueError, match="pass edge_scorer too"):
        UGS(GCN(cora.num_features, 8, 2, 7), cora, scorer_features=cora.x)
    with pytest.raises(ConfigError, match="scorer_hops"):
        GLTConfig(dataset="MUTAG", task="graph", graph_mask="inductive", scorer_hops=-1)
    with pytest.raises(ConfigError, match="scorer_dim"):
        GLTConfig(dataset="MUTAG", task="graph", graph_mask="inductive", scorer_dim=0)
